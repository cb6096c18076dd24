"""Tests for analysis.schema: the responses contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.exceptions import SchemaMismatchError
from analysis.instrument import load_instrument
from analysis.schema import RESPONSES_COLUMNS, RESPONSES_SCHEMA, personal_columns, validate_responses

INSTRUMENT = load_instrument()


def good() -> pd.DataFrame:
    df = pd.DataFrame({
        "wave": ["2024-01"] * 3, "council_id": ["CAM"] * 3, "council_name": ["Camden"] * 3,
        "respondent_key": ["0123456789abcdef"] * 3, "perspective": ["service", "service", "service"],
        "form": ["full"] * 3, "item_id": ["E01S1", "E01S2", "E01S3"], "enabler_id": ["E01"] * 3,
        "score": [1.0, np.nan, 5.0], "source_file": ["2024-01/a.csv"] * 3, "source_row": [2, 2, 2],
    })
    return df.astype({c: "str" for c in RESPONSES_COLUMNS if c not in ("score", "source_row")})


def test_good_table_passes_both_schemas():
    df = good()
    assert validate_responses(df, INSTRUMENT) is not None
    RESPONSES_SCHEMA.validate(df)
    validate_responses(df.assign(perspective=pd.Series([None] * 3, dtype="str")), INSTRUMENT)


@pytest.mark.parametrize("change, match", [
    (lambda d: d.assign(score=[0.0, 6.0, 3.0]), r"score: in_range\(1, 5\) \(2 failures, e.g. '0.0'\)"),
    (lambda d: d.assign(item_id=["E01S1", "E01S1", "E01S3"]), r"<rows>: rows are not unique in \['wave', 'respondent_key', 'item_id'\] \(2 failures"),
    (lambda d: d.assign(enabler_id=["E02", "E01", "E01"]), r"enabler_id is not the enabler of item_id"),
    (lambda d: d.assign(item_id=["E01S1", "E01S2", "E99"]), r"item_id: isin"),
    (lambda d: d.assign(form=["short"] * 3), r"form is not the form of item_id"),
    (lambda d: d.assign(respondent_key=["jo@example.org"] * 3), r"respondent_key: str_matches"),
    (lambda d: d.assign(perspective=["me"] * 3), r"perspective: isin"),
    (lambda d: d.assign(email=["a@b.org"] * 3), r"names suggest personal data: email"),
])
def test_bad_tables_fail_with_summary(change, match):
    with pytest.raises(SchemaMismatchError, match=match) as info:
        validate_responses(change(good()), INSTRUMENT)
    assert "the responses table" in str(info.value)


def test_personal_column_names():
    assert personal_columns(["council_name", "Email Address", "first_name", "name", "ip", "comment", "score"]) == \
        ["Email Address", "first_name", "name", "ip", "comment"]


def test_empty_table_is_valid():
    empty = good().iloc[0:0]
    validate_responses(empty, INSTRUMENT)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(["a", "b", "c", ""]), st.none(), st.just(np.nan)), max_size=40))
def test_run_codes_equal_factorize(values):
    """The run-length factorisation behind the fast checks gives pd.factorize's answer."""
    from analysis.schema import factorize_runs

    s = pd.Series(values, dtype=object)
    codes, uniques = factorize_runs(s)
    ref_codes, ref_uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    def decode(c, u):
        u = list(u)
        return [u[i] if i >= 0 else None for i in c]

    assert decode(codes, uniques) == decode(ref_codes, ref_uniques)
    assert pd.Series(codes).ne(-1).sum() == pd.Series(ref_codes).ne(-1).sum()
