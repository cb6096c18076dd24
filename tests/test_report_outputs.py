"""Every report file of a small two-wave cohort: disclosure control, Excel charts, browser rendering.

A council with 3 respondents (below the disclosure threshold of 5) is planted with answers that
give it a mean no other group has (every statement 1, 2 or 2: mean 5/3). No report file may carry
any figure about it: not its mean, not its count, not a share, not a rank.
"""

from __future__ import annotations

import html
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from analysis.config import SYNTHETIC_MARKER
from analysis.instrument import load_instrument
from analysis.pipeline import run_cohort

ITEMS = load_instrument().form_items("full")["item_id"].tolist()
PLANTED = "Quillmouth Council"
PLANTED_SCORES = [1, 2, 2]            # mean 1.6667 on every enabler, sd 0.577, n 3
PLANTED_MEAN = 5 / 3


def _wave(scores: dict[str, list[int]], offset: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for council, base in scores.items():
        for i, s in enumerate(base):
            row = {"council": council, "respondent_id": f"{council[:3]}-{i}",
                   "perspective": ["service", "organisation", "system"][i % 3]}
            if council == PLANTED:
                row.update({item: s for item in ITEMS})    # exactly 1, 2, 2: the planted mean
            else:
                noise = rng.integers(-1, 2, len(ITEMS))
                row.update({item: int(np.clip(s + offset + d, 1, 5)) for item, d in zip(ITEMS, noise, strict=True)})
            row["Any other comments?"] = (f"Comment {i} from {council}: contact me on jo.bloggs{i}@example.org"
                                          if i % 2 == 0 else "")
            rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    raw = tmp_path_factory.mktemp("planted") / "data" / "raw" / "planted"
    register = pd.DataFrame({
        "council_id": ["ALD", "BIR", "DUN", "QUI"],
        "name": ["Alderbank Borough Council", "Birchmoor District Council", "Dunmere City Council", PLANTED],
        "aliases": ["Alderbank", "Birchmoor", "Dunmere", "Quillmouth"], "type": ["b", "d", "c", "u"],
        "region": ["North", "South", "East", "West"], "invited": ["40", "12", "", "20"]})
    for wave in ("2024-01", "2025-01"):
        (raw / wave).mkdir(parents=True)
    register.to_csv(raw / "cohort.csv", index=False)
    (raw / SYNTHETIC_MARKER).write_text("synthetic test cohort\n", encoding="utf-8")
    scores = {"Alderbank": [4, 4, 5, 3, 4, 4, 4, 5], "Birchmoor": [3, 3, 2, 3, 3, 4],
              "Dunmere": [4, 3, 4, 4, 5, 3, 4, 4, 3, 4, 4], PLANTED: PLANTED_SCORES}
    _wave(scores, 0, 1).to_csv(raw / "2024-01" / "export.csv", index=False)
    _wave(scores, 0, 2).to_csv(raw / "2025-01" / "export.csv", index=False)
    out = tmp_path_factory.mktemp("out")
    run_cohort(raw, processed_dir=out / "processed", reports_dir=out / "reports", progress=False, keep_comments=True)
    return out / "reports" / "planted"


def _html_text(path: Path) -> str:
    """The visible text of an HTML report (tags, styles and image data removed)."""
    body = path.read_text(encoding="utf-8")
    body = re.sub(r"<(style|script)\b.*?</\1>", " ", body, flags=re.S | re.I)
    body = re.sub(r"<[^>]+>", " ", body)
    return re.sub(r"\s+", " ", body)


def _table_rows(path: Path) -> list[list[str]]:
    """The text of every cell of every table row of an HTML file."""
    body = path.read_text(encoding="utf-8")
    rows = []
    for tr in re.findall(r"<tr\b.*?</tr>", body, flags=re.S | re.I):
        cells = re.findall(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", tr, flags=re.S | re.I)
        rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text)]


def _planted_shapes() -> list[str]:
    """How the planted council's statistics would be printed at any of the precisions we use."""
    return ["1.67", "1.7", "166.7", "0.577", "0.58"]


@pytest.mark.slow
def test_every_document_is_written(outputs):
    for wave in ("2024-01", "2025-01"):
        rep = outputs / wave
        for name in ("cohort_report.html", "cohort_report.xlsx", "cohort_report.pdf"):
            assert (rep / name).stat().st_size > 1000, name
        for cid in ("ALD", "BIR", "DUN", "QUI"):
            for ext in ("html", "xlsx", "pdf"):
                assert (rep / "councils" / f"{cid}.{ext}").exists(), (cid, ext)
        assert (rep / "cohort_report.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.mark.slow
def test_no_figure_about_a_council_with_three_respondents(outputs):
    for wave in ("2024-01", "2025-01"):
        rep = outputs / wave
        # its own pack: no score, share or count, only "fewer than 5 responses"
        pack = _html_text(rep / "councils" / "QUI.html")
        assert "fewer than 5 responses" in pack
        assert "<img" not in (rep / "councils" / "QUI.html").read_text(encoding="utf-8")
        for shape in _planted_shapes():
            assert shape not in pack
        assert not re.search(r"(?<![\w.])3 (?:respondents|responses|staff)", pack)
        wb = openpyxl.load_workbook(rep / "councils" / "QUI.xlsx")
        for ws in wb.worksheets[1:]:   # the About sheet holds the run's provenance only
            for row in ws.iter_rows(values_only=True):
                for value in row:
                    assert not isinstance(value, (int, float)) or isinstance(value, bool), (ws.title, row)
        # the cohort report: the planted council's rows carry no number
        cohort_html = rep / "cohort_report.html"
        text = _html_text(cohort_html)
        assert PLANTED in text                        # it is listed (as hidden), not left out silently
        for row in _table_rows(cohort_html):
            if PLANTED in row:
                values = [v for v in row if v and v != PLANTED]
                # enabler labels ("E01 ...") and wave ids are not figures about the council
                values = [v for v in values if not re.match(r"^(E\d\d|G\d|\d{4}-\d\d)\b", v)]
                assert all(not _numbers(v) or v.startswith("fewer than") for v in values), (wave, list(row))
        wb = openpyxl.load_workbook(rep / "cohort_report.xlsx")
        for ws in wb.worksheets[1:]:
            header = [c.value for c in ws[1]]
            for row in ws.iter_rows(min_row=2, values_only=True):
                if PLANTED in row:
                    numbers = [v for v in row if isinstance(v, (int, float)) and not isinstance(v, bool)]
                    assert not numbers, (ws.title, header, row)
                for value in row:   # the planted mean in any cell of any sheet
                    if isinstance(value, float):
                        assert abs(value - PLANTED_MEAN) > 1e-6, (ws.title, row)


@pytest.mark.slow
def test_the_next_smallest_council_is_hidden_so_subtraction_reveals_nothing(outputs):
    """Cohort figures pool all four councils; with one hidden, the smallest shown one is hidden too."""
    wb = openpyxl.load_workbook(outputs / "2025-01" / "cohort_report.xlsx")
    ws = wb["Council x enabler"]
    rows = {r[0]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert all(v is None for v in rows["Birchmoor District Council"][2:])   # 6 respondents, the smallest shown
    assert all(isinstance(v, float) for v in rows["Alderbank Borough Council"][2:])


@pytest.mark.slow
def test_participation_and_low_response(outputs):
    text = _html_text(outputs / "2025-01" / "cohort_report.html")
    assert "low response: read with care" in text       # Alderbank: 8 of 40 = 20%
    assert "response rate unknown" in text              # Dunmere: no invited headcount
    ald = _html_text(outputs / "2025-01" / "councils" / "ALD.html")
    assert "8 of 40 staff invited responded (20%)" in ald


@pytest.mark.slow
def test_excel_pack_has_a_native_radar_chart_and_no_injected_formula(outputs):
    path = outputs / "2025-01" / "councils" / "ALD.xlsx"
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert charts
        xml = z.read(charts[0]).decode("utf-8")
        assert "<c:radarChart>" in xml.replace("radarChart ", "radarChart>") or "radarChart" in xml
        assert "Spider data" in xml                     # the series refer to the cells, so officers can restyle
    for xlsx in outputs.rglob("*.xlsx"):
        wb = openpyxl.load_workbook(xlsx)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        assert not cell.value.startswith(("=", "+", "-", "@")) or cell.data_type != "f", (xlsx, cell)
                        assert cell.data_type != "f", (xlsx.name, ws.title, cell.coordinate, cell.value)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine: install Debian's 'chromium' package "
                                                "(.ci/run does so on CI)")
def test_reports_render_in_headless_chromium(outputs, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a test extra: pip install -e '.[test]'")
    pages = [outputs / "2025-01" / "cohort_report.html", outputs / "2025-01" / "councils" / "ALD.html"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            for path in pages:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                errors: list[str] = []
                requests: list[str] = []
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.goto(path.as_uri(), wait_until="load")
                n_images = page.evaluate("document.images.length")
                broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                                       ".map(i => i.alt || i.src.slice(0, 40))")
                no_alt = page.evaluate("Array.from(document.images).filter(i => !i.alt).length")
                shot = tmp_path / f"{path.stem}.png"
                page.screenshot(path=str(shot), full_page=False)
                # charts drawn as HTML (the pack's statement, grouping and change charts) have a caption,
                # a text alternative on their role="img" body, and a laid-out size
                html_charts = page.evaluate(
                    "Array.from(document.querySelectorAll('figure.lk, figure.sc, figure.sp')).map(f => {"
                    " const body = f.querySelector('[role=img]'); const r = f.getBoundingClientRect();"
                    " return [f.querySelector('figcaption')?.textContent || '', body?.getAttribute('aria-label') || '',"
                    " r.width, r.height]; })")
                assert n_images + len(html_charts) >= 3, path
                assert all(title and alt and w > 300 and h > 100 for title, alt, w, h in html_charts), html_charts
                assert broken == [], (path.name, broken)
                assert no_alt == 0, path.name
                assert errors == [], (path.name, errors)
                assert all(u.startswith(("file:", "data:")) for u in requests), requests   # works offline
                assert shot.stat().st_size > 10_000
                page.close()
        finally:
            browser.close()


@pytest.mark.slow
def test_comments_are_shown_only_for_councils_with_ten_respondents(outputs):
    """--keep-comments: Dunmere (11 respondents) shows its masked comments, Alderbank (8) does not."""
    dun = _html_text(outputs / "2025-01" / "councils" / "DUN.html")
    assert "Comment 0 from Dunmere" in dun
    assert "@example.org" not in dun                          # e-mail addresses masked
    ald = _html_text(outputs / "2025-01" / "councils" / "ALD.html")
    assert "Comment 0 from Alderbank" not in ald and "at least 10 respondents" in ald
    for path in (outputs / "2025-01").rglob("*.html"):
        assert f"from {PLANTED}" not in _html_text(path)     # the planted council's comments nowhere
    assert "Comment 0 from" not in _html_text(outputs / "2025-01" / "cohort_report.html")


@pytest.mark.slow
def test_cohort_report_pairwise_dunn_among_shown_councils_only(outputs):
    """The 'Pairwise' sheets: Dunn's tests (Holm within each enabler) among the council x enabler cells
    the report shows; the planted 3-respondent council (and any council protecting it) take no part."""
    from analysis import inference, steps
    from analysis.io import read_table

    book = openpyxl.load_workbook(outputs / "2025-01" / "cohort_report.xlsx", read_only=True)
    rows = list(book["Pairwise summary"].values)
    summary = pd.DataFrame(rows[1:], columns=[str(v) for v in rows[0]])
    pairs = list(book["Pairwise (Dunn)"].values)
    assert PLANTED not in {v for row in pairs + rows for v in row}
    processed = outputs.parents[1] / "processed" / "planted" / "2025-01"
    ctx = steps.load_report_context(processed_dir=processed, cohort="planted", wave="2025-01")
    comp = ctx.council_comparison()
    shown = comp[~comp["hidden"]][["council_id", "unit_id"]].astype(str)
    assert comp.loc[comp["council_name"] == PLANTED, "hidden"].all()
    scores = read_table(processed / "respondent_scores.csv", "respondent_scores")
    scores = scores[scores["level"] == "enabler"].astype({"council_id": str, "unit_id": str}).merge(shown)
    expected = inference.dunn(scores, by=("unit_id",), group="council_id", value="score")
    differ = expected.assign(d=expected["p_adj"] < 0.05).groupby("unit_id")["d"].sum()
    got = summary.set_index(summary["Enabler"].str.split().str[0])
    assert got["Pairs differing (Holm p < 0.05)"].astype(int).to_dict() == differ.astype(int).to_dict()
    assert got["Pairs"].astype(int).to_dict() == expected.groupby("unit_id").size().to_dict()
    assert len(pairs) - 1 == int(differ.sum())
