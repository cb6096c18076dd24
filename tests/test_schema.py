"""Tests for analysis.schema: the responses contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
    (lambda d: d.assign(item_id=["E01S1", "E01S1", "E01S3"]), r"<rows>: multiple_fields_uniqueness \(2 failures"),
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
