"""Benchmarks for upstream-diagnostics. Results are printed as Markdown for BENCHMARKS.md.

Usage (from the repository root, after ``make venv``)::

    .venv/bin/python benchmarks/run.py ingest          # reading + ingest of a 20-file cohort, 100k-row sheet
    .venv/bin/python benchmarks/run.py demo            # `diagnostics demo` end to end, split by stage
    .venv/bin/python benchmarks/run.py packs           # the 20 council packs of a wave, per PDF engine
    .venv/bin/python benchmarks/run.py stats           # every statistic at national scale (400 x 500 x 33), vs loop and R
    .venv/bin/python benchmarks/run.py all [--quick]   # both; --quick skips the slow openpyxl 100k read

Every figure is the median of several runs; each comparison's baseline is measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / ".out"


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, pandas {pd.__version__}"


def timeit(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def build_ingest_cohort(root: Path, *, n_files: int = 20, n_rows: int = 300, seed: int = 7) -> Path:
    """20 Microsoft Forms exports of 300 rows x 45 columns: 6 metadata columns, council, perspective,
    33 statements, three more questions (service area, role, years in local government) and a comment."""
    from analysis import synthetic
    from analysis.instrument import load_instrument

    inst = load_instrument()
    rng = np.random.default_rng(seed)
    items = inst.form_items("full")["item_id"].tolist()
    raw = root / "bench" / "w1"
    raw.mkdir(parents=True, exist_ok=True)
    register = []
    for f in range(n_files):
        name = f"Benchmark Council {f:02d}"
        register.append({"council_id": f"B{f:02d}", "name": name, "aliases": "", "type": "unitary", "region": "none"})
        n = n_rows
        start = pd.Timestamp("2025-01-06 09:00") + pd.to_timedelta(rng.integers(0, 86400 * 20, n), unit="s")
        df = pd.DataFrame({
            "council_name": name, "respondent_id": np.arange(1, n + 1),
            "email": [f"person{f}_{i}@example.org" for i in range(n)],
            "first_name": "Alex", "last_name": [f"Tester{i}" for i in range(n)],
            "perspective": rng.choice(["service", "organisation", "system"], n),
            "started_at": start, "completed_at": start + pd.Timedelta(minutes=9), "comment": "",
        })
        scores = rng.integers(1, 6, size=(n, len(items))).astype(float)
        scores[rng.random(scores.shape) < 0.03] = np.nan
        extra = pd.DataFrame({
            "Which service area do you work in?": rng.choice(["Adult social care", "Children's services", "Housing",
                                                              "Public health", "Finance", "Other"], n),
            "What is your role?": rng.choice(["Frontline practitioner", "Team manager", "Senior leader", "Officer"], n),
            "How long have you worked in local government?": rng.choice(["Less than 2 years", "2-5 years",
                                                                         "6-10 years", "More than 10 years"], n)})
        df = pd.concat([df, pd.DataFrame(scores, columns=items), extra], axis=1)
        synthetic.write_ms_forms(df, raw / f"council_{f:02d}.xlsx", instrument=inst, extra_questions=list(extra.columns))
    pd.DataFrame(register).to_csv(root / "bench" / "cohort.csv", index=False)
    return root / "bench"


def bench_ingest(runs: int, quick: bool) -> list[str]:
    from analysis import pipeline

    lines = ["### Ingest", ""]
    with tempfile.TemporaryDirectory() as tmp:
        # written by a child process, so that this process's heap holds only what validation makes
        subprocess.run([sys.executable, "-c", f"import sys; sys.path[:0] = [{str(ROOT / 'benchmarks')!r}, "
                        f"{str(ROOT / 'src')!r}]; from pathlib import Path; from run import build_ingest_cohort; "
                        f"build_ingest_cohort(Path({tmp!r}))"], check=True)
        cohort = Path(tmp) / "bench"
        files = sorted((cohort / "w1").glob("*.xlsx"))
        shape = pd.read_excel(files[0], engine="calamine").shape
        # the whole validation first: the openpyxl baseline leaves a large heap that slows what follows
        pipeline.validate_cohort(cohort)  # warm-up: imports, first-call allocations
        full, _ = timeit(lambda: pipeline.validate_cohort(cohort), runs)
        gc.collect()
        cal, _ = timeit(lambda: [pd.read_excel(p, engine="calamine", header=None, dtype=object) for p in files], runs)
        gc.collect()
        opx, _ = timeit(lambda: [pd.read_excel(p, engine="openpyxl", header=None, dtype=object) for p in files], runs)
        gc.collect()
        res = pipeline.validate_cohort(cohort)[0]
        lines += [f"20 council exports of {shape[0]} rows x {shape[1]} columns (Microsoft Forms layout), median of {runs} runs:", "",
                  "| what | median | ratio |", "| --- | --- | --- |",
                  f"| read 20 files, openpyxl (baseline) | {opx:.2f} s | 1.0x |",
                  f"| read 20 files, calamine | {cal:.2f} s | {opx / cal:.1f}x faster |",
                  f"| **ingest, map and validate the 20-file cohort** (`diagnostics validate` work: read, detect, map, parse, quarantine, dedupe, schema) | **{full:.2f} s** | target < 2 s |",
                  "", f"Rows accepted: {len(res.responses) // 33:,} respondents, {len(res.quarantine)} quarantined.", ""]
        # one big sheet
        from analysis import synthetic
        from analysis.instrument import load_instrument

        big = Path(tmp) / "big.xlsx"
        inst = load_instrument()
        rng = np.random.default_rng(1)
        items = inst.form_items("full")["item_id"].tolist()
        n = 100_000
        start = pd.Timestamp("2025-01-06 09:00")
        df = pd.DataFrame({"council_name": "Benchmark Council 00", "respondent_id": np.arange(1, n + 1), "email": "anonymous",
                           "first_name": "", "last_name": "", "perspective": "service", "started_at": start,
                           "completed_at": start, "comment": ""})
        df = pd.concat([df, pd.DataFrame(rng.integers(1, 6, size=(n, len(items))).astype(float), columns=items)], axis=1)
        t0 = time.perf_counter()
        synthetic.write_ms_forms(df, big, instrument=inst)
        write_s = time.perf_counter() - t0
        cal_big, _ = timeit(lambda: pd.read_excel(big, engine="calamine", header=None, dtype=object), max(1, runs // 2))
        lines += [f"One sheet of {n:,} rows x {shape[1]} columns (written in {write_s:.0f} s):", "",
                  "| what | median | ratio |", "| --- | --- | --- |"]
        if quick:
            lines.append(f"| read, calamine | {cal_big:.1f} s | (openpyxl skipped: --quick) |")
        else:
            opx_big, _ = timeit(lambda: pd.read_excel(big, engine="openpyxl", header=None, dtype=object), 1)
            lines += [f"| read, openpyxl (baseline, 1 run) | {opx_big:.1f} s | 1.0x |",
                      f"| read, calamine (median of {max(1, runs // 2)}) | {cal_big:.1f} s | {opx_big / cal_big:.1f}x faster |"]
        lines.append("")
    return lines


def bench_demo(runs: int) -> list[str]:
    """`diagnostics demo` as a user runs it (new process each time), split by stage from the manifests."""
    exe = ROOT / ".venv" / "bin" / "diagnostics"
    totals = []
    stages: dict[str, list[float]] = {}
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(exe), "demo", "--quiet"], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        totals.append(time.perf_counter() - t0)
        for manifest in sorted((ROOT / "reports" / "demo").glob("*/manifest.json")):
            m = json.loads(manifest.read_text())
            for k, v in m["timings_s"].items():
                stages.setdefault(f"{m['wave']} {k}", []).append(v)
    lines = ["### `diagnostics demo` end to end", "",
             f"Wall time of `diagnostics demo` in a new process (generate the demo cohort, run notebooks 01-04 for 2 waves, "
             f"20 council packs per wave), median of {runs} runs: **{statistics.median(totals):.1f} s** "
             f"(runs: {', '.join(f'{t:.1f}' for t in totals)}). Target: under 60 s.", "",
             "| stage | median |", "| --- | --- |"]
    lines += [f"| {k} | {statistics.median(v):.2f} s |" for k, v in stages.items()]
    lines.append("")
    # baseline: one papermill kernel per council, for the 20 packs of one wave, against the shared kernel
    from analysis import pipeline, steps

    wave = sorted(p.name for p in (ROOT / "data" / "processed" / "demo").iterdir() if p.is_dir())[-1]
    proc = ROOT / "data" / "processed" / "demo" / wave
    councils = steps.council_ids(proc, wave)
    params = {"cohort": "demo", "wave": wave, "processed_dir": str(proc), "synthetic": True}
    import papermill

    nb = pipeline.NOTEBOOKS_DIR / "04_council_pack.ipynb"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for cid in councils:  # what papermill does by default: a new kernel for every notebook
            papermill.execute_notebook(str(nb), str(Path(tmp) / f"{cid}.ipynb"), kernel_name="python3",
                                       parameters=params | {"council_id": cid, "reports_dir": tmp},
                                       progress_bar=False, cwd=str(pipeline.NOTEBOOKS_DIR))
        per_kernel = time.perf_counter() - t0
        t0 = time.perf_counter()
        with pipeline.KernelSession(cwd=pipeline.NOTEBOOKS_DIR) as session:
            for cid in councils:
                session.run(nb, Path(tmp) / f"s_{cid}.ipynb", params | {"council_id": cid, "reports_dir": tmp})
        shared = time.perf_counter() - t0
        t0 = time.perf_counter()
        with pipeline.KernelPool(2, cwd=pipeline.NOTEBOOKS_DIR) as pool:
            def run(session, *, item):
                return session.run(nb, Path(tmp) / f"p_{item}.ipynb", params | {"council_id": item, "reports_dir": tmp})
            list(pool.map_unordered(run, councils))
        pooled = time.perf_counter() - t0
    lines += [f"Council packs of wave {wave} ({len(councils)} councils, notebook execution only, kernel start-up "
              f"included, 1 run each, same process):", "",
              "| how | time | ratio |", "| --- | --- | --- |",
              f"| papermill default: a new kernel per council (baseline) | {per_kernel:.1f} s | 1.0x |",
              f"| one shared kernel (`KernelSession`), namespace reset per council | {shared:.1f} s | {per_kernel / shared:.1f}x faster |",
              f"| two shared kernels (`KernelPool(2)`, what the pipeline does on 2 cores) | {pooled:.1f} s | {per_kernel / pooled:.1f}x faster |",
              ""]
    return lines


def bench_packs(runs: int) -> list[str]:
    """Pack generation for the 20 councils of one demo wave: kernels, HTML and PDFs, per PDF engine.

    What ``make demo`` does per wave after the cohort report (``pipeline._wave_packs``): two shared
    kernels run notebook 04 for every council, each executed notebook becomes HTML, and the
    PdfRenderer prints the PDFs beside the kernels; the time runs until the last PDF is written.
    Baseline: the same packs printed with WeasyPrint (the engine of a machine without Chromium).
    Needs the demo's processed tables (``make demo`` first).
    """
    from analysis import pipeline, reports, steps

    proc_root = ROOT / "data" / "processed" / "demo"
    waves = sorted(p.name for p in proc_root.iterdir() if p.is_dir())
    wave, previous = waves[-1], (waves[-2] if len(waves) > 1 else None)
    proc = proc_root / wave
    councils = steps.council_ids(proc, wave)
    nb = pipeline.NOTEBOOKS_DIR / "04_council_pack.ipynb"
    engines = ["weasyprint", "none"] + (["chromium"] if reports.find_chromium() else [])
    times: dict[str, list[float]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as tmp, pipeline.KernelPool(2, cwd=pipeline.NOTEBOOKS_DIR) as pool:
        params = {"cohort": "demo", "wave": wave, "processed_dir": str(proc), "synthetic": True, "reports_dir": tmp,
                  "previous_processed_dir": str(proc_root / previous) if previous else ""}
        (Path(tmp) / "councils").mkdir()

        def one(engine: str) -> float:
            with pipeline.PdfRenderer(False if engine == "none" else engine) as pdf:
                def pack(session: pipeline.KernelSession, *, item: str) -> None:
                    out = session.run(nb, Path(tmp) / f"{item}.ipynb", params | {"council_id": item})
                    html = reports.notebook_to_html(out, Path(tmp) / "councils" / f"{item}.html")
                    pdf.submit(html, html.with_suffix(".pdf"), group="w")

                t0 = time.perf_counter()
                list(pool.map_unordered(pack, councils))
                pdf.wait("w")
                return time.perf_counter() - t0

        one("none")                                           # warm the kernels (imports, context cache)
        for _ in range(runs):
            for engine in engines:
                times[engine].append(one(engine))
    med = {e: statistics.median(v) for e, v in times.items()}
    base = med["weasyprint"]
    label = {"weasyprint": "PDFs with WeasyPrint (baseline; the engine without Chromium)",
             "chromium": "PDFs with the system Chromium (`auto` on this machine)",
             "none": "no PDFs (`--no-pdf`)"}
    lines = [f"### Pack generation for the {len(councils)} councils of wave {wave}", "",
             f"Two shared kernels, HTML and PDFs until the last file is written, median of {runs} runs "
             "(kernels warm), same process:", "",
             "| how | median | runs | ratio |", "| --- | --- | --- | --- |"]
    for engine in ["weasyprint", "chromium", "none"]:
        if engine in med:
            runs_text = ", ".join(f"{t:.1f}" for t in times[engine])
            lines.append(f"| {label[engine]} | {med[engine]:.1f} s | {runs_text} | {base / med[engine]:.1f}x |")
    lines.append("")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["ingest", "demo", "packs", "stats", "all"], nargs="?", default="all")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--demo-runs", type=int, default=3)
    ap.add_argument("--stats-runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    lines = [f"Machine: {machine()}. Date: {time.strftime('%Y-%m-%d')}.", ""]
    if args.what in ("ingest", "all"):
        lines += bench_ingest(args.runs, args.quick)
    if args.what in ("demo", "all"):
        lines += bench_demo(args.demo_runs)
    if args.what in ("packs", "all"):
        lines += bench_packs(args.demo_runs)
    if args.what in ("stats", "all"):
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import national

        lines += national.bench_stats(args.stats_runs)
    text = "\n".join(lines)
    OUT.mkdir(exist_ok=True)
    (OUT / f"{args.what}.md").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
