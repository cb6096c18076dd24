"""Builders of small survey-export fixture files, one per supported format, written into a folder.

Nothing binary is committed: every test builds its files in ``tmp_path`` with openpyxl or csv.
Each builder returns the path written; the module-level constants say what a test should find.
Answers follow a fixed pattern (respondent ``r``, statement ``j`` -> label ``(r + j) % 5``) so that
tests can check cells without storing expected tables.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Sequence
from pathlib import Path

import openpyxl

from analysis.instrument import load_instrument

INSTRUMENT = load_instrument()
STATEMENTS: list[tuple[str, str]] = [
    (r.item_id, r.text) for r in INSTRUMENT.form_items("full").itertuples(index=False)]
STATEMENT_IDS: list[str] = [i for i, _ in STATEMENTS]
SHORT_ITEMS: list[tuple[str, str, str]] = [
    (r.item_id, r.text, INSTRUMENT.enablers.set_index("enabler_id").at[r.enabler_id, "short_name"])
    for r in INSTRUMENT.form_items("short").itertuples(index=False)]
LABELS = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
COUNCILS = ["Harbourside", "Northfield", "Eastmoor", "Harbourside"]
MATRIX_QUESTION = "To what extent do you agree with the following statements?"


def label(r: int, j: int) -> str:
    """The answer label of respondent ``r`` (0-based) to statement ``j`` (0-based)."""
    return LABELS[(r + j) % 5]


def code(r: int, j: int) -> str:
    return str((r + j) % 5 + 1)


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]], *,
               merges: dict[str, list[str]] | None = None, hidden: Sequence[str] = ()) -> Path:
    """Write ``{sheet: rows}`` to an .xlsx (cells ``None`` stay empty), with merged ranges."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(list(row))
        for rng in (merges or {}).get(name, []):
            ws.merge_cells(rng)
        if name in hidden:
            ws.sheet_state = "hidden"
    wb.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[object]], *, encoding: str = "utf-8", delimiter: str = ",",
              bom: bool = False) -> Path:
    buf = io.StringIO(newline="")
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(
        [["" if v is None else v for v in row] for row in rows])
    data = buf.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_rows(path: Path, rows: Sequence[Sequence[object]], **kw: object) -> Path:
    """Write rows as .xlsx or .csv by the suffix of ``path``."""
    if path.suffix == ".xlsx":
        return write_xlsx(path, {"Sheet1": rows})
    return write_csv(path, rows, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# one builder per format
# --------------------------------------------------------------------------------------------
def ms_forms(folder: Path, *, anonymous: bool = False) -> Path:
    """Microsoft Forms .xlsx: 4 respondents; rows 2-5."""
    head = ["Id", "Start time", "Completion time", "Email", "Name", "Last modified time",
            "Which council do you work for?", "Are you answering for your service, organisation or local system?",
            *[t for _, t in STATEMENTS], "Any other comments?"]
    rows: list[list[object]] = [head]
    for r, council in enumerate(COUNCILS):
        t0 = dt.datetime(2024, 1, 5 + r, 9, 30)
        rows.append([r + 1, t0, t0 + dt.timedelta(minutes=12),
                     "anonymous" if anonymous else f"person{r}@{council.lower()}.gov.uk",
                     "" if anonymous else f"Person {r}", None, council, "My service",
                     *[label(r, j) for j in range(len(STATEMENTS))], "Good session" if r == 0 else None])
    return write_xlsx(folder / ("msforms_anon.xlsx" if anonymous else "msforms.xlsx"), {"Form1": rows})


def google_forms(folder: Path) -> Path:
    """Google Forms CSV, UTF-8 with BOM, grid columns ``Title [Statement]``; record 4 spans two lines."""
    head = ["Timestamp", "Email Address", "Council", *[f"{MATRIX_QUESTION} [{t}]" for _, t in STATEMENTS],
            "Anything else you would like to tell us?"]
    rows: list[list[object]] = [head]
    for r, council in enumerate(COUNCILS):
        rows.append([f"2024/01/0{r + 1} 10:00:00 GMT", f"p{r}@example.org", council,
                     *[label(r, j) for j in range(len(STATEMENTS))],
                     "Line one,\nline two – costs £5" if r == 2 else ""])
    return write_csv(folder / "google.csv", rows, bom=True)


SM_META = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address", "First Name",
           "Last Name", "Custom Data 1"]


def _sm_meta(r: int) -> list[object]:
    return [11400000 + r, 4000, "01/05/2024 09:00:00", "01/05/2024 09:10:00", f"81.2.69.{r}",
            f"x{r}@example.org", f"First{r}", f"Last{r}", ""]


def surveymonkey(folder: Path, *, layout: str = "condensed", suffix: str = ".xlsx") -> Path:
    """SurveyMonkey, two header rows. Condensed: one column per statement under the matrix heading.
    Expanded: council options (cell = council name), statements 1-2 as single questions with option
    columns, the rest as ``Statement - Option`` columns of the matrix."""
    row1: list[object] = list(SM_META)
    row2: list[object] = [""] * len(SM_META)
    body: list[list[object]] = [_sm_meta(r) for r in range(len(COUNCILS))]
    if layout == "condensed":
        row1 += ["Which council do you work for?"]
        row2 += ["Response"]
        row1 += [MATRIX_QUESTION] + [""] * (len(STATEMENTS) - 1)
        row2 += [t for _, t in STATEMENTS]
        for r, council in enumerate(COUNCILS):
            body[r] += [council, *[label(r, j) for j in range(len(STATEMENTS))]]
    else:
        options = ["Harbourside", "Northfield", "Eastmoor"]
        row1 += ["Which council do you work for?"] + [""] * (len(options) - 1)
        row2 += options
        for r, council in enumerate(COUNCILS):
            body[r] += [council if o == council else "" for o in options]
        for j, (_, text) in enumerate(STATEMENTS):
            if j < 2:
                row1 += [text] + [""] * 4
                row2 += LABELS
            else:
                row1 += [MATRIX_QUESTION if j == 2 else ""] + [""] * 4
                row2 += [f"{text} - {lab}" for lab in LABELS]
            for r in range(len(COUNCILS)):
                body[r] += [lab if lab == label(r, j) else "" for lab in LABELS]
    row1 += ["Any other comments?"]
    row2 += ["Open-Ended Response"]
    for r in range(len(COUNCILS)):
        body[r] += ["Thanks" if r == 1 else ""]
    return write_rows(folder / f"surveymonkey_{layout}{suffix}", [row1, row2, *body])


QUALTRICS_META = ["StartDate", "EndDate", "Status", "IPAddress", "Progress", "Duration (in seconds)", "Finished",
                  "RecordedDate", "ResponseId", "RecipientLastName", "RecipientFirstName", "RecipientEmail",
                  "ExternalReference", "LocationLatitude", "LocationLongitude", "DistributionChannel", "UserLanguage"]
QUALTRICS_TEXT = ["Start Date", "End Date", "Response Type", "IP Address", "Progress", "Duration (in seconds)",
                  "Finished", "Recorded Date", "Response ID", "Recipient Last Name", "Recipient First Name",
                  "Recipient Email", "External Data Reference", "Location Latitude", "Location Longitude",
                  "Distribution Channel", "User Language"]


def qualtrics(folder: Path, *, suffix: str = ".csv") -> Path:
    """Qualtrics, three header rows, numeric answer codes."""
    row1 = [*QUALTRICS_META, "Q1", *[f"Q2_{j + 1}" for j in range(len(STATEMENTS))], "Q3"]
    row2 = [*QUALTRICS_TEXT, "Which council do you work for?", *[f"{MATRIX_QUESTION} - {t}" for _, t in STATEMENTS],
            "Is there anything else you would like to add?"]
    row3 = [f'{{"ImportId":"{m[0].lower() + m[1:]}"}}' for m in QUALTRICS_META] + ['{"ImportId":"QID1"}'] + \
        [f'{{"ImportId":"QID2_{j + 1}"}}' for j in range(len(STATEMENTS))] + ['{"ImportId":"QID3_TEXT"}']
    body = []
    for r, council in enumerate(COUNCILS):
        body.append(["2024-01-05 09:00:00", "2024-01-05 09:10:00", "IP Address", f"81.2.69.{r}", "100", "600", "True",
                     "2024-01-05 09:10:01", f"R_abc{r}", "", "", "", "", "51.5", "-0.1", "anonymous", "EN-GB",
                     council, *[code(r, j) for j in range(len(STATEMENTS))], ""])
    return write_rows(folder / f"qualtrics{suffix}", [row1, row2, row3, *body])


SMARTSURVEY_META = ["UserID", "UserNo", "Name", "Email", "IP Address", "Unique ID", "Started", "Ended",
                    "Tracking Link", "Custom Value"]


def smartsurvey(folder: Path, *, suffix: str = ".xlsx") -> Path:
    """SmartSurvey, one header row; matrix columns ``Question: Statement``."""
    head = [*SMARTSURVEY_META, "Council", *[f"Agreement: {t}" for _, t in STATEMENTS]]
    body = [[900 + r, r + 1, f"Name {r}", f"s{r}@example.org", f"10.0.0.{r}", "", "05/01/2024 09:00",
             "05/01/2024 09:15", "Web link", "", council, *[label(r, j) for j in range(len(STATEMENTS))]]
            for r, council in enumerate(COUNCILS)]
    return write_rows(folder / f"smartsurvey{suffix}", [head, *body])


def shortened(text: str, n: int = 40) -> str:
    """The first ``n`` characters of ``text`` cut back to a whole word, as people shorten headers."""
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + "..."


HANDMADE_ORDER = list(range(len(STATEMENTS)))
random.Random(7).shuffle(HANDMADE_ORDER)


def handmade(folder: Path) -> Path:
    """Hand-made workbook: a 'Read me' sheet first, then 'Responses' with a merged title (A1:F1), a
    blank row, a note row, header in row 4 (Council, Role, shortened statements re-ordered), five
    respondents in rows 5-9 with '4 - Agree', '4 ', 4 and labels, a blank row 10, an Average row 11;
    and a 'Notes' sheet."""
    head = ["Council", "Role", *[shortened(STATEMENTS[j][1]) for j in HANDMADE_ORDER]]
    rows: list[list[object]] = [["Upstream diagnostic - collated by hand"] + [None] * 5, [],
                                ["Collected at the workshop on 12 March; one row per person"], head]
    for r in range(5):
        council = COUNCILS[r % len(COUNCILS)]
        vals: list[object] = []
        for j in HANDMADE_ORDER:
            c = (r + j) % 5 + 1
            vals.append({0: f"{c} - {LABELS[c - 1]}", 1: f"{c} ", 2: c}.get(r % 4, LABELS[c - 1]))
        rows.append([council, "Manager", *vals])
    rows.append([])
    rows.append(["Average", None, *[3.2 for _ in HANDMADE_ORDER]])
    readme = [["Read me"], ["This workbook collects the diagnostic answers."],
              ["Example statement: " + STATEMENTS[0][1]]]
    return write_xlsx(folder / "handmade.xlsx", {"Read me": readme, "Responses": rows, "Notes": [["nothing"]]},
                      merges={"Responses": ["A1:F1"]})


def tidy_wide(folder: Path, *, headers: str = "ids", name: str = "tidy.csv", encoding: str = "utf-8",
              delimiter: str = ",", councils: Sequence[str] = COUNCILS, answers: str = "labels",
              drop: Sequence[str] = (), extra: Sequence[tuple[str, Sequence[str]]] = ()) -> Path:
    """A clean wide table: council, perspective, respondent_id, one column per statement."""
    items = [(i, t) for i, t in STATEMENTS if i not in drop]
    head = ["council", "perspective", "respondent_id", *[i if headers == "ids" else t for i, t in items],
            *[h for h, _ in extra]]
    body = []
    for r, council in enumerate(councils):
        vals = [code(r, j) if answers == "codes" else label(r, j) for j, (i, _) in enumerate(STATEMENTS) if i not in drop]
        body.append([council, "service", f"r{r}", *vals, *[v[r] for _, v in extra]])
    return write_rows(folder / name, [head, *body], encoding=encoding, delimiter=delimiter)


def short_form(folder: Path) -> Path:
    """Short form .xlsx: one overall rating per enabler, headed 'Enabler N: name' or the short name."""
    head = ["Local authority"] + [f"Enabler {k + 1}: {name}" if k % 2 == 0 else short
                                  for k, (_, name, short) in enumerate(SHORT_ITEMS)]
    body = [[council, *[label(r, k) for k in range(len(SHORT_ITEMS))]] for r, council in enumerate(COUNCILS)]
    return write_xlsx(folder / "short.xlsx", {"Overall": [head, *body]})


WELSH_LABELS = ["Anghytuno'n gryf", "Anghytuno", "Ddim yn cytuno nac yn anghytuno", "Cytuno", "Cytuno'n gryf"]


def welsh(folder: Path) -> Path:
    """English statement headers, 'Cyngor' council header, Welsh answers."""
    head = ["Cyngor", *[t for _, t in STATEMENTS]]
    body = [[c, *[WELSH_LABELS[(r + j) % 5] for j in range(len(STATEMENTS))]]
            for r, c in enumerate(["Cyngor Gwynedd", "Ynys Môn"])]
    return write_xlsx(folder / "welsh.xlsx", {"Ymatebion": [head, *body]})
