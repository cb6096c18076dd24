"""Reading and writing the project's own tables: the one place that knows their dtypes.

Raw exports are read by :mod:`analysis.loaders`; everything derived is written here, atomically
(temp file in the same folder, then ``os.replace``), so a crash never leaves a half-written file.
Text cells written to CSV are neutralised against formula injection (see :func:`safe_text`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection guidance).
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: dtypes of the processed tables (columns not listed are inferred).
_SCORE_DTYPES = {
    "wave": "str", "scope": "str", "council_id": "str", "council_name": "str", "level": "str", "unit_id": "str",
    "unit_name": "str", "n": "int64", "mean": "float64", "sd": "float64", "median": "float64", "q1": "float64",
    "q3": "float64", "favourable_pct": "float64", "unfavourable_pct": "float64",
    "ci_low": "float64", "ci_high": "float64", "rwg_j": "float64", "rwg_j_lindell": "float64", "ad_m": "float64",
    "share_low": "float64", "share_high": "float64", "polarisation": "float64", "aggregation_ok": "bool",
    "aggregation_note": "str",
}
_UNIT = {"wave": "str", "level": "str", "unit_id": "str", "unit_name": "str"}
TABLE_DTYPES: dict[str, dict[str, str]] = {
    "responses": {
        "wave": "str", "council_id": "str", "council_name": "str", "respondent_key": "str",
        "perspective": "str", "form": "str", "item_id": "str", "enabler_id": "str", "score": "float64",
        "source_file": "str", "source_row": "int64",
    },
    "respondent_scores": {
        "wave": "str", "council_id": "str", "council_name": "str", "respondent_key": "str",
        "perspective": "str", "level": "str", "unit_id": "str", "n_answered": "int64",
        "n_required": "int64", "score": "float64",
    },
    "enabler_scores": _SCORE_DTYPES,
    "grouping_scores": _SCORE_DTYPES,
    "comparison": {
        "wave": "str", "council_id": "str", "council_name": "str", "unit_id": "str", "unit_name": "str",
        "n": "int64", "mean": "float64", "cohort_median": "float64", "cohort_mean": "float64",
        "diff_vs_median": "float64", "rank": "float64", "n_ranked": "int64", "suppressed": "bool",
    },
    "quarantine": {"source_file": "str", "sheet": "str", "source_row": "int64", "reason": "str", "detail": "str"},
    "cell_issues": {"source_file": "str", "sheet": "str", "source_row": "int64", "column": "str", "item_id": "str",
                    "raw_value": "str", "kind": "str"},
    "councils": {"council_id": "str", "council_name": "str", "n_respondents": "int64", "in_register": "bool",
                 "invited": "Int64"},
    "cohort_stats": _UNIT | {
        "n_councils": "int64", "n": "int64", "icc1": "float64", "icc2": "float64", "f": "float64",
        "df_between": "float64", "df_within": "float64", "f_p_value": "float64", "alpha": "float64",
        "alpha_ci_low": "float64", "alpha_ci_high": "float64", "alpha_n": "int64", "kw_h": "float64",
        "kw_df": "float64", "kw_p_value": "float64", "epsilon2": "float64", "reason": "str"},
    "item_total": _UNIT | {"item_id": "str", "n": "int64", "n_items": "int64", "item_total_r": "float64",
                           "alpha_if_deleted": "float64", "reason": "str"},
    "council_vs_cohort": _UNIT | {
        "council_id": "str", "council_name": "str", "n": "int64", "n_rest": "int64", "mean": "float64",
        "mean_rest": "float64", "diff": "float64", "u": "float64", "p_value": "float64", "p_holm": "float64",
        "cliffs_delta": "float64", "percentile_rank": "float64", "reason": "str", "suppressed": "bool"},
    "wave_change": _UNIT | {
        "council_id": "str", "council_name": "str", "wave_from": "str", "wave_to": "str", "n_from": "int64",
        "n_to": "int64", "mean_from": "float64", "mean_to": "float64", "change": "float64", "ci_low": "float64",
        "ci_high": "float64", "u": "float64", "p_value": "float64", "p_holm": "float64", "n_paired": "int64",
        "wilcoxon_stat": "float64", "wilcoxon_p": "float64", "wilcoxon_p_holm": "float64", "reason": "str",
        "suppressed": "bool"},
    "statement_distribution": {"wave": "str", "scope": "str", "council_id": "str", "council_name": "str",
                               "enabler_id": "str", "item_id": "str", "level": "str", "count": "int64",
                               "n_scale": "int64", "n_dont_know": "int64"},
    "perspective_scores": _SCORE_DTYPES | {"perspective": "str", "suppressed": "bool",
                                           "secondary_suppressed": "bool"},
}


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place atomically.

    Examples
    --------
    >>> with atomic_path(tmp / "out.csv") as tmp_file:        # doctest: +SKIP
    ...     frame.to_csv(tmp_file)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give outputs the permissions a normal open() would (0666 & ~umask).
        umask = os.umask(0)
        os.umask(umask)
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def safe_text(value: Any) -> Any:
    """Neutralise a text cell against formula injection by prefixing a single quote.

    Strings starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return are returned as
    ``"'" + value``; anything else (including numbers, so negative numbers survive) is unchanged.
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``frame`` with every text cell passed through :func:`safe_text` (vectorised)."""
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            text = s.astype("string")
            risky = text.str.startswith(FORMULA_PREFIXES).fillna(False).to_numpy(dtype=bool)
            if risky.any():
                s = s.astype(object).copy()
                s[risky] = "'" + text[risky].astype(str)
                out[col] = s
    # column names are text too
    out.columns = [safe_text(c) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to CSV atomically, UTF-8, without the index, formula-safe."""
    path = Path(path)
    with atomic_path(path) as tmp:
        neutralise_frame(frame).to_csv(tmp, index=False, encoding="utf-8", lineterminator="\n")
    return path


def read_table(path: str | Path, table: str | None = None) -> pd.DataFrame:
    """Read a processed CSV written by :func:`write_csv` with the table's known dtypes.

    ``"N/A"``-style strings are *not* turned into NaN: only empty cells are missing.
    """
    dtypes = TABLE_DTYPES.get(table or Path(path).stem, {})
    frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={k: v for k, v in dtypes.items() if v == "str"})
    for col, dtype in dtypes.items():
        if col not in frame.columns or dtype == "str":
            continue
        if dtype == "bool":
            if frame[col].dtype != bool:  # never astype(bool): the string "False" is truthy
                values = frame[col].map({"True": True, "False": False, "true": True, "false": False,
                                         True: True, False: False})
                if values.isna().any():
                    raise ValueError(f"{path}: column {col!r} must hold True/False values")
                frame[col] = values.astype(bool)
        elif dtype == "int64" and frame[col].isna().any():
            frame[col] = frame[col].astype("Int64")
        else:
            frame[col] = frame[col].astype(dtype)
    return frame


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if np.isnan(obj) else float(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, (pd.Timestamp,)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return obj.as_posix()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(data: Any, path: str | Path) -> Path:
    """Write ``data`` as indented UTF-8 JSON atomically (numpy and pandas scalars allowed)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8")
    return path
