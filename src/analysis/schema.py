"""The pandera schema of the tidy responses table (the contract between ingest and scoring).

:data:`RESPONSES_SCHEMA` checks what holds for any instrument (columns, types, key uniqueness,
no personal columns); :func:`responses_schema` adds the instrument's items, enablers, forms,
perspectives and scale range. :func:`validate_responses` runs it lazily and turns pandera's failure
cases into one :class:`~analysis.exceptions.SchemaMismatchError`.
"""

from __future__ import annotations

import logging
import re

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .exceptions import SchemaMismatchError
from .instrument import Instrument

logger = logging.getLogger(__name__)

#: The columns of the responses table, in order (docs/architecture.md).
RESPONSES_COLUMNS: tuple[str, ...] = (
    "wave", "council_id", "council_name", "respondent_key", "perspective", "form", "item_id",
    "enabler_id", "score", "source_file", "source_row",
)

#: Column names that suggest personal data; none may appear in an output table.
PERSONAL_COLUMN_RE = re.compile(
    r"e-?mail|(^|_)(first|last|full|given|sur|user)?_?name$|phone|mobile|(^|_)ip(_|$)|ip_?address|"
    r"latitude|longitude|postcode|address|recipient|comment", re.IGNORECASE)
_ALLOWED_NAME_COLUMNS = frozenset({"council_name", "unit_name", "enabler_name", "grouping_name"})


def personal_columns(columns: list[str] | pd.Index) -> list[str]:
    """Names among ``columns`` that suggest personal data (``email``, ``first_name``, ``ip`` ...)."""
    return [c for c in map(str, columns) if c not in _ALLOWED_NAME_COLUMNS and PERSONAL_COLUMN_RE.search(c)]


def _no_personal_columns(df: pd.DataFrame) -> bool:
    return not personal_columns(df.columns)


def distinct_check(predicate: Any, name: str) -> pa.Check:
    """An element-wise check evaluated once per distinct value (the table repeats a few thousand
    keys and a few dozen ids over hundreds of thousands of rows). Missing values pass (nullability
    is the column's own check)."""

    def check(series: pd.Series) -> pd.Series:
        codes, uniques = factorize_runs(series)
        ok_u = np.fromiter((bool(predicate(u)) for u in uniques), dtype=bool, count=len(uniques))  # distinct values
        ok = np.ones(len(series), dtype=bool)
        present = codes >= 0
        ok[present] = ok_u[codes[present]]
        return pd.Series(ok, index=series.index)

    # ignore_na=False: missing values already pass, so pandera need not look for them again
    return pa.Check(check, name=name, error=name, ignore_na=False)


def factorize_runs(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(series)`` computed on the first value of each run of equal values.

    The tidy table repeats each respondent's wave, council, key, form and file over consecutive
    rows, so hashing one value per run is 5x faster than hashing every row; the codes are the same
    for any row order (a table without runs costs one comparison pass more).
    """
    arr = series.to_numpy(dtype=object)
    if len(arr) == 0:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=object)
    change = np.empty(len(arr), dtype=bool)
    change[0] = True
    try:  # NaN != NaN starts a new run, None == None continues one: both get code -1 either way
        np.not_equal(arr[1:], arr[:-1], out=change[1:])
    except TypeError:  # pd.NA has no truth value: hash every row
        codes, uniques = pd.factorize(arr, use_na_sentinel=True)
        return codes, np.asarray(uniques, dtype=object)
    heads = np.flatnonzero(change)
    head_codes, uniques = pd.factorize(arr[heads], use_na_sentinel=True)
    return np.repeat(head_codes, np.diff(np.append(heads, len(arr)))), np.asarray(uniques, dtype=object)


def _unique_rows(columns: list[str]) -> pa.Check:
    """Table-level check: no two rows share the values of ``columns`` (pandera's ``unique=``,
    computed on run-factorised codes)."""

    def check(df: pd.DataFrame) -> pd.Series:
        key = np.zeros(len(df), dtype=np.int64)
        for c in columns:  # loop over the key columns
            codes, uniques = factorize_runs(df[c])
            key = pd.factorize(key * (len(uniques) + 1) + (codes + 1))[0].astype(np.int64)  # stays < len(df)
        return pd.Series(~pd.Series(key).duplicated(keep=False).to_numpy(), index=df.index)

    return pa.Check(check, name="multiple_fields_uniqueness", error=f"rows are not unique in {columns}",
                    ignore_na=False)


_KEY_RE = re.compile(r"[0-9a-f]{16}")


def _non_empty() -> pa.Check:
    return distinct_check(lambda v: len(str(v)) >= 1, "str_length(min_value=1)")


def _one_of(values: Any) -> pa.Check:
    allowed = frozenset(values)
    return distinct_check(lambda v: v in allowed, f"isin({sorted(allowed)})")


def _base_columns() -> dict[str, pa.Column]:
    return {
        "wave": pa.Column(str, checks=_non_empty()),
        "council_id": pa.Column(str, checks=_non_empty()),
        "council_name": pa.Column(str, checks=_non_empty()),
        "respondent_key": pa.Column(str, checks=distinct_check(lambda v: _KEY_RE.fullmatch(str(v)) is not None,
                                                               "str_matches('^[0-9a-f]{16}$')")),
        "perspective": pa.Column(str, nullable=True),
        "form": pa.Column(str, checks=_one_of(["full", "short"])),
        "item_id": pa.Column(str),
        "enabler_id": pa.Column(str),
        "score": pa.Column(float, nullable=True),
        "source_file": pa.Column(str, checks=_non_empty()),
        "source_row": pa.Column("int64", checks=pa.Check.ge(1)),
    }


_UNIQUE = ["wave", "respondent_key", "item_id"]
_NO_PERSONAL = pa.Check(_no_personal_columns, element_wise=False, error="a column name suggests personal data")

#: Instrument-independent schema of the responses table.
RESPONSES_SCHEMA: pa.DataFrameSchema = pa.DataFrameSchema(
    _base_columns(), strict=True, ordered=True, checks=[_NO_PERSONAL, _unique_rows(_UNIQUE)], name="responses")


def responses_schema(instrument: Instrument) -> pa.DataFrameSchema:
    """:data:`RESPONSES_SCHEMA` plus the instrument's ids, forms, perspectives and scale range.

    Adds: ``item_id`` among the instrument's items; ``enabler_id`` and ``form`` equal to those of the
    item; ``perspective`` among the instrument's perspectives (or NA); ``score`` within
    ``[scale.min, scale.max]`` (or NaN).
    """
    items = instrument.items
    item_enabler = dict(zip(items["item_id"], items["enabler_id"], strict=True))
    item_form = dict(zip(items["item_id"], items["form"], strict=True))
    cols = _base_columns()
    cols["item_id"] = pa.Column(str, checks=_one_of(item_enabler))
    cols["enabler_id"] = pa.Column(str, checks=_one_of(instrument.enabler_ids))
    cols["perspective"] = pa.Column(str, nullable=True, checks=_one_of(instrument.perspectives))
    cols["score"] = pa.Column(float, nullable=True,
                              checks=pa.Check.in_range(instrument.scale.min, instrument.scale.max))

    def enabler_matches_item(df: pd.DataFrame) -> pd.Series:
        return _pair_in(df["item_id"], df["enabler_id"], item_enabler)

    def form_matches_item(df: pd.DataFrame) -> pd.Series:
        return _pair_in(df["item_id"], df["form"], item_form)

    checks = [
        _NO_PERSONAL,
        _unique_rows(_UNIQUE),
        pa.Check(enabler_matches_item, error="enabler_id is not the enabler of item_id", ignore_na=False),
        pa.Check(form_matches_item, error="form is not the form of item_id", ignore_na=False),
    ]
    return pa.DataFrameSchema(cols, strict=True, ordered=True, checks=checks,
                              name=f"responses ({instrument.id})")


def _pair_in(keys: pd.Series, values: pd.Series, mapping: dict[str, str]) -> pd.Series:
    """``values == keys.map(mapping)``, computed once per distinct (key, value) pair."""
    kc, ku = factorize_runs(keys)
    vc, vu = factorize_runs(values)
    # ok[i, j]: key ku[i] maps to value vu[j] (a few dozen x a few values)
    expected = np.array([mapping.get(k) for k in ku], dtype=object)
    ok = expected[:, None] == np.asarray(vu, dtype=object)[None, :] if len(ku) and len(vu) else np.zeros((len(ku), len(vu)), bool)
    present = (kc >= 0) & (vc >= 0)
    out = np.zeros(len(keys), dtype=bool)
    out[present] = ok[kc[present], vc[present]]
    return pd.Series(out, index=keys.index)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def validate_responses(df: pd.DataFrame, instrument: Instrument | None = None) -> pd.DataFrame:
    """Validate a responses table (all failures collected) and return it unchanged.

    Parameters
    ----------
    df
        The tidy responses table.
    instrument
        When given, the instrument-specific schema (:func:`responses_schema`) is used.

    Raises
    ------
    SchemaMismatchError
        Listing up to ten failures as ``column: check (e.g. value)``, with the total count.
    """
    personal = personal_columns(df.columns)
    if personal:
        raise SchemaMismatchError(
            f"the responses table has column(s) whose names suggest personal data: {', '.join(personal)}",
            hint="Personal columns must never leave ingest; drop them (this is a bug if ingest wrote them).")
    schema = RESPONSES_SCHEMA if instrument is None else responses_schema(instrument)
    try:
        return schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        table_level = (fc["schema_context"].astype(str) == "DataFrameSchema").to_numpy()
        column = fc["column"].astype(object).where(fc["column"].notna(), "").astype(str)
        fc = fc.assign(column=np.where(table_level, "<rows>", column), check=fc["check"].astype(str),
                       failure_case=fc["failure_case"].astype(str),
                       row=np.where(table_level, fc["index"].astype(str), fc.index.astype(str)))
        # a table-level check fails once per row (pandera repeats it for every column): count rows
        fc = fc.drop_duplicates(["column", "check", "row"])
        grouped = (fc.groupby(["column", "check"], sort=False)
                   .agg(n=("row", "size"), example=("failure_case", "first"), at=("row", "first")).reset_index())
        parts = [f"{r.column}: {_short(r.check)} ({r.n} failure{'s' if r.n != 1 else ''}, e.g. "
                 f"{f'row {r.at}' if r.column == '<rows>' else repr(str(r.example)[:60])})"
                 for r in grouped.head(10).itertuples()]
        more = f"; and {len(grouped) - 10} more" if len(grouped) > 10 else ""
        raise SchemaMismatchError(
            f"the responses table breaks its contract: {'; '.join(parts)}{more}",
            hint="This is a bug in ingest or a hand-edited responses.csv; please report it with this message.",
        ) from None
