"""Tests for ``analysis.agreement``.

Three kinds of expected values:

- **Reference values** from ``../shared/reference-data/README.md`` (the ``shared`` folder beside
  the repository): P1 = printed R output on jasondmarshall.com following Bliese's (2016) tutorial;
  P2 = prose of LeBreton's WGA vignette; R = multilevel 2.7-1 / psychometric 2.3-1 output
  (``r_reference_output.txt``). Compared at the printed precision (R prints 7 significant
  digits); REML-based values within 1e-6, as the README specifies.
- **Hand-checkable fixtures**, with the arithmetic in comments.
- **Properties** (hypothesis): ranges, row-order invariance, alpha equal to its textbook formula.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis import agreement as ag
from analysis.exceptions import SchemaMismatchError

REF = Path(__file__).resolve().parents[2] / "shared" / "reference-data"
LEAD = [f"LEAD{i:02d}" for i in range(1, 12)]
TSIG = ["TSIG01", "TSIG02", "TSIG03"]
BHR_ITEMS = ["AF06", "AF07", "AP12", "AP17", "AP33", "AP34", "AS14", "AS15", "AS16", "AS17", "AS28"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def printed(actual: float, text: str, *, sig: int | None = 7) -> None:
    """``actual`` equals the printed value ``text`` to its last printed digit.

    R prints 7 significant digits and drops trailing zeros ("0.080384" is 0.08038400), so with
    ``sig`` the tolerance is the tighter of the last printed place and 7 significant digits.
    """
    ref = float(text)
    decimals = len(text.split(".")[1]) if "." in text else 0
    tol = 0.5 * 10.0 ** -decimals
    if sig is not None and ref != 0:
        tol = min(tol, 0.5 * 10.0 ** (math.floor(math.log10(abs(ref))) - sig + 1))
    assert abs(actual - ref) <= tol * (1 + 1e-9), f"{actual!r} is not {text} (tolerance {tol:g})"


def long(wide: pd.DataFrame, group: str, items: list[str]) -> pd.DataFrame:
    """Wide (one row per respondent) to tidy: group, respondent (row number), item, value."""
    d = wide[[group, *items]].reset_index(names="respondent")
    return d.melt(id_vars=["respondent", group], value_vars=items, var_name="item", value_name="value")


def frame(rows: list[tuple], columns: tuple[str, ...] = ("council_id", "respondent_key", "item_id", "score")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns)).astype({"score": "float64"})


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False, rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------
# reference data
# --------------------------------------------------------------------------------------------
def _load(name: str) -> pd.DataFrame:
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference data {path} is not available (it lives in the 'shared' folder beside the repository)")
    return pd.read_csv(path)


@pytest.fixture(scope="module")
def bh1996() -> pd.DataFrame:
    return _load("bh1996.csv")


@pytest.fixture(scope="module")
def lq2002() -> pd.DataFrame:
    return _load("lq2002.csv")


@pytest.fixture(scope="module")
def bhr2000() -> pd.DataFrame:
    return _load("bhr2000.csv")


class TestReferenceP1:
    """P1: printed output of https://jasondmarshall.com/multilevel-steps (bh1996, WBEING)."""

    def test_icc1_anova(self, bh1996: pd.DataFrame) -> None:
        """ICC1(aov(WBEING ~ as.factor(GRP))) printed ``## [1] 0.04336905``."""
        r = ag.icc_anova(bh1996, group="GRP", value="WBEING")
        printed(r["icc1"].iloc[0], "0.04336905")
        assert r["n_groups"].iloc[0] == 99 and r["n"].iloc[0] == 7382

    def test_reml_variance_components(self, bh1996: pd.DataFrame) -> None:
        """VarCorr(lme(WBEING ~ 1, random = ~1 | GRP)): 0.03580079 and 0.78949727; ICC 0.04337922;
        psychometric::ICC2.lme(weighted = FALSE) 0.7335211 (gmeanrel 0.7335212). Within 1e-6."""
        r = ag.icc_reml(bh1996, group="GRP", value="WBEING").iloc[0]
        assert r["tau00"] == pytest.approx(0.03580079, abs=1e-6)
        assert r["sigma2"] == pytest.approx(0.78949727, abs=1e-6)
        assert r["icc1"] == pytest.approx(0.04337922, abs=1e-6)
        assert r["mean_reliability"] == pytest.approx(0.7335211, abs=1e-6)
        assert r["mean_reliability"] == pytest.approx(0.7335212, abs=1e-6)
        # README: -2 logLik_REML = 5781.9672683 at nlme's optimum and at an independent fit. That
        # figure leaves out the constant (N - 1) log(2 pi), which neg2_loglik includes.
        assert r["neg2_loglik"] - (r["n"] - 1) * math.log(2 * math.pi) == pytest.approx(5781.9672683, abs=1e-6)
        assert pd.isna(r["reason"])


@pytest.fixture(scope="module")
def lead06(lq2002: pd.DataFrame) -> pd.DataFrame:
    return ag.rwg(lq2002, by="COMPID", value="LEAD06", round_variance=2)


class TestReferenceP2:
    """P2: LeBreton's WGA vignette (lq2002 LEAD06, uniform null, variances rounded to 2 decimals)."""

    def test_mean_rwg(self, lead06: pd.DataFrame) -> None:
        """'the mean rWG value was .51'."""
        assert round(lead06["rwg"].mean(), 2) == 0.51

    def test_share_above_cutoff(self, lead06: pd.DataFrame) -> None:
        """'only 59% of the groups had rwg.un values greater than our cutoff' (.51)."""
        assert round((lead06["rwg"] > 0.51).mean(), 2) == 0.59

    def test_90th_percentile(self, lead06: pd.DataFrame) -> None:
        """'the 90th percentile for rwg.un was only 0.72' (R quantile type 7 = numpy 'linear')."""
        assert round(float(np.quantile(lead06["rwg"], 0.9)), 2) == 0.72

    def test_pooled_rwg(self, lq2002: pd.DataFrame) -> None:
        """'rwgp.un = 0.50': 1 - pooled within-group variance / 2, the pooled variance being MSW."""
        msw = ag.icc_anova(lq2002, group="COMPID", value="LEAD06")["msw"].iloc[0]
        assert round(1 - msw / 2, 2) == 0.50

    def test_rounding_is_what_wga_does(self, lq2002: pd.DataFrame, lead06: pd.DataFrame) -> None:
        plain = ag.rwg(lq2002, by="COMPID", value="LEAD06")
        assert (lead06["variance"] == plain["variance"].round(2)).all()
        printed(plain["rwg"].mean(), "0.506719")          # r_reference_output.txt, unrounded


class TestReferenceR:
    """R: multilevel 2.7-1 and psychometric 2.3-1 (r_reference_run.R / r_reference_output.txt)."""

    @pytest.mark.parametrize(("data", "value", "icc1", "icc2"), [
        ("bh1996", "WBEING", "0.04336905", "0.7717129"),
        ("bh1996", "HRS", "0.1331067", "0.9196732"),     # [Rd ex.]
        ("bhr2000", "HRS", "0.1741008", "0.9199889"),
        ("lq2002", "TSIG", "0.080384", "0.7846078"),
        ("lq2002", "LEAD", "0.08795622", "0.8007544"),
        ("lq2002", "HOSTILE", "0.05400494", "0.7040592"),
    ])
    def test_icc_anova(self, request: pytest.FixtureRequest, data: str, value: str, icc1: str, icc2: str) -> None:
        """ICC1(aov(...)) and ICC2(aov(...)); k = N / groups, not Bartko's k0."""
        df = request.getfixturevalue(data)
        group = "COMPID" if data == "lq2002" else "GRP"
        r = ag.icc_anova(df, group=group, value=value).iloc[0]
        printed(r["icc1"], icc1)
        printed(r["icc2"], icc2)

    def test_mult_icc(self, bh1996: pd.DataFrame) -> None:
        """mult.icc(bh1996[, c("HRS", "LEAD", "COHES", "WBEING")], grpid = bh1996$GRP), within 1e-6."""
        long_ = bh1996.melt(id_vars="GRP", value_vars=["HRS", "LEAD", "COHES", "WBEING"])
        r = ag.icc_reml(long_, group="GRP", value="value", by="variable").set_index("variable")
        expected = {"HRS": (0.12923699, 0.9171286), "LEAD": (0.14746136, 0.9280442),
                    "COHES": (0.04804840, 0.7900745), "WBEING": (0.04337922, 0.7717561)}
        for var, (icc1, icc2) in expected.items():
            assert r.loc[var, "icc1"] == pytest.approx(icc1, abs=1e-6), var
            assert r.loc[var, "icc2"] == pytest.approx(icc2, abs=1e-6), var
        assert list(r.index) == sorted(expected)            # sorted by the by column

    def test_rwg_lead(self, lq2002: pd.DataFrame) -> None:
        """rwg(lq2002$LEAD, lq2002$COMPID) [Rd ex.]: groups 2-4 and the mean."""
        r = ag.rwg(lq2002, by="COMPID", value="LEAD")
        head = r.iloc[:3]
        assert head["COMPID"].tolist() == [2, 3, 4] and head["n"].tolist() == [24, 37, 45]
        for got, want in zip(head["rwg"], ["0.6214592", "0.7457437", "0.7132816"]):
            printed(got, want)
        printed(r["rwg"].mean(), "0.7032335")

    def test_rwg_relig(self, bhr2000: pd.DataFrame) -> None:
        """rwg(bhr2000$RELIG, bhr2000$GRP, ranvar = 2): mean."""
        printed(ag.rwg(bhr2000, by="GRP", value="RELIG", null_variance=2).rwg.mean(), "0.1864222")

    def test_rwg_j_lead(self, lq2002: pd.DataFrame) -> None:
        """rwg.j(lq2002[, 3:13], lq2002$COMPID) [Rd ex.] and rwg.j.lindell(...): groups 2-4, means."""
        r = ag.rwg_j(long(lq2002, "COMPID", LEAD), by="COMPID", item="item", value="value", respondent="respondent")
        for got, want in zip(r["rwg_j"].iloc[:3], ["0.8075273", "0.8959383", "0.8600120"]):
            printed(got, want)
        assert r["n"].iloc[:3].tolist() == [24, 37, 45] and (r["n_items"] == 11).all()
        printed(r["rwg_j"].mean(), "0.8677849")
        printed(r["rwg_j_lindell"].mean(), "0.3926211")

    def test_rwg_j_tsig_truncation(self, lq2002: pd.DataFrame) -> None:
        """rwg.j(TSIG01-03, ranvar = 2): mean 0.5847126 with one company at 0 (its mean item
        variance 2.04 exceeds 2 and is truncated before the formula)."""
        r = ag.rwg_j(long(lq2002, "COMPID", TSIG), by="COMPID", item="item", value="value", null_variance=2)
        printed(r["rwg_j"].mean(), "0.5847126")
        assert (r["rwg_j"] == 0).sum() == 1
        zero = r.loc[r["rwg_j"] == 0].iloc[0]
        assert zero["mean_item_variance"] > 2 and zero["rwg_j_lindell"] < 0

    def test_rwg_j_bhr2000(self, bhr2000: pd.DataFrame) -> None:
        """rwg.j(bhr2000[, 2:12], bhr2000$GRP, ranvar = 2): mean."""
        r = ag.rwg_j(long(bhr2000, "GRP", BHR_ITEMS), by="GRP", item="item", value="value")
        printed(r["rwg_j"].mean(), "0.8876115")

    def test_awg_lead_items(self, lq2002: pd.DataFrame) -> None:
        """awg(lq2002[, 3:13], lq2002$COMPID, range = c(1, 5)) [Rd ex.]: groups 2-4 and the mean."""
        r = ag.awg(long(lq2002, "COMPID", LEAD), by="COMPID", item="item", value="value", scale=(1, 5))
        for got, want in zip(r["awg"].iloc[:3], ["0.2925751", "0.4233103", "0.3244480"]):
            printed(got, want)
        printed(r["awg"].mean(), "0.3837327")

    def test_awg_single_item(self, lq2002: pd.DataFrame) -> None:
        """awg(lq2002$LEAD05, lq2002$COMPID, range = c(1, 5)) [Rd ex.]: groups 2-4, mean, no NA."""
        r = ag.awg(lq2002.assign(item="LEAD05"), by="COMPID", item="item", value="LEAD05")
        for got, want in zip(r["awg"].iloc[:3], ["0.5111111", "0.3260490", "0.3250000"]):
            printed(got, want)
        printed(r["awg"].mean(), "0.4508846")
        assert r["awg"].notna().all()

    def test_ad_m(self, bhr2000: pd.DataFrame) -> None:
        """ad.m(bhr2000[, 2:12], bhr2000$GRP) [Rd ex.]: groups 1-3 and the mean; type = "median": mean."""
        tidy = long(bhr2000, "GRP", BHR_ITEMS)
        r = ag.ad_m(tidy, by="GRP", item="item", value="value")
        for got, want in zip(r["ad_m"].iloc[:3], ["0.8481366", "0.8261279", "0.8809829"]):
            printed(got, want)
        assert r["n"].iloc[:3].tolist() == [59, 45, 83]
        printed(r["ad_m"].mean(), "0.8690723")
        printed(ag.ad_m(tidy, by="GRP", item="item", value="value", centre="median")["ad_m"].mean(), "0.8297882")

    def test_ad_m_single_item(self, bhr2000: pd.DataFrame) -> None:
        """ad.m(bhr2000$HRS, bhr2000$GRP) [Rd ex.]: mean."""
        r = ag.ad_m(bhr2000.assign(item="HRS"), by="GRP", item="item", value="HRS")
        printed(r["ad_m"].mean(), "1.249275")

    @pytest.mark.parametrize(("data", "group", "items", "alpha", "n"), [
        ("bhr2000", "GRP", BHR_ITEMS[:10], "0.8798196", 5400),   # cronbach(bhr2000[, 2:11]) [Rd ex.]
        ("lq2002", "COMPID", TSIG, "0.8231408", 2042),
        ("lq2002", "COMPID", LEAD, "0.9022366", 2042),
    ])
    def test_cronbach(self, request: pytest.FixtureRequest, data: str, group: str, items: list[str],
                      alpha: str, n: int) -> None:
        """multilevel::cronbach: alpha and N."""
        tidy = long(request.getfixturevalue(data), group, items)
        r = ag.cronbach_alpha(tidy, respondent="respondent", item="item", value="value").iloc[0]
        printed(r["alpha"], alpha)
        assert r["n"] == n and r["n_items"] == len(items)
        assert r["ci_low"] < r["alpha"] < r["ci_high"]


# --------------------------------------------------------------------------------------------
# hand-checkable fixtures
# --------------------------------------------------------------------------------------------
class TestRwg:
    data = frame([("a", "r1", "S1", 4), ("a", "r2", "S1", 4), ("a", "r3", "S1", 5),
                  ("b", "r4", "S1", 1), ("b", "r5", "S1", 5),
                  ("c", "r6", "S1", 3), ("d", "r7", "S1", np.nan)])

    def test_values_and_truncation(self) -> None:
        r = ag.rwg(self.data, by="council_id", value="score")
        assert r["council_id"].tolist() == ["a", "b", "c", "d"]
        # a: 4, 4, 5 -> s2 = ((1/3)^2 * 2 + (2/3)^2) / 2 = 1/3; rwg = 1 - (1/3)/2 = 5/6
        assert r["variance"].iloc[0] == pytest.approx(1 / 3)
        assert r["rwg"].iloc[0] == pytest.approx(5 / 6)
        # b: 1, 5 -> s2 = 8 > 2 -> truncated to 2 -> rwg 0 (never negative)
        assert r["variance"].iloc[1] == pytest.approx(8) and r["rwg"].iloc[1] == 0
        # c: one answer; d: none -> NaN with a reason, never 1.0
        assert r["rwg"].iloc[2:].isna().all()
        assert r["reason"].tolist()[2:] == ["only one answer (variance needs 2)", "no answers"]
        assert r["reason"].iloc[:2].isna().all()
        assert r["n"].tolist() == [3, 2, 1, 0]

    def test_null_variance_and_options(self) -> None:
        a = self.data[self.data["council_id"] == "a"]
        assert ag.rwg(a, by="council_id", value="score", null_variance=1.0)["rwg"].iloc[0] == pytest.approx(2 / 3)
        # 7 options: (49 - 1) / 12 = 4 -> 1 - (1/3)/4
        assert ag.rwg(a, by="council_id", value="score", n_options=7)["rwg"].iloc[0] == pytest.approx(1 - 1 / 12)

    def test_zero_variance_is_perfect_agreement(self) -> None:
        d = frame([("a", "r1", "S1", 4), ("a", "r2", "S1", 4)])
        r = ag.rwg(d, by="council_id", value="score")
        assert r["rwg"].iloc[0] == 1.0 and pd.isna(r["reason"].iloc[0])


class TestRwgJ:
    # council a: r1 (4, 5), r2 (5, 5): S1 var 0.5, S2 var 0 -> mean 0.25, /2 = 0.125
    # rwg(j) = 2 * 0.875 / (2 * 0.875 + 0.125) = 14/15; Lindell 1 - 0.125 = 0.875
    data = frame([("a", "r1", "S1", 4), ("a", "r1", "S2", 5), ("a", "r2", "S1", 5), ("a", "r2", "S2", 5)])

    def test_values(self) -> None:
        r = ag.rwg_j(self.data, by="council_id", item="item_id", value="score", respondent="respondent_key")
        assert list(r.columns) == ["council_id", "n", "n_items", "mean_item_variance", "rwg_j", "rwg_j_lindell", "reason"]
        assert r["rwg_j"].iloc[0] == pytest.approx(14 / 15)
        assert r["rwg_j_lindell"].iloc[0] == pytest.approx(0.875)
        assert r["mean_item_variance"].iloc[0] == pytest.approx(0.25)
        assert (r["n"].iloc[0], r["n_items"].iloc[0]) == (2, 2)

    def test_truncated_before_the_formula(self) -> None:
        # items with variance 8 and 2: mean 5 > 2 -> truncated -> rwg(j) 0; Lindell 1 - 5/2 = -1.5
        d = frame([("a", "r1", "S1", 1), ("a", "r1", "S2", 2), ("a", "r2", "S1", 5), ("a", "r2", "S2", 4)])
        r = ag.rwg_j(d, by="council_id", item="item_id", value="score")
        assert r["rwg_j"].iloc[0] == 0 and r["rwg_j_lindell"].iloc[0] == pytest.approx(-1.5)

    def test_listwise_vs_itemwise(self) -> None:
        # r3 skips S2. Itemwise: S1 (4, 5, 3) var 1, S2 (4, 5) var 0.5 -> mean 0.75 -> /2 = 0.375,
        #   rwg(j) = 2 * 0.625 / (1.25 + 0.375) = 10/13, n = 3.
        # Listwise: r3 dropped; S1 (4, 5) and S2 (4, 5) var 0.5 -> 0.25 -> 1.5 / 1.75 = 6/7, n = 2.
        d = frame([("a", "r1", "S1", 4), ("a", "r1", "S2", 4), ("a", "r2", "S1", 5), ("a", "r2", "S2", 5),
                   ("a", "r3", "S1", 3), ("a", "r3", "S2", np.nan)])
        kw = dict(by="council_id", item="item_id", value="score", respondent="respondent_key")
        item = ag.rwg_j(d, **kw).iloc[0]
        listw = ag.rwg_j(d, missing="listwise", **kw).iloc[0]
        assert item["rwg_j"] == pytest.approx(10 / 13) and item["n"] == 3
        assert listw["rwg_j"] == pytest.approx(6 / 7) and listw["n"] == 2
        # a respondent with no row at all for an item is incomplete too
        listw2 = ag.rwg_j(d.dropna(), missing="listwise", **kw).iloc[0]
        assert listw2["rwg_j"] == pytest.approx(6 / 7)
        # without respondent ids, n is the most answers any item got
        assert ag.rwg_j(d, by="council_id", item="item_id", value="score")["n"].iloc[0] == 3

    def test_degenerate(self) -> None:
        d = frame([("a", "r1", "S1", 4), ("a", "r1", "S2", 5),            # one respondent
                   ("b", "r2", "S1", np.nan), ("b", "r3", "S1", np.nan),  # nothing answered
                   ("c", "r4", "S1", 4), ("c", "r5", "S1", 5), ("c", "r4", "S2", 3)])  # S2 answered once
        r = ag.rwg_j(d, by="council_id", item="item_id", value="score", respondent="respondent_key")
        assert r["rwg_j"].isna().all() and r["rwg_j_lindell"].isna().all()
        assert r["reason"].tolist() == ["fewer than 2 respondents", "no answers",
                                        "an item has fewer than 2 answers, so its variance is undefined"]
        lw = ag.rwg_j(d, by="council_id", item="item_id", value="score", respondent="respondent_key", missing="listwise")
        assert lw["reason"].iloc[2] == "fewer than 2 respondents answered every item (listwise deletion)"

    def test_listwise_needs_respondent(self) -> None:
        with pytest.raises(ValueError, match="respondent"):
            ag.rwg_j(self.data, by="council_id", item="item_id", value="score", missing="listwise")
        with pytest.raises(ValueError, match="`missing` must be one of"):
            ag.rwg_j(self.data, by="council_id", item="item_id", value="score", missing="pairwise")

    def test_duplicate_answer_is_an_error(self) -> None:
        d = pd.concat([self.data, self.data.iloc[[0]]], ignore_index=True)
        with pytest.raises(SchemaMismatchError, match="answers item 'S1' more than once"):
            ag.rwg_j(d, by="council_id", item="item_id", value="score", respondent="respondent_key")


class TestAdAwgPolarisation:
    def test_ad_m_mean_and_median(self) -> None:
        # S1: 1, 2, 6 -> mean 3: (2 + 1 + 3)/3 = 2; median 2: (1 + 0 + 4)/3 = 5/3. S2: 4, 4, 4 -> 0.
        d = frame([("a", f"r{i}", "S1", v) for i, v in enumerate([1, 2, 6])] +
                  [("a", f"r{i}", "S2", 4) for i in range(3)])
        assert ag.ad_m(d, by="council_id", item="item_id", value="score")["ad_m"].iloc[0] == pytest.approx(1.0)
        med = ag.ad_m(d, by="council_id", item="item_id", value="score", centre="median")
        assert med["ad_m"].iloc[0] == pytest.approx(5 / 6)
        with pytest.raises(ValueError, match="`centre`"):
            ag.ad_m(d, by="council_id", item="item_id", value="score", centre="mode")

    def test_ad_m_median_even_n(self) -> None:
        # 1, 2, 4, 5: median 3 -> (2 + 1 + 1 + 2)/4 = 1.5 (the mean is also 3)
        d = frame([("a", f"r{i}", "S1", v) for i, v in enumerate([5, 1, 4, 2])])
        assert ag.ad_m(d, by="council_id", item="item_id", value="score", centre="median")["ad_m"].iloc[0] == 1.5

    def test_awg(self) -> None:
        # 4, 4, 5, 3: M = 4, s2 = 2/3, k = 4; max variance term (6*4 - 16 - 5) * 4/3 = 4 -> 1 - (4/3)/4 = 2/3
        d = frame([("a", f"r{i}", "S1", v) for i, v in enumerate([4, 4, 5, 3])] +
                  [("b", f"r{i}", "S1", 5) for i in range(3)] +                         # M = H -> 1
                  [("c", f"r{i}", "S1", v) for i, v in enumerate([1, 1, 2])])          # M = 4/3 < 7/3 -> NA
        r = ag.awg(d, by="council_id", item="item_id", value="score")
        assert r["awg"].iloc[0] == pytest.approx(2 / 3)
        assert r["awg"].iloc[1] == 1.0
        assert np.isnan(r["awg"].iloc[2]) and "undefined for every item" in r["reason"].iloc[2]
        assert r["n_items_defined"].tolist() == [1, 1, 0]
        with pytest.raises(SchemaMismatchError, match="outside the scale 0..4"):
            ag.awg(d, by="council_id", item="item_id", value="score", scale=(0, 4))

    def test_polarisation(self) -> None:
        d = frame([("a", f"r{i}", "S1", v) for i, v in enumerate([1, 2, 5, 3])] +     # 0.5 / 0.25 -> 0.5
                  [("b", f"r{i}", "S1", v) for i, v in enumerate([1, 1, 5, 5])] +     # two camps -> 1
                  [("c", f"r{i}", "S1", v) for i, v in enumerate([4, 5, 4, np.nan])] +  # one side -> 0
                  [("d", "r1", "S1", 5)])
        r = ag.polarisation(d, by="council_id", value="score")
        assert r["share_low"].tolist()[:3] == [0.5, 0.5, 0.0]
        assert r["share_high"].tolist()[:3] == [0.25, 0.5, 1.0]
        assert r["polarisation"].tolist()[:3] == [0.5, 1.0, 0.0]
        assert r["n"].tolist() == [4, 4, 3, 1]
        assert np.isnan(r["polarisation"].iloc[3]) and r["reason"].iloc[3] == "only one answer"
        with pytest.raises(ValueError, match="below `high_min`"):
            ag.polarisation(d, by="council_id", value="score", low_max=4, high_min=4)


class TestIcc:
    # a (1, 2), b (3, 4), c (5, 5): MSB = 37/6, MSW = 1/3, k = 2
    data = pd.DataFrame({"council_id": list("aabbcc"), "score": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]})

    def test_anova(self) -> None:
        r = ag.icc_anova(self.data, group="council_id", value="score").iloc[0]
        assert r["msb"] == pytest.approx(37 / 6) and r["msw"] == pytest.approx(1 / 3)
        assert r["icc1"] == pytest.approx(35 / 39)        # (37/6 - 1/3) / (37/6 + 1/3)
        assert r["icc2"] == pytest.approx(35 / 37)        # (37/6 - 1/3) / (37/6)
        assert r["f"] == pytest.approx(18.5)
        assert r["p_value"] == pytest.approx(stats.f.sf(18.5, 2, 3))
        assert (r["df_between"], r["df_within"], r["k"], r["n_groups"], r["n"]) == (2, 3, 2.0, 3, 6)

    def test_anova_can_be_negative_and_uses_mean_group_size(self) -> None:
        d = pd.DataFrame({"g": list("aaabb"), "x": [1.0, 3.0, 2.0, 1.0, 3.0]})   # equal means, k = 2.5
        r = ag.icc_anova(d, group="g", value="x").iloc[0]
        # MSB = 0, MSW = (2 + 2) / 3: ICC(1) = -MSW / ((k - 1) MSW) = -1/1.5; ICC(2) undefined
        assert r["icc1"] == pytest.approx(-1 / 1.5) and np.isnan(r["icc2"])
        assert r["reason"] == "all group means are equal, so ICC(2) is undefined"

    def test_reml_balanced_equals_anova(self) -> None:
        # balanced data with MSB > MSW: REML = ANOVA estimates; tau00 = (MSB - MSW) / 2, sigma2 = MSW
        r = ag.icc_reml(self.data, group="council_id", value="score").iloc[0]
        assert r["tau00"] == pytest.approx(35 / 12, rel=1e-7) and r["sigma2"] == pytest.approx(1 / 3, rel=1e-7)
        assert r["icc1"] == pytest.approx(35 / 39, rel=1e-7)
        assert r["icc2"] == pytest.approx(2 * r["icc1"] / (1 + r["icc1"]))
        assert r["mean_reliability"] == pytest.approx(r["icc2"])      # equal group sizes

    def test_reml_boundary(self) -> None:
        d = pd.DataFrame({"g": list("aaabbb"), "x": [1.0, 3.0, 2.0, 1.0, 3.0, 2.0]})   # identical groups
        r = ag.icc_reml(d, group="g", value="x").iloc[0]
        # at tau00 = 0 the REML residual variance is the total variance with N - 1: 4/5
        assert r["tau00"] == 0 and r["icc1"] == 0 and r["sigma2"] == pytest.approx(0.8)

    def test_by_units_and_degenerate(self) -> None:
        d = pd.concat([
            self.data.assign(unit_id="E01"),
            pd.DataFrame({"council_id": ["a", "a"], "score": [1.0, 2.0], "unit_id": "E02"}),      # one group
            pd.DataFrame({"council_id": ["a", "b"], "score": [1.0, 2.0], "unit_id": "E03"}),      # one member each
            pd.DataFrame({"council_id": list("aabb"), "score": [3.0] * 4, "unit_id": "E04"}),     # no variance
            pd.DataFrame({"council_id": list("ab"), "score": [np.nan] * 2, "unit_id": "E05"}),    # no values
        ])
        for fn in (ag.icc_anova, ag.icc_reml):
            r = fn(d, group="council_id", value="score", by="unit_id")
            assert r["unit_id"].tolist() == ["E01", "E02", "E03", "E04", "E05"]
            assert r["icc1"].iloc[1:].isna().all() and r["icc1"].iloc[:1].notna().all()
            assert r["reason"].iloc[1].startswith("only one group")
            assert r["reason"].iloc[2].startswith("every group has one member")
            assert r["reason"].iloc[3] == "all values are equal (no variance)"
            assert r["reason"].iloc[4] == "no values"
        # E01 inside a by-run equals E01 alone
        alone = ag.icc_anova(self.data, group="council_id", value="score")
        assert ag.icc_anova(d, group="council_id", value="score", by="unit_id")["icc1"].iloc[0] == alone["icc1"].iloc[0]

    def test_non_integer_equal_values_count_as_no_variance(self) -> None:
        d = pd.DataFrame({"g": list("aabb"), "x": [0.1, 0.1, 0.1, 0.1]})
        assert ag.icc_anova(d, group="g", value="x")["reason"].iloc[0] == "all values are equal (no variance)"


class TestAlpha:
    # r1 (1, 2), r2 (3, 3), r3 (5, 4): item variances 4 and 1, totals 3, 6, 9 -> variance 9
    # alpha = 2 * (1 - 5/9) = 8/9
    data = frame([("a", "r1", "S1", 1), ("a", "r1", "S2", 2), ("a", "r2", "S1", 3), ("a", "r2", "S2", 3),
                  ("a", "r3", "S1", 5), ("a", "r3", "S2", 4)])

    def test_alpha_and_feldt_interval(self) -> None:
        r = ag.cronbach_alpha(self.data, respondent="respondent_key", item="item_id", value="score").iloc[0]
        assert r["alpha"] == pytest.approx(8 / 9)
        # Feldt: df1 = n - 1 = 2, df2 = (n - 1)(k - 1) = 2
        assert r["ci_low"] == pytest.approx(1 - (1 / 9) * stats.f.isf(0.025, 2, 2))
        assert r["ci_high"] == pytest.approx(1 - (1 / 9) * stats.f.isf(0.975, 2, 2))
        narrow = ag.cronbach_alpha(self.data, respondent="respondent_key", item="item_id", value="score", ci=0.5)
        assert r["ci_low"] < narrow["ci_low"].iloc[0] < narrow["ci_high"].iloc[0] < r["ci_high"]

    def test_listwise_and_by(self) -> None:
        extra = frame([("a", "r4", "S1", 5), ("a", "r4", "S2", np.nan),      # incomplete: dropped
                       ("b", "r5", "S1", 2), ("b", "r5", "S2", 2), ("b", "r6", "S1", 3), ("b", "r6", "S2", 3)])
        r = ag.cronbach_alpha(pd.concat([self.data, extra]), respondent="respondent_key", item="item_id",
                              value="score", by="council_id")
        assert r["alpha"].iloc[0] == pytest.approx(8 / 9) and r["n"].tolist() == [3, 2]
        assert r["alpha"].iloc[1] == pytest.approx(1.0)     # b: items move together exactly

    def test_degenerate(self) -> None:
        one_item = self.data[self.data["item_id"] == "S1"]
        flat = frame([("a", "r1", "S1", 3), ("a", "r1", "S2", 3), ("a", "r2", "S1", 3), ("a", "r2", "S2", 3)])
        kw = dict(respondent="respondent_key", item="item_id", value="score")
        assert ag.cronbach_alpha(one_item, **kw)["reason"].iloc[0] == "fewer than 2 items, so alpha is undefined"
        assert ag.cronbach_alpha(self.data.iloc[:2], **kw)["reason"].iloc[0] == "fewer than 2 respondents answered every item"
        r = ag.cronbach_alpha(flat, **kw).iloc[0]
        assert np.isnan(r["alpha"]) and r["reason"] == "the total score has zero variance"

    def test_item_total(self) -> None:
        rng = np.random.default_rng(7)
        wide = pd.DataFrame(rng.integers(1, 6, (12, 3)).astype(float), columns=["S1", "S2", "S3"])
        tidy = wide.reset_index(names="respondent_key").melt(id_vars="respondent_key", var_name="item_id",
                                                               value_name="score")
        r = ag.item_total(tidy, respondent="respondent_key", item="item_id", value="score")
        assert r["item_id"].tolist() == ["S1", "S2", "S3"]
        for _, row in r.iterrows():
            others = [c for c in wide.columns if c != row["item_id"]]
            assert row["item_total_r"] == pytest.approx(np.corrcoef(wide[row["item_id"]], wide[others].sum(axis=1))[0, 1])
            sub = wide[others]
            alpha = 2 * (1 - sub.var().sum() / sub.sum(axis=1).var())
            assert row["alpha_if_deleted"] == pytest.approx(alpha)


class TestAggregation:
    def test_check(self) -> None:
        t = pd.DataFrame({"n": [12, 3, 20, 9, 8], "rwg_j": [0.81, 0.90, 0.52, np.nan, 0.6999],
                          "ad_m": [0.55, 0.40, 0.95, 0.5, 0.2]})
        out = ag.aggregation_check(t, min_n=5)
        assert out["aggregation_ok"].tolist() == [True, False, False, False, False]
        notes = out["aggregation_note"].tolist()
        assert pd.isna(notes[0])
        assert notes[1] == "fewer than 5 respondents"
        assert notes[2] == "staff disagree (rwg(j) 0.52 < 0.70); answers spread out (AD_M 0.95 > 0.83)"
        assert notes[3] == "rwg(j) could not be computed"
        assert notes[4] == "staff disagree (rwg(j) 0.700 < 0.70)"        # never "0.70 < 0.70"
        assert list(t.columns) == ["n", "rwg_j", "ad_m"]                   # input not modified
        strict = ag.aggregation_check(t, min_n=5, rwg_min=0.5, ad_max=0.3)
        assert strict["aggregation_ok"].tolist() == [False, False, False, False, True]
        with pytest.raises(SchemaMismatchError, match="'ad_m'"):
            ag.aggregation_check(t.drop(columns="ad_m"), min_n=5)

    def test_agreement_table(self) -> None:
        d = pd.concat([TestRwgJ.data, TestAlpha.data.assign(council_id="b")], ignore_index=True)
        d["enabler_id"] = "E01"
        kw = dict(by=["council_id", "enabler_id"], item="item_id", value="score")
        t = ag.agreement_table(d, respondent="respondent_key", min_n=2, **kw)
        assert list(t.columns) == ["council_id", "enabler_id", "n", "n_items", "mean_item_variance", "rwg_j",
                                   "rwg_j_lindell", "ad_m", "share_low", "share_high", "polarisation",
                                   "aggregation_ok", "aggregation_note", "reason"]
        rj = ag.rwg_j(d, respondent="respondent_key", **kw)
        assert_same(t[rj.columns.drop("reason")], rj.drop(columns="reason"))
        assert_same(t[["ad_m"]], ag.ad_m(d, **kw)[["ad_m"]])
        assert_same(t[["polarisation"]], ag.polarisation(d, by=kw["by"], value="score")[["polarisation"]])
        # polarisation from respondent scores
        scores = d.groupby(["council_id", "enabler_id", "respondent_key"], as_index=False)["score"].mean()
        scores = scores.rename(columns={"enabler_id": "unit_id"})
        t2 = ag.agreement_table(d, respondent="respondent_key", min_n=2, unit_scores=scores,
                                unit_by=["council_id", "unit_id"], **kw)
        pol = ag.polarisation(scores, by=["council_id", "unit_id"], value="score")
        assert_same(t2[["share_low", "share_high", "polarisation"]], pol[["share_low", "share_high", "polarisation"]])
        # council a: rwg(j) 14/15, AD_M (0.5 + 0)/2 = 0.25, n = 2 -> OK; b: rwg(j) 0.11 -> not OK
        assert t["aggregation_ok"].tolist() == [True, False]
        assert t["aggregation_note"].iloc[1].startswith("staff disagree")


class TestInputs:
    data = TestRwgJ.data

    def test_missing_column(self) -> None:
        with pytest.raises(SchemaMismatchError, match="column 'value'.*has no column 'value'"):
            ag.rwg_j(self.data, by="council_id", item="item_id", value="value")
        with pytest.raises(SchemaMismatchError, match="no column 'unit'"):
            ag.icc_anova(self.data, group="council_id", value="score", by="unit")

    def test_non_numeric_value(self) -> None:
        d = self.data.assign(score=["Agree", "4", "5", "5"])
        for fn, kw in ((ag.rwg, {}), (ag.ad_m, {"item": "item_id"}), (ag.polarisation, {})):
            with pytest.raises(SchemaMismatchError, match="'score' must be numeric.*'Agree'"):
                fn(d, by="council_id", value="score", **kw)
        with pytest.raises(SchemaMismatchError, match="infinite"):
            ag.rwg(self.data.assign(score=[1.0, np.inf, 2.0, 3.0]), by="council_id", value="score")

    def test_bad_options(self) -> None:
        with pytest.raises(ValueError, match="`null_variance`"):
            ag.rwg(self.data, by="council_id", value="score", null_variance=0)
        with pytest.raises(ValueError, match="`n_options`"):
            ag.rwg(self.data, by="council_id", value="score", n_options=1)
        with pytest.raises(ValueError, match="`ci`"):
            ag.cronbach_alpha(self.data, respondent="respondent_key", item="item_id", value="score", ci=95)

    def test_input_not_modified_and_key_dtypes_kept(self) -> None:
        d = self.data.astype({"council_id": "category"})
        before = d.copy()
        r = ag.rwg_j(d, by="council_id", item="item_id", value="score")
        pd.testing.assert_frame_equal(d, before)
        assert isinstance(r["council_id"].dtype, pd.CategoricalDtype)

    def test_categorical_and_missing_keys(self) -> None:
        d = pd.concat([TestRwg.data, TestRwg.data.assign(council_id=None)], ignore_index=True)
        as_str = ag.rwg(d, by="council_id", value="score")
        as_cat = ag.rwg(d.astype({"council_id": "category"}), by="council_id", value="score")
        assert as_str["council_id"].iloc[:4].tolist() == ["a", "b", "c", "d"] and pd.isna(as_str["council_id"].iloc[4])
        assert_same(as_str.drop(columns="council_id"), as_cat.drop(columns="council_id"))
        assert as_str["n"].iloc[4] == 6                                   # missing keys form their own group


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------
@st.composite
def surveys(draw: st.DrawFn) -> pd.DataFrame:
    """A tidy table: 1-4 councils x 1-6 respondents x 1-3 items, answers 1..5, some missing."""
    n_items = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    keys = [(f"c{c}", f"c{c}r{r}", f"S{i}") for c, size in enumerate(sizes) for r in range(size) for i in range(n_items)]
    answers = st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0])
    if draw(st.booleans()):                      # half the tables have missing answers
        answers = st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, np.nan])
    values = draw(st.lists(answers, min_size=len(keys), max_size=len(keys)))
    return frame([(*k, v) for k, v in zip(keys, values)])


PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KW = dict(item="item_id", value="score")


@PROPS
@given(surveys())
def test_ranges(d: pd.DataFrame) -> None:
    r1 = ag.rwg(d, by="council_id", value="score")["rwg"].dropna()
    rj = ag.rwg_j(d, by="council_id", respondent="respondent_key", **KW)
    ad = ag.ad_m(d, by="council_id", **KW)["ad_m"].dropna()
    pol = ag.polarisation(d, by="council_id", value="score")["polarisation"].dropna()
    assert r1.between(0, 1).all() and rj["rwg_j"].dropna().between(0, 1).all()
    assert (rj["rwg_j_lindell"].dropna() <= 1).all()
    assert (ad >= 0).all() and pol.between(0, 1).all()
    assert (rj["rwg_j"].isna() == rj["reason"].notna()).all()          # NaN always comes with a reason


@settings(PROPS, max_examples=20)
@given(surveys(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(d: pd.DataFrame, rnd) -> None:  # noqa: ANN001
    order = list(range(len(d)))
    rnd.shuffle(order)
    p = d.iloc[order].reset_index(drop=True)
    d = d.assign(enabler_id="E01")
    p = p.assign(enabler_id="E01")
    calls = [
        lambda x: ag.rwg_j(x, by="council_id", respondent="respondent_key", **KW),
        lambda x: ag.rwg_j(x, by="council_id", respondent="respondent_key", missing="listwise", **KW),
        lambda x: ag.ad_m(x, by="council_id", **KW),
        lambda x: ag.ad_m(x, by="council_id", centre="median", **KW),
        lambda x: ag.polarisation(x, by="council_id", value="score"),
        lambda x: ag.icc_anova(x, group="council_id", value="score", by="item_id"),
        lambda x: ag.cronbach_alpha(x, respondent="respondent_key", by="enabler_id", **KW),
        lambda x: ag.item_total(x, respondent="respondent_key", by="council_id", **KW),
    ]
    for call in calls:
        assert_same(call(d), call(p))


@PROPS
@given(surveys())
def test_alpha_equals_direct_formula(d: pd.DataFrame) -> None:
    wide = d.pivot(index="respondent_key", columns="item_id", values="score").dropna()
    r = ag.cronbach_alpha(d, respondent="respondent_key", **KW).iloc[0]
    k, n = wide.shape[1], len(wide)
    assert r["n"] == n and r["n_items"] == k
    total_var = wide.sum(axis=1).var() if n >= 2 else np.nan
    if k < 2 or n < 2 or not total_var > 1e-12:
        assert np.isnan(r["alpha"]) and isinstance(r["reason"], str)
    else:
        assert r["alpha"] == pytest.approx(k / (k - 1) * (1 - wide.var().sum() / total_var))


@PROPS
@given(surveys())
def test_moments_match_pandas(d: pd.DataFrame) -> None:
    r = ag.rwg(d, by="council_id", value="score").set_index("council_id")
    g = d.groupby("council_id")["score"]
    pd.testing.assert_series_equal(r["variance"], g.var(), check_names=False)
    pd.testing.assert_series_equal(r["mean"], g.mean(), check_names=False)


def test_moments_far_from_the_shift() -> None:
    """Groups centred far apart still get exact variances (the one-pass sums are repaired)."""
    d = pd.DataFrame({"g": ["a"] * 3 + ["b"] * 3, "x": [1e9 + 0.1, 1e9 + 0.2, 1e9 + 0.3, 0.1, 0.2, 0.3]})
    r = ag.rwg(d, by="g", value="x", null_variance=1)
    assert r["variance"].tolist() == pytest.approx([0.01, 0.01], rel=1e-6)
