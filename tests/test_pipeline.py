"""End to end: the papermill pipeline on a tiny cohort, checked against hand-computed values."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis import pipeline, reports
from analysis.config import SYNTHETIC_MARKER
from analysis.exceptions import NotebookExecutionError, ParameterError
from analysis.instrument import load_instrument
from analysis.io import read_table
from analysis.pipeline import NOTEBOOKS, KernelPool, KernelSession, check_parameters, run_cohort

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ITEMS = load_instrument().form_items("full")["item_id"].tolist()


def _wave_frame(council_scores: dict[str, list[int]], wave_offset: int) -> pd.DataFrame:
    """One respondent per list entry: every statement answered with that score (+ offset, capped)."""
    rows = []
    for council, scores in council_scores.items():
        for i, s in enumerate(scores):
            row = {"council": council, "respondent_id": f"{council[:3]}-{i}", "perspective": "organisation"}
            row.update({item: min(5, s + wave_offset) for item in ITEMS})
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tiny_cohort(tmp_path_factory) -> Path:
    """Two waves; Alderbank (6 respondents) and Birchmoor (5) are shown; Cobble Hill (2) is suppressed."""
    raw = tmp_path_factory.mktemp("cohort") / "data" / "raw" / "tiny"
    register = pd.DataFrame({
        "council_id": ["ALD", "BIR", "COB"],
        "name": ["Alderbank Borough Council", "Birchmoor District Council", "Cobble Hill Council"],
        "aliases": ["Alderbank", "Birchmoor", "Cobble Hill"], "type": ["borough", "district", "unitary"],
        "region": ["North", "South", "East"]})
    (raw / "2024-01").mkdir(parents=True)
    (raw / "2025-01").mkdir(parents=True)
    register.to_csv(raw / "cohort.csv", index=False)
    (raw / SYNTHETIC_MARKER).write_text("synthetic test cohort\n", encoding="utf-8")
    scores = {"Alderbank": [4, 4, 5, 3, 4, 4], "Birchmoor": [2, 3, 2, 2, 3], "Cobble Hill": [5, 1]}
    w1 = _wave_frame(scores, 0)
    w1.loc[0, "E01S1"] = np.nan   # one missing answer: E01 for that respondent = mean of 2 answers
    w1.loc[1, ["E02S1", "E02S2"]] = np.nan  # 1 of 3 answered: E02 invalid for that respondent
    w1.to_csv(raw / "2024-01" / "export.csv", index=False)
    _wave_frame(scores, 1).to_csv(raw / "2025-01" / "export.csv", index=False)
    return raw


@pytest.fixture(scope="module")
def ran(tiny_cohort, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    # PDFs are checked in test_report_outputs.py; here --no-pdf, and that nothing is rendered
    runs = run_cohort(tiny_cohort, processed_dir=out / "processed", reports_dir=out / "reports", progress=False,
                      pdf=False)
    return tiny_cohort, out, runs


@pytest.mark.slow
def test_every_output_is_written(ran):
    _, out, runs = ran
    assert [r.wave for r in runs] == ["2024-01", "2025-01"]
    for wave in ("2024-01", "2025-01"):
        proc = out / "processed" / "tiny" / wave
        rep = out / "reports" / "tiny" / wave
        for name in ("responses.csv", "respondent_scores.csv", "enabler_scores.csv", "grouping_scores.csv",
                     "quarantine.csv", "cell_issues.csv", "ingest_summary.json"):
            assert (proc / name).exists(), name
        for name in ("cohort_report.html", "cohort_report.xlsx", "manifest.json"):
            assert (rep / name).exists(), name
        for cid in ("ALD", "BIR", "COB"):
            assert (rep / "councils" / f"{cid}.html").exists()
            assert (rep / "councils" / f"{cid}.xlsx").exists()
            assert not (rep / "councils" / f"{cid}.pdf").exists()        # pdf=False (--no-pdf)
        for name in NOTEBOOKS[:3]:
            assert (rep / "notebooks" / name).exists()


@pytest.mark.slow
def test_processed_tables_hold_the_hand_computed_values(ran):
    _, out, _ = ran
    proc = out / "processed" / "tiny" / "2024-01"
    responses = read_table(proc / "responses.csv", "responses")
    assert len(responses) == 13 * 33
    assert set(responses["council_id"]) == {"ALD", "BIR", "COB"}
    enabler = read_table(proc / "enabler_scores.csv", "enabler_scores")
    ald = enabler[(enabler["council_id"] == "ALD") & (enabler["unit_id"] == "E03")].iloc[0]
    assert ald["n"] == 6
    assert ald["mean"] == pytest.approx(24 / 6)
    assert ald["sd"] == pytest.approx(np.std([4, 4, 5, 3, 4, 4], ddof=1))
    assert ald["favourable_pct"] == pytest.approx(5 / 6)
    # the respondent with 1 of 3 E02 answers has no valid E02 score
    e02 = enabler[(enabler["council_id"] == "ALD") & (enabler["unit_id"] == "E02")].iloc[0]
    assert e02["n"] == 5
    assert e02["mean"] == pytest.approx((4 + 5 + 3 + 4 + 4) / 5)
    cohort = enabler[(enabler["scope"] == "cohort") & (enabler["unit_id"] == "E03")].iloc[0]
    assert cohort["n"] == 13
    assert cohort["mean"] == pytest.approx((24 + 12 + 6) / 13)
    cmp = read_table(proc / "comparison.csv", "comparison")
    row = cmp[(cmp["council_id"] == "ALD") & (cmp["unit_id"] == "E03")].iloc[0]
    assert row["cohort_median"] == pytest.approx((4.0 + 2.4) / 2)   # COB (n=2) is below the threshold
    assert bool(cmp.loc[cmp["council_id"] == "COB", "suppressed"].all())


@pytest.mark.slow
def test_reports_are_self_contained_say_synthetic_and_suppress(ran):
    _, out, _ = ran
    rep = out / "reports" / "tiny" / "2025-01"
    html = (rep / "cohort_report.html").read_text(encoding="utf-8")
    body = html[html.index("<body"):]
    assert body.index("Synthetic demo data") < body.index("<img")   # first screen, before any figure
    assert 'src="data:image/png;base64' in html
    assert 'src="http' not in html
    assert "steps.cohort_report_step" not in html   # code cells hidden
    cob = (rep / "councils" / "COB.html").read_text(encoding="utf-8")
    assert "fewer than 5 responses" in cob
    assert '<img alt="' not in cob and 'src="data:image/png' not in cob   # no spider for a suppressed council
    assert "<svg" not in cob and 'class="lk-seg"' not in cob and 'class="sc-bar"' not in cob
    ald = (rep / "councils" / "ALD.html").read_text(encoding="utf-8")
    assert 'aria-label="Spider diagram of Alderbank Borough Council' in ald   # charts carry alternative text
    assert ald.count('role="img"') == 4     # spider, groupings, statements, change: all HTML/SVG
    assert "No description has been provided" not in html + ald
    for path in [rep / "cohort_report.xlsx", rep / "councils" / "ALD.xlsx"]:
        assert zipfile.ZipFile(path).testzip() is None
        wb = openpyxl.load_workbook(path)
        assert wb.sheetnames[0] == "About"
    # previous wave comparison appears in the second wave
    assert "Change since" in html


@pytest.mark.slow
def test_manifest_records_inputs_versions_and_times(ran):
    raw, out, _ = ran
    manifest = json.loads((out / "reports" / "tiny" / "2024-01" / "manifest.json").read_text(encoding="utf-8"))
    files = {f["file"]: f for f in manifest["inputs"]}
    assert "2024-01/export.csv" in files
    import hashlib
    assert files["2024-01/export.csv"]["sha256"] == hashlib.sha256((raw / "2024-01" / "export.csv").read_bytes()).hexdigest()
    assert manifest["packages"]["pandas"]
    assert manifest["started_at"] <= manifest["finished_at"]
    assert {"01_ingest_clean.ipynb", "council_packs"} <= set(manifest["timings_s"])


def test_misspelt_parameter_is_an_error_not_ignored():
    with pytest.raises(ParameterError, match="procesed_dir"):
        check_parameters(NB_DIR / "02_score.ipynb", {"procesed_dir": "x"})


def test_declared_parameters_pass():
    declared = check_parameters(NB_DIR / "04_council_pack.ipynb", {"council_id": "C01", "wave": "2024-01"})
    assert "council_id" in declared


def _notebook(path: Path, *cells: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("value: int = 0", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.mark.slow
def test_shared_kernel_resets_namespace_between_notebooks(tmp_path):
    """One kernel runs many notebooks, but a name set by one is gone in the next (modules stay imported)."""
    setter = _notebook(tmp_path / "setter.ipynb", "leaked = value * 2\nimport json")
    checker = _notebook(tmp_path / "checker.ipynb",
                        "import sys\nassert 'leaked' not in globals(), 'namespace leaked'\n"
                        "assert 'json' in sys.modules\nresult = value")
    with KernelSession(cwd=tmp_path) as session:
        session.run(setter, tmp_path / "out1.ipynb", {"value": 21})
        nb = session.run(checker, tmp_path / "out2.ipynb", {"value": 3})
    assert nb.metadata.papermill.parameters == {"value": 3}
    assert "Parameters" in "".join(c.source for c in nb.cells)      # papermill injected the parameters


@pytest.mark.slow
def test_pool_runs_in_parallel_and_reports_the_failing_notebook(tmp_path):
    # Each notebook waits (up to 60 s) until two different kernels have checked in: it passes only
    # when two kernels really run at the same time.
    ok = _notebook(tmp_path / "ok.ipynb",
                   f"import os, time, pathlib\nd = pathlib.Path({str(tmp_path / 'pids')!r}); d.mkdir(exist_ok=True)\n"
                   "(d / str(os.getpid())).touch()\nt0 = time.time()\n"
                   "while len(list(d.iterdir())) < 2 and time.time() - t0 < 60:\n    time.sleep(0.05)\n"
                   "print(os.getpid())")
    bad = _notebook(tmp_path / "bad.ipynb", "raise ValueError(f'bad value {value}')")
    with KernelPool(2, cwd=tmp_path) as pool:
        def run(session, *, item):
            return session.run(ok, tmp_path / f"ok{item}.ipynb", {"value": item})
        done = dict(pool.map_unordered(run, list(range(6))))
        assert sorted(done) == list(range(6))
        pids = {nb.cells[-1].outputs[0]["text"].strip() for nb in done.values()}
        assert len(pids) == 2                                    # both kernels did work
        with pytest.raises(NotebookExecutionError, match="bad.ipynb failed: ValueError: bad value 7"):
            pool.run(bad, tmp_path / "bad_out.ipynb", {"value": 7})
    assert (tmp_path / "bad_out.ipynb").exists()                # the evidence is kept


def test_misspelt_parameter_is_rejected_before_any_kernel_starts(tmp_path):
    nb = _notebook(tmp_path / "p.ipynb", "pass")
    with pytest.raises(ParameterError, match="valeu"):
        check_parameters(nb, {"valeu": 1})


@pytest.mark.slow
def test_cohort_rows_in_reports_cannot_be_differenced(ran):
    """COB (2 respondents) still counts in the cohort row; BIR (the smallest shown) is hidden with it."""
    _, out, _ = ran
    wb = openpyxl.load_workbook(out / "reports" / "tiny" / "2024-01" / "cohort_report.xlsx", read_only=True)
    ws = wb["Cohort enablers"]
    rows = list(ws.values)
    header = [str(h) for h in rows[0]]
    e03 = next(r for r in rows[1:] if r and any(str(v).startswith("E03") for v in r if v is not None))
    n = e03[next(i for i, h in enumerate(header) if h.lower() in ("n", "respondents"))]
    assert n == 13                              # 6 + 5 + 2: a small council still counts in the cohort
    grid = {r[0]: r for r in wb["Council x enabler"].values}
    assert all(v is None for v in grid["Cobble Hill Council"][1:])
    # complementary suppression: per enabler, the smallest shown council is hidden too (BIR, 5
    # respondents; on E02 ALD also has 5 valid scores and comes first), and so are their counts
    ald, bir = grid["Alderbank Borough Council"], grid["Birchmoor District Council"]
    assert ald[1] is None and bir[1] is None
    assert all((a is None) != (b is None) for a, b in zip(ald[2:], bir[2:], strict=True))
    assert bir[2] is None and isinstance(ald[2], (int, float))                   # E01
    html = (out / "reports" / "tiny" / "2024-01" / "cohort_report.html").read_text(encoding="utf-8")
    assert "cannot be worked out by subtraction" in html


@pytest.mark.parametrize("engine", ["weasyprint", pytest.param("chromium", marks=pytest.mark.skipif(
    reports.find_chromium() is None,
    reason="no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)"))])
def test_pdf_renderer_renders_every_submitted_report_with_either_engine(tmp_path, engine):
    pages = []
    for i in range(3):
        html = tmp_path / f"r{i}.html"
        html.write_text(f"<html><body><h1>Report {i}</h1><p>{'text ' * 200}</p></body></html>", encoding="utf-8")
        pages.append(html)
    with pipeline.PdfRenderer(engine) as renderer:
        assert renderer.engine == engine
        for html in pages:
            renderer.submit(html, html.with_suffix(".pdf"), group="w")
        assert renderer.wait("w") >= 0
        assert renderer.wait("w") == pytest.approx(0, abs=0.05)                 # nothing left in the group
    for html in pages:
        assert html.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    with pipeline.PdfRenderer(False) as off:                                   # --no-pdf
        off.submit(pages[0], tmp_path / "none.pdf", group="w")
    assert not (tmp_path / "none.pdf").exists() and off.engine is None
