"""Reading survey exports: one file in, one :class:`ParsedExport` per data sheet out.

:func:`read_export` reads a workbook or delimited file into text grids
(:mod:`analysis.loaders.files`), chooses the data sheet(s), detects the export format and header
rows (:mod:`analysis.loaders.formats`), and classifies and maps the columns
(:func:`analysis.mapping.map_columns`). No data row is removed: blank rows, "Average"/"Total"
rows and duplicates stay in ``data`` for cleaning to quarantine.

Sheet choice: a sheet named in ``mapping.yml`` is used alone. Otherwise every visible sheet whose
header maps to at least :data:`MIN_ITEMS` items and to at least half as many items as the best
sheet is a data sheet; hidden sheets and sheets named like notes/summaries are used only when no
other sheet qualifies. Skipped sheets are listed in ``ParsedExport.notes``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import mapping as _mapping
from ..exceptions import InputFileError, MappingError
from ..instrument import Instrument
from .base import COLUMN_ROLES, FORMATS, PERSONAL_ROLES, ParsedExport
from .files import EXPORT_SUFFIXES, RawTable, find_export_files, read_tables
from .formats import build_data, detect_layout, scan_header_rows

if TYPE_CHECKING:
    from ..mapping import FileMapping, WaveMapping

__all__ = ["COLUMN_ROLES", "EXPORT_SUFFIXES", "FORMATS", "PERSONAL_ROLES", "ParsedExport", "find_export_files",
           "read_export"]

logger = logging.getLogger(__name__)

#: A sheet is a data sheet only if its header maps to at least this many items.
MIN_ITEMS = 3
_SIDE_SHEET = re.compile(r"read ?me|instruction|note|summary|chart|pivot|lookup|list|guidance|about|dashboard|cover",
                         re.IGNORECASE)


def _settings(settings: dict[str, Any] | None) -> tuple[float, float]:
    if settings is None:
        from ..config import load_settings  # defaults only; pipeline and cli pass settings down
        settings = load_settings()
    m = settings.get("mapping", {}) if isinstance(settings, dict) else {}
    return float(m.get("fuzzy_threshold", 88)), float(m.get("fuzzy_margin", 4))


def _choose_sheets(tables: list[RawTable], path: Path, fm: FileMapping, instrument: Instrument, threshold: float,
                   pinned: tuple[str, ...]) -> tuple[list[tuple[RawTable, int]], list[str]]:
    """Return the data tables with their header row, and notes about skipped sheets."""
    if fm.sheet is not None:
        chosen = [t for t in tables if t.sheet == fm.sheet or (t.sheet or "").casefold() == fm.sheet.casefold()]
        if not chosen:
            raise InputFileError(f"mapping.yml names sheet {fm.sheet!r} but the workbook has "
                                 f"{', '.join(repr(t.sheet) for t in tables)}", path=path,
                                 hint="Correct the 'sheet' entry for this file in mapping.yml.")
        return [(chosen[0], fm.header_row or 0)], [f"sheet {chosen[0].sheet!r} chosen in mapping.yml"]
    scored = []
    for t in tables:  # loop over sheets
        if t.grid.empty:
            scored.append((t, 0, 0))
            continue
        row, n = scan_header_rows(t.grid, instrument=instrument, fuzzy_threshold=threshold, pinned=pinned)
        scored.append((t, row, n))
    best = max((n for _, _, n in scored), default=0)
    if best < MIN_ITEMS and not (len(tables) == 1 and pinned):
        if best == 0 and all(t.grid.empty for t in tables):
            raise InputFileError("is empty: no sheet has any cells", path=path,
                                 hint="Export the responses again; the file has no content.")
        found = "; ".join(f"{t.sheet!r}: {n} item(s)" if t.sheet is not None else f"{n} item(s)" for t, _, n in scored)
        raise InputFileError(f"contains no table of instrument items: no sheet has a header row with at least "
                             f"{MIN_ITEMS} columns matching statements or enablers ({found})", path=path,
                             hint="Check that this is the diagnostic survey export; if its headers are coded "
                                  "(e.g. Q1..Q33), pin them in the wave's mapping.yml.")
    ok = [(t, r, n) for t, r, n in scored if n >= max(MIN_ITEMS, best / 2) or (best < MIN_ITEMS and n == best)]
    main = [(t, r, n) for t, r, n in ok if not t.hidden and not _SIDE_SHEET.search(t.sheet or "")]
    chosen3 = main or ok
    notes = []
    for t, _, n in scored:
        if t.sheet is not None and all(t is not c for c, _, _ in chosen3):
            why = "hidden" if t.hidden else ("empty" if t.grid.empty else f"{n} item column(s)")
            notes.append(f"skipped sheet {t.sheet!r} ({why})")
    return [(t, r) for t, r, _ in chosen3], notes


def _council_hint(fm: FileMapping, path: Path, sheet: str | None, n_sheets: int) -> tuple[str | None, str | None]:
    if fm.council:
        return fm.council, "council taken from mapping.yml"
    base = sheet if (sheet and n_sheets > 1) else path.stem
    name = " ".join(re.sub(r"[_\-]+", " ", base).split())
    return name or None, f"no council column: council taken from the {'sheet' if base == sheet else 'file'} name {name!r}"


def read_export(path: Path, *, source_file: str, instrument: Instrument, mapping: WaveMapping | None = None,
                settings: dict[str, Any] | None = None) -> list[ParsedExport]:
    """Read one export file into one :class:`ParsedExport` per data sheet.

    Parameters
    ----------
    path
        The file.
    source_file
        Its path relative to the cohort's raw folder (shown in messages and outputs).
    instrument
        The instrument whose items are mapped.
    mapping
        The wave's ``mapping.yml`` (see :mod:`analysis.mapping`), if any.
    settings
        Analysis settings (``mapping.fuzzy_threshold``, ``mapping.fuzzy_margin``); the package
        defaults when ``None``.

    Returns
    -------
    list of ParsedExport
        One per data sheet (one for CSV), in sheet order.

    Raises
    ------
    InputFileError
        Empty file, header only, not a spreadsheet, corrupt zip, password-protected workbook, or no
        sheet with instrument items. The message names ``source_file``.
    MappingError
        A column matches two items equally, two columns map to one item, or an item of the form
        has no column. The message lists the candidates and suggests a ``mapping.yml`` pin.
    """
    path = Path(path)
    threshold, margin = _settings(settings)
    fm = mapping.for_file(path.name) if mapping is not None else _mapping.FileMapping()
    if mapping is not None and source_file != path.name and path.name not in mapping.files:
        fm = mapping.for_file(source_file)
    try:
        tables, encoding = read_tables(path)
    except InputFileError as exc:
        raise InputFileError(exc.message, path=source_file, hint=exc.hint) from exc
    pinned = tuple(k for k in fm.columns if not re.fullmatch(r"[A-Z]{1,3}", k))
    chosen, sheet_notes = _choose_sheets(tables, Path(source_file), fm, instrument, threshold, pinned)
    out = []
    for table, header_row in chosen:  # loop over data sheets
        out.append(_parse_table(table, header_row or fm.header_row, path=path, source_file=source_file,
                                instrument=instrument, fm=fm, threshold=threshold, margin=margin,
                                encoding=encoding, notes=sheet_notes, n_sheets=len(chosen)))
    return out


def _parse_table(table: RawTable, header_row: int | None, *, path: Path, source_file: str, instrument: Instrument,
                 fm: FileMapping, threshold: float, margin: float, encoding: str | None, notes: list[str],
                 n_sheets: int) -> ParsedExport:
    grid = table.grid
    if grid.empty:
        raise InputFileError("is empty: it has no cells", path=source_file, sheet=table.sheet,
                             hint="Export the responses again; the file has no content.")
    if fm.header_row is not None and fm.header_row not in grid.index:
        raise InputFileError(f"mapping.yml sets header_row {fm.header_row} but the sheet has only {len(grid)} rows",
                             path=source_file, sheet=table.sheet, hint="Correct 'header_row' for this file in mapping.yml.")
    pinned = tuple(k for k in fm.columns if not re.fullmatch(r"[A-Z]{1,3}", k))
    layout = detect_layout(grid, instrument=instrument, fuzzy_threshold=threshold, format=fm.format,
                           header_row=fm.header_row, scanned_row=header_row or None, pinned=pinned)
    data, specs = build_data(grid, layout)
    if data.empty:
        raise InputFileError(f"has a header (row {', '.join(map(str, layout.header_rows))}) but no data rows below it",
                             path=source_file, sheet=table.sheet,
                             hint="Export the responses again after people have answered, or remove the file "
                                  "from the wave folder.")
    columns = _mapping.map_columns([s.header for s in specs], instrument=instrument, pins=fm.columns,
                                   fuzzy_threshold=threshold, fuzzy_margin=margin, path=source_file,
                                   sheet=table.sheet, letters=[s.letter for s in specs],
                                   questions=[s.questions for s in specs], data=data)
    form = columns.attrs.get("form", "full")
    fmt = layout.format
    all_notes = [*table.notes, *notes, *layout.notes]
    if fmt == "handmade" and layout.header_rows == [int(grid.index[0])] and fm.format is None:
        roles = set(columns["role"])
        item_match = columns.loc[columns["role"] == "item", "match"]
        if "council" in roles and "unmapped" not in roles and item_match.isin(["exact", "pinned"]).all():
            fmt = "tidy_wide"
    council_hint = None
    if fm.council or "council" not in set(columns["role"]):
        council_hint, why = _council_hint(fm, path, table.sheet, n_sheets)
        all_notes.append(why)
    unmapped = columns.loc[columns["role"] == "unmapped", "header"].tolist()
    if unmapped:
        all_notes.append(f"{len(unmapped)} column(s) match no item and are dropped: "
                         + "; ".join(repr(h[:50]) for h in unmapped[:10]))
    recode = _check_recode(fm.recode, instrument, source_file)
    logger.debug("%s%s: format %s, header rows %s, %d rows, %d item columns", source_file,
                 f" [{table.sheet}]" if table.sheet else "", fmt, layout.header_rows, len(data),
                 int((columns["role"] == "item").sum()))
    columns.attrs = {}
    return ParsedExport(path=path, source_file=source_file, sheet=table.sheet, format=fmt,
                        header_rows=layout.header_rows, data=data, columns=columns.reset_index(drop=True),
                        form=form, council_hint=council_hint, recode=recode, encoding=encoding, notes=all_notes)


def _check_recode(recode: dict[str, dict[str, float | None]], instrument: Instrument,
                  source_file: str) -> dict[str, dict[str, float | None]]:
    known = set(instrument.items["item_id"])
    for item in recode:
        if item != "*" and item not in known:
            raise MappingError(f"mapping.yml recodes {item!r}, which is not an item id", path=source_file,
                               hint="Use an item id such as E03S2 or '*' for every item column.")
    return {k: dict(v) for k, v in recode.items()}
