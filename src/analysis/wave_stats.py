"""The statistics of one wave: uncertainty, agreement, reliability and comparisons.

One function, :func:`wave_statistics`, turns the tables of the scoring step into the tables that
say whether a council-level score means something and how it differs (see
``docs/methodology.md``, sections 9-14):

- the summary tables gain ``ci_low, ci_high`` (percentile bootstrap of the mean), ``rwg_j,
  ad_m, polarisation`` and the ``aggregation_ok`` flag with a plain-words ``aggregation_note``;
- ``cohort_stats``: per unit, ICC(1)/ICC(2) with the F test, Cronbach's alpha with its CI, and
  Kruskal-Wallis with epsilon squared;
- ``item_total``: corrected item-total correlations and alpha if an item is deleted;
- ``council_vs_cohort``: each council against the rest of the cohort (Mann-Whitney U, Holm
  within the council, Cliff's delta, percentile rank);
- ``wave_change``: change since the previous wave with a bootstrap CI, Mann-Whitney and, for
  linked respondents, the paired Wilcoxon test;
- ``perspective_scores``: the summaries split by the perspective respondents answered from, with
  primary and complementary suppression flags.

Everything here is a thin layer over :mod:`analysis.agreement`, :mod:`analysis.inference` and
:func:`analysis.scoring.summarise`: it chooses the units (enablers, groupings, overall), the keys
and the settings, and joins the results. Key columns are turned into categoricals once so that
the vectorised statistics factorise integers rather than strings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import agreement, inference
from .exceptions import ConfigError
from .instrument import Instrument
from .privacy import complementary_suppression
from .schema import factorize_runs
from .scoring import COHORT_ID, COHORT_NAME, OVERALL_ID, summarise

logger = logging.getLogger(__name__)

__all__ = ["AGREEMENT_COLUMNS", "COHORT_STATS_COLUMNS", "STATS_OUTPUTS", "stats_settings", "unit_responses",
           "wave_statistics"]

#: Tables written by the statistics step, besides the enriched summaries.
STATS_OUTPUTS: tuple[str, ...] = ("cohort_stats", "item_total", "council_vs_cohort", "wave_change",
                                  "perspective_scores")
#: Columns added to ``enabler_scores`` and ``grouping_scores``.
AGREEMENT_COLUMNS: list[str] = ["ci_low", "ci_high", "rwg_j", "rwg_j_lindell", "ad_m", "share_low", "share_high",
                                "polarisation", "aggregation_ok", "aggregation_note"]
COHORT_STATS_COLUMNS: list[str] = [
    "wave", "level", "unit_id", "unit_name", "n_councils", "n", "icc1", "icc2", "f", "df_between", "df_within",
    "f_p_value", "alpha", "alpha_ci_low", "alpha_ci_high", "alpha_n", "kw_h", "kw_df", "kw_p_value", "epsilon2",
    "reason"]
_KEYS = ("wave", "council_id", "respondent_key", "unit_id", "item_id", "level")


def stats_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The ``statistics`` section of the settings plus the disclosure threshold, checked."""
    section = dict(settings.get("statistics", {}))
    needed = ("bootstrap_resamples", "confidence", "seed", "rwg_missing", "rwg_min", "polarisation_low_max",
              "polarisation_high_min", "min_paired")
    missing = [k for k in needed if k not in section]
    if missing:
        raise ConfigError(f"settings lack statistics.{missing[0]}",
                          hint="Use analysis.config.load_settings(), which fills in every default from settings.yml.")
    if section["rwg_missing"] not in ("itemwise", "listwise"):
        raise ConfigError(f"statistics.rwg_missing must be 'itemwise' or 'listwise', not {section['rwg_missing']!r}")
    section["threshold"] = int(settings.get("privacy", {}).get("disclosure_threshold", 5))
    return section


def _categorical(values: pd.Series) -> pd.Categorical:
    """``values`` as a categorical, factorising one value per run of equal values (the tables here
    repeat a respondent's wave, council and key over consecutive rows)."""
    codes, uniques = factorize_runs(values)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def _categorical_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as categoricals (one factorisation here instead of one per statistic)."""
    cols = {c: _categorical(frame[c]) for c in _KEYS if c in frame.columns
            and not isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.assign(**cols) if cols else frame


def _plain_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns back to ``str`` (outputs keep the table contracts of ``analysis.io``)."""
    cols = {c: frame[c].astype("str") for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.assign(**cols) if cols else frame


def unit_responses(responses: pd.DataFrame, *, instrument: Instrument, form: str | None = None) -> pd.DataFrame:
    """Item answers labelled with every unit they belong to: their enabler, its grouping and overall.

    Returns the columns ``wave, council_id, respondent_key, level, unit_id, item_id, score``: each
    answer appears three times (once per level), so one call of an item-level statistic with
    ``by=[..., 'unit_id']`` covers enablers, groupings and the overall score. Only the answers of
    ``form`` are kept, or with ``form=None`` those of each council's main form (see :func:`_main_form`).
    """
    kept = _main_form(responses) if form is None else responses[responses["form"].astype("str") == form]
    base = _categorical_keys(kept[["wave", "council_id", "respondent_key", "item_id", "score"]])
    e_ids, g_ids = instrument.enabler_ids, instrument.grouping_ids
    e_code = pd.Index(e_ids).get_indexer(kept["enabler_id"].astype("str"))
    g_of_e = pd.Index(g_ids).get_indexer(instrument.enablers.set_index("enabler_id").loc[e_ids, "grouping_id"])
    unit_cats = [*e_ids, *g_ids, OVERALL_ID]
    n = len(base)
    parts = []
    for lvl, codes in ((0, e_code), (1, len(e_ids) + g_of_e[e_code]), (2, np.full(n, len(unit_cats) - 1))):
        parts.append(base.assign(
            level=pd.Categorical.from_codes(np.full(n, lvl, dtype=np.int8), categories=["enabler", "grouping", "overall"]),
            unit_id=pd.Categorical.from_codes(codes, categories=unit_cats)))
    out = pd.concat(parts, ignore_index=True)  # categoricals with equal categories stay categorical
    return out[["wave", "council_id", "respondent_key", "level", "unit_id", "item_id", "score"]]


def _main_form(responses: pd.DataFrame) -> pd.DataFrame:
    """The answers given on each council's main form (the one most of its respondents used; ties:
    the full form).

    Item-level statistics compare answers to the *same* statements: the short form's one overall
    item per enabler is a different question from the full form's three statements, so a council's
    few short-form respondents are left out of its rwg(j), AD_M and alpha (they still count in its
    scores). A council that used only the short form gets single-item agreement (rwg, J = 1).
    """
    if "form" not in responses.columns:
        return responses
    people = responses.drop_duplicates(["wave", "council_id", "respondent_key"])
    counts = people.groupby(["wave", "council_id", "form"], observed=True).size().unstack("form", fill_value=0)
    full = counts.get("full", pd.Series(0, index=counts.index))
    short = counts.get("short", pd.Series(0, index=counts.index))
    main = pd.Series(np.where(short > full, "short", "full"), index=counts.index, name="_main")
    keep = responses.join(main, on=["wave", "council_id"])["_main"].to_numpy() == responses["form"].to_numpy()
    return responses[keep]


def _agreement(units: pd.DataFrame, scores: pd.DataFrame, st: Mapping[str, Any], n_options: int) -> pd.DataFrame:
    """Agreement per council x unit, and per unit over the pooled cohort (council ``COHORT``)."""
    kw = dict(item="item_id", value="score", unit_value="score", n_options=n_options,
              null_variance=st.get("null_variance"), min_n=st["threshold"], rwg_min=float(st["rwg_min"]),
              ad_max=st.get("ad_max"), missing=st["rwg_missing"], low_max=float(st["polarisation_low_max"]),
              high_min=float(st["polarisation_high_min"]))
    by = ["wave", "council_id", "unit_id"]
    councils = agreement.agreement_table(units, by=by, respondent="respondent_key", unit_scores=scores, unit_by=by, **kw)
    pooled = agreement.agreement_table(units, by=["wave", "unit_id"], respondent=["council_id", "respondent_key"],
                                       unit_scores=scores, unit_by=["wave", "unit_id"], **kw)
    return pd.concat([_plain_keys(councils), _plain_keys(pooled).assign(council_id=COHORT_ID)], ignore_index=True)


def _bootstrap(scores: pd.DataFrame, st: Mapping[str, Any]) -> pd.DataFrame:
    """Bootstrap CIs per council x unit (respondents resampled within the council) and per unit
    over the pooled cohort (respondents resampled within the wave)."""
    kw = dict(unit="unit_id", value="score", n_resamples=int(st["bootstrap_resamples"]), ci=float(st["confidence"]),
              seed=int(st["seed"]))
    councils = inference.bootstrap_means(scores, group=("wave", "council_id"), respondent="respondent_key", **kw)
    pooled = inference.bootstrap_means(scores, group=("wave",), respondent=("council_id", "respondent_key"), **kw)
    return pd.concat([_plain_keys(councils), _plain_keys(pooled).assign(council_id=COHORT_ID)], ignore_index=True)


def _enrich(summary: pd.DataFrame, boot: pd.DataFrame, agree: pd.DataFrame) -> pd.DataFrame:
    """Join the bootstrap CI and the agreement columns onto a summary table (council and cohort rows)."""
    keys = ["wave", "council_id", "unit_id"]
    b = boot[keys + ["ci_low", "ci_high"]]
    a = agree[keys + [c for c in AGREEMENT_COLUMNS if c not in ("ci_low", "ci_high")]]
    out = summary.drop(columns=[c for c in AGREEMENT_COLUMNS if c in summary.columns])
    out = out.merge(b, on=keys, how="left", validate="one_to_one").merge(a, on=keys, how="left", validate="one_to_one")
    # a council without any valid score has no agreement row: not reportable, and say why
    missing = out["aggregation_ok"].isna()
    out["aggregation_ok"] = out["aggregation_ok"].astype("boolean").fillna(False).astype(bool)
    out.loc[missing, "aggregation_note"] = "no valid scores"
    out["aggregation_note"] = out["aggregation_note"].astype("object").where(out["aggregation_note"].notna(), "")
    return out


def _cohort_stats(scores: pd.DataFrame, units: pd.DataFrame, st: Mapping[str, Any],
                  names: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    councils = scores[scores["council_id"].astype("str") != COHORT_ID]
    icc = _plain_keys(agreement.icc_anova(councils, group="council_id", value="score", by=["wave", "unit_id"]))
    kw = _plain_keys(inference.kruskal_wallis(councils, by=("wave", "unit_id"), group="council_id", value="score"))
    alpha = _plain_keys(agreement.cronbach_alpha(units, respondent=["council_id", "respondent_key"], item="item_id",
                                                 value="score", by=["wave", "unit_id"], ci=float(st["confidence"])))
    keys = ["wave", "unit_id"]
    out = icc.rename(columns={"n_groups": "n_councils", "p_value": "f_p_value", "reason": "icc_reason"})
    out = out.merge(alpha.rename(columns={"n": "alpha_n", "ci_low": "alpha_ci_low", "ci_high": "alpha_ci_high",
                                          "reason": "alpha_reason"}).drop(columns="n_items"), on=keys, how="outer")
    out = out.merge(kw.rename(columns={"h": "kw_h", "df": "kw_df", "p_value": "kw_p_value", "reason": "kw_reason"})
                    .drop(columns=["n", "n_groups"]), on=keys, how="outer")
    reasons = out[["icc_reason", "alpha_reason", "kw_reason"]].astype("object")
    labelled = [reasons[c].map(lambda r, p=p: f"{p}: {r}" if isinstance(r, str) and r else None)
                for c, p in zip(reasons.columns, ("ICC", "alpha", "Kruskal-Wallis"), strict=True)]
    out["reason"] = pd.concat(labelled, axis=1).apply(lambda row: "; ".join(v for v in row if v), axis=1) \
        if len(out) else pd.Series(dtype="object")  # one row per unit (a few dozen)
    out["level"] = out["unit_id"].map(lambda u: names[u][0])
    out["unit_name"] = out["unit_id"].map(lambda u: names[u][1])
    order = {u: i for i, u in enumerate(names)}
    out = out.sort_values(["wave", "unit_id"], key=lambda s: s.map(order) if s.name == "unit_id" else s, kind="stable")
    return out[COHORT_STATS_COLUMNS].reset_index(drop=True)


def _unit_names(instrument: Instrument) -> dict[str, tuple[str, str]]:
    e, g = instrument.enablers, instrument.groupings
    names = {u: ("enabler", n) for u, n in zip(e["enabler_id"], e["enabler_name"], strict=True)}
    names |= {u: ("grouping", n) for u, n in zip(g["grouping_id"], g["grouping_name"], strict=True)}
    names[OVERALL_ID] = ("overall", "Overall")
    return names


def _label(frame: pd.DataFrame, names: Mapping[str, tuple[str, str]], council_names: Mapping[str, str],
           *, council: str | None = "council_id") -> pd.DataFrame:
    """Add ``level``/``unit_name`` (and ``council_name``) beside the ids."""
    out = frame.copy()
    ids = out["unit_id"].astype("str")
    out.insert(out.columns.get_loc("unit_id"), "level", ids.map(lambda u: names[u][0]))
    out.insert(out.columns.get_loc("unit_id") + 1, "unit_name", ids.map(lambda u: names[u][1]))
    if council and council in out.columns:
        out.insert(out.columns.get_loc(council) + 1, "council_name", out[council].astype("str").map(council_names))
    return out


def _perspective_scores(scores: pd.DataFrame, *, instrument: Instrument, settings: Mapping[str, Any],
                        threshold: int) -> pd.DataFrame:
    section = settings.get("scoring", settings)
    has = scores[scores["perspective"].notna()]
    if has.empty:
        return pd.DataFrame(columns=["wave", "scope", "council_id", "council_name", "perspective", "level", "unit_id",
                                     "unit_name", "n", "mean", "sd", "median", "q1", "q3", "favourable_pct",
                                     "unfavourable_pct", "suppressed", "secondary_suppressed"])
    table = summarise(has, level=("enabler", "grouping", "overall"), by=("wave", "council_id", "perspective"),
                      favourable_min=float(section["favourable_min"]),
                      unfavourable_max=float(section["unfavourable_max"]), instrument=instrument)
    # The council's own total is shown, so one hidden perspective could be worked out by subtraction:
    # hide the next smallest too (complementary suppression).
    return complementary_suppression(table, within=["wave", "scope", "council_id", "unit_id"], n="n",
                                     threshold=threshold)


def wave_statistics(*, responses: pd.DataFrame, respondent_scores: pd.DataFrame, enabler_scores: pd.DataFrame,
                    grouping_scores: pd.DataFrame, instrument: Instrument, settings: Mapping[str, Any],
                    previous_scores: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """Every statistic of one wave, as tidy tables ready to write to ``data/processed``.

    Parameters
    ----------
    responses
        The tidy responses table of the wave (item answers).
    respondent_scores
        :func:`analysis.scoring.respondent_scores` of the same wave.
    enabler_scores, grouping_scores
        The summaries of :func:`analysis.scoring.score_wave` (council and cohort rows).
    instrument
        The instrument (units, groupings, number of answer options).
    settings
        The analysis settings (sections ``statistics``, ``privacy`` and ``scoring``).
    previous_scores
        ``respondent_scores`` of the previous wave, for ``wave_change`` (empty table without it).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``enabler_scores`` and ``grouping_scores`` with :data:`AGREEMENT_COLUMNS` added, and the
        tables named in :data:`STATS_OUTPUTS`. Nothing is suppressed except the flags in
        ``perspective_scores``: the reports apply the disclosure rules.
    """
    st = stats_settings(settings)
    names = _unit_names(instrument)
    n_options = len(instrument.scale.codes)
    pairs = respondent_scores[["council_id", "council_name"]].drop_duplicates("council_id")
    council_names = dict(zip(pairs["council_id"].astype("str"), pairs["council_name"].astype("str"), strict=True))
    council_names[COHORT_ID] = COHORT_NAME
    scores = _categorical_keys(respondent_scores[["wave", "council_id", "respondent_key", "perspective", "level",
                                                  "unit_id", "score"]])
    units = unit_responses(responses, instrument=instrument)
    boot = _bootstrap(scores, st)
    agree = _agreement(units, scores, st, n_options)
    out: dict[str, pd.DataFrame] = {
        "enabler_scores": _enrich(enabler_scores, boot, agree),
        "grouping_scores": _enrich(grouping_scores, boot, agree),
    }
    # reliability of the full form's statements (the short form has one item per enabler)
    full = unit_responses(responses, instrument=instrument, form="full")
    out["cohort_stats"] = _cohort_stats(scores, full, st, names)
    item_total = _plain_keys(agreement.item_total(full, respondent=["council_id", "respondent_key"], item="item_id",
                                                  value="score", by=["wave", "unit_id"]))
    out["item_total"] = _label(item_total, names, council_names, council=None)
    vs = _plain_keys(inference.council_vs_rest(scores, by=("wave", "unit_id"), group="council_id", value="score",
                                               family=("wave", "council_id", "level")))
    vs["suppressed"] = vs["n"].fillna(0).to_numpy() < st["threshold"]
    out["council_vs_cohort"] = _label(vs, names, council_names)
    if previous_scores is not None and len(previous_scores):
        prev = _categorical_keys(previous_scores[["wave", "council_id", "respondent_key", "perspective", "level",
                                                  "unit_id", "score"]])
        both = pd.concat([_plain_keys(prev), _plain_keys(scores)], ignore_index=True)
        change = inference.wave_change(_categorical_keys(both), group="council_id", unit="unit_id", wave="wave",
                                       respondent="respondent_key", value="score",
                                       n_resamples=int(st["bootstrap_resamples"]), ci=float(st["confidence"]),
                                       seed=int(st["seed"]), family=("council_id", "level", "wave_from", "wave_to"),
                                       min_paired=int(st["min_paired"]))
        change = _plain_keys(change)
        change = change[change["wave_to"] == str(scores["wave"].astype("str").iloc[0])].reset_index(drop=True)
        change["suppressed"] = (np.minimum(change["n_from"].fillna(0), change["n_to"].fillna(0)).to_numpy()
                                < st["threshold"])
        out["wave_change"] = _label(change, names, council_names)
    else:
        out["wave_change"] = _empty_change()
    keyed = respondent_scores.assign(**{c: scores[c].to_numpy() for c in ("wave", "council_id", "level", "unit_id")})
    out["perspective_scores"] = _perspective_scores(keyed, instrument=instrument, settings=settings,
                                                    threshold=st["threshold"])
    logger.info("statistics: %d council x unit rows, %d cohort units", len(agree), len(out["cohort_stats"]))
    return out


def _empty_change() -> pd.DataFrame:
    cols = ["council_id", "council_name", "level", "unit_id", "unit_name", "wave_from", "wave_to", "n_from", "n_to",
            "mean_from", "mean_to", "change", "ci_low", "ci_high", "u", "p_value", "p_holm", "n_paired",
            "wilcoxon_stat", "wilcoxon_p", "wilcoxon_p_holm", "reason", "suppressed"]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
