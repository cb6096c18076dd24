"""Finding export files and reading them into grids of text, before any interpretation.

A *grid* is an object-dtype :class:`pandas.DataFrame` of ``str`` (``""`` for an empty cell) with integer column
positions ``0..n-1`` and the 1-based row number as a spreadsheet shows it as the index. Workbooks are
read with python-calamine (every sheet from cell A1, merged cells filled from their top-left cell);
delimited text with the :mod:`csv` module after detecting the encoding and the delimiter.

Cell text rules: integers and integral floats as ``"4"`` (never ``"4.0"``), other floats as their
shortest repr, datetimes as ISO text (``2024-01-05 10:30:00``), dates ``2024-01-05``, booleans
``TRUE``/``FALSE``, empty/None/NaN as ``""``. Text cells are kept exactly (``"4 "`` stays ``"4 "``;
``"N/A"`` stays ``"N/A"``). Trailing rows and columns that are completely empty are trimmed (they are
the sheet's formatting, not data); empty rows between data rows are kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import logging
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import python_calamine as pc

from ..config import SYNTHETIC_MARKER
from ..exceptions import InputFileError

logger = logging.getLogger(__name__)

#: Suffixes read as exports (case-insensitive).
EXPORT_SUFFIXES: tuple[str, ...] = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".tsv", ".txt")
WORKBOOK_SUFFIXES: frozenset[str] = frozenset({".xlsx", ".xlsm", ".xls", ".ods"})
#: File names never read as exports (compared case-insensitively).
IGNORED_NAMES: frozenset[str] = frozenset({"mapping.yml", "mapping.yaml", SYNTHETIC_MARKER.casefold(),
                                           "thumbs.db", "desktop.ini"})

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP = b"PK\x03\x04"
_PDF = b"%PDF"
_DELIMITERS = (",", ";", "\t", "|")


@dataclass
class RawTable:
    """One sheet (or a delimited file) as a grid of text; see the module docstring."""

    sheet: str | None
    grid: pd.DataFrame
    hidden: bool = False
    notes: list[str] = field(default_factory=list)


def find_export_files(wave_dir: Path) -> list[Path]:
    """The export files of a wave folder, sorted by name.

    Only files directly in ``wave_dir`` with a suffix in :data:`EXPORT_SUFFIXES`; Office lock files
    (``~$...``), hidden files (``.name``), ``mapping.yml``, ``README*`` and the synthetic-data marker
    are skipped.

    Raises
    ------
    InputFileError
        ``wave_dir`` is not a folder.
    """
    wave_dir = Path(wave_dir)
    if not wave_dir.is_dir():
        raise InputFileError("wave folder does not exist or is not a folder", path=wave_dir,
                             hint="Put the wave's exports in data/raw/<cohort>/<wave>/.")
    out = []
    for p in wave_dir.iterdir():
        name = p.name
        if not p.is_file() or name.startswith(("~$", ".")) or name.casefold() in IGNORED_NAMES:
            continue
        if name.casefold().startswith("readme") or p.suffix.casefold() not in EXPORT_SUFFIXES:
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.name.casefold())


# --------------------------------------------------------------------------------------------
# cells to text
# --------------------------------------------------------------------------------------------
def _cell_text(v: object) -> str:
    if v is None:
        return ""
    t = type(v)
    if t is str:
        return v  # type: ignore[return-value]
    if t is float:
        if math.isnan(v) or math.isinf(v):  # type: ignore[arg-type]
            return ""
        return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else repr(v)  # type: ignore[arg-type]
    if t is bool:
        return "TRUE" if v else "FALSE"
    if t is int:
        return str(v)
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ", timespec="seconds") if v.microsecond == 0 else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return str(v)


_CELL_TEXT = np.frompyfunc(_cell_text, 1, 1)
_TYPE_OF = np.frompyfunc(type, 1, 1)


def _to_text_grid(rows: list[list[object]]) -> pd.DataFrame:
    """Turn calamine rows (rectangular lists of cell values) into a text grid, vectorised with ufuncs:
    text cells (most of a survey export) are kept as they are, the others converted by :func:`_cell_text`."""
    columns = list(itertools.zip_longest(*rows, fillvalue=""))
    arr = np.array(columns, dtype=object).reshape(len(columns), len(rows)).T
    if arr.size:
        other = _TYPE_OF(arr) != str
        if other.any():
            arr = arr.copy()
            arr[other] = _CELL_TEXT(arr[other])
    return pd.DataFrame(arr, dtype=object)


def _trim(grid: pd.DataFrame) -> pd.DataFrame:
    """Drop trailing all-empty rows and columns; number rows from 1."""
    grid.index = pd.RangeIndex(1, len(grid) + 1)
    if grid.empty:
        return grid
    filled = grid.to_numpy(dtype=object) != ""
    rows = filled.any(axis=1)
    cols = filled.any(axis=0)
    if not rows.any():
        return grid.iloc[0:0, 0:0]
    last_row = int(rows.nonzero()[0][-1]) + 1
    last_col = int(cols.nonzero()[0][-1]) + 1
    return grid.iloc[:last_row, :last_col]


# --------------------------------------------------------------------------------------------
# workbooks
# --------------------------------------------------------------------------------------------
def _sniff_binary(head: bytes, path: Path, suffix: str) -> None:
    """Raise InputFileError for files that cannot be a readable workbook of this kind."""
    if head.startswith(_OLE2) and suffix != ".xls":
        raise InputFileError("is a password-protected (encrypted) workbook, or an old-style .xls file renamed "
                             f"to {suffix}: it is an OLE2 container, not an Excel {suffix} zip", path=path,
                             hint="Open it in Excel, remove the password (File > Info > Protect Workbook) "
                                  "and save it again as .xlsx.")
    if head.startswith(_PDF):
        raise InputFileError("is a PDF document, not a spreadsheet", path=path,
                             hint="Export the survey responses as .xlsx or .csv from the survey tool instead.")


def _raise_if_corrupt_zip(path: Path, suffix: str) -> None:
    """After calamine failed: name the damaged member when a zip checksum fails (the full CRC pass is
    run only then; calamine itself checks the members it reads)."""
    if suffix not in (".xlsx", ".xlsm", ".ods"):
        return
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputFileError(f"is a corrupt or truncated zip archive, so the workbook cannot be opened ({exc})",
                             path=path, hint="Download or export the file again; it was damaged in transfer.") from exc
    if bad is not None:
        raise InputFileError(f"is corrupt: member {bad!r} of the workbook fails its checksum", path=path,
                             hint="Download or export the file again.")


def read_workbook(path: Path) -> list[RawTable]:
    """Read every sheet of a workbook (.xlsx/.xlsm/.xls/.ods) as text grids.

    Raises
    ------
    InputFileError
        Empty, encrypted, not a workbook, or a corrupt zip.
    """
    suffix = path.suffix.casefold() if path.suffix.casefold() in WORKBOOK_SUFFIXES else ".xlsx"
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not head:
        raise InputFileError("is empty (0 bytes)", path=path, hint="Export the responses again; the file has no content.")
    _sniff_binary(head, path, suffix)
    if suffix in (".xlsx", ".xlsm", ".ods"):
        if not head.startswith(_ZIP):
            raise InputFileError(f"is not a spreadsheet: a {suffix} file is a zip archive but this file starts "
                                 f"with {head[:4]!r}", path=path,
                                 hint="Check that the right file was saved here; re-export it from the survey tool "
                                      "as .xlsx or .csv.")
        try:  # the central directory only: a truncated download fails here, cheaply
            with zipfile.ZipFile(path):
                pass
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise InputFileError(f"is a corrupt or truncated zip archive, so the workbook cannot be opened ({exc})",
                                 path=path, hint="Download or export the file again; it was damaged in transfer.") from exc
    try:
        wb = pc.CalamineWorkbook.from_path(str(path))
    except pc.PasswordError as exc:
        raise InputFileError("is a password-protected workbook", path=path,
                             hint="Remove the password in Excel and save it again.") from exc
    except Exception as exc:  # calamine raises several types for unreadable files
        _raise_if_corrupt_zip(path, suffix)
        raise InputFileError(f"cannot be opened as a workbook ({type(exc).__name__}: {exc})", path=path,
                             hint="Open it in Excel to check it, then save it again as .xlsx.") from exc
    tables = []
    try:
        hidden = {m.name for m in wb.sheets_metadata if m.visible != pc.SheetVisibleEnum.Visible}
        for name in wb.sheet_names:  # loop over sheets
            sheet = wb.get_sheet_by_name(name)
            rows = sheet.to_python(skip_empty_area=False)
            grid = _to_text_grid(rows) if rows else pd.DataFrame(dtype=object)
            notes = []
            merged = sheet.merged_cell_ranges or []
            if merged and not grid.empty:
                n_filled = _fill_merged(grid, merged)
                if n_filled:
                    notes.append(f"sheet {name!r}: filled {n_filled} merged cell range(s) from their top-left cell")
            tables.append(RawTable(sheet=name, grid=_trim(grid), hidden=name in hidden, notes=notes))
    except InputFileError:
        raise
    except Exception as exc:
        _raise_if_corrupt_zip(path, suffix)
        raise InputFileError(f"cannot be read as a workbook ({type(exc).__name__}: {exc})", path=path,
                             hint="Open it in Excel to check it, then save it again as .xlsx.") from exc
    finally:
        wb.close()
    return tables


def _fill_merged(grid: pd.DataFrame, merged: list) -> int:
    """Copy each merged range's top-left value into the whole range (in place); return ranges filled."""
    n = 0
    nrows, ncols = grid.shape
    for (r0, c0), (r1, c1) in merged:  # loop over merged ranges
        if r0 >= nrows or c0 >= ncols:
            continue
        r1, c1 = min(r1, nrows - 1), min(c1, ncols - 1)
        value = grid.iat[r0, c0]
        if value == "":
            continue
        block = grid.iloc[r0:r1 + 1, c0:c1 + 1]
        if (block == "").to_numpy().sum() == block.size - 1:
            grid.iloc[r0:r1 + 1, c0:c1 + 1] = value
            n += 1
    return n


# --------------------------------------------------------------------------------------------
# delimited text
# --------------------------------------------------------------------------------------------
def decode_text(raw: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-16 (with BOM), strict UTF-8 (BOM or not), else Windows-1252.

    Returns
    -------
    (text, encoding)
        ``encoding`` is ``utf-16``, ``utf-8-sig`` (BOM present), ``utf-8`` or ``cp1252``.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        text = raw.decode("utf-8-sig")
        return text, "utf-8-sig" if raw.startswith(b"\xef\xbb\xbf") else "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252"


def sniff_delimiter(text: str, suffix: str = ".csv") -> str:
    """Pick the delimiter (``,`` ``;`` tab ``|``) that splits the first 50 lines most consistently.

    Each candidate is scored by the share of non-blank lines having the most common field count,
    then by that count; a candidate giving one field per line never wins. Quoted fields are
    respected (the lines are parsed with :mod:`csv`).
    """
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    best, best_key = ("\t" if suffix == ".tsv" else ","), (-1.0, 0)
    sample = "\n".join(lines)
    for d in _DELIMITERS:
        counts = pd.Series([len(r) for r in csv.reader(io.StringIO(sample), delimiter=d)], dtype="int64")
        if counts.empty:
            continue
        mode = int(counts.mode().max())
        if mode < 2:
            continue
        key = (round(float((counts == mode).mean()), 2), mode)
        if key > best_key:
            best, best_key = d, key
    return best


def read_delimited(path: Path) -> tuple[RawTable, str]:
    """Read a CSV/TSV/TXT export as one text grid.

    Returns
    -------
    (table, encoding)

    Raises
    ------
    InputFileError
        Empty, binary content (PDF, encrypted workbook, random bytes) or no cells.
    """
    raw = path.read_bytes()
    if not raw.strip(b" \t\r\n\xef\xbb\xbf\x00"):
        raise InputFileError("is empty: it contains no text", path=path,
                             hint="Export the responses again; the file has no content.")
    _sniff_binary(raw[:8], path, path.suffix.casefold())
    text, encoding = decode_text(raw)
    if "\x00" in text[:4096]:
        raise InputFileError("is not a spreadsheet or text export: it contains binary data", path=path,
                             hint="Re-export the responses from the survey tool as .csv or .xlsx.")
    delimiter = sniff_delimiter(text, path.suffix.casefold())
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise InputFileError(f"cannot be parsed as delimited text ({exc})", path=path,
                             hint="Open it in a spreadsheet program and save it again as CSV (UTF-8).") from exc
    columns = list(itertools.zip_longest(*rows, fillvalue=""))  # ragged records padded, in C
    grid = pd.DataFrame(dict(enumerate(columns)), dtype=object) if columns else pd.DataFrame(dtype=object)
    notes = [f"read as text with encoding {encoding} and delimiter {delimiter!r}"]
    return RawTable(sheet=None, grid=_trim(grid), notes=notes), encoding


def read_tables(path: Path) -> tuple[list[RawTable], str | None]:
    """Read any supported export into raw tables: one per sheet, or one for delimited text.

    A delimited-text suffix on a file that is really a zip workbook is read as a workbook (noted).

    Returns
    -------
    (tables, encoding)
        ``encoding`` is ``None`` for workbooks.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError("does not exist or is not a file", path=path)
    suffix = path.suffix.casefold()
    if suffix in WORKBOOK_SUFFIXES:
        return read_workbook(path), None
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP):
        tables = read_workbook(path)
        for t in tables:
            t.notes.append(f"file has a {suffix} name but is an Excel workbook; read as a workbook")
        return tables, None
    table, encoding = read_delimited(path)
    return [table], encoding
