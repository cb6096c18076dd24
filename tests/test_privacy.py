"""Tests for analysis.privacy: suppression, respondent keys, the salt file, masking, personal columns."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import privacy
from analysis.exceptions import ConfigError
from analysis.loaders.base import ParsedExport


def test_suppress_small_groups():
    data = pd.DataFrame({"n": [2, 5, 10], "mean": [3.0, 4.0, 2.5]})
    out = privacy.suppress_small_groups(data, threshold=5)
    assert out["suppressed"].tolist() == [True, False, False]
    assert np.isnan(out.at[0, "mean"]) and out.at[1, "mean"] == 4.0
    assert data.at[0, "mean"] == 3.0  # input untouched


# ------------------------------------------------------------------------------------------------
# keys
# ------------------------------------------------------------------------------------------------

SALT = b"s" * 32


def test_respondent_keys_preference_and_normalisation():
    identity = pd.DataFrame({
        "email": ["Jo@Example.org", " jo@example.org ", "anonymous@x.org", "", "", "", "n/a"],
        "name": ["", "Someone Else", "Ann  Apple", "ann apple", "", "", "Anonymous"],
        "source_file": "2024-01/a.csv", "sheet": "",
        "respondent_id": ["", "", "", "", "R7", "", ""],
        "row": ["2", "3", "4", "5", "6", "7", "8"],
    })
    keys = privacy.respondent_keys(identity, salt=SALT)
    assert keys.str.fullmatch(r"[0-9a-f]{16}").all()
    assert keys[0] == keys[1]  # email wins over name, case and spaces ignored
    assert keys[2] == keys[3]  # "anonymous" email falls back to the name
    assert len(set(keys[[0, 2, 4, 5, 6]])) == 5
    expected = hashlib.sha256(SALT + b"\x1femail:jo@example.org").hexdigest()[:16]
    assert keys[0] == expected


def test_keys_depend_on_salt_and_scope_and_are_stable():
    ident = pd.DataFrame({"email": ["a@b.org"]})
    k1 = privacy.respondent_keys(ident, salt=SALT)[0]
    assert privacy.respondent_keys(ident.assign(source_file="other.csv"), salt=SALT)[0] == k1  # another wave/file
    assert privacy.respondent_keys(ident, salt=b"t" * 32)[0] != k1
    assert privacy.respondent_keys(ident.assign(scope="CAM"), salt=SALT)[0] != k1


def test_respondent_keys_rejects_empty_salt():
    with pytest.raises(ConfigError, match="salt must be non-empty bytes"):
        privacy.respondent_keys(pd.DataFrame({"email": ["a@b.org"]}), salt=b"")


def test_salt_created_once_with_0600_and_reused(tmp_path):
    keys_dir = tmp_path / "data" / "keys"
    salt = privacy.load_or_create_salt(keys_dir, "demo")
    path = keys_dir / "demo.salt"
    assert len(salt) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == salt.hex()
    assert privacy.load_or_create_salt(keys_dir, "demo") == salt
    assert privacy.load_or_create_salt(keys_dir, "other") != salt


@pytest.mark.parametrize("where, cohort, match", [
    ("data/processed/keys", "demo", "must not be inside data/processed or reports"),
    ("reports", "demo", "must not be inside data/processed or reports"),
    ("keys", "../escape", "cannot name a salt file"),
])
def test_salt_location_errors(tmp_path, where, cohort, match):
    with pytest.raises(ConfigError, match=match):
        privacy.load_or_create_salt(tmp_path / where, cohort)


def test_malformed_salt_file(tmp_path):
    (tmp_path / "demo.salt").write_text("not hex")
    with pytest.raises(ConfigError, match=r"demo.salt: the salt file does not hold 32 bytes as hex"):
        privacy.load_or_create_salt(tmp_path, "demo")


# ------------------------------------------------------------------------------------------------
# masking and personal columns
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, masked", [
    ("email jo.bloggs+x@example.co.uk please", "email [email] please"),
    ("call 07700 900123", "call [phone]"),
    ("call +44 20 7946 0000 or (020) 7946-0000", "call [phone] or [phone]"),
    ("US +1 415 555 2671", "US [phone]"),
    ("on 2026-11-23 10:15:03 we scored 4.5 out of 5", "on 2026-11-23 10:15:03 we scored 4.5 out of 5"),
    ("ref 12345", "ref 12345"),
])
def test_mask_personal_text(raw, masked):
    assert privacy.mask_personal_text(pd.Series([raw])).iloc[0] == masked


def test_mask_keeps_missing():
    assert privacy.mask_personal_text(pd.Series([None, "x"])).isna().tolist() == [True, False]


def _export() -> ParsedExport:
    data = pd.DataFrame({"e": ["a@b.org"], "n": ["Jo"], "c": ["Camden"], "q": ["4"], "t": ["hi"]}, index=[2])
    cols = pd.DataFrame({"key": list("encqt"), "header": list("ENCQT"), "question": list("encqt"),
                         "role": ["email", "name", "council", "item", "free_text"],
                         "item_id": [pd.NA, pd.NA, pd.NA, "E01S1", pd.NA], "match": "role", "match_score": pd.NA})
    return ParsedExport(path=Path("a.csv"), source_file="a.csv", sheet=None, format="handmade", header_rows=[1],
                        data=data, columns=cols)


def test_split_and_drop_personal_columns():
    export = _export()
    kept, personal = privacy.split_personal_columns(export)
    assert kept.data.columns.tolist() == ["c", "q"]
    assert kept.columns["key"].tolist() == ["c", "q"]
    assert personal.columns.tolist() == ["e", "n", "t"]
    assert export.data.shape == (1, 5)  # input untouched
    assert privacy.drop_personal_columns(export).data.columns.tolist() == ["c", "q"]


def test_raw_answers_quoted_in_cell_issues_never_carry_names_or_contacts():
    from analysis.privacy import redact_raw_answers

    values = pd.Series(["Jane Smith", "4 - Agre", "call 07700 900123", "jane@example.org", "Don't know", "55", "Cytuno'n gry"])
    kinds = pd.Series(["unparseable", "unparseable", "unparseable", "unparseable", "dont_know", "out_of_range", "unparseable"])
    out = redact_raw_answers(values, kinds).tolist()
    assert out[0] == "[withheld: 10 characters of text]"
    assert out[1] == "4 - Agre" and out[4] == "Don't know" and out[5] == "55" and out[6] == "Cytuno'n gry"
    assert "07700" not in out[2] and "jane" not in out[3]
