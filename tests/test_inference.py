"""Tests for analysis.inference.

Sources of the expected numbers:

- Mann-Whitney U, Kruskal-Wallis and the Wilcoxon signed-rank test: SciPy 1.17
  (``scipy.stats.mannwhitneyu(method='asymptotic')``, ``kruskal``, ``wilcoxon(method='asymptotic',
  correction=True)``), group by group, on small seeded fixtures.
- Holm (1979): hand-worked step-down examples, the second one being the values R's
  ``p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm")`` gives.
- Cliff's delta, percentile rank and Dunn's z: worked by hand (arithmetic in the tests); Dunn's
  test is also checked against a direct implementation with ``scipy.stats.rankdata`` (the
  formula of Dunn 1964 as scikit-posthocs ``posthoc_dunn`` implements it).
- The bootstrap: against a plain loop over the very same resamples (so equal to rounding), against
  ``scipy.stats.bootstrap(method='percentile')`` statistically, and by exhaustive checks of the
  integer draws.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis import inference as inf
from analysis.exceptions import SchemaMismatchError
from analysis.inference import (
    BOOTSTRAP_COLUMNS,
    CLUSTER_BOOTSTRAP_COLUMNS,
    COUNCIL_VS_REST_COLUMNS,
    DUNN_COLUMNS,
    KRUSKAL_COLUMNS,
    WAVE_CHANGE_COLUMNS,
    bootstrap_means,
    bootstrap_replicates,
    cluster_bootstrap_means,
    council_vs_rest,
    dunn,
    holm,
    kruskal_wallis,
    wave_change,
)

UNITS = {"E01": "enabler", "E02": "enabler", "G1": "grouping"}


def make_scores(seed: int = 0, councils: int = 5, waves: tuple[str, ...] = ("2023-01", "2024-01"),
                n_range: tuple[int, int] = (3, 20), missing: float = 0.15, panel: float = 0.6) -> pd.DataFrame:
    """A seeded respondent scores table in the layout of analysis.scoring.respondent_scores.

    Scores are on the 1..5 scale in steps of 1/3 (enabler means), with ties and NaNs; about
    ``panel`` of a council's respondents answer again in the next wave (same key).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(councils):
        shift = rng.normal(0, 0.4)
        pool = [f"c{c}r{i:03d}" for i in range(200)]
        used = 0
        prev: list[str] = []
        for w in waves:
            n = int(rng.integers(n_range[0], n_range[1] + 1))
            keep = [k for k in prev if rng.random() < panel][:n]
            new = pool[used:used + n - len(keep)]
            used += len(new)
            keys = keep + new
            prev = keys
            for k in keys:
                person = rng.normal(0, 0.5)
                for u, level in UNITS.items():
                    v = np.clip(np.round((3 + shift + person + rng.normal(0, 0.7)) * 3) / 3, 1, 5)
                    rows.append((w, f"C{c}", k, "service", level, u, np.nan if rng.random() < missing else float(v)))
    df = pd.DataFrame(rows, columns=["wave", "council_id", "respondent_key", "perspective", "level", "unit_id",
                                     "score"])
    for col in ("wave", "council_id", "respondent_key", "perspective", "level", "unit_id"):
        df[col] = df[col].astype("str")
    return df


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    return make_scores()


def _sample(df: pd.DataFrame, **where: str) -> np.ndarray:
    mask = np.ones(len(df), dtype=bool)
    for col, val in where.items():
        mask &= (df[col] == val).to_numpy()
    x = df.loc[mask, "score"].to_numpy()
    return x[~np.isnan(x)]


# ------------------------------------------------------------------------------------------
# holm
# ------------------------------------------------------------------------------------------
def test_holm_hand_example() -> None:
    """Sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04; running max 0.02, 0.03, 0.06, 0.06."""
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_r_p_adjust_values() -> None:
    """R: p.adjust(c(0.01, 0.02, 0.03, 0.04, 0.05), "holm") = 0.05 0.08 0.09 0.09 0.09."""
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])


def test_holm_families_nan_ties_and_cap() -> None:
    p = np.array([0.01, np.nan, 0.02, 0.5, 0.01, 0.01, 0.9])
    fam = np.array(["a", "a", "a", "b", "b", "b", "c"])
    out = holm(p, family=fam)
    # family a: 2 tests (NaN ignored): 0.01 * 2 = 0.02, 0.02 * 1 -> max 0.02
    # family b: 0.01, 0.01, 0.5: 0.03, 0.02 -> 0.03 (ties equal), 0.5 -> 0.5
    # family c: one test, unchanged
    assert out[[0, 2]] == pytest.approx([0.02, 0.02])
    assert np.isnan(out[1])
    assert out[[3, 4, 5]] == pytest.approx([0.5, 0.03, 0.03])
    assert out[6] == pytest.approx(0.9)
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])      # capped at 1
    frame = pd.DataFrame({"w": ["x", "x", "y"], "c": ["a", "a", "a"]})
    assert holm([0.01, 0.02, 0.03], family=frame) == pytest.approx([0.02, 0.02, 0.03])


def test_holm_matches_a_plain_implementation() -> None:
    rng = np.random.default_rng(5)
    p = rng.uniform(0, 0.2, 300)
    p[rng.random(300) < 0.1] = np.nan
    fam = rng.integers(0, 12, 300)
    expected = np.full(300, np.nan)
    for f in np.unique(fam):
        idx = np.flatnonzero((fam == f) & ~np.isnan(p))
        order = idx[np.argsort(p[idx], kind="stable")]
        m = len(order)
        running = 0.0
        for i, j in enumerate(order):
            running = max(running, min(1.0, (m - i) * p[j]))
            expected[j] = running
    np.testing.assert_allclose(holm(p, family=fam), expected)


def test_holm_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="lie in"):
        holm([0.5, 1.5])
    with pytest.raises(ValueError, match="same length"):
        holm([0.5, 0.1], family=["a"])


# ------------------------------------------------------------------------------------------
# council_vs_rest
# ------------------------------------------------------------------------------------------
def test_council_vs_rest_matches_scipy(scores: pd.DataFrame) -> None:
    out = council_vs_rest(scores)
    assert list(out.columns) == ["wave", "unit_id", "council_id"] + COUNCIL_VS_REST_COLUMNS
    assert len(out) == 2 * 3 * 5
    for row in out.itertuples(index=False):
        block = scores[(scores["wave"] == row.wave) & (scores["unit_id"] == row.unit_id)]
        x = _sample(block, council_id=row.council_id)
        y = block.loc[block["council_id"] != row.council_id, "score"].dropna().to_numpy()
        ref = stats.mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
        assert row.n == len(x) and row.n_rest == len(y)
        assert row.u == pytest.approx(ref.statistic)
        assert row.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert row.mean == pytest.approx(x.mean()) and row.mean_rest == pytest.approx(y.mean())
        assert row.cliffs_delta == pytest.approx(np.sign(x[:, None] - y[None, :]).mean())
        assert row.reason == ""
    # Holm within wave x council x level
    for _, fam in out.merge(scores[["unit_id", "level"]].drop_duplicates()).groupby(["wave", "council_id", "level"]):
        np.testing.assert_allclose(fam["p_holm"], holm(fam["p_value"]))


def test_council_vs_rest_hand_example() -> None:
    """Council a = (3, 4) against b, c = (1, 2, 3): 5 pairs where a is higher, 1 tie, none lower.

    U = 5 + 0.5 = 5.5; delta = 2 * 5.5 / 6 - 1 = 0.8333 (= (5 - 0) / 6). Council means: a 3.5,
    b 1.5, c 3 -> mid-ranks 3, 1, 2 -> percentile ranks 100 * (r - 1) / 2 = 100, 0, 50.
    """
    df = pd.DataFrame({"wave": "w", "unit_id": "E01", "level": "enabler",
                       "council_id": ["a", "a", "b", "b", "c"], "score": [3.0, 4.0, 1.0, 2.0, 3.0]})
    out = council_vs_rest(df).set_index("council_id")
    assert out.loc["a", "u"] == 5.5
    assert out.loc["a", "cliffs_delta"] == pytest.approx(5 / 6)
    assert out.loc["a", "mean_rest"] == pytest.approx(2.0)
    assert out.loc["a", "diff"] == pytest.approx(1.5)
    assert out["percentile_rank"].tolist() == pytest.approx([100.0, 0.0, 50.0])
    assert out.loc["c", "reason"] == "fewer than 2 valid scores"
    assert np.isnan(out.loc["c", "p_value"]) and out.loc["c", "mean"] == 3.0


def test_council_vs_rest_percentile_rank_ties() -> None:
    """Means 2, 3, 3: mid-ranks 1, 2.5, 2.5 -> 0, 75, 75."""
    df = pd.DataFrame({"wave": "w", "unit_id": "E01", "level": "enabler",
                       "council_id": list("aabbcc"), "score": [2.0, 2.0, 3.0, 3.0, 2.0, 4.0]})
    assert council_vs_rest(df)["percentile_rank"].tolist() == pytest.approx([0.0, 75.0, 75.0])


def test_council_vs_rest_degenerate_cases() -> None:
    df = pd.DataFrame({"wave": "w", "level": "enabler",
                       "unit_id": ["E01"] * 6 + ["E02"] * 4 + ["G1"] * 4,
                       "council_id": ["a", "a", "a", "b", "b", "c"] + ["a", "a", "b", "b"] + ["a", "a", "a", "a"],
                       "score": [1.0, 2.0, 3.0, np.nan, np.nan, 2.0] + [3.0, 3.0, 3.0, 3.0] + [1.0, 2.0, 3.0, 4.0]})
    out = council_vs_rest(df).set_index(["unit_id", "council_id"])
    assert out.loc[("E01", "b"), "n"] == 0
    assert out.loc[("E01", "b"), "reason"] == "no valid scores"
    assert np.isnan(out.loc[("E01", "b"), "mean"])
    assert out.loc[("E01", "a"), "reason"] == "fewer than 2 valid scores in the rest"
    assert out.loc[("E02", "a"), "reason"] == "all scores in the block are equal"
    assert np.isnan(out.loc[("E02", "a"), "p_value"]) and out.loc[("E02", "a"), "cliffs_delta"] == 0.0
    assert out.loc[("G1", "a"), "reason"] == "no other council with valid scores"
    assert np.isnan(out.loc[("G1", "a"), "percentile_rank"])


def test_council_vs_rest_schema_errors(scores: pd.DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match="no column 'council'"):
        council_vs_rest(scores, group="council")
    with pytest.raises(SchemaMismatchError, match="family column 'region'"):
        council_vs_rest(scores, family=("wave", "region"))
    with pytest.raises(SchemaMismatchError, match="must be numeric"):
        council_vs_rest(scores.assign(score=scores["score"].astype(str)))
    with pytest.raises(SchemaMismatchError, match="'perspective' takes more than one value"):
        council_vs_rest(scores.assign(perspective=np.arange(len(scores)).astype(str)),
                        family=("wave", "perspective"))


# ------------------------------------------------------------------------------------------
# Kruskal-Wallis and Dunn
# ------------------------------------------------------------------------------------------
def test_kruskal_wallis_matches_scipy(scores: pd.DataFrame) -> None:
    out = kruskal_wallis(scores)
    assert list(out.columns) == ["wave", "unit_id"] + KRUSKAL_COLUMNS
    for row in out.itertuples(index=False):
        block = scores[(scores["wave"] == row.wave) & (scores["unit_id"] == row.unit_id)].dropna(subset=["score"])
        samples = [g["score"].to_numpy() for _, g in block.groupby("council_id")]
        ref = stats.kruskal(*samples)
        assert row.h == pytest.approx(ref.statistic, rel=1e-10)
        assert row.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        assert row.df == len(samples) - 1 and row.n_groups == len(samples) and row.n == len(block)
        assert row.epsilon2 == pytest.approx(ref.statistic / ((row.n ** 2 - 1) / (row.n + 1)))


def test_council_tests_are_kruskal_wallis_and_council_vs_rest(scores: pd.DataFrame) -> None:
    kw, vs = inf.council_tests(scores, family=("wave", "council_id", "level"))
    pd.testing.assert_frame_equal(kw, kruskal_wallis(scores))
    pd.testing.assert_frame_equal(vs, council_vs_rest(scores, family=("wave", "council_id", "level")))
    kw0, vs0 = inf.council_tests(scores.iloc[:0])
    assert kw0.empty and vs0.empty and list(vs0.columns) == ["wave", "unit_id", "council_id"] + COUNCIL_VS_REST_COLUMNS


def test_kruskal_wallis_degenerate() -> None:
    df = pd.DataFrame({"wave": "w", "unit_id": ["E01"] * 3 + ["E02"] * 4,
                       "council_id": ["a", "a", "a", "a", "a", "b", "b"],
                       "score": [1.0, 2.0, 3.0, 2.0, 2.0, 2.0, 2.0]})
    out = kruskal_wallis(df).set_index("unit_id")
    assert out.loc["E01", "reason"] == "fewer than 2 councils with valid scores"
    assert np.isnan(out.loc["E01", "h"]) and np.isnan(out.loc["E01", "df"])
    assert out.loc["E02", "reason"] == "all scores in the block are equal"
    assert np.isnan(out.loc["E02", "p_value"])


def test_dunn_hand_example() -> None:
    """a = 1,2,3; b = 4,5,6; c = 7,8,9: mean ranks 2, 5, 8; N = 9, no ties.

    var = N (N + 1) / 12 * (1/3 + 1/3) = 7.5 * 2/3 = 5, so z_ab = -3 / sqrt(5) = -1.3416,
    z_ac = -6 / sqrt(5) = -2.6833, z_bc = -1.3416; p = erfc(|z| / sqrt 2). Holm over the 3 pairs:
    p_ac * 3, then p_ab * 2 and max(p_bc * 1, that) for the two tied ones.
    """
    df = pd.DataFrame({"wave": "w", "unit_id": "E01", "council_id": list("aaabbbccc"),
                       "score": np.arange(1.0, 10.0)})
    out = dunn(df)
    assert list(out.columns) == ["wave", "unit_id"] + DUNN_COLUMNS
    assert list(zip(out["group_a"], out["group_b"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    z = [-3 / math.sqrt(5), -6 / math.sqrt(5), -3 / math.sqrt(5)]
    p = [math.erfc(abs(v) / math.sqrt(2)) for v in z]
    assert out["z"].tolist() == pytest.approx(z)
    assert out["p_value"].tolist() == pytest.approx(p)
    assert out["mean_rank_a"].tolist() == [2.0, 2.0, 5.0]
    assert out["p_adj"].tolist() == pytest.approx([2 * p[0], 3 * p[1], 2 * p[0]])
    bonf = dunn(df, correction="bonferroni")["p_adj"].tolist()
    assert bonf == pytest.approx([min(1, 3 * v) for v in p])


def test_dunn_matches_direct_implementation(scores: pd.DataFrame) -> None:
    out = dunn(scores)
    for (w, u), got in out.groupby(["wave", "unit_id"]):
        block = scores[(scores["wave"] == w) & (scores["unit_id"] == u)].dropna(subset=["score"])
        r = stats.rankdata(block["score"])
        n = len(r)
        _, t = np.unique(block["score"], return_counts=True)
        sigma2 = n * (n + 1) / 12 - (t ** 3 - t).sum() / (12 * (n - 1))
        mean_rank = pd.Series(r).groupby(block["council_id"].to_numpy()).mean()
        size = block["council_id"].value_counts()
        for row in got.itertuples(index=False):
            z = (mean_rank[row.group_a] - mean_rank[row.group_b]) / math.sqrt(
                sigma2 * (1 / size[row.group_a] + 1 / size[row.group_b]))
            assert row.z == pytest.approx(z)
            assert row.p_value == pytest.approx(2 * stats.norm.sf(abs(z)))
        np.testing.assert_allclose(got["p_adj"], holm(got["p_value"]))
    with pytest.raises(ValueError, match="correction"):
        dunn(scores, correction="fdr")


# ------------------------------------------------------------------------------------------
# bootstrap_means
# ------------------------------------------------------------------------------------------
def _engine_inputs(df: pd.DataFrame, group: tuple[str, ...] = ("wave", "council_id")):
    enc: dict = {}
    gk = inf._keys(df, group, enc)
    uk = inf._keys(df, ("unit_id",), enc)
    rk = inf._keys(df, ("respondent_key",), enc)
    xr, sizes, start, n_inv, _ = inf._respondent_matrix(gk.codes, rk.codes, rk.n, uk.codes, uk.n,
                                                        df["score"].to_numpy(), gk.n, names="test")
    return xr, sizes, start, n_inv


def _naive_from_counts(xr, sizes, start, n_inv, n_resamples: int, seed: int) -> np.ndarray:
    """Plain loop: for each resample, repeat each respondent as often as drawn and take nanmean."""
    out = np.full((len(sizes), xr.shape[1], n_resamples), np.nan)
    for groups, j0, counts in inf._iter_counts(xr, sizes, start, n_inv, n_resamples, seed):
        for gi, g in enumerate(groups):
            n = sizes[g]
            block = xr[start[g]:start[g] + n]
            for j in range(counts.shape[0]):
                c = counts[j, gi, :n]
                assert c.sum() == n                      # a resample draws n respondents
                drawn = block[np.repeat(np.arange(n), c.astype(np.int64))]
                out[g, :, j0 + j] = _nanmean(drawn)
    return out


def _nanmean(a: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(a)
    k = ok.sum(axis=0)
    s = np.where(ok, a, 0.0).sum(axis=0)
    return np.where(k > 0, s / np.maximum(k, 1), np.nan)


def test_bootstrap_engine_equals_plain_loop_on_the_same_resamples() -> None:
    """Same counts, float64: equal to rounding; the float32 fast path to ~1e-6 on the 1..5 scale."""
    df = make_scores(seed=3, councils=12, waves=("w1",), n_range=(1, 30), missing=0.25)
    xr, sizes, start, n_inv = _engine_inputs(df)
    naive = _naive_from_counts(xr, sizes, start, n_inv, 200, seed=11)
    center, dev = inf._resampled_means(xr, sizes, start, n_inv, n_resamples=200, seed=11, workers=1,
                                       dtype=np.float64)
    fast = dev + center[:, :, None]
    assert np.array_equal(np.isnan(fast), np.isnan(naive))
    np.testing.assert_allclose(fast, naive, rtol=0, atol=1e-12)
    c32, d32 = inf._resampled_means(xr, sizes, start, n_inv, n_resamples=200, seed=11, workers=2)
    np.testing.assert_allclose(d32 + c32[:, :, None], naive, rtol=0, atol=2e-5)


def test_bootstrap_engine_large_group_uses_32_bit_words_and_chunks() -> None:
    """A 5,000-respondent group (cohort rows): 32-bit words, respondents cut into chunks."""
    rng = np.random.default_rng(2)
    n = 5000
    df = pd.DataFrame({"wave": "w", "council_id": "big", "respondent_key": np.repeat([f"r{i}" for i in range(n)], 4),
                       "unit_id": np.tile(["E01", "E02", "G1", "overall"], n),
                       "score": np.where(rng.random(4 * n) < 0.3, np.nan, rng.integers(1, 6, 4 * n) * 1.0)})
    xr, sizes, start, n_inv = _engine_inputs(df)
    cd = inf._prepare_class(inf._size_classes(sizes)[0], xr, start, n_inv, np.float64)
    assert inf._word_bits(cd.cls.n_pad) == 32 and cd.a4.shape[1] > 1 and cd.inv4.shape[1] > 1
    naive = _naive_from_counts(xr, sizes, start, n_inv, 40, seed=4)
    center, dev = inf._resampled_means(xr, sizes, start, n_inv, n_resamples=40, seed=4, dtype=np.float64)
    np.testing.assert_allclose(dev + center[:, :, None], naive, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 500, 1000, 3000, 4096])
def test_integer_draws_are_exactly_uniform(n: int) -> None:
    """Every accepted 16-bit word w < q n maps to floor(w / q); rejected words map to >= n."""
    q = 65536 // n
    inv = inf._reciprocals(np.array([n]), 16)
    w = np.arange(65536, dtype=np.uint16)
    idx = np.empty(65536, dtype=np.int32)
    np.multiply(w, inv[0], out=idx, casting="unsafe")
    accepted = w.astype(np.int64) < q * n
    np.testing.assert_array_equal(idx[accepted], w[accepted].astype(np.int64) // q)
    assert (idx[~accepted] >= n).all()
    assert np.bincount(idx[accepted], minlength=n).tolist() == [q] * n     # q preimages each


def test_resample_counts_are_uniform() -> None:
    """Chi-square goodness of fit of the draws of a 7-respondent group over 3,000 resamples."""
    xr = np.arange(7.0)[:, None]
    sizes, start, n_inv = np.array([7]), np.array([0]), np.array([0])
    total = np.zeros(7)
    for _, _, counts in inf._iter_counts(xr, sizes, start, n_inv, 3000, seed=99):
        total += counts[:, 0, :7].sum(axis=0)
    assert total.sum() == 7 * 3000
    assert stats.chisquare(total).pvalue > 1e-4


def test_bootstrap_means_agrees_with_scipy_bootstrap() -> None:
    """n = 400 single group, no missing values: limits within 0.25 standard errors of SciPy's."""
    rng = np.random.default_rng(8)
    x = np.clip(np.round(rng.normal(3.2, 0.9, 400) * 3) / 3, 1, 5)
    df = pd.DataFrame({"wave": "w", "council_id": "a", "respondent_key": [f"r{i}" for i in range(400)],
                       "unit_id": "E01", "score": x})
    out = bootstrap_means(df, n_resamples=5000, seed=1).iloc[0]
    ref = stats.bootstrap((x,), np.mean, method="percentile", n_resamples=5000, confidence_level=0.95,
                          rng=np.random.default_rng(2)).confidence_interval
    se = x.std(ddof=1) / math.sqrt(len(x))
    assert out["mean"] == pytest.approx(x.mean())
    assert abs(out["ci_low"] - ref.low) < 0.25 * se
    assert abs(out["ci_high"] - ref.high) < 0.25 * se


def test_bootstrap_means_output_and_reasons() -> None:
    df = pd.DataFrame({
        "wave": "w", "council_id": ["a"] * 6 + ["b"] * 2,
        "respondent_key": ["r1", "r1", "r2", "r2", "r3", "r3", "s1", "s1"],
        "unit_id": ["E01", "E02"] * 4,
        "score": [2.0, 4.0, 3.0, 4.0, np.nan, 4.0, np.nan, 5.0]})
    out = bootstrap_means(df, n_resamples=300)
    assert list(out.columns) == ["wave", "council_id", "unit_id"] + BOOTSTRAP_COLUMNS
    rows = out.set_index(["council_id", "unit_id"])
    assert rows.loc[("a", "E01"), "n"] == 2 and rows.loc[("a", "E01"), "mean"] == 2.5
    assert rows.loc[("a", "E01"), "reason"] == ""
    assert 2.0 <= rows.loc[("a", "E01"), "ci_low"] <= 2.5 <= rows.loc[("a", "E01"), "ci_high"] <= 3.0
    assert rows.loc[("a", "E02"), "reason"] == "all valid scores are equal"
    assert rows.loc[("a", "E02"), "mean"] == 4.0 and np.isnan(rows.loc[("a", "E02"), "ci_low"])
    assert rows.loc[("b", "E01"), "reason"] == "no valid scores" and rows.loc[("b", "E01"), "n"] == 0
    assert rows.loc[("b", "E02"), "reason"] == "fewer than 2 valid scores"
    assert rows.loc[("b", "E02"), "mean"] == 5.0 and np.isnan(rows.loc[("b", "E02"), "ci_high"])


def test_bootstrap_means_reproducible_and_thread_independent(scores: pd.DataFrame) -> None:
    a = bootstrap_means(scores, n_resamples=400, seed=5, workers=1)
    b = bootstrap_means(scores, n_resamples=400, seed=5, workers=2)
    pd.testing.assert_frame_equal(a, b)
    c = bootstrap_means(scores, n_resamples=400, seed=6)
    assert not np.allclose(a["ci_low"], c["ci_low"], equal_nan=True)
    ok = a["reason"] == ""
    assert (a.loc[ok, "ci_low"] <= a.loc[ok, "mean"]).all() and (a.loc[ok, "mean"] <= a.loc[ok, "ci_high"]).all()


def test_bootstrap_means_cohort_rows(scores: pd.DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match="more than once"):   # keys repeat across councils
        bootstrap_means(scores.assign(respondent_key="same"), group=("wave",), n_resamples=50)
    out = bootstrap_means(scores, group=("wave",), respondent=("council_id", "respondent_key"), n_resamples=300)
    assert list(out.columns) == ["wave", "unit_id"] + BOOTSTRAP_COLUMNS
    for row in out.itertuples(index=False):
        x = _sample(scores, wave=row.wave, unit_id=row.unit_id)
        assert row.n == len(x) and row.mean == pytest.approx(x.mean())
        assert row.ci_low < row.mean < row.ci_high


def test_bootstrap_means_validates(scores: pd.DataFrame) -> None:
    with pytest.raises(SchemaMismatchError, match="no column 'respondent'"):
        bootstrap_means(scores, respondent="respondent")
    with pytest.raises(SchemaMismatchError, match="missing value"):
        bootstrap_means(scores.assign(council_id=scores["council_id"].where(scores.index > 0)))
    with pytest.raises(ValueError, match="`ci`"):
        bootstrap_means(scores, ci=95)
    with pytest.raises(ValueError, match="`n_resamples`"):
        bootstrap_means(scores, n_resamples=0)
    empty = bootstrap_means(scores.iloc[:0])
    assert empty.empty and list(empty.columns) == ["wave", "council_id", "unit_id"] + BOOTSTRAP_COLUMNS


def test_bootstrap_replicates_intervals_are_bootstrap_means(scores: pd.DataFrame) -> None:
    """bootstrap_means is the intervals of bootstrap_replicates; `where` keeps rows, not draws."""
    rep = bootstrap_replicates(scores, n_resamples=300, seed=4)
    full = rep.intervals(0.9)
    pd.testing.assert_frame_equal(full, bootstrap_means(scores, n_resamples=300, seed=4, ci=0.9))
    one = rep.intervals(0.9, where={"wave": ["2024-01"]})
    pd.testing.assert_frame_equal(one, full[full["wave"] == "2024-01"].reset_index(drop=True))
    assert rep.intervals(where={"wave": ["none"]}).empty
    with pytest.raises(ValueError, match="group columns"):
        rep.intervals(where={"unit_id": ["E01"]})


def test_bootstrap_replicates_in_the_background_are_the_same_draws(scores: pd.DataFrame) -> None:
    now = bootstrap_replicates(scores, n_resamples=300, seed=9)
    later = bootstrap_replicates(scores, n_resamples=300, seed=9, background=True)
    np.testing.assert_array_equal(later.dev, now.dev)          # waits for the background draw
    np.testing.assert_array_equal(later.center, now.center)
    pd.testing.assert_frame_equal(later.intervals(), now.intervals())
    pd.testing.assert_frame_equal(wave_change(scores, n_resamples=300, replicates=later),
                                  wave_change(scores, n_resamples=300, replicates=now))


# ------------------------------------------------------------------------------------------
# cluster_bootstrap_means (cohort rows: councils resampled)
# ------------------------------------------------------------------------------------------
def _cluster_loop(df: pd.DataFrame, n_resamples: int, seed: int) -> dict[tuple[str, str], np.ndarray]:
    """Plain loop over the very resampled council indices of the engine: for each resample, stack
    the rows of the drawn councils (with repeats) and take the mean of the valid scores."""
    out = {}
    for g, (wave, part) in enumerate(sorted(df.groupby("wave"), key=lambda t: t[0])):
        councils = sorted(part["council_id"].unique())
        units = sorted(part["unit_id"].unique())
        rows = {c: part[part["council_id"] == c] for c in councils}
        reps = {u: np.full(n_resamples, np.nan) for u in units}
        for j0, idx in inf._cluster_draws(seed, g, len(councils), n_resamples):
            for j, drawn in enumerate(idx):
                stacked = pd.concat([rows[councils[i]] for i in drawn])
                for u in units:
                    x = stacked.loc[stacked["unit_id"] == u, "score"].dropna().to_numpy()
                    reps[u][j0 + j] = x.mean() if len(x) else np.nan
        out |= {(wave, u): r for u, r in reps.items()}
    return out


def test_cluster_bootstrap_equals_plain_loop_on_the_same_resampled_councils() -> None:
    df = make_scores(seed=5, councils=7, n_range=(1, 12), missing=0.3)
    x = df["score"].to_numpy()
    cp = inf._cluster_parts(df, x, cluster="council_id", group=("wave",), unit="unit_id")
    reps = inf._cluster_replicates(cp.totals, cp.counts, cp.first, cp.n_clusters, n_resamples=60, seed=3)
    loop = _cluster_loop(df, 60, seed=3)
    waves, units = cp.gk.columns["wave"], cp.uk.columns["unit_id"]
    for gi, w in enumerate(waves):
        for ui, u in enumerate(units):
            assert np.array_equal(np.isnan(reps[gi, ui]), np.isnan(loop[(w, u)]))
            np.testing.assert_allclose(reps[gi, ui], loop[(w, u)], rtol=0, atol=1e-12)
    # and the interval is the percentile interval of those replicates (numpy's linear quantiles)
    out = cluster_bootstrap_means(df, n_resamples=60, seed=3, ci=0.8, min_clusters=2)
    for row in out.itertuples(index=False):
        r = loop[(row.wave, row.unit_id)]
        r = r[~np.isnan(r)]
        assert row.ci_low == pytest.approx(np.quantile(r, 0.1), abs=1e-12)
        assert row.ci_high == pytest.approx(np.quantile(r, 0.9), abs=1e-12)
        xs = _sample(df, wave=row.wave, unit_id=row.unit_id)
        assert row.n == len(xs) and row.mean == pytest.approx(xs.mean(), abs=1e-12)
        assert row.n_clusters == df.loc[(df["wave"] == row.wave) & (df["unit_id"] == row.unit_id)
                                        & df["score"].notna(), "council_id"].nunique()


def test_cluster_bootstrap_hand_example() -> None:
    """Council a: 1 and 2 (T = 3, N = 2); council b: 5 (T = 5, N = 1). Two councils drawn with
    replacement: aa -> 3/2 (probability 1/4), ab or ba -> 8/3 (1/2), bb -> 5 (1/4). With 4,000
    resamples the 2.5% and 97.5% quantiles fall inside the aa and bb atoms: exactly 1.5 and 5."""
    df = pd.DataFrame({"wave": "w", "council_id": ["a", "a", "b"], "respondent_key": ["r1", "r2", "s1"],
                       "unit_id": "E01", "score": [1.0, 2.0, 5.0]})
    out = cluster_bootstrap_means(df, n_resamples=4000, seed=8, min_clusters=2).iloc[0]
    assert list(out.index) == ["wave", "unit_id"] + CLUSTER_BOOTSTRAP_COLUMNS
    assert (out["n_clusters"], out["n"], out["mean"]) == (2, 3, pytest.approx(8 / 3))
    assert out["ci_low"] == 1.5 and out["ci_high"] == 5.0 and out["reason"] == ""
    cp = inf._cluster_parts(df, df["score"].to_numpy(), cluster="council_id", group=("wave",), unit="unit_id")
    reps = inf._cluster_replicates(cp.totals, cp.counts, cp.first, cp.n_clusters, n_resamples=4000, seed=8)[0, 0]
    share = [np.mean(np.isclose(reps, v)) for v in (1.5, 8 / 3, 5.0)]
    assert sum(share) == 1.0
    assert stats.chisquare(np.array(share) * 4000, [1000, 2000, 1000]).pvalue > 1e-4


def test_cluster_bootstrap_is_wider_than_the_respondent_bootstrap_when_councils_differ() -> None:
    """8 councils x 80 respondents, council means 0.4 apart on average (ICC(1) about 0.15): the
    respondent bootstrap treats 640 people as independent; the councils' interval is wider by
    about the square root of the design effect 1 + 79 x 0.15 (about 3.6)."""
    rng = np.random.default_rng(3)
    shift = rng.normal(0, 0.4, 8)
    df = pd.DataFrame({"wave": "w", "council_id": np.repeat([f"c{c}" for c in range(8)], 80),
                       "respondent_key": [f"r{i}" for i in range(640)], "unit_id": "E01",
                       "score": np.clip(3 + np.repeat(shift, 80) + rng.normal(0, 0.9, 640), 1, 5)})
    clus = cluster_bootstrap_means(df, n_resamples=2000).iloc[0]
    iid = bootstrap_means(df, group=("wave",), respondent=("council_id", "respondent_key")).iloc[0]
    assert clus["mean"] == pytest.approx(iid["mean"]) and clus["n"] == iid["n"] == 640
    assert clus["ci_high"] - clus["ci_low"] > 2 * (iid["ci_high"] - iid["ci_low"])


def test_cluster_bootstrap_degenerate_inputs() -> None:
    one = pd.DataFrame({"wave": "w", "council_id": "a", "unit_id": ["E01", "E02"] * 4,
                        "score": [1.0, 2.0, 3.0, 4.0, 5.0, 2.0, 4.0, 3.0]})
    out = cluster_bootstrap_means(one, n_resamples=100)
    assert out["reason"].eq("fewer than 5 councils: no cohort interval").all()
    assert out["ci_low"].isna().all() and out["ci_high"].isna().all() and (out["n_clusters"] == 1).all()
    assert out["mean"].tolist() == [3.25, 2.75]
    six = pd.concat([one.assign(council_id=c) for c in "abcdef"], ignore_index=True)
    six.loc[six["council_id"].isin(["a", "b", "c"]) & (six["unit_id"] == "E02"), "score"] = np.nan
    out = cluster_bootstrap_means(six, n_resamples=200, min_clusters=4).set_index("unit_id")
    assert out.loc["E01", "reason"] == "" and out.loc["E01", "n_clusters"] == 6
    assert np.isnan(out.loc["E02", "ci_low"]) and out.loc["E02", "n_clusters"] == 3
    assert out.loc["E02", "reason"] == "fewer than 4 councils: no cohort interval"
    # every council identical: the councils' means agree, the interval is that point
    assert out.loc["E01", "ci_low"] == pytest.approx(out.loc["E01", "mean"]) == out.loc["E01", "ci_high"]
    missing = cluster_bootstrap_means(six.assign(score=np.nan), n_resamples=50)
    assert (missing["n"] == 0).all() and missing["mean"].isna().all() and missing["ci_low"].isna().all()
    assert missing["reason"].eq("no valid scores").all()
    flat = cluster_bootstrap_means(six.assign(score=3.0), n_resamples=50)
    assert flat["reason"].eq("all valid scores are equal").all() and flat["ci_low"].isna().all()
    single = cluster_bootstrap_means(six.iloc[:1], n_resamples=50)
    assert single["reason"].tolist() == ["fewer than 2 valid scores"] and single["mean"].tolist() == [1.0]
    empty = cluster_bootstrap_means(six.iloc[:0])
    assert empty.empty and list(empty.columns) == ["wave", "unit_id"] + CLUSTER_BOOTSTRAP_COLUMNS
    for bad in (1, 2.5, 0):
        with pytest.raises(ValueError, match="min_clusters"):
            cluster_bootstrap_means(six, min_clusters=bad)
    with pytest.raises(ValueError, match="`ci`"):
        cluster_bootstrap_means(six, ci=1.5)
    with pytest.raises(SchemaMismatchError, match="no column 'region'"):
        cluster_bootstrap_means(six, cluster="region")


def test_cluster_intervals_from_replicates_equal_cluster_bootstrap_means() -> None:
    """The cohort rows from the sums kept with the council x wave replicates: the same table as
    cluster_bootstrap_means on the rows of the selected waves (same resamples, same numbers)."""
    df = make_scores(seed=11, councils=7, n_range=(1, 15), missing=0.3)
    df.loc[(df["council_id"] == "C2") & (df["unit_id"] == "E02"), "score"] = 3.0      # one flat council
    df.loc[(df["unit_id"] == "G1") & (df["wave"] == "2024-01"), "score"] = 4.0         # a flat wave x unit
    assert sorted(df["wave"].unique()) == ["2023-01", "2024-01"]
    rep = bootstrap_replicates(df, group=("wave", "council_id"), n_resamples=300, seed=3)
    for waves in (["2023-01"], ["2024-01"], ["2023-01", "2024-01"]):
        got = rep.cluster_intervals(0.9, where={"wave": waves}, seed=4, min_clusters=3)
        want = cluster_bootstrap_means(df[df["wave"].isin(waves)], n_resamples=300, ci=0.9, seed=4, min_clusters=3)
        pd.testing.assert_frame_equal(got, want)
        assert len(got) == 3 * len(waves) and got["ci_low"].notna().any()
    flat = got.set_index(["wave", "unit_id"])
    assert flat.loc[("2024-01", "G1"), "reason"] == "all valid scores are equal"
    assert rep.cluster_intervals(where={"wave": ["none"]}).empty
    with pytest.raises(ValueError, match="group columns"):
        rep.cluster_intervals(cluster="unit_id")


def test_cluster_bootstrap_reproducible_and_row_order_free(scores: pd.DataFrame) -> None:
    a = cluster_bootstrap_means(scores, n_resamples=500, seed=5, min_clusters=3)
    b = cluster_bootstrap_means(scores.sample(frac=1, random_state=1), n_resamples=500, seed=5, min_clusters=3)
    pd.testing.assert_frame_equal(a, b)
    c = cluster_bootstrap_means(scores, n_resamples=500, seed=6, min_clusters=3)
    assert not np.allclose(a["ci_low"], c["ci_low"])
    assert (a["ci_low"] < a["mean"]).all() and (a["mean"] < a["ci_high"]).all()
    assert list(a["wave"]) == sorted(a["wave"]) and (a["n_clusters"] == 5).all()


# ------------------------------------------------------------------------------------------
# wave_change
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def change(scores: pd.DataFrame) -> pd.DataFrame:
    return wave_change(scores, n_resamples=500)


def test_wave_change_mann_whitney_and_means(scores: pd.DataFrame, change: pd.DataFrame) -> None:
    assert list(change.columns) == ["council_id", "unit_id"] + WAVE_CHANGE_COLUMNS
    assert len(change) == 5 * 3
    for row in change.itertuples(index=False):
        x0 = _sample(scores, council_id=row.council_id, unit_id=row.unit_id, wave=row.wave_from)
        x1 = _sample(scores, council_id=row.council_id, unit_id=row.unit_id, wave=row.wave_to)
        assert (row.n_from, row.n_to) == (len(x0), len(x1))
        assert row.change == pytest.approx(x1.mean() - x0.mean())
        if len(x0) >= 2 and len(x1) >= 2:
            ref = stats.mannwhitneyu(x1, x0, method="asymptotic")
            assert row.u == pytest.approx(ref.statistic)
            assert row.p_value == pytest.approx(ref.pvalue, rel=1e-9)
            assert row.ci_low <= row.change <= row.ci_high


@pytest.mark.parametrize("zero_method", ["wilcox", "pratt"])
def test_wave_change_wilcoxon_matches_scipy(scores: pd.DataFrame, zero_method: str) -> None:
    out = wave_change(scores, n_resamples=10, zero_method=zero_method, min_paired=3)
    checked = 0
    for row in out.itertuples(index=False):
        a = scores[(scores["council_id"] == row.council_id) & (scores["unit_id"] == row.unit_id)]
        before = a[a["wave"] == row.wave_from].set_index("respondent_key")["score"].dropna()
        after = a[a["wave"] == row.wave_to].set_index("respondent_key")["score"].dropna()
        both = before.index.intersection(after.index)
        assert row.n_paired == len(both)
        d = after[both].to_numpy() - before[both].to_numpy()
        if len(both) >= 3 and (d != 0).any():
            ref = stats.wilcoxon(d, zero_method=zero_method, correction=True, method="asymptotic")
            assert row.wilcoxon_stat == pytest.approx(ref.statistic)
            assert row.wilcoxon_p == pytest.approx(ref.pvalue, rel=1e-9)
            checked += 1
    assert checked >= 5


def test_wave_change_wilcoxon_with_many_ties_and_zeros() -> None:
    d = np.array([0, 0, 1, 1, -1, 2, 2, 2, -3, 1, 0, 4.0])
    for zm in ("wilcox", "pratt"):
        stat, p, _, _ = inf._wilcoxon(np.zeros(len(d), dtype=np.int64), d, 1, zm)
        ref = stats.wilcoxon(d, zero_method=zm, correction=True, method="asymptotic")
        assert stat[0] == pytest.approx(ref.statistic) and p[0] == pytest.approx(ref.pvalue)


def test_wave_change_holm_families_and_reproducibility(scores: pd.DataFrame, change: pd.DataFrame) -> None:
    fam = change.merge(scores[["unit_id", "level"]].drop_duplicates())
    for _, f in fam.groupby(["council_id", "level", "wave_from", "wave_to"]):
        np.testing.assert_allclose(f["p_holm"], holm(f["p_value"]))
        np.testing.assert_allclose(f["wilcoxon_p_holm"], holm(f["wilcoxon_p"]))
    again = wave_change(scores.sample(frac=1, random_state=3), n_resamples=500)
    pd.testing.assert_frame_equal(change, again)


def test_wave_change_interval_agrees_with_scipy_two_sample_bootstrap() -> None:
    """One council, 300 then 250 respondents: the interval of the change is within 0.25 standard
    errors of scipy.stats.bootstrap on mean(after) - mean(before), samples resampled independently."""
    rng = np.random.default_rng(12)
    x0 = np.clip(np.round(rng.normal(3.0, 0.9, 300) * 3) / 3, 1, 5)
    x1 = np.clip(np.round(rng.normal(3.3, 0.9, 250) * 3) / 3, 1, 5)
    df = pd.DataFrame({"wave": ["w1"] * 300 + ["w2"] * 250, "council_id": "a", "unit_id": "E01",
                       "level": "enabler", "respondent_key": [f"r{i}" for i in range(550)],
                       "score": np.concatenate([x0, x1])})
    out = wave_change(df, n_resamples=5000, seed=2).iloc[0]
    ref = stats.bootstrap((x0, x1), lambda a, b, axis=-1: b.mean(axis=axis) - a.mean(axis=axis),
                          method="percentile", n_resamples=5000, rng=np.random.default_rng(3)).confidence_interval
    se = math.sqrt(x0.var(ddof=1) / 300 + x1.var(ddof=1) / 250)
    assert out["change"] == pytest.approx(x1.mean() - x0.mean())
    assert abs(out["ci_low"] - ref.low) < 0.25 * se and abs(out["ci_high"] - ref.high) < 0.25 * se
    assert out["n_paired"] == 0 and out["reason"] == "fewer than 6 paired respondents"


def test_wave_change_skipped_wave_and_degenerate() -> None:
    """Council a answers in w1 and w3 (compared directly); b has one respondent in w2."""
    rows = [("w1", "a", f"r{i}", "E01", "enabler", float(1 + i % 3)) for i in range(8)]
    rows += [("w3", "a", f"r{i}", "E01", "enabler", float(2 + i % 3)) for i in range(8)]
    rows += [("w1", "b", "s1", "E01", "enabler", 3.0), ("w1", "b", "s2", "E01", "enabler", 4.0),
             ("w2", "b", "s1", "E01", "enabler", 3.0)]
    rows += [("w1", "c", f"t{i}", "E01", "enabler", 3.0) for i in range(3)]
    rows += [("w2", "c", f"t{i}", "E01", "enabler", 4.0) for i in range(3)]
    df = pd.DataFrame(rows, columns=["wave", "council_id", "respondent_key", "unit_id", "level", "score"])
    out = wave_change(df, n_resamples=200).set_index("council_id")
    assert (out.loc["a", "wave_from"], out.loc["a", "wave_to"]) == ("w1", "w3")
    assert out.loc["a", "n_paired"] == 8 and out.loc["a", "change"] == pytest.approx(1.0)
    assert out.loc["a", "wilcoxon_p"] < 0.05 and out.loc["a", "reason"] == ""
    assert "fewer than 2 valid scores in a wave" in out.loc["b", "reason"]
    assert np.isnan(out.loc["b", "p_value"]) and np.isnan(out.loc["b", "ci_low"])
    assert "no spread within either wave" in out.loc["c", "reason"]
    assert "fewer than 6 paired respondents" in out.loc["c", "reason"]
    assert out.loc["c", "change"] == 1.0 and np.isnan(out.loc["c", "ci_low"])
    single = wave_change(df[df["wave"] == "w1"])
    assert single.empty and list(single.columns) == ["council_id", "unit_id"] + WAVE_CHANGE_COLUMNS


def test_wave_change_all_zero_differences() -> None:
    rows = [(w, "a", f"r{i}", "E01", "enabler", float(1 + i % 4)) for w in ("w1", "w2") for i in range(8)]
    df = pd.DataFrame(rows, columns=["wave", "council_id", "respondent_key", "unit_id", "level", "score"])
    out = wave_change(df, n_resamples=100).iloc[0]
    assert out["reason"] == "all paired differences are zero" and np.isnan(out["wilcoxon_p"])
    assert out["p_value"] == pytest.approx(stats.mannwhitneyu(df["score"][8:], df["score"][:8],
                                                              method="asymptotic").pvalue)


def test_wave_change_from_shared_replicates_agrees_with_standalone() -> None:
    """The change interval from the council x wave resamples that also give the council intervals
    (what wave_stats does) against wave_change drawing its own: every other column identical, the
    limits equal up to Monte Carlo noise (about 0.06 standard errors between two independent sets
    of 4,000 resamples; allowed: 0.3)."""
    df = make_scores(seed=9, councils=6, n_range=(60, 120), missing=0.1)
    alone = wave_change(df, n_resamples=4000, seed=1)
    rep = bootstrap_replicates(df, group=("wave", "council_id"), n_resamples=4000, seed=2)
    shared = wave_change(df, n_resamples=4000, replicates=rep)
    ci = ["ci_low", "ci_high"]
    pd.testing.assert_frame_equal(alone.drop(columns=ci), shared.drop(columns=ci))
    se = []
    for row in alone.itertuples(index=False):
        x0 = _sample(df, council_id=row.council_id, unit_id=row.unit_id, wave=row.wave_from)
        x1 = _sample(df, council_id=row.council_id, unit_id=row.unit_id, wave=row.wave_to)
        se.append(math.sqrt(x0.var(ddof=1) / len(x0) + x1.var(ddof=1) / len(x1)))
    se = np.asarray(se)
    assert np.isfinite(shared[ci].to_numpy()).all()
    assert (np.abs(shared["ci_low"] - alone["ci_low"]) < 0.3 * se).all()
    assert (np.abs(shared["ci_high"] - alone["ci_high"]) < 0.3 * se).all()
    # the same resamples give the council intervals: each change replicate is a difference of two of them
    dev = rep.dev.astype(np.float64) + rep.center[:, :, None]
    g = {(w, c): i for i, (w, c) in enumerate(zip(rep.gk.columns["wave"], rep.gk.columns["council_id"],
                                                   strict=True))}
    u = {v: i for i, v in enumerate(rep.uk.columns["unit_id"])}
    row = shared.iloc[0]
    diff = dev[g[(row.wave_to, row.council_id)], u[row.unit_id]] - dev[g[(row.wave_from, row.council_id)],
                                                                         u[row.unit_id]]
    lo, hi = np.quantile(diff, [0.025, 0.975])
    assert row.ci_low == pytest.approx(lo, abs=1e-5) and row.ci_high == pytest.approx(hi, abs=1e-5)


def test_wave_change_rejects_replicates_of_another_table(scores: pd.DataFrame) -> None:
    rep = bootstrap_replicates(scores, group=("wave", "council_id"), n_resamples=50)
    with pytest.raises(ValueError, match="another table"):
        wave_change(scores.copy(), n_resamples=50, replicates=rep)
    with pytest.raises(ValueError, match="n_resamples=50"):
        wave_change(scores, n_resamples=60, replicates=rep)
    councils_only = bootstrap_replicates(scores, group=("council_id",), respondent=("wave", "respondent_key"),
                                         n_resamples=50)
    with pytest.raises(ValueError, match="group=\\('council_id',\\)"):
        wave_change(scores, n_resamples=50, replicates=councils_only)
    with pytest.raises(TypeError, match="bootstrap_replicates"):
        wave_change(scores, n_resamples=50, replicates="draws")
    # reproducible: the same replicates, the same table
    pd.testing.assert_frame_equal(wave_change(scores, n_resamples=50, replicates=rep),
                                  wave_change(scores, n_resamples=50, replicates=rep))


def test_rank_sums_count_and_sort_paths_agree_with_rankdata() -> None:
    """Both paths of _rank_sums equal scipy.stats.rankdata summed per cell, block by block."""
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(3, 1, 600) * 2) / 2
    cell = rng.integers(0, 20, 600)
    cell_block = np.arange(20) // 3                      # 7 blocks, the last with 2 cells
    for use_counts in (True, False):
        sums, ties = inf._rank_sums(x, cell, 20, cell_block, 7, use_counts=use_counts)
        for b in range(7):
            in_b = cell_block[cell] == b
            r = stats.rankdata(x[in_b])
            for c in np.flatnonzero(cell_block == b):
                assert sums[c] == pytest.approx(r[cell[in_b] == c].sum())
            _, t = np.unique(x[in_b], return_counts=True)
            assert ties[b] == pytest.approx((t ** 3 - t).sum())
    block = rng.integers(0, 5, 600)
    for use_counts in (True, False):
        ranks, ties = inf._block_ranks(x, block, 5, use_counts=use_counts)
        for b in range(5):
            np.testing.assert_allclose(ranks[block == b], stats.rankdata(x[block == b]))
    c_a, c_b = np.array([0, 2, 4]), np.array([1, 3, 5])
    r_b, _ = inf._pair_rank_sums(x, cell, 20, c_a, c_b)
    both = np.isin(cell, [2, 3])
    assert r_b[1] == pytest.approx(stats.rankdata(x[both])[cell[both] == 3].sum())


# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------
@st.composite
def tables(draw: st.DrawFn) -> pd.DataFrame:
    n_councils = draw(st.integers(1, 4))
    rows = []
    for c in range(n_councils):
        n = draw(st.integers(0, 6))
        for r in range(n):
            for u in ("E01", "E02"):
                v = draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 2.5, 3.0, 4.0, 5.0])))
                rows.append(("w1", f"C{c}", f"k{r}", "enabler", u, np.nan if v is None else v))
    df = pd.DataFrame(rows, columns=["wave", "council_id", "respondent_key", "level", "unit_id", "score"])
    return df.astype({"score": "float64"})


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(df=tables(), perm_seed=st.integers(0, 2 ** 16))
def test_properties_ranges_and_row_order(df: pd.DataFrame, perm_seed: int) -> None:
    shuffled = df.sample(frac=1, random_state=perm_seed).reset_index(drop=True)
    cvr = council_vs_rest(df)
    pd.testing.assert_frame_equal(cvr, council_vs_rest(shuffled))
    assert cvr["cliffs_delta"].dropna().between(-1, 1).all()
    assert cvr["p_value"].dropna().between(0, 1).all() and cvr["p_holm"].dropna().between(0, 1).all()
    assert (cvr["p_holm"].dropna() >= cvr.loc[cvr["p_holm"].notna(), "p_value"] - 1e-15).all()
    assert cvr["percentile_rank"].dropna().between(0, 100).all()
    assert ((cvr["reason"] == "") == cvr[["u", "p_value"]].notna().all(axis=1)).all()
    kw = kruskal_wallis(df)
    pd.testing.assert_frame_equal(kw, kruskal_wallis(shuffled))
    assert kw["p_value"].dropna().between(0, 1).all()
    assert kw["epsilon2"].dropna().between(0, 1 + 1e-12).all()
    dn = dunn(df)
    pd.testing.assert_frame_equal(dn, dunn(shuffled))
    assert dn["p_adj"].dropna().between(0, 1).all()
    bm = bootstrap_means(df, n_resamples=60, seed=1)
    pd.testing.assert_frame_equal(bm, bootstrap_means(shuffled, n_resamples=60, seed=1))
    ok = bm["reason"] == ""
    assert (bm.loc[ok, "ci_low"] <= bm.loc[ok, "ci_high"]).all()
    assert bm["n"].sum() == df["score"].notna().sum()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_properties_wave_change_row_order(seed: int) -> None:
    df = make_scores(seed=seed, councils=3, n_range=(1, 9), missing=0.3)
    shuffled = df.sample(frac=1, random_state=seed).reset_index(drop=True)
    a = wave_change(df, n_resamples=50, min_paired=2)
    pd.testing.assert_frame_equal(a, wave_change(shuffled, n_resamples=50, min_paired=2))
    for col in ("p_value", "p_holm", "wilcoxon_p", "wilcoxon_p_holm"):
        assert a[col].dropna().between(0, 1).all()
    ok = a["ci_low"].notna()
    assert (a.loc[ok, "ci_low"] <= a.loc[ok, "ci_high"]).all()
