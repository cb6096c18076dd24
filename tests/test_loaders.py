"""Tests of analysis.loaders: every supported export format, failure messages, mapping.yml, speed.

Fixture files are built in ``tmp_path`` by ``tests/loader_fixtures.py`` (nothing binary committed).
"""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

import pytest

import loader_fixtures as lf
from analysis.exceptions import InputFileError, MappingError
from analysis.instrument import Instrument
from analysis.loaders import FORMATS, ParsedExport, find_export_files, read_export
from analysis.mapping import load_mapping, normalise_text, starter_mapping

N = len(lf.COUNCILS)
STATEMENT_OF = {normalise_text(t): i for i, t in lf.STATEMENTS}


def read_one(path: Path, instrument: Instrument, **kw: object) -> ParsedExport:
    out = read_export(path, source_file=f"2024-01/{path.name}", instrument=instrument, **kw)  # type: ignore[arg-type]
    assert len(out) == 1
    return out[0]


def roles(ex: ParsedExport) -> dict[str, str]:
    return dict(zip(ex.columns["header"], ex.columns["role"], strict=True))


def assert_statements_mapped_by_text(ex: ParsedExport) -> None:
    """Each item column's matched question text is its statement (so the item id is right)."""
    items = ex.columns[ex.columns["role"] == "item"]
    assert sorted(items["item_id"]) == sorted(lf.STATEMENT_IDS)
    for q, item in zip(items["question"], items["item_id"], strict=True):
        assert STATEMENT_OF[normalise_text(q)] == item, q


# --------------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------------
CASES = {
    "ms_forms": (lambda d: lf.ms_forms(d), "ms_forms", [1], [2, 3, 4, 5],
                 {"Email": "email", "Name": "name", "Id": "respondent_id", "Start time": "started_at",
                  "Completion time": "completed_at", "Which council do you work for?": "council",
                  "Are you answering for your service, organisation or local system?": "perspective",
                  "Last modified time": "metadata", "Any other comments?": "free_text"}),
    "ms_forms_anonymous": (lambda d: lf.ms_forms(d, anonymous=True), "ms_forms", [1], [2, 3, 4, 5],
                           {"Email": "email", "Name": "name"}),
    "google_forms": (lambda d: lf.google_forms(d), "google_forms", [1], [2, 3, 4, 5],
                     {"Timestamp": "completed_at", "Email Address": "email", "Council": "council",
                      "Anything else you would like to tell us?": "free_text"}),
    "surveymonkey_condensed_xlsx": (lambda d: lf.surveymonkey(d), "surveymonkey", [1, 2], [3, 4, 5, 6],
                                    {"Respondent ID": "respondent_id", "IP Address": "ip", "Email Address": "email",
                                     "First Name": "name", "Last Name": "name", "Collector ID": "metadata",
                                     "Custom Data 1": "metadata", "Which council do you work for? | Response": "council",
                                     "Any other comments? | Open-Ended Response": "free_text"}),
    "surveymonkey_condensed_csv": (lambda d: lf.surveymonkey(d, suffix=".csv"), "surveymonkey", [1, 2], [3, 4, 5, 6],
                                   {"IP Address": "ip", "Email Address": "email", "First Name": "name"}),
    "surveymonkey_expanded_xlsx": (lambda d: lf.surveymonkey(d, layout="expanded"), "surveymonkey", [1, 2],
                                   [3, 4, 5, 6], {"IP Address": "ip", "Email Address": "email",
                                                  "Which council do you work for?": "council"}),
    "surveymonkey_expanded_csv": (lambda d: lf.surveymonkey(d, layout="expanded", suffix=".csv"), "surveymonkey",
                                  [1, 2], [3, 4, 5, 6], {"Last Name": "name"}),
    "qualtrics_csv": (lambda d: lf.qualtrics(d), "qualtrics", [1, 2, 3], [4, 5, 6, 7],
                      {"IPAddress | IP Address": "ip", "ResponseId | Response ID": "respondent_id",
                       "RecipientEmail | Recipient Email": "recipient", "LocationLatitude | Location Latitude": "location",
                       "RecordedDate | Recorded Date": "completed_at", "StartDate | Start Date": "started_at",
                       "UserLanguage | User Language": "metadata", "Q1 | Which council do you work for?": "council",
                       "Q3 | Is there anything else you would like to add?": "free_text"}),
    "qualtrics_xlsx": (lambda d: lf.qualtrics(d, suffix=".xlsx"), "qualtrics", [1, 2, 3], [4, 5, 6, 7],
                       {"IPAddress | IP Address": "ip"}),
    "smartsurvey": (lambda d: lf.smartsurvey(d), "smartsurvey", [1], [2, 3, 4, 5],
                    {"UserID": "respondent_id", "Name": "name", "Email": "email", "IP Address": "ip",
                     "Unique ID": "recipient", "Started": "started_at", "Ended": "completed_at",
                     "Tracking Link": "metadata", "Council": "council"}),
    "tidy_wide": (lambda d: lf.tidy_wide(d), "tidy_wide", [1], [2, 3, 4, 5],
                  {"council": "council", "perspective": "perspective", "respondent_id": "respondent_id"}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_format_detected_and_columns_mapped(case: str, tmp_path: Path, instrument: Instrument) -> None:
    build, fmt, header_rows, rows, expected_roles = CASES[case]
    ex = read_one(build(tmp_path), instrument)
    assert ex.format == fmt and fmt in FORMATS
    assert ex.header_rows == header_rows
    assert ex.n_rows == N
    assert list(ex.data.index) == rows
    assert ex.form == "full"
    got = roles(ex)
    for header, role in expected_roles.items():
        assert got[header] == role, header
    assert sorted(ex.item_columns().values()) == sorted(lf.STATEMENT_IDS)
    assert set(ex.data.columns) == set(ex.columns["key"])
    assert all(ex.data[c].map(type).eq(str).all() for c in ex.data.columns)
    if case != "tidy_wide":
        assert_statements_mapped_by_text(ex)


def test_ms_forms_cells_as_text(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.ms_forms(tmp_path), instrument)
    first = ex.data.loc[2]
    assert first["A"] == "1"                       # Id: an int, never "1.0"
    assert first["B"] == "2024-01-05 09:30:00"     # datetime as ISO text
    assert first["F"] == ""                        # empty cell
    keys = {v: k for k, v in ex.item_columns().items()}
    assert ex.data.loc[3, keys["E01S2"]] == lf.label(1, 1)


def test_anonymous_ms_forms_keeps_email_column_values(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.ms_forms(tmp_path, anonymous=True), instrument)
    assert set(ex.data[ex.keys_with_role("email")[0]]) == {"anonymous"}


def test_google_forms_bom_bracket_and_multiline_record(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.google_forms(tmp_path), instrument)
    assert ex.encoding == "utf-8-sig"
    assert ex.columns.loc[ex.columns["key"] == "A", "header"].item() == "Timestamp"  # BOM stripped
    free = ex.keys_with_role("free_text")[0]
    assert ex.data.loc[4, free] == "Line one,\nline two – costs £5"  # one record over two lines = row 4
    assert ex.data.loc[5, "C"] == "Harbourside"


def test_surveymonkey_expanded_options_collapsed(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.surveymonkey(tmp_path, layout="expanded"), instrument)
    keys = {v: k for k, v in ex.item_columns().items()}
    for j, item in enumerate(lf.STATEMENT_IDS):
        assert ex.data[keys[item]].tolist() == [lf.label(r, j) for r in range(N)]
    council = ex.keys_with_role("council")
    assert len(council) == 1 and ex.data[council[0]].tolist() == lf.COUNCILS
    assert any("expanded layout" in n for n in ex.notes)


def test_qualtrics_numeric_codes_left_as_text(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.qualtrics(tmp_path), instrument)
    keys = {v: k for k, v in ex.item_columns().items()}
    assert ex.data[keys["E01S1"]].tolist() == [lf.code(r, 0) for r in range(N)]
    assert ex.columns.loc[ex.columns["item_id"] == "E01S1", "key"].item() == "S"


def test_handmade_workbook(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.handmade(tmp_path), instrument)
    assert ex.format == "handmade"
    assert ex.sheet == "Responses"
    assert ex.header_rows == [4]
    assert list(ex.data.index) == [5, 6, 7, 8, 9, 10, 11]  # 5 people, a blank row, the Average row: none removed
    assert ex.n_rows == 7
    assert ex.data.loc[10].eq("").all()
    assert ex.data.loc[11, "A"] == "Average"
    assert roles(ex)["Council"] == "council"
    # shortened, re-ordered headers map to the right statements
    items = ex.columns[ex.columns["role"] == "item"]
    assert items["item_id"].tolist() == [lf.STATEMENT_IDS[j] for j in lf.HANDMADE_ORDER]
    assert set(items["match"]) == {"fuzzy"}
    # answers untouched: "4 - Agree", "4 " and numbers as text
    c = items["key"].iat[0]
    j = lf.HANDMADE_ORDER[0]
    assert ex.data.loc[5, c] == f"{(0 + j) % 5 + 1} - {lf.LABELS[(0 + j) % 5]}"
    assert ex.data.loc[6, c] == f"{(1 + j) % 5 + 1} "
    assert ex.data.loc[7, c] == f"{(2 + j) % 5 + 1}"
    assert ex.data.loc[11, c] == "3.2"
    assert any("skipped sheet 'Read me'" in n for n in ex.notes)
    assert any("merged" in n for n in ex.notes)


def test_short_form(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.short_form(tmp_path), instrument)
    assert ex.form == "short"
    assert sorted(ex.item_columns().values()) == sorted(i for i, _, _ in lf.SHORT_ITEMS)
    assert roles(ex)["Local authority"] == "council"
    assert ex.header_rows == [1] and list(ex.data.index) == [2, 3, 4, 5]


def test_welsh_answers_pass_through(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.welsh(tmp_path), instrument)
    assert roles(ex)["Cyngor"] == "council"
    keys = {v: k for k, v in ex.item_columns().items()}
    assert ex.data[keys["E01S1"]].tolist() == [lf.WELSH_LABELS[0], lf.WELSH_LABELS[1]]
    assert ex.data["A"].tolist() == ["Cyngor Gwynedd", "Ynys Môn"]


def test_windows_1252_csv(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.tidy_wide(tmp_path, name="cp.csv", encoding="cp1252", councils=["Ynys Môn", "Café", "A", "B"],
                        extra=[("comments", ["£50 budget", "", "", ""])])
    ex = read_one(path, instrument)
    assert ex.encoding == "cp1252"
    assert ex.data["A"].tolist()[:2] == ["Ynys Môn", "Café"]
    assert ex.data.loc[2, ex.keys_with_role("free_text")[0]] == "£50 budget"


def test_semicolon_csv_with_statement_headers(tmp_path: Path, instrument: Instrument) -> None:
    ex = read_one(lf.tidy_wide(tmp_path, headers="text", name="semi.csv", delimiter=";"), instrument)
    assert ex.format == "tidy_wide"
    assert_statements_mapped_by_text(ex)
    assert any("';'" in n for n in ex.notes)


def test_na_stays_text_and_blank_rows_kept(tmp_path: Path, instrument: Instrument) -> None:
    rows = [["council", *lf.STATEMENT_IDS], ["Harbourside", "N/A", *["Agree"] * 32], [""] * 34,
            ["Total", *["3"] * 33], ["Northfield", "NA", *["null"] * 32]]
    ex = read_one(lf.write_csv(tmp_path / "na.csv", rows), instrument)
    assert list(ex.data.index) == [2, 3, 4, 5]
    assert ex.data.loc[2, "B"] == "N/A" and ex.data.loc[5, "B"] == "NA" and ex.data.loc[5, "C"] == "null"
    assert ex.data.loc[3].eq("").all() and ex.data.loc[4, "A"] == "Total"


def test_email_column_found_by_content(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.tidy_wide(tmp_path, extra=[("Contact", ["a@b.org", "c@d.gov.uk", "", "e@f.com"])])
    ex = read_one(path, instrument)
    assert roles(ex)["Contact"] == "email"


def test_several_data_sheets(tmp_path: Path, instrument: Instrument) -> None:
    head = ["Council", *lf.STATEMENT_IDS]
    sheets = {"Harbourside": [head, ["Harbourside", *["Agree"] * 33]],
              "Northfield": [head, ["Northfield", *["Disagree"] * 33], ["Northfield", *["Agree"] * 33]],
              "Instructions": [["How to fill in"]]}
    out = read_export(lf.write_xlsx(tmp_path / "multi.xlsx", sheets), source_file="multi.xlsx", instrument=instrument)
    assert [e.sheet for e in out] == ["Harbourside", "Northfield"]
    assert [e.n_rows for e in out] == [1, 2]


def test_no_council_column_gives_hint_from_file_name(tmp_path: Path, instrument: Instrument) -> None:
    rows = [[*lf.STATEMENT_IDS], ["Agree"] * 33]
    ex = read_one(lf.write_csv(tmp_path / "north_field.csv", rows), instrument)
    assert ex.council_hint == "north field"


# --------------------------------------------------------------------------------------------
# files that cannot be read
# --------------------------------------------------------------------------------------------
def test_empty_files(tmp_path: Path, instrument: Instrument) -> None:
    for name in ("empty.xlsx", "empty.csv"):
        (tmp_path / name).write_bytes(b"")
        with pytest.raises(InputFileError, match=rf"2024-01/{name}: is empty"):
            read_one(tmp_path / name, instrument)
    lf.write_xlsx(tmp_path / "blank.xlsx", {"Sheet1": []})
    with pytest.raises(InputFileError, match="empty"):
        read_one(tmp_path / "blank.xlsx", instrument)


def test_header_only(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.write_csv(tmp_path / "head.csv", [["council", *lf.STATEMENT_IDS], [""] * 34])
    with pytest.raises(InputFileError, match=r"head\.csv: has a header \(row 1\) but no data rows"):
        read_one(path, instrument)


@pytest.mark.parametrize(("content", "message"), [
    (b"%PDF-1.7\n%binary", "is a PDF document, not a spreadsheet"),
    (bytes(range(256)) * 4, "is not a spreadsheet"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "password-protected"),
])
def test_not_a_workbook(tmp_path: Path, instrument: Instrument, content: bytes, message: str) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        read_one(path, instrument)


def test_encrypted_workbook_message_says_what_to_do(tmp_path: Path, instrument: Instrument) -> None:
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    with pytest.raises(InputFileError, match="remove the password"):
        read_one(path, instrument)


def test_corrupt_zip(tmp_path: Path, instrument: Instrument) -> None:
    good = lf.ms_forms(tmp_path)
    data = good.read_bytes()
    bad = tmp_path / "truncated.xlsx"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputFileError, match="corrupt"):
        read_one(bad, instrument)
    assert zipfile.is_zipfile(good)


def test_no_instrument_items(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.write_xlsx(tmp_path / "budget.xlsx", {"Budget": [["Line", "Amount"], ["Staff", 100]]})
    with pytest.raises(InputFileError, match="contains no table of instrument items"):
        read_one(path, instrument)


def test_binary_csv(tmp_path: Path, instrument: Instrument) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"%PDF-1.4 something")
    with pytest.raises(InputFileError, match="PDF"):
        read_one(path, instrument)


# --------------------------------------------------------------------------------------------
# mapping errors and mapping.yml
# --------------------------------------------------------------------------------------------
def test_missing_statement(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.tidy_wide(tmp_path, drop=["E11S3"], extra=[("External insight helps", ["x"] * N)])
    with pytest.raises(MappingError, match=r"1 of 33 statements have no column: E11S3\. Closest unmatched headers: "
                                           r"E11S3: .*'External insight helps' \(score \d+\).*mapping\.yml"):
        read_one(path, instrument)


def test_ambiguous_column(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.tidy_wide(tmp_path, headers="text", extra=[("Local system, place", ["Agree"] * N)])
    with pytest.raises(MappingError, match=r"matches two items equally well: E06S\d .* and E06S\d .*mapping\.yml"):
        read_one(path, instrument)


def test_two_columns_one_statement(tmp_path: Path, instrument: Instrument) -> None:
    path = lf.tidy_wide(tmp_path, extra=[(lf.STATEMENTS[0][1], ["Agree"] * N)])
    with pytest.raises(MappingError, match=r"2 columns map to the same item E01S1"):
        read_one(path, instrument)


def _mapping_yml(folder: Path, text: str) -> None:
    (folder / "mapping.yml").write_text(text, encoding="utf-8")


def test_pins_resolve_ambiguity_and_duplicates(tmp_path: Path, instrument: Instrument) -> None:
    wave = tmp_path / "2024-01"
    wave.mkdir()
    path = lf.tidy_wide(wave, extra=[("Local system, place", ["Agree"] * N), ("Team", ["A"] * N)])
    _mapping_yml(wave, 'files:\n  "tidy.csv":\n    columns:\n      "Local system, place": ignore\n'
                       '      "AL": free_text\n')
    ex = read_one(path, instrument, mapping=load_mapping(wave))
    r = roles(ex)
    assert r["Local system, place"] == "metadata" and r["Team"] == "free_text"
    assert (ex.columns.set_index("header").loc["Team", "match"]) == "pinned"


def test_mapping_pins_coded_headers_and_sets_sheet_council_recode(tmp_path: Path, instrument: Instrument) -> None:
    cohort = tmp_path / "demo"
    wave = cohort / "2024-01"
    wave.mkdir(parents=True)
    head = [f"Q{k + 1}" for k in range(33)]
    lf.write_xlsx(wave / "coded.xlsx", {"Other": [["x"]], "Data": [head, ["1"] * 33, ["5"] * 33]})
    pins = "\n".join(f'      "Q{k + 1}": {i}' for k, i in enumerate(lf.STATEMENT_IDS))
    _mapping_yml(wave, f'files:\n  "coded.xlsx":\n    sheet: Data\n    council: "Harbourside"\n    columns:\n{pins}\n'
                       f'    recode:\n      "*": {{"1": 1, "5": 5, "9": null}}\n')
    _mapping_yml(cohort, 'files:\n  "coded.xlsx":\n    council: "Overridden by the wave"\n    format: handmade\n')
    mapping = load_mapping(wave)
    assert mapping is not None and len(mapping.sources) == 2
    ex = read_one(wave / "coded.xlsx", instrument, mapping=mapping)
    assert ex.sheet == "Data" and ex.format == "handmade"
    assert ex.council_hint == "Harbourside"
    assert ex.recode == {"*": {"1": 1.0, "5": 5.0, "9": None}}
    assert sorted(ex.item_columns().values()) == sorted(lf.STATEMENT_IDS)
    assert set(ex.columns.loc[ex.columns["role"] == "item", "match"]) == {"pinned"}


def test_mapping_header_row_and_format_override(tmp_path: Path, instrument: Instrument) -> None:
    wave = tmp_path / "w"
    wave.mkdir()
    rows = [["notes"], ["council", *lf.STATEMENT_IDS], ["Harbourside", *["Agree"] * 33]]
    lf.write_csv(wave / "a.csv", rows)
    _mapping_yml(wave, 'files:\n  "a.csv":\n    header_row: 2\n')
    ex = read_one(wave / "a.csv", instrument, mapping=load_mapping(wave))
    assert ex.header_rows == [2] and list(ex.data.index) == [3]


def test_bad_sheet_in_mapping(tmp_path: Path, instrument: Instrument) -> None:
    wave = tmp_path / "w"
    wave.mkdir()
    lf.short_form(wave)
    _mapping_yml(wave, 'files:\n  "short.xlsx":\n    sheet: Nope\n')
    with pytest.raises(InputFileError, match="names sheet 'Nope' but the workbook has 'Overall'"):
        read_one(wave / "short.xlsx", instrument, mapping=load_mapping(wave))


def test_starter_mapping_round_trip(tmp_path: Path, instrument: Instrument) -> None:
    wave = tmp_path / "w"
    wave.mkdir()
    exports = [read_one(lf.handmade(wave), instrument), read_one(lf.qualtrics(wave), instrument),
               read_one(lf.surveymonkey(wave, layout="expanded"), instrument)]
    text = starter_mapping(exports)
    assert '"handmade.xlsx":' in text and "format: qualtrics" in text and "candidates:" in text
    _mapping_yml(wave, text)
    mapping = load_mapping(wave)
    for before in exports:
        after = read_one(before.path, instrument, mapping=mapping)
        assert after.item_columns() == before.item_columns()
        assert after.format == before.format
        assert set(after.columns.loc[after.columns["role"] == "item", "match"]) == {"pinned"}


# --------------------------------------------------------------------------------------------
# finding files, speed
# --------------------------------------------------------------------------------------------
def test_find_export_files(tmp_path: Path) -> None:
    for name in ("b.xlsx", "a.csv", "~$b.xlsx", ".hidden.csv", "mapping.yml", "README.txt", "notes.pdf",
                 "SYNTHETIC_DATA.txt", "c.TSV"):
        (tmp_path / name).write_text("x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in find_export_files(tmp_path)] == ["a.csv", "b.xlsx", "c.TSV"]
    with pytest.raises(InputFileError, match="wave folder does not exist"):
        find_export_files(tmp_path / "missing")


def test_twenty_workbooks_of_300_rows_read_fast(tmp_path: Path, instrument: Instrument) -> None:
    head = ["Id", "Start time", "Completion time", "Email", "Name", "Last modified time", "Council", "Perspective",
            *[t for _, t in lf.STATEMENTS], "Comments", "Other"]
    rows = [head] + [[r, "2024-01-05", "2024-01-05", f"p{r}@x.org", f"P {r}", None, lf.COUNCILS[r % N], "Service",
                      *[lf.label(r, j) if j % 3 else (r + j) % 5 + 1 for j in range(33)], "ok", ""]
                     for r in range(300)]
    first = lf.write_xlsx(tmp_path / "f0.xlsx", {"Form1": rows})
    paths = [first] + [Path(shutil.copy(first, tmp_path / f"f{k}.xlsx")) for k in range(1, 20)]
    read_one(first, instrument)  # warm caches (instrument index, settings)
    start = time.perf_counter()
    for p in paths:
        assert read_one(p, instrument).n_rows == 300
    assert time.perf_counter() - start < 2.0
