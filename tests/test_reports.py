"""Tests of analysis.reports: workbooks re-opened and read back, HTML checked for offline use."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import base64  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402
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


#: Text Excel (or LibreOffice) would run as a formula if it started a cell.
FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def assert_formula_safe(wb: openpyxl.Workbook, allowed: set[str] = frozenset()) -> None:
    """No cell of any sheet is a formula, or text starting like one, unless listed in ``allowed``
    (``"Sheet!A1"`` cells the project writes as formulas on purpose: none today)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                where = f"{ws.title}!{cell.coordinate}"
                if where in allowed:
                    continue
                assert cell.data_type != "f", f"{where} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    assert not FORMULA_START.match(cell.value), f"{where} starts like a formula: {cell.value!r}"


def _read(path: Path) -> openpyxl.Workbook:
    assert zipfile.ZipFile(path).testzip() is None
    wb = openpyxl.load_workbook(path)
    assert_formula_safe(wb)           # every workbook a test writes is checked for formula injection
    return wb


def _rules(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, list]:
    """Conditional formats of a sheet after reload: sqref text -> rules."""
    return {str(cf.sqref): list(cf.rules) for cf in ws.conditional_formatting}


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


def test_workbook_formula_safety_everywhere(tmp_path: Path) -> None:
    """Text, headers, sheet names and About values that look like formulas are all neutralised."""
    df = pd.DataFrame({"=SUM(A1)": ["=1+1", "+44 20", "-x", "@cmd", "\tx", "safe"], "n": [1, -2, 3, 4, 5, 6]})
    path = reports.write_workbook(tmp_path / "r.xlsx", {"=Sheet": df}, about={"title": "=danger", "run id": "@x"})
    wb = _read(path)                                                   # asserts formula safety
    ws = wb.worksheets[1]
    assert ws["A1"].value == "'=SUM(A1)" and ws["A2"].value == "'=1+1"
    assert ws["B3"].value == -2 and ws["B3"].data_type == "n"          # negative numbers stay numbers
    bad = openpyxl.Workbook()
    bad.active["A1"] = "=1+1"
    with pytest.raises(AssertionError, match="formula"):               # the check itself can fail
        assert_formula_safe(bad)


def test_default_conditional_format_by_name() -> None:
    scale = ["mean", "Mean", "median", "Q1", "q3", "cohort_median", "Cohort mean", "ci_low", "95% CI high",
             "mean_from", "mean_to"]
    assert all(reports.default_conditional_format(c) == "scale" for c in scale)
    assert all(reports.default_conditional_format(c) == "difference"
               for c in ["diff_vs_median", "Difference vs cohort median", "change", "delta"])
    assert reports.default_conditional_format("Favourable %") == "share"
    assert reports.default_conditional_format("unfavourable_pct") == "share"
    for other in ["n", "sd", "SD", "Agreement rwg(j)", "AD_M", "Alpha 95% CI low", "Council", "rank", "p_value"]:
        assert reports.default_conditional_format(other) is None, other


def test_workbook_conditional_formats_by_column(tmp_path: Path, summary: pd.DataFrame) -> None:
    """Means get a 1/3/5 colour scale, differences one centred on 0, shares data bars 0..1; blank
    (suppressed) cells are outside every range; values are untouched."""
    table = reports.format_for_report(summary, threshold=5)           # cedar (row 4) is suppressed
    table["Difference vs cohort median"] = [0.2, -1.4, float("nan"), 0.0]
    path = reports.write_workbook(tmp_path / "r.xlsx", {"T": table})
    ws = _read(path)["T"]
    col = {c.value: c.column_letter for c in ws[1]}
    rules = _rules(ws)
    m = col["Mean"]
    assert f"{m}2:{m}3 {m}5" in rules                                   # row 4 (blank) skipped
    (rule,) = rules[f"{m}2:{m}3 {m}5"]
    assert rule.type == "colorScale"
    assert [(v.type, float(v.val)) for v in rule.colorScale.cfvo] == [("num", 1.0), ("num", 3.0), ("num", 5.0)]
    assert [c.rgb[-6:] for c in rule.colorScale.color] == [reports.CF_LOW, reports.CF_MID, reports.CF_HIGH]
    d = col["Difference vs cohort median"]
    (diff,) = rules[f"{d}2:{d}3 {d}5"]
    assert [float(v.val) for v in diff.colorScale.cfvo] == [-1.0, 0.0, 1.0]
    f = col["Favourable %"]
    (bar,) = rules[f"{f}2:{f}3 {f}5"]
    assert bar.type == "dataBar" and [float(v.val) for v in bar.dataBar.cfvo] == [0.0, 1.0]
    covered = {ref.split(":")[0][0] for ref in rules}                   # first column letter of each range
    assert col["SD"] not in covered and col["n"] not in covered and col["Council"] not in covered
    assert ws[f"{m}4"].value is None and ws[f"{m}4"].fill.fill_type is None   # suppressed: blank, uncoloured
    assert ws[f"{m}2"].value == pytest.approx(3.456) and ws[f"{d}3"].value == pytest.approx(-1.4)


def test_workbook_conditional_formats_off_and_overrides(tmp_path: Path) -> None:
    from openpyxl.formatting.rule import CellIsRule

    wide = pd.DataFrame({"council_name": ["A", "B", "C"], "respondents": [9, 3, 12],
                         "E01 Systems mindset": [3.1, float("nan"), 4.2], "E02 Reframing risk": [2.0, float("nan"), 2.5]})
    scores = pd.DataFrame({"Mean": [3.0, 4.0], "SD": [0.5, 0.9], "n": [5, 6]})
    off = _read(reports.write_workbook(tmp_path / "off.xlsx", {"W": wide, "S": scores}, conditional_formats=False))
    assert _rules(off["W"]) == {} and _rules(off["S"]) == {}
    custom = CellIsRule(operator="greaterThan", formula=["0.8"], font=openpyxl.styles.Font(bold=True))
    wb = _read(reports.write_workbook(
        tmp_path / "on.xlsx", {"W": wide, "S": scores},
        conditional_formats={"Mean": None, "SD": custom,
                             "W": {"E01 Systems mindset": "scale", "E02 Reframing risk": "scale"}}))
    assert set(_rules(wb["W"])) == {"C2 C4", "D2 D4"}                    # enabler columns, suppressed row 3 skipped
    assert set(_rules(wb["S"])) == {"B2:B3"} and _rules(wb["S"])["B2:B3"][0].type == "cellIs"
    assert wb["W"]["C3"].value is None


def test_workbook_conditional_formats_errors(tmp_path: Path) -> None:
    df = pd.DataFrame({"Mean": [3.0]})
    with pytest.raises(ReportError, match="must be one of .*'scale'.*'rainbow'"):
        reports.write_workbook(tmp_path / "r.xlsx", {"T": df}, conditional_formats={"Mean": "rainbow"})
    with pytest.raises(ReportError, match="sheet.*'Missing'"):
        reports.write_workbook(tmp_path / "r.xlsx", {"T": df}, conditional_formats={"Missing": {"Mean": "scale"}})
    with pytest.raises(ReportError, match="True, False or a mapping"):
        reports.write_workbook(tmp_path / "r.xlsx", {"T": df}, conditional_formats="scale")  # type: ignore[arg-type]
    assert not (tmp_path / "r.xlsx").exists()


@pytest.fixture
def spider_data() -> pd.DataFrame:
    return pd.DataFrame({"Enabler": [f"E{i:02d} enabler {i}" for i in range(1, 12)],
                         "Alder Council": [3.2, 2.1, NAN, 4.5, 3.3, 3.1, 2.9, 4.0, 3.5, 2.2, 1.8],
                         "Cohort median": [3.0, 3.1, 3.2, 3.3, 3.4, 3.5, 3.4, 3.3, 3.2, 3.1, 3.0],
                         "Cohort Q1": [2.5] * 11})


def test_workbook_radar_chart(tmp_path: Path, spider_data: pd.DataFrame) -> None:
    """openpyxl drops charts on load, so the chart part is read from the zip: a radar chart whose
    series reference the sheet's cells, with title, fixed 1-5 axis and blanks as gaps."""
    spec = reports.RadarSpec(sheet="Spider data", categories="Enabler", series=["Alder Council", "Cohort median"],
                             title="Alder Council against the cohort", dashed=["Cohort median"])
    path = reports.write_workbook(tmp_path / "r.xlsx", {"Summary": pd.DataFrame({"a": [1]}), "Spider data": spider_data},
                                  charts=[spec])
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert "xl/charts/chart1.xml" in names and "xl/charts/chart2.xml" not in names
        xml = z.read("xl/charts/chart1.xml").decode()
        drawing_rels = z.read("xl/worksheets/_rels/sheet2.xml.rels").decode()   # placed on "Spider data"
    assert "drawing" in drawing_rels
    assert "<radarChart>" in xml and '<radarStyle val="marker"' in xml
    assert re.findall(r"<val><numRef><f>(.*?)</f>", xml) == ["'Spider data'!$B$2:$B$12", "'Spider data'!$C$2:$C$12"]
    assert re.findall(r"<cat><strRef><f>(.*?)</f>", xml) == ["'Spider data'!$A$2:$A$12"] * 2
    assert re.findall(r"<tx><strRef><f>(.*?)</f>", xml) == ["'Spider data'!B1", "'Spider data'!C1"]
    assert "Alder Council against the cohort" in xml
    assert re.search(r'<valAx>.*<max val="5"\s*/>\s*<min val="1"\s*/>.*<title>.*Mean score', xml, re.DOTALL)
    assert '<dispBlanksAs val="gap"' in xml and '<delete val="1"' not in xml
    assert '<a:prstDash val="dash"' in xml                              # the cohort reference is dashed
    ws = _read(path)["Spider data"]
    assert ws["B4"].value is None and ws["B2"].value == pytest.approx(3.2)  # the gap is a blank cell


def test_workbook_radar_chart_errors(tmp_path: Path, spider_data: pd.DataFrame,
                                     caplog: pytest.LogCaptureFixture) -> None:
    sheets = {"Spider data": spider_data}
    bad_col = reports.RadarSpec(sheet="Spider data", categories="Enabler", series=["Nope"], title="t")
    with pytest.raises(ReportError, match="needs column.*'Nope'"):
        reports.write_workbook(tmp_path / "r.xlsx", sheets, charts=[bad_col])
    bad_sheet = reports.RadarSpec(sheet="Spider", categories="Enabler", series=["Cohort median"], title="t")
    with pytest.raises(ReportError, match="sheet 'Spider'.*not among"):
        reports.write_workbook(tmp_path / "r.xlsx", sheets, charts=[bad_sheet])
    text = reports.RadarSpec(sheet="Spider data", categories="Cohort median", series=["Enabler"], title="t")
    with pytest.raises(ReportError, match="must hold numbers"):
        reports.write_workbook(tmp_path / "r.xlsx", sheets, charts=[text])
    wild = spider_data.assign(**{"Cohort median": 7.0})
    reports.write_workbook(tmp_path / "r.xlsx", {"Spider data": wild}, charts=[
        reports.RadarSpec(sheet="Spider data", categories="Enabler", series=["Cohort median"], title="t")])
    assert "outside the axis" in caplog.text


# ---------------------------------------------------------------------------------------------
# format_for_report / display_table
# ---------------------------------------------------------------------------------------------
def test_format_for_report_suppresses_and_renames(summary: pd.DataFrame) -> None:
    out = reports.format_for_report(summary, threshold=5, level_names={"E01": "E01 Systems mindset"})
    assert list(out.columns) == ["Council", "Enabler", "n", "Mean", "SD", "Median", "Q1", "Q3",
                                 "Favourable %", "Unfavourable %", "Suppressed"]
    assert out["Enabler"].tolist() == ["E01 Systems mindset", "Reframing risk", "E01 Systems mindset", "E01 Systems mindset"]
    cedar = out.iloc[2]
    assert cedar["Suppressed"] and np.isnan(cedar["n"])     # not even the count: 2 is a figure about the group
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
    assert "fewer than 5 responses" in html
    assert "4.50" not in html                                           # the suppressed council's value is not shown
    assert "=HYPERLINK(&quot;x&quot;)" in html or "=HYPERLINK(&#34;x&#34;)" in html  # text escaped
    assert ">Suppressed<" not in html                                    # flag column hidden
    assert 'class="row_heading' not in html                              # no index
    assert table.loc[0, "Mean"] == 3.456                                 # data not rounded


def test_display_table_raw_columns_and_threshold_argument(summary: pd.DataFrame) -> None:
    raw = summary.assign(suppressed=summary["n"] < 5)
    html = reports.display_table(raw, decimals=1, threshold=5).to_html()
    assert "3.5" in html and "fewer than 5 responses" in html


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


def _table_notebook(rows: int = 3, columns: int = 4) -> nbformat.NotebookNode:
    """A notebook whose output is a display_table (pandas Styler) table, like the report notebooks'."""
    frame = pd.DataFrame({"Council": [f"Council {i}" for i in range(rows)],
                          **{f"Stat {j}": [i + j / 10 for i in range(rows)] for j in range(columns - 1)}})
    html = reports.display_table(frame).to_html()
    return new_notebook(cells=[
        new_markdown_cell("# Long report"),
        new_markdown_cell("## Scores"),
        new_code_cell("x", execution_count=1, outputs=[
            new_output("display_data", data={"image/png": PNG_1x1, "text/plain": "<Figure>"}, metadata={"image/png": {"alt": "A figure"}}),
            new_output("execute_result", data={"text/html": html, "text/plain": "table"}, execution_count=1)]),
    ])


def test_notebook_to_html_lean_accessible_and_printable(tmp_path: Path) -> None:
    """report.css replaces JupyterLab's ~260 KB of CSS; print rules are in the page itself."""
    html = reports.notebook_to_html(_table_notebook(rows=3, columns=12), tmp_path / "r.html").read_text(encoding="utf-8")
    assert len(html.encode()) < 40_000                                   # the lab template made this ~290 KB
    assert "--jp-" not in html and "<script" not in html and "<link" not in html
    css = "\n".join(re.findall(r"<style[^>]*>(.*?)</style>", html, re.DOTALL))
    for rule in ("@page", "size: A4", 'counter(page) " of " counter(pages)', "@media print",
                 "break-after: avoid", "break-inside: avoid", "thead { display: table-header-group; }",
                 "max-width: 100%", "tbody tr:nth-child(even)", "td.num, th.num { text-align: right; }",
                 "[tabindex]:focus { outline: 3px solid", "overflow: auto"):
        assert rule in css, rule
    assert re.search(r"img, svg, figure, \.jp-RenderedImage[^{]*\{ break-inside: avoid", css)
    assert re.search(r"tr \{ break-inside: avoid", css)
    assert 'alt="A figure"' in html                                      # alt text kept by the template
    table = re.search(r"<table.*?</table>", html, re.DOTALL).group(0)
    assert re.search(r"<table[^>]*class=\"wide\"", table)               # 12 columns: smaller print
    assert re.search(r'<th[^>]*class="num[^"]*"[^>]*>Stat 0</th>', table)  # number column header right-aligned
    assert re.search(r'<td[^>]*class="num[^"]*"[^>]*>1.00</td>', table)
    assert re.search(r'<td[^>]*class="(?![^"]*num)[^"]*"[^>]*>Council 1</td>', table)  # text stays left
    assert not re.search(r'id="T_\w+_row\d+_col\d+"', table)               # no per-cell ids


def test_display_table_right_aligns_numbers_without_cell_ids(summary: pd.DataFrame) -> None:
    html = reports.display_table(reports.format_for_report(summary, threshold=5)).to_html()
    assert re.search(r"th\.col3 \{\s*text-align: right", html)             # "Mean" (col 3) header and cells
    assert not re.search(r'id="T_\w+_row\d+_col\d+"', html)
    assert not re.search(r"th\.col0 \{\s*text-align: right", html)          # "Council" stays left


def _pdf_pages(data: bytes) -> int:
    """Page objects in a PDF, looking inside compressed object streams too (PDF 1.5+)."""
    import zlib

    parts = [data]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.DOTALL):
        try:
            parts.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return sum(len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", part)) for part in parts)


_NO_CHROMIUM = "no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)"
needs_chromium = pytest.mark.skipif(reports.find_chromium() is None, reason=_NO_CHROMIUM)


def _a4_pages(data: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of each page's MediaBox (uncompressed page dictionaries)."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    return [(float(w), float(h)) for w, h in boxes]


@pytest.mark.parametrize("engine", ["weasyprint", pytest.param("chromium", marks=needs_chromium)])
def test_html_to_pdf(tmp_path: Path, engine: str) -> None:
    html = reports.notebook_to_html(_table_notebook(), tmp_path / "r.html", title="PDF test")
    path = reports.html_to_pdf(html, tmp_path / "out" / "r.pdf", engine=engine)       # from a file path
    data = path.read_bytes()
    assert path == tmp_path / "out" / "r.pdf" and data.startswith(b"%PDF-")
    assert _pdf_pages(data) == 1 and data.rstrip().endswith(b"%%EOF")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.pdf"]   # written atomically
    again = reports.html_to_pdf(html.read_text(encoding="utf-8"), tmp_path / "s.pdf", engine=engine)   # from text
    assert _pdf_pages(again.read_bytes()) == 1


@needs_chromium
def test_chromium_printer_prints_a4_pages_from_the_print_css(tmp_path: Path) -> None:
    """One browser for several documents; the report's @page rules give A4 pages, long tables break."""
    long = reports.notebook_to_html(_table_notebook(rows=120, columns=4), tmp_path / "long.html")
    short = reports.notebook_to_html(_table_notebook(), tmp_path / "short.html")
    with reports.ChromiumPrinter(concurrency=2) as printer:
        a = printer.print(long, tmp_path / "long.pdf").read_bytes()
        b = printer.print(short, tmp_path / "short.pdf").read_bytes()
        futures = [printer.submit(short, tmp_path / f"many{i}.pdf") for i in range(5)]   # pages in parallel
        assert [f.result() for f in futures] == [tmp_path / f"many{i}.pdf" for i in range(5)]
    assert _pdf_pages(a) >= 3 and _pdf_pages(b) == 1
    assert all(_pdf_pages((tmp_path / f"many{i}.pdf").read_bytes()) == 1 for i in range(5))
    pages = _a4_pages(a) or _a4_pages(b)
    assert pages and all(round(w * 25.4 / 72) == 210 and round(h * 25.4 / 72) == 297 for w, h in pages)
    with pytest.raises(ReportError, match="outside its `with` block"):
        printer.print(short, tmp_path / "again.pdf")


def test_pdf_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert reports.pdf_engine("weasyprint") == "weasyprint"
    with pytest.raises(ReportError, match="unknown PDF engine 'latex'"):
        reports.pdf_engine("latex")
    monkeypatch.setattr(reports, "find_chromium", lambda: None)
    assert reports.pdf_engine("auto") == "weasyprint"                  # a new machine: no browser
    with pytest.raises(ReportError, match="Chromium executable") as info:
        reports.pdf_engine("chromium")
    assert "--pdf-engine weasyprint" in info.value.hint
    monkeypatch.setattr(reports, "find_chromium", lambda: "/usr/bin/chromium")
    assert reports.pdf_engine("auto") == "chromium"
    monkeypatch.undo()                                                  # the real find_chromium
    monkeypatch.setenv("UPSTREAM_CHROMIUM", "/nowhere/chromium")        # an explicit path that is not there
    assert reports.find_chromium() is None


def test_html_to_pdf_long_table_breaks_between_rows_with_repeated_header(tmp_path: Path) -> None:
    """The print CSS at work in WeasyPrint: A4 pages, numbered, the header row on every page."""
    import weasyprint

    html = reports.notebook_to_html(_table_notebook(rows=120, columns=4), tmp_path / "r.html").read_text(encoding="utf-8")
    pdf = reports.html_to_pdf(html, tmp_path / "r.pdf", engine="weasyprint").read_bytes()
    document = weasyprint.HTML(string=html).render()
    assert len(document.pages) == _pdf_pages(pdf) >= 3
    assert all(round(p.width * 25.4 / 96) == 210 and round(p.height * 25.4 / 96) == 297 for p in document.pages)

    def texts(page: object) -> list[str]:   # WeasyPrint's laid-out boxes (internal, for this check only)
        return [box.text for box in page._page_box.descendants() if getattr(box, "text", None)]  # type: ignore[attr-defined]

    for number, page in enumerate(document.pages, start=1):
        words = texts(page)
        assert "Stat 0" in words, f"no header row on page {number}"
        assert f"Page {number} of {len(document.pages)}" in " ".join(words)
    first_rows = {w for w in texts(document.pages[1]) if w.startswith("Council ")}
    assert first_rows and not first_rows & {w for w in texts(document.pages[0]) if w.startswith("Council ")}


def test_html_to_pdf_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ReportError, match=r"\.pdf"):
        reports.html_to_pdf("<p>x</p>", tmp_path / "r.html")
    with pytest.raises(ReportError, match="cannot read the HTML report"):
        reports.html_to_pdf(tmp_path / "missing.html", tmp_path / "r.pdf")
    reports._pdf_engine.cache_clear()
    try:
        monkeypatch.setitem(sys.modules, "weasyprint", None)             # not installed
        with pytest.raises(ReportError, match="WeasyPrint is not installed"):
            reports.html_to_pdf("<p>x</p>", tmp_path / "r.pdf", engine="weasyprint")
        monkeypatch.undo()

        class NoPango(types.ModuleType):
            def __getattr__(self, name: str) -> object:
                raise OSError("cannot load library 'libpango-1.0-0': no such file")

        reports._pdf_engine.cache_clear()
        monkeypatch.setitem(sys.modules, "weasyprint.text.fonts", NoPango("weasyprint.text.fonts"))
        with pytest.raises(ReportError, match="apt-get install libpango-1.0-0 libpangoft2-1.0-0") as info:
            reports.html_to_pdf("<p>x</p>", tmp_path / "r.pdf", engine="weasyprint")
        assert "system libraries" in str(info.value)
    finally:
        monkeypatch.undo()
        reports._pdf_engine.cache_clear()
    assert not (tmp_path / "r.pdf").exists()


# ---------------------------------------------------------------------------------------------
# methods appendix
# ---------------------------------------------------------------------------------------------
def test_methods_appendix_from_the_real_methodology() -> None:
    text = reports.methods_appendix()
    for name in ("rwg(j)", "AD_M", "ICC(1)", "ICC(2)", "Cronbach", "aggregation check", "bootstrap", "Holm",
                 "Kruskal-Wallis", "Welch", "disclosure_threshold", "2-of-3 rule", "favourable_pct",
                 "James, L. R., Demaree"):
        assert name in text, name
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings and all(re.match(r"#{3,6} \S", h) for h in headings)      # nest under "## Appendix: methods"
    assert headings[0].startswith("### 1. What the scores are")
    assert any(h.startswith("#### 8.1 rwg") for h in headings) and any(h.startswith("### 9. Settings used") for h in headings)
    assert not any("Mapping columns" in h or "Validation" in h for h in headings)   # not an appendix section
    links = re.findall(r"\]\(([^)]*)\)", text)
    assert all(re.match(r"https?://", target) for target in links), links       # no broken relative links
    titled = reports.methods_appendix(sections=["Disclosure"], level=2, title="Appendix: methods")
    assert titled.startswith("# Appendix: methods\n\n## 7. Disclosure control")
    assert "## 8." not in titled


def test_methods_appendix_links_code_and_errors(tmp_path: Path) -> None:
    doc = tmp_path / "methodology.md"
    doc.write_text("# Methodology\n\nSee [the architecture](architecture.md).\n\n"
                   "## 1. Scoring\n\nRead [the layout](architecture.md#tables), [section 2](#2-agreement), "
                   "[a paper](https://doi.org/10.1/x) and [ref][arch]; ![plot](fig.png).\n\n"
                   "```python\n# not a heading\n```\n\n### 1.1 Detail\n\ntext\n\n"
                   "## 2. Agreement\n\nrwg(j)\n\n## 3. Validation\n\nnot wanted\n\n[arch]: architecture.md\n",
                   encoding="utf-8")
    text = reports.methods_appendix(doc, sections=["scoring", "2"])
    assert text.splitlines()[0] == "### 1. Scoring"
    assert "#### 1.1 Detail" in text and "### 2. Agreement" in text and "Validation" not in text
    assert "Read the layout, section 2, [a paper](https://doi.org/10.1/x) and ref; plot." in text
    assert "```python\n# not a heading\n```" in text                     # code untouched
    assert "the architecture" not in text                               # the preamble is not a section
    with pytest.raises(ReportError, match=r"no section matching \['Missing'\].*'1\. Scoring'"):
        reports.methods_appendix(doc, sections=["Missing"])
    with pytest.raises(ReportError, match="methodology document is missing") as info:
        reports.methods_appendix(tmp_path / "nope.md")
    assert "nope.md" in str(info.value)
    with pytest.raises(ReportError, match="level must be 1 to 6"):
        reports.methods_appendix(doc, level=7)


def test_save_figure(tmp_path: Path) -> None:
    fig = Figure()
    fig.add_subplot().plot([1, 2], [3, 4])
    path = reports.save_figure(fig, tmp_path / "figs" / "f.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert sorted(os.listdir(tmp_path / "figs")) == ["f.png"]
    with pytest.raises(ReportError, match="png"):
        reports.save_figure(fig, tmp_path / "f.gif")
