"""Ingest one wave: every data row of every export accepted or quarantined, and a tidy table.

:func:`load_wave` reads each export of a wave folder (:mod:`analysis.loaders`), turns answers into
scores (:mod:`analysis.cleaning`), replaces identities with salted keys (:mod:`analysis.privacy`),
quarantines blank, summary, empty, unknown-council and superseded rows, and returns an
:class:`IngestResult` whose ``responses`` table is validated by :mod:`analysis.schema`.

Row accounting: for every file and sheet, ``rows_read == accepted + quarantined`` (checked from the
tables themselves; a mismatch raises :class:`~analysis.exceptions.RowAccountingError`, a bug).
Nothing personal leaves this module: personal columns are split off first and used only for keys
(and, with ``keep_comments``, masked free text).
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import cleaning, privacy
from .exceptions import (DiagnosticsError, InputFileError, RegisterError, RowAccountingError,
                         SchemaMismatchError, ValidationFailed)
from .instrument import Instrument
from .loaders.base import ParsedExport
from .schema import RESPONSES_COLUMNS, validate_responses

logger = logging.getLogger(__name__)

#: Quarantine reasons, in the order they are decided (see :func:`analysis.cleaning.classify_rows`).
REASONS: tuple[str, ...] = ("blank_row", "summary_row", "empty_response", "unknown_council",
                            "superseded_duplicate", "skipped_file")
QUARANTINE_COLUMNS = ["source_file", "sheet", "source_row", "reason", "detail"]
CELL_ISSUE_COLUMNS = ["source_file", "sheet", "source_row", "column", "item_id", "raw_value", "kind"]
COUNCIL_COLUMNS = ["council_id", "council_name", "n_respondents", "in_register", "invited"]
COMMENT_COLUMNS = ["wave", "council_id", "respondent_key", "question", "comment"]
REGISTER_FILE = "cohort.csv"
_RAW_VALUE_MAX = 40


@dataclass
class IngestResult:
    """Everything :func:`load_wave` learnt about one wave (tables described in docs/architecture.md).

    Attributes
    ----------
    wave
        Wave folder name.
    responses
        Tidy table, one row per accepted respondent x item of their form.
    quarantine
        ``source_file, sheet, source_row, reason, detail``: every data row not accepted.
    cell_issues
        ``source_file, sheet, source_row, column, item_id, raw_value, kind``: every non-blank answer
        read as missing.
    files
        One row per file/sheet with row accounting and per-reason counts (``q_<reason>``).
    councils
        ``council_id, council_name, n_respondents, in_register``.
    comments
        Masked free text (only with ``keep_comments``), else ``None``.
    errors
        File-level problems (the skipped files when ``skip_bad_files``).
    notes
        Remarks for the run log and validate (e.g. no register).
    """

    wave: str
    responses: pd.DataFrame
    quarantine: pd.DataFrame
    cell_issues: pd.DataFrame
    files: pd.DataFrame
    councils: pd.DataFrame
    comments: pd.DataFrame | None = None
    errors: list[DiagnosticsError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary for ``ingest_summary.json``: files, totals, reasons, issues, notes."""
        files = self.files.astype(object).where(self.files.notna(), None).to_dict("records")
        for rec in files:
            for key, value in rec.items():
                if isinstance(value, (np.integer, np.bool_)):
                    rec[key] = value.item()
        reasons = self.quarantine["reason"].value_counts().reindex(REASONS, fill_value=0)
        kinds = self.cell_issues["kind"].value_counts().reindex(cleaning.ISSUE_KINDS, fill_value=0)
        return {
            "wave": self.wave,
            "totals": {
                "files": int(self.files["source_file"].nunique()),
                "files_skipped": int((self.files["status"] == "skipped").sum()),
                "rows_read": int(self.files["rows_read"].sum()),
                "accepted": int(self.files["accepted"].sum()),
                "quarantined": int(self.files["quarantined"].sum()),
                "respondents": int(self.responses["respondent_key"].nunique()),
                "councils_with_responses": int((self.councils["n_respondents"] > 0).sum()),
                "cell_issues": int(len(self.cell_issues)),
            },
            "quarantine_reasons": {k: int(v) for k, v in reasons.items()},
            "cell_issues_by_kind": {k: int(v) for k, v in kinds.items()},
            "files": files,
            "notes": list(self.notes),
            "errors": [str(e) for e in self.errors],
        }


# --------------------------------------------------------------------------------------------
# Register and waves
# --------------------------------------------------------------------------------------------

def load_register(cohort_dir: Path) -> pd.DataFrame | None:
    """Read ``<cohort_dir>/cohort.csv``: ``council_id, name[, aliases, type, region, invited, invited_<wave>...]``.

    ``aliases`` holds other spellings separated by ``|``. ``invited`` is the number of staff
    invited to take part (blank = unknown), used for response rates; ``invited_<wave>`` (e.g.
    ``invited_2025-01``) overrides it for one wave. Returns ``None`` when there is no file.

    Raises
    ------
    RegisterError
        Naming the row (as a spreadsheet shows it) and column of a missing id or name, a duplicate
        id, or a name/alias that two councils share after normalisation.
    """
    path = Path(cohort_dir) / REGISTER_FILE
    if not path.exists():
        return None
    hint = "Fix cohort.csv: one row per council with a unique council_id and name; aliases separated by '|'."
    try:
        reg = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise RegisterError(f"cannot read the cohort register: {exc}", path=path, hint=hint) from exc
    reg.columns = [str(c).strip().casefold() for c in reg.columns]
    for col in ("council_id", "name"):
        if col not in reg.columns:
            raise RegisterError(f"the register has no {col!r} column (columns: {', '.join(reg.columns)})",
                                path=path, column=col, hint=hint)
    for col in ("aliases", "type", "region"):
        if col not in reg.columns:
            reg[col] = ""
    reg = reg.apply(lambda c: c.str.strip())
    for col in ("council_id", "name"):
        empty = reg.index[reg[col] == ""]
        if len(empty):
            raise RegisterError(f"{col} is empty", path=path, row=int(empty[0]) + 2, column=col, hint=hint)
    dup = reg["council_id"].duplicated(keep="first")
    if dup.any():
        i = int(reg.index[dup][0])
        first = int(reg.index[reg["council_id"] == reg.at[i, "council_id"]][0])
        raise RegisterError(f"council_id {reg.at[i, 'council_id']!r} is already used on row {first + 2}",
                            path=path, row=i + 2, column="council_id", hint=hint)
    keys = cleaning.register_keys(reg)
    unnamed = reg.index[cleaning.normalise_council_name(reg["name"]).isna()]
    if len(unnamed):
        i = int(unnamed[0])
        raise RegisterError(f"name {reg.at[i, 'name']!r} has no distinctive word (only words such as 'council')",
                            path=path, row=i + 2, column="name", hint=hint)
    clash = keys.groupby("key")["council_id"].transform("nunique") > 1
    if clash.any():
        key = keys.loc[clash, "key"].iloc[0]
        ids = keys.loc[keys["key"] == key, "council_id"].tolist()
        raws = keys.loc[keys["key"] == key, "raw"].tolist()
        row = int(reg.index[reg["council_id"] == ids[1]][0]) + 2
        raise RegisterError(
            f"{raws[1]!r} (council {ids[1]}) and {raws[0]!r} (council {ids[0]}) read as the same name "
            f"{key!r}, so answers could not be told apart", path=path, row=row, column="aliases",
            hint="Remove or change one of them so every name and alias belongs to one council.")
    invited = [c for c in reg.columns if c == "invited" or c.startswith("invited_")]
    for col in invited:
        reg[col] = _headcounts(reg[col], path=path, column=col)
    return reg[["council_id", "name", "aliases", "type", "region", *invited]].reset_index(drop=True)


def _headcounts(values: pd.Series, *, path: Path, column: str) -> pd.Series:
    """Parse an ``invited`` column of the register: blank or a whole number of staff >= 1."""
    text = values.str.replace(",", "", regex=False).str.strip()
    num = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & (num.isna() | (num < 1) | (num % 1 != 0))
    if bad.any():
        i = int(values.index[bad][0])
        raise RegisterError(f"{column} is {values.at[i]!r}, not a whole number of staff invited", path=path, row=i + 2,
                            column=column, hint=f"Give {column} as a whole number such as 120, or leave it blank "
                                                "when the headcount is not known (the reports then say the "
                                                "response rate is unknown).")
    return num.astype("Int64")


def invited_for_wave(register: pd.DataFrame | None, wave: str) -> pd.Series:
    """Staff invited per council in ``wave``: column ``invited_<wave>`` where given, else ``invited``.

    Returns a nullable integer Series indexed by ``council_id`` (``<NA>`` = unknown); empty when the
    register is absent or has no ``invited`` column.
    """
    if register is None:
        return pd.Series(dtype="Int64")
    out = pd.Series(pd.NA, index=register["council_id"].to_numpy(), dtype="Int64")
    for col in ("invited", f"invited_{str(wave).casefold()}"):
        if col in register.columns:
            values = pd.Series(register[col].to_numpy(), index=out.index, dtype="Int64")
            out = values.where(values.notna(), out)
    return out


def _loaders() -> Any:
    return importlib.import_module("analysis.loaders")


def list_waves(cohort_dir: Path) -> list[str]:
    """Names of the sub-folders of ``cohort_dir`` that contain export files, sorted by name."""
    find = _loaders().find_export_files
    return sorted(p.name for p in Path(cohort_dir).iterdir()
                  if p.is_dir() and not p.name.startswith(".") and find(p))


# --------------------------------------------------------------------------------------------
# One export
# --------------------------------------------------------------------------------------------

def _first(export: ParsedExport, role: str) -> str | None:
    keys = export.keys_with_role(role)
    return keys[0] if keys else None


def _identity_columns(export: ParsedExport, personal: pd.DataFrame) -> pd.DataFrame:
    """Email, full name and export id of each row (personal; used only for keys)."""
    cols = export.columns.set_index("key")
    recipients = export.keys_with_role("recipient")
    emails = export.keys_with_role("email") or [k for k in recipients if "mail" in str(cols.at[k, "header"]).casefold()]
    names = export.keys_with_role("name") or [k for k in recipients if "name" in str(cols.at[k, "header"]).casefold()]
    empty = pd.Series("", index=export.data.index, dtype=object)
    email = personal[emails[0]] if emails else empty
    name = empty
    for k in names:  # vectorised over rows, one step per name column (first, last ...)
        name = name + " " + personal[k].astype(str).str.strip()
    rid_key = _first(export, "respondent_id")
    return pd.DataFrame({"email": email, "name": name,
                         "respondent_id": export.data[rid_key] if rid_key else empty},
                        index=export.data.index)


def _clean_export(export: ParsedExport, instrument: Instrument, register: pd.DataFrame | None) -> dict[str, Any]:
    """Parse one export (no wave-level decisions). Raises SchemaMismatchError for file-level problems."""
    where = {"path": export.source_file, "sheet": export.sheet}
    if export.data.index.has_duplicates:
        raise InputFileError("the loader returned duplicate row numbers", **where,
                             hint="This is a bug in the loader; please report it.")
    cols = export.columns.set_index("key")
    items = export.item_columns()
    known = dict(zip(instrument.items["item_id"], instrument.items["form"], strict=True))
    bad = {k: i for k, i in items.items() if i not in known}
    if bad:
        k, i = next(iter(bad.items()))
        raise SchemaMismatchError(f"item id {i!r} is not in instrument {instrument.id}", **where,
                                  column=str(cols.at[k, "header"]), hint="Fix the item id in mapping.yml.")
    seen: dict[str, str] = {}
    for k, i in items.items():
        if i in seen:
            raise SchemaMismatchError(
                f"columns {cols.at[seen[i], 'header']!r} and {cols.at[k, 'header']!r} both map to item {i}",
                **where, column=str(cols.at[k, "header"]), hint="Pin the right column for this item in mapping.yml.")
        seen[i] = k
    notes = [f"{export.source_file}: {n}" for n in export.notes]
    other_form = {k: i for k, i in items.items() if known[i] != export.form}
    if other_form:
        notes.append(f"{export.source_file}: ignored {len(other_form)} column(s) of the other form "
                     f"({', '.join(sorted(other_form.values()))}); the file is read as the {export.form} form")
        items = {k: i for k, i in items.items() if k not in other_form}

    scale = instrument.scale
    issues: list[pd.DataFrame] = []
    recodes = {key: {**export.recode.get("*", {}), **export.recode.get(item_id, {})} for key, item_id in items.items()}
    plain = [k for k in items if not recodes[k]]
    recoded = [k for k in items if recodes[k]]
    flagged = cleaning.check_code_sets(export.data[plain], scale=scale) if plain else {}
    drift = [f"column {cols.at[k, 'header']!r}: {msg}" for k, msg in flagged.items()]
    plain = [k for k in plain if k not in flagged]
    # Unrecoded columns are parsed as one block (one parse per distinct answer); recoded ones one by one.
    block_scores, block_kinds = cleaning.parse_answer_block(export.data[plain], scale=scale)
    parts_s, parts_k = [block_scores], [block_kinds]
    for key in recoded:  # loop over the (few) columns with a recode in mapping.yml
        parsed = cleaning.parse_answers(export.data[key], scale=scale, recode=recodes[key])
        parts_s.append(parsed["score"].rename(key).to_frame())
        parts_k.append(parsed["kind"].astype(object).where(parsed["kind"].notna(), None).rename(key).to_frame())
    order = [k for k in items if k in plain or k in recoded]
    scores = pd.concat(parts_s, axis=1)[order] if order else pd.DataFrame(index=export.data.index)
    kinds = pd.concat(parts_k, axis=1)[order] if order else pd.DataFrame(index=export.data.index)
    r, c = np.nonzero(kinds.notna().to_numpy())
    if r.size:
        raw_cells = export.data[order].to_numpy(dtype=object)
        issues.append(pd.DataFrame({
            "source_row": export.data.index.to_numpy()[r],
            "column": np.array([str(cols.at[k, "header"]) for k in order], dtype=object)[c],
            "item_id": np.array([items[k] for k in order], dtype=object)[c],
            "raw_value": raw_cells[r, c],  # redacted once for the whole wave in load_wave
            "kind": kinds.to_numpy(dtype=object)[r, c]}))
    if drift:
        raise SchemaMismatchError(
            "; ".join(drift), **where, column=None,
            hint="Add a 'recode' for these columns in the wave's mapping.yml (raw code -> score) after "
                 "checking the survey tool's answer codes; the codes cannot be trusted as they are.")

    kept, personal = privacy.split_personal_columns(export)
    council_key = _first(kept, "council")
    data = export.data
    blank_fill = ""
    if export.council_hint:
        blank_fill = export.council_hint
    council_raw = (data[council_key].astype(str).str.strip() if council_key
                   else pd.Series("", index=data.index, dtype=object))
    council_raw = council_raw.where(council_raw != "", blank_fill)
    from_file = None if export.council_hint else cleaning.council_from_filename(Path(export.source_file).stem, register=register)
    persp_key = _first(kept, "perspective")
    time_key = _first(kept, "completed_at") or _first(kept, "started_at")
    empty_obj = pd.Series("", index=data.index, dtype=object)
    rows = pd.DataFrame({
        "council_raw": council_raw.astype(object),
        "perspective": (cleaning.normalise_perspective(data[persp_key], instrument=instrument) if persp_key
                        else pd.Series(pd.NA, index=data.index, dtype="string")),
        "completed_at": cleaning.parse_timestamps(data[time_key] if time_key else empty_obj),
    }, index=data.index)
    rows = rows.join(_identity_columns(export, personal))
    comments = None
    free = export.keys_with_role("free_text")
    if free:
        comments = (personal[free].rename(columns=lambda k: str(cols.at[k, "header"]))
                    .rename_axis("source_row").reset_index()
                    .melt(id_vars="source_row", var_name="question", value_name="comment"))
        comments = comments[comments["comment"].astype(str).str.strip() != ""]
    return {"export": export, "scores": scores, "issues": issues, "rows": rows, "council_key": council_key,
            "id_keys": export.keys_with_role("respondent_id"), "items": items, "from_file": from_file,
            "comments": comments, "notes": notes, "personal_keys": list(personal.columns)}


# --------------------------------------------------------------------------------------------
# The wave
# --------------------------------------------------------------------------------------------

def check_row_accounting(files: pd.DataFrame, quarantine: pd.DataFrame, accepted: pd.DataFrame) -> None:
    """Check ``rows_read == accepted + quarantined`` for every file/sheet from the tables themselves.

    Parameters
    ----------
    files
        ``source_file, sheet, rows_read`` per file/sheet.
    quarantine
        The quarantine table.
    accepted
        One row per accepted respondent row: ``source_file, sheet, source_row``.

    Raises
    ------
    RowAccountingError
        Naming the file and sheet whose counts disagree (always a bug).
    """
    keys = ["source_file", "_sheet"]
    q = _with_sheet_key(quarantine).groupby(keys).size().rename("q")
    a = _with_sheet_key(accepted).groupby(keys).size().rename("a")
    counts = _with_sheet_key(files).set_index(keys)[["rows_read"]].join(q).join(a).fillna(0)
    extra = set(q.index).union(a.index) - set(counts.index)
    bad = counts[counts["rows_read"] != counts["q"] + counts["a"]]
    if extra or len(bad):
        file, sheet = next(iter(extra)) if extra else bad.index[0]
        detail = ("rows were classified for a file/sheet that was never read" if extra else
                  f"{int(bad.iloc[0]['rows_read'])} rows read but {int(bad.iloc[0]['a'])} accepted + "
                  f"{int(bad.iloc[0]['q'])} quarantined")
        raise RowAccountingError(detail, path=file, sheet=None if sheet == _NO_SHEET else sheet,
                                 hint="This is a bug: please report it with the file (rows were lost or double-counted).")


_NO_SHEET = "\0"


def _with_sheet_key(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` plus ``_sheet``: the sheet name, or a marker for CSV files (groupby drops missing keys)."""
    return df.assign(_sheet=df["sheet"].astype(object).where(df["sheet"].notna(), _NO_SHEET))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _responses(accepted: pd.DataFrame, cleaned: list[dict[str, Any]], instrument: Instrument, wave: str) -> pd.DataFrame:
    """The tidy table: one row per accepted respondent x item of their form, in read order.

    Built with numpy (one block per file: respondents x items, raveled), not melt/join per file.
    Text columns are made ``str`` once per respondent (or per item) and then repeated with ``take``,
    so no per-row string conversion is paid on the long table.
    """
    pos = dict(zip(instrument.items["item_id"], instrument.items["position"], strict=True))
    items_all = instrument.items
    item_row = {i: k for k, i in enumerate(items_all["item_id"])}
    scores: list[np.ndarray] = []
    resp_of_row: list[np.ndarray] = []   # index into the accepted respondents kept below
    item_of_row: list[np.ndarray] = []   # index into instrument.items
    resp_frames: list[pd.DataFrame] = []
    n_resp_total = 0
    export_idx = accepted["export_idx"].to_numpy()
    for idx, c in enumerate(cleaned):  # loop over files
        acc = accepted[export_idx == idx]
        if acc.empty:
            continue
        form_items = instrument.form_items(c["export"].form)
        item_ids = form_items["item_id"].tolist()
        wide = (c["scores"].rename(columns=c["items"])
                .reindex(index=acc["source_row"].to_numpy(), columns=item_ids).to_numpy(dtype="float64"))
        n_resp, n_items = wide.shape
        scores.append(wide.ravel())                       # respondent-major, items in form order
        resp_of_row.append(np.repeat(np.arange(n_resp_total, n_resp_total + n_resp), n_items))
        item_of_row.append(np.tile(np.array([item_row[i] for i in item_ids], dtype=np.intp), n_resp))
        resp_frames.append(acc.assign(form=c["export"].form))
        n_resp_total += n_resp
    if not scores:
        out = pd.DataFrame({c: pd.Series(dtype="str") for c in RESPONSES_COLUMNS})
        return out.astype({"score": "float64", "source_row": "int64"})
    resp = pd.concat(resp_frames, ignore_index=True)
    score = np.concatenate(scores)
    r_idx = np.concatenate(resp_of_row)
    i_idx = np.concatenate(item_of_row)
    item_pos = np.array([pos[i] for i in items_all["item_id"]])
    order = np.lexsort((item_pos[i_idx], resp["order"].to_numpy(dtype="int64")[r_idx]))  # read order, then instrument order
    r_idx, i_idx = r_idx[order], i_idx[order]

    def text(values: Any, at: np.ndarray) -> pd.arrays.StringArray:
        return pd.array(np.asarray(values, dtype=object), dtype="str").take(at)

    out = pd.DataFrame({
        "wave": text([wave], np.zeros(len(order), dtype=np.intp)),
        **{c: text(resp[c].astype(object).where(resp[c].notna(), None).to_numpy(dtype=object), r_idx)
           for c in ("council_id", "council_name", "respondent_key", "perspective", "form")},
        "item_id": text(items_all["item_id"].to_numpy(dtype=object), i_idx),
        "enabler_id": text(items_all["enabler_id"].to_numpy(dtype=object), i_idx),
        "score": score[order],
        "source_file": text(resp["source_file"].to_numpy(dtype=object), r_idx),
        "source_row": resp["source_row"].to_numpy(dtype="int64")[r_idx],
    })
    return out[list(RESPONSES_COLUMNS)]


def load_wave(wave_dir: Path, *, instrument: Instrument, register: pd.DataFrame | None, salt: bytes,
              settings: dict[str, Any], skip_bad_files: bool = False, keep_comments: bool = False,
              cohort_dir: Path | None = None) -> IngestResult:
    """Read, clean and account for every data row of one wave.

    Parameters
    ----------
    wave_dir
        The wave folder (``data/raw/<cohort>/<wave>``).
    instrument
        The diagnostic instrument.
    register
        The cohort register (:func:`load_register`) or ``None`` (councils are the names found).
    salt
        Cohort salt for respondent keys (:func:`analysis.privacy.load_or_create_salt`).
    settings
        Analysis settings, passed to the loaders (fuzzy matching thresholds).
    skip_bad_files
        Record unreadable/mismatching files as skipped instead of failing the wave.
    keep_comments
        Also return masked free-text answers.
    cohort_dir
        Folder that ``source_file`` is relative to; default ``wave_dir.parent``.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationFailed
        Some files could not be used and ``skip_bad_files`` is false (every file is checked first).
    InputFileError
        The folder holds no export files.
    RowAccountingError
        Rows were lost (a bug).
    """
    wave_dir = Path(wave_dir)
    cohort_dir = Path(cohort_dir) if cohort_dir is not None else wave_dir.parent
    wave = wave_dir.name
    loaders = _loaders()
    mapping = importlib.import_module("analysis.mapping").load_mapping(wave_dir)
    paths = loaders.find_export_files(wave_dir)
    if not paths:
        raise InputFileError("no survey export files (.xlsx, .xls, .csv ...) in the wave folder", path=wave_dir,
                             hint="Put the wave's exports in this folder or check the folder name.")
    errors: list[DiagnosticsError] = []
    notes: list[str] = []
    cleaned: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for path in paths:
        source_file = Path(path).resolve().relative_to(cohort_dir.resolve()).as_posix()
        try:
            exports = loaders.read_export(path, source_file=source_file, instrument=instrument,
                                          mapping=mapping, settings=settings)
        except DiagnosticsError as exc:
            errors.append(exc)
            skipped.append({"source_file": source_file, "sheet": None, "error": exc, "export": None})
            continue
        for export in exports:
            try:
                cleaned.append(_clean_export(export, instrument, register))
            except DiagnosticsError as exc:
                errors.append(exc)
                skipped.append({"source_file": export.source_file, "sheet": export.sheet, "error": exc, "export": export})
    if errors and not skip_bad_files:
        raise ValidationFailed(errors, hint="Fix the files listed, or run with --skip-bad-files to leave them out of this wave.")
    for s in skipped:
        notes.append(f"skipped {s['source_file']}{'' if s['sheet'] is None else ' sheet ' + repr(s['sheet'])}: {s['error']}")
        logger.info("skipped %s: %s", s["source_file"], s["error"])  # callers report them (validate, run summary)

    # rows of every export, in read order
    frames = []
    for idx, c in enumerate(cleaned):
        e = c["export"]
        r = c["rows"].rename_axis("source_row").reset_index()
        r["export_idx"] = idx
        r["source_file"] = e.source_file
        r["sheet"] = e.sheet
        frames.append(r)
        notes.extend(c["notes"])
    rows = (pd.concat(frames, ignore_index=True) if frames else
            pd.DataFrame(columns=["source_row", "export_idx", "source_file", "sheet", "council_raw", "perspective",
                                  "completed_at", "email", "name", "respondent_id"]))
    rows["order"] = np.arange(len(rows))
    # a council cell holding an email or phone number names no council (and must not become an id)
    raw_text = cleaning.blank_to_empty(rows["council_raw"]).astype(str).str.strip()
    masked = privacy.mask_personal_text(raw_text).astype(object)
    personal_cell = (masked != raw_text).to_numpy(dtype=bool)
    matched = cleaning.match_councils(raw_text.where(~personal_cell, ""), register=register)
    rows = rows.join(matched)
    for idx, c in enumerate(cleaned):
        if c["from_file"] is not None:
            m = (rows["export_idx"] == idx) & ~rows["matched"] & (rows["council_raw"].astype(str).str.strip() == "")
            rows.loc[m, ["council_id", "council_name"]] = list(c["from_file"])
            rows.loc[m, "matched"] = True
    if register is None:
        n = rows.loc[rows["matched"], "council_id"].nunique()
        notes.append(f"no cohort register ({REGISTER_FILE}): councils are the {n} names found in the exports")

    # quarantine reasons per export
    reason_parts = []
    for idx, c in enumerate(cleaned):
        sel = rows["export_idx"] == idx
        sub = rows.loc[sel]
        cls = cleaning.classify_rows(c["export"].data, scores=c["scores"], item_keys=list(c["scores"].columns),
                                     council_key=c["council_key"], id_keys=c["id_keys"],
                                     matched=pd.Series(sub["matched"].to_numpy(), index=c["export"].data.index),
                                     skip_keys=c["personal_keys"])
        reason_parts.append(cls.reset_index(drop=True).set_index(sub.index))
    if reason_parts:
        rows = rows.join(pd.concat(reason_parts))
    else:
        rows["reason"], rows["detail"] = pd.Series(dtype="string"), pd.Series(dtype="string")
    unk = rows["reason"] == "unknown_council"
    masked = masked.astype(str).str.slice(0, 60)
    why = ("' is not in the cohort register; add it or an alias to cohort.csv" if register is not None
           else "' does not name a council (it holds an email address or phone number)")
    rows.loc[unk & (raw_text != ""), "detail"] = ("council '" + masked + why)[unk & (raw_text != "")]
    rows.loc[unk & (raw_text == ""), "detail"] = ("no council: the council cell is blank and neither mapping.yml "
                                                  "nor the file name names one")

    # respondent keys (scoped by council) and duplicates across the wave
    ident = rows[["email", "name", "source_file", "sheet", "respondent_id"]].assign(
        row=rows["source_row"].astype(str), scope=rows["council_id"].astype(object).fillna(""))
    rows["respondent_key"] = privacy.respondent_keys(ident, salt=salt) if len(rows) else pd.Series(dtype="str")
    rows = rows.drop(columns=["email", "name", "respondent_id"])
    acc = rows["reason"].isna()
    cand = rows.loc[acc].copy()
    grp = [cand["council_id"], cand["respondent_key"]]
    has_nat = cand["completed_at"].isna().groupby(grp).transform("any")
    cand["_t"] = cand["completed_at"].where(~has_nat, pd.Timestamp(0))
    cand = cand.sort_values(["_t", "order"], kind="stable")
    last = ~cand.duplicated(["council_id", "respondent_key"], keep="last")
    kept = cand.loc[last].set_index(["council_id", "respondent_key"])
    sup = cand.loc[~last]
    if len(sup):
        k = kept.loc[list(zip(sup["council_id"], sup["respondent_key"], strict=True))]
        where = k["source_file"].to_numpy().astype(str) + np.where(k["sheet"].isna(), "", " sheet '" + k["sheet"].astype(str) + "'") \
            + " row " + k["source_row"].astype(str).to_numpy()
        why = np.where(has_nat.loc[sup.index].to_numpy(), "read later", "completed later")
        rows.loc[sup.index, "reason"] = "superseded_duplicate"
        rows.loc[sup.index, "detail"] = "same respondent answered again; kept " + pd.Series(where, index=sup.index) \
            + " (" + pd.Series(why, index=sup.index) + ")"

    # skipped files: every readable row quarantined
    skip_rows = []
    for s in skipped:
        e = s["export"]
        if e is not None and len(e.data):
            skip_rows.append(pd.DataFrame({"source_file": e.source_file, "sheet": e.sheet, "source_row": e.data.index,
                                           "reason": "skipped_file", "detail": f"file skipped: {s['error'].message[:150]}"}))
    quarantine = pd.concat([rows.loc[rows["reason"].notna(), QUARANTINE_COLUMNS], *skip_rows], ignore_index=True) \
        if (rows["reason"].notna().any() or skip_rows) else _empty(QUARANTINE_COLUMNS)
    quarantine = quarantine.astype({"source_row": "int64"}).assign(detail=privacy.mask_personal_text(quarantine["detail"]).astype(object))

    accepted = rows.loc[rows["reason"].isna()]
    # cell issues: not for blank/summary rows (not respondents) nor skipped files
    issue_parts = []
    for idx, c in enumerate(cleaned):
        if not c["issues"]:
            continue
        iss = pd.concat(c["issues"], ignore_index=True)
        sub = rows.loc[rows["export_idx"] == idx].set_index("source_row")["reason"]
        iss = iss[~iss["source_row"].map(sub).isin(["blank_row", "summary_row"])]
        issue_parts.append(iss.assign(source_file=c["export"].source_file, sheet=c["export"].sheet))
    cell_issues = pd.concat(issue_parts, ignore_index=True) if issue_parts else _empty(CELL_ISSUE_COLUMNS)
    raw = cleaning.blank_to_empty(cell_issues["raw_value"]).astype(str)
    safe = privacy.redact_raw_answers(raw, cell_issues["kind"]).str.slice(0, _RAW_VALUE_MAX)  # masks, then cuts
    cell_issues = cell_issues.assign(raw_value=safe.astype(object))[CELL_ISSUE_COLUMNS]

    files = _files_table(cleaned, skipped, quarantine, accepted)
    check_row_accounting(files, quarantine, accepted[["source_file", "sheet", "source_row"]])
    responses = _responses(accepted, cleaned, instrument, wave)
    validate_responses(responses, instrument)
    councils = _councils_table(accepted, register, wave)
    comments = None
    if keep_comments:
        comments = _comments_table(cleaned, accepted, wave)
    logger.info("wave %s: %d rows read, %d accepted, %d quarantined", wave, int(files["rows_read"].sum()),
                len(accepted), len(quarantine))
    return IngestResult(wave=wave, responses=responses, quarantine=quarantine.reset_index(drop=True),
                        cell_issues=cell_issues.reset_index(drop=True), files=files, councils=councils,
                        comments=comments, errors=errors, notes=notes)


def _files_table(cleaned: list[dict[str, Any]], skipped: list[dict[str, Any]], quarantine: pd.DataFrame,
                 accepted: pd.DataFrame) -> pd.DataFrame:
    recs = []
    for c in cleaned:
        e = c["export"]
        recs.append({"source_file": e.source_file, "sheet": e.sheet, "format": e.format, "form": e.form,
                     "encoding": e.encoding, "rows_read": e.n_rows,
                     "unmapped_columns": "; ".join(e.unmapped_headers()), "status": "ok", "error": ""})
    for s in skipped:
        e = s["export"]
        recs.append({"source_file": s["source_file"], "sheet": s["sheet"], "format": e.format if e else None,
                     "form": e.form if e else None, "encoding": e.encoding if e else None,
                     "rows_read": e.n_rows if e else 0, "unmapped_columns": "; ".join(e.unmapped_headers()) if e else "",
                     "status": "skipped", "error": str(s["error"])})
    files = pd.DataFrame(recs, columns=["source_file", "sheet", "format", "form", "encoding", "rows_read",
                                        "unmapped_columns", "status", "error"])
    keys = ["source_file", "sheet"]
    files = _with_sheet_key(files)
    a = _with_sheet_key(accepted).groupby(["source_file", "_sheet"]).size()
    q = _with_sheet_key(quarantine).groupby(["source_file", "_sheet", "reason"]).size().unstack(fill_value=0).reindex(columns=list(REASONS), fill_value=0)
    idx = pd.MultiIndex.from_frame(files[["source_file", "_sheet"]])
    files["accepted"] = a.reindex(idx, fill_value=0).to_numpy()
    for r in REASONS:
        files[f"q_{r}"] = q[r].reindex(idx, fill_value=0).to_numpy() if len(q) else 0
    files["quarantined"] = files[[f"q_{r}" for r in REASONS]].sum(axis=1)
    files["unmapped_columns"] = privacy.mask_personal_text(files["unmapped_columns"]).astype(object)
    order = keys + ["format", "form", "encoding", "rows_read", "accepted", "quarantined"] + \
        [f"q_{r}" for r in REASONS] + ["unmapped_columns", "status", "error"]
    return files[order].astype({"rows_read": "int64", "accepted": "int64", "quarantined": "int64"})


def _councils_table(accepted: pd.DataFrame, register: pd.DataFrame | None, wave: str = "") -> pd.DataFrame:
    n = accepted.groupby("council_id")["respondent_key"].nunique()
    if register is not None:
        out = pd.DataFrame({"council_id": register["council_id"], "council_name": register["name"]})
        out["n_respondents"] = out["council_id"].map(n).fillna(0).astype("int64")
        out["in_register"] = True
        out["invited"] = invited_for_wave(register, wave).reindex(out["council_id"]).to_numpy()
        return out[COUNCIL_COLUMNS].astype({"invited": "Int64"}).reset_index(drop=True)
    names = accepted.drop_duplicates("council_id").set_index("council_id")["council_name"]
    out = pd.DataFrame({"council_id": n.index.astype(str), "council_name": names.reindex(n.index).astype(str).to_numpy(),
                        "n_respondents": n.to_numpy().astype("int64"), "in_register": False,
                        "invited": pd.array([pd.NA] * len(n), dtype="Int64")})
    out["council_name"] = privacy.mask_personal_text(out["council_name"]).astype(object)
    return out[COUNCIL_COLUMNS].sort_values("council_id").reset_index(drop=True)


def _comments_table(cleaned: list[dict[str, Any]], accepted: pd.DataFrame, wave: str) -> pd.DataFrame:
    parts = []
    for idx, c in enumerate(cleaned):
        if c["comments"] is None:
            continue
        acc = accepted[accepted["export_idx"] == idx].set_index("source_row")[["council_id", "respondent_key"]]
        com = c["comments"].join(acc, on="source_row", how="inner")
        parts.append(com)
    if not parts:
        return _empty(COMMENT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out["wave"] = wave
    out["comment"] = privacy.mask_personal_text(out["comment"]).astype(object)
    return out[COMMENT_COLUMNS].reset_index(drop=True)
