"""What the insight packs and the cohort report say: reader's tables and sentences from the data.

Pure functions on the tidy tables of ``data/processed`` (no files, no figures): participation
and response rates, council-level disclosure control, the three first-screen sentences of a
council pack, the per-enabler table with its agreement caveat and its difference from the rest
of the cohort, the statement distribution behind the diverging bars, the change since the
previous wave and the perspective breakdown. :mod:`analysis.steps` assembles them into reports;
every rule about what may be shown lives here so that it can be tested without rendering.

Disclosure rules (``docs/methodology.md``, section 9):

* a group (council, or perspective within a council) with fewer respondents than the threshold
  shows no score, distribution, percentage or count, only "fewer than k responses";
* a council below the threshold still counts in cohort figures; where its figures could then be
  worked out by subtraction (the cohort total and every other council shown), the next-smallest
  council is hidden too for that unit (:func:`council_disclosure`);
* comments, when kept, need ``privacy.comments_min_respondents`` (default 10) respondents.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .privacy import complementary_suppression
from .scoring import DONT_KNOW_LEVEL

#: Words for a group hidden by disclosure control ({k} = the threshold).
FEWER_THAN = "fewer than {k} responses"


def fewer_than(threshold: int) -> str:
    """The text a suppressed group shows instead of numbers: ``"fewer than 5 responses"``."""
    return FEWER_THAN.format(k=int(threshold))


def _fmt(x: float, decimals: int = 1) -> str:
    return f"{x:.{decimals}f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _hidden(frame: pd.DataFrame, *, threshold: int, counts: Sequence[str] = ("n",),
            flags: Sequence[str] = ("suppressed",)) -> np.ndarray:
    """Rows a report must not show: any ``counts`` column below ``threshold``, or any ``flags`` set."""
    hidden = np.zeros(len(frame), dtype=bool)
    for col in counts:
        hidden |= (frame[col] < threshold).to_numpy(dtype=bool, na_value=False)
    for col in flags:
        if col in frame.columns:
            hidden |= frame[col].fillna(False).astype(bool).to_numpy()
    return hidden


# --------------------------------------------------------------------------------------------
# participation
# --------------------------------------------------------------------------------------------
def participation(councils: pd.DataFrame, respondents: pd.DataFrame, *, threshold: int,
                  low_rate: float = 0.30) -> pd.DataFrame:
    """Respondents, staff invited and response rate per council, with the low-response flag.

    Parameters
    ----------
    councils
        ``councils.csv`` of the wave: ``council_id, council_name, invited`` (``invited`` nullable;
        absent when the register has no ``invited`` column).
    respondents
        ``council_id, respondents``: respondents with at least one valid enabler score.
    threshold
        Disclosure threshold. A council below it shows neither its count nor its rate (the rate
        and the headcount invited would give the count away).
    low_rate
        A rate below this is flagged "low response: read with care" (``reports.low_response_rate``).

    Returns
    -------
    pandas.DataFrame
        ``council_id, council_name, respondents, invited, response_rate, low_response, suppressed,
        participation_note``, one row per council with responses. ``response_rate`` is
        ``respondents / invited`` (a fraction; NaN when ``invited`` is unknown or the council is
        suppressed). ``participation_note`` says in words what a reader should know: low response,
        rate unknown, more responses than staff invited, or fewer than k responses.
    """
    out = respondents[["council_id", "respondents"]].copy()
    invited = councils.set_index("council_id")["invited"] if "invited" in councils.columns else pd.Series(dtype="Int64")
    names = councils.set_index("council_id")["council_name"] if "council_name" in councils.columns else pd.Series(dtype=object)
    if "council_name" in respondents.columns:
        out["council_name"] = respondents["council_name"].to_numpy()
    else:
        out["council_name"] = out["council_id"].map(names)
    out["invited"] = out["council_id"].map(invited).astype("Float64").astype("float64")
    n = out["respondents"].astype("float64")
    out["suppressed"] = n < threshold
    rate = n / out["invited"]
    out["response_rate"] = rate.where(~out["suppressed"])
    out["low_response"] = (out["response_rate"] < low_rate).fillna(False).astype(bool)
    notes = np.full(len(out), "", dtype=object)
    notes[out["invited"].isna().to_numpy()] = "response rate unknown (no invited headcount)"
    notes[out["low_response"].to_numpy()] = f"low response: read with care (below {_pct(low_rate)})"
    over = (rate > 1).fillna(False).to_numpy() & ~out["suppressed"].to_numpy()
    notes[over] = "more responses than staff invited: check the invited headcount in cohort.csv"
    notes[out["suppressed"].to_numpy()] = fewer_than(threshold)
    out["participation_note"] = notes
    out.loc[out["suppressed"], ["respondents", "invited"]] = np.nan
    out["respondents"] = out["respondents"].astype("float64")
    cols = ["council_id", "council_name", "respondents", "invited", "response_rate", "low_response", "suppressed",
            "participation_note"]
    return out[cols].reset_index(drop=True)


def participation_sentence(row: Mapping[str, Any] | pd.Series, *, threshold: int) -> str:
    """One sentence about a council's participation for the first screen of its pack."""
    if bool(row["suppressed"]):
        return f"This council has {fewer_than(threshold)}, so its results are not shown."
    n = int(row["respondents"])
    if pd.isna(row["invited"]):
        return f"{n} staff responded; the number invited is not known, so the response rate is unknown."
    text = f"{n} of {int(row['invited'])} staff invited responded ({_pct(float(row['response_rate']))})."
    if row["participation_note"]:
        text += f" **{str(row['participation_note']).capitalize()}.**"
    return text


# --------------------------------------------------------------------------------------------
# disclosure control at council level
# --------------------------------------------------------------------------------------------
def council_disclosure(rows: pd.DataFrame, *, threshold: int, within: Sequence[str] = ("wave", "unit_id")) -> pd.DataFrame:
    """Flag councils hidden in a report: below the threshold, or hidden to protect one that is.

    A council below the threshold still counts in the pooled cohort figures. When exactly one
    council of a unit is hidden, the others and the cohort total would give its figures away by
    subtraction; the smallest visible council of that unit is then hidden too
    (:func:`analysis.privacy.complementary_suppression`).

    Parameters
    ----------
    rows
        Council rows (``scope == 'council'`` or no ``scope``) with ``n`` and the ``within`` columns.
    threshold
        Disclosure threshold.
    within
        Columns of one published total (a wave's cohort row of one unit).

    Returns
    -------
    pandas.DataFrame
        ``rows`` with ``suppressed`` (primary), ``secondary_suppressed`` and ``hidden`` (either).
    """
    base = rows.drop(columns=[c for c in ("suppressed", "secondary_suppressed", "hidden") if c in rows.columns])
    out = complementary_suppression(base, within=list(within), n="n", threshold=threshold)
    out["hidden"] = out["suppressed"] | out["secondary_suppressed"]
    return out


# --------------------------------------------------------------------------------------------
# council pack: first screen
# --------------------------------------------------------------------------------------------
def _names(rows: pd.DataFrame, labels: Mapping[str, str] | None) -> list[str]:
    labels = labels or {}
    return [labels.get(u, n) for u, n in zip(rows["unit_id"], rows["unit_name"], strict=True)]


def _and(parts: Sequence[str]) -> str:
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def headline_sentences(enablers: pd.DataFrame, *, labels: Mapping[str, str] | None = None, n: int = 2,
                       rwg_min: float = 0.70) -> list[str]:
    """Three sentences for a pack's first screen: strongest enablers, enablers to develop, disagreement.

    Parameters
    ----------
    enablers
        One council's enabler rows of ``enabler_scores`` (``unit_id, unit_name, mean, ci_low,
        ci_high, cohort_median`` (optional), ``ad_m, rwg_j, share_low, share_high, polarisation``).
    labels
        ``unit_id`` -> the name readers see.
    n
        Enablers named in each of the first two sentences.
    rwg_min
        The agreement bar of the aggregation check.

    Returns
    -------
    list of str
        Exactly three markdown sentences, written from the numbers (nothing hard-coded about any
        council). The first two say when the named enablers' confidence intervals overlap those of
        the next ones (so a reader does not over-read a ranking); the third names the enabler with
        the widest disagreement (highest AD_M) with its split (shares at each end of the scale).
    """
    rows = enablers.dropna(subset=["mean"]).sort_values("mean", ascending=False, kind="stable")
    if rows.empty:
        return ["No enabler has enough responses to describe.", "", ""][:3]
    k = max(1, min(n, len(rows) // 2 or 1))
    names = _names(rows, labels)

    def describe(idx: Sequence[int]) -> str:
        return _and([f"**{names[i]}** ({_fmt(rows['mean'].iloc[i])})" for i in idx])

    top, bottom = list(range(k)), list(range(len(rows) - 1, len(rows) - 1 - k, -1))
    s1 = f"Staff rate {describe(top)} highest of the {len(rows)} enablers, on a scale of 1 to 5."
    s2 = f"The enablers to develop are {describe(bottom)}, the lowest-rated."
    if {"ci_low", "ci_high"} <= set(rows.columns) and len(rows) > 2 * k:
        if rows["ci_low"].iloc[k - 1] <= rows["ci_high"].iloc[k]:
            s1 += f" Their lead over {names[k]} is within the margin of error (95% confidence intervals overlap)."
        if rows["ci_high"].iloc[len(rows) - k] >= rows["ci_low"].iloc[len(rows) - k - 1]:
            s2 += f" They are not clearly lower than {names[len(rows) - k - 1]} (95% confidence intervals overlap)."
    if "cohort_median" in rows.columns and rows["cohort_median"].notna().any():
        above = int((rows["mean"] > rows["cohort_median"]).sum())
        s2 += f" {above} of the {len(rows)} enablers are above the cohort median."
    if "ad_m" in rows.columns and rows["ad_m"].notna().any():
        i = int(np.nanargmax(rows["ad_m"].to_numpy(dtype=float)))
        r = rows.iloc[i]
        s3 = f"Staff disagree most about **{names[i]}**"
        if {"share_low", "share_high"} <= set(rows.columns) and pd.notna(r["share_low"]):
            s3 += f": {_pct(r['share_low'])} rate it 2 or below and {_pct(r['share_high'])} 4 or above"
        s3 += f" (average deviation {_fmt(r['ad_m'], 2)})."
        if "rwg_j" in rows.columns:
            weak = rows[rows["rwg_j"] < rwg_min]
            if weak.empty:
                s3 += " Agreement is adequate on every enabler, so the council-level scores describe the council."
            else:
                s3 += (f" On {len(weak)} enabler(s) agreement is below the usual bar (rwg(j) < {rwg_min:.2f}): "
                       "there the split matters more than the average.")
    else:
        s3 = "Agreement statistics are not available."
    return [s1, s2, s3]


# --------------------------------------------------------------------------------------------
# council pack: enabler table
# --------------------------------------------------------------------------------------------
def significance_words(diff: pd.Series, p: pd.Series, *, alpha: float = 0.05) -> pd.Series:
    """``"higher"`` / ``"lower"`` when Holm-corrected ``p < alpha``, else ``"no clear difference"``."""
    words = np.where(p < alpha, np.where(diff > 0, "higher than the rest of the cohort", "lower than the rest of the cohort"),
                     "no clear difference")
    words = np.where(p.isna(), "", words)
    return pd.Series(words, index=diff.index, dtype=object)


ENABLER_TABLE_COLUMNS: dict[str, str] = {
    "unit_name": "Enabler", "n": "n", "mean": "Mean", "ci_low": "95% CI low", "ci_high": "95% CI high",
    "favourable_pct": "Favourable %", "rwg_j": "rwg(j)", "ad_m": "AD_M", "polarisation": "Polarisation",
    "aggregation_note": "Agreement caveat", "cohort_median": "Cohort median", "diff": "Difference from rest of cohort",
    "p_holm": "p (Holm)", "cliffs_delta": "Cliff's delta", "significance": "Versus the rest of the cohort",
    "percentile_rank": "Percentile among councils", "suppressed": "suppressed",
}


def enabler_table(scores: pd.DataFrame, *, vs_cohort: pd.DataFrame | None = None,
                  comparison: pd.DataFrame | None = None, labels: Mapping[str, str] | None = None,
                  threshold: int, alpha: float = 0.05) -> pd.DataFrame:
    """One council's reader's table per unit: mean with CI, n, favourable %, agreement, versus cohort.

    Parameters
    ----------
    scores
        The council's rows of ``enabler_scores`` (or ``grouping_scores``).
    vs_cohort
        Its rows of ``council_vs_cohort.csv`` (difference from the rest of the cohort,
        Mann-Whitney p Holm-corrected within the council, Cliff's delta, percentile rank).
    comparison
        Its rows of ``comparison.csv`` (cohort median).
    labels
        ``unit_id`` -> the name readers see.
    threshold
        Rows with ``n < threshold`` show only "fewer than k responses" (every number blanked,
        ``n`` included).
    alpha
        Significance level of the words in "Versus the rest of the cohort".

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`ENABLER_TABLE_COLUMNS` that are available, headed for readers.
    """
    out = scores.copy()
    if vs_cohort is not None and len(vs_cohort):
        out = out.merge(vs_cohort[["unit_id", "diff", "p_holm", "cliffs_delta", "percentile_rank"]], on="unit_id", how="left")
        out["significance"] = significance_words(out["diff"], out["p_holm"], alpha=alpha)
    if comparison is not None and len(comparison) and "cohort_median" not in out.columns:
        out = out.merge(comparison[["unit_id", "cohort_median"]], on="unit_id", how="left")
    out["unit_name"] = _names(out, labels)
    hidden = _hidden(out, threshold=threshold)
    out["suppressed"] = hidden
    numbers = [c for c in ENABLER_TABLE_COLUMNS if c in out.columns and c not in ("unit_name", "suppressed",
                                                                                  "aggregation_note", "significance",
                                                                                  "cohort_median")]
    for col in numbers:
        out[col] = out[col].astype("float64").mask(hidden)
    for col in ("aggregation_note", "significance"):
        if col in out.columns:
            out[col] = out[col].astype(object).where(~hidden, fewer_than(threshold) if col == "aggregation_note" else "")
    keep = [c for c in ENABLER_TABLE_COLUMNS if c in out.columns]
    table = out[keep].rename(columns=ENABLER_TABLE_COLUMNS).reset_index(drop=True)
    table.attrs["disclosure_threshold"] = threshold
    return table


# --------------------------------------------------------------------------------------------
# statements: the diverging stacked bars and their table
# --------------------------------------------------------------------------------------------
def statement_shares(distribution: pd.DataFrame, *, instrument: Any, threshold: int,
                     respondents: int | None = None) -> pd.DataFrame:
    """The table beside the diverging bars: share of each scale point per statement, "Don't know" apart.

    Parameters
    ----------
    distribution
        One council's (or the cohort's) rows of ``statement_distribution.csv``.
    instrument
        Statement order and text, scale labels.
    threshold
        A statement answered (on the scale) by fewer respondents than this shows no shares; when
        ``respondents`` (the council's count) is below it, nothing is shown at all.
    respondents
        The council's respondents (for the whole-council rule); ``None`` skips that rule.

    Returns
    -------
    pandas.DataFrame
        ``item_id, enabler_id, Statement, n, <label of each scale point> (fractions of the scale
        answers), Don't know (fraction of all answers incl. don't know), suppressed``, statements
        in the instrument's order.
    """
    items = instrument.form_items("full")
    codes = [str(c) for c in instrument.scale.codes]
    labels = [instrument.scale.canonical_label(int(c)) for c in codes]
    wide = distribution.pivot_table(index="item_id", columns="level", values="count", aggfunc="sum", observed=True)
    wide = wide.reindex(index=items["item_id"], columns=[*codes, DONT_KNOW_LEVEL]).fillna(0)
    n_scale = wide[codes].sum(axis=1)
    total = n_scale + wide[DONT_KNOW_LEVEL]
    out = pd.DataFrame({"item_id": items["item_id"].to_numpy(), "enabler_id": items["enabler_id"].to_numpy(),
                        "Statement": items["text"].to_numpy(), "n": n_scale.to_numpy()})
    with np.errstate(invalid="ignore", divide="ignore"):
        for code, label in zip(codes, labels, strict=True):
            out[label] = (wide[code] / n_scale.replace(0, np.nan)).to_numpy()
        out["Don't know"] = (wide[DONT_KNOW_LEVEL] / total.replace(0, np.nan)).to_numpy()
    hidden = _hidden(out, threshold=threshold, flags=())
    if respondents is not None and respondents < threshold:
        hidden[:] = True
    out["suppressed"] = hidden
    out.loc[hidden, ["n", *labels, "Don't know"]] = np.nan
    out.attrs["disclosure_threshold"] = threshold
    return out


def likert_counts(distribution: pd.DataFrame, shares: pd.DataFrame) -> pd.DataFrame:
    """The distribution rows to draw, with statements hidden by :func:`statement_shares` flagged."""
    hidden = dict(zip(shares["item_id"], shares["suppressed"], strict=True))
    out = distribution.copy()
    out["suppressed"] = out["item_id"].map(hidden).fillna(True).astype(bool)
    out.loc[out["suppressed"], "count"] = 0
    return out


# --------------------------------------------------------------------------------------------
# change since the previous wave, perspectives, ranks
# --------------------------------------------------------------------------------------------
CHANGE_COLUMNS: dict[str, str] = {
    "council_name": "Council", "unit_name": "Enabler", "n_from": "n before", "n_to": "n now", "mean_from": "Mean before",
    "mean_to": "Mean now", "change": "Change", "ci_low": "Change 95% CI low", "ci_high": "Change 95% CI high",
    "p_holm": "p (Holm)", "verdict": "What changed", "suppressed": "suppressed",
}


def change_table(change: pd.DataFrame, *, labels: Mapping[str, str] | None = None, threshold: int,
                 alpha: float = 0.05, council_column: bool = False) -> pd.DataFrame:
    """Reader's table of ``wave_change.csv`` rows: means before and now, change with CI and a verdict.

    Rows where either wave has fewer respondents than ``threshold`` show no numbers (``n``
    included), and so do rows flagged ``suppressed`` or ``secondary_suppressed`` (a council hidden
    to protect a smaller one, :func:`council_disclosure`). The verdict is "clear rise" / "clear fall" when the Holm-corrected Mann-Whitney
    p is below ``alpha``, else "no clear change".
    """
    out = change.copy()
    out["unit_name"] = _names(out, labels)
    hidden = _hidden(out, threshold=threshold, counts=("n_from", "n_to"), flags=("suppressed", "secondary_suppressed"))
    verdict = np.where(out["p_holm"] < alpha, np.where(out["change"] > 0, "clear rise", "clear fall"), "no clear change")
    out["verdict"] = np.where(out["p_holm"].isna(), "not tested", verdict)
    out["suppressed"] = hidden
    for col in ("n_from", "n_to", "mean_from", "mean_to", "change", "ci_low", "ci_high", "p_holm"):
        out[col] = out[col].astype("float64").mask(hidden)
    out["verdict"] = out["verdict"].where(~hidden, fewer_than(threshold))
    if "secondary_suppressed" in out.columns:
        second = out["secondary_suppressed"].fillna(False).astype(bool).to_numpy() & ((out["n_from"] >= threshold)
                                                                                   | out["n_from"].isna()).to_numpy()
        out.loc[second, "verdict"] = "hidden to protect a smaller council"
    keep = [c for c in CHANGE_COLUMNS if c in out.columns and (council_column or c != "council_name")]
    table = out[keep].rename(columns=CHANGE_COLUMNS).reset_index(drop=True)
    table.attrs["disclosure_threshold"] = threshold
    return table


def perspective_table(persp: pd.DataFrame, *, labels: Mapping[str, str] | None = None, threshold: int,
                      order: Sequence[str] | None = None) -> pd.DataFrame:
    """One council's enabler means by perspective, wide, with hidden groups as text.

    ``persp`` is the council's enabler rows of ``perspective_scores.csv`` (with ``suppressed`` and
    ``secondary_suppressed`` from complementary suppression). A hidden group shows "fewer than k
    responses" (primary) or "hidden to protect a smaller group" (secondary); a perspective's
    column is headed with its respondent count unless that count is hidden.
    """
    if persp.empty:
        return pd.DataFrame()
    rows = persp.copy()
    rows["unit_name"] = _names(rows, labels)
    primary = rows["suppressed"].fillna(False).astype(bool) | (rows["n"] < threshold)
    secondary = rows["secondary_suppressed"].fillna(False).astype(bool) & ~primary
    text = rows["mean"].map(lambda v: "" if pd.isna(v) else f"{v:.2f}").astype(object)
    text[primary.to_numpy()] = fewer_than(threshold)
    text[secondary.to_numpy()] = "hidden to protect a smaller group"
    rows["shown"] = text
    persps = list(order) if order else list(pd.unique(rows["perspective"]))
    wide = rows.pivot_table(index=["unit_id", "unit_name"], columns="perspective", values="shown", aggfunc="first",
                            sort=False)
    wide = wide.reindex(columns=[p for p in persps if p in wide.columns])
    wide.columns = [str(c).capitalize() for c in wide.columns]
    return wide.reset_index().drop(columns="unit_id").rename(columns={"unit_name": "Enabler"})


def rank_table(comparison: pd.DataFrame, vs_cohort: pd.DataFrame | None, *, order: Sequence[str],
               labels: Mapping[str, str], overall_id: str = "overall") -> pd.DataFrame:
    """Council x enabler ranks ("3 of 20") with each council's overall mean and percentile rank.

    Hidden councils (``hidden`` or ``suppressed``) show no rank. Sorted by overall mean, best first.
    """
    rows = comparison.copy()
    flag = rows["hidden"] if "hidden" in rows.columns else rows["suppressed"]
    rows = rows[~flag.fillna(False).astype(bool)]
    ranks = rows[rows["unit_id"].isin(order)].assign(
        text=lambda d: [f"{int(r)} of {int(k)}" if pd.notna(r) else "" for r, k in zip(d["rank"], d["n_ranked"], strict=True)])
    wide = ranks.pivot_table(index=["council_id", "council_name"], columns="unit_id", values="text", aggfunc="first")
    wide = wide.reindex(columns=list(order)).rename(columns=dict(labels))
    overall = rows[rows["unit_id"] == overall_id].set_index("council_id")
    wide = wide.reset_index()
    wide.insert(2, "Overall mean", wide["council_id"].map(overall["mean"]) if len(overall) else np.nan)
    if vs_cohort is not None and len(vs_cohort):
        pr = vs_cohort[vs_cohort["unit_id"] == overall_id].set_index("council_id")["percentile_rank"]
        wide.insert(3, "Overall percentile", wide["council_id"].map(pr))
    wide = wide.sort_values("Overall mean", ascending=False, na_position="last", kind="stable")
    return wide.drop(columns="council_id").rename(columns={"council_name": "Council"}).reset_index(drop=True)


def comments_allowed(respondents: float | int | None, *, minimum: int = 10) -> bool:
    """Free-text comments may be shown for a group only with at least ``minimum`` respondents."""
    return respondents is not None and not (isinstance(respondents, float) and math.isnan(respondents)) \
        and int(respondents) >= minimum
