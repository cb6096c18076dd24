"""Render clean answers as realistic survey-tool exports (synthetic data only).

Every writer takes the same *clean respondent-level wide* table and lays it out exactly as one
survey tool exports it, so the loaders can be tested on files that look like the real thing
without any real person's answers. The input table has the columns

``council_name, respondent_id, email, first_name, last_name, perspective, started_at,
completed_at, comment``

plus one column per instrument item id (``E01S1`` .. or ``E01_overall`` ..) holding a float
``1..5``, ``NaN`` (unanswered) or a non-answer string such as ``"Don't know"``. Optional
``ip_address`` is used when present, otherwise a documentation-range address (RFC 5737) is
derived from the respondent id. A row whose every cell is missing is written as a blank row
(that is how the demo plants blank-row faults).

Writers are renderers, not simulators: they add no randomness except where a layout is itself
arbitrary (the column order of a hand-made sheet), which is seeded. Workbooks get fixed document
properties and fixed zip timestamps so a fixed input gives byte-identical files.

Layouts
-------
=====================  ====================================================================
``write_ms_forms``      Microsoft Forms .xlsx, one header row, statement text as headers.
``write_google_forms``  Google Forms .csv (UTF-8 with BOM), Likert grid ``Question [row]``.
``write_surveymonkey``  SurveyMonkey two header rows, condensed or expanded matrices.
``write_qualtrics``     Qualtrics three header rows (short names, full text, ImportId JSON).
``write_smartsurvey``   SmartSurvey .csv, ``<Enabler name>: <statement>`` headers.
``write_handmade``      A hand-collated workbook: notes sheet, title rows, shuffled shortened
                        headers, mixed answer styles, blank and "Average" rows (English/Welsh).
``write_short_form``    One overall rating per enabler, ``Enabler N: <name>`` headers.
``write_tidy_wide``     Clean wide table: council, respondent_id, perspective, item ids.
=====================  ====================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from .instrument import Instrument
from .io import atomic_path

logger = logging.getLogger(__name__)

#: Document properties and zip entry times of every workbook written here (byte-stable files).
FIXED_TIMESTAMP: dt.datetime = dt.datetime(2024, 1, 1, 9, 0, 0)

COUNCIL_QUESTION = "Which council do you work for?"
PERSPECTIVE_QUESTION = "From which point of view are you answering?"
COMMENT_QUESTION = "Any other comments?"
GRID_QUESTION = "How far do you agree with these statements?"
HANDMADE_TITLE = "Upstream diagnostic \u2013 responses collated by hand"

#: How a survey shows the perspective options (the instrument lists these among its accepted labels).
PERSPECTIVE_LABELS: dict[str, dict[str, str]] = {
    "en": {"service": "My service", "organisation": "My organisation", "system": "Local system or place"},
    "cy": {"service": "Fy ngwasanaeth", "organisation": "Fy sefydliad", "system": "Y system leol"},
}

PERSON_COLUMNS: tuple[str, ...] = (
    "council_name", "respondent_id", "email", "first_name", "last_name", "perspective",
    "started_at", "completed_at", "comment",
)

__all__ = [
    "FIXED_TIMESTAMP", "write_ms_forms", "write_google_forms", "write_surveymonkey", "write_qualtrics",
    "write_smartsurvey", "write_handmade", "write_short_form", "write_tidy_wide", "statement_table",
]


_MODIFIED_RE = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_STATEMENT_CACHE: dict[tuple[str, str, str, int], pd.DataFrame] = {}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def statement_table(instrument: Instrument, form: str = "full") -> pd.DataFrame:
    """Items of one form with their numbering as a survey shows it.

    Returns
    -------
    DataFrame
        ``item_id, enabler_id, enabler_name, enabler_no (1-based), statement_no (1-based within
        the enabler), text``, in instrument order.
    """
    key = (str(instrument.path), instrument.id, form, len(instrument.items))
    if key in _STATEMENT_CACHE:
        return _STATEMENT_CACHE[key].copy()
    items = instrument.form_items(form)
    en = instrument.enablers.set_index("enabler_id")
    out = items[["item_id", "enabler_id", "text"]].copy()
    out["enabler_name"] = out["enabler_id"].map(en["enabler_name"])
    out["enabler_no"] = out["enabler_id"].map(en["position"]).astype(int) + 1
    out["statement_no"] = out.groupby("enabler_id", sort=False).cumcount() + 1
    out = out[["item_id", "enabler_id", "enabler_name", "enabler_no", "statement_no", "text"]].reset_index(drop=True)
    _STATEMENT_CACHE[key] = out
    return out.copy()


def _check_input(df: pd.DataFrame, item_ids: Sequence[str]) -> None:
    missing = [c for c in ("council_name", *item_ids) if c not in df.columns]
    if missing:
        raise ValueError(
            f"The answers table is missing column(s) {missing[:5]}; a writer needs "
            f"'council_name' and one column per item id of the form it writes."
        )


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` or an all-missing column when absent (object dtype)."""
    if name in df.columns:
        return df[name].astype(object)
    return pd.Series([None] * len(df), index=df.index, dtype=object)


def _const(df: pd.DataFrame, value: Any) -> pd.Series:
    """The same value on every row."""
    return pd.Series([value] * len(df), index=df.index, dtype=object)


def _blank_mask(df: pd.DataFrame) -> np.ndarray:
    """True for rows whose every cell is missing (rendered as a blank row)."""
    return df.isna().all(axis=1).to_numpy()


def _digest(value: Any, salt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{salt}:{value}".encode()).digest()[:8], "big")


def _derived(df: pd.DataFrame, salt: str, fn: Any) -> pd.Series:
    """A deterministic value per row from its respondent id (or row position when absent)."""
    ids = _col(df, "respondent_id")
    keys = [rid if rid is not None and not (isinstance(rid, float) and np.isnan(rid)) else f"row{i}"
            for i, rid in enumerate(ids)]
    return pd.Series([fn(_digest(k, salt)) for k in keys], index=df.index, dtype=object)


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _qualtrics_id(h: int) -> str:
    """``R_`` + 15 base-62 characters, as Qualtrics response ids look."""
    chars = []
    for _ in range(15):
        h, r = divmod(h, 62)
        chars.append(_B62[r])
        h = h or 0x9E3779B97F4A7C15
    return "R_" + "".join(chars)


def _ip(df: pd.DataFrame) -> pd.Series:
    if "ip_address" in df.columns:
        return df["ip_address"].astype(object)
    nets = ("192.0.2", "198.51.100", "203.0.113")
    return _derived(df, "ip", lambda h: f"{nets[h % 3]}.{(h >> 8) % 254 + 1}")


def _is_code(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and not np.isnan(value)


def _labels(series: pd.Series, labels: Mapping[int, str], *, non_answer: str | None = None) -> pd.Series:
    """Codes -> labels; non-answer strings kept (or replaced by ``non_answer``); missing -> None."""
    def one(v: Any) -> Any:
        if _is_code(v):
            return labels[int(round(float(v)))]
        if isinstance(v, str) and v.strip():
            return non_answer or v
        return None
    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)


def _codes(series: pd.Series, code_map: Mapping[Any, int] | None = None, *, text: str = "keep") -> pd.Series:
    """Codes -> ints (through ``code_map``); non-answers ``'keep'``, ``'blank'`` or mapped; missing -> None."""
    def one(v: Any) -> Any:
        if _is_code(v):
            code = int(round(float(v)))
            return code_map.get(code, code) if code_map else code
        if isinstance(v, str) and v.strip():
            if code_map and v in code_map:
                return code_map[v]
            return None if text == "blank" else v
        return None
    return pd.Series([one(v) for v in series.tolist()], index=series.index, dtype=object)


def _scale_labels(instrument: Instrument, language: str = "en") -> dict[int, str]:
    by_lang = instrument.scale.labels_by_language
    if language in by_lang:
        return {c: by_lang[language][c][0] for c in instrument.scale.codes}
    return {c: instrument.scale.canonical_label(c) for c in instrument.scale.codes}


def _perspective(df: pd.DataFrame, language: str = "en") -> pd.Series:
    shown = PERSPECTIVE_LABELS[language]
    return pd.Series([shown.get(v, v) if isinstance(v, str) else None for v in _col(df, "perspective")],
                     index=df.index, dtype=object)


def _times(df: pd.DataFrame, column: str, fmt: str | None) -> pd.Series:
    """Timestamps as text in ``fmt`` or as ``datetime`` objects (``fmt=None``, for workbooks)."""
    ts = pd.to_datetime(_col(df, column), errors="coerce").dt.floor("s")
    if fmt is None:
        return pd.Series([t.to_pydatetime() if not pd.isna(t) else None for t in ts], index=df.index, dtype=object)
    return pd.Series([t.strftime(fmt) if not pd.isna(t) else None for t in ts], index=df.index, dtype=object)


def _text(df: pd.DataFrame, column: str) -> pd.Series:
    return pd.Series([v if isinstance(v, str) and v != "" else None for v in _col(df, column)],
                     index=df.index, dtype=object)


def _full_name(df: pd.DataFrame) -> pd.Series:
    first, last = _text(df, "first_name"), _text(df, "last_name")
    return pd.Series([" ".join(p for p in (f, s) if p) or None for f, s in zip(first, last)],
                     index=df.index, dtype=object)


def _cell(value: Any) -> Any:
    """A value ready for a sheet or csv: NaN/NaT -> None, numpy scalars -> Python, x.0 -> int."""
    if value is None:
        return None
    if isinstance(value, (float, np.floating)):
        if np.isnan(value):
            return None
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if value is pd.NaT:
        return None
    return value


def _body(columns: Sequence[pd.Series], blank: np.ndarray) -> list[list[Any]]:
    """Assemble rows from per-column series; rows flagged ``blank`` become all-empty."""
    cols = [[_cell(v) for v in s.tolist()] for s in columns]
    rows = [list(r) for r in zip(*cols)]
    for i in np.flatnonzero(blank):
        rows[i] = [None] * len(rows[i])
    return rows


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def _write_csv(path: Path, rows: Sequence[Sequence[Any]], *, bom: bool = False,
               lineterminator: str = "\r\n") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=lineterminator, quoting=csv.QUOTE_MINIMAL)
    for row in rows:
        writer.writerow([_csv_text(v) for v in row])
    data = buf.getvalue().encode("utf-8-sig" if bom else "utf-8")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    logger.debug("wrote %s (%d rows)", path, len(rows))
    return path


def _new_workbook() -> Workbook:
    wb = Workbook()
    wb.properties.creator = "analysis.synthetic"
    wb.properties.lastModifiedBy = "analysis.synthetic"
    wb.properties.created = FIXED_TIMESTAMP
    wb.properties.modified = FIXED_TIMESTAMP
    return wb


def _save_workbook(wb: Workbook, path: Path) -> Path:
    """Save with fixed zip entry times so identical content gives identical bytes."""
    raw = io.BytesIO()
    wb.save(raw)
    raw.seek(0)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps 'modified' with now() on save
                data = _MODIFIED_RE.sub(rb"\g<1>" + FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode() + rb"\g<2>", data)
            dst.writestr(fixed, data)
    with atomic_path(path) as tmp:
        tmp.write_bytes(out.getvalue())
    logger.debug("wrote %s", path)
    return path


def _write_table(path: Path, rows: Sequence[Sequence[Any]], *, fmt: str, sheet: str = "Sheet1",
                 bom: bool = False, date_format: str = "yyyy-mm-dd hh:mm:ss") -> Path:
    if fmt == "csv":
        return _write_csv(path, rows, bom=bom)
    if fmt != "xlsx":
        raise ValueError(f"The value for `fmt` must be one of ['csv', 'xlsx'], but {fmt!r} was passed.")
    wb = _new_workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(list(row))
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, dt.datetime):
                cell.number_format = date_format
    return _save_workbook(wb, path)


def _check_choice(name: str, value: str, options: Sequence[str]) -> None:
    if value not in options:
        raise ValueError(f"The value for `{name}` must be one of {list(options)}, but {value!r} was passed.")


# --------------------------------------------------------------------------------------------
# writers
# --------------------------------------------------------------------------------------------

def write_ms_forms(df: pd.DataFrame, path: str | Path, *, instrument: Instrument,
                   anonymous: bool = False, extra_questions: Sequence[str] = ()) -> Path:
    """Write a Microsoft Forms "Open in Excel" export (.xlsx).

    Columns: ``Id, Start time, Completion time, Email, Name, Last modified time``, the council
    and perspective questions, one column per statement headed by its text (answers as English
    labels), then ``Any other comments?``. Sheet ``Sheet1``; one header row; ``Id`` counts from 1.

    Parameters
    ----------
    df
        Clean respondent-level wide table (see module docstring).
    path
        Output ``.xlsx`` path; written atomically.
    instrument
        The instrument giving statement ids, text and scale labels.
    anonymous
        Anonymous form: ``Email`` is ``"anonymous"`` and ``Name`` empty.
    extra_questions
        Columns of ``df`` written as further questions (headed by the column name) between the
        statements and the comment question, as forms that ask about role or service area have.

    Returns
    -------
    Path
        ``path``.
    """
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    labels = _scale_labels(instrument)
    blank = _blank_mask(df)
    header = ["Id", "Start time", "Completion time", "Email", "Name", "Last modified time",
              COUNCIL_QUESTION, PERSPECTIVE_QUESTION, *st["text"], *extra_questions, COMMENT_QUESTION]
    ids = pd.Series(np.cumsum(~blank), index=df.index, dtype=object)
    email = _const(df, "anonymous") if anonymous else _text(df, "email")
    name = _const(df, None) if anonymous else _full_name(df)
    cols = [ids, _times(df, "started_at", None), _times(df, "completed_at", None), email, name,
            _const(df, None), _text(df, "council_name"), _perspective(df),
            *[_labels(df[i], labels) for i in st["item_id"]], *[_text(df, q) for q in extra_questions],
            _text(df, "comment")]
    rows = [header, *_body(cols, blank)]
    return _write_table(Path(path), rows, fmt="xlsx", sheet="Sheet1", date_format="m/d/yy h:mm:ss")


def write_google_forms(df: pd.DataFrame, path: str | Path, *, instrument: Instrument,
                       locale: str = "en_GB") -> Path:
    """Write a Google Forms responses download (.csv, UTF-8 with BOM, CRLF).

    Columns: ``Timestamp`` (``23/11/2026 10:15:03`` in ``en_GB``, ``11/23/2026 10:15:03`` in
    ``en_US``), ``Email Address``, ``Council``, the perspective question, then one Likert-grid
    column per statement headed ``How far do you agree with these statements? [<text>]``, then
    ``Any other comments?``. Answers are English labels.

    Parameters
    ----------
    df, path, instrument
        As for :func:`write_ms_forms`.
    locale
        ``"en_GB"`` or ``"en_US"``: the spreadsheet locale that formats ``Timestamp``.
    """
    formats = {"en_GB": "%d/%m/%Y %H:%M:%S", "en_US": "%m/%d/%Y %H:%M:%S"}
    _check_choice("locale", locale, list(formats))
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    labels = _scale_labels(instrument)
    header = ["Timestamp", "Email Address", "Council", PERSPECTIVE_QUESTION,
              *[f"{GRID_QUESTION} [{t}]" for t in st["text"]], COMMENT_QUESTION]
    cols = [_times(df, "completed_at", formats[locale]), _text(df, "email"), _text(df, "council_name"),
            _perspective(df), *[_labels(df[i], labels) for i in st["item_id"]], _text(df, "comment")]
    return _write_csv(Path(path), [header, *_body(cols, _blank_mask(df))], bom=True)


def write_surveymonkey(df: pd.DataFrame, path: str | Path, *, instrument: Instrument,
                       layout: str = "condensed", fmt: str = "xlsx") -> Path:
    """Write a SurveyMonkey "All individual responses" export with two header rows.

    Row 1: ``Respondent ID, Collector ID, Start Date, End Date, IP Address, Email Address,
    First Name, Last Name, Custom Data 1``, the council question (row 2 ``Response``), the
    perspective question (row 2 ``Response``), one matrix per enabler headed ``Enabler N: <name>``
    in its first sub-column with blanks after it, then ``Any other comments?`` (row 2
    ``Open-Ended Response``).

    * ``layout="condensed"``: one column per statement, row 2 = statement text, cell = label.
    * ``layout="expanded"``: one column per statement x option, row 2 = ``<statement> - <option>``,
      cell = the option label when chosen, else blank. Options are the scale labels plus any
      non-answer (e.g. ``Don't know``) that occurs in ``df``.

    Respondent IDs are 11-digit numbers derived from ``respondent_id``. Dates are
    ``mm/dd/yyyy hh:mm:ss AM`` text in csv and date cells in xlsx.

    Parameters
    ----------
    df, path, instrument
        As for :func:`write_ms_forms`.
    layout
        ``"condensed"`` or ``"expanded"``.
    fmt
        ``"xlsx"`` (sheet ``Sheet``) or ``"csv"`` (UTF-8, CRLF).
    """
    _check_choice("layout", layout, ["condensed", "expanded"])
    _check_choice("fmt", fmt, ["xlsx", "csv"])
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    labels = _scale_labels(instrument)
    blank = _blank_mask(df)
    meta = ["Respondent ID", "Collector ID", "Start Date", "End Date", "IP Address", "Email Address",
            "First Name", "Last Name", "Custom Data 1"]
    row1: list[Any] = [*meta, COUNCIL_QUESTION, PERSPECTIVE_QUESTION]
    row2: list[Any] = [None] * len(meta) + ["Response", "Response"]
    date_fmt = "%m/%d/%Y %I:%M:%S %p" if fmt == "csv" else None
    collector = 400000000 + _digest(str(path and Path(path).name), "collector") % 99999999
    cols: list[pd.Series] = [
        _derived(df, "sm", lambda h: 110000000000 + h % 9999999999),
        _const(df, collector),
        _times(df, "started_at", date_fmt), _times(df, "completed_at", date_fmt), _ip(df),
        _text(df, "email"), _text(df, "first_name"), _text(df, "last_name"),
        _const(df, None),
        _text(df, "council_name"), _perspective(df),
    ]
    answers = {i: _labels(df[i], labels) for i in st["item_id"]}
    options = list(labels.values())
    if layout == "expanded":
        extra = sorted({v for s in answers.values() for v in s.dropna() if v not in options})
        options += extra
    for _, en in st.groupby("enabler_no", sort=True):
        first = True
        for item_id, text in zip(en["item_id"], en["text"]):
            if layout == "condensed":
                row1.append(f"Enabler {en['enabler_no'].iloc[0]}: {en['enabler_name'].iloc[0]}" if first else None)
                row2.append(text)
                cols.append(answers[item_id])
                first = False
                continue
            for opt in options:
                row1.append(f"Enabler {en['enabler_no'].iloc[0]}: {en['enabler_name'].iloc[0]}" if first else None)
                row2.append(f"{text} - {opt}")
                cols.append(answers[item_id].map(lambda v, o=opt: o if v == o else None))
                first = False
    row1.append(COMMENT_QUESTION)
    row2.append("Open-Ended Response")
    cols.append(_text(df, "comment"))
    rows = [row1, row2, *_body(cols, blank)]
    return _write_table(Path(path), rows, fmt=fmt, sheet="Sheet", date_format="mm/dd/yyyy hh:mm:ss AM/PM")


#: Qualtrics embedded columns and the survey's non-matrix questions: short name, full text, ImportId.
_QUALTRICS_META: tuple[tuple[str, str, str], ...] = (
    ("StartDate", "Start Date", "startDate"), ("EndDate", "End Date", "endDate"),
    ("Status", "Response Type", "status"), ("IPAddress", "IP Address", "ipAddress"),
    ("Progress", "Progress", "progress"), ("Duration (in seconds)", "Duration (in seconds)", "duration"),
    ("Finished", "Finished", "finished"), ("RecordedDate", "Recorded Date", "recordedDate"),
    ("ResponseId", "Response ID", "_recordId"), ("RecipientLastName", "Recipient Last Name", "recipientLastName"),
    ("RecipientFirstName", "Recipient First Name", "recipientFirstName"),
    ("RecipientEmail", "Recipient Email", "recipientEmail"),
    ("ExternalReference", "External Data Reference", "externalDataReference"),
    ("LocationLatitude", "Location Latitude", "locationLatitude"),
    ("LocationLongitude", "Location Longitude", "locationLongitude"),
    ("DistributionChannel", "Distribution Channel", "distributionChannel"),
    ("UserLanguage", "User Language", "userLanguage"),
    ("Q_council", COUNCIL_QUESTION, "QID12_TEXT"), ("Q_persp", PERSPECTIVE_QUESTION, "QID13"),
)


def write_qualtrics(df: pd.DataFrame, path: str | Path, *, instrument: Instrument, codes: str = "labels",
                    code_map: Mapping[Any, int] | None = None, fmt: str = "csv") -> Path:
    """Write a Qualtrics "Data & Analysis" export with three header rows.

    Row 1 short names: ``StartDate, EndDate, Status, IPAddress, Progress, Duration (in seconds),
    Finished, RecordedDate, ResponseId, RecipientLastName, RecipientFirstName, RecipientEmail,
    ExternalReference, LocationLatitude, LocationLongitude, DistributionChannel, UserLanguage,
    Q_council, Q_persp, Q1_1 .. Q11_3, Q_comments`` (``Q<enabler>_<statement>``). Row 2 the full
    text (matrix columns ``<Enabler N: name> - <statement>``). Row 3 ``{"ImportId":"QID1_1"}``.

    Parameters
    ----------
    df, path, instrument
        As for :func:`write_ms_forms`.
    codes
        ``"labels"`` (choice text) or ``"numeric"`` (recode values). In numeric mode the
        perspective is still written as text (a respondent-facing choice the loaders must read).
    code_map
        Numeric mode only: scale code -> exported value, e.g. ``{1: 1, 2: 2, 3: 4, 4: 5, 5: 6}``
        for a survey whose recode values drifted; a non-answer string may be a key too. A
        non-answer without a key is exported as ``max(values) + 1`` (6 with the default codes),
        as Qualtrics numbers an extra "Don't know" column.
    fmt
        ``"csv"`` (UTF-8 with BOM) or ``"xlsx"`` (sheet ``Sheet0``).
    """
    _check_choice("codes", codes, ["labels", "numeric"])
    _check_choice("fmt", fmt, ["csv", "xlsx"])
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    blank = _blank_mask(df)
    rows_hdr: list[list[Any]] = [[], [], []]
    for short, full, import_id in _QUALTRICS_META:
        info = {"ImportId": import_id}
        if import_id in ("startDate", "endDate", "recordedDate"):
            info["timeZone"] = "Europe/London"
        rows_hdr[0].append(short)
        rows_hdr[1].append(full)
        rows_hdr[2].append(json.dumps(info, separators=(",", ":")))
    for r in st.itertuples(index=False):
        rows_hdr[0].append(f"Q{r.enabler_no}_{r.statement_no}")
        rows_hdr[1].append(f"Enabler {r.enabler_no}: {r.enabler_name} - {r.text}")
        rows_hdr[2].append(json.dumps({"ImportId": f"QID{r.enabler_no}_{r.statement_no}"}, separators=(",", ":")))
    rows_hdr[0].append("Q_comments")
    rows_hdr[1].append(COMMENT_QUESTION)
    rows_hdr[2].append('{"ImportId":"QID14_TEXT"}')

    numeric = codes == "numeric"
    started = pd.to_datetime(_col(df, "started_at"), errors="coerce")
    ended = pd.to_datetime(_col(df, "completed_at"), errors="coerce")
    duration = ((ended - started).dt.total_seconds()).astype(object)
    email = _text(df, "email")
    channel = email.map(lambda e: "email" if e else "anonymous")
    fmt_t = "%Y-%m-%d %H:%M:%S"
    cols: list[pd.Series] = [
        _times(df, "started_at", fmt_t), _times(df, "completed_at", fmt_t),
        _const(df, 0 if numeric else "IP Address"), _ip(df),
        _const(df, 100), duration,
        _const(df, 1 if numeric else "True"),
        _times(df, "completed_at", fmt_t),
        _derived(df, "qx", _qualtrics_id),
        _text(df, "last_name").where(channel == "email", None), _text(df, "first_name").where(channel == "email", None),
        email, _const(df, None),
        _derived(df, "lat", lambda h: round(51.0 + (h % 30000) / 10000, 4)),
        _derived(df, "lon", lambda h: round(-3.0 + (h % 40000) / 10000, 4)),
        channel, _const(df, "EN-GB"),
        _text(df, "council_name"), _perspective(df),
    ]
    if numeric:
        mapping: dict[Any, int] = {c: c for c in instrument.scale.codes}
        mapping.update(code_map or {})
        dk = max(v for v in mapping.values()) + 1
        for i in st["item_id"]:
            cols.append(_codes(df[i], mapping).map(lambda v, dk=dk: dk if isinstance(v, str) else v))
    else:
        if code_map:
            raise ValueError("`code_map` only applies with codes='numeric'; pass codes='numeric' or drop code_map.")
        labels = _scale_labels(instrument)
        cols.extend(_labels(df[i], labels) for i in st["item_id"])
    cols.append(_text(df, "comment"))
    rows = [*rows_hdr, *_body(cols, blank)]
    return _write_table(Path(path), rows, fmt=fmt, sheet="Sheet0", bom=True)


def write_smartsurvey(df: pd.DataFrame, path: str | Path, *, instrument: Instrument) -> Path:
    """Write a SmartSurvey "Raw data" export (.csv, UTF-8 without BOM, one header row).

    Columns: ``UserID, UserNo, Name, Email, IP Address, Unique ID, Started, Ended, Tracking Link,
    Custom Value``, the council and perspective questions, ``<Enabler name>: <statement>`` per
    statement (labels), then ``Any other comments?``. Dates ``dd/mm/yyyy hh:mm:ss``.
    """
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    labels = _scale_labels(instrument)
    blank = _blank_mask(df)
    header = ["UserID", "UserNo", "Name", "Email", "IP Address", "Unique ID", "Started", "Ended",
              "Tracking Link", "Custom Value", COUNCIL_QUESTION, PERSPECTIVE_QUESTION,
              *[f"{e}: {t}" for e, t in zip(st["enabler_name"], st["text"])], COMMENT_QUESTION]
    fmt_t = "%d/%m/%Y %H:%M:%S"
    cols = [
        _derived(df, "ss", lambda h: 180000000 + h % 9999999),
        pd.Series(np.cumsum(~blank), index=df.index, dtype=object),
        _full_name(df), _text(df, "email"), _ip(df),
        _const(df, None),
        _times(df, "started_at", fmt_t), _times(df, "completed_at", fmt_t),
        _const(df, "Default Web Link"),
        _const(df, None),
        _text(df, "council_name"), _perspective(df),
        *[_labels(df[i], labels) for i in st["item_id"]], _text(df, "comment"),
    ]
    return _write_csv(Path(path), [header, *_body(cols, blank)], bom=False)


def _handmade_answers(series: pd.Series, labels: Mapping[int, str], style: np.ndarray,
                      non_answer: str | None) -> pd.Series:
    """Mix answer styles per cell: 0 number, 1 number-as-text with trailing space, 2 ``"4 - Agree"``."""
    out: list[Any] = []
    for v, s in zip(series.astype(object), style):
        if _is_code(v):
            code = int(round(float(v)))
            out.append(code if s == 0 else f"{code} " if s == 1 else f"{code} - {labels[code]}")
        elif isinstance(v, str) and v.strip():
            out.append(non_answer or v)
        else:
            out.append(None)
    return pd.Series(out, index=series.index, dtype=object)


def write_handmade(df: pd.DataFrame, path: str | Path, *, instrument: Instrument, welsh: bool = False,
                   seed: int = 0, summary: bool = True) -> Path:
    """Write a workbook collated by hand from paper forms or e-mailed returns (.xlsx).

    Sheet ``Read me`` (notes) first, then sheet ``Responses``: a title row merged across the
    columns (``Upstream diagnostic – responses collated by hand``), a subtitle row, a blank row,
    then the header: ``Ref, Name, Organisation, Perspective``, the statements as shortened text
    (first 45 characters + ``…``) in a shuffled order, ``Comments``. Answers are a per-cell mix of
    numbers, numbers as text with a trailing space (``"4 "``) and ``"4 - Agree"``. Rows of ``df``
    that are entirely missing become blank rows; with ``summary`` a blank row and an ``Average``
    row (column means of the numeric answers) follow the data.

    Parameters
    ----------
    df, path, instrument
        As for :func:`write_ms_forms`.
    welsh
        Welsh version: answers are Welsh labels (``Cytuno'n gryf`` ...), non-answers
        ``Ddim yn gwybod``, and the headers ``Cyf, Enw, Cyngor, Safbwynt, ..., Sylwadau``.
    seed
        Seeds the column order and the answer-style mix.
    summary
        Add the blank row and ``Average`` row under the data.
    """
    st = statement_table(instrument)
    _check_input(df, st["item_id"])
    rng = np.random.default_rng(seed)
    blank = _blank_mask(df)
    lang = "cy" if welsh else "en"
    labels = _scale_labels(instrument, lang)
    non_answer = None
    if welsh:
        cy_na = ((instrument.raw.get("scale") or {}).get("non_answers") or {}).get("cy") or []
        non_answer = cy_na[0] if cy_na else None
    short = [t if len(t) <= 46 else t[:45].rstrip() + "\u2026" for t in st["text"]]
    if len(set(short)) != len(short):
        raise ValueError("Shortened statement headers are not unique; lengthen the cut-off.")
    order = rng.permutation(len(st))
    fixed = ["Cyf", "Enw", "Cyngor", "Safbwynt"] if welsh else ["Ref", "Name", "Organisation", "Perspective"]
    header = [*fixed, *[short[k] for k in order], "Sylwadau" if welsh else "Comments"]

    refs = pd.Series(np.cumsum(~blank), index=df.index, dtype=object)
    cols: list[pd.Series] = [refs, _full_name(df), _text(df, "council_name"), _perspective(df, lang)]
    numeric_cols: list[pd.Series] = []
    for k in order:
        item = st["item_id"].iloc[k]
        if welsh:
            cols.append(_labels(df[item], labels, non_answer=non_answer))
        else:
            style = rng.choice(3, size=len(df), p=[0.6, 0.15, 0.25])
            cols.append(_handmade_answers(df[item], labels, style, non_answer))
        numeric_cols.append(pd.to_numeric(df[item], errors="coerce"))
    cols.append(_text(df, "comment"))
    body = _body(cols, blank)

    wb = _new_workbook()
    notes = wb.active
    notes.title = "Read me"
    note_lines = [
        "Upstream diagnostic: hand-collated returns",
        "Typed up from paper forms and e-mailed Word returns after the workshop.",
        "Scale: " + "; ".join(f"{c} = {lab}" for c, lab in labels.items()),
        "Blank = not answered. Column headers are shortened statements; see the instrument for full text.",
        "SYNTHETIC DATA generated by analysis.synthetic: not real responses.",
    ]
    for line in note_lines:
        notes.append([line])
    ws = wb.create_sheet("Responses")
    title = "Diagnostig Upstream \u2013 ymatebion wedi'u casglu \u00e2 llaw" if welsh else HANDMADE_TITLE
    ws.append([title])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    ws.cell(row=1, column=1).font = Font(bold=True, size=14)
    ws.cell(row=1, column=1).alignment = Alignment(horizontal="center")
    ws.append(["Collated by the policy team (typed from paper forms)"])
    ws.append([])
    ws.append(header)
    for cell in ws[4]:
        cell.font = Font(bold=True)
    for row in body:
        ws.append(row)
    if summary:
        ws.append([])
        means = [None if s.dropna().empty else round(float(s.mean()), 2) for s in numeric_cols]
        ws.append(["Average", None, None, None, *means, None])
    return _save_workbook(wb, Path(path))


def write_short_form(df: pd.DataFrame, path: str | Path, *, instrument: Instrument) -> Path:
    """Write short-form returns (.csv): ``Council``, then ``Enabler N: <enabler name>`` per enabler.

    Values are the overall ratings (items ``E01_overall`` ..) as numbers; non-answers and missing
    are blank.
    """
    st = statement_table(instrument, "short")
    _check_input(df, st["item_id"])
    header = ["Council", *[f"Enabler {no}: {name}" for no, name in zip(st["enabler_no"], st["enabler_name"])]]
    cols = [_text(df, "council_name"), *[_codes(df[i], text="blank") for i in st["item_id"]]]
    return _write_csv(Path(path), [header, *_body(cols, _blank_mask(df))], bom=False)


def write_tidy_wide(df: pd.DataFrame, path: str | Path, *, instrument: Instrument, form: str = "full") -> Path:
    """Write a clean wide table (.csv, UTF-8, LF): ``council, respondent_id, perspective`` + item ids.

    Parameters
    ----------
    df, path, instrument
        As for :func:`write_ms_forms`.
    form
        ``"full"`` (statement ids ``E01S1`` ..) or ``"short"`` (``E01_overall`` ..). Non-answers
        and missing values are blank; scores are numbers.
    """
    _check_choice("form", form, ["full", "short"])
    ids = instrument.form_items(form)["item_id"].tolist()
    _check_input(df, ids)
    header = ["council", "respondent_id", "perspective", *ids]
    cols = [_text(df, "council_name"), _col(df, "respondent_id"), _text(df, "perspective"),
            *[_codes(df[i], text="blank") for i in ids]]
    return _write_csv(Path(path), [header, *_body(cols, _blank_mask(df))], bom=False, lineterminator="\n")
