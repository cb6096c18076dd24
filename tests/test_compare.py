"""Tests for analysis.compare.

Expected numbers are worked out by hand from ``tiny_responses`` (tests/conftest.py) or from small
hand-built summary tables; the Welch p-value is checked against scipy.stats.ttest_ind on the raw
samples (Welch 1947, as implemented in SciPy).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.compare import (
    COMPARISON_COLUMNS,
    STRONGEST_WEAKEST_COLUMNS,
    WAVE_CHANGE_COLUMNS,
    council_vs_cohort,
    strongest_weakest,
    wave_change,
)
from analysis.exceptions import InsufficientDataError, SchemaMismatchError
from analysis.scoring import respondent_scores, summarise


@pytest.fixture
def enabler_summary(tiny_responses, instrument) -> pd.DataFrame:
    return summarise(respondent_scores(tiny_responses, instrument=instrument), instrument=instrument)


def _row(table: pd.DataFrame, council: str, unit: str) -> pd.Series:
    row = table[(table["council_id"] == council) & (table["unit_id"] == unit)]
    assert len(row) == 1
    return row.iloc[0]


def _summary(means: dict[str, list[float]], n: dict[str, int], *, wave: str = "w1",
             units: list[str] | None = None) -> pd.DataFrame:
    """A hand-built council-scope summary: council -> list of unit means."""
    rows = []
    for council, values in means.items():
        for k, value in enumerate(values):
            unit = units[k] if units else f"E{k + 1:02d}"
            rows.append({"wave": wave, "scope": "council", "council_id": council, "council_name": council.upper(),
                         "level": "enabler", "unit_id": unit, "unit_name": f"Enabler {unit}", "n": n[council],
                         "mean": value, "sd": 1.0})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# council_vs_cohort
# ------------------------------------------------------------------------------------------
def test_comparison_columns_and_rows(enabler_summary):
    out = council_vs_cohort(enabler_summary, disclosure_threshold=3)
    assert list(out.columns) == COMPARISON_COLUMNS
    assert len(out) == 3 * 11                          # council rows only; the cohort row feeds cohort_mean
    assert out["council_id"].drop_duplicates().tolist() == ["alder", "birch", "cedar"]
    assert out["suppressed"].dtype == bool and out["n_ranked"].dtype == np.int64


def test_cohort_median_excludes_suppressed_councils(enabler_summary):
    # E02 council means: alder (3.5 + 2 + 5 + 3) / 4 = 3.375 (n 4), birch (4 + 4 + 3 + 5) / 4 = 4 (n 4),
    # cedar 3 (n 1). Threshold 3 suppresses cedar: median(3.375, 4) = 3.6875
    # (with cedar it would be median(3.375, 4, 3) = 3.375).
    out = council_vs_cohort(enabler_summary, disclosure_threshold=3)
    alder, birch, cedar = (_row(out, c, "E02") for c in ("alder", "birch", "cedar"))
    assert alder["cohort_median"] == birch["cohort_median"] == cedar["cohort_median"] == 3.6875
    assert alder["diff_vs_median"] == pytest.approx(3.375 - 3.6875)
    assert cedar["diff_vs_median"] == pytest.approx(3 - 3.6875)   # kept: blanking is the report's job
    # ranks: birch 4 > alder 3.375; cedar suppressed -> NaN; 2 councils ranked
    assert (birch["rank"], alder["rank"], birch["n_ranked"]) == (1.0, 2.0, 2)
    assert math.isnan(cedar["rank"]) and bool(cedar["suppressed"]) and not bool(alder["suppressed"])
    # cohort_mean is the pooled row: (3.5 + 2 + 5 + 3 + 4 + 4 + 3 + 5 + 3) / 9 = 32.5 / 9
    assert alder["cohort_mean"] == pytest.approx(32.5 / 9)


def test_threshold_boundary_and_everything_suppressed(enabler_summary):
    # E01 n: alder 3, birch 4, cedar 1. Threshold 4: alder (n = 3 < 4) suppressed, birch (n = 4) kept
    out = council_vs_cohort(enabler_summary, disclosure_threshold=4)
    assert bool(_row(out, "alder", "E01")["suppressed"]) and not bool(_row(out, "birch", "E01")["suppressed"])
    assert _row(out, "birch", "E01")["cohort_median"] == 3.25     # birch's own mean, the only one left
    assert _row(out, "birch", "E01")["n_ranked"] == 1
    # the default threshold 5 suppresses every tiny council: no benchmark, nobody ranked
    out = council_vs_cohort(enabler_summary, disclosure_threshold=5)
    assert out["suppressed"].all() and out["cohort_median"].isna().all() and (out["n_ranked"] == 0).all()
    assert out["rank"].isna().all()


def test_rank_ties_use_min_method():
    # means 4, 4, 3, 2 -> ranks 1, 1, 3, 4 ('min'); median(4, 4, 3, 2) = 3.5
    summary = _summary({"a": [4.0], "b": [4.0], "c": [3.0], "d": [2.0]}, {"a": 5, "b": 5, "c": 5, "d": 5})
    out = council_vs_cohort(summary, disclosure_threshold=5)
    assert out["rank"].tolist() == [1.0, 1.0, 3.0, 4.0]
    assert (out["cohort_median"] == 3.5).all() and (out["n_ranked"] == 4).all()
    assert out["cohort_mean"].isna().all()          # no cohort rows in this summary


def test_comparison_per_wave_and_for_groupings(tiny_responses, instrument):
    scores = respondent_scores(tiny_responses, instrument=instrument)
    grouping = summarise(scores, level=("grouping", "overall"), instrument=instrument)
    out = council_vs_cohort(grouping, disclosure_threshold=1)
    assert out["unit_id"].iloc[:4].tolist() == ["G1", "G2", "G3", "overall"]
    # G1 council means: alder (2 + 5 + 2.5) / 3 = 19/6, birch (4 + 4 + 3 + 3.5) / 4 = 3.625, cedar 3
    # -> median 19/6 = 3.1667; birch ranks 1, alder 2, cedar 3
    g1 = out[out["unit_id"] == "G1"].set_index("council_id")
    assert g1["cohort_median"].iloc[0] == pytest.approx(19 / 6)
    assert g1["rank"].to_dict() == {"alder": 2.0, "birch": 1.0, "cedar": 3.0}
    # two waves are compared separately
    both = pd.concat([grouping, grouping.assign(wave="2024-07")], ignore_index=True)
    two = council_vs_cohort(both, disclosure_threshold=1)
    assert len(two) == 2 * len(out) and (two.groupby(["wave", "unit_id"])["n_ranked"].first() == 3).all()


def test_comparison_missing_column_raises(enabler_summary):
    with pytest.raises(SchemaMismatchError, match="no column 'scope'"):
        council_vs_cohort(enabler_summary.drop(columns="scope"), disclosure_threshold=5)


def test_comparison_does_not_mutate_input(enabler_summary):
    before = enabler_summary.copy()
    council_vs_cohort(enabler_summary, disclosure_threshold=3)
    pd.testing.assert_frame_equal(enabler_summary, before)


# ------------------------------------------------------------------------------------------
# strongest_weakest
# ------------------------------------------------------------------------------------------
@pytest.fixture
def tied_comparison() -> pd.DataFrame:
    # council a: E01..E06 means 3, 4, 4, 2, 2, 5; council b: all 3; council s: suppressed (n 2)
    summary = _summary({"a": [3.0, 4.0, 4.0, 2.0, 2.0, 5.0], "b": [3.0] * 6, "s": [1.0] * 6},
                       {"a": 8, "b": 8, "s": 2})
    return council_vs_cohort(summary, disclosure_threshold=5)


def test_strongest_weakest_ties_by_instrument_order(tied_comparison):
    out = strongest_weakest(tied_comparison, council_id="a", n=3)
    assert list(out.columns) == STRONGEST_WEAKEST_COLUMNS
    # strongest: E06 (5), then E02 and E03 tie at 4 -> instrument order E02 before E03
    # weakest: E04 and E05 tie at 2 -> E04 first, then E05, then E01 (3)
    assert out["position"].tolist() == ["strongest"] * 3 + ["weakest"] * 3
    assert out["unit_id"].tolist() == ["E06", "E02", "E03", "E04", "E05", "E01"]
    assert out["rank_in_council"].tolist() == [1, 2, 3, 1, 2, 3]
    # cohort median per unit = median(a, b) of the unsuppressed councils: E06 (5 + 3) / 2 = 4
    assert out.loc[0, "cohort_median"] == 4.0 and out.loc[0, "diff_vs_median"] == 1.0


def test_strongest_weakest_empty_when_suppressed(tied_comparison):
    out = strongest_weakest(tied_comparison, council_id="s")
    assert out.empty and list(out.columns) == STRONGEST_WEAKEST_COLUMNS


def test_strongest_weakest_wave_choice_and_errors(tied_comparison):
    later = tied_comparison.assign(wave="w2", mean=tied_comparison["mean"] * 0 + 3.0)
    later.loc[(later["council_id"] == "a") & (later["unit_id"] == "E01"), "mean"] = 4.5
    both = pd.concat([tied_comparison, later], ignore_index=True)
    assert strongest_weakest(both, council_id="a", n=1)["unit_id"].tolist() == ["E01", "E02"]   # latest wave w2
    assert strongest_weakest(both, council_id="a", wave="w1", n=1)["unit_id"].tolist() == ["E06", "E04"]
    with pytest.raises(InsufficientDataError, match="'zz' is not in the comparison"):
        strongest_weakest(both, council_id="zz")
    with pytest.raises(InsufficientDataError, match="no rows in wave 'w9'"):
        strongest_weakest(both, council_id="a", wave="w9")


# ------------------------------------------------------------------------------------------
# wave_change
# ------------------------------------------------------------------------------------------
def test_wave_change_hand_values():
    # council a: E01 3.0 -> 3.5 (change +0.5), E02 4.0 -> 3.0 (-1.0); council b only in w1
    w1 = _summary({"a": [3.0, 4.0], "b": [2.0, 2.0]}, {"a": 10, "b": 6}, wave="2024-01")
    w2 = _summary({"a": [3.5, 3.0]}, {"a": 12}, wave="2024-07")
    out = wave_change(pd.concat([w2, w1], ignore_index=True))      # input order does not matter
    assert list(out.columns) == WAVE_CHANGE_COLUMNS
    assert out[["council_id", "unit_id", "wave_from", "wave_to"]].values.tolist() == [
        ["a", "E01", "2024-01", "2024-07"], ["a", "E02", "2024-01", "2024-07"]]
    assert out["change"].tolist() == [0.5, -1.0]
    assert out["n_from"].tolist() == [10, 10] and out["n_to"].tolist() == [12, 12]


def test_wave_change_consecutive_waves_and_skipped_wave():
    # council a in w1, w2, w3 -> two pairs; council b in w1 and w3 only -> compared w1 -> w3
    summary = pd.concat([_summary({"a": [1.0], "b": [2.0]}, {"a": 5, "b": 5}, wave="w1"),
                         _summary({"a": [2.0]}, {"a": 5}, wave="w2"),
                         _summary({"a": [4.0], "b": [3.0]}, {"a": 5, "b": 5}, wave="w3")], ignore_index=True)
    out = wave_change(summary)
    assert out[["council_id", "wave_from", "wave_to", "change"]].values.tolist() == [
        ["a", "w1", "w2", 1.0], ["a", "w2", "w3", 2.0], ["b", "w1", "w3", 1.0]]
    assert wave_change(summary[summary["wave"] == "w1"]).empty


def test_wave_change_welch_p_value_matches_scipy_on_raw_data():
    x = np.array([3.0, 4.0, 2.0, 5.0, 3.0, 3.0, 4.0])           # wave 1
    y = np.array([4.0, 5.0, 4.0, 3.0, 5.0, 4.0, 5.0, 4.0, 5.0])  # wave 2
    rows = [{"wave": w, "council_id": "a", "unit_id": "E01", "n": len(v), "mean": v.mean(), "sd": v.std(ddof=1)}
            for w, v in (("w1", x), ("w2", y))]
    out = wave_change(pd.DataFrame(rows))
    expected = stats.ttest_ind(y, x, equal_var=False).pvalue
    assert out["p_value"].iloc[0] == pytest.approx(expected, rel=1e-10)
    assert out["change"].iloc[0] == pytest.approx(y.mean() - x.mean())


def test_wave_change_p_value_nan_when_too_small():
    # n = 1 in one wave: sd undefined -> no test
    rows = [{"wave": "w1", "council_id": "a", "unit_id": "E01", "n": 1, "mean": 3.0, "sd": np.nan},
            {"wave": "w2", "council_id": "a", "unit_id": "E01", "n": 5, "mean": 4.0, "sd": 1.0}]
    out = wave_change(pd.DataFrame(rows))
    assert out["change"].iloc[0] == 1.0 and math.isnan(out["p_value"].iloc[0])


def test_wave_change_from_scored_waves(tiny_responses, instrument):
    # wave 2 = wave 1 with every answer of b1 lowered from 4 to 3: birch E01 goes from
    # (4 + 4 + 3 + 2) / 4 = 3.25 to (3 + 4 + 3 + 2) / 4 = 3.0
    later = tiny_responses.assign(wave="2024-07")
    later.loc[later["respondent_key"] == "b1", "score"] = 3.0
    both = summarise(respondent_scores(pd.concat([tiny_responses, later], ignore_index=True), instrument=instrument),
                     instrument=instrument)
    out = wave_change(both[both["scope"] == "council"])
    assert len(out) == 3 * 11
    r = _row(out, "birch", "E01")
    assert (r["mean_from"], r["mean_to"], r["change"]) == (3.25, 3.0, -0.25)
    assert _row(out, "alder", "E01")["change"] == 0.0


def test_wave_change_duplicate_rows_raise():
    w1 = _summary({"a": [3.0]}, {"a": 5})
    with pytest.raises(SchemaMismatchError, match="two rows for one wave"):
        wave_change(pd.concat([w1, w1]))
