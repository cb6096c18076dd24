"""Tests for analysis.scoring.

Expected numbers are worked out by hand from ``tiny_responses`` (tests/conftest.py, whose
docstring lists every respondent's enabler scores); each test shows the arithmetic.
Quartiles follow Hyndman & Fan (1996) type 7: h = (n - 1) p, Q = x[floor h] + frac(h) (x[floor h + 1] - x[floor h])
on 0-based sorted values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import scoring as scoring_module
from analysis.config import load_settings
from analysis.exceptions import ConfigError, InsufficientDataError, SchemaMismatchError
from analysis.instrument import load_instrument
from analysis.scoring import (
    COHORT_ID,
    COHORT_NAME,
    RESPONDENT_SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    respondent_scores,
    score_wave,
    summarise,
)
from conftest import TINY_COUNCILS, TINY_SPEC, build_responses

NAN = float("nan")


def _cell(scores: pd.DataFrame, key: str, unit: str) -> pd.Series:
    row = scores[(scores["respondent_key"] == key) & (scores["unit_id"] == unit)]
    assert len(row) == 1
    return row.iloc[0]


def _summary_row(summary: pd.DataFrame, council: str, unit: str) -> pd.Series:
    row = summary[(summary["council_id"] == council) & (summary["unit_id"] == unit)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.fixture
def scores(tiny_responses, instrument) -> pd.DataFrame:
    return respondent_scores(tiny_responses, instrument=instrument)


@pytest.fixture
def enabler_summary(scores) -> pd.DataFrame:
    return summarise(scores, level="enabler")


# ------------------------------------------------------------------------------------------
# respondent_scores
# ------------------------------------------------------------------------------------------
def test_respondent_scores_shape_and_columns(scores, instrument):
    # 9 respondents x (11 enablers + 3 groupings + overall) = 135 rows
    assert list(scores.columns) == RESPONDENT_SCORE_COLUMNS
    assert len(scores) == 9 * 15
    first = scores[scores["respondent_key"] == "a1"]
    assert first["unit_id"].tolist() == instrument.enabler_ids + instrument.grouping_ids + ["overall"]
    assert first["level"].tolist() == ["enabler"] * 11 + ["grouping"] * 3 + ["overall"]
    assert scores["n_answered"].dtype == np.int64 and scores["score"].dtype == np.float64
    assert scores["respondent_key"].drop_duplicates().tolist() == ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "c1"]


def test_two_of_three_rule(scores):
    # a1 E01: only E01S1 = 5 answered -> 1 < 2 required -> NaN (a lone 5 does not stand for the enabler)
    e01 = _cell(scores, "a1", "E01")
    assert (e01["n_answered"], e01["n_required"]) == (1, 2)
    assert math.isnan(e01["score"])
    # a1 E02: E02S1 = 3, E02S2 = 4, E02S3 missing -> (3 + 4) / 2 = 3.5
    e02 = _cell(scores, "a1", "E02")
    assert (e02["n_answered"], e02["score"]) == (2, 3.5)
    # b2 E01: 4, 4 (one missing) -> 4; c1 E01: 3, 3 -> 3
    assert _cell(scores, "b2", "E01")["score"] == 4.0
    assert _cell(scores, "c1", "E01")["score"] == 3.0
    # all three answered: a4 E01 = (1 + 2 + 3) / 3 = 2
    assert _cell(scores, "a4", "E01")["score"] == 2.0
    assert _cell(scores, "a4", "E01")["n_answered"] == 3


def test_all_missing_enabler_is_nan(scores):
    # a2 answered none of E03S1..S3
    e03 = _cell(scores, "a2", "E03")
    assert (e03["n_answered"], e03["n_required"]) == (0, 2)
    assert math.isnan(e03["score"])


def test_min_items_is_a_parameter(tiny_responses, instrument):
    strict = respondent_scores(tiny_responses, instrument=instrument, min_items=3)
    assert math.isnan(_cell(strict, "b2", "E01")["score"])        # 2 of 3 no longer enough
    assert _cell(strict, "b4", "E01")["n_required"] == 1           # short form: capped at 1 of 1
    lenient = respondent_scores(tiny_responses, instrument=instrument, min_items=1)
    assert _cell(lenient, "a1", "E01")["score"] == 5.0              # the lone answer now counts


def test_grouping_fraction_rule(scores):
    # G1 Mindset (E01, E02) needs ceil(2/3 * 2) = 2: a1 has E02 only -> NaN
    g1 = _cell(scores, "a1", "G1")
    assert (g1["n_answered"], g1["n_required"]) == (1, 2) and math.isnan(g1["score"])
    # G2 Behaviours (E03-E06) needs ceil(2/3 * 4) = 3: a2 lacks E03 -> 3 of 4 -> mean(2, 2, 2) = 2
    g2 = _cell(scores, "a2", "G2")
    assert (g2["n_answered"], g2["n_required"], g2["score"]) == (3, 3, 2.0)
    # a3 lacks E03 and E04 -> 2 of 4 -> NaN
    g2 = _cell(scores, "a3", "G2")
    assert (g2["n_answered"], g2["n_required"]) == (2, 3) and math.isnan(g2["score"])
    # G3 Infrastructure (E07-E11) needs ceil(2/3 * 5) = 4; overall needs ceil(2/3 * 11) = 8
    assert _cell(scores, "a1", "G3")["n_required"] == 4
    assert _cell(scores, "a1", "overall")["n_required"] == 8
    # settings.yml's 0.6667 gives the same requirements
    assert (scores.groupby("unit_id")["n_required"].first()[["G1", "G2", "G3", "overall"]] == [2, 3, 4, 8]).all()


def test_overall_is_mean_of_valid_enablers(scores):
    # a1: E01 NaN, E02 3.5, E03..E11 = 4 -> (3.5 + 9 * 4) / 10 = 3.95
    assert _cell(scores, "a1", "overall")["score"] == pytest.approx(3.95, abs=1e-12)
    # a3: E03, E04 NaN, 9 enablers of 5 -> 5 (9 >= 8)
    a3 = _cell(scores, "a3", "overall")
    assert (a3["n_answered"], a3["score"]) == (9, 5.0)


def test_overall_needs_eight_of_eleven(instrument):
    # 4 enablers missing entirely -> 7 of 11 valid -> overall NaN; G3 loses E08..E11 -> 1 of 5 -> NaN
    missing = {f"E{e:02d}S{i}": NAN for e in (8, 9, 10, 11) for i in (1, 2, 3)}
    data = build_responses({"x1": ("alder", "full", "service", 4.0, missing)}, instrument)
    out = respondent_scores(data, instrument=instrument)
    overall = _cell(out, "x1", "overall")
    assert (overall["n_answered"], overall["n_required"]) == (7, 8) and math.isnan(overall["score"])
    assert _cell(out, "x1", "G1")["score"] == 4.0 and math.isnan(_cell(out, "x1", "G3")["score"])


def test_short_form_mixed_with_full_form(scores):
    # b4 answered the short form: one overall item per enabler, 1 of 1 required
    e01 = _cell(scores, "b4", "E01")
    assert (e01["n_answered"], e01["n_required"], e01["score"]) == (1, 1, 2.0)
    e05 = _cell(scores, "b4", "E05")
    assert (e05["n_answered"], e05["n_required"]) == (0, 1) and math.isnan(e05["score"])
    # G1 = (2 + 5) / 2 = 3.5; overall = (2 + 9 * 5) / 10 = 4.7
    assert _cell(scores, "b4", "G1")["score"] == 3.5
    assert _cell(scores, "b4", "overall")["score"] == pytest.approx(4.7, abs=1e-12)
    # full-form respondents of the same council keep 2 of 3
    assert _cell(scores, "b1", "E01")["n_required"] == 2
    assert pd.isna(_cell(scores, "b4", "E01")["perspective"])


def test_respondent_scores_does_not_mutate_input(tiny_responses, instrument):
    before = tiny_responses.copy()
    respondent_scores(tiny_responses, instrument=instrument)
    pd.testing.assert_frame_equal(tiny_responses, before)


def test_respondent_scores_ignores_index_and_optional_columns(tiny_responses, instrument, scores):
    odd = tiny_responses.drop(columns=["enabler_id", "source_file", "source_row"])
    odd.index = np.zeros(len(odd), dtype=int)      # a non-unique index, as after a careless concat
    pd.testing.assert_frame_equal(respondent_scores(odd, instrument=instrument), scores)


def test_perspective_is_optional(tiny_responses, instrument):
    out = respondent_scores(tiny_responses.drop(columns="perspective"), instrument=instrument)
    assert out["perspective"].isna().all()


@pytest.mark.parametrize("column", ["score", "item_id", "respondent_key"])
def test_missing_column_raises(tiny_responses, instrument, column):
    with pytest.raises(SchemaMismatchError, match=f"no column '{column}'"):
        respondent_scores(tiny_responses.drop(columns=column), instrument=instrument)


def test_unknown_item_raises(tiny_responses, instrument):
    bad = tiny_responses.copy()
    bad.loc[0, "item_id"] = "E99S1"
    with pytest.raises(SchemaMismatchError, match="'E99S1'") as info:
        respondent_scores(bad, instrument=instrument)
    assert "does not define" in str(info.value) and info.value.column == "item_id"


def test_item_of_other_form_raises(tiny_responses, instrument):
    bad = tiny_responses.copy()
    bad.loc[0, "item_id"] = "E01_overall"     # a1 answered the full form
    with pytest.raises(SchemaMismatchError, match="other form"):
        respondent_scores(bad.drop(columns="enabler_id"), instrument=instrument)


def test_enabler_id_disagreeing_with_instrument_raises(tiny_responses, instrument):
    bad = tiny_responses.copy()
    bad.loc[0, "enabler_id"] = "E02"
    with pytest.raises(SchemaMismatchError, match="enabler_id"):
        respondent_scores(bad, instrument=instrument)


def test_duplicate_item_raises(tiny_responses, instrument):
    bad = pd.concat([tiny_responses, tiny_responses.iloc[[5]]], ignore_index=True)
    with pytest.raises(SchemaMismatchError, match="more than once"):
        respondent_scores(bad, instrument=instrument)


def test_out_of_range_and_text_scores_raise(tiny_responses, instrument):
    bad = tiny_responses.copy()
    bad.loc[3, "score"] = 7.0
    with pytest.raises(SchemaMismatchError, match=r"outside the scale 1\.\.5"):
        respondent_scores(bad, instrument=instrument)
    text = tiny_responses.assign(score=tiny_responses["score"].astype("str"))
    with pytest.raises(SchemaMismatchError, match="score must be numeric"):
        respondent_scores(text, instrument=instrument)


def test_bad_form_and_inconsistent_respondent_raise(tiny_responses, instrument):
    bad = tiny_responses.copy()
    bad.loc[0, "form"] = "long"
    with pytest.raises(SchemaMismatchError, match="form must be 'full' or 'short'"):
        respondent_scores(bad, instrument=instrument)
    bad = tiny_responses.copy()
    bad.loc[1, "perspective"] = "system"      # a1 is 'service' on every other row
    with pytest.raises(SchemaMismatchError, match="more than one perspective"):
        respondent_scores(bad, instrument=instrument)


def test_empty_table_raises(tiny_responses, instrument):
    with pytest.raises(InsufficientDataError, match="no rows"):
        respondent_scores(tiny_responses.iloc[:0], instrument=instrument)


def test_matches_naive_reference(instrument, rng):
    """Cross-check the vectorised code against a plain groupby implementation of the same rules."""
    full = instrument.form_items("full")
    n_resp = 300
    keys = np.repeat([f"r{i:03d}" for i in range(n_resp)], len(full))
    data = pd.DataFrame({
        "wave": "w", "council_id": np.repeat(rng.choice(["a", "b", "c"], n_resp), len(full)),
        "council_name": "x", "respondent_key": keys, "perspective": "service", "form": "full",
        "item_id": np.tile(full["item_id"], n_resp), "enabler_id": np.tile(full["enabler_id"], n_resp),
        "score": rng.integers(1, 6, len(keys)).astype(float)})
    data["council_name"] = data["council_id"].str.upper()
    data.loc[rng.random(len(data)) < 0.35, "score"] = np.nan
    got = respondent_scores(data, instrument=instrument).set_index(["respondent_key", "unit_id"])["score"].sort_index()
    g = data.groupby(["respondent_key", "enabler_id"])["score"]
    enabler = g.mean().where(g.count() >= 2)
    pd.testing.assert_series_equal(got.xs("E05", level="unit_id"), enabler.xs("E05", level="enabler_id"),
                                   check_names=False)
    wide = enabler.unstack()
    grouping_of = instrument.enablers.set_index("enabler_id")["grouping_id"]
    for gid, need in (("G1", 2), ("G2", 3), ("G3", 4)):
        cols = grouping_of.index[grouping_of == gid]
        expected = wide[cols].mean(axis=1).where(wide[cols].notna().sum(axis=1) >= need)
        pd.testing.assert_series_equal(got.xs(gid, level="unit_id"), expected, check_names=False)
    expected = wide.mean(axis=1).where(wide.notna().sum(axis=1) >= 8)
    pd.testing.assert_series_equal(got.xs("overall", level="unit_id"), expected, check_names=False)


# ------------------------------------------------------------------------------------------
# summarise
# ------------------------------------------------------------------------------------------
def test_summary_columns_and_order(enabler_summary, instrument):
    assert list(enabler_summary.columns) == SUMMARY_COLUMNS
    # 3 councils + cohort, 11 enablers each
    assert len(enabler_summary) == 4 * 11
    assert enabler_summary["scope"].tolist() == ["council"] * 33 + ["cohort"] * 11
    assert enabler_summary["council_id"].drop_duplicates().tolist() == ["alder", "birch", "cedar", COHORT_ID]
    assert enabler_summary["unit_id"].iloc[:11].tolist() == instrument.enabler_ids
    assert enabler_summary["n"].dtype == np.int64


def test_summary_hand_values_alder_e01(enabler_summary):
    # alder E01: a1 NaN, a2 2, a3 5, a4 2 -> valid [2, 2, 5], n = 3, mean = 9 / 3 = 3
    # sd = sqrt(((2-3)^2 + (2-3)^2 + (5-3)^2) / 2) = sqrt(6 / 2) = sqrt(3)
    # type 7 on [2, 2, 5]: q1 h = 0.5 -> 2 + 0.5 * 0 = 2; median h = 1 -> 2; q3 h = 1.5 -> 2 + 0.5 * 3 = 3.5
    # favourable (>= 4): {5} -> 1/3; unfavourable (<= 2, boundary counts): {2, 2} -> 2/3
    r = _summary_row(enabler_summary, "alder", "E01")
    assert r["n"] == 3
    assert r["mean"] == pytest.approx(3.0)
    assert r["sd"] == pytest.approx(math.sqrt(3))
    assert (r["q1"], r["median"], r["q3"]) == (2.0, 2.0, 3.5)
    assert r["favourable_pct"] == pytest.approx(1 / 3)
    assert r["unfavourable_pct"] == pytest.approx(2 / 3)
    assert r["council_name"] == "Alder Council" and r["scope"] == "council" and r["level"] == "enabler"


def test_summary_hand_values_birch_e01_boundaries(enabler_summary):
    # birch E01: b1 4, b2 4, b3 3, b4 2 (short form) -> sorted [2, 3, 4, 4], n = 4, mean = 13/4 = 3.25
    # sd^2 = (0.75^2 + 0.75^2 + 0.25^2 + 1.25^2) / 3 = 2.75 / 3 -> sd = sqrt(11/12)
    # q1 h = 0.75 -> 2 + 0.75 * 1 = 2.75; median h = 1.5 -> 3 + 0.5 * 1 = 3.5; q3 h = 2.25 -> 4
    # favourable: exactly 4 counts -> {4, 4} = 2/4; unfavourable: exactly 2 counts -> {2} = 1/4
    r = _summary_row(enabler_summary, "birch", "E01")
    assert (r["n"], r["mean"]) == (4, 3.25)
    assert r["sd"] == pytest.approx(math.sqrt(11 / 12))
    assert (r["q1"], r["median"], r["q3"]) == (2.75, 3.5, 4.0)
    assert np.percentile([4, 4, 3, 2], [25, 50, 75], method="linear").tolist() == [2.75, 3.5, 4.0]
    assert (r["favourable_pct"], r["unfavourable_pct"]) == (0.5, 0.25)


def test_summary_thresholds_are_parameters(scores):
    # birch E01 [2, 3, 4, 4]: favourable_min 4.5 -> 0; unfavourable_max 1.5 -> 0
    out = summarise(scores, favourable_min=4.5, unfavourable_max=1.5)
    r = _summary_row(out, "birch", "E01")
    assert (r["favourable_pct"], r["unfavourable_pct"]) == (0.0, 0.0)


def test_council_with_one_respondent(enabler_summary):
    # cedar has one respondent, c1, with E01 = 3: n = 1, sd undefined, median = q1 = q3 = the value
    r = _summary_row(enabler_summary, "cedar", "E01")
    assert (r["n"], r["mean"], r["median"], r["q1"], r["q3"]) == (1, 3.0, 3.0, 3.0, 3.0)
    assert math.isnan(r["sd"])
    assert (r["favourable_pct"], r["unfavourable_pct"]) == (0.0, 0.0)


def test_cohort_rows_pool_respondents(enabler_summary):
    # cohort E01 valid: a2 2, a3 5, a4 2, b1 4, b2 4, b3 3, b4 2, c1 3 -> n = 8, mean = 25 / 8 = 3.125
    # (the mean of council means would be (3 + 3.25 + 3) / 3 = 3.0833...)
    r = _summary_row(enabler_summary, COHORT_ID, "E01")
    assert (r["n"], r["mean"]) == (8, 3.125)
    assert r["scope"] == "cohort" and r["council_name"] == COHORT_NAME
    # sorted [2, 2, 2, 3, 3, 4, 4, 5]: median h = 3.5 -> 3; q1 h = 1.75 -> 2; q3 h = 5.25 -> 4
    assert (r["q1"], r["median"], r["q3"]) == (2.0, 3.0, 4.0)
    # favourable {4, 4, 5} = 3/8; unfavourable {2, 2, 2} = 3/8
    assert (r["favourable_pct"], r["unfavourable_pct"]) == (0.375, 0.375)


def test_each_respondent_counts_once(enabler_summary, tiny_responses):
    # alder E02: a1 answered 2 items, a2..a4 three each (11 answers) but n counts respondents: 4
    # mean = (3.5 + 2 + 5 + 3) / 4 = 3.375 (not the mean of the 11 answers, 38 / 11)
    r = _summary_row(enabler_summary, "alder", "E02")
    assert (r["n"], r["mean"]) == (4, 3.375)
    # cohort n never exceeds the number of respondents in the wave
    assert enabler_summary["n"].max() == tiny_responses["respondent_key"].nunique() == 9


def test_council_with_no_valid_score_has_n_zero(tiny_responses, instrument):
    data = tiny_responses.copy()
    data.loc[(data["council_id"] == "cedar") & (data["enabler_id"] == "E05"), "score"] = np.nan
    out = summarise(respondent_scores(data, instrument=instrument))
    r = _summary_row(out, "cedar", "E05")
    assert r["n"] == 0
    assert r[["mean", "sd", "median", "q1", "q3", "favourable_pct", "unfavourable_pct"]].isna().all()


def test_summary_levels_cohort_flag_and_by(scores):
    groupings = summarise(scores, level=("grouping", "overall"))
    assert groupings["unit_id"].iloc[:4].tolist() == ["G1", "G2", "G3", "overall"]
    # alder G1: a1 NaN, a2 2, a3 5, a4 (2 + 3) / 2 = 2.5 -> n = 3, mean = 9.5 / 3
    r = _summary_row(groupings, "alder", "G1")
    assert (r["n"], r["mean"]) == (3, pytest.approx(9.5 / 3))
    assert (summarise(scores, cohort=False)["scope"] == "council").all()
    by_persp = summarise(scores, by=("wave", "council_id", "perspective"))
    assert list(by_persp.columns[:5]) == ["wave", "scope", "council_id", "council_name", "perspective"]
    # alder E01 service respondents: a1 (NaN) and a4 (2) -> n = 1
    r = by_persp[(by_persp["council_id"] == "alder") & (by_persp["unit_id"] == "E01")
                 & (by_persp["perspective"] == "service")].iloc[0]
    assert (r["n"], r["mean"]) == (1, 2.0)


def test_summary_argument_errors(scores):
    with pytest.raises(ValueError, match="`level` must be one of"):
        summarise(scores, level="enablers")
    with pytest.raises(ValueError, match="must include 'wave' and 'council_id'"):
        summarise(scores, by=("wave",))
    with pytest.raises(SchemaMismatchError, match="each respondent must count once"):
        summarise(pd.concat([scores, scores]))
    with pytest.raises(SchemaMismatchError, match="no column 'score'"):
        summarise(scores.drop(columns="score"))


def test_summary_does_not_mutate_input(scores):
    before = scores.copy()
    summarise(scores)
    pd.testing.assert_frame_equal(scores, before)


# ------------------------------------------------------------------------------------------
# score_wave
# ------------------------------------------------------------------------------------------
def test_score_wave_uses_settings(tiny_responses, instrument):
    tables = score_wave(tiny_responses, instrument=instrument, settings=load_settings())
    assert set(tables) == {"respondent_scores", "enabler_scores", "grouping_scores"}
    assert set(tables["enabler_scores"]["level"]) == {"enabler"}
    assert set(tables["grouping_scores"]["level"]) == {"grouping", "overall"}
    # the settings' scoring section alone works too, and a changed value is honoured
    section = dict(load_settings()["scoring"], min_items_per_enabler=3)
    strict = score_wave(tiny_responses, instrument=instrument, settings=section)["respondent_scores"]
    assert math.isnan(_cell(strict, "b2", "E01")["score"])
    with pytest.raises(ConfigError, match="favourable_min"):
        score_wave(tiny_responses, instrument=instrument, settings={"scoring": {"min_items_per_enabler": 2,
                                                                                 "min_enabler_fraction": 0.6667}})


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
_INSTRUMENT = load_instrument()
_ANSWER = st.one_of(st.just(NAN), st.integers(1, 5).map(float), st.floats(1, 5, allow_nan=False))


@st.composite
def responses_tables(draw) -> pd.DataFrame:
    """Random small responses tables: 1-8 respondents, 1-3 councils, both forms, any missingness."""
    n = draw(st.integers(1, 8))
    spec = {}
    for i in range(n):
        council = draw(st.sampled_from(["c1", "c2", "c3"]))
        form = draw(st.sampled_from(["full", "full", "short"]))
        items = _INSTRUMENT.form_items(form)["item_id"].tolist()
        answers = draw(st.lists(_ANSWER, min_size=len(items), max_size=len(items)))
        spec[f"r{i}"] = (council, form, "service", NAN, dict(zip(items, answers, strict=True)))
    return build_responses(spec, _INSTRUMENT)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=responses_tables(), seed=st.integers(0, 2**32 - 1))
def test_properties_of_scores(data, seed):
    scores = respondent_scores(data, instrument=_INSTRUMENT)
    valid = scores["score"].dropna()
    assert ((valid >= 1) & (valid <= 5)).all()
    assert (scores["score"].isna() == (scores["n_answered"] < scores["n_required"])).all()

    # independent of row order (exactly: each respondent x item is one cell)
    shuffled = data.sample(frac=1, random_state=np.random.RandomState(seed % 2**32))
    pd.testing.assert_frame_equal(respondent_scores(shuffled, instrument=_INSTRUMENT), scores)

    levels = ("enabler", "grouping", "overall")
    summary = summarise(scores, level=levels, instrument=_INSTRUMENT)
    shuffled_summary = summarise(scores.sample(frac=1, random_state=np.random.RandomState(seed % 2**32)),
                                 level=levels, instrument=_INSTRUMENT)
    pd.testing.assert_frame_equal(shuffled_summary, summary, check_exact=False, rtol=1e-12, atol=1e-12)

    # n = distinct respondents with a valid score; each respondent counts once
    has = scores.dropna(subset=["score"])
    per_council = has.groupby(["council_id", "unit_id"])["respondent_key"].nunique()
    council_rows = summary[summary["scope"] == "council"].set_index(["council_id", "unit_id"])["n"]
    pd.testing.assert_series_equal(council_rows[council_rows > 0].sort_index(), per_council.sort_index(),
                                   check_names=False)
    per_cohort = has.groupby("unit_id")["respondent_key"].nunique()
    cohort_rows = summary[summary["scope"] == "cohort"].set_index("unit_id")["n"]
    pd.testing.assert_series_equal(cohort_rows[cohort_rows > 0].sort_index(), per_cohort.sort_index(),
                                   check_names=False)
    # quantiles are ordered and stay on the scale; shares are fractions
    ok = summary[summary["n"] > 0]
    tol = 1e-12
    assert ((ok["q1"] <= ok["median"] + tol) & (ok["median"] <= ok["q3"] + tol)).all()
    assert ((ok["mean"] >= 1 - tol) & (ok["mean"] <= 5 + tol)).all()
    assert ok[["favourable_pct", "unfavourable_pct"]].stack().between(0, 1).all()


# --------------------------------------------------------------------------------------------
# summarise(engine='numpy') against the pandas groupby, on random respondent scores tables
# --------------------------------------------------------------------------------------------
_UNITS = [("E01", "enabler"), ("E02", "enabler"), ("E07", "enabler"), ("G1", "grouping"), ("overall", "overall"),
          ("X9", "enabler")]   # X9: a unit the instrument does not know (sorted after the others)


@st.composite
def score_tables(draw) -> pd.DataFrame:
    """Respondent scores: 1-2 waves, 1-5 councils of 1-9 respondents, any subset of units, blank
    scores, perspectives missing for some respondents or councils, values on the 1/3 grid or not."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    waves = ["2024-01", "2025-01"][:draw(st.integers(1, 2))]
    units = draw(st.lists(st.sampled_from(_UNITS), min_size=1, max_size=len(_UNITS), unique=True))
    blank = draw(st.sampled_from([0.0, 0.2, 0.7, 1.0]))
    grid = draw(st.booleans())
    perspectives = draw(st.lists(st.sampled_from(["service", "organisation", "system"]), min_size=1, max_size=3,
                                 unique=True))
    rows = []
    for w in waves:
        for c in range(draw(st.integers(1, 5))):
            for r in range(int(rng.integers(1, 10))):
                persp = perspectives[int(rng.integers(len(perspectives)))] if rng.random() > 0.1 else None
                for unit, level in units:
                    x = np.round(rng.uniform(1, 5) * 3) / 3 if grid else rng.uniform(1, 5)
                    rows.append((w, f"c{c}", f"Council {c}", f"k{c}-{r}", persp, level, unit, f"name {unit}",
                                 np.nan if rng.random() < blank else x))
    cols = ["wave", "council_id", "council_name", "respondent_key", "perspective", "level", "unit_id", "unit_name",
            "score"]
    return pd.DataFrame(rows, columns=cols).sample(frac=1, random_state=int(rng.integers(0, 2 ** 31)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=score_tables(), categorical=st.sampled_from(["none", "keys", "all"]),
       by_perspective=st.booleans(), use_instrument=st.booleans(), cohort=st.booleans(),
       level=st.sampled_from([("enabler", "grouping", "overall"), "enabler", ("grouping", "overall")]))
def test_summarise_numpy_engine_equals_pandas(table, categorical, by_perspective, use_instrument, cohort, level):
    if categorical != "none":   # as analysis.wave_stats passes them (unused categories included)
        cols = ["wave", "council_id", "respondent_key", "level", "unit_id"]
        if categorical == "all":
            cols += ["council_name", "perspective", "unit_name"]
        table = table.astype({c: pd.CategoricalDtype(list(dict.fromkeys([*table[c].dropna(), "unused"])))
                              for c in cols})
    by = ("wave", "council_id", "perspective") if by_perspective else ("wave", "council_id")
    if by_perspective:
        table = table[table["perspective"].notna()]
    kw = dict(level=level, by=by, cohort=cohort, instrument=_INSTRUMENT if use_instrument else None)
    expected = summarise(table, **kw)
    got = summarise(table, engine="numpy", **kw)
    pd.testing.assert_frame_equal(got, expected, check_exact=False, rtol=1e-13, atol=1e-13)
    exact = ["n", "median", "q1", "q3", "favourable_pct", "unfavourable_pct"]
    pd.testing.assert_frame_equal(got[exact], expected[exact], check_exact=True)   # no arithmetic beyond one step
    # the numpy engine did the work (it only hands over tables with missing keys or duplicates)
    levels = (level,) if isinstance(level, str) else level
    extra = ["perspective"] if by_perspective else []
    assert (len(table) == 0) or scoring_module._summarise_numpy(
        table, levels=levels, by=list(by), extra=extra, favourable_min=4, unfavourable_max=2, cohort=cohort,
        instrument=kw["instrument"]) is not None


def test_summarise_numpy_engine_hands_over_what_it_does_not_take(scores):
    doubled = pd.concat([scores, scores], ignore_index=True)
    with pytest.raises(SchemaMismatchError, match="each respondent must count once"):
        summarise(doubled, engine="numpy")
    with_missing = scores.assign(perspective=scores["perspective"].where(scores.index % 4 > 0))   # NaN keys
    pd.testing.assert_frame_equal(summarise(with_missing, by=("wave", "council_id", "perspective"), engine="numpy"),
                                  summarise(with_missing, by=("wave", "council_id", "perspective")))
    with pytest.raises(ValueError, match="engine"):
        summarise(scores, engine="polars")
