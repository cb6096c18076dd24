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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    needed = ("bootstrap_resamples", "confidence", "seed", "cohort_ci_min_councils", "rwg_missing", "rwg_min",
              "polarisation_low_max", "polarisation_high_min", "min_paired")
    missing = [k for k in needed if k not in section]
    if missing:
        raise ConfigError(f"settings lack statistics.{missing[0]}",
                          hint="Use analysis.config.load_settings(), which fills in every default from settings.yml.")
    if section["rwg_missing"] not in ("itemwise", "listwise"):
        raise ConfigError(f"statistics.rwg_missing must be 'itemwise' or 'listwise', not {section['rwg_missing']!r}")
    m = section["cohort_ci_min_councils"]
    if isinstance(m, bool) or not isinstance(m, int) or m < 2:
        raise ConfigError(f"statistics.cohort_ci_min_councils must be a whole number of at least 2, not {m!r}",
                          hint="It is the fewest councils for which the cohort rows get a bootstrap interval "
                               "(settings.yml default: 5).")
    section["threshold"] = int(settings.get("privacy", {}).get("disclosure_threshold", 5))
    return section


def _categorical(values: pd.Series) -> pd.Categorical:
    """``values`` as a categorical, factorising one value per run of equal values (the tables here
    repeat a respondent's wave, council and key over consecutive rows), or the first period of a
    column that repeats one short sequence (the units of each respondent). Categories are in order
    of first appearance either way."""
    arr = values.to_numpy(dtype=object)
    codes = None
    if len(arr) > 64 and arr[0] != arr[1]:      # no runs: one short sequence repeated (units of a respondent)?
        codes, uniques = inference._periodic(arr)
    if codes is None:
        codes, uniques = factorize_runs(values)
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def _categorical_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Key columns as categoricals (one factorisation here instead of one per statistic)."""
    cols = {c: _categorical(frame[c]) for c in _KEYS if c in frame.columns
            and not isinstance(frame[c].dtype, pd.CategoricalDtype)}
    return frame.assign(**cols) if cols else frame


def _concat_keyed(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Stack tables whose key columns are categoricals, keeping the keys categorical (the union of
    the categories) rather than turning them into text and factorising them again."""
    cols = {}
    for c in frames[0].columns:
        parts = [f[c] for f in frames]
        cols[c] = None
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            try:
                cols[c] = pd.api.types.union_categoricals(parts, ignore_order=True)
            except TypeError:  # categories of different types
                pass
        if cols[c] is None:
            cols[c] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(cols)


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


# --------------------------------------------------------------------------------------------
# dense fast path: the answers as one (statements x respondents) matrix
# --------------------------------------------------------------------------------------------
# The item-level statistics (rwg(j), AD_M, alpha, item-total) of a grouping or of the overall score
# use the same answers as those of its enablers. Rather than labelling each answer with its three
# units (:func:`unit_responses`, 3 x 6.6 M rows at national scale) and grouping the rows again,
# the answers are laid out once as a dense matrix; per council x statement sums give the
# itemwise rwg(j) and AD_M of every unit, and alpha works on each unit's columns. The tables are
# those of :func:`agreement.agreement_table`, :func:`agreement.cronbach_alpha` and
# :func:`agreement.item_total` on :func:`unit_responses` (``tests/test_wave_stats.py`` checks it
# on random cohorts); anything unusual (listwise deletion, duplicate answers, missing keys, a
# statement filed under two enablers) goes the general way, which also reports the problem.

#: Compute the item-level statistics on the dense matrix when possible (tests switch it off to
#: compare with the general path).
_DENSE = True


@dataclass(frozen=True)
class _Rows:
    """Codes of the answer rows: respondent, statement and the row subsets the statistics use."""

    resp: np.ndarray            # row -> respondent (numbered in wave, council, key order)
    item: np.ndarray            # row -> statement code
    score: np.ndarray           # row -> answer
    n_resp: int
    items: pd.Index             # statement labels (by code)
    item_enabler: np.ndarray    # statement code -> enabler position in the instrument (-1: no rows)
    resp_wave: np.ndarray       # respondent -> wave code
    resp_council: np.ndarray    # respondent -> council code
    waves: pd.Index
    councils: pd.Index
    main: np.ndarray | None     # rows on their council's main form (None: all rows)
    full: np.ndarray | None     # rows on the full form (None: all rows)
    wave_rank: np.ndarray       # sort rank of each wave code among the full-form rows
    item_rank: np.ndarray       # sort rank of each statement code among the full-form rows


def _codes(s: pd.Series) -> tuple[np.ndarray, pd.Index, bool]:
    """Integer codes (-1 = missing; the categorical's own integer type, not widened), categories
    and whether the column was categorical, numbered as :func:`_categorical_keys` numbers them."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy(), s.cat.categories, True
    cat = _categorical(s)
    return cat.codes, cat.categories, False


def _rank(codes: np.ndarray, n_codes: int, categorical: bool, mask: np.ndarray | None) -> np.ndarray:
    """Sort rank of each code as :func:`_categorical_keys` numbers the rows of ``mask``: the
    category order, or the order of first appearance among those rows."""
    if categorical:
        return np.arange(n_codes)
    seen = pd.unique(codes if mask is None else codes[mask])          # in order of first appearance
    rank = np.full(n_codes, len(seen), dtype=np.int64)
    rank[seen] = np.arange(len(seen))
    return rank


def _answer_rows(responses: pd.DataFrame, instrument: Instrument) -> _Rows | None:
    """The codes the dense path needs, or None when it does not apply (the general path then
    computes the same tables, or raises the general path's error)."""
    needed = ("wave", "council_id", "respondent_key", "item_id", "enabler_id", "form", "score")
    if any(c not in responses.columns for c in needed) or not len(responses):
        return None
    s = responses["score"]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    score = s.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(score).any():
        return None
    (w, waves, w_cat), (c, councils, _), (k, keys, _), (it, items, i_cat), (e, enablers, _), (f, forms, _) = (
        _codes(responses[col]) for col in needed[:6])
    if min(int(a.min()) for a in (w, c, k, it, e)) < 0:
        return None
    it = it.astype(np.int64)
    e_pos = pd.Index(instrument.enabler_ids).get_indexer(pd.Index(enablers).astype("str"))
    e = e_pos[e]
    if (e < 0).any():
        return None
    n_items = len(items)
    item_enabler = np.full(n_items, -1, dtype=np.int64)
    item_enabler[it] = e
    if (item_enabler[it] != e).any():                     # a statement under two enablers
        return None
    nc, nk = len(councils), len(keys)
    if len(waves) * nc * nk >= 2 ** 62 or n_items * nk * max(len(waves), 1) * nc >= 2 ** 62:
        return None
    # a respondent's rows are a run of equal (wave, council, key): runs start where any code changes
    change = w[1:] != w[:-1]
    change |= c[1:] != c[:-1]
    change |= k[1:] != k[:-1]
    heads = np.flatnonzero(np.r_[True, change])
    del change
    comb = (w[heads].astype(np.int64) * nc + c[heads]) * nk + k[heads]
    uniq, inv = np.unique(comb, return_inverse=True)
    resp = np.repeat(inv.ravel(), np.diff(np.append(heads, len(score))))
    n_resp = len(uniq)
    slot = it * n_resp + resp
    if np.bincount(slot, minlength=n_items * n_resp).max() > 1:   # a duplicate answer
        return None
    resp_wave, resp_council = uniq // (nc * nk), (uniq // nk) % nc
    # each council's main form, from the form of each respondent's first row (as _main_form)
    first_head = np.unique(inv.ravel(), return_index=True)[1]
    first_form = f[heads[first_head]]
    loc = {str(v): i for i, v in enumerate(forms)}
    full_code, short_code = loc.get("full", -2), loc.get("short", -2)
    grp, grp_of_resp = np.unique(resp_wave * nc + resp_council, return_inverse=True)
    n_full = np.bincount(grp_of_resp, weights=first_form == full_code, minlength=len(grp))
    n_short = np.bincount(grp_of_resp, weights=first_form == short_code, minlength=len(grp))
    main_form = np.where(n_short > n_full, short_code, full_code)
    main = f == main_form[grp_of_resp.ravel()[resp]]
    full = f == full_code
    main_ = None if main.all() else main
    full_ = None if full.all() else full
    return _Rows(resp=resp, item=it, score=score, n_resp=n_resp, items=items, item_enabler=item_enabler,
                 resp_wave=resp_wave, resp_council=resp_council, waves=waves, councils=councils,
                 main=main_, full=full_,
                 wave_rank=_rank(w, len(waves), w_cat, full_), item_rank=_rank(it, n_items, i_cat, full_))


def _matrix(rows: _Rows, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(answers, has a row): (statements x respondents) matrices of the rows in ``mask``; an
    answer is NaN where the respondent left it blank or has no row for it."""
    shape = (len(rows.items), rows.n_resp)
    slot = rows.item * rows.n_resp + rows.resp
    score = rows.score
    if mask is not None:
        slot, score = slot[mask], score[mask]
    x = np.full(shape[0] * shape[1], np.nan)
    x[slot] = score
    has = np.zeros(shape[0] * shape[1], dtype=bool)
    has[slot] = True
    return x.reshape(shape), has.reshape(shape)


def _unit_membership(rows: _Rows, instrument: Instrument) -> tuple[np.ndarray, list[str]]:
    """(statements x units) membership: each statement's enabler, its grouping and overall."""
    e_ids, g_ids = instrument.enabler_ids, instrument.grouping_ids
    g_of_e = pd.Index(g_ids).get_indexer(instrument.enablers.set_index("enabler_id").loc[e_ids, "grouping_id"])
    units = [*e_ids, *g_ids, OVERALL_ID]
    member = np.zeros((len(rows.items), len(units)), dtype=bool)
    has = np.flatnonzero(rows.item_enabler >= 0)
    e = rows.item_enabler[has]
    member[has, e] = True
    member[has, len(e_ids) + g_of_e[e]] = True
    member[has, -1] = True
    return member, units


def _segments_of(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted codes -> (first position, code) of each run."""
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    return starts, codes[starts]


def _dense_cells(x: np.ndarray, has: np.ndarray, seg: np.ndarray, seg_start: np.ndarray, member: np.ndarray,
                 key_frame: Callable[[np.ndarray, np.ndarray], pd.DataFrame]) -> tuple[Any, np.ndarray]:
    """The item cells of :func:`agreement._item_cells` (itemwise) for groups = segment x unit.

    ``seg``: segment of each respondent (non-decreasing; a segment is a wave x council, or a wave
    for the pooled cohort); ``key_frame(segments, units)`` gives the groups' key columns. Returns
    the cells and each cell's mean absolute deviation.
    """
    n_items, n_r = x.shape
    n_seg, n_units = len(seg_start), member.shape[1]
    size = n_items * n_seg
    codes = (np.arange(n_items)[:, None] * n_seg + seg[None, :]).reshape(-1)
    flat = x.reshape(-1)
    ok = ~np.isnan(flat)
    # each statement's row of x holds its cells' answers in runs (respondents are in segment order):
    # sums by np.add.reduceat over the runs instead of np.bincount, the same numbers for integer
    # answers (_moments centres them on an integer, so they sum exactly in any order)
    runs = ((np.arange(n_items)[:, None] * n_r + seg_start[None, :]).reshape(-1), np.arange(size)) if n_r else None
    n_cell, mean_cell, ss_cell = agreement._moments(codes, flat, size, ok, segments=runs)   # as the general path
    var_cell = np.where(n_cell >= 2, ss_cell / np.maximum(n_cell - 1, 1), np.nan)
    dev = flat - mean_cell[codes]
    np.abs(dev, out=dev)
    dev[~ok] = 0.0
    ad = agreement._div(np.bincount(codes, weights=dev, minlength=size), n_cell)
    del dev, codes
    present = np.add.reduceat(has, seg_start, axis=1) > 0 if n_r else np.zeros((n_items, n_seg), dtype=bool)
    # respondents with at least one answer to a unit's statements, per segment x unit
    answered = ~np.isnan(x)
    n_resp = np.empty((n_seg, n_units), dtype=np.int64)
    for u in range(n_units):      # loop over the 15 units
        any_u = answered[member[:, u]].any(axis=0)
        n_resp[:, u] = np.add.reduceat(any_u.astype(np.int64), seg_start) if n_r else 0
    # cells: segment x unit x statement, statements of the unit present in the segment
    in_cell = present.T[:, None, :] & member.T[None, :, :]
    s_i, u_i, i_i = np.nonzero(in_cell)
    n_items_g = in_cell.sum(axis=2)                       # (segments, units)
    g_s, g_u = np.nonzero(n_items_g > 0)                  # groups, sorted by segment then unit
    gid = np.full((n_seg, n_units), -1, dtype=np.int64)
    gid[g_s, g_u] = np.arange(len(g_s))
    cell_group = gid[s_i, u_i]
    c_flat = i_i * n_seg + s_i
    n_c = n_cell[c_flat]
    cells = agreement._Cells(
        keys=key_frame(g_s, g_u), cell=np.zeros(0, dtype=np.int64), x=np.zeros(0), ok=np.zeros(0, dtype=bool),
        cell_group=cell_group, n_items=n_items_g[g_s, g_u].astype(np.int64), n_resp=n_resp[g_s, g_u],
        n_cell=n_c, mean_cell=mean_cell[c_flat], var_cell=var_cell[c_flat],
        n_answers=np.bincount(cell_group, weights=n_c, minlength=len(g_s)).astype(np.int64), listwise=False)
    return cells, ad[c_flat]


def _dense_agreement(rows: _Rows, instrument: Instrument, scores: pd.DataFrame, st: Mapping[str, Any],
                     n_options: int) -> pd.DataFrame:
    """:func:`_agreement` on the dense matrix of the main-form answers (itemwise missing data)."""
    x, has = _matrix(rows, rows.main)
    member, units = _unit_membership(rows, instrument)
    unit_cat = pd.CategoricalDtype(units)
    kw = dict(value="score", sigma2=agreement._null_variance(n_options, st.get("null_variance")),
              unit_value="score", n_options=n_options, min_n=st["threshold"], rwg_min=float(st["rwg_min"]),
              ad_max=st.get("ad_max"), low_max=float(st["polarisation_low_max"]),
              high_min=float(st["polarisation_high_min"]))
    # councils: segments = wave x council (respondents are numbered in that order)
    wc = rows.resp_wave * len(rows.councils) + rows.resp_council
    seg_start, seg_wc = _segments_of(wc)
    seg = np.repeat(np.arange(len(seg_start)), np.diff(np.append(seg_start, len(wc))))
    s_wave, s_council = seg_wc // len(rows.councils), seg_wc % len(rows.councils)

    def council_keys(s: np.ndarray, u: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"wave": pd.Categorical.from_codes(s_wave[s], dtype=pd.CategoricalDtype(rows.waves)),
                             "council_id": pd.Categorical.from_codes(s_council[s],
                                                                     dtype=pd.CategoricalDtype(rows.councils)),
                             "unit_id": pd.Categorical.from_codes(u, dtype=unit_cat)})

    by = ["wave", "council_id", "unit_id"]
    cells, ad = _dense_cells(x, has, seg, seg_start, member, council_keys)
    councils = agreement._agreement_frame(cells, ad, by=by, unit_scores=scores, unit_by=by, **kw)
    # the pooled cohort: segments = waves
    w_start, w_code = _segments_of(rows.resp_wave)
    w_seg = np.repeat(np.arange(len(w_start)), np.diff(np.append(w_start, rows.n_resp)))

    def wave_keys(s: np.ndarray, u: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"wave": pd.Categorical.from_codes(w_code[s], dtype=pd.CategoricalDtype(rows.waves)),
                             "unit_id": pd.Categorical.from_codes(u, dtype=unit_cat)})

    cells, ad = _dense_cells(x, has, w_seg, w_start, member, wave_keys)
    del x, has
    pooled = agreement._agreement_frame(cells, ad, by=["wave", "unit_id"], unit_scores=scores,
                                        unit_by=["wave", "unit_id"], **kw)
    return pd.concat([_plain_keys(councils), _plain_keys(pooled).assign(council_id=COHORT_ID)], ignore_index=True)


def _dense_reliability(rows: _Rows, instrument: Instrument, ci: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cronbach's alpha and item-total correlations per wave x unit over the full-form answers, as
    :func:`agreement.cronbach_alpha` and :func:`agreement.item_total` on :func:`unit_responses`
    with ``form='full'`` (respondent = council x key, listwise deletion within each unit)."""
    x, has = _matrix(rows, rows.full)
    member, units = _unit_membership(rows, instrument)
    w_start, w_code = _segments_of(rows.resp_wave)
    w_end = np.append(w_start[1:], rows.n_resp)
    wave_rank, item_rank = rows.wave_rank, rows.item_rank
    a_keys: list[tuple[int, int]] = []
    a_cols: dict[str, list[float]] = {k: [] for k in ("n", "n_items", "sum_var", "mean_t", "ss_t")}
    t_keys: list[tuple[int, int, np.ndarray]] = []
    t_cols: dict[str, list[np.ndarray]] = {k: [] for k in ("sxx", "srr", "sxr", "var", "var_rest", "mean",
                                                           "mean_rest")}
    t_unit: list[np.ndarray] = []
    for j in np.argsort(wave_rank[w_code], kind="stable"):           # waves in the general path's order
        r0, r1 = w_start[j], w_end[j]
        present = has[:, r0:r1].any(axis=1)
        for u in range(len(units)):                                  # loop over the 15 units
            its = np.flatnonzero(member[:, u] & present)
            if not len(its):
                continue
            its = its[np.argsort(item_rank[its], kind="stable")]
            sub = x[its, r0:r1]
            # respondents who answered every item; C order, so that sums along a row are pairwise
            xc = np.ascontiguousarray(sub[:, ~np.isnan(sub).any(axis=0)])
            n = xc.shape[1]
            with np.errstate(invalid="ignore", divide="ignore"):
                mx = xc.sum(axis=1) / n if n else np.full(len(its), np.nan)
                d = xc - mx[:, None]
                total = xc.sum(axis=0)
                mean_t = total.sum() / n if n else np.nan
                dt = total - mean_t
                dr = dt[None, :] - d                                  # deviations of the rest scores
                sxx, srr, sxr = (d * d).sum(axis=1), (dr * dr).sum(axis=1), (d * dr).sum(axis=1)
                var = agreement._div(sxx, np.full(len(its), n - 1.0))
                var_rest = agreement._div(srr, np.full(len(its), n - 1.0))
            a_keys.append((int(w_code[j]), u))
            for name, v in (("n", n), ("n_items", len(its)), ("sum_var", float(np.nan_to_num(var).sum())),
                            ("mean_t", mean_t), ("ss_t", float((dt * dt).sum()))):
                a_cols[name].append(v)
            t_keys.append((int(w_code[j]), u, its))
            for name, v in (("sxx", sxx), ("srr", srr), ("sxr", sxr), ("var", var), ("var_rest", var_rest),
                            ("mean", mx), ("mean_rest", mean_t - mx)):
                t_cols[name].append(np.asarray(v, dtype=float))
            t_unit.append(np.full(len(its), len(a_keys) - 1))
    del x, has
    wave_dt, unit_dt = pd.CategoricalDtype(rows.waves), pd.CategoricalDtype(units)
    n = np.asarray(a_cols["n"], dtype=np.int64)
    n_items = np.asarray(a_cols["n_items"], dtype=np.int64)
    a_w = np.asarray([k[0] for k in a_keys], dtype=np.int64)
    a_u = np.asarray([k[1] for k in a_keys], dtype=np.int64)
    keys = pd.DataFrame({"wave": pd.Categorical.from_codes(a_w, dtype=wave_dt),
                         "unit_id": pd.Categorical.from_codes(a_u, dtype=unit_dt)})
    alpha = agreement._alpha_frame(keys, n, n_items, np.asarray(a_cols["sum_var"]), n,
                                   np.asarray(a_cols["mean_t"], dtype=float), np.asarray(a_cols["ss_t"]), ci)
    cell_unit = np.concatenate(t_unit) if t_unit else np.zeros(0, dtype=np.int64)
    cell_item = np.concatenate([k[2] for k in t_keys]) if t_keys else np.zeros(0, dtype=np.int64)
    t_frame = keys.iloc[cell_unit].reset_index(drop=True)
    t_frame["item_id"] = pd.Series(pd.Categorical.from_codes(cell_item, dtype=pd.CategoricalDtype(rows.items)))
    st_ = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in t_cols.items()}
    item_total = agreement._item_total_frame(t_frame, cell_unit, n, n_items, st_)
    return _plain_keys(alpha), _plain_keys(item_total)


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


def _bootstrap(scores: pd.DataFrame, previous: pd.DataFrame | None, st: Mapping[str, Any],
               meanwhile: Callable[[], dict[str, pd.DataFrame]]
               ) -> tuple[pd.DataFrame, pd.DataFrame | None, dict[str, pd.DataFrame]]:
    """Bootstrap CIs per council x unit (respondents resampled within the council), per unit over
    the pooled cohort (whole councils resampled: :func:`inference.cluster_bootstrap_means`) and,
    with the previous wave, the change per council x unit (:func:`inference.wave_change`).

    The council x wave means of both waves are resampled once (:func:`inference.bootstrap_replicates`):
    the current wave's council CIs and the change CIs come from the same resamples, and the
    cohort's cluster bootstrap from the per-council sums kept with them. The resampling runs on two
    background threads while this thread computes ``meanwhile()`` (the statistics that need no
    bootstrap), the cohort interval and the change tests; its result is returned third.
    """
    n_resamples, ci, seed = int(st["bootstrap_resamples"]), float(st["confidence"]), int(st["seed"])
    both = scores if previous is None else _concat_keyed([_categorical_keys(previous), scores])
    # the resampling runs in the background while the cohort interval and the change tests are computed
    replicates = inference.bootstrap_replicates(both, group=("wave", "council_id"), unit="unit_id",
                                                respondent="respondent_key", value="score", n_resamples=n_resamples,
                                                seed=seed, background=True)
    other = meanwhile()
    waves = scores["wave"].cat.remove_unused_categories().cat.categories.tolist()
    # cohort rows: councils resampled (cluster_bootstrap_means of `scores`, from the sums kept above)
    pooled = replicates.cluster_intervals(ci, cluster="council_id", where={"wave": waves}, seed=seed,
                                          min_clusters=int(st["cohort_ci_min_councils"]))
    few = pooled["reason"].str.contains("councils: no cohort interval", regex=False)
    if few.any():
        logger.info("no cohort interval for %d unit(s): %s", int(few.sum()), pooled.loc[few, "reason"].iloc[0])
    change = None
    if previous is not None:
        change = inference.wave_change(both, group="council_id", unit="unit_id", wave="wave",
                                       respondent="respondent_key", value="score", n_resamples=n_resamples, ci=ci,
                                       seed=seed, family=("council_id", "level", "wave_from", "wave_to"),
                                       min_paired=int(st["min_paired"]), replicates=replicates)
    councils = replicates.intervals(ci, where={"wave": waves})
    del replicates
    pooled = _plain_keys(pooled.drop(columns="n_clusters")).assign(council_id=COHORT_ID)
    boot = pd.concat([_plain_keys(councils), pooled], ignore_index=True)
    return boot, change, other


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


def _cohort_stats(scores: pd.DataFrame, alpha: pd.DataFrame, names: Mapping[str, tuple[str, str]],
                  kw: pd.DataFrame | None = None) -> pd.DataFrame:
    """ICC, Kruskal-Wallis (``kw`` if already computed on ``scores``) and ``alpha``
    (:func:`agreement.cronbach_alpha` per wave x unit) in one row per unit."""
    councils = scores
    if COHORT_ID in scores["council_id"].cat.categories:
        councils = scores[scores["council_id"].astype("str") != COHORT_ID]
        kw = None
    icc = _plain_keys(agreement.icc_anova(councils, group="council_id", value="score", by=["wave", "unit_id"]))
    if kw is None:
        kw = inference.kruskal_wallis(councils, by=("wave", "unit_id"), group="council_id", value="score")
    kw = _plain_keys(kw)
    keys = ["wave", "unit_id"]
    out = icc.rename(columns={"n_groups": "n_councils", "p_value": "f_p_value", "reason": "icc_reason"})
    out = out.merge(alpha.rename(columns={"n": "alpha_n", "ci_low": "alpha_ci_low", "ci_high": "alpha_ci_high",
                                          "reason": "alpha_reason"}).drop(columns="n_items"), on=keys, how="outer")
    out = out.merge(kw.rename(columns={"h": "kw_h", "df": "kw_df", "p_value": "kw_p_value", "reason": "kw_reason"})
                    .drop(columns=["n", "n_groups"]), on=keys, how="outer")
    reasons = out[["icc_reason", "alpha_reason", "kw_reason"]].astype("object")
    labelled = [reasons[c].map(lambda r, p=p: f"{p}: {r}" if isinstance(r, str) and r else None)
                for c, p in zip(reasons.columns, ("ICC", "alpha", "Kruskal-Wallis"), strict=True)]
    # (a column mixing reasons and None comes back from .map as text with NaN for None)
    out["reason"] = pd.concat(labelled, axis=1).apply(
        lambda row: "; ".join(v for v in row if isinstance(v, str) and v), axis=1) \
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
    known = scores["perspective"].notna().to_numpy()
    has = scores if known.all() else scores[known]
    if has.empty:
        return pd.DataFrame(columns=["wave", "scope", "council_id", "council_name", "perspective", "level", "unit_id",
                                     "unit_name", "n", "mean", "sd", "median", "q1", "q3", "favourable_pct",
                                     "unfavourable_pct", "suppressed", "secondary_suppressed"])
    table = summarise(has, level=("enabler", "grouping", "overall"), by=("wave", "council_id", "perspective"),
                      favourable_min=float(section["favourable_min"]),
                      unfavourable_max=float(section["unfavourable_max"]), instrument=instrument,
                      engine="numpy" if _DENSE else "pandas")
    # the keys were categorical for speed: give them the dtypes of plain values, as the table had
    for c in ("wave", "council_id", "level", "unit_id"):
        if isinstance(table[c].dtype, pd.CategoricalDtype) or table[c].dtype == object:
            table[c] = pd.Series(table[c].to_numpy(), index=table.index)
    # The council's own total is shown, so one hidden perspective could be worked out by subtraction:
    # hide the next smallest too (complementary suppression).
    return complementary_suppression(table, within=["wave", "scope", "council_id", "unit_id"], n="n",
                                     threshold=threshold)


def _other_statistics(responses: pd.DataFrame, scores: pd.DataFrame, respondent_scores: pd.DataFrame, *,
                      instrument: Instrument, settings: Mapping[str, Any], st: Mapping[str, Any],
                      names: Mapping[str, tuple[str, str]], council_names: Mapping[str, str]
                      ) -> dict[str, pd.DataFrame]:
    """The statistics that need no bootstrap: agreement (key ``agreement``), ``cohort_stats``,
    ``item_total``, ``council_vs_cohort`` and ``perspective_scores``."""
    n_options = len(instrument.scale.codes)
    rows = _answer_rows(responses, instrument) if _DENSE and st["rwg_missing"] == "itemwise" else None
    if rows is not None:
        agree = _dense_agreement(rows, instrument, scores, st, n_options)
    else:
        agree = _agreement(unit_responses(responses, instrument=instrument), scores, st, n_options)
    out: dict[str, pd.DataFrame] = {"agreement": agree}
    # reliability of the full form's statements (the short form has one item per enabler)
    if rows is not None:
        alpha, item_total = _dense_reliability(rows, instrument, float(st["confidence"]))
        del rows
    else:
        full = unit_responses(responses, instrument=instrument, form="full")
        kw = dict(respondent=["council_id", "respondent_key"], item="item_id", value="score", by=["wave", "unit_id"])
        alpha = _plain_keys(agreement.cronbach_alpha(full, ci=float(st["confidence"]), **kw))
        item_total = _plain_keys(agreement.item_total(full, **kw))
        del full
    kw, vs = inference.council_tests(scores, by=("wave", "unit_id"), group="council_id", value="score",
                                     family=("wave", "council_id", "level"))
    out["cohort_stats"] = _cohort_stats(scores, alpha, names, kw)
    out["item_total"] = _label(item_total, names, council_names, council=None)
    vs = _plain_keys(vs)
    vs["suppressed"] = vs["n"].fillna(0).to_numpy() < st["threshold"]
    out["council_vs_cohort"] = _label(vs, names, council_names)
    keyed = pd.DataFrame({c: scores[c] if c in scores.columns else respondent_scores[c]
                          for c in ("wave", "council_id", "council_name", "respondent_key", "perspective", "level",
                                    "unit_id", "unit_name", "score")})
    out["perspective_scores"] = _perspective_scores(keyed, instrument=instrument, settings=settings,
                                                    threshold=st["threshold"])
    return out


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
    pairs = respondent_scores[["council_id", "council_name"]].drop_duplicates("council_id")
    council_names = dict(zip(pairs["council_id"].astype("str"), pairs["council_name"].astype("str"), strict=True))
    council_names[COHORT_ID] = COHORT_NAME
    scores = _categorical_keys(respondent_scores[["wave", "council_id", "respondent_key", "perspective", "level",
                                                  "unit_id", "score"]])
    previous = None
    if previous_scores is not None and len(previous_scores):
        previous = previous_scores[["wave", "council_id", "respondent_key", "perspective", "level", "unit_id",
                                    "score"]]
    # The resampling runs on background threads while this thread computes everything else (one
    # thread's temporaries at a time: running the other statistics on a thread of their own as
    # well is barely faster and raises the peak memory by about 0.45 GB at national scale).
    boot, change, out = _bootstrap(scores, previous, st, lambda: _other_statistics(
        responses, scores, respondent_scores, instrument=instrument, settings=settings, st=st, names=names,
        council_names=council_names))
    del previous
    agree = out.pop("agreement")
    out = {"enabler_scores": _enrich(enabler_scores, boot, agree),
           "grouping_scores": _enrich(grouping_scores, boot, agree), **out}
    if change is not None:
        change = _plain_keys(change)
        change = change[change["wave_to"] == str(scores["wave"].iloc[0])].reset_index(drop=True)
        change["suppressed"] = (np.minimum(change["n_from"].fillna(0), change["n_to"].fillna(0)).to_numpy()
                                < st["threshold"])
        out["wave_change"] = _label(change, names, council_names)
    else:
        out["wave_change"] = _empty_change()
    out["perspective_scores"] = out.pop("perspective_scores")          # the order of STATS_OUTPUTS
    logger.info("statistics: %d council x unit rows, %d cohort units", len(agree), len(out["cohort_stats"]))
    return out


def _empty_change() -> pd.DataFrame:
    cols = ["council_id", "council_name", "level", "unit_id", "unit_name", "wave_from", "wave_to", "n_from", "n_to",
            "mean_from", "mean_to", "change", "ci_low", "ci_high", "u", "p_value", "p_holm", "n_paired",
            "wilcoxon_stat", "wilcoxon_p", "wilcoxon_p_holm", "reason", "suppressed"]
    return pd.DataFrame({c: pd.Series(dtype="object") for c in cols})
