"""Run the notebooks of the pipeline with papermill, wave by wave, and record a manifest.

For each wave folder ``data/raw/<cohort>/<wave>/`` the pipeline executes, in order:

1. ``01_ingest_clean.ipynb``  -> ``data/processed/<cohort>/<wave>/responses.csv`` ...
2. ``02_score.ipynb``         -> ``respondent_scores.csv``, ``enabler_scores.csv`` ...
3. ``03_cohort_report.ipynb`` -> ``reports/<cohort>/<wave>/cohort_report.{html,xlsx}``
4. ``04_council_pack.ipynb``  -> ``reports/<cohort>/<wave>/councils/<council_id>.{html,xlsx}``

Each executed notebook is kept under ``reports/<cohort>/<wave>/notebooks/`` as the audit trail
(papermill saves it cell by cell, so a failed run leaves the evidence). Parameter names are checked
against :func:`papermill.inspect_notebook` first, because papermill itself silently accepts a
misspelt parameter.

Council packs: starting a kernel costs ~0.5 s and importing pandas, matplotlib and seaborn in it
another ~1.5 s, so one kernel per council would dominate the run (40 packs for 20 councils x 2
waves). The packs of a wave therefore run in **one kernel**: notebook 04 is parameterised with
papermill's own :func:`~papermill.parameterize.parameterize_notebook` for each council and its
cells executed with nbclient in the shared kernel. Every cell of the notebook assigns what it
uses, and the injected parameters cell re-assigns every parameter, so no state leaks between councils.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import logging
import platform
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .config import NOTEBOOKS_DIR, cohort_paths
from .exceptions import DiagnosticsError, InputFileError, NotebookExecutionError, ParameterError
from .io import atomic_path, write_json

logger = logging.getLogger(__name__)

NOTEBOOKS: tuple[str, ...] = ("01_ingest_clean.ipynb", "02_score.ipynb", "03_cohort_report.ipynb", "04_council_pack.ipynb")
KERNEL_NAME = "python3"
#: Packages whose versions go into every manifest.
MANIFEST_PACKAGES = ("pandas", "numpy", "scipy", "matplotlib", "seaborn", "papermill", "nbconvert", "nbclient",
                     "ipykernel", "openpyxl", "python-calamine", "pandera", "rapidfuzz", "pyyaml")


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape the results, plus Python and this package."""
    out = {"python": sys.version.split()[0], "upstream-diagnostics": __version__, "platform": platform.platform()}
    for name in MANIFEST_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def check_parameters(notebook: str | Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Check that ``notebook`` declares every name in ``parameters``.

    Raises
    ------
    ParameterError
        If the notebook has no cell tagged ``parameters`` or does not declare a passed name.
    """
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise ParameterError("the notebook has no cell tagged 'parameters'", path=notebook,
                             hint="Tag the first code cell 'parameters' (View > Cell toolbar > Tags in Jupyter).")
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise ParameterError(f"parameter(s) {', '.join(unknown)} are not declared by the notebook "
                             f"(it declares: {', '.join(sorted(declared))})", path=notebook,
                             hint="Check the spelling, or declare the parameter in the notebook's parameters cell.")
    return declared


def execute_notebook(notebook: str | Path, output: str | Path, parameters: dict[str, Any], *,
                     cwd: str | Path | None = None) -> None:
    """Execute one notebook with papermill in this process; raise one clear error on failure."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    check_parameters(notebook, parameters)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters, kernel_name=KERNEL_NAME,
                                   progress_bar=False, log_output=False, cwd=str(cwd or Path(notebook).parent))
    except PapermillExecutionError as exc:
        raise NotebookExecutionError(f"{Path(notebook).name} failed: {exc.ename}: {exc.evalue}", path=output,
                                     hint="The partly executed notebook is kept at that path; fix the problem and re-run (--debug shows the traceback).") from exc


class SharedKernelRunner:
    """Execute one notebook many times with different parameters in a single kernel.

    Parameters
    ----------
    notebook
        The notebook to run (its parameters are checked on every call).
    cwd
        Working directory of the kernel.
    """

    def __init__(self, notebook: str | Path, *, cwd: str | Path | None = None, timeout: int = 600) -> None:
        from nbclient import NotebookClient
        from papermill.iorw import load_notebook_node

        self.notebook = Path(notebook)
        # papermill's loader (unlike nbformat.read) gives every cell a tags list, which parameterize expects.
        self.template = load_notebook_node(str(self.notebook))
        self.client = NotebookClient(copy.deepcopy(self.template), kernel_name=KERNEL_NAME, timeout=timeout,
                                     resources={"metadata": {"path": str(cwd or self.notebook.parent)}})
        self._ctx: Any = None
        self.declared: dict[str, Any] | None = None

    def __enter__(self) -> SharedKernelRunner:
        self._ctx = self.client.setup_kernel()
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)

    def run(self, output: str | Path, parameters: dict[str, Any]) -> Any:
        """Parameterise, execute in the shared kernel, save to ``output``; return the notebook."""
        import nbformat
        from nbclient.exceptions import CellExecutionError
        from papermill.parameterize import parameterize_notebook

        if self.declared is None:
            self.declared = check_parameters(self.notebook, parameters)
        else:
            unknown = sorted(set(parameters) - set(self.declared))
            if unknown:
                raise ParameterError(f"parameter(s) {', '.join(unknown)} are not declared by the notebook", path=self.notebook)
        nb = parameterize_notebook(copy.deepcopy(self.template), parameters, kernel_name=KERNEL_NAME, language="python")
        self.client.nb = nb
        output = Path(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        try:
            for index, cell in enumerate(nb.cells):
                if cell.cell_type == "code":
                    self.client.execute_cell(cell, index)
        except CellExecutionError as exc:
            nbformat.write(nb, str(output))  # keep the evidence
            first = str(exc).strip().splitlines()
            detail = next((ln for ln in reversed(first) if ln.strip()), "cell failed")
            raise NotebookExecutionError(f"{self.notebook.name} failed: {detail}", path=output,
                                         hint="The partly executed notebook is kept at that path.") from exc
        with atomic_path(output) as tmp:
            nbformat.write(nb, str(tmp))
        return nb


@dataclass
class WaveRun:
    """What one wave's run produced."""

    cohort: str
    wave: str
    processed_dir: Path
    reports_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=not enabled, leave=True, file=sys.stderr)


def list_waves(raw_dir: Path, waves: Sequence[str] | None) -> list[str]:
    """The waves to run: those asked for (checked to exist) or every wave folder, sorted by name."""
    from . import ingest

    found = ingest.list_waves(raw_dir)
    if waves:
        missing = [w for w in waves if not (raw_dir / w).is_dir()]
        if missing:
            raise InputFileError(f"wave folder(s) {', '.join(missing)} not found", path=raw_dir,
                                 hint=f"Wave folders found: {', '.join(found) or 'none'}.")
        return sorted(waves)
    if not found:
        raise InputFileError("no wave folders with exports found", path=raw_dir,
                             hint="Put each wave's exports in data/raw/<cohort>/<wave>/ (e.g. data/raw/my-cohort/2025-01/).")
    return found


def run_cohort(raw_dir: str | Path, *, waves: Sequence[str] | None = None, instrument: str | None = None,
               processed_dir: str | Path | None = None, reports_dir: str | Path | None = None,
               settings_file: str | Path | None = None, keep_comments: bool = False,
               skip_bad_files: bool = False, synthetic: bool | None = None, progress: bool = True,
               notebooks_dir: str | Path | None = None) -> list[WaveRun]:
    """Run the whole pipeline on a cohort folder.

    Parameters
    ----------
    raw_dir
        ``data/raw/<cohort>``: one sub-folder per wave, an optional ``cohort.csv`` register.
    waves
        Waves to run (default: every wave folder, in name order).
    instrument
        Bundled instrument name or path to a YAML file.
    processed_dir, reports_dir
        Roots for outputs (``<root>/<cohort>/<wave>/``); default beside ``data/raw``.
    settings_file
        YAML overriding ``analysis/settings.yml``.
    keep_comments, skip_bad_files
        See ``diagnostics run --help``.
    synthetic
        Force the "Synthetic demo data" banner on or off (default: the cohort's marker file decides).
    progress
        Show a progress bar on stderr.

    Returns
    -------
    list of WaveRun
    """
    from . import reports, steps

    paths = cohort_paths(raw_dir, processed_dir=processed_dir, reports_dir=reports_dir)
    raw = paths["raw"]
    if not raw.is_dir():
        raise InputFileError("cohort folder does not exist", path=raw,
                             hint="Pass the folder that holds the wave folders, e.g. data/raw/my-cohort.")
    nb_dir = Path(notebooks_dir) if notebooks_dir else NOTEBOOKS_DIR
    for name in NOTEBOOKS:
        if not (nb_dir / name).exists():
            raise InputFileError(f"pipeline notebook {name} is missing", path=nb_dir,
                                 hint="Run from a checkout of upstream-diagnostics (the notebooks ship with the repository).")
    wave_list = list_waves(raw, waves)
    is_synth = steps.is_synthetic(raw) if synthetic is None else bool(synthetic)
    run_id = uuid.uuid4().hex[:12]
    runs: list[WaveRun] = []
    previous: Path | None = None
    for wave in wave_list:
        started = time.time()
        proc = paths["processed"] / wave
        rep = paths["reports"] / wave
        audit = rep / "notebooks"
        run = WaveRun(cohort=paths["cohort"], wave=wave, processed_dir=proc, reports_dir=rep)
        common = {"instrument": str(instrument or ""), "settings_file": str(settings_file or "")}
        p01 = {"raw_dir": str(raw), "wave": wave, "processed_dir": str(proc), "keys_dir": str(paths["keys"]),
               "keep_comments": keep_comments, "skip_bad_files": skip_bad_files} | common
        p02 = {"processed_dir": str(proc)} | common
        p_report = {"cohort": paths["cohort"], "wave": wave, "processed_dir": str(proc), "reports_dir": str(rep),
                    "synthetic": is_synth, "run_id": run_id,
                    "previous_processed_dir": str(previous) if previous else ""} | common
        bar = _progress(3, f"wave {wave}", progress)
        for name, params in ((NOTEBOOKS[0], p01), (NOTEBOOKS[1], p02), (NOTEBOOKS[2], p_report)):
            bar.set_postfix_str(name)
            t0 = time.perf_counter()
            execute_notebook(nb_dir / name, audit / name, params, cwd=nb_dir)
            run.timings[name] = time.perf_counter() - t0
            bar.update(1)
        t0 = time.perf_counter()
        reports.notebook_to_html(audit / NOTEBOOKS[2], rep / "cohort_report.html",
                                 title=f"Cohort report: {paths['cohort']} {wave}")
        run.timings["render_cohort_html"] = time.perf_counter() - t0
        councils = steps.council_ids(proc, wave)
        bar.total = 3 + len(councils)
        bar.refresh()
        t0 = time.perf_counter()
        with SharedKernelRunner(nb_dir / NOTEBOOKS[3], cwd=nb_dir) as runner:
            for cid in councils:
                bar.set_postfix_str(f"council pack {cid}")
                out_nb = audit / "councils" / f"04_council_pack_{cid}.ipynb"
                nb = runner.run(out_nb, p_report | {"council_id": cid})
                reports.notebook_to_html(nb, rep / "councils" / f"{cid}.html", title=f"Insight pack {cid} {wave}")
                bar.update(1)
        run.timings["council_packs"] = time.perf_counter() - t0
        bar.close()
        run.manifest = write_manifest(run, raw=raw, instrument=instrument, settings_file=settings_file,
                                      parameters={"keep_comments": keep_comments, "skip_bad_files": skip_bad_files,
                                                  "synthetic": is_synth, "councils": len(councils)},
                                      run_id=run_id, started=started)
        runs.append(run)
        previous = proc
    return runs


def write_manifest(run: WaveRun, *, raw: Path, instrument: str | None, settings_file: str | Path | None,
                   parameters: dict[str, Any], run_id: str, started: float) -> dict[str, Any]:
    """Write ``reports/<cohort>/<wave>/manifest.json``: inputs with sha256, counts, versions, times."""
    import json

    from .config import load_settings
    from .instrument import load_instrument

    summary_path = run.processed_dir / "ingest_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    per_file = {(f.get("source_file"), f.get("sheet")): f for f in summary.get("files", [])}
    inputs = []
    wave_dir = raw / run.wave
    for path in sorted(p for p in wave_dir.rglob("*") if p.is_file()):
        rel = _rel(path, raw)
        counts = [v for (src, _), v in per_file.items() if src == rel]
        entry: dict[str, Any] = {"file": rel, "bytes": path.stat().st_size, "sha256": sha256_file(path)}
        if counts:
            entry["sheets"] = [{k: c.get(k) for k in ("sheet", "format", "rows_read", "accepted", "quarantined", "status")} for c in counts]
        inputs.append(entry)
    register = raw / "cohort.csv"
    inst = load_instrument(instrument or None)
    outputs = []
    for root in (run.processed_dir, run.reports_dir):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")):
            outputs.append({"file": _rel(path, root.parent.parent), "sha256": sha256_file(path)})
    finished = time.time()
    manifest = {
        "run_id": run_id, "cohort": run.cohort, "wave": run.wave,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(finished)),
        "duration_s": round(finished - started, 3),
        "timings_s": {k: round(v, 3) for k, v in run.timings.items()},
        "inputs": inputs,
        "register": {"file": "cohort.csv", "sha256": sha256_file(register)} if register.exists() else None,
        "rows": summary.get("totals", {}),
        "skipped_files": [f for f in summary.get("files", []) if f.get("status") == "skipped"],
        "instrument": {"id": inst.id, "version": inst.version, "file": inst.path.name, "sha256": sha256_file(inst.path)},
        "parameters": parameters | {"instrument": instrument or inst.id, "settings_file": str(settings_file or "")},
        "settings": load_settings(settings_file or None),
        "packages": package_versions(),
        "outputs": outputs,
    }
    write_json(manifest, run.reports_dir / "manifest.json")
    return manifest


def validate_cohort(raw_dir: str | Path, *, waves: Sequence[str] | None = None, instrument: str | None = None,
                    settings_file: str | Path | None = None) -> list[Any]:
    """Load every wave without writing anything; return one result per wave.

    File-level problems do not stop the check: they are collected in each result's ``errors``
    (the results are built with ``skip_bad_files=True``), so that one report lists them all.
    """
    import secrets

    from . import ingest
    from .config import load_settings
    from .instrument import load_instrument

    raw = Path(raw_dir).resolve()
    if not raw.is_dir():
        raise InputFileError("cohort folder does not exist", path=raw)
    inst = load_instrument(instrument or None)
    settings = load_settings(settings_file or None)
    register = ingest.load_register(raw)
    salt = secrets.token_bytes(32)  # validate writes nothing, not even a salt
    results = []
    for wave in list_waves(raw, waves):
        results.append(ingest.load_wave(raw / wave, instrument=inst, register=register, salt=salt, settings=settings,
                                        skip_bad_files=True, keep_comments=False, cohort_dir=raw))
    return results


def collect_errors(results: Iterable[Any]) -> list[DiagnosticsError]:
    """Every file-level error found across validated waves."""
    return [e for r in results for e in r.errors]
