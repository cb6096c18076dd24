"""analysis.insight: what the reports say, on hand-checkable tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis import insight
from analysis.instrument import load_instrument
from analysis.scoring import DONT_KNOW_LEVEL, statement_distribution

INST = load_instrument()


def _councils(invited):
    return pd.DataFrame({"council_id": ["A", "B", "C", "D"], "council_name": ["Ash", "Birch", "Cedar", "Damson"],
                         "invited": pd.array(invited, dtype="Int64")})


def test_participation_rates_flags_and_suppression():
    resp = pd.DataFrame({"council_id": ["A", "B", "C", "D"], "respondents": [20, 10, 3, 12]})
    out = insight.participation(_councils([50, 40, 10, None]), resp, threshold=5, low_rate=0.30).set_index("council_id")
    assert out.at["A", "response_rate"] == pytest.approx(0.4)
    assert not out.at["A", "low_response"] and out.at["A", "participation_note"] == ""
    assert out.at["B", "response_rate"] == pytest.approx(0.25)
    assert out.at["B", "low_response"] and "low response: read with care" in out.at["B", "participation_note"]
    # C is below the threshold: neither its count nor its rate (which would give the count away)
    assert out.at["C", "suppressed"] and np.isnan(out.at["C", "respondents"]) and np.isnan(out.at["C", "response_rate"])
    assert out.at["C", "participation_note"] == "fewer than 5 responses" and not out.at["C", "low_response"]
    assert np.isnan(out.at["D", "response_rate"]) and "unknown" in out.at["D", "participation_note"]
    s = insight.participation_sentence(out.loc["B"], threshold=5)
    assert s.startswith("10 of 40 staff invited responded (25%).") and "Low response" in s
    assert "unknown" in insight.participation_sentence(out.loc["D"], threshold=5)
    assert "3" not in insight.participation_sentence(out.loc["C"], threshold=5).replace("fewer than 5", "")


def test_participation_flags_more_responses_than_invited():
    resp = pd.DataFrame({"council_id": ["A"], "respondents": [12]})
    out = insight.participation(_councils([10, 1, 1, 1]).iloc[:1], resp, threshold=5)
    assert "more responses than staff invited" in out.at[0, "participation_note"]


def test_council_disclosure_hides_the_next_smallest_when_one_is_hidden():
    rows = pd.DataFrame({"wave": "w", "unit_id": ["E01"] * 4 + ["E02"] * 4, "council_id": list("ABCD") * 2,
                         "n": [3, 6, 9, 12, 6, 7, 9, 12]})
    out = insight.council_disclosure(rows, threshold=5)
    e1 = out[out["unit_id"] == "E01"].set_index("council_id")
    assert e1["suppressed"].tolist() == [True, False, False, False]
    assert e1["secondary_suppressed"].tolist() == [False, True, False, False]   # B: the smallest shown
    assert not out[out["unit_id"] == "E02"]["hidden"].any()


def _enablers(means, ad=None):
    ids = INST.enabler_ids[: len(means)]
    return pd.DataFrame({"unit_id": ids, "unit_name": ids, "mean": means, "ci_low": np.array(means) - 0.1,
                         "ci_high": np.array(means) + 0.1, "ad_m": ad if ad is not None else [0.5] * len(means),
                         "rwg_j": [0.8] * len(means), "share_low": [0.1] * len(means), "share_high": [0.4] * len(means),
                         "cohort_median": [3.0] * len(means)})


def test_headline_sentences_are_written_from_the_numbers():
    means = [3.1, 4.2, 2.0, 3.5, 3.6, 3.0, 2.9, 3.3, 3.8, 2.4, 3.2]
    ad = [0.5] * 11
    ad[6] = 1.1
    s = insight.headline_sentences(_enablers(means, ad), labels={"E02": "E02 Risk"}, n=2)
    assert len(s) == 3
    assert "**E02 Risk** (4.2)" in s[0] and "**E09** (3.8)" in s[0]
    assert "**E03** (2.0)" in s[1] and "**E10** (2.4)" in s[1]
    assert "7 of the 11 enablers are above the cohort median" in s[1]
    assert "**E07**" in s[2] and "10% rate it 2 or below and 40% 4 or above" in s[2] and "1.10" in s[2]


def test_headline_says_when_the_lead_is_within_the_margin_of_error():
    means = [3.50, 3.45, 3.40, 3.0, 3.0, 3.0, 3.0, 3.0, 2.5, 2.45, 2.4]
    s = insight.headline_sentences(_enablers(means), n=2)
    assert "within the margin of error" in s[0]
    assert "not clearly lower" in s[1]
    wide = [4.5, 4.3, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 1.8, 1.5]
    s = insight.headline_sentences(_enablers(wide), n=2)
    assert "margin of error" not in s[0] and "not clearly" not in s[1]


def test_enabler_table_blanks_every_number_of_a_small_group():
    scores = pd.DataFrame({"unit_id": ["E01", "E02"], "unit_name": ["x", "y"], "n": [4, 9], "mean": [3.0, 4.0],
                           "ci_low": [2.5, 3.5], "ci_high": [3.5, 4.5], "favourable_pct": [0.5, 0.7],
                           "rwg_j": [0.9, 0.5], "ad_m": [0.5, 1.0], "aggregation_note": ["", "staff disagree"]})
    vs = pd.DataFrame({"unit_id": ["E01", "E02"], "diff": [0.1, 0.6], "p_holm": [0.5, 0.01],
                       "cliffs_delta": [0.1, 0.4], "percentile_rank": [50.0, 90.0]})
    comp = pd.DataFrame({"unit_id": ["E01", "E02"], "cohort_median": [3.2, 3.4]})
    t = insight.enabler_table(scores, vs_cohort=vs, comparison=comp, threshold=5)
    assert t["n"].isna().tolist() == [True, False]
    assert t.loc[0, ["Mean", "95% CI low", "rwg(j)", "p (Holm)"]].isna().all()
    assert t.at[0, "Agreement caveat"] == "fewer than 5 responses"
    assert t.at[1, "Versus the rest of the cohort"] == "higher than the rest of the cohort"
    assert t.at[1, "Cohort median"] == 3.4 and t.at[0, "Cohort median"] == 3.2   # the cohort's, not the council's


def test_statement_distribution_counts_every_level_and_dont_know_apart():
    items = INST.form_items("full")["item_id"].tolist()
    responses = pd.DataFrame({
        "wave": "w", "council_id": "A", "council_name": "Ash", "item_id": [items[0]] * 4 + [items[1]],
        "enabler_id": "E01", "score": [1.0, 5.0, 5.0, np.nan, np.nan],
        "source_file": "f.csv", "source_row": [2, 3, 4, 5, 2]})
    issues = pd.DataFrame({"source_file": ["f.csv"], "source_row": [5], "item_id": [items[0]], "kind": ["dont_know"]})
    d = statement_distribution(responses, instrument=INST, cell_issues=issues)
    a = d[(d["scope"] == "council") & (d["item_id"] == items[0])].set_index("level")["count"]
    assert a.to_dict() == {"1": 1, "2": 0, "3": 0, "4": 0, "5": 2, DONT_KNOW_LEVEL: 1}
    b = d[(d["scope"] == "council") & (d["item_id"] == items[1])]
    assert b["count"].sum() == 0 and len(b) == 6          # unanswered: every level present with 0
    assert d["item_id"].nunique() == len(items)
    shares = insight.statement_shares(d[d["scope"] == "council"], instrument=INST, threshold=1)
    row = shares.iloc[0]
    assert row["Strongly agree"] == pytest.approx(2 / 3) and row["Don't know"] == pytest.approx(1 / 4)
    assert shares.iloc[1]["suppressed"]                    # nobody answered it: no shares


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan]), min_size=1, max_size=40))
def test_statement_distribution_accounts_for_every_answer(scores):
    item = INST.form_items("full")["item_id"].iloc[0]
    responses = pd.DataFrame({"wave": "w", "council_id": "A", "council_name": "Ash", "item_id": item,
                              "enabler_id": "E01", "score": scores, "source_file": "f", "source_row": range(len(scores))})
    d = statement_distribution(responses, instrument=INST)
    council = d[(d["scope"] == "council") & (d["item_id"] == item)]
    assert council["count"].sum() == int(pd.Series(scores).notna().sum())
    assert (d.loc[d["scope"] == "cohort", "count"].sum() == d.loc[d["scope"] == "council", "count"].sum())


def test_change_table_verdicts_and_suppression():
    ch = pd.DataFrame({"unit_id": ["E01", "E02", "E03"], "unit_name": ["a", "b", "c"], "n_from": [10, 10, 3],
                       "n_to": [12, 12, 12], "mean_from": [3.0, 3.0, 3.0], "mean_to": [3.5, 2.9, 4.0],
                       "change": [0.5, -0.1, 1.0], "ci_low": [0.2, -0.4, 0.5], "ci_high": [0.8, 0.2, 1.5],
                       "p_holm": [0.01, 0.7, 0.01]})
    t = insight.change_table(ch, threshold=5)
    assert t["What changed"].tolist() == ["clear rise", "no clear change", "fewer than 5 responses"]
    assert t.loc[2, ["n before", "n now", "Change"]].isna().all()


def test_perspective_table_shows_hidden_groups_as_words():
    pr = pd.DataFrame({"unit_id": ["E01"] * 3, "unit_name": ["x"] * 3, "perspective": ["service", "organisation", "system"],
                       "n": [12, 6, 2], "mean": [3.2, 3.9, 1.0], "suppressed": [False, False, True],
                       "secondary_suppressed": [False, True, False]})
    t = insight.perspective_table(pr, threshold=5, order=["service", "organisation", "system"])
    assert t.iloc[0].tolist() == ["x", "3.20", "hidden to protect a smaller group", "fewer than 5 responses"]


def test_comments_need_ten_respondents():
    assert insight.comments_allowed(10) and not insight.comments_allowed(9)
    assert not insight.comments_allowed(float("nan")) and not insight.comments_allowed(None)
