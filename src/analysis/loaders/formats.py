"""Recognise the export format of a text grid: its header rows and what each column's header is.

Detection needs no configuration. Signatures are checked in this order:

* ``qualtrics``: row 3 holds ``{"ImportId": ...}`` cells, or row 1 holds several Qualtrics names
  (StartDate, EndDate, ResponseId, RecordedDate, Finished, DistributionChannel ...). Header rows
  1-3 (1-2 for legacy exports without the ImportId row); row 2's question text is matched.
* ``surveymonkey``: row 1 holds ``Respondent ID`` with ``Collector ID`` or ``Start Date``. Header
  rows 1-2; row 1's question heading is carried right over its blank sub-columns; row 2 holds the
  statement, ``Response``, ``Open-Ended Response`` or an option label. Expanded layouts (one column
  per option, the cell holding the option label when chosen) are collapsed into one answer column
  per question/statement (cells of several chosen options joined with ``"; "``).
* otherwise the header row is the row, among the first :data:`HEADER_SCAN_ROWS`, whose cells map to
  the most instrument items (metadata and council headers break ties); then ``ms_forms`` (Id,
  Start time, Completion time), ``google_forms`` (Timestamp first), ``smartsurvey`` (two of UserID,
  UserNo, Started, Ended, Tracking Link, Custom Value, Unique ID) or ``handmade``.
  ``handmade`` becomes ``tidy_wide`` later (in :func:`analysis.loaders.read_export`) when the header
  is row 1, a council column exists, every item matched by id or exact text and no column is unmapped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import mapping as _mapping
from ..instrument import Instrument

logger = logging.getLogger(__name__)

#: How many rows from the top are searched for the header row of a hand-made workbook.
HEADER_SCAN_ROWS = 30

_QUALTRICS = frozenset({"startdate", "enddate", "responseid", "recordeddate", "finished", "distributionchannel",
                        "userlanguage", "ipaddress", "progress", "status", "duration (in seconds)"})
_SMARTSURVEY = frozenset({"userid", "userno", "started", "ended", "tracking link", "custom value", "unique id"})
_NUMERIC_OR_DATE = re.compile(r"[\d\s.,:/\-+T%£$]*")
_MS_FORMS = frozenset({"id", "start time", "completion time"})


@dataclass
class ColumnSpec:
    """One output column: where it comes from in the grid and how its header reads."""

    letter: str
    positions: list[int]
    header: str
    questions: list[str]


@dataclass
class Layout:
    """Format, header rows (1-based) and columns of one grid."""

    format: str
    header_rows: list[int]
    columns: list[ColumnSpec]
    notes: list[str] = field(default_factory=list)


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _raw_set(grid: pd.DataFrame, row: int) -> set[str]:
    if row not in grid.index:
        return set()
    return {_clean(v).casefold() for v in grid.loc[row] if str(v).strip()}


def scan_header_rows(grid: pd.DataFrame, *, instrument: Instrument, fuzzy_threshold: float,
                     pinned: tuple[str, ...] = ()) -> tuple[int, int]:
    """Find the header row among the first rows: ``(row number, items matched)``.

    The score of a row is twice the number of distinct items its cells map to plus the number of
    cells that are known metadata/council/perspective headers; the first row with the best score wins.
    Returns ``(first row, 0)`` when no row maps to any item.
    """
    if grid.empty:
        return 1, 0
    top = grid.iloc[:HEADER_SCAN_ROWS]
    cells = top.to_numpy(dtype=object)
    text = [[_clean(v) for v in row if v] for row in cells]  # the first rows only
    uniq = list(dict.fromkeys(c for row in text for c in row if c))
    uniq = [c for c in uniq if "@" not in c and not _NUMERIC_OR_DATE.fullmatch(c)]  # answers, not headers
    item_of = _mapping.match_cells(uniq, instrument=instrument, fuzzy_threshold=fuzzy_threshold, pinned=pinned)
    is_role = {c: _mapping._header_role([c]) is not None for c in uniq if len(c) <= 80}
    best_row, best_items, best_score = int(top.index[0]), 0, -1.0
    for row, row_cells in zip(top.index, text, strict=True):  # loop over the first rows only
        if not row_cells:
            continue
        n_items = len({item_of.get(c) for c in row_cells} - {None})
        n_roles = sum(is_role.get(c, False) for c in row_cells)
        score = 2 * n_items + n_roles if n_items else 0.1 * n_roles
        if score > best_score:
            best_row, best_items, best_score = int(row), n_items, score
    return best_row, best_items


def _single_row_columns(grid: pd.DataFrame, row: int) -> list[ColumnSpec]:
    cells = grid.loc[row]
    return [ColumnSpec(_mapping.column_letter(p), [p], _clean(cells.iat[p]), [_clean(cells.iat[p])])
            for p in range(grid.shape[1])]


def _qualtrics_columns(grid: pd.DataFrame, rows: list[int]) -> list[ColumnSpec]:
    r1, r2 = grid.loc[rows[0]], grid.loc[rows[1]]
    out = []
    for p in range(grid.shape[1]):  # loop over columns
        short, text = _clean(r1.iat[p]), _clean(r2.iat[p])
        header = " | ".join(x for x in (short, text) if x)
        out.append(ColumnSpec(_mapping.column_letter(p), [p], header, [x for x in (text, short) if x]))
    return out


def _surveymonkey_columns(grid: pd.DataFrame, rows: list[int], instrument: Instrument) -> tuple[list[ColumnSpec], list[str]]:
    r1 = grid.loc[rows[0]].map(_clean)
    r2 = grid.loc[rows[1]].map(_clean)
    heading = r1.replace("", np.nan).ffill().fillna("")
    data = grid.loc[grid.index > rows[-1]]
    labels = _mapping.scale_label_set(instrument)
    n = grid.shape[1]
    # option columns: the cells hold the column's own sub-header (or the sub-header is a scale label)
    stmt, opt_kind = [], []
    for p in range(n):  # loop over columns
        sub = r2.iat[p]
        norm = _mapping.normalise_text(sub)
        values = data.iloc[:, p].map(_clean)
        filled = values[values != ""]
        own = bool(len(filled)) and bool((filled.str.casefold() == sub.casefold()).all())
        head, _, tail = sub.rpartition(" - ")
        if head and _mapping.normalise_text(tail) in labels:
            stmt.append(head)
            opt_kind.append("strong")
        elif norm in _mapping._GENERIC_SUBHEADERS or _mapping._FREE_TEXT_RX.search(norm):
            stmt.append(None)
            opt_kind.append("other")
        else:
            stmt.append(heading.iat[p])
            opt_kind.append("strong" if (own or norm in labels) else ("empty" if filled.empty else "other"))
    # within a run of one heading, empty columns count as options only when the run has strong ones
    runs = (heading != heading.shift()).cumsum().to_numpy()
    is_opt = np.array([k == "strong" for k in opt_kind])
    for run in np.unique(runs):  # loop over headings
        members = np.flatnonzero(runs == run)
        kinds = {opt_kind[m] for m in members}
        if "strong" in kinds:
            for m in members:
                if opt_kind[m] == "empty":
                    is_opt[m] = True
    out: list[ColumnSpec] = []
    collapsed: list[str] = []
    p = 0
    while p < n:  # walks columns, grouping runs of option columns
        if is_opt[p]:
            q = p
            while q + 1 < n and is_opt[q + 1] and runs[q + 1] == runs[p] and stmt[q + 1] == stmt[p]:
                q += 1
            if q > p:
                question = stmt[p] or heading.iat[p]
                header = heading.iat[p] if question == heading.iat[p] else f"{heading.iat[p]} | {question}"
                out.append(ColumnSpec(_mapping.column_letter(p), list(range(p, q + 1)), header, [question]))
                collapsed.append(f"{_mapping.column_letter(p)}-{_mapping.column_letter(q)}")
                p = q + 1
                continue
        sub, head = r2.iat[p], heading.iat[p]
        generic = _mapping.normalise_text(sub) in _mapping._GENERIC_SUBHEADERS
        header = " | ".join(x for x in (head, sub) if x)
        questions = [head] if generic else [sub, head]
        out.append(ColumnSpec(_mapping.column_letter(p), [p], header, [q for q in questions if q]))
        p += 1
    notes = [f"expanded layout: option columns {', '.join(collapsed[:6])}{' ...' if len(collapsed) > 6 else ''} "
             f"({len(collapsed)} group(s)) collapsed into one answer column each"] if collapsed else []
    return out, notes


def detect_layout(grid: pd.DataFrame, *, instrument: Instrument, fuzzy_threshold: float,
                  format: str | None = None, header_row: int | None = None, scanned_row: int | None = None,
                  pinned: tuple[str, ...] = ()) -> Layout:
    """Detect the format and header rows of ``grid`` and describe its columns (see module docstring).

    Parameters
    ----------
    grid
        A text grid (see :mod:`analysis.loaders.files`).
    format, header_row
        Overrides from ``mapping.yml``.
    scanned_row
        The header row already found by :func:`scan_header_rows` (saves a second scan).
    pinned
        Header texts pinned in ``mapping.yml`` (they count as item matches when finding the header).
    """
    notes: list[str] = []
    first = int(grid.index[0])
    row1 = _raw_set(grid, first)
    row3 = grid.loc[first + 2] if first + 2 in grid.index else pd.Series(dtype=str)
    has_import = bool(row3.str.contains('"ImportId"', regex=False).sum() >= 2) if len(row3) else False
    fmt = format
    if fmt is None:
        if has_import or len(row1 & _QUALTRICS) >= 3:
            fmt = "qualtrics"
        elif "respondent id" in row1 and ({"collector id", "start date"} & row1):
            fmt = "surveymonkey"
    start = header_row or first
    if fmt == "qualtrics":
        has_import = start + 2 in grid.index and grid.loc[start + 2].str.contains('"ImportId"', regex=False).sum() >= 2
        rows = [start, start + 1] + ([start + 2] if has_import else [])
        rows = [r for r in rows if r in grid.index]
        if len(rows) < 2:
            return Layout(fmt, rows, _single_row_columns(grid, rows[0]), notes)
        return Layout(fmt, rows, _qualtrics_columns(grid, rows), notes)
    if fmt == "surveymonkey":
        rows = [r for r in (start, start + 1) if r in grid.index]
        if len(rows) < 2:
            return Layout(fmt, rows, _single_row_columns(grid, rows[0]), notes)
        cols, more = _surveymonkey_columns(grid, rows, instrument)
        return Layout(fmt, rows, cols, notes + more)
    if header_row is None:
        header_row = scanned_row
    if header_row is None:
        header_row, _ = scan_header_rows(grid, instrument=instrument, fuzzy_threshold=fuzzy_threshold, pinned=pinned)
    if header_row != first:
        notes.append(f"header in row {header_row}; rows {first}-{header_row - 1} above it skipped")
    cols = _single_row_columns(grid, header_row)
    if fmt is None:
        names = _raw_set(grid, header_row)
        first_cell = _clean(grid.loc[header_row].iat[0]).casefold()
        if _MS_FORMS <= names:
            fmt = "ms_forms"
        elif first_cell == "timestamp":
            fmt = "google_forms"
        elif len(names & _SMARTSURVEY) >= 2:
            fmt = "smartsurvey"
        else:
            fmt = "handmade"
    return Layout(fmt, [header_row], cols, notes)


def build_data(grid: pd.DataFrame, layout: Layout) -> tuple[pd.DataFrame, list[ColumnSpec]]:
    """The data rows below the header as ``str`` columns keyed by letter; columns that are empty in
    the header and in every data row are dropped.

    Returns
    -------
    (data, columns)
        ``data.index`` is the 1-based source row number (named ``source_row``).
    """
    body = grid.loc[grid.index > layout.header_rows[-1]]
    empty = (body.to_numpy(dtype=object) == "").all(axis=0) if len(body) else np.ones(body.shape[1], dtype=bool)
    kept = [spec for spec in layout.columns
            if spec.header or not all(empty[p] for p in spec.positions)]
    single = [spec for spec in kept if len(spec.positions) == 1]
    data = body.iloc[:, [spec.positions[0] for spec in single]].copy()
    data.columns = [spec.letter for spec in single]
    for spec in kept:  # loop over collapsed option groups only
        if len(spec.positions) > 1:
            values = pd.Series("", index=body.index, dtype=object)
            for p in spec.positions:  # loop over option columns
                v = body.iloc[:, p]
                values = values.where(v == "", values.where(values == "", values + "; ") + v)
            data[spec.letter] = values
    letters = [spec.letter for spec in kept]
    # one constructor call converts every column to ``str`` (5x faster than DataFrame.astype)
    data = pd.DataFrame(data[letters].to_numpy(dtype=object), index=data.index, columns=letters, dtype="str")
    data.index.name = "source_row"
    return data, kept
