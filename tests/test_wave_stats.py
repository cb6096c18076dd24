"""The statistics step: enriched summaries and the five statistics tables of a wave."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from analysis import agreement, inference, scoring
from analysis.config import load_settings
from analysis.privacy import complementary_suppression
from analysis.wave_stats import AGREEMENT_COLUMNS, COHORT_STATS_COLUMNS, STATS_OUTPUTS, unit_responses, wave_statistics


def _responses(instrument, rng: np.random.Generator, *, wave: str, sizes: dict[str, int], shift: float = 0.0,
               key_prefix: str = "") -> pd.DataFrame:
    """Full-form answers: council means differ (C1 high, C3 low), about 5% missing."""
    items = instrument.form_items("full")
    rows = []
    for c, (cid, n) in enumerate(sizes.items()):
        centre = 4.0 - c + shift
        for r in range(n):
            key = f"{key_prefix}{cid}{r:013d}"[-16:].replace("C", "c")
            key = "".join(ch if ch in "0123456789abcdef" else "a" for ch in key)
            persp = ("service", "organisation", "system")[r % 3] if r < n - 1 else "system"
            answers = np.clip(np.round(rng.normal(centre, 0.9, len(items))), 1, 5)
            answers[rng.random(len(items)) < 0.05] = np.nan
            rows.append(pd.DataFrame({
                "wave": wave, "council_id": cid, "council_name": f"Council {cid}", "respondent_key": key,
                "perspective": persp, "form": "full", "item_id": items["item_id"].to_numpy(),
                "enabler_id": items["enabler_id"].to_numpy(), "score": answers}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def two_waves(instrument):
    rng = np.random.default_rng(7)
    settings = load_settings(None)
    w1 = _responses(instrument, rng, wave="2024-01", sizes={"C1": 14, "C2": 12, "C3": 9})
    w2 = _responses(instrument, rng, wave="2025-01", sizes={"C1": 15, "C2": 11, "C3": 3}, shift=0.4)
    t1 = scoring.score_wave(w1, instrument=instrument, settings=settings)
    t2 = scoring.score_wave(w2, instrument=instrument, settings=settings)
    stats = wave_statistics(responses=w2, respondent_scores=t2["respondent_scores"],
                            enabler_scores=t2["enabler_scores"], grouping_scores=t2["grouping_scores"],
                            instrument=instrument, settings=settings, previous_scores=t1["respondent_scores"])
    return w2, t2, stats


def test_every_table_is_there(two_waves):
    _, t2, stats = two_waves
    assert set(stats) == {"enabler_scores", "grouping_scores", *STATS_OUTPUTS}
    for name in ("enabler_scores", "grouping_scores"):
        assert list(stats[name].columns[-len(AGREEMENT_COLUMNS):]) == AGREEMENT_COLUMNS
        assert len(stats[name]) == len(t2[name])  # one to one with the summary rows
    assert list(stats["cohort_stats"].columns) == COHORT_STATS_COLUMNS
    assert len(stats["cohort_stats"]) == 11 + 3 + 1


def test_summaries_gain_ci_and_agreement(two_waves, instrument):
    responses, t2, stats = two_waves
    e = stats["enabler_scores"]
    council = e[e["scope"] == "council"]
    ok = council["n"] >= 2
    assert (council.loc[ok, "ci_low"] <= council.loc[ok, "mean"]).all()
    assert (council.loc[ok, "mean"] <= council.loc[ok, "ci_high"]).all()
    # rwg(j) and AD_M are those of analysis.agreement on the council's answers
    direct = agreement.rwg_j(responses, by=["council_id", "enabler_id"], item="item_id", value="score")
    merged = council.merge(direct, left_on=["council_id", "unit_id"], right_on=["council_id", "enabler_id"],
                           suffixes=("", "_direct"))
    np.testing.assert_allclose(merged["rwg_j"], merged["rwg_j_direct"], atol=1e-12)
    # C3 has 3 respondents: never reportable, and the note says why
    c3 = council[council["council_id"] == "C3"]
    assert not c3["aggregation_ok"].any()
    assert c3["aggregation_note"].str.contains("fewer than 5").all()
    # cohort rows: a cluster bootstrap over councils, and 3 councils are fewer than
    # statistics.cohort_ci_min_councils (5), so no cohort interval (test_cohort_interval_* below)
    cohort = e[e["scope"] == "cohort"]
    assert cohort["ci_low"].isna().all() and cohort["ci_high"].isna().all()


def test_cohort_stats_match_library_functions(two_waves, instrument):
    _, t2, stats = two_waves
    cs = stats["cohort_stats"].set_index("unit_id")
    scores = t2["respondent_scores"]
    icc = agreement.icc_anova(scores, group="council_id", value="score", by=["unit_id"]).set_index("unit_id")
    np.testing.assert_allclose(cs.loc[icc.index, "icc1"], icc["icc1"], atol=1e-12)
    kw = inference.kruskal_wallis(scores, by=("unit_id",), group="council_id", value="score").set_index("unit_id")
    np.testing.assert_allclose(cs.loc[kw.index, "kw_h"], kw["h"], atol=1e-9)
    assert cs["alpha"].between(-1, 1).all()
    assert cs.loc["G1", "level"] == "grouping" and cs.loc["overall", "level"] == "overall"
    assert len(stats["item_total"]) == 33 * 3  # every statement under its enabler, grouping and overall


def test_council_vs_cohort_and_wave_change(two_waves):
    _, _, stats = two_waves
    vs = stats["council_vs_cohort"]
    assert vs["p_holm"].dropna().between(0, 1).all()
    assert (vs["p_holm"].dropna() >= vs.loc[vs["p_holm"].notna(), "p_value"] - 1e-15).all()
    high = vs[(vs["council_id"] == "C1") & (vs["unit_id"] == "overall")].iloc[0]
    assert high["diff"] > 0 and high["cliffs_delta"] > 0  # C1 was generated highest
    assert vs.loc[vs["council_id"] == "C3", "suppressed"].all()
    change = stats["wave_change"]
    assert set(change["wave_from"]) == {"2024-01"} and set(change["wave_to"]) == {"2025-01"}
    assert set(change["council_id"]) == {"C1", "C2", "C3"}
    ok = change[~change["suppressed"]]
    assert (ok["ci_low"] <= ok["change"]).all() and (ok["change"] <= ok["ci_high"]).all()
    assert change.loc[change["council_id"] == "C3", "suppressed"].all()


def test_without_previous_wave_change_is_empty(instrument):
    rng = np.random.default_rng(3)
    settings = load_settings(None)
    w = _responses(instrument, rng, wave="2025-01", sizes={"C1": 6, "C2": 7})
    t = scoring.score_wave(w, instrument=instrument, settings=settings)
    stats = wave_statistics(responses=w, respondent_scores=t["respondent_scores"], enabler_scores=t["enabler_scores"],
                            grouping_scores=t["grouping_scores"], instrument=instrument, settings=settings)
    assert stats["wave_change"].empty and "change" in stats["wave_change"].columns


def test_perspective_scores_flag_small_groups(two_waves):
    _, _, stats = two_waves
    p = stats["perspective_scores"]
    for col in ("wave", "council_id", "level", "unit_id"):   # plain text, as before the numpy engine
        assert not isinstance(p[col].dtype, pd.CategoricalDtype) and p[col].map(type).eq(str).all()
    council = p[p["scope"] == "council"]
    assert (council["suppressed"] == (council["n"] < 5)).all()
    # wherever exactly one perspective is hidden, another one is hidden with it
    per_set = council.groupby(["council_id", "unit_id"])
    hidden = per_set.apply(lambda g: int((g["suppressed"] & (g["n"] > 0)).sum()), include_groups=False)
    second = per_set["secondary_suppressed"].sum()
    assert (second[hidden == 1] == 1).all()
    assert (second[hidden != 1] == 0).all()


def test_unit_responses_labels_every_level(instrument):
    rng = np.random.default_rng(1)
    w = _responses(instrument, rng, wave="w", sizes={"C1": 2})
    u = unit_responses(w, instrument=instrument)
    assert len(u) == 3 * len(w)
    assert set(u["level"].astype(str)) == {"enabler", "grouping", "overall"}
    g = u[u["level"] == "grouping"]
    assert set(g.loc[g["item_id"].astype(str) == "E01S1", "unit_id"].astype(str)) == {"G1"}


def test_complementary_suppression_by_hand():
    table = pd.DataFrame({
        "council": ["A"] * 3 + ["B"] * 3 + ["C"] * 3 + ["D"] * 2,
        "perspective": ["service", "organisation", "system"] * 3 + ["service", "system"],
        "n": [3, 12, 10, 2, 3, 20, 0, 10, 12, 8, 9],
    })
    out = complementary_suppression(table, within=["council"], n="n", threshold=5)
    assert out["suppressed"].tolist() == [True, False, False, True, True, False, True, False, False, False, False]
    # A: one hidden group with people -> the smallest visible (system, 10) goes too
    # B: two hidden groups -> neither can be recovered alone; C: the hidden group has nobody; D: nothing hidden
    assert out["secondary_suppressed"].tolist() == [False, False, True] + [False] * 8
    assert list(table.columns) == ["council", "perspective", "n"]  # input untouched


# --------------------------------------------------------------------------------------------
# the dense fast path against the general one (agreement_table / cronbach_alpha / item_total on
# unit_responses): every table equal, on random cohorts with blanks, missing rows, short forms
# --------------------------------------------------------------------------------------------
def _random_cohort(instrument, seed: int, n_councils: int, max_resp: int, blank: float, short: float,
                   drop_rows: float, categorical: bool, shuffle_councils: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    full, short_items = instrument.form_items("full"), instrument.form_items("short")
    rows = []
    councils = [f"K{c}" for c in range(n_councils)]
    if shuffle_councils:
        councils = councils[::-1]
    for cid in councils:
        n = int(rng.integers(1, max_resp + 1))
        p_short = short if rng.random() < 0.5 else min(1.0, 3 * short)
        for r in range(n):
            form = "short" if rng.random() < p_short else "full"
            items = short_items if form == "short" else full
            answers = rng.integers(1, 6, len(items)).astype(float)
            answers[rng.random(len(items)) < blank] = np.nan
            keep = rng.random(len(items)) >= drop_rows
            rows.append(pd.DataFrame({
                "wave": "2025-01", "council_id": cid, "council_name": f"Council {cid}",
                "respondent_key": f"{int(rng.integers(0, 2 ** 40)):016x}",
                "perspective": ("service", "organisation", "system")[r % 3], "form": form,
                "item_id": items["item_id"].to_numpy()[keep], "enabler_id": items["enabler_id"].to_numpy()[keep],
                "score": answers[keep]}))
    out = pd.concat(rows, ignore_index=True)
    if categorical:
        out = out.astype({c: "category" for c in ("wave", "council_id", "council_name", "respondent_key",
                                                  "perspective", "form", "item_id", "enabler_id")})
    return out


@hypothesis_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2 ** 32 - 1), n_councils=st.integers(1, 4), max_resp=st.integers(1, 9),
       blank=st.sampled_from([0.0, 0.1, 0.4]), short=st.sampled_from([0.0, 0.2, 0.6]),
       drop_rows=st.sampled_from([0.0, 0.05]), categorical=st.booleans(), shuffle_councils=st.booleans())
def test_dense_path_equals_general_path(instrument, seed, n_councils, max_resp, blank, short,
                                        drop_rows, categorical, shuffle_councils):
    responses = _random_cohort(instrument, seed, n_councils, max_resp, blank, short, drop_rows, categorical,
                               shuffle_councils)
    config = load_settings(None)
    try:
        t = scoring.score_wave(responses, instrument=instrument, settings=config)
    except Exception:  # e.g. nobody with a valid score: not what this test is about
        assume(False)
    kw = dict(responses=responses, respondent_scores=t["respondent_scores"], enabler_scores=t["enabler_scores"],
              grouping_scores=t["grouping_scores"], instrument=instrument, settings=config)
    from analysis import wave_stats

    assert wave_stats._answer_rows(responses, instrument) is not None     # the dense path applies
    fast = wave_statistics(**kw)
    wave_stats._DENSE = False
    try:
        general = wave_statistics(**kw)
    finally:
        wave_stats._DENSE = True
    for name in fast:
        pd.testing.assert_frame_equal(fast[name], general[name], rtol=1e-12, atol=1e-12, obj=name)


# --------------------------------------------------------------------------------------------
# the bootstrap intervals: one draw of both waves' council means, cohort rows over councils
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def six_councils(instrument):
    rng = np.random.default_rng(21)
    settings = load_settings(None)
    sizes = {f"C{c}": int(n) for c, n in enumerate(rng.integers(6, 14, 6))}
    w1 = _responses(instrument, rng, wave="2024-01", sizes=sizes)
    w2 = _responses(instrument, rng, wave="2025-01", sizes=sizes, shift=0.3)
    t1 = scoring.score_wave(w1, instrument=instrument, settings=settings)
    t2 = scoring.score_wave(w2, instrument=instrument, settings=settings)
    stats = wave_statistics(responses=w2, respondent_scores=t2["respondent_scores"],
                            enabler_scores=t2["enabler_scores"], grouping_scores=t2["grouping_scores"],
                            instrument=instrument, settings=settings, previous_scores=t1["respondent_scores"])
    return t1, t2, stats, settings, w2


def test_intervals_come_from_the_documented_draws(six_councils):
    """Council CIs of the current wave and change CIs: one bootstrap_replicates draw of both waves;
    cohort CIs: cluster_bootstrap_means over the councils. Same seed, same numbers."""
    t1, t2, stats, settings, _ = six_councils
    st_ = settings["statistics"]
    kw = dict(n_resamples=st_["bootstrap_resamples"], seed=st_["seed"])
    both = pd.concat([t1["respondent_scores"], t2["respondent_scores"]], ignore_index=True)
    rep = inference.bootstrap_replicates(both, group=("wave", "council_id"), **kw)
    councils = rep.intervals(st_["confidence"], where={"wave": ["2025-01"]})
    cohort = inference.cluster_bootstrap_means(t2["respondent_scores"], ci=st_["confidence"],
                                               min_clusters=st_["cohort_ci_min_councils"], **kw)
    change = inference.wave_change(both, ci=st_["confidence"], replicates=rep, **kw)
    for name in ("enabler_scores", "grouping_scores"):
        got = stats[name]
        c = got[got["scope"] == "council"].merge(councils, on=["council_id", "unit_id"], suffixes=("", "_ref"))
        assert len(c) == (got["scope"] == "council").sum()
        np.testing.assert_allclose(c["ci_low"], c["ci_low_ref"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(c["ci_high"], c["ci_high_ref"], rtol=0, atol=1e-12)
        p = got[got["scope"] == "cohort"].merge(cohort, on="unit_id", suffixes=("", "_ref"))
        assert len(p) == (got["scope"] == "cohort").sum() and p["ci_low"].notna().all()
        np.testing.assert_allclose(p[["ci_low", "ci_high"]], p[["ci_low_ref", "ci_high_ref"]], rtol=0, atol=1e-12)
        assert ((p["ci_low"] < p["mean"]) & (p["mean"] < p["ci_high"])).all()
    w = stats["wave_change"].merge(change, on=["council_id", "unit_id"], suffixes=("", "_ref"))
    assert len(w) == len(stats["wave_change"]) == len(change)
    np.testing.assert_allclose(w[["ci_low", "ci_high"]], w[["ci_low_ref", "ci_high_ref"]], rtol=0, atol=1e-12)


def test_cohort_interval_needs_the_minimum_number_of_councils(six_councils, instrument):
    _, t2, stats, settings, w2 = six_councils
    strict = {**settings, "statistics": {**settings["statistics"], "cohort_ci_min_councils": 7}}
    fewer = wave_statistics(responses=w2, respondent_scores=t2["respondent_scores"],
                            enabler_scores=t2["enabler_scores"], grouping_scores=t2["grouping_scores"],
                            instrument=instrument, settings=strict)
    for name in ("enabler_scores", "grouping_scores"):
        cohort = fewer[name][fewer[name]["scope"] == "cohort"]
        assert cohort["ci_low"].isna().all() and cohort["ci_high"].isna().all()
        council = fewer[name][fewer[name]["scope"] == "council"]
        assert council["ci_low"].notna().any()      # council rows keep theirs (from a draw of this wave only)
        before = stats[name][stats[name]["scope"] == "council"]
        pd.testing.assert_frame_equal(council.drop(columns=["ci_low", "ci_high"]),
                                      before.drop(columns=["ci_low", "ci_high"]))
    out = inference.cluster_bootstrap_means(t2["respondent_scores"], min_clusters=7, n_resamples=200)
    assert out["reason"].eq("fewer than 7 councils: no cohort interval").all() and out["ci_low"].isna().all()


@pytest.mark.parametrize("bad", [1, 0, "5", True, 2.5])
def test_cohort_min_councils_setting_is_checked(bad):
    from analysis.exceptions import ConfigError
    from analysis.wave_stats import stats_settings

    settings = load_settings(None)
    assert stats_settings(settings)["cohort_ci_min_councils"] == 5
    bad_settings = {**settings, "statistics": {**settings["statistics"], "cohort_ci_min_councils": bad}}
    with pytest.raises(ConfigError, match="cohort_ci_min_councils"):
        stats_settings(bad_settings)
    lacking = {**settings, "statistics": {k: v for k, v in settings["statistics"].items()
                                          if k != "cohort_ci_min_councils"}}
    with pytest.raises(ConfigError, match="lack statistics.cohort_ci_min_councils"):
        stats_settings(lacking)
