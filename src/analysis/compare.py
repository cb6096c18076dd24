"""Comparisons: council versus cohort, strongest and weakest enablers, change between waves.

All functions take the summary tables of :mod:`analysis.scoring` (``enabler_scores``,
``grouping_scores``) or the comparison table made here, and return new tidy tables (see
``docs/architecture.md``, "comparison"). Nothing is rounded and nothing is blanked: the
``suppressed`` flag and the ``n`` columns let the report writers apply the disclosure rule
(:func:`analysis.privacy.suppress_small_groups`).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .exceptions import InsufficientDataError, SchemaMismatchError

logger = logging.getLogger(__name__)

__all__ = ["COMPARISON_COLUMNS", "STRONGEST_WEAKEST_COLUMNS", "WAVE_CHANGE_COLUMNS",
           "council_vs_cohort", "strongest_weakest", "wave_change"]

COMPARISON_COLUMNS: list[str] = ["wave", "council_id", "council_name", "unit_id", "unit_name", "n", "mean",
                                 "cohort_median", "cohort_mean", "diff_vs_median", "rank", "n_ranked", "suppressed"]
STRONGEST_WEAKEST_COLUMNS: list[str] = ["position", "rank_in_council", "unit_id", "unit_name", "mean",
                                        "cohort_median", "diff_vs_median"]
WAVE_CHANGE_COLUMNS: list[str] = ["council_id", "unit_id", "wave_from", "wave_to", "mean_from", "mean_to",
                                  "change", "n_from", "n_to", "p_value"]

_SUMMARY_HINT = "Pass a summary table from analysis.scoring.summarise (enabler_scores.csv or grouping_scores.csv)."


def _check_columns(data: pd.DataFrame, required: Sequence[str], *, what: str, hint: str) -> None:
    missing = [c for c in required if c not in data.columns]
    if missing:
        raise SchemaMismatchError(
            f"the {what} has no column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(it has: {', '.join(map(str, data.columns)) or 'no columns'})", column=missing[0], hint=hint)


def council_vs_cohort(summary: pd.DataFrame, *, disclosure_threshold: int) -> pd.DataFrame:
    r"""Set each council's score beside the cohort's, per wave and unit.

    Parameters
    ----------
    summary
        Summary rows from :func:`analysis.scoring.summarise` (enabler, grouping and/or overall
        levels; ``scope`` council and cohort). Unit ids are unique across levels, so levels may be
        mixed.
    disclosure_threshold
        ``privacy.disclosure_threshold`` in ``settings.yml``: a council with ``n`` below it is
        ``suppressed``, and neither ranked nor counted in the cohort median.

    Returns
    -------
    pandas.DataFrame
        One row per council row of ``summary`` (wave x council x unit, in the summary's order):

        - ``wave, council_id, council_name, unit_id, unit_name, n, mean``: from the summary;
        - ``cohort_median``: median of the means of the councils with ``n >= disclosure_threshold``
          in that wave and unit (each council counts once); NaN if there are none;
        - ``cohort_mean``: the pooled cohort row's mean (every respondent counts once; NaN when
          ``summary`` has no cohort rows);
        - ``diff_vs_median``: ``mean - cohort_median``;
        - ``rank``: 1 = highest mean among the councils with ``n >= disclosure_threshold``, ties
          share the lowest rank (``'min'`` method, so 1, 1, 3); NaN when suppressed;
        - ``n_ranked``: how many councils were ranked in that wave and unit;
        - ``suppressed``: ``n < disclosure_threshold``.

        ``mean`` and ``diff_vs_median`` are kept for suppressed rows (this table lives in
        ``data/processed``); reports must blank them.

    Raises
    ------
    SchemaMismatchError
        A required column is missing.

    Notes
    -----
    With :math:`C_u` the councils of a wave that have :math:`n_c \ge t` valid scores on unit
    :math:`u` and council means :math:`\bar s_{cu}`,

    .. math::

        \tilde m_u = \operatorname{median}\{\bar s_{cu} : c \in C_u\}, \qquad
        d_{cu} = \bar s_{cu} - \tilde m_u, \qquad
        \operatorname{rank}_{cu} = 1 + \#\{c' \in C_u : \bar s_{c'u} > \bar s_{cu}\}.

    The median of council means is the benchmark of the spider diagram: it is the *typical
    council*, unaffected by council size (a council with 300 respondents and one with 8 count
    once each) and robust to one unusual council. The pooled ``cohort_mean`` answers a different
    question ("what does the average respondent in the cohort say?") and is weighted towards the
    largest councils. Councils below the disclosure threshold are left out of the median and the
    ranks so that a small group neither drives the benchmark nor can be located by its rank.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"wave": "w1", "scope": ["council"] * 3 + ["cohort"],
    ...                   "council_id": ["a", "b", "c", "COHORT"], "council_name": ["A", "B", "C", "All"],
    ...                   "unit_id": "E01", "unit_name": "Systems", "n": [10, 6, 2, 18],
    ...                   "mean": [3.0, 4.0, 1.0, 3.2]})
    >>> council_vs_cohort(s, disclosure_threshold=5)[["council_id", "cohort_median", "rank", "suppressed"]]
      council_id  cohort_median  rank  suppressed
    0          a            3.5   2.0       False
    1          b            3.5   1.0       False
    2          c            3.5   NaN        True
    """
    _check_columns(summary, ["wave", "scope", "council_id", "council_name", "unit_id", "unit_name", "n", "mean"],
                   what="summary table", hint=_SUMMARY_HINT)
    councils = summary[summary["scope"] == "council"].reset_index(drop=True)
    cohort = summary[summary["scope"] == "cohort"]
    if cohort.duplicated(["wave", "unit_id"]).any():
        raise SchemaMismatchError("the summary has more than one cohort row for a wave and unit "
                                  "(summarised with extra 'by' columns?); compare per wave x unit only",
                                  column="scope", hint=_SUMMARY_HINT)
    mean = councils["mean"].astype("float64")
    n = councils["n"].astype("float64")
    suppressed = (n.fillna(0) < disclosure_threshold).to_numpy()
    eligible = mean.where(~suppressed)                       # NaN for suppressed or missing means
    keys = [councils["wave"], councils["unit_id"]]
    grouped = eligible.groupby(keys, sort=False, dropna=False)
    cohort_median = grouped.transform("median")
    rank = grouped.rank(method="min", ascending=False)
    n_ranked = eligible.notna().groupby(keys, sort=False, dropna=False).transform("sum").astype("int64")
    cohort_mean = (councils[["wave", "unit_id"]]
                   .merge(cohort[["wave", "unit_id", "mean"]], on=["wave", "unit_id"], how="left")["mean"])
    out = councils[["wave", "council_id", "council_name", "unit_id", "unit_name"]].assign(
        n=councils["n"].astype("int64"),
        mean=mean,
        cohort_median=cohort_median.astype("float64"),
        cohort_mean=cohort_mean.astype("float64").to_numpy(),
        diff_vs_median=(mean - cohort_median).astype("float64"),
        rank=rank.astype("float64"),
        n_ranked=n_ranked,
        suppressed=suppressed,
    )
    return out[COMPARISON_COLUMNS]


def strongest_weakest(comparison: pd.DataFrame, *, council_id: str, wave: str | None = None,
                      n: int = 3) -> pd.DataFrame:
    """A council's ``n`` highest- and ``n`` lowest-scoring units.

    Parameters
    ----------
    comparison
        Output of :func:`council_vs_cohort`. Pass only the enabler rows (for example
        ``comparison[comparison["unit_id"].isin(instrument.enabler_ids)]``): every unit in the
        table competes.
    council_id
        The council.
    wave
        The wave; ``None`` takes the latest wave (by name) that the council has rows in.
    n
        How many strongest and how many weakest (``settings.yml``: ``reports.strongest_weakest_n``).
        With fewer than ``2 n`` units the two lists overlap.

    Returns
    -------
    pandas.DataFrame
        ``position`` (``'strongest'`` then ``'weakest'``), ``rank_in_council`` (1 = highest for
        strongest, 1 = lowest for weakest), ``unit_id, unit_name, mean, cohort_median,
        diff_vs_median``. Units that are suppressed (``n`` below the disclosure threshold) or have
        no mean are left out, so the table is empty when the council is suppressed.

    Raises
    ------
    InsufficientDataError
        The council (or the council in that wave) is not in ``comparison``.

    Notes
    -----
    Units with equal means are ordered by their order in ``comparison``, which is instrument
    order for tables made by :mod:`analysis.scoring` and :func:`council_vs_cohort`: the earlier
    enabler comes first in both lists.
    """
    _check_columns(comparison, ["wave", "council_id", "unit_id", "unit_name", "mean", "cohort_median",
                                "diff_vs_median", "suppressed"],
                   what="comparison table", hint="Pass the output of analysis.compare.council_vs_cohort.")
    if n < 0:
        raise ValueError(f"The value for `n` must be 0 or more, but {n!r} was passed.")
    rows = comparison[comparison["council_id"] == council_id]
    if rows.empty:
        known = ", ".join(map(repr, pd.unique(comparison["council_id"])[:10]))
        raise InsufficientDataError(f"council {council_id!r} is not in the comparison table (councils: {known})",
                                    hint="Check the council id against cohort.csv.")
    if wave is None:
        wave = sorted(pd.unique(rows["wave"]).tolist())[-1]
    rows = rows[rows["wave"] == wave]
    if rows.empty:
        raise InsufficientDataError(f"council {council_id!r} has no rows in wave {wave!r}",
                                    hint="Pick a wave the council took part in.")
    rows = rows.reset_index(drop=True)
    rows = rows[~rows["suppressed"].astype(bool) & rows["mean"].notna()]
    order = np.arange(len(rows))
    cols = STRONGEST_WEAKEST_COLUMNS[2:]
    top = rows.assign(_o=order).sort_values(["mean", "_o"], ascending=[False, True], kind="stable").head(n)
    bottom = rows.assign(_o=order).sort_values(["mean", "_o"], ascending=[True, True], kind="stable").head(n)
    parts = [part[cols].assign(position=pos, rank_in_council=np.arange(1, len(part) + 1, dtype=np.int64))
             for pos, part in (("strongest", top), ("weakest", bottom))]
    out = pd.concat(parts, ignore_index=True)[STRONGEST_WEAKEST_COLUMNS]
    out["position"] = out["position"].astype("str")
    return out


def wave_change(summary: pd.DataFrame) -> pd.DataFrame:
    r"""Change in each council's (and the cohort's) mean between consecutive waves.

    Parameters
    ----------
    summary
        Summary rows of two or more waves from :func:`analysis.scoring.summarise` (concatenated);
        needs ``wave, council_id, unit_id, n, mean, sd``. Cohort rows (``council_id`` 'COHORT')
        are treated like a council; filter on ``scope`` first to leave them out.

    Returns
    -------
    pandas.DataFrame
        One row per council x unit x pair of consecutive waves: ``council_id, unit_id, wave_from,
        wave_to, mean_from, mean_to, change`` (``mean_to - mean_from``), ``n_from, n_to`` and
        ``p_value`` (two-sided Welch t-test; NaN when either wave has ``n < 2``). Waves are
        sorted by name; "consecutive" means consecutive among the waves in which that council
        has a row for that unit, so a council that skipped a wave is compared with the last wave
        it took part in. Sorted by council, unit (summary order) and wave. Empty when no council
        appears in two waves.

    Raises
    ------
    SchemaMismatchError
        A required column is missing, or a council has two rows for one wave and unit.

    Notes
    -----
    .. math::

        \Delta = \bar s_{\text{to}} - \bar s_{\text{from}}, \qquad
        t = \frac{\Delta}{\sqrt{sd_{\text{from}}^2/n_{\text{from}} + sd_{\text{to}}^2/n_{\text{to}}}}

    with Welch-Satterthwaite degrees of freedom (Welch 1947), via
    :func:`scipy.stats.ttest_ind_from_stats` with ``equal_var=False``. The p-value is
    **indicative only**: the two waves may contain the same people (the samples are not
    independent), scores are bounded ordinal averages, and there is no correction for the many
    councils x units tested (about 1 in 20 unchanged units will show p < 0.05 by chance).

    References
    ----------
    Welch, B. L. (1947). The generalization of "Student's" problem when several different
    population variances are involved. *Biometrika*, 34(1-2), 28-35.
    """
    _check_columns(summary, ["wave", "council_id", "unit_id", "n", "mean", "sd"],
                   what="summary table", hint=_SUMMARY_HINT)
    keep = ["wave", "council_id", "unit_id", "n", "mean", "sd"]
    df = summary[keep].reset_index(drop=True)
    if df.duplicated(["wave", "council_id", "unit_id"]).any():
        raise SchemaMismatchError("the summary has two rows for one wave, council and unit "
                                  "(summarised with extra 'by' columns, or a wave concatenated twice?)",
                                  column="wave", hint=_SUMMARY_HINT)
    council_order = pd.Index(pd.unique(df["council_id"]))
    unit_order = pd.Index(pd.unique(df["unit_id"]))
    wave_order = pd.Index(sorted(pd.unique(df["wave"]).tolist()))
    df = df.assign(_c=council_order.get_indexer(df["council_id"]), _u=unit_order.get_indexer(df["unit_id"]),
                   _w=wave_order.get_indexer(df["wave"]))
    df = df.sort_values(["_c", "_u", "_w"], kind="stable").reset_index(drop=True)
    prev = df.groupby(["_c", "_u"], sort=False)[["wave", "n", "mean", "sd"]].shift(1)
    has_prev = prev["wave"].notna().to_numpy()
    cur, prev = df[has_prev], prev[has_prev]
    n_from = prev["n"].astype("float64").to_numpy()
    n_to = cur["n"].astype("float64").to_numpy()
    m_from = prev["mean"].astype("float64").to_numpy()
    m_to = cur["mean"].astype("float64").to_numpy()
    sd_from = prev["sd"].astype("float64").to_numpy()
    sd_to = cur["sd"].astype("float64").to_numpy()
    p = np.full(len(cur), np.nan)
    ok = (n_from >= 2) & (n_to >= 2) & np.isfinite(sd_from) & np.isfinite(sd_to) & ((sd_from > 0) | (sd_to > 0))
    if ok.any():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            p[ok] = stats.ttest_ind_from_stats(m_to[ok], sd_to[ok], n_to[ok], m_from[ok], sd_from[ok], n_from[ok],
                                               equal_var=False).pvalue
    out = pd.DataFrame({
        "council_id": cur["council_id"].to_numpy(),
        "unit_id": cur["unit_id"].to_numpy(),
        "wave_from": prev["wave"].to_numpy(),
        "wave_to": cur["wave"].to_numpy(),
        "mean_from": m_from,
        "mean_to": m_to,
        "change": m_to - m_from,
        "n_from": n_from.astype("int64"),
        "n_to": n_to.astype("int64"),
        "p_value": p,
    })
    for col in ("council_id", "unit_id", "wave_from", "wave_to"):
        out[col] = out[col].astype("str")
    return out[WAVE_CHANGE_COLUMNS]
