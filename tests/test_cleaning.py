"""Tests for analysis.cleaning: hand-checkable answers, councils, rows, timestamps, perspectives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis import cleaning
from analysis.instrument import load_instrument

INSTRUMENT = load_instrument()
SCALE = INSTRUMENT.scale


def parse(values, **kw) -> pd.DataFrame:
    return cleaning.parse_answers(pd.Series(values, dtype=object), scale=SCALE, **kw)


# ------------------------------------------------------------------------------------------------
# answers
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, score", [
    ("Strongly disagree", 1), ("STRONGLY-DISAGREE", 1), ("Disagree strongly", 1), ("1. Strongly disagree", 1),
    ("Disagree", 2), ("Tend to disagree", 2), ("2", 2), ("2 - Disagree", 2),
    ("Neutral", 3), ("Neither agree nor disagree", 3), ("Neither agree or disagree", 3), ("neither", 3),
    ("Agree", 4), ("4 ", 4), ("4 - Agree", 4), ("4.0", 4), ("Agree: 4", 4), ("Agree [4]", 4), (" agree ", 4),
    ("Strongly agree", 5), ("5 - Strongly agree", 5), ("Strongly Agree (5)", 5), ("agree strongly", 5),
    ("Anghytuno'n gryf", 1), ("Anghytuno\u2019n gryf", 1), ("Anghytuno", 2),
    ("Ddim yn cytuno nac yn anghytuno", 3), ("Cytuno", 4), ("Cytuno'n gryf", 5), ("Cytuno\u2019n gryf", 5),
    ("Cytuno yn gryf", 5),
])
def test_labels_and_numbers_give_the_right_score(raw, score):
    out = parse([raw])
    assert out["score"].tolist() == [score]
    assert out["kind"].isna().all()


@pytest.mark.parametrize("raw", ["Don't know", "Don\u2019t know", "dont know", "N/A", "NA", "Not applicable",
                                 "Prefer not to say", "Ddim yn gwybod", "Amherthnasol",
                                 "Gwell gennyf beidio \u00e2 dweud", "6 - Don't know"])
def test_non_answers_are_dont_know(raw):
    out = parse([raw])
    assert np.isnan(out["score"].iloc[0]) and out["kind"].iloc[0] == "dont_know"


@pytest.mark.parametrize("raw, kind", [
    ("0", "out_of_range"), ("6", "out_of_range"), ("55", "out_of_range"), ("3.5", "out_of_range"),
    ("-1", "out_of_range"), ("banana", "unparseable"), ("2 - Strongly agree", "unparseable"),
    ("Strongly agree (1)", "unparseable"), ("5 - Totally", "unparseable"), ("Agree?!", None),
])
def test_bad_answers_are_logged_not_guessed(raw, kind):
    out = parse([raw])
    if kind is None:  # punctuation around a label is fine
        assert out["score"].tolist() == [4.0]
    else:
        assert np.isnan(out["score"].iloc[0]) and out["kind"].iloc[0] == kind


def test_blank_is_missing_without_issue_and_index_kept():
    out = cleaning.parse_answers(pd.Series(["", "  ", None, np.nan, "4"], index=[10, 11, 12, 13, 14], dtype=object),
                                 scale=SCALE)
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert out["score"].isna().tolist() == [True, True, True, True, False]
    assert out["kind"].isna().all()
    assert out["score"].dtype == "float64"


def test_recode_applies_first_and_keys_compare_by_value():
    out = parse(["6", "6.0", " 7 ", "four", "Four ", "Agree", "9"], recode={6: 5, "7": None, "FOUR": 4, "9": 12})
    assert out["score"].fillna(-1).tolist()[:6] == [5, 5, -1, 4, 4, 4]
    assert out["kind"].tolist()[2] == "dont_know"
    assert out["kind"].tolist()[6] == "out_of_range"  # a recode to a score off the scale is not trusted


def test_parse_does_not_mutate_input():
    s = pd.Series(["Agree", None, "5"], dtype=object)
    before = s.copy()
    parse(s)
    pd.testing.assert_series_equal(s, before)


@given(st.lists(st.text(max_size=12), max_size=30))
def test_property_scores_on_scale_or_missing(values):
    out = parse(values)
    valid = out["score"].dropna()
    assert valid.isin([1.0, 2.0, 3.0, 4.0, 5.0]).all()
    # a scored cell never has an issue; a non-blank missing cell always has one
    assert out.loc[out["score"].notna(), "kind"].isna().all()
    blank = pd.Series(values, dtype=object).str.strip().fillna("") == ""
    assert out.loc[out["score"].isna() & ~blank.to_numpy(), "kind"].notna().all()


# ------------------------------------------------------------------------------------------------
# code sets
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("codes, flagged", [
    (["1", "2", "4", "5", "6"], True),
    (["3", "4", "6"], False),
    (["1", "2", "3", "4", "6"], False),  # Qualtrics "Don't know" is 6; nobody chose 5
    (["1", "3", "7"], True),
    (["1", "2", "3", "4", "5"], False),
    (["2", "3", "4"], False),
    (["1", "2", "3", "4", "5", "6", "55"], False),
    (["4", "5", "6"], False),
    (["0", "4"], False),
    (["Agree", "Disagree", "7"], False),
    ([], False),
])
def test_check_code_set(codes, flagged):
    msg = cleaning.check_code_set(pd.Series(codes, dtype=object), scale=SCALE)
    assert (msg is not None) == flagged
    if flagged and len(codes) == 5:
        assert msg.startswith("answer codes {1, 2, 4, 5, 6} do not look like the scale's codes 1..5: code(s) 3")


# ------------------------------------------------------------------------------------------------
# councils
# ------------------------------------------------------------------------------------------------

REGISTER = pd.DataFrame({
    "council_id": ["BH", "CAM", "HAR", "KC"],
    "name": ["Brighton & Hove City Council", "London Borough of Camden", "Harbourside Council", "Kent County Council"],
    "aliases": ["", "", "Porthharbour|Harbourside DC", ""],
})


@pytest.mark.parametrize("raw, norm", [
    ("Brighton & Hove City Council", "brighton and hove"),
    ("brighton and hove", "brighton and hove"),
    ("LB Camden", "camden"), ("L.B. Camden", "camden"), ("London Borough of Camden", "camden"),
    ("Camden Council", "camden"), ("CAMDEN", "camden"), ("Camden.", "camden"),
    ("Royal Borough of Greenwich", "greenwich"), ("City and County of Swansea", "swansea"),
    ("St. Helens MBC", "st helens"), ("Cyngor Sir Ddinbych", "ddinbych"), ("Ynys M\u00f4n", "ynys mon"),
    ("Stoke-on-Trent City Council", "stoke on trent"), ("Kilburn", "kilburn"), ("Council", None), ("", None),
])
def test_normalise_council_name(raw, norm):
    out = cleaning.normalise_council_name(pd.Series([raw], dtype=object)).iloc[0]
    assert (out if not pd.isna(out) else None) == norm


def test_match_councils_with_register_never_guesses():
    raw = pd.Series(["Brighton and Hove", "LB Camden", "camden council", "Porthharbour", "harbourside d.c.",
                     "Brighton", "Camdn", "", "KENT", "Atlantis"], dtype=object)
    out = cleaning.match_councils(raw, register=REGISTER)
    assert out["council_id"].fillna("-").tolist() == ["BH", "CAM", "CAM", "HAR", "HAR", "-", "-", "-", "KC", "-"]
    assert out["matched"].tolist() == [True] * 5 + [False] * 3 + [True, False]
    assert out.loc[1, "council_name"] == "London Borough of Camden"


def test_match_councils_without_register_uses_slug_and_common_spelling():
    raw = pd.Series(["Camden Council", "Camden", "Camden", "Brighton & Hove", ""], dtype=object)
    out = cleaning.match_councils(raw, register=None)
    assert out["council_id"].fillna("-").tolist() == ["camden", "camden", "camden", "brighton-and-hove", "-"]
    assert out["council_name"].fillna("-").tolist() == ["Camden", "Camden", "Camden", "Brighton & Hove", "-"]
    assert out["matched"].tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("stem, expected", [
    ("harbourside_2024_export", ("HAR", "Harbourside Council")),
    ("2024-01 Brighton-and-Hove responses", ("BH", "Brighton & Hove City Council")),
    ("LB_Camden", ("CAM", "London Borough of Camden")),
    ("camden_and_harbourside", None),  # two councils: ambiguous
    ("responses", None),
])
def test_council_from_filename(stem, expected):
    assert cleaning.council_from_filename(stem, register=REGISTER) == expected


def test_council_from_filename_without_register_is_none():
    assert cleaning.council_from_filename("camden", register=None) is None


# ------------------------------------------------------------------------------------------------
# rows
# ------------------------------------------------------------------------------------------------

def test_classify_rows():
    data = pd.DataFrame({
        "id": ["1", "", "", "", "4", "5", "", "6"],
        "council": ["Camden", "", "Average", "", "Camden", "Atlantis", "", "Camden"],
        "q1": ["4", "", "3.67", "3.5", "Don't know", "4", "", "4"],
        "q2": ["5", "", "4.2", "2.25", "", "4", "", "x"],
    }, index=range(2, 10))
    data.iloc[6, 0] = "Total"  # first cell of row 8
    scores = pd.DataFrame({k: cleaning.parse_answers(data[k], scale=SCALE)["score"] for k in ("q1", "q2")})
    matched = pd.Series([True, False, False, False, True, False, False, True], index=data.index)
    out = cleaning.classify_rows(data, scores=scores, item_keys=["q1", "q2"], council_key="council", id_keys=["id"],
                                 matched=matched)
    assert out["reason"].fillna("ok").tolist() == ["ok", "blank_row", "summary_row", "summary_row",
                                                   "empty_response", "unknown_council", "summary_row", "ok"]
    assert out.at[4, "detail"] == "first cell 'Average' marks a summary row"
    assert "non-integer item values" in out.at[5, "detail"]
    assert out.at[8, "detail"] == "first cell 'Total' marks a summary row"


def test_classify_rows_skips_personal_columns_for_summary_words():
    data = pd.DataFrame({"name": ["Mean Smith", "Jo"], "council": ["Camden", "Cyfartaledd"], "q1": ["4", "3.5"]})
    scores = pd.DataFrame({"q1": [4.0, np.nan]})
    out = cleaning.classify_rows(data, scores=scores, item_keys=["q1"], council_key="council", skip_keys=["name"])
    assert out["reason"].fillna("ok").tolist() == ["ok", "summary_row"]
    assert "Jo" not in out.at[1, "detail"]


# ------------------------------------------------------------------------------------------------
# timestamps and perspectives
# ------------------------------------------------------------------------------------------------

def test_parse_timestamps_uk_iso_excel():
    s = pd.Series(["2026-11-23T10:15:03Z", "2026-11-23 11:15:03+01:00", "23/11/2026 10:15:03", "46349.4271180556",
                   "", None, "not a date", "05/06/2026 10:00"], dtype=object)
    out = cleaning.parse_timestamps(s)
    t = pd.Timestamp("2026-11-23 10:15:03")
    assert out.iloc[:4].tolist() == [t, t, t, t]
    assert out.iloc[4:7].isna().all()
    assert out.iloc[7] == pd.Timestamp("2026-06-05 10:00")  # UK day-first when ambiguous


def test_parse_timestamps_us_when_day_first_impossible():
    out = cleaning.parse_timestamps(pd.Series(["11/23/2026 10:15:03 AM", "05/06/2026 01:00:00 PM"]))
    assert out.tolist() == [pd.Timestamp("2026-11-23 10:15:03"), pd.Timestamp("2026-05-06 13:00")]


def test_normalise_perspective():
    s = pd.Series(["My service", "ORGANIZATION", "Local system or place", "y system leol", "From my service's view",
                   "service and system", "", None])
    out = cleaning.normalise_perspective(s, instrument=INSTRUMENT)
    assert out.fillna("-").tolist() == ["service", "organisation", "system", "system", "service", "-", "-", "-"]
