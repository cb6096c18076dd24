"""Tests of analysis.reports: workbooks re-opened and read back, HTML checked for offline use."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import openpyxl  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output  # noqa: E402

from analysis import reports  # noqa: E402
from analysis.exceptions import ReportError  # noqa: E402

NAN = float("nan")
PNG_1x1 = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000105fe02fea70000000049454e44ae426082")).decode()


@pytest.fixture
def summary() -> pd.DataFrame:
    """An enabler_scores-shaped table: 2 councils x 2 enablers + cohort rows; one small council."""
    rows = [
        ("council", "alder", "Alder Council", "E01", "Systems mindset", 8, 3.456, 0.81, 3.5, 3.0, 4.0, 0.5, 0.125),
        ("council", "alder", "Alder Council", "E02", "Reframing risk", 7, 2.25, 1.02, 2.0, 1.5, 3.0, 0.2857142857, 0.5),
        ("council", "cedar", "=HYPERLINK(\"x\")", "E01", "Systems mindset", 2, 4.5, 0.7, 4.5, 4.25, 4.75, 1.0, 0.0),
        ("cohort", "COHORT", "Cohort", "E01", "Systems mindset", 10, 3.66, 0.9, 4.0, 3.0, 4.0, 0.6, 0.1),
    ]
    cols = ["scope", "council_id", "council_name", "unit_id", "unit_name", "n", "mean", "sd", "median", "q1", "q3",
            "favourable_pct", "unfavourable_pct"]
    return pd.DataFrame(rows, columns=cols).assign(wave="2024-01", level="enabler")


def _read(path: Path) -> openpyxl.Workbook:
    assert zipfile.ZipFile(path).testzip() is None
    return openpyxl.load_workbook(path)


# ---------------------------------------------------------------------------------------------
# write_workbook
# ---------------------------------------------------------------------------------------------
def test_workbook_round_trip_values_formats_and_layout(tmp_path: Path, summary: pd.DataFrame) -> None:
    frame = summary.assign(flag=[True, False, True, False], when=pd.Timestamp("2024-01-02", tz="Europe/London"))
    frame.loc[1, "sd"] = NAN
    path = reports.write_workbook(tmp_path / "out" / "report.xlsx", {"Enabler scores": frame}, title="Cohort report")
    assert path == tmp_path / "out" / "report.xlsx"
    wb = _read(path)
    assert wb.sheetnames == ["Enabler scores"]
    ws = wb["Enabler scores"]
    header = [c.value for c in ws[1]]
    assert header == list(frame.columns)
    assert all(c.font.bold for c in ws[1]) and ws["A1"].fill.fill_type == "solid"
    assert ws.freeze_panes == "B2"
    assert ws.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(header))}5"
    col = {name: i + 1 for i, name in enumerate(header)}
    assert ws.cell(2, col["mean"]).value == pytest.approx(3.456)          # unrounded
    assert ws.cell(2, col["mean"]).number_format == "0.00"
    assert ws.cell(2, col["favourable_pct"]).number_format == "0.0%"
    assert ws.cell(3, col["favourable_pct"]).value == pytest.approx(0.2857142857)
    assert ws.cell(2, col["n"]).number_format == "0" and ws.cell(2, col["n"]).value == 8
    assert ws.cell(3, col["sd"]).value is None                               # NaN -> empty
    assert ws.cell(2, col["flag"]).value is True and ws.cell(3, col["flag"]).value is False
    assert ws.cell(2, col["flag"]).data_type == "b"
    assert ws.cell(4, col["council_name"]).value == "'=HYPERLINK(\"x\")"     # formula neutralised
    assert ws.cell(4, col["council_name"]).data_type == "s"
    assert ws.cell(2, col["when"]).value.tzinfo is None
    assert ws.column_dimensions["C"].width >= len("Alder Council")
    assert wb.properties.title == "Cohort report"


def test_workbook_about_sheet_first_with_synthetic_banner(tmp_path: Path, summary: pd.DataFrame) -> None:
    about = {"title": "Cohort report", "synthetic": True, "cohort": "demo", "wave": "2024-01",
             "run id": "abc123", "generated at": "2024-02-01 10:00 UTC", "package version": "0.1.0",
             "instrument": "margins_to_mainstream v1", "disclosure threshold": 5, "notes": "-dangerous"}
    wb = _read(reports.write_workbook(tmp_path / "r.xlsx", {"Data": summary}, about=about))
    assert wb.sheetnames == ["About", "Data"]
    ws = wb["About"]
    banner = ws["A1"]
    assert banner.value.startswith("Synthetic demo data")
    assert banner.font.bold and banner.font.color.rgb.endswith("C00000")
    pairs = {r[0]: r[1] for r in ws.iter_rows(min_row=2, values_only=True) if r[0]}
    assert pairs["Title"] == "Cohort report" and pairs["Cohort"] == "demo" and pairs["Run id"] == "abc123"
    assert pairs["Disclosure threshold"] == 5 and pairs["Generated at"] == "2024-02-01 10:00 UTC"
    assert pairs["Notes"] == "'-dangerous"
    labels = [r[0] for r in ws.iter_rows(min_row=2, values_only=True) if r[0]]
    assert labels[:4] == ["Title", "Cohort", "Wave", "Generated at"]


def test_workbook_without_synthetic_has_no_banner(tmp_path: Path, summary: pd.DataFrame) -> None:
    wb = _read(reports.write_workbook(tmp_path / "r.xlsx", {"Data": summary}, about={"synthetic": False, "cohort": "x"}))
    assert wb["About"]["A1"].value == "Cohort"


def test_workbook_reader_names_and_overrides(tmp_path: Path, summary: pd.DataFrame) -> None:
    table = reports.format_for_report(summary, threshold=5)
    path = reports.write_workbook(tmp_path / "r.xlsx", {"T": table}, number_formats={"SD": "0.000"})
    ws = _read(path)["T"]
    header = [c.value for c in ws[1]]
    col = {name: i + 1 for i, name in enumerate(header)}
    assert ws.cell(2, col["Mean"]).number_format == "0.00"
    assert ws.cell(2, col["Favourable %"]).number_format == "0.0%"
    assert ws.cell(2, col["SD"]).number_format == "0.000"
    assert ws.cell(2, col["n"]).number_format == "0"


def test_sheet_names_sanitised_and_unique(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1]})
    sheets = {"Change: [wave]/*?\\ and a very long name indeed": df, "change: [wave]/*?\\ and a very long name indeed!": df,
              "History": df, "'quoted'": df}
    wb = _read(reports.write_workbook(tmp_path / "r.xlsx", sheets))
    names = wb.sheetnames
    assert all(len(n) <= 31 and not re.search(r"[\[\]:*?/\\]", n) for n in names)
    assert len({n.lower() for n in names}) == 4
    assert "History" not in names and "quoted" in names


def test_workbook_strips_illegal_characters_and_handles_empty(tmp_path: Path) -> None:
    df = pd.DataFrame({"text": ["ok\x01bad", "+1 555", "\ttab"], "n": [1, 2, 3]})
    empty = pd.DataFrame(columns=["council_name", "mean"])
    wb = _read(reports.write_workbook(tmp_path / "r.xlsx", {"T": df, "Empty": empty}))
    assert [c.value for c in wb["T"]["A"]][1:] == ["okbad", "'+1 555", "'\ttab"]
    assert wb["Empty"].max_row == 1 and wb["Empty"].freeze_panes == "B2"


def test_workbook_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.xlsx"
    reports.write_workbook(target, {"T": pd.DataFrame({"a": [1]})})
    before = target.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("openpyxl.Workbook.save", boom)
    with pytest.raises(ReportError, match="close the file|Close the file") as info:
        reports.write_workbook(target, {"T": pd.DataFrame({"a": [2]})})
    assert str(target) in str(info.value)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]          # no temp file left behind


def test_workbook_rejects_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"\.xlsx"):
        reports.write_workbook(tmp_path / "r.xls", {"T": pd.DataFrame({"a": [1]})})


def test_workbook_warns_on_percent_not_fraction(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reports.write_workbook(tmp_path / "r.xlsx", {"T": pd.DataFrame({"favourable_pct": [45.0]})})
    assert "fractions" in caplog.text


# ---------------------------------------------------------------------------------------------
# format_for_report / display_table
# ---------------------------------------------------------------------------------------------
def test_format_for_report_suppresses_and_renames(summary: pd.DataFrame) -> None:
    out = reports.format_for_report(summary, threshold=5, level_names={"E01": "E01 Systems mindset"})
    assert list(out.columns) == ["Council", "Enabler", "n", "Mean", "SD", "Median", "Q1", "Q3",
                                 "Favourable %", "Unfavourable %", "Suppressed"]
    assert out["Enabler"].tolist() == ["E01 Systems mindset", "Reframing risk", "E01 Systems mindset", "E01 Systems mindset"]
    cedar = out.iloc[2]
    assert cedar["Suppressed"] and cedar["n"] == 2
    assert cedar[["Mean", "SD", "Median", "Q1", "Q3", "Favourable %", "Unfavourable %"]].isna().all()
    assert out.loc[0, "Mean"] == 3.456 and out.loc[1, "Favourable %"] == pytest.approx(0.2857142857)  # unrounded
    assert out.attrs["disclosure_threshold"] == 5
    assert summary.loc[2, "mean"] == 4.5                                                             # input untouched


def test_format_for_report_comparison_keeps_cohort_and_prior_flag() -> None:
    comp = pd.DataFrame({"council_name": ["A", "B"], "unit_id": ["E01", "E01"], "unit_name": ["S", "S"],
                         "n": [9, 9], "mean": [3.0, 4.0], "cohort_median": [3.5, 3.5], "cohort_mean": [3.4, 3.4],
                         "diff_vs_median": [-0.5, 0.5], "rank": [2.0, 1.0], "n_ranked": [2, 2],
                         "suppressed": [False, True]})
    out = reports.format_for_report(comp, threshold=5)
    assert list(out.columns) == ["Council", "Enabler", "n", "Mean", "Cohort median", "Cohort mean",
                                 "Difference vs cohort median", "Rank", "Ranked of", "Suppressed"]
    assert np.isnan(out.loc[1, "Mean"]) and np.isnan(out.loc[1, "Difference vs cohort median"])
    assert out.loc[1, "Cohort median"] == 3.5 and out.loc[0, "Mean"] == 3.0


def test_format_for_report_grouping_heading() -> None:
    g = pd.DataFrame({"level": ["grouping", "overall"], "unit_id": ["G1", "overall"], "unit_name": ["G1", "overall"],
                      "n": [6, 6], "mean": [3.0, 3.1]})
    out = reports.format_for_report(g, threshold=5, level_names={"G1": "Mindset", "overall": "Overall"})
    assert out.columns[0] == "Grouping" and out["Grouping"].tolist() == ["Mindset", "Overall"]
    mixed = pd.concat([g, g.assign(level="enabler", unit_id="E01")])
    assert list(reports.format_for_report(mixed, threshold=5).columns[:2]) == ["Level", "Unit"]


def test_format_for_report_needs_n() -> None:
    with pytest.raises(ReportError, match="'n' column"):
        reports.format_for_report(pd.DataFrame({"mean": [1.0]}), threshold=5)


def test_display_table(summary: pd.DataFrame) -> None:
    table = reports.format_for_report(summary, threshold=5)
    html = reports.display_table(table).to_html()
    assert "3.46" in html and "3.456" not in html                      # rounded for display only
    assert "29%" in html and "50%" in html                              # fractions shown as %
    assert "suppressed (n&lt;5)" in html or "suppressed (n<5)" in html
    assert "4.50" not in html                                           # the suppressed council's value is not shown
    assert "=HYPERLINK(&quot;x&quot;)" in html or "=HYPERLINK(&#34;x&#34;)" in html  # text escaped
    assert ">Suppressed<" not in html                                    # flag column hidden
    assert 'class="row_heading' not in html                              # no index
    assert table.loc[0, "Mean"] == 3.456                                 # data not rounded


def test_display_table_raw_columns_and_threshold_argument(summary: pd.DataFrame) -> None:
    raw = summary.assign(suppressed=summary["n"] < 5)
    html = reports.display_table(raw, decimals=1, threshold=5).to_html()
    assert "3.5" in html and "suppressed (n&lt;5)" in html


# ---------------------------------------------------------------------------------------------
# banner / provenance
# ---------------------------------------------------------------------------------------------
def test_banner_markdown() -> None:
    synth = reports.banner_markdown(synthetic=True, cohort="demo", wave="2024-01", title="Cohort report")
    assert synth.startswith("**Synthetic demo data** — fictional councils, generated by `diagnostics demo`; "
                            "not findings about any real council.")
    assert "# Cohort report" in synth and "demo" in synth and "2024-01" in synth
    real = reports.banner_markdown(synthetic=False, cohort="North <b>", wave="w1", title="T")
    assert "Synthetic" not in real and real.startswith("# T") and "<b>" not in real


def test_provenance_markdown() -> None:
    import hashlib

    digests = [hashlib.sha256(b"a").hexdigest(), hashlib.sha256(b"b").hexdigest()]
    text = reports.provenance_markdown({
        "run_id": "run-1", "generated_at": "2024-02-01T10:00:00Z", "package_version": "0.1.0",
        "instrument": {"id": "margins_to_mainstream", "version": 1},
        "input_files": [{"path": "a.xlsx", "sha256": digests[0]}, {"path": "b.csv", "sha256": digests[1]}]})
    combined = hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()[:12]
    for part in ("run-1", "2024-02-01T10:00:00Z", "0.1.0", "margins\\_to\\_mainstream v1", "2 input files", combined):
        assert part in text
    one = reports.provenance_markdown({"inputs": {"a.xlsx": digests[0]}})
    assert "1 input file (sha256 " + digests[0][:12] + ")" in one
    assert reports.provenance_markdown({}) == ""


# ---------------------------------------------------------------------------------------------
# HTML and figures
# ---------------------------------------------------------------------------------------------
def _notebook() -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("# Report heading\n\nSome $x^2$ text."),
        new_code_cell("secret_source_code = 42\nplot()", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="stream output line\n"),
            new_output("display_data", data={"image/png": PNG_1x1, "text/plain": "<Figure>"}),
            new_output("display_data", data={"text/html": '<img src="https://example.org/x.png"><script src="http://cdn.example/x.js"></script>'}),
        ]),
    ])


def test_notebook_to_html_self_contained(tmp_path: Path) -> None:
    path = reports.notebook_to_html(_notebook(), tmp_path / "report.html", title="My report")
    html = path.read_text(encoding="utf-8")
    assert "secret_source_code" not in html                              # code input hidden
    assert "Report heading" in html and "stream output line" in html
    assert "data:image/png;base64" in html
    assert not re.search(r"""(?<![\w-])src\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    assert not re.search(r"<script[^>]*\bsrc\s*=", html) and not re.search(r"<link[^>]*https?://", html)
    assert not re.search(r"""<script[^>]*\bsrc\s*=\s*["']\s*["']""", html)   # no empty src either
    assert "<title>My report</title>" in html


def test_notebook_to_html_from_file_and_exporter_cached(tmp_path: Path) -> None:
    nb_path = tmp_path / "03_cohort_report.ipynb"
    nbformat.write(_notebook(), nb_path)
    out = reports.notebook_to_html(nb_path, tmp_path / "r.html")
    assert "<title>03_cohort_report</title>" in out.read_text(encoding="utf-8")
    assert reports._html_exporter() is reports._html_exporter()


def test_notebook_to_html_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot read the notebook"):
        reports.notebook_to_html(tmp_path / "missing.ipynb", tmp_path / "r.html")


def test_save_figure(tmp_path: Path) -> None:
    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    path = reports.save_figure(fig, tmp_path / "figs" / "f.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(os.listdir(tmp_path / "figs")) == ["f.png"]
    with pytest.raises(ReportError, match="png"):
        reports.save_figure(fig, tmp_path / "f.gif")
