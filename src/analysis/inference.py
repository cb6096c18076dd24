"""Inference on respondent scores: bootstrap intervals, rank tests and multiplicity control.

Every public function takes the long *respondent scores* table of :mod:`analysis.scoring`
(one row per wave x council x respondent x unit, ``score`` NaN when the respondent has no valid
score for the unit), keyword-only column names, and returns a new tidy table with one row per
group (and a ``reason`` column that says why a statistic is NaN). See
``docs/methodology.md``, "Uncertainty, comparisons and tests", for the formulas in plain words.

- :func:`bootstrap_means`: percentile bootstrap interval of each group's mean score
  (:func:`bootstrap_replicates` keeps the resamples, for summaries that share them).
- :func:`cluster_bootstrap_means`: the interval of a pooled (cohort) mean, resampling whole
  councils.
- :func:`council_vs_rest`: each council against the rest of the cohort (Mann-Whitney U,
  Cliff's delta, Holm-adjusted p-values, percentile rank of the council mean).
- :func:`kruskal_wallis`: do the councils differ at all (H, epsilon squared)?
- :func:`dunn`: which pairs of councils differ (Dunn's z, Holm-adjusted).
- :func:`council_tests`: Kruskal-Wallis and council vs rest together (the ranks computed once).
- :func:`wave_change`: change between consecutive waves (bootstrap interval of the change,
  Mann-Whitney U, paired Wilcoxon signed-rank test on the respondents who answered both waves).
- :func:`holm`: the Holm step-down adjustment, vectorised over families.

Design notes
------------
*Vectorised over groups.* Nothing loops over councils, respondents or pairs in Python. Ranks are
computed once per block (wave x unit) from value counts (``np.bincount``) or one ``lexsort``;
rank sums, tie terms and counts per council are ``np.bincount`` reductions.

*The bootstrap.* The sampling unit is the respondent. One resample of a group's respondents
(``n`` draws with replacement) is shared by all units of that group, and a resample is
represented by its multinomial *counts* ``c`` (how often each respondent was drawn), which is
exactly equivalent to the index draws: the resampled mean of unit ``u`` is
``sum(c * x_u) / sum(c * valid_u)``. For all groups and a block of resamples at once:

1. exact uniform draws from raw 16-bit (32-bit for groups over 4,096) random words, mapped by a
   multiplication and corrected by rejection (:func:`_raw_indices`);
2. counts by one scatter-add (``scipy.sparse`` CSR to dense, float32);
3. sums by a batched float32 matrix product with the centred scores (``(U x n) @ (n x b)`` per
   group, kept under OpenBLAS's threading threshold so that blocks run on our own threads);
4. valid counts ``n - sum(c * invalid)`` by a second product over only the respondents that
   have an invalid unit (they are put first in each group), so missing scores cost little.

Loops run only over blocks of resamples and over at most a few dozen *size classes* (groups of
similar size padded to a common length, wasting at most 19% on padding). Each block has its own
random stream (``SeedSequence(seed, spawn_key=(size class, block))``), so results do not depend
on the number of threads or on the row order of the input.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from scipy import sparse, special

from .exceptions import SchemaMismatchError

logger = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP_COLUMNS",
    "CLUSTER_BOOTSTRAP_COLUMNS",
    "COUNCIL_VS_REST_COLUMNS",
    "DUNN_COLUMNS",
    "KRUSKAL_COLUMNS",
    "WAVE_CHANGE_COLUMNS",
    "BootstrapReplicates",
    "bootstrap_means",
    "bootstrap_replicates",
    "cluster_bootstrap_means",
    "council_tests",
    "council_vs_rest",
    "dunn",
    "holm",
    "kruskal_wallis",
    "wave_change",
]

#: Statistic columns of each output (the key columns named by the arguments come first).
BOOTSTRAP_COLUMNS: list[str] = ["n", "mean", "ci_low", "ci_high", "reason"]
CLUSTER_BOOTSTRAP_COLUMNS: list[str] = ["n_clusters", "n", "mean", "ci_low", "ci_high", "reason"]
COUNCIL_VS_REST_COLUMNS: list[str] = ["n", "n_rest", "mean", "mean_rest", "diff", "u", "p_value", "p_holm",
                                      "cliffs_delta", "percentile_rank", "reason"]
KRUSKAL_COLUMNS: list[str] = ["n", "n_groups", "h", "df", "p_value", "epsilon2", "reason"]
DUNN_COLUMNS: list[str] = ["group_a", "group_b", "n_a", "n_b", "mean_rank_a", "mean_rank_b", "z", "p_value", "p_adj",
                           "reason"]
WAVE_CHANGE_COLUMNS: list[str] = ["wave_from", "wave_to", "n_from", "n_to", "mean_from", "mean_to", "change",
                                  "ci_low", "ci_high", "u", "p_value", "p_holm", "n_paired", "wilcoxon_stat",
                                  "wilcoxon_p", "wilcoxon_p_holm", "reason"]

_HINT = ("Pass the respondent scores table from analysis.scoring.respondent_scores (one row per "
         "respondent x unit), or name your columns with the keyword arguments.")

# Bootstrap engine settings. They fix how resamples are split into random streams, so changing
# them changes the (equally valid) resamples drawn for a given seed.
_BITS16_MAX_N = 4096            # groups up to this size draw from 16-bit words, larger ones from 32-bit
_CHUNK_ELEMENTS = 1 << 23       # draws per block of resamples (memory per thread ~ 6 bytes x this)
_SUB_ELEMENTS = 1 << 19         # draws generated at a time within a block (cache-sized)
_MAX_BLOCK = 64                 # resamples per block at most
_SMALL_CLASS = 8                # groups of up to 8 respondents share one size class
_BLAS_SINGLE_MNK = 1 << 18      # OpenBLAS runs a GEMM on one thread when M*N*K <= 4 * 65536

F = TypeVar("F", bound=Callable[..., Any])

# --------------------------------------------------------------------------------------------
# shared docstring text (seaborn's _docstrings idea: write once, reuse)
# --------------------------------------------------------------------------------------------
_DOCS = {
    "data": """data
        The respondent scores table (long): one row per wave x council x respondent x unit with
        a float ``score`` on the 1..5 scale, NaN when the respondent has no valid score for the
        unit. Rows with a NaN score are left out of every statistic (they are respondents
        without a valid score, not zeros); the table is not modified.""",
    "value": """value
        Column holding the score (numeric; NaN = no valid score).""",
    "reason": """``reason``: empty when every statistic of the row could be computed, otherwise
          why some are NaN (several reasons are joined with ``'; '``).""",
    "raises": """SchemaMismatchError
        A named column is missing, ``value`` is not numeric, a key column has missing values,
        or (where respondents matter) a respondent has two rows for one unit.""",
    "holm_ref": """Holm, S. (1979). A simple sequentially rejective multiple test procedure.
    *Scandinavian Journal of Statistics*, 6(2), 65-70.""",
    "mwu_ref": """Mann, H. B. & Whitney, D. R. (1947). On a test of whether one of two random variables
    is stochastically larger than the other. *Annals of Mathematical Statistics*, 18(1), 50-60.""",
    "efron_ref": """Efron, B. & Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman &
    Hall/CRC, chapters 6 and 13 (percentile interval).""",
    "cliff_ref": """Cliff, N. (1993). Dominance statistics: ordinal analyses to answer ordinal questions.
    *Psychological Bulletin*, 114(3), 494-509.""",
    "romano_ref": """Romano, J., Kromrey, J. D., Coraggio, J. & Skowronek, J. (2006). Appropriate statistics
    for ordinal level data: should we really be using t-test and Cohen's d for evaluating group
    differences on the NSSE and other surveys? Annual meeting of the Florida Association of
    Institutional Research.""",
}


def _doc(func: F) -> F:
    """Fill ``[[name]]`` placeholders in a docstring from :data:`_DOCS`."""
    if func.__doc__:
        text = func.__doc__
        for key, snippet in _DOCS.items():
            text = text.replace(f"[[{key}]]", snippet)
        func.__doc__ = text
    return func


# --------------------------------------------------------------------------------------------
# validation and encoding helpers
# --------------------------------------------------------------------------------------------
def _as_tuple(cols: str | Sequence[str]) -> tuple[str, ...]:
    return (cols,) if isinstance(cols, str) else tuple(cols)


def _check_columns(data: pd.DataFrame, required: Sequence[str], *, what: str = "respondent scores table") -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame, but {type(data).__name__} was passed.")
    missing = [c for c in dict.fromkeys(required) if c not in data.columns]
    if missing:
        raise SchemaMismatchError(
            f"the {what} has no column{'s' if len(missing) > 1 else ''} {', '.join(repr(c) for c in missing)} "
            f"(it has: {', '.join(map(str, data.columns)) or 'no columns'})", column=missing[0], hint=_HINT)


def _values(data: pd.DataFrame, value: str) -> np.ndarray:
    col = data[value]
    if not (pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)):
        raise SchemaMismatchError(
            f"{value} must be numeric (NaN for no valid score), but it has dtype {col.dtype}",
            column=value, hint=_HINT)
    x = col.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(x).any():
        raise SchemaMismatchError(f"{value} has infinite values; scores must be finite or NaN",
                                  column=value, hint=_HINT)
    return x


def _sort_order(uniques: np.ndarray) -> np.ndarray:
    if uniques.dtype == object and len(uniques) > 1000 and pd.api.types.infer_dtype(uniques, skipna=False) == "string":
        try:   # numpy's fixed-width unicode sort is ~4x faster than sorting Python objects; same order
            return np.argsort(uniques.astype(str), kind="stable")
        except (TypeError, ValueError, MemoryError):
            pass
    try:
        return np.argsort(uniques, kind="stable")
    except TypeError:  # mixed types: order by type name, then text
        keys = [(type(u).__name__, str(u)) for u in uniques]
        return np.asarray(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)


def _encode(col: pd.Series, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of a key column, numbered in sorted order of the values.

    Consecutive equal values are collapsed first (tables are usually sorted by council and
    respondent), so hashing runs over the runs, not the rows. Raises on missing keys.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        return _encode_categorical(col, name=name)
    arr = col.to_numpy()
    n = len(arr)
    codes = uniques = None
    if n > 64:
        try:
            change = np.asarray(arr[1:] != arr[:-1], dtype=bool)
        except (TypeError, ValueError):
            change = None
        if change is not None:
            starts = np.flatnonzero(change) + 1
            if len(starts) < n // 3:
                starts = np.concatenate([[0], starts])
                run_codes, uniques = pd.factorize(arr[starts])
                codes = np.repeat(run_codes, np.diff(np.append(starts, n)))
            else:   # no runs: is the column one short sequence repeated (units within respondents)?
                codes, uniques = _periodic(arr)
    if codes is None:
        codes, uniques = pd.factorize(arr)
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        raise SchemaMismatchError(f"key column {name!r} has {int((codes < 0).sum())} missing value(s)", column=name,
                                  hint="Every row needs a value in the key columns; drop or fill those rows first.")
    uniques = np.asarray(uniques)
    order = _sort_order(uniques)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[codes], uniques[order]


def _encode_categorical(col: pd.Series, *, name: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_encode` of a categorical column from its codes (no hashing): the same codes and
    values as the general path, which would factorise ``col.to_numpy()``."""
    cat_codes = col.cat.codes.to_numpy()
    if (cat_codes < 0).any():
        raise SchemaMismatchError(f"key column {name!r} has {int((cat_codes < 0).sum())} missing value(s)",
                                  column=name,
                                  hint="Every row needs a value in the key columns; drop or fill those rows first.")
    used = np.flatnonzero(np.bincount(cat_codes, minlength=len(col.cat.categories)))
    uniques = np.asarray(pd.Categorical.from_codes(used, dtype=col.dtype))   # as col.to_numpy() gives them
    order = _sort_order(uniques)
    if len(used) == len(col.cat.categories) and (order == np.arange(len(order))).all():
        return cat_codes.astype(np.int64), uniques          # every category used, already in sorted order
    rank = np.full(len(col.cat.categories), -1, dtype=np.int64)
    rank[used[order]] = np.arange(len(order))
    return rank[cat_codes], uniques[order]


def _periodic(arr: np.ndarray, max_period: int = 4096) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Codes of ``arr`` if it is one sequence of length ``p`` repeated ``n / p`` times, else (None, None)."""
    n = len(arr)
    head = arr[1:max_period + 1]
    try:
        again = np.flatnonzero(np.asarray(head == arr[0], dtype=bool))
    except (TypeError, ValueError):
        return None, None
    if len(again) == 0:
        return None, None
    p = int(again[0]) + 1
    if n % p or p > n // 2:
        return None, None
    try:
        same = bool(np.asarray(arr.reshape(-1, p) == arr[:p], dtype=bool).all())
    except (TypeError, ValueError):
        return None, None
    if not same:
        return None, None
    first, uniques = pd.factorize(arr[:p])
    if (first < 0).any():
        return None, None
    return np.tile(first, n // p), uniques


def _dense(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Renumber non-negative int64 ``key`` (< ``size``) densely in sorted order: (codes, sorted uniques)."""
    n = len(key)
    if size <= 4 * n + (1 << 20):
        present = np.bincount(key, minlength=size) > 0
        uniq = np.flatnonzero(present)
        if len(uniq) == size:          # every value occurs: the keys are their own codes (no copy)
            return key, uniq
        lookup = np.cumsum(present) - 1
        return lookup[key], uniq
    if n > 64:
        change = key[1:] != key[:-1]
        starts = np.flatnonzero(change) + 1
        if len(starts) < n // 3:
            starts = np.concatenate([[0], starts])
            uniq, inv = np.unique(key[starts], return_inverse=True)
            return np.repeat(inv, np.diff(np.append(starts, n))), uniq
    uniq, inv = np.unique(key, return_inverse=True)
    return inv.reshape(-1), uniq


@dataclass
class _Keys:
    """Dense codes of a combination of key columns, plus the key values of each code."""

    codes: np.ndarray                  # per row
    n: int                             # number of distinct combinations
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # per combination: values
    parts: list[np.ndarray] = field(default_factory=list)          # per combination: per-column codes

    def frame(self, data: pd.DataFrame | Mapping[str, Any], index: np.ndarray | None = None) -> pd.DataFrame:
        """Key columns (dtypes as in ``data``, or as a mapping of column name to dtype) for the
        combinations ``index`` (default all)."""
        out = {}
        for name, vals in self.columns.items():
            v = vals if index is None else vals[index]
            s = pd.Series(v)
            try:
                s = s.astype(data[name].dtype if isinstance(data, pd.DataFrame) else data[name])
            except (TypeError, ValueError):
                pass
            out[name] = s
        return pd.DataFrame(out)


def _keys(data: pd.DataFrame, cols: Sequence[str],
          encoded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> _Keys:
    """Combine key columns into dense codes sorted by the columns in order."""
    encoded = {} if encoded is None else encoded
    n_rows = len(data)
    if not cols:
        return _Keys(np.zeros(n_rows, dtype=np.int64), 1 if n_rows else 0, {}, [])
    enc = []
    for c in cols:
        if c not in encoded:
            encoded[c] = _encode(data[c], name=c)
        enc.append(encoded[c])
    cards = [max(len(u), 1) for _, u in enc]
    total = 1
    for k in cards:
        total *= k
    if total < 2 ** 62:
        flat = enc[0][0]                    # one column: its codes (shared with `encoded`, read-only)
        for (codes, _), k in zip(enc[1:], cards[1:], strict=True):
            flat = flat * k + codes
        dense, uniq = _dense(flat, total)
        parts = list(np.unravel_index(uniq, cards)) if len(uniq) else [np.zeros(0, np.int64) for _ in cards]
    else:  # astronomically many combinations: let pandas do it
        frame = pd.DataFrame({i: codes for i, (codes, _) in enumerate(enc)})
        dense = frame.groupby(list(frame.columns), sort=True).ngroup().to_numpy()
        first = np.unique(dense, return_index=True)[1]
        parts = [frame[i].to_numpy()[first] for i in frame.columns]
    columns = {c: u[p] for c, (_, u), p in zip(cols, enc, parts, strict=True)}
    return _Keys(np.asarray(dense, dtype=np.int64), len(parts[0]), columns, [np.asarray(p) for p in parts])


def _representative(codes: np.ndarray, cell: np.ndarray, n_cell: int, *, name: str, within: str) -> np.ndarray:
    """Per cell, the (single) code of column ``name``; raise if it varies within a cell."""
    rep = np.full(n_cell, -1, dtype=np.int64)
    rep[cell] = codes
    if (codes != rep[cell]).any():
        raise SchemaMismatchError(
            f"column {name!r} takes more than one value within one {within}, so it cannot define a family of tests",
            column=name, hint="Use family columns that are constant within each result row (for example 'level').")
    return rep


def _reasons(n: int, *conditions: tuple[np.ndarray, str]) -> np.ndarray:
    """Join the messages of the conditions that hold, row by row ('' when none holds)."""
    out = np.full(n, "", dtype=object)
    for mask, text in conditions:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            continue
        cur = out[mask]
        out[mask] = np.where(cur == "", text, cur + "; " + text)
    return out


def _norm_sf(z: np.ndarray) -> np.ndarray:
    return special.ndtr(-z)


# --------------------------------------------------------------------------------------------
# ranks
# --------------------------------------------------------------------------------------------
def _block_ranks(x: np.ndarray, block: np.ndarray, n_block: int, *, use_counts: bool | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Average (mid) ranks of ``x`` within each block, and the tie term ``sum(t^3 - t)`` per block.

    Exact ties only (``==``). Uses value counts when the values are few (scores are), else one
    lexsort; ``use_counts`` forces a path (for tests).
    """
    n = len(x)
    if n == 0:
        return np.zeros(0), np.zeros(n_block)
    vcode, vuniq = pd.factorize(x)
    n_val = len(vuniq)
    if use_counts if use_counts is not None else n_block * n_val <= 4 * n + (1 << 20):
        order = np.argsort(vuniq, kind="stable")
        rank_of = np.empty(n_val, dtype=np.int64)
        rank_of[order] = np.arange(n_val)
        key = block * n_val + rank_of[vcode]
        cnt = np.bincount(key, minlength=n_block * n_val).reshape(n_block, n_val).astype(np.float64)
        before = np.cumsum(cnt, axis=1) - cnt
        avg = before + (cnt + 1.0) / 2.0
        ties = (cnt ** 3 - cnt).sum(axis=1)
        return avg.reshape(-1)[key], ties
    order = np.lexsort((x, block))
    sx, sb = x[order], block[order]
    new = np.empty(n, dtype=bool)
    new[0] = True
    new[1:] = (sx[1:] != sx[:-1]) | (sb[1:] != sb[:-1])
    run_start = np.flatnonzero(new)
    run_len = np.diff(np.append(run_start, n)).astype(np.float64)
    block_start = np.searchsorted(sb, np.arange(n_block))
    avg_run = run_start - block_start[sb[run_start]] + (run_len + 1.0) / 2.0
    ranks = np.empty(n)
    ranks[order] = np.repeat(avg_run, run_len.astype(np.int64))
    ties = np.bincount(sb[run_start], weights=run_len ** 3 - run_len, minlength=n_block)
    return ranks, ties


def _value_codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """Rank of each value of ``x`` among its distinct values (exact ties, ``==``), and their number."""
    vcode, vuniq = pd.factorize(x)
    rank_of = np.empty(len(vuniq), dtype=np.int64)
    rank_of[np.argsort(vuniq, kind="stable")] = np.arange(len(vuniq))
    return rank_of[vcode], len(vuniq)


def _grouped_value_counts(vrank: np.ndarray, n_val: int, cell: np.ndarray, cell_group: np.ndarray, n_group: int
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Counts of each value per cell, the values numbered within the cell's group (e.g. its unit:
    an enabler's scores take a dozen values, the overall score hundreds).

    Returns ``(counts, base, width)``: cell ``c`` has ``counts[base[c]:base[c] + width[c]]``, the
    counts of its group's values in increasing order; None when the table would be much larger
    than the data.
    """
    if n_group * n_val > 4 * len(vrank) + (1 << 20):
        return None
    gv = cell_group[cell] * n_val
    gv += vrank
    present = (np.bincount(gv, minlength=n_group * n_val) > 0).reshape(n_group, n_val)
    local = (np.cumsum(present, axis=1) - 1).reshape(-1)              # rank of the value within its group
    width = present.sum(axis=1)[cell_group]
    if int(width.sum()) > 4 * len(vrank) + (1 << 20):
        return None
    base = np.cumsum(width) - width
    key = local[gv]
    key += base[cell]
    return np.bincount(key, minlength=int(width.sum())), base, width


def _pair_counts(counts: np.ndarray, base: np.ndarray, cells: np.ndarray, width: int) -> np.ndarray:
    """The value counts of ``cells`` (all of one group, ``width`` values) as a (cells x values) matrix."""
    return counts[base[cells][:, None] + np.arange(width)]


def _rank_sums(x: np.ndarray, cell: np.ndarray, n_cell: int, cell_block: np.ndarray, n_block: int, *,
               use_counts: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sum of mid-ranks per cell, ranking ``x`` within blocks (each cell lies in one block), and the
    tie term ``sum(t^3 - t)`` per block. Exact ties only (``==``).

    With few distinct values per block (scores) this uses a block x value count table; otherwise
    one sort of int64 keys ``(block, value rank, cell)``. ``use_counts`` forces a path (tests).
    """
    if len(x) == 0:
        return np.zeros(n_cell), np.zeros(n_block)
    vrank, n_val = _value_codes(x)
    bv = cell_block[cell].astype(np.int64, copy=False)                 # block, then block * n_val + value rank
    bv *= n_val
    bv += vrank
    del vrank
    if use_counts if use_counts is not None else n_block * n_val <= 4 * len(x) + (1 << 20):
        cnt = np.bincount(bv, minlength=n_block * n_val).reshape(n_block, n_val).astype(np.float64)
        mid = np.cumsum(cnt, axis=1) - cnt + (cnt + 1.0) / 2.0
        return (np.bincount(cell, weights=mid.reshape(-1)[bv], minlength=n_cell),
                (cnt ** 3 - cnt).sum(axis=1))
    if n_block * n_val * n_cell < 2 ** 62:                             # one int64 key: sort it
        keys, c = np.unique(bv * n_cell + cell, return_counts=True)   # sorted by block, value, cell
        kbv, kcell = keys // n_cell, keys % n_cell
    else:
        o = np.lexsort((cell, bv))
        sbv, scell = bv[o], cell[o]
        at = np.flatnonzero(np.r_[True, (sbv[1:] != sbv[:-1]) | (scell[1:] != scell[:-1])])
        kbv, kcell, c = sbv[at], scell[at], np.diff(np.append(at, len(o)))
    new = np.r_[True, kbv[1:] != kbv[:-1]]
    run = np.cumsum(new) - 1
    t = np.bincount(run, weights=c)                                    # size of each group of ties
    run_block = kbv[new] // n_val
    before = np.cumsum(t) - t                                          # values before the run (all blocks)
    first = np.minimum(np.searchsorted(run_block, np.arange(n_block)), len(t) - 1)
    mid = before - before[first][run_block] + (t + 1.0) / 2.0
    return (np.bincount(kcell, weights=c * mid[run], minlength=n_cell),
            np.bincount(run_block, weights=t ** 3 - t, minlength=n_block))


def _mwu(r1: np.ndarray, n1: np.ndarray, n2: np.ndarray, ties: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """U of sample 1, two-sided asymptotic p (tie + continuity corrected, as SciPy), and the sd of U."""
    n1 = n1.astype(np.float64)
    n2 = n2.astype(np.float64)
    u1 = r1 - n1 * (n1 + 1.0) / 2.0
    big = np.maximum(u1, n1 * n2 - u1)
    n = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)))
        sd = np.sqrt(np.where(var > 0, var, np.nan))
        z = (big - n1 * n2 / 2.0 - 0.5) / sd
    p = np.clip(2.0 * _norm_sf(z), 0.0, 1.0)
    return u1, p, sd


# --------------------------------------------------------------------------------------------
# Holm
# --------------------------------------------------------------------------------------------
def _family_codes(family: Any, n: int) -> np.ndarray:
    if family is None:
        return np.zeros(n, dtype=np.int64)
    if isinstance(family, pd.DataFrame):
        if family.shape[1] == 0:
            return np.zeros(n, dtype=np.int64)
        return family.groupby(list(family.columns), sort=False, dropna=False).ngroup().to_numpy().astype(np.int64)
    fam = np.asarray(family)
    if fam.ndim == 2:
        return pd.DataFrame(fam).groupby(list(range(fam.shape[1])), sort=False, dropna=False).ngroup().to_numpy()
    return pd.factorize(fam, use_na_sentinel=False)[0].astype(np.int64)


def holm(p: Sequence[float] | np.ndarray | pd.Series, *, family: Any = None) -> np.ndarray:
    r"""Holm step-down adjusted p-values, separately within each family of tests.

    Parameters
    ----------
    p
        Unadjusted p-values, one per test. NaN marks a test that was not performed: it is
        ignored (not counted in its family's size) and stays NaN.
    family
        Which family each test belongs to: ``None`` (one family), a 1-D array of labels, a
        2-D array or a DataFrame whose rows are the labels (for example the ``wave`` and
        ``council_id`` columns of a result table). Same length as ``p``.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, float, in the order of ``p``.

    Raises
    ------
    ValueError
        ``p`` and ``family`` differ in length, or a p-value is outside [0, 1].

    Notes
    -----
    In a family with :math:`m` performed tests, sort the p-values
    :math:`p_{(1)} \le \dots \le p_{(m)}` and set

    .. math::

        \tilde p_{(i)} = \min\Bigl(1,\ \max_{j \le i}\,(m - j + 1)\,p_{(j)}\Bigr).

    Rejecting every test with :math:`\tilde p \le \alpha` keeps the *family-wise error rate*
    (the chance of at least one false positive in the family) at or below :math:`\alpha`
    under any dependence between the tests, and is uniformly more powerful than Bonferroni
    (:math:`m\,p`). Tied p-values get the same adjusted value. Checked against hand-worked
    examples and the values of R's ``p.adjust(method = "holm")`` (``tests/test_inference.py``).

    References
    ----------
    [[holm_ref]]

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.005]).round(3).tolist()
    [0.03, 0.06, 0.06, 0.02]
    """
    pv = np.asarray(p, dtype=np.float64).reshape(-1)
    n = len(pv)
    fam = _family_codes(family, n)
    if len(fam) != n:
        raise ValueError(f"`p` and `family` must have the same length, but they have {n} and {len(fam)} entries.")
    ok = ~np.isnan(pv)
    if ((pv[ok] < 0) | (pv[ok] > 1)).any():
        raise ValueError("The values of `p` must lie in [0, 1] (or be NaN).")
    out = np.full(n, np.nan)
    if not ok.any():
        return out
    idx = np.flatnonzero(ok)
    f, v = fam[idx], pv[idx]
    order = np.lexsort((v, f))
    f_s, v_s = f[order], v[order]
    start = np.r_[True, f_s[1:] != f_s[:-1]]
    seg = np.cumsum(start) - 1
    seg_start = np.flatnonzero(start)
    m = np.bincount(seg).astype(np.float64)
    pos = np.arange(len(v_s)) - seg_start[seg]
    scaled = np.minimum(1.0, (m[seg] - pos) * v_s)
    adj = pd.Series(scaled).groupby(seg, sort=False).cummax().to_numpy()
    res = np.empty(len(v_s))
    res[order] = adj          # tied p-values end up equal: the step-down maximum carries over
    out[idx] = res
    return out


def _family_of(out: pd.DataFrame, data: pd.DataFrame, family: tuple[str, ...], cell: np.ndarray,
               n_cell: int, row_cell: np.ndarray, encoded: dict[str, tuple[np.ndarray, np.ndarray]],
               within: str) -> np.ndarray:
    """Family code per output row. Names are output columns, or data columns constant within a cell.

    ``cell`` maps data rows to cells, ``row_cell`` maps output rows to cells.
    """
    parts: list[np.ndarray] = []
    for name in family:
        if name in out.columns:
            parts.append(pd.factorize(out[name].to_numpy(), use_na_sentinel=False)[0])
        elif name in data.columns:
            if name not in encoded:
                encoded[name] = _encode(data[name], name=name)
            rep = _representative(encoded[name][0], cell, n_cell, name=name, within=within)
            parts.append(rep[row_cell])
        else:
            raise SchemaMismatchError(
                f"family column {name!r} is neither a result column ({', '.join(out.columns)}) nor a column "
                "of the table", column=name,
                hint="Name the columns that define a family of tests, e.g. family=('wave', 'council_id', 'level').")
    if not parts:
        return np.zeros(len(out), dtype=np.int64)
    frame = pd.DataFrame(dict(enumerate(parts)))
    return frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()


# --------------------------------------------------------------------------------------------
# bootstrap engine
# --------------------------------------------------------------------------------------------
@dataclass
class _SizeClass:
    """Groups of similar size, padded to ``n_pad`` respondents, resampled together."""

    key: int
    groups: np.ndarray      # group indices
    sizes: np.ndarray       # respondents per group
    n_pad: int


def _size_classes(sizes: np.ndarray) -> list[_SizeClass]:
    """Split groups into classes whose sizes differ by at most a factor 2**(1/4) (tiny groups together)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    key = np.where(sizes <= _SMALL_CLASS, 0, np.ceil(4.0 * np.log2(np.maximum(sizes, 1))).astype(np.int64))
    out = []
    for k in np.unique(key):  # at most ~4 log2(largest group) classes, never one per council
        groups = np.flatnonzero(key == k)
        s = sizes[groups]
        out.append(_SizeClass(int(k), groups, s, int(s.max())))
    return out


def _stream(seed: int, cls_key: int, block: int) -> np.random.PCG64:
    """The random stream of one block of resamples of one size class."""
    return np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(cls_key, block)))


def _word_bits(n_pad: int) -> int:
    return 16 if n_pad <= _BITS16_MAX_N else 32


def _reciprocals(sizes: np.ndarray, bits: int) -> np.ndarray:
    """Per group, a reciprocal of ``q = floor(2^bits / n)`` enlarged just enough that
    ``floor(w * inv) == floor(w / q)`` for every word ``w < q n`` (exhaustively checked for 16 bits)."""
    q = (1 << bits) // np.asarray(sizes, dtype=np.int64)
    if bits == 16:
        return ((1.0 / q) * (1.0 + 2.0 ** -20)).astype(np.float32)
    return (1.0 / q) * (1.0 + 2.0 ** -40)


def _raw_indices(bitgen: np.random.BitGenerator, inv: np.ndarray, n_pad: int, b: int, bits: int) -> np.ndarray:
    """Draw indices ``(b, G, n_pad)`` from raw ``bits``-bit words: ``floor(w / q_g)``.

    For the words ``w < q_g n_g`` (accepted) this is exactly uniform on ``0..n_g-1``: every index
    has ``q_g`` preimages. The other words (probability ``(2^bits mod n_g) / 2^bits``, 0.05% for
    ``n_g = 500``) give an index ``>= n_g``: :func:`_block_counts` replaces those draws.
    """
    g = len(inv)
    m = b * g * n_pad
    if bits == 16:
        raw = bitgen.random_raw(-(-m // 4)).view(np.uint16)[:m]
    else:
        raw = bitgen.random_raw(-(-m // 2)).view(np.uint32)[:m]
    idx = np.empty((b, g, n_pad), dtype=np.int32)
    np.multiply(raw.reshape(b, g, n_pad), inv[None, :, None], out=idx, casting="unsafe")
    return idx


@dataclass
class _ClassData:
    """One size class, ready to resample: centred scores and the layout of the counts.

    Respondent axes are cut into chunks of ``k`` (``k = n_pad`` unless groups are very large) so
    that every matrix product is small enough for single-threaded BLAS; partial sums over the
    chunks are added up afterwards.
    """

    cls: _SizeClass
    a4: np.ndarray                # (G, n_k, U, k) centred scores, 0 where invalid or padding
    inv4: np.ndarray              # (G, m_k, U_nan, k_m) 1 where invalid, over the first m_k * k_m respondents
    nan_units: np.ndarray         # units with an invalid entry in this class
    center: np.ndarray            # (G, U)
    block: int                    # resamples per block
    bits: int
    inv: np.ndarray               # per group reciprocal for the draws
    n_cols: int                   # columns of the count matrix (room for chunks and rejected draws)
    tail_from: int                # first column that can hold a rejected draw
    tail_mask: np.ndarray         # (G, n_cols - tail_from) 1 where column >= n_g
    step: int                     # resamples drawn at a time within a block
    weights: np.ndarray           # CSR data for `step` resamples: 1 for real respondents, 0 for padding
    indptr: np.ndarray

    def blocks(self, n_resamples: int) -> Iterator[tuple[int, int, int]]:
        """(block number, first resample, resamples in block)."""
        for k, j0 in enumerate(range(0, n_resamples, self.block)):
            yield k, j0, min(self.block, n_resamples - j0)


def _chunked(arr: np.ndarray, k: int, n_k: int) -> np.ndarray:
    """(G, R, n) -> (G, n_k, R, k), zero-padded along the last axis to ``n_k * k``."""
    g, r, n = arr.shape
    padded = np.zeros((g, r, n_k * k), dtype=arr.dtype)
    padded[:, :, :n] = arr
    return np.ascontiguousarray(padded.reshape(g, r, n_k, k).transpose(0, 2, 1, 3))


def _prepare_class(cls: _SizeClass, xr: np.ndarray, start: np.ndarray, n_invalid: np.ndarray,
                   dtype: type) -> _ClassData:
    """Arrange one size class. Respondents with an invalid unit come first in each group
    (``n_invalid[g]`` of them), so valid counts need a product over those columns only."""
    n_resp_total, n_units = xr.shape
    g, n_pad = len(cls.groups), cls.n_pad
    pos = np.arange(n_pad)
    real = pos[None, :] < cls.sizes[:, None]
    rows = np.where(real, start[cls.groups][:, None] + pos[None, :], n_resp_total)
    x = np.concatenate([xr, np.full((1, n_units), np.nan)])[rows].transpose(0, 2, 1)   # (G, U, n_pad)
    valid = ~np.isnan(x)
    n_valid = valid.sum(axis=2)
    center = np.where(n_valid > 0, np.where(valid, x, 0.0).sum(axis=2) / np.maximum(n_valid, 1), 0.0)
    # Resamples per block and chunk length: enough draws per block to amortise the Python
    # overhead, and every (U x k) @ (k x b) product under OpenBLAS's threading threshold, so that
    # our threads, not BLAS's, share the cores (nested threads oversubscribe and spin).
    b_chunk = int(np.clip(_CHUNK_ELEMENTS // (g * n_pad), 1, _MAX_BLOCK))
    if n_units * n_pad * min(b_chunk, 16) <= _BLAS_SINGLE_MNK:
        k = n_pad
        block = int(np.clip(_BLAS_SINGLE_MNK // (n_units * n_pad), 1, b_chunk))
    else:                                                              # very large groups (cohort rows)
        block = min(b_chunk, 32)
        k = max(64, _BLAS_SINGLE_MNK // (n_units * block))
    n_k = -(-n_pad // k)
    a4 = _chunked(np.where(valid, x - center[:, :, None], 0.0).astype(dtype), k, n_k)
    m = int(n_invalid[cls.groups].max()) if g else 0
    invalid = real[:, None, :m] & ~valid[:, :, :m]
    nan_units = np.flatnonzero(invalid.any(axis=(0, 2)))
    k_m = max(1, min(m, k))
    m_k = -(-m // k_m)
    inv4 = _chunked(invalid[:, nan_units, :].astype(dtype), k_m, m_k)
    bits = _word_bits(n_pad)
    inv = _reciprocals(cls.sizes, bits)
    top = np.full(g, (1 << bits) - 1, dtype=np.float64 if bits == 32 else np.float32)
    max_idx = int(np.floor(top * inv).max())          # largest index any word can produce
    n_cols = max(n_pad, max_idx + 1, n_k * k, m_k * k_m)
    tail_from = int(cls.sizes.min())
    tail_mask = (np.arange(tail_from, n_cols)[None, :] >= cls.sizes[:, None]).astype(dtype)
    step = int(np.clip(_SUB_ELEMENTS // (g * n_pad), 1, block))     # resamples drawn at a time (cache-sized)
    weights = np.broadcast_to(real.astype(dtype)[None], (step, g, n_pad)).reshape(-1).copy()
    itype = np.int32 if step * g * n_cols < 2 ** 31 - 1 else np.int64
    indptr = np.arange(0, step * g * n_pad + 1, n_pad, dtype=itype)
    return _ClassData(cls, a4, inv4, nan_units, center, block, bits, inv, n_cols, tail_from, tail_mask,
                      step, weights, indptr)


def _block_counts(bitgen: np.random.BitGenerator, cd: _ClassData, b: int) -> np.ndarray:
    """Multinomial counts ``(b, G, n_cols)`` of one block of resamples.

    ``counts[j, g, i]`` (``i < n_g``) is how often respondent ``i`` of group ``g`` is drawn in
    resample ``j``; the ``n_g`` draws are independent and exactly uniform. Draws from rejected
    words land in columns ``>= n_g``; each is replaced by a fresh uniform draw
    (``Generator.integers``), which leaves the counts exactly multinomial.
    """
    cls = cd.cls
    g, n_pad = len(cls.groups), cls.n_pad
    counts = np.empty((b, g, cd.n_cols), dtype=cd.a4.dtype)
    for j0 in range(0, b, cd.step):
        sb = min(cd.step, b - j0)
        idx = _raw_indices(bitgen, cd.inv, n_pad, sb, cd.bits)
        rows = sb * g
        mat = sparse.csr_array((cd.weights[:rows * n_pad], idx.reshape(-1).astype(cd.indptr.dtype, copy=False),
                                cd.indptr[:rows + 1]), shape=(rows, cd.n_cols), copy=False)
        mat.toarray(out=counts[j0:j0 + sb].reshape(rows, cd.n_cols))   # scatter-add; padding draws weigh 0
    rejected = np.einsum("bgc,gc->bg", counts[:, :, cd.tail_from:], cd.tail_mask).astype(np.int64)
    if rejected.any():
        jj, gg = np.nonzero(rejected)
        reps = rejected[jj, gg]
        jj, gg = np.repeat(jj, reps), np.repeat(gg, reps)
        new = np.random.Generator(bitgen).integers(0, cls.sizes[gg])
        cells, times = np.unique((jj * g + gg) * cd.n_cols + new, return_counts=True)
        counts.reshape(-1)[cells] += times
    return counts


def _block_means(cd: _ClassData, counts: np.ndarray) -> np.ndarray:
    """Resampled means minus the group centre, ``(G, U, b)`` float32, from counts ``(b, G, n_cols)``."""
    g, n_k, _, k = cd.a4.shape
    b = counts.shape[0]
    c_t = counts.transpose(1, 2, 0)                                    # (G, n_cols, b) view
    sums = np.matmul(cd.a4, c_t[:, :n_k * k, :].reshape(g, n_k, k, b))  # (G, n_k, U, b)
    sums = sums[:, 0] if n_k == 1 else sums.sum(axis=1)
    n = np.empty_like(sums)
    n[...] = cd.cls.sizes[:, None, None]
    if len(cd.nan_units):
        _, m_k, _, k_m = cd.inv4.shape
        bad = np.matmul(cd.inv4, c_t[:, :m_k * k_m, :].reshape(g, m_k, k_m, b))
        n[:, cd.nan_units, :] -= bad[:, 0] if m_k == 1 else bad.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = sums / n
    dev[n == 0] = np.nan
    return dev


def _respondent_matrix(gcode: np.ndarray, rcode: np.ndarray, n_resp_codes: int, ucode: np.ndarray, n_units: int,
                       x: np.ndarray, n_groups: int, *, names: str
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores as a (respondents x units) matrix, grouped by group.

    Within a group, respondents with at least one invalid unit come first, then the others,
    each part in key order (a deterministic order that does not depend on the row order).
    Returns ``xr`` (NaN = no valid score or no row), ``sizes`` (respondents per group),
    ``start`` (first respondent of each group), ``n_invalid`` (respondents of each group with
    an invalid unit) and the key ``group * n_resp_codes + respondent`` of each row of ``xr``.
    """
    key = gcode * n_resp_codes + rcode
    resp, uniq = _dense(key, n_groups * n_resp_codes)
    g_of = uniq // n_resp_codes
    sizes = np.bincount(g_of, minlength=n_groups)
    start = np.cumsum(sizes) - sizes
    cell = resp * n_units + ucode
    dup = np.bincount(cell, minlength=len(uniq) * n_units) > 1
    if dup.any():
        raise SchemaMismatchError(
            f"{int(dup.sum())} respondent x unit combination(s) appear more than once within a group ({names}); "
            "each respondent must have one row per unit", column=names.split(", ")[-1],
            hint="If respondent keys repeat across councils, identify respondents by several columns, "
                 "e.g. respondent=('council_id', 'respondent_key').")
    xr = np.full((len(uniq), n_units), np.nan)
    xr.reshape(-1)[cell] = x
    flagged = np.isnan(xr).any(axis=1)
    order = np.lexsort((~flagged, g_of))          # stable: key order kept within each part
    n_invalid = np.bincount(g_of, weights=flagged, minlength=n_groups).astype(np.int64)
    return xr[order], sizes, start, n_invalid, uniq[order]


def _resampled_means(xr: np.ndarray, sizes: np.ndarray, start: np.ndarray, n_invalid: np.ndarray, *,
                     n_resamples: int, seed: int | None, workers: int | None = None,
                     dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap distribution of every group x unit mean, as ``center (G, U)`` float64 plus
    deviations ``(G, U, n_resamples)`` (``dtype``; NaN = the resample drew no valid score)."""
    n_groups, n_units = len(sizes), xr.shape[1]
    center = np.zeros((n_groups, n_units))
    dev = np.empty((n_groups, n_units, n_resamples), dtype=dtype)
    if n_groups == 0 or n_resamples == 0:
        return center, dev
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (1 << 63))
    prepared = [_prepare_class(c, xr, start, n_invalid, dtype) for c in _size_classes(sizes)]
    for cd in prepared:
        center[cd.cls.groups] = cd.center
    tasks = [(cd, k, j0, b) for cd in prepared for k, j0, b in cd.blocks(n_resamples)]
    logger.debug("bootstrap: %d groups in %d size classes, %d blocks of resamples", n_groups, len(prepared),
                 len(tasks))

    def run(task: tuple[_ClassData, int, int, int]) -> None:
        cd, k, j0, b = task
        counts = _block_counts(_stream(seed, cd.cls.key, k), cd, b)
        dev[cd.cls.groups, :, j0:j0 + b] = _block_means(cd, counts)

    n_workers = _workers(workers)
    if n_workers == 1 or len(tasks) == 1:
        for t in tasks:
            run(t)
    else:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for _ in pool.map(run, tasks):
                pass
    return center, dev


def _iter_counts(xr: np.ndarray, sizes: np.ndarray, start: np.ndarray, n_invalid: np.ndarray, n_resamples: int,
                 seed: int) -> Iterator[tuple[np.ndarray, int, np.ndarray]]:
    """The counts :func:`_resampled_means` uses: (groups, first resample, counts (b, G_c, n_cols)). For tests."""
    for cls in _size_classes(np.asarray(sizes)):
        cd = _prepare_class(cls, xr, start, n_invalid, np.float64)
        for k, j0, b in cd.blocks(n_resamples):
            yield cls.groups, j0, _block_counts(_stream(seed, cls.key, k), cd, b)


def _workers(workers: int | None) -> int:
    if workers is None:
        return max(1, min(2, os.cpu_count() or 1))
    if int(workers) < 1:
        raise ValueError(f"The value for `workers` must be 1 or more (or None), but {workers!r} was passed.")
    return int(workers)


def _check_bootstrap_args(n_resamples: int, ci: float) -> None:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"The value for `n_resamples` must be a positive integer, but {n_resamples!r} was passed.")
    if not 0 < ci < 1:
        raise ValueError(f"The value for `ci` must lie strictly between 0 and 1, but {ci!r} was passed.")


def _percentile_interval(boot: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval along the last axis: numpy's ``'linear'`` quantiles of the non-NaN values."""
    alpha = (1.0 - ci) / 2.0
    m, n_b = boot.shape
    if m == 0:
        return np.zeros(0), np.zeros(0)
    srt = np.sort(boot, axis=1)                                        # NaN sort last (SIMD sort: fast)
    if np.isnan(srt[:, -1]).any():                                     # some resamples drew no valid score
        cnt = n_b - np.isnan(srt).sum(axis=1)
    else:
        cnt = np.full(m, n_b)
    rows = np.arange(m)
    res = []
    for a in (alpha, 1.0 - alpha):
        h = (cnt - 1) * a
        f = np.clip(np.floor(h).astype(np.int64), 0, None)
        c = np.clip(np.minimum(f + 1, cnt - 1), 0, None)
        lo = srt[rows, f].astype(np.float64)
        v = lo + (h - f) * (srt[rows, c].astype(np.float64) - lo)
        v[cnt == 0] = np.nan
        res.append(v)
    return res[0], res[1]


# --------------------------------------------------------------------------------------------
# bootstrap_means
# --------------------------------------------------------------------------------------------
@_doc
def bootstrap_means(data: pd.DataFrame, *, group: str | Sequence[str] = ("wave", "council_id"),
                    unit: str = "unit_id", respondent: str | Sequence[str] = "respondent_key",
                    value: str = "score", n_resamples: int = 2000, ci: float = 0.95,
                    seed: int | None = 12345, workers: int | None = None) -> pd.DataFrame:
    r"""Percentile bootstrap confidence interval of each group's mean score, per unit.

    Parameters
    ----------
    [[data]]
    group
        Column(s) defining a group whose respondents are resampled together: ``('wave',
        'council_id')`` for council rows, ``('wave',)`` for cohort rows.
    unit
        Column identifying the unit (enabler, grouping or overall).
    respondent
        Column(s) identifying a respondent within a group. For cohort rows, if respondent keys
        are only unique within a council, pass ``('council_id', 'respondent_key')``.
    [[value]]
    n_resamples
        Number of bootstrap resamples :math:`B`. With 2,000 the Monte Carlo error of each
        limit of a 95% interval is about 6% of the mean's standard error (about 0.002 on the
        1..5 scale for 500 respondents, 0.015 for 10).
    ci
        Confidence level of the two-sided interval.
    seed
        Seed of the random streams; ``None`` draws fresh entropy (not reproducible). With a
        fixed seed the result is identical between runs, row orders and thread counts.
    workers
        Threads used for blocks of resamples (``None``: up to 2). Does not change the result.

    Returns
    -------
    pandas.DataFrame
        One row per group x unit present in ``data``, sorted by the group columns then the
        unit: the ``group`` columns, ``unit`` and

        - ``n``: respondents with a valid score;
        - ``mean``: their mean score;
        - ``ci_low``, ``ci_high``: the percentile interval;
        - [[reason]]
          Reasons: ``'no valid scores'`` (``n = 0``), ``'fewer than 2 valid
          scores'`` (``n = 1``: mean kept, no interval), ``'all valid scores are equal'``
          (no spread, so no interval).

    Raises
    ------
    [[raises]]
    ValueError
        ``n_resamples`` < 1 or ``ci`` not in (0, 1).

    Notes
    -----
    Each group has :math:`n` respondents (everyone with a row, valid or not). A resample draws
    :math:`n` of them with replacement, which is the same as drawing multinomial counts
    :math:`c \sim \mathrm{Mult}(n; 1/n, \dots, 1/n)`, and is shared by all units of the
    group, because respondents are the sampling unit. With :math:`v_{iu} = 1` when respondent
    :math:`i` has a valid score :math:`x_{iu}`, the resampled mean is

    .. math::

        \bar x^{*}_{u} = \frac{\sum_i c_i v_{iu} x_{iu}}{\sum_i c_i v_{iu}},

    undefined (and ignored) in a resample that drew nobody with a valid score. The interval is
    the :math:`\alpha/2` and :math:`1-\alpha/2` quantiles (:math:`\alpha = 1 - \text{ci}`)
    of the :math:`B` resampled means, by linear interpolation (Hyndman & Fan type 7, as
    ``numpy.quantile`` and ``scipy.stats.bootstrap(method='percentile')``).

    Interpretation: if the survey were repeated with other respondents like these, the interval
    is a range of plausible values for the group's mean. It describes sampling noise only:
    it says nothing about who chose to respond. Intervals of small groups are wide, and below
    about 10 respondents the percentile interval is too narrow (it under-covers).

    Computation: the counts are exactly multinomial (uniform integer draws from raw random
    words with rejection, see :func:`_raw_indices` and :func:`_block_counts`); the sums are
    float32 matrix products of counts and centred scores, so the resampled means agree with a
    float64 computation to about 1e-6 on the 1..5 scale. The resamples of a group depend on
    the other groups of similar size in the table (they share random streams), so adding a
    council changes the Monte Carlo noise of the others, never the distribution. Validated
    against a plain loop over the same resamples (equal to 1e-12 in float64) and against
    ``scipy.stats.bootstrap(method='percentile')`` (``tests/test_inference.py``).

    References
    ----------
    [[efron_ref]]

    Examples
    --------
    >>> df = pd.DataFrame({"wave": "w1", "council_id": "a", "respondent_key": list("pqrs"),
    ...                    "unit_id": "E01", "score": [2.0, 3.0, 4.0, 5.0]})
    >>> out = bootstrap_means(df, n_resamples=500)
    >>> out[["n", "mean"]].to_dict("records")
    [{'n': 4, 'mean': 3.5}]
    >>> bool(out["ci_low"].iloc[0] < 3.5 < out["ci_high"].iloc[0])
    True
    """
    group = _as_tuple(group)
    _check_columns(data, group + (unit,) + _as_tuple(respondent) + (value,))
    _check_bootstrap_args(n_resamples, ci)
    if len(data) == 0:
        _values(data, value)
        return _empty(data, list(group) + [unit] + BOOTSTRAP_COLUMNS, {"n": "int64"})
    replicates = bootstrap_replicates(data, group=group, unit=unit, respondent=respondent, value=value,
                                      n_resamples=n_resamples, seed=seed, workers=workers)
    return replicates.intervals(ci)


@dataclass(eq=False)
class BootstrapReplicates:
    """Resampled means of every group x unit of one table: the output of :func:`bootstrap_replicates`.

    Summarise them with :meth:`intervals` (the table of :func:`bootstrap_means`), or pass them to
    :func:`wave_change` (``replicates=``) when the groups are council x wave: the change interval
    then reuses these resamples instead of drawing its own. Arrays are indexed by group code
    (groups sorted by the ``group`` columns) and unit code (sorted units).
    """

    group: tuple[str, ...]          # the group columns
    unit: str
    respondent: tuple[str, ...]
    value: str
    n_resamples: int
    gk: _Keys                       # group codes and key values
    uk: _Keys                       # unit codes and values
    dtypes: dict[str, Any]          # dtype of each key column of the source table
    n: np.ndarray                   # (G, U) respondents with a valid score
    total: np.ndarray               # (G, U) the sum of their scores
    some_value: np.ndarray          # (G, U) one of their scores (NaN when n = 0)
    mean: np.ndarray                # (G, U) their mean (NaN when n = 0)
    present: np.ndarray             # (G, U) the group has rows for the unit
    spread: np.ndarray              # (G, U) the valid scores are not all equal
    draw: Future[tuple[np.ndarray, np.ndarray]]   # (center, dev): see the properties below
    xr: np.ndarray                  # (respondents x units) scores, grouped by group (see _respondent_matrix)
    sizes: np.ndarray               # respondents per group
    start: np.ndarray               # first respondent (row of xr) of each group
    row_key: np.ndarray             # per row of xr: group code * n_resp_codes + respondent code
    n_resp_codes: int
    encoded: dict[str, tuple[np.ndarray, np.ndarray]]    # key column encodings (reused on the same table)
    source: Callable[[], pd.DataFrame | None]            # weak reference to the table they were drawn from

    @property
    def center(self) -> np.ndarray:
        """(G, U) float64 centre of the resampled means (the mean; 0 when n = 0)."""
        return self.draw.result()[0]

    @property
    def dev(self) -> np.ndarray:
        """(G, U, B) float32 resampled mean minus centre (NaN: the resample drew no valid score).
        Waits for the resampling if it runs in the background."""
        return self.draw.result()[1]

    def intervals(self, ci: float = 0.95, *, where: Mapping[str, Sequence[Any]] | None = None) -> pd.DataFrame:
        """The :func:`bootstrap_means` table (same columns, rows and reasons) from these resamples.

        Parameters
        ----------
        ci
            Confidence level of the two-sided percentile interval.
        where
            Optional: keep only the groups whose value of each named group column is one of the
            given values (for example ``{'wave': ['2025-01']}``: the council rows of one wave).

        Returns
        -------
        pandas.DataFrame
            As :func:`bootstrap_means` returns it.

        Raises
        ------
        ValueError
            ``ci`` not in (0, 1), or ``where`` names a column that is not a group column.
        """
        _check_bootstrap_args(self.n_resamples, ci)
        cols = list(self.group) + [self.unit] + BOOTSTRAP_COLUMNS
        n_units = self.uk.n
        keep = np.ones(self.gk.n, dtype=bool)
        for col, values in (where or {}).items():
            if col not in self.group:
                raise ValueError(f"`where` can only select by the group columns {self.group}, not {col!r}.")
            keep &= pd.Series(self.gk.columns[col]).isin(list(values)).to_numpy()
        flat = np.flatnonzero((self.present & keep[:, None]).reshape(-1))
        if len(flat) == 0:
            return pd.DataFrame({c: pd.Series([], dtype=self.dtypes.get(c, "float64")) for c in cols}).astype(
                {"n": "int64", "reason": "str"})
        lo, hi = _cell_intervals(self.dev.reshape(-1, self.dev.shape[-1]), flat, ci)
        lo += self.center.reshape(-1)[flat]                            # quantiles shift with the centres
        hi += self.center.reshape(-1)[flat]
        n, mean, spread = self.n.reshape(-1)[flat], self.mean.reshape(-1)[flat], self.spread.reshape(-1)[flat]
        no_ci = (n < 2) | ~spread
        lo[no_ci] = np.nan
        hi[no_ci] = np.nan
        reason = _reasons(len(flat), (n == 0, "no valid scores"), (n == 1, "fewer than 2 valid scores"),
                          ((n >= 2) & ~spread, "all valid scores are equal"))
        out = self.gk.frame(self.dtypes, flat // n_units)
        out[self.unit] = self.uk.frame(self.dtypes, flat % n_units)[self.unit].to_numpy()
        out = out.assign(n=n.astype(np.int64), mean=mean, ci_low=lo, ci_high=hi, reason=reason.astype(str))
        out["reason"] = out["reason"].astype("str")
        return out[cols].reset_index(drop=True)


    def cluster_intervals(self, ci: float = 0.95, *, cluster: str = "council_id",
                          where: Mapping[str, Sequence[Any]] | None = None, n_resamples: int | None = None,
                          seed: int | None = 12345, min_clusters: int = 5) -> pd.DataFrame:
        """:func:`cluster_bootstrap_means` of the table these replicates were drawn from.

        The cluster bootstrap needs only each group's sums and counts of valid scores, which are
        kept here: no second pass over the rows. ``cluster`` must be one of the group columns (the
        remaining ones define the pooled groups, e.g. the wave); ``where`` selects groups as in
        :meth:`intervals`. Same table, resamples and reasons as ``cluster_bootstrap_means(data
        restricted by where, cluster=cluster, group=<the other group columns>, ...)``, except that
        key columns keep the dtypes of the replicates' table. ``n_resamples`` defaults to the
        replicates' own.

        Raises
        ------
        ValueError
            ``cluster`` is not a group column, or bad ``ci``, ``n_resamples`` or ``min_clusters``.
        """
        if cluster not in self.group:
            raise ValueError(f"`cluster` must be one of the group columns {self.group}, not {cluster!r}.")
        n_resamples = self.n_resamples if n_resamples is None else n_resamples
        _check_bootstrap_args(n_resamples, ci)
        if int(min_clusters) != min_clusters or min_clusters < 2:
            raise ValueError(f"The value for `min_clusters` must be an integer of at least 2, but {min_clusters!r} "
                             "was passed.")
        rest = tuple(c for c in self.group if c != cluster)
        cols = list(rest) + [self.unit] + CLUSTER_BOOTSTRAP_COLUMNS
        keep = np.ones(self.gk.n, dtype=bool)
        for col, values in (where or {}).items():
            if col not in self.group:
                raise ValueError(f"`where` can only select by the group columns {self.group}, not {col!r}.")
            keep &= pd.Series(self.gk.columns[col]).isin(list(values)).to_numpy()
        sel = np.flatnonzero(keep)
        if len(sel) == 0:
            return pd.DataFrame({c: pd.Series([], dtype=self.dtypes.get(c, "float64")) for c in cols}).astype(
                {"n_clusters": "int64", "n": "int64", "reason": "str"})
        part = dict(zip(self.group, self.gk.parts, strict=True))
        rest_codes = [np.asarray(part[c])[sel] for c in rest]
        if rest_codes:
            grp_key = np.zeros(len(sel), dtype=np.int64)
            for c, codes in zip(rest, rest_codes, strict=True):
                grp_key = grp_key * (len(self.encoded[c][1]) + 1) + codes
            _, grp = np.unique(grp_key, return_inverse=True)
        else:
            grp = np.zeros(len(sel), dtype=np.int64)
        order = np.lexsort((np.asarray(part[cluster])[sel], grp))      # by pooled group, then cluster
        sel, grp = sel[order], grp.reshape(-1)[order]
        k = np.bincount(grp)
        first = np.cumsum(k) - k
        counts = self.n[sel].astype(np.float64)
        value = np.where(self.n[sel] > 0, self.some_value[sel], np.nan)
        present = np.add.reduceat(self.present[sel].astype(np.int64), first, axis=0) > 0
        with np.errstate(invalid="ignore"):
            differ = np.fmax.reduceat(value, first, axis=0) != np.fmin.reduceat(value, first, axis=0)
        spread = (np.add.reduceat(self.spread[sel].astype(np.int64), first, axis=0) > 0) | (differ & ~np.isnan(
            np.fmax.reduceat(value, first, axis=0)))
        cp = _ClusterParts(gk=self.gk, uk=self.uk, totals=self.total[sel], counts=counts, first=first,
                           n_clusters=k, present=present.reshape(-1), spread=spread.reshape(-1))
        heads = sel[first]

        def group_frame(idx: np.ndarray) -> pd.DataFrame:
            frame = self.gk.frame(self.dtypes, heads[idx])
            return frame[list(rest)].reset_index(drop=True)

        return _cluster_table(cp, group_frame, lambda idx: self.uk.frame(self.dtypes, idx)[self.unit], cols,
                              n_resamples=n_resamples, ci=ci, seed=seed, min_clusters=min_clusters)


def _cell_intervals(dev: np.ndarray, rows: np.ndarray, ci: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_percentile_interval` of the rows ``rows`` of ``dev`` (cells x resamples), a chunk of
    rows at a time (bounded memory: the sort copies its input)."""
    lo, hi = np.empty(len(rows)), np.empty(len(rows))
    step = max(1, (1 << 22) // max(dev.shape[1], 1))
    for a in range(0, len(rows), step):
        sl = slice(a, a + step)
        lo[sl], hi[sl] = _percentile_interval(dev[rows[sl]], ci)
    return lo, hi


def bootstrap_replicates(data: pd.DataFrame, *, group: str | Sequence[str] = ("wave", "council_id"),
                         unit: str = "unit_id", respondent: str | Sequence[str] = "respondent_key",
                         value: str = "score", n_resamples: int = 2000, seed: int | None = 12345,
                         workers: int | None = None, background: bool = False) -> BootstrapReplicates:
    """Draw the respondent bootstrap of :func:`bootstrap_means` and keep the resampled means.

    Same arguments, resamples and checks as :func:`bootstrap_means` (which is
    ``bootstrap_replicates(...).intervals(ci)``). Keeping the resamples lets one draw serve
    several summaries: ``analysis.wave_stats`` draws the council x wave means of two waves once,
    takes the council intervals of the current wave from them (:meth:`BootstrapReplicates.intervals`)
    and the interval of each council's change from the same resamples (``wave_change(...,
    replicates=...)``), instead of resampling every council-wave twice.

    With ``background=True`` the function returns once the data are checked and arranged, and the
    resampling runs on background threads: whatever needs the resamples
    (:attr:`BootstrapReplicates.dev`, :meth:`BootstrapReplicates.intervals`, the interval in
    :func:`wave_change`) waits for it, and the caller can compute something else meanwhile. The
    resamples are the same either way.

    Returns
    -------
    BootstrapReplicates
        The resampled means ``center + dev`` of every group x unit (``n_resamples`` each, float32
        deviations, about ``4 * groups * units * n_resamples`` bytes), the valid counts, means
        and the respondent matrix, and a weak reference to ``data``.

    Raises
    ------
    SchemaMismatchError
        As :func:`bootstrap_means`.
    ValueError
        ``n_resamples`` < 1.
    """
    group = _as_tuple(group)
    resp_cols = _as_tuple(respondent)
    _check_columns(data, group + (unit,) + resp_cols + (value,))
    _check_bootstrap_args(n_resamples, 0.5)                          # (ci is chosen in intervals())
    x = _values(data, value)
    enc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    gk = _keys(data, group, enc)
    uk = _keys(data, (unit,), enc)
    rk = _keys(data, resp_cols, enc)
    n_units = uk.n
    xr, sizes, start, n_inv, row_key = _respondent_matrix(gk.codes, rk.codes, rk.n, uk.codes, n_units, x, gk.n,
                                                          names=", ".join(group + resp_cols + (unit,)))
    cell = gk.codes * n_units + uk.codes
    shape = (gk.n, n_units)
    present = np.bincount(cell, minlength=gk.n * n_units) > 0
    ok = ~np.isnan(x)
    n = np.bincount(cell[ok], minlength=gk.n * n_units)
    total = np.bincount(cell[ok], weights=x[ok], minlength=gk.n * n_units)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    spread, some_value = _spread_value(cell[ok], x[ok], gk.n * n_units)
    del x, ok, cell
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (1 << 63))

    def resample() -> tuple[np.ndarray, np.ndarray]:
        return _resampled_means(xr, sizes, start, n_inv, n_resamples=int(n_resamples), seed=seed, workers=workers)

    draw: Future[tuple[np.ndarray, np.ndarray]]
    if background:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bootstrap")
        draw = pool.submit(resample)
        pool.shutdown(wait=False)                                      # the thread ends with the draw
    else:
        draw = Future()
        draw.set_result(resample())
    # keep what the summaries need, not the row codes (4 x 8 bytes per row): the key values and
    # the encodings of the group and unit columns (wave_change reuses them), no respondent codes
    gk = _Keys(np.zeros(0, dtype=np.int64), gk.n, gk.columns, gk.parts)
    uk = _Keys(np.zeros(0, dtype=np.int64), uk.n, uk.columns, uk.parts)
    enc = {c: v for c, v in enc.items() if c in (*group, unit)}
    return BootstrapReplicates(
        group=group, unit=unit, respondent=resp_cols, value=value, n_resamples=int(n_resamples), gk=gk, uk=uk,
        dtypes={c: data[c].dtype for c in (*group, unit)}, n=n.reshape(shape), total=total.reshape(shape),
        some_value=some_value.reshape(shape), mean=mean.reshape(shape),
        present=present.reshape(shape), spread=spread.reshape(shape), draw=draw, xr=xr, sizes=sizes,
        start=start, row_key=row_key, n_resp_codes=rk.n, encoded=enc, source=weakref.ref(data))


# --------------------------------------------------------------------------------------------
# cluster_bootstrap_means
# --------------------------------------------------------------------------------------------
_CLUSTER_STREAM = 0x636C7573        # spawn-key tag of the cluster bootstrap's streams ("clus")
_CLUSTER_BLOCK = 1 << 22            # cluster draws generated at a time


def _cluster_draws(seed: int, group: int, n_clusters: int, n_resamples: int) -> Iterator[tuple[int, np.ndarray]]:
    """The resampled cluster indices of one group: (first resample, indices ``(b, n_clusters)``),
    block by block, from the group's own stream ``SeedSequence(seed, spawn_key=(tag, group))``."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(_CLUSTER_STREAM, group))))
    step = max(1, _CLUSTER_BLOCK // max(n_clusters, 1))
    for j0 in range(0, n_resamples, step):
        b = min(step, n_resamples - j0)
        yield j0, rng.integers(0, n_clusters, size=(b, n_clusters))


def _cluster_replicates(totals: np.ndarray, counts: np.ndarray, first: np.ndarray, n_clusters: np.ndarray, *,
                        n_resamples: int, seed: int) -> np.ndarray:
    """Resampled ratio means ``(G, U, B)``: for group ``g`` (clusters ``first[g] ..
    first[g] + n_clusters[g] - 1`` of ``totals``/``counts``, each ``(clusters x units)``), resample
    its clusters with replacement and take ``sum(c_j T_j) / sum(c_j N_j)`` (NaN when no drawn
    cluster has a valid score). Vectorised over clusters, units and a block of resamples; the loop
    is over groups (waves) and blocks only."""
    n_groups, n_units = len(first), totals.shape[1]
    out = np.empty((n_groups, n_units, n_resamples))
    for g in range(n_groups):
        k = int(n_clusters[g])
        t_g, n_g = totals[first[g]:first[g] + k], counts[first[g]:first[g] + k]
        for j0, idx in _cluster_draws(seed, g, k, n_resamples):
            b = idx.shape[0]
            times = np.bincount((idx + (np.arange(b) * k)[:, None]).reshape(-1), minlength=b * k)
            times = times.reshape(b, k).astype(np.float64)         # how often each cluster was drawn
            num, den = times @ t_g, times @ n_g                    # (b, U)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = num / den
            ratio[den == 0] = np.nan
            out[g, :, j0:j0 + b] = ratio.T
    return out


@dataclass
class _ClusterParts:
    """Per group x cluster x unit sums and counts of valid scores (clusters sorted within groups)."""

    gk: _Keys
    uk: _Keys
    totals: np.ndarray          # (group-clusters, U) sum of valid scores
    counts: np.ndarray          # (group-clusters, U) number of valid scores (float64)
    first: np.ndarray           # per group: its first row of totals/counts
    n_clusters: np.ndarray      # per group: its clusters (rows of totals/counts)
    present: np.ndarray         # (G * U) the group has rows for the unit
    spread: np.ndarray          # (G * U) the group's valid scores for the unit are not all equal


def _cluster_parts(data: pd.DataFrame, x: np.ndarray, *, cluster: str, group: tuple[str, ...],
                   unit: str) -> _ClusterParts:
    """The sums :func:`cluster_bootstrap_means` resamples (``x``: the checked values)."""
    enc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    gk = _keys(data, group, enc)
    ck = _keys(data, (cluster,), enc)
    uk = _keys(data, (unit,), enc)
    n_units = uk.n
    gc, gc_uniq = _dense(gk.codes * ck.n + ck.codes, gk.n * ck.n)   # clusters of each group, in order
    k = np.bincount(gc_uniq // ck.n, minlength=gk.n)
    ok = ~np.isnan(x)
    cell = gc * n_units + uk.codes
    totals = np.bincount(cell[ok], weights=x[ok], minlength=len(gc_uniq) * n_units).reshape(-1, n_units)
    counts = np.bincount(cell[ok], minlength=len(gc_uniq) * n_units).reshape(-1, n_units).astype(np.float64)
    g_cell = gk.codes * n_units + uk.codes
    present = np.bincount(g_cell, minlength=gk.n * n_units) > 0
    spread = _spread(g_cell[ok], x[ok], gk.n * n_units)
    return _ClusterParts(gk, uk, totals, counts, np.cumsum(k) - k, k, present, spread)


@_doc
def cluster_bootstrap_means(data: pd.DataFrame, *, cluster: str = "council_id",
                            group: str | Sequence[str] = ("wave",), unit: str = "unit_id", value: str = "score",
                            n_resamples: int = 2000, ci: float = 0.95, seed: int | None = 12345,
                            min_clusters: int = 5) -> pd.DataFrame:
    r"""Cluster bootstrap interval of each group's pooled mean: whole councils resampled.

    The interval for the *cohort* rows. Respondents of one council resemble each other (ICC(1)
    around 0.1), so 200,000 respondents of 400 councils carry far less information about the
    cohort mean than 200,000 independent people would; resampling respondents ignores that and
    gives an interval several times too narrow. Resampling councils, the sampling units of
    the cohort, keeps the within-council dependence intact.

    Parameters
    ----------
    [[data]] Each row is one respondent's score for one unit.
    cluster
        Column identifying the cluster (the council): the unit that is resampled.
    group
        Column(s) defining a group whose pooled mean is estimated and whose clusters are
        resampled together (default: each wave).
    unit
        Column identifying the unit (enabler, grouping or overall).
    [[value]]
    n_resamples
        Number of bootstrap resamples :math:`B`.
    ci
        Confidence level of the two-sided interval.
    seed
        Seed of the random streams (one per group); ``None`` draws fresh entropy (not
        reproducible). With a fixed seed the result is identical between runs and row orders.
    min_clusters
        Smallest number of clusters with a valid score for which an interval is given (default
        5; ``settings.yml``: ``statistics.cohort_ci_min_councils``). At least 2.

    Returns
    -------
    pandas.DataFrame
        One row per group x unit present in ``data``, sorted by the group columns then the unit:
        the ``group`` columns, ``unit`` and

        - ``n_clusters``: clusters with at least one valid score;
        - ``n``: respondents (rows) with a valid score; ``mean``: their pooled mean;
        - ``ci_low``, ``ci_high``: the percentile interval;
        - [[reason]]
          Reasons: ``'no valid scores'``, ``'fewer than 2 valid scores'``, ``'all valid scores
          are equal'`` (as :func:`bootstrap_means`) and ``'fewer than {min_clusters} councils:
          no cohort interval'``.

    Raises
    ------
    [[raises]]
    ValueError
        ``n_resamples`` < 1, ``ci`` not in (0, 1) or ``min_clusters`` not an integer >= 2.

    Notes
    -----
    A group has :math:`K` clusters (those with a row in the group). Cluster :math:`j` has, for
    unit :math:`u`, the sum :math:`T_{ju}` of its valid scores and their number :math:`N_{ju}`,
    so the pooled mean is :math:`ar x_u = \sum_j T_{ju} / \sum_j N_{ju}`. A resample draws
    :math:`K` clusters with replacement ("strategy 1" of Davison & Hinkley 1997, section 3.8:
    resample clusters, keep each cluster's respondents as they are), i.e. multinomial counts
    :math:`c \sim \mathrm{Mult}(K; 1/K, \dots, 1/K)`, and gives the ratio

    .. math::

        ar x^{*}_{u} = rac{\sum_j c_j T_{ju}}{\sum_j c_j N_{ju}},

    undefined (and ignored) when no drawn cluster has a valid score. The interval is the
    :math:`lpha/2` and :math:`1-lpha/2` quantiles of the :math:`B` ratios with the
    convention of :func:`bootstrap_means` (linear interpolation, Hyndman & Fan type 7). It costs
    :math:`K B` draws per group, none per respondent.

    Interpretation: a range of plausible values for the cohort's pooled mean had other councils
    like these taken part, with their own respondents. It is wider than a respondent bootstrap
    by roughly the square root of the design effect :math:`1 + (ar m - 1)\,ICC(1)` (about 7
    times for 500 respondents per council and ICC(1) = 0.1). With few clusters the bootstrap
    distribution is coarse and under-covers (Field & Welsh 2007), hence ``min_clusters``.

    References
    ----------
    Davison, A. C. & Hinkley, D. V. (1997). *Bootstrap Methods and their Application*.
    Cambridge University Press, section 3.8.

    Field, C. A. & Welsh, A. H. (2007). Bootstrapping clustered data. *Journal of the Royal
    Statistical Society, Series B*, 69(3), 369-390.

    [[efron_ref]]

    Examples
    --------
    >>> df = pd.DataFrame({"wave": "w1", "council_id": ["a", "a", "b", "c", "d", "e"],
    ...                    "unit_id": "E01", "score": [2.0, 3.0, 4.0, 3.0, 5.0, 1.0]})
    >>> out = cluster_bootstrap_means(df, n_resamples=500)
    >>> out[["n_clusters", "n", "mean"]].to_dict("records")
    [{'n_clusters': 5, 'n': 6, 'mean': 3.0}]
    >>> bool(out["ci_low"].iloc[0] < 3.0 < out["ci_high"].iloc[0])
    True
    """
    group = _as_tuple(group)
    _check_columns(data, group + (cluster, unit, value))
    _check_bootstrap_args(n_resamples, ci)
    if int(min_clusters) != min_clusters or min_clusters < 2:
        raise ValueError(f"The value for `min_clusters` must be an integer of at least 2, but {min_clusters!r} "
                         "was passed.")
    x = _values(data, value)
    cols = list(group) + [unit] + CLUSTER_BOOTSTRAP_COLUMNS
    if len(data) == 0:
        return _empty(data, cols, {"n_clusters": "int64", "n": "int64"})
    cp = _cluster_parts(data, x, cluster=cluster, group=group, unit=unit)
    return _cluster_table(cp, lambda idx: cp.gk.frame(data, idx), lambda idx: cp.uk.frame(data, idx)[unit],
                          cols, n_resamples=n_resamples, ci=ci, seed=seed, min_clusters=min_clusters)


def _cluster_table(cp: _ClusterParts, group_frame: Callable[[np.ndarray], pd.DataFrame],
                   unit_values: Callable[[np.ndarray], pd.Series], cols: list[str], *, n_resamples: int, ci: float,
                   seed: int | None, min_clusters: int) -> pd.DataFrame:
    """The table of :func:`cluster_bootstrap_means` from the per-cluster sums ``cp``."""
    n_units = cp.uk.n if cp.uk is not None else cp.totals.shape[1]
    n_groups = len(cp.first)
    totals, counts, first, k = cp.totals, cp.counts, cp.first, cp.n_clusters
    n = np.add.reduceat(counts, first, axis=0).reshape(-1)              # every group has a cluster
    total = np.add.reduceat(totals, first, axis=0).reshape(-1)
    n_clusters = np.add.reduceat((counts > 0).astype(np.int64), first, axis=0).reshape(-1)
    present, spread = cp.present, cp.spread
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (1 << 63))
    reps = _cluster_replicates(totals, counts, first, k, n_resamples=int(n_resamples), seed=seed)
    flat = np.flatnonzero(present)
    lo, hi = _cell_intervals(reps.reshape(n_groups * n_units, -1), flat, ci)
    del reps
    n, mean, spread, n_clusters = n[flat], mean[flat], spread[flat], n_clusters[flat]
    few = (n >= 2) & spread & (n_clusters < min_clusters)
    no_ci = (n < 2) | ~spread | few
    lo[no_ci] = np.nan
    hi[no_ci] = np.nan
    reason = _reasons(len(flat), (n == 0, "no valid scores"), (n == 1, "fewer than 2 valid scores"),
                      ((n >= 2) & ~spread, "all valid scores are equal"),
                      (few, f"fewer than {int(min_clusters)} councils: no cohort interval"))
    out = group_frame(flat // n_units)
    out[cols[len(out.columns)]] = unit_values(flat % n_units).to_numpy()
    out = out.assign(n_clusters=n_clusters.astype(np.int64), n=n.astype(np.int64), mean=mean, ci_low=lo, ci_high=hi,
                     reason=reason.astype(str))
    out["reason"] = out["reason"].astype("str")
    return out[cols].reset_index(drop=True)


def _check_replicates(rep: BootstrapReplicates, data: pd.DataFrame, *, group: str, wave: str, unit: str,
                      respondent: tuple[str, ...], value: str, n_resamples: int) -> None:
    """Raise unless ``rep`` are the council x wave resamples of ``data`` that :func:`wave_change` needs."""
    if not isinstance(rep, BootstrapReplicates):
        raise TypeError(f"`replicates` must come from bootstrap_replicates, but {type(rep).__name__} was passed.")
    how = (f"draw them with bootstrap_replicates(data, group=({wave!r}, {group!r}), unit={unit!r}, "
           f"respondent={respondent!r}, value={value!r}, n_resamples={n_resamples}) on the table passed here")
    if rep.source() is not data:
        raise ValueError(f"`replicates` were drawn from another table: {how}.")
    if (sorted(rep.group) != sorted((group, wave)) or rep.unit != unit or rep.respondent != respondent
            or rep.value != value or rep.n_resamples != int(n_resamples)):
        raise ValueError(f"`replicates` were drawn with group={rep.group}, unit={rep.unit!r}, "
                         f"respondent={rep.respondent}, value={rep.value!r}, n_resamples={rep.n_resamples}: {how}.")


def _spread(cell: np.ndarray, x: np.ndarray, n_cell: int) -> np.ndarray:
    """True for cells whose values are not all equal."""
    return _spread_value(cell, x, n_cell)[0]


def _spread_value(cell: np.ndarray, x: np.ndarray, n_cell: int) -> tuple[np.ndarray, np.ndarray]:
    """True for cells whose values are not all equal, and one of each cell's values (NaN: none)."""
    rep = np.full(n_cell, np.nan)
    rep[cell] = x
    return np.bincount(cell, weights=(x != rep[cell]).astype(np.float64), minlength=n_cell) > 0, rep


def _empty(data: pd.DataFrame, cols: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=data[c].dtype if c in data.columns else dtypes.get(c, "float64"))
                        for c in cols})
    if "reason" in out:
        out["reason"] = out["reason"].astype("str")
    return out


# --------------------------------------------------------------------------------------------
# council_vs_rest
# --------------------------------------------------------------------------------------------
@dataclass
class _Blocks:
    """Valid values arranged by block (e.g. wave x unit) and group (e.g. council)."""

    bk: _Keys
    gk: _Keys
    cell: np.ndarray         # per row: block * n_groups_in_block... dense cell id
    n_cell: int
    cell_block: np.ndarray   # per cell
    cell_group: np.ndarray   # per cell: group code
    ok: np.ndarray           # per row: valid value
    x: np.ndarray
    n: np.ndarray            # per cell: valid values
    total: np.ndarray        # per cell: sum
    ranksum: np.ndarray      # per cell: sum of mid-ranks within the block
    n_block: np.ndarray      # per block: valid values
    ties: np.ndarray         # per block: sum(t^3 - t)
    encoded: dict[str, tuple[np.ndarray, np.ndarray]]


def _blocks(data: pd.DataFrame, by: tuple[str, ...], group: str, value: str) -> _Blocks:
    x = _values(data, value)
    enc: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    bk = _keys(data, by, enc)
    gk = _keys(data, (group,), enc)
    cell, uniq = _dense(bk.codes * max(gk.n, 1) + gk.codes, max(bk.n * gk.n, 1))
    n_cell = len(uniq)
    cell_block, cell_group = uniq // max(gk.n, 1), uniq % max(gk.n, 1)
    ok = ~np.isnan(x)
    xo, bo, co = x[ok], bk.codes[ok], cell[ok]
    n = np.bincount(co, minlength=n_cell)
    total = np.bincount(co, weights=xo, minlength=n_cell)
    ranksum, ties = _rank_sums(xo, co, n_cell, cell_block, bk.n)
    n_block = np.bincount(bo, minlength=bk.n)
    return _Blocks(bk, gk, cell, n_cell, cell_block, cell_group, ok, x, n, total, ranksum, n_block, ties, enc)


@_doc
def council_vs_rest(data: pd.DataFrame, *, by: str | Sequence[str] = ("wave", "unit_id"), group: str = "council_id",
                    value: str = "score", family: str | Sequence[str] = ("wave", "council_id", "level")
                    ) -> pd.DataFrame:
    r"""Compare each council with the rest of the cohort: Mann-Whitney U, Cliff's delta, percentile rank.

    Parameters
    ----------
    [[data]]
    by
        Columns defining one comparison block (default: each wave x unit).
    group
        Column identifying a council.
    [[value]]
    family
        Columns defining a family for the Holm adjustment. Each name is a result column
        (``by`` or ``group``) or a column of ``data`` that is constant within a council x
        block (such as ``level``). The default adjusts across one council's units of one level
        in one wave (e.g. its 11 enablers).

    Returns
    -------
    pandas.DataFrame
        One row per council x block present in ``data``, sorted by ``by`` then ``group``:
        the ``by`` and ``group`` columns and

        - ``n``, ``n_rest``: valid scores of the council, and of all other councils pooled;
        - ``mean``, ``mean_rest``, ``diff`` (= ``mean - mean_rest``);
        - ``u``: Mann-Whitney :math:`U` of the council against the rest (pairs in which the
          council's respondent scores higher, ties counting one half);
        - ``p_value``: two-sided, normal approximation with tie and continuity correction
          (as ``scipy.stats.mannwhitneyu(method='asymptotic')``); ``p_holm``: Holm-adjusted
          within ``family``;
        - ``cliffs_delta``: :math:`2U/(n\,n_{rest}) - 1` in [-1, 1], positive when the
          council tends to score higher;
        - ``percentile_rank``: :math:`100\,(r - 1)/(K - 1)` where :math:`r` is the mid-rank
          (1 = lowest, ties averaged) of the council's mean among the :math:`K` councils with a
          valid score in the block: the percentage of *other* councils whose mean is lower,
          ties counting one half (0 = lowest, 100 = highest, 50 = middle);
        - [[reason]]
          Reasons: ``'no valid scores'``, ``'fewer than 2 valid scores'`` (no test),
          ``'no other council with valid scores'``, ``'fewer than 2 valid scores in the rest'``,
          ``'all scores in the block are equal'`` (no p-value).

    Raises
    ------
    [[raises]]

    Notes
    -----
    In a block with :math:`N` valid scores ranked together (mid-ranks for ties), a council
    with :math:`n_1` scores of rank sum :math:`R_1` against the :math:`n_2 = N - n_1` others has

    .. math::

        U = R_1 - \frac{n_1(n_1+1)}{2}, \qquad
        z = \frac{\max(U, n_1 n_2 - U) - n_1 n_2/2 - 1/2}
                 {\sqrt{\frac{n_1 n_2}{12}\Bigl(N + 1 - \frac{\sum_j (t_j^3 - t_j)}{N(N-1)}\Bigr)}},
        \qquad p = \min(1, 2\,(1 - \Phi(z))),

    where :math:`t_j` are the sizes of the groups of tied scores in the block. The normal
    approximation is used for every size (no exact test); with fewer than about 8 scores on
    either side the p-value is rough. Cliff's delta :math:`d = P(X > Y) - P(X < Y)` for a
    random council respondent :math:`X` and other respondent :math:`Y`; by convention
    :math:`|d| < 0.147` is negligible, :math:`< 0.33` small, :math:`< 0.474` medium, otherwise
    large (Romano et al. 2006). These thresholds are conventions, not laws.

    Interpretation: the test asks whether a council's respondents tend to score higher or
    lower than everyone else's. The rest of the cohort is pooled respondent by respondent, so
    large councils weigh more in it. Respondents within a council are not independent (they
    share a workplace), so p-values are optimistic; read them with ``p_holm``, Cliff's delta
    and ``n`` together. Validated against ``scipy.stats.mannwhitneyu`` council by council.

    References
    ----------
    [[mwu_ref]]

    [[cliff_ref]]

    [[holm_ref]]

    [[romano_ref]]
    """
    by = _as_tuple(by)
    family = _as_tuple(family)
    _check_columns(data, by + (group, value))
    _values(data, value)
    cols = list(by) + [group] + COUNCIL_VS_REST_COLUMNS
    if len(data) == 0:
        return _empty(data, cols, {"n": "int64", "n_rest": "int64"})
    return _council_vs_rest(_blocks(data, by, group, value), data, by=by, group=group, family=family)


def _council_vs_rest(bl: _Blocks, data: pd.DataFrame, *, by: tuple[str, ...], group: str,
                     family: tuple[str, ...]) -> pd.DataFrame:
    """:func:`council_vs_rest` from the blocks of ``data`` (shared with :func:`kruskal_wallis`)."""
    cols = list(by) + [group] + COUNCIL_VS_REST_COLUMNS
    cb = bl.cell_block
    n1 = bl.n
    n_tot = bl.n_block[cb]
    n2 = n_tot - n1
    block_total = np.bincount(cb, weights=bl.total, minlength=bl.bk.n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n1 > 0, bl.total / np.maximum(n1, 1), np.nan)
        mean_rest = np.where(n2 > 0, (block_total[cb] - bl.total) / np.maximum(n2, 1), np.nan)
    u, p, sd = _mwu(bl.ranksum, n1, n2, bl.ties[cb])
    testable = (n1 >= 2) & (n2 >= 2)
    u = np.where(testable, u, np.nan)
    p = np.where(testable & np.isfinite(sd), p, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(testable, 2.0 * u / (n1 * n2.astype(np.float64)) - 1.0, np.nan)

    # percentile rank of the council mean among councils with a valid mean in the block
    has = n1 > 0
    pr = np.full(bl.n_cell, np.nan)
    if has.any():
        r, _ = _block_ranks(mean[has], cb[has], bl.bk.n)
        k = np.bincount(cb[has], minlength=bl.bk.n)[cb[has]]
        with np.errstate(invalid="ignore", divide="ignore"):
            pr[has] = np.where(k > 1, 100.0 * (r - 1.0) / (k - 1.0), np.nan)
    reason = _reasons(bl.n_cell,
                      (n1 == 0, "no valid scores"),
                      (n1 == 1, "fewer than 2 valid scores"),
                      ((n1 > 0) & (n2 == 0), "no other council with valid scores"),
                      ((n1 > 0) & (n2 == 1), "fewer than 2 valid scores in the rest"),
                      (testable & ~np.isfinite(sd), "all scores in the block are equal"))
    out = bl.bk.frame(data, cb)
    out[group] = bl.gk.frame(data, bl.cell_group)[group].to_numpy()
    out = out.assign(n=n1.astype(np.int64), n_rest=n2.astype(np.int64), mean=mean, mean_rest=mean_rest,
                     diff=mean - mean_rest, u=u, p_value=p, cliffs_delta=delta, percentile_rank=pr)
    fam = _family_of(out, data, family, bl.cell, bl.n_cell, np.arange(bl.n_cell), bl.encoded,
                     within=f"{group} x {' x '.join(by)} block")
    out["p_holm"] = holm(p, family=fam)
    out["reason"] = pd.Series(reason, dtype="str")
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Kruskal-Wallis and Dunn
# --------------------------------------------------------------------------------------------
@_doc
def kruskal_wallis(data: pd.DataFrame, *, by: str | Sequence[str] = ("wave", "unit_id"), group: str = "council_id",
                   value: str = "score") -> pd.DataFrame:
    r"""Kruskal-Wallis H test: do the councils' score distributions differ, per wave x unit?

    Parameters
    ----------
    [[data]]
    by
        Columns defining one test (default: each wave x unit).
    group
        Column identifying the groups compared (councils).
    [[value]]

    Returns
    -------
    pandas.DataFrame
        One row per block present in ``data``, sorted by ``by``: the ``by`` columns and

        - ``n``: valid scores; ``n_groups``: councils with at least one valid score (:math:`k`);
        - ``h``: tie-corrected H; ``df`` = :math:`k - 1`; ``p_value``: upper tail of
          :math:`\chi^2_{k-1}`;
        - ``epsilon2``: :math:`\varepsilon^2 = H / ((n^2 - 1)/(n + 1)) = H/(n - 1)`;
        - [[reason]]
          Reasons: ``'fewer than 2 councils with valid scores'``, ``'all scores in
          the block are equal'``.

    Raises
    ------
    [[raises]]

    Notes
    -----
    With :math:`R_i` the rank sum (mid-ranks) and :math:`n_i` the size of council :math:`i`,

    .. math::

        H = \frac{\dfrac{12}{n(n+1)} \sum_{i=1}^{k} \dfrac{R_i^2}{n_i} - 3(n+1)}
                 {1 - \dfrac{\sum_j (t_j^3 - t_j)}{n^3 - n}}, \qquad
        \varepsilon^2 = \frac{H}{(n^2 - 1)/(n + 1)},

    with :math:`t_j` the sizes of groups of tied scores; equal to ``scipy.stats.kruskal``
    (checked in the tests). :math:`\varepsilon^2` lies in [0, 1] and is the share of the
    rank variance explained by council membership (Tomczak & Tomczak 2014); the
    conventional reading is about 0.01 small, 0.08 medium, 0.26 large (conventions only).

    Interpretation: a small p-value says that at least one council's respondents tend to score
    differently from another's; it does not say which (see :func:`dunn`). With hundreds of
    respondents almost any difference is "significant", so read ``epsilon2`` for size.
    Respondents in a council are not independent, so p-values are optimistic.

    References
    ----------
    Kruskal, W. H. & Wallis, W. A. (1952). Use of ranks in one-criterion variance analysis.
    *Journal of the American Statistical Association*, 47(260), 583-621.

    Tomczak, M. & Tomczak, E. (2014). The need to report effect size estimates revisited. An
    overview of some recommended measures of effect size. *Trends in Sport Sciences*, 1(21), 19-25.
    """
    by = _as_tuple(by)
    _check_columns(data, by + (group, value))
    _values(data, value)
    cols = list(by) + KRUSKAL_COLUMNS
    if len(data) == 0:
        return _empty(data, cols, {"n": "int64", "n_groups": "int64"})
    return _kruskal_wallis(_blocks(data, by, group, value), data, by=by)


def _kruskal_wallis(bl: _Blocks, data: pd.DataFrame, *, by: tuple[str, ...]) -> pd.DataFrame:
    """:func:`kruskal_wallis` from the blocks of ``data`` (shared with :func:`council_vs_rest`)."""
    cols = list(by) + KRUSKAL_COLUMNS
    nb = bl.bk.n
    cb = bl.cell_block
    has = bl.n > 0
    k = np.bincount(cb[has], minlength=nb)
    n = bl.n_block.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = np.bincount(cb[has], weights=bl.ranksum[has] ** 2 / bl.n[has], minlength=nb)
        h = 12.0 / (n * (n + 1.0)) * s - 3.0 * (n + 1.0)
        corr = 1.0 - bl.ties / (n ** 3 - n)
        h = h / corr
        eps2 = h / ((n ** 2 - 1.0) / (n + 1.0))
    ok = (k >= 2) & (corr > 0)
    h = np.where(ok, np.maximum(h, 0.0), np.nan)                      # -1e-16 rounding -> 0
    eps2 = np.where(ok, np.maximum(eps2, 0.0), np.nan)
    df = np.where(k >= 2, k - 1.0, np.nan)
    p = np.where(ok, special.chdtrc(np.where(ok, df, 1.0), np.where(ok, h, 0.0)), np.nan)
    reason = _reasons(nb, (k < 2, "fewer than 2 councils with valid scores"),
                      ((k >= 2) & ~(corr > 0), "all scores in the block are equal"))
    out = bl.bk.frame(data).assign(n=bl.n_block.astype(np.int64), n_groups=k.astype(np.int64), h=h, df=df,
                                    p_value=p, epsilon2=eps2)
    out["reason"] = pd.Series(reason, dtype="str")
    return out[cols].reset_index(drop=True)


def council_tests(data: pd.DataFrame, *, by: str | Sequence[str] = ("wave", "unit_id"), group: str = "council_id",
                  value: str = "score", family: str | Sequence[str] = ("wave", "council_id", "level")
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`kruskal_wallis` and :func:`council_vs_rest` of the same table, ranking the scores once.

    Both tests rank each block's scores (per wave x unit by default) and sum the ranks per
    council; this computes that once and returns ``(kruskal_wallis(...), council_vs_rest(...))``,
    the very tables the two functions return. Arguments and errors as theirs.
    """
    by = _as_tuple(by)
    family = _as_tuple(family)
    _check_columns(data, by + (group, value))
    _values(data, value)
    if len(data) == 0:
        return (kruskal_wallis(data, by=by, group=group, value=value),
                council_vs_rest(data, by=by, group=group, value=value, family=family))
    bl = _blocks(data, by, group, value)
    return (_kruskal_wallis(bl, data, by=by),
            _council_vs_rest(bl, data, by=by, group=group, family=family))


@_doc
def dunn(data: pd.DataFrame, *, by: str | Sequence[str] = ("wave", "unit_id"), group: str = "council_id",
         value: str = "score", correction: str = "holm") -> pd.DataFrame:
    r"""Dunn's pairwise test after Kruskal-Wallis: which councils differ, per wave x unit.

    Parameters
    ----------
    [[data]]
    by
        Columns defining one block of comparisons (default: each wave x unit).
    group
        Column identifying the groups compared (councils).
    [[value]]
    correction
        ``'holm'`` (default), ``'bonferroni'`` or ``'none'``: adjustment of ``p_adj`` across
        all pairs within a block.

    Returns
    -------
    pandas.DataFrame
        One row per pair of councils with at least one valid score in a block (``group_a``
        before ``group_b`` in sorted order), sorted by ``by``, ``group_a``, ``group_b``: the
        ``by`` columns and

        - ``group_a``, ``group_b``; ``n_a``, ``n_b``: their valid scores;
        - ``mean_rank_a``, ``mean_rank_b``: mean rank of each council's scores among all valid
          scores of the block;
        - ``z``: Dunn's z, positive when ``group_a`` ranks higher;
        - ``p_value``: two-sided normal p-value; ``p_adj``: adjusted within the block;
        - [[reason]]
          Reasons: ``'fewer than 2 valid scores in group_a'`` (or ``group_b``; no
          test), ``'all scores in the block are equal'``.

        A block with fewer than two councils has no rows.

    Raises
    ------
    [[raises]]
    ValueError
        ``correction`` is not one of the options.

    Notes
    -----
    With all :math:`N` valid scores of the block ranked together (mid-ranks),

    .. math::

        z_{ab} = \frac{\bar R_a - \bar R_b}
        {\sqrt{\Bigl(\frac{N(N+1)}{12} - \frac{\sum_j (t_j^3 - t_j)}{12 (N - 1)}\Bigr)
        \Bigl(\frac{1}{n_a} + \frac{1}{n_b}\Bigr)}}, \qquad p = 2\,(1 - \Phi(|z_{ab}|)),

    the tie-corrected form of Dunn (1964), as in scikit-posthocs ``posthoc_dunn`` and R
    ``dunn.test``; no continuity correction. Councils with fewer than 2 scores still count in
    the ranking and in :math:`N` but get no test. Checked against a hand-worked example and a
    direct implementation with ``scipy.stats.rankdata`` (``tests/test_inference.py``).

    Interpretation: with :math:`k` councils there are :math:`k(k-1)/2` pairs (79,800 for 400
    councils), so adjust: a pair with ``p_adj < 0.05`` differs with family-wise error
    controlled across the block. For "is this council different from the cohort?" prefer
    :func:`council_vs_rest`, which makes one comparison per council.

    References
    ----------
    Dunn, O. J. (1964). Multiple comparisons using rank sums. *Technometrics*, 6(3), 241-252.

    [[holm_ref]]
    """
    by = _as_tuple(by)
    if correction not in ("holm", "bonferroni", "none"):
        raise ValueError(f"The value for `correction` must be one of ['holm', 'bonferroni', 'none'], but "
                         f"{correction!r} was passed.")
    _check_columns(data, by + (group, value))
    _values(data, value)
    cols = list(by) + DUNN_COLUMNS
    if len(data) == 0:
        return _empty(data, cols, {"n_a": "int64", "n_b": "int64", "group_a": "str", "group_b": "str"})
    bl = _blocks(data, by, group, value)
    has = np.flatnonzero(bl.n > 0)                      # cells sorted by block then group
    cb = bl.cell_block[has]
    k = np.bincount(cb, minlength=bl.bk.n)
    first = np.cumsum(k) - k
    pos = np.arange(len(has)) - first[cb]               # position of the council within its block
    reps = k[cb] - 1 - pos                              # partners after it in the block
    a = np.repeat(np.arange(len(has)), reps)
    offs = np.arange(len(a)) - np.repeat(np.cumsum(reps) - reps, reps)
    b = a + 1 + offs
    ca, cbb = has[a], has[b]
    blk = bl.cell_block[ca]
    na, nb_ = bl.n[ca].astype(np.float64), bl.n[cbb].astype(np.float64)
    ra, rb = bl.ranksum[ca] / na, bl.ranksum[cbb] / nb_
    n = bl.n_block[blk].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (n * (n + 1.0) / 12.0 - bl.ties[blk] / (12.0 * (n - 1.0))) * (1.0 / na + 1.0 / nb_)
        z = (ra - rb) / np.sqrt(var)
    testable = (na >= 2) & (nb_ >= 2)
    flat = ~(var > 0)
    z = np.where(testable & ~flat, z, np.nan)
    p = 2.0 * _norm_sf(np.abs(z))
    if correction == "holm":
        p_adj = holm(p, family=blk)
    elif correction == "bonferroni":
        m = np.bincount(blk, weights=np.isfinite(p).astype(float), minlength=bl.bk.n)[blk]
        p_adj = np.minimum(1.0, p * m)
    else:
        p_adj = p.copy()
    reason = _reasons(len(a), (na < 2, "fewer than 2 valid scores in group_a"),
                      (nb_ < 2, "fewer than 2 valid scores in group_b"),
                      (testable & flat, "all scores in the block are equal"))
    out = bl.bk.frame(data, blk)
    gframe = bl.gk.frame(data, bl.cell_group[ca])[group].to_numpy()
    out["group_a"] = gframe
    out["group_b"] = bl.gk.frame(data, bl.cell_group[cbb])[group].to_numpy()
    out = out.assign(n_a=na.astype(np.int64), n_b=nb_.astype(np.int64), mean_rank_a=ra, mean_rank_b=rb, z=z,
                     p_value=p, p_adj=p_adj)
    out["reason"] = pd.Series(reason, dtype="str")
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# wave_change
# --------------------------------------------------------------------------------------------
def _wilcoxon(pair: np.ndarray, d: np.ndarray, n_pairs: int, zero_method: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Signed-rank statistic min(T+, T-), two-sided normal p (tie + continuity corrected), count, sd.

    Same conventions as ``scipy.stats.wilcoxon(method='asymptotic', correction=True)``.
    """
    nz = d != 0
    if zero_method == "wilcox":                    # drop the zeros, then rank
        pair_k, d_k = pair[nz], d[nz]
    else:                                          # pratt: rank with the zeros, then drop them
        pair_k, d_k = pair, d
    sign = np.where(d_k > 0, 1, np.where(d_k < 0, 0, 2))          # cells: pair x (neg, pos, zero)
    sums, ties = _rank_sums(np.abs(d_k), pair_k * 3 + sign, 3 * n_pairs, np.repeat(np.arange(n_pairs), 3), n_pairs)
    t_minus, t_plus = sums[0::3], sums[1::3]
    count = np.bincount(pair_k, minlength=n_pairs).astype(np.float64)
    mn = count * (count + 1.0) / 4.0
    se = count * (count + 1.0) * (2.0 * count + 1.0)
    if zero_method == "pratt":                     # Cureton's adjustment; zeros' ties not corrected
        n0 = np.bincount(pair[~nz], minlength=n_pairs).astype(np.float64)
        ties = ties - (n0 ** 3 - n0)
        mn = mn - n0 * (n0 + 1.0) / 4.0
        se = se - n0 * (n0 + 1.0) * (2.0 * n0 + 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt((se - ties / 2.0) / 24.0)
        z = (t_plus - mn) / sd
        z = z - np.sign(z) * 0.5 / sd
    p = np.clip(2.0 * _norm_sf(np.abs(z)), 0.0, 1.0)
    n_eff = np.bincount(pair[nz], minlength=n_pairs)
    return np.minimum(t_plus, t_minus), p, n_eff, sd


def _pair_rank_sums(x: np.ndarray, cell: np.ndarray, n_cell: int, c_a: np.ndarray, c_b: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For pairs of cells ``(c_a[p], c_b[p])`` (a cell in at most one pair per side): the rank sum of
    cell ``b``'s values among both cells' values (mid-ranks), and the tie term ``sum(t^3 - t)``."""
    n_pairs = len(c_a)
    pair_a = np.full(n_cell, -1, dtype=np.int64)
    pair_b = np.full(n_cell, -1, dtype=np.int64)
    pair_a[c_a] = np.arange(n_pairs)
    pair_b[c_b] = np.arange(n_pairs)
    pa = pair_a[cell]
    in_a = pa >= 0
    pa = pa[in_a]
    pa *= 2
    pb = pair_b[cell]
    in_b = pb >= 0
    pb = pb[in_b]
    pb *= 2
    pb += 1
    vals = np.concatenate([x[in_a], x[in_b]])
    del in_a, in_b
    side_cell = np.concatenate([pa, pb])                               # cells: pair x (a, b)
    del pa, pb
    sums, ties = _rank_sums(vals, side_cell, 2 * n_pairs, np.repeat(np.arange(n_pairs), 2), n_pairs)
    return sums[1::2], ties


def _paired_differences(xr: np.ndarray, sizes: np.ndarray, start: np.ndarray, row_resp: np.ndarray, n_resp: int,
                        g_from: np.ndarray, g_to: np.ndarray, unit: np.ndarray, n_groups: int
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Paired differences ``to - from`` of the respondents present, with a valid score, in both groups
    of each pair ``p`` (groups ``g_from[p]``, ``g_to[p]`` of ``xr``, unit ``unit[p]``).

    Returns (pair index, difference) for every matched respondent. Respondents are matched once per
    pair of groups (by key, with ``np.intersect1d``), then spread over the units of that pair.
    """
    trip, t_of_pair = np.unique(g_from * n_groups + g_to, return_inverse=True)
    t_f, t_t = trip // n_groups, trip % n_groups
    n_t = len(trip)

    def rows_of(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lens = sizes[groups]
        t = np.repeat(np.arange(n_t), lens)
        offset = np.arange(len(t)) - np.repeat(np.cumsum(lens) - lens, lens)
        return t, start[groups][t] + offset

    tf, rf = rows_of(t_f)
    tt, rt = rows_of(t_t)
    _, i_f, i_t = np.intersect1d(tf * n_resp + row_resp[rf], tt * n_resp + row_resp[rt], assume_unique=True,
                                 return_indices=True)
    m_t, m_f, m_to = tf[i_f], rf[i_f], rt[i_t]
    pair_order = np.argsort(t_of_pair, kind="stable")
    per_t = np.bincount(t_of_pair, minlength=n_t)
    first = np.cumsum(per_t) - per_t
    reps = per_t[m_t]
    e = np.repeat(np.arange(len(m_t)), reps)
    offset = np.arange(len(e)) - np.repeat(np.cumsum(reps) - reps, reps)
    pair = pair_order[first[m_t[e]] + offset]
    d = xr[m_to[e], unit[pair]] - xr[m_f[e], unit[pair]]
    keep = ~np.isnan(d)
    return pair[keep], d[keep]


@_doc
def wave_change(data: pd.DataFrame, *, group: str = "council_id", unit: str = "unit_id", wave: str = "wave",
                respondent: str | Sequence[str] = "respondent_key", value: str = "score", n_resamples: int = 2000,
                ci: float = 0.95, seed: int | None = 12345,
                family: str | Sequence[str] = ("council_id", "level", "wave_from", "wave_to"),
                zero_method: str = "wilcox", min_paired: int = 6, workers: int | None = None,
                replicates: BootstrapReplicates | None = None) -> pd.DataFrame:
    r"""Change in each council's scores between consecutive waves, with interval and tests.

    Parameters
    ----------
    [[data]] It must hold two or more waves.
    group
        Column identifying a council (resampled and compared separately).
    unit
        Column identifying the unit.
    wave
        Column identifying the wave; waves are ordered by sorting this column.
    respondent
        Column(s) identifying a respondent within a council and wave; the same key in two waves
        is taken to be the same person (for the paired test).
    [[value]]
    n_resamples, ci, seed, workers
        As in :func:`bootstrap_means` (the interval of the change).
    family
        Columns defining a Holm family: result columns (``group``, ``unit``, ``wave_from``,
        ``wave_to``) or data columns constant within a council x unit (such as ``level``).
        Default: one council's units of one level between one pair of waves.
    zero_method
        Paired differences of zero: ``'wilcox'`` drops them (Wilcoxon 1945), ``'pratt'``
        ranks them and then drops their ranks (Pratt 1959), as in ``scipy.stats.wilcoxon``.
    min_paired
        Smallest number of paired respondents for which the signed-rank test is reported
        (default 6: below that no two-sided p-value can reach 0.05 even exactly).
    replicates
        Optional: the resampled council x wave means of this very table, from
        ``bootstrap_replicates(data, group=(wave, group), unit=unit, respondent=respondent,
        value=value, n_resamples=n_resamples)``. The interval of the change is then taken from
        those resamples (the same ones that give the council intervals) instead of new ones;
        ``seed`` and ``workers`` are not used. Everything else is computed as without it.

    Returns
    -------
    pandas.DataFrame
        One row per council x unit x pair of consecutive waves (waves in which the council has
        at least one valid score for the unit), sorted by ``group``, ``unit``, ``wave_from``:
        ``group``, ``unit``, ``wave_from``, ``wave_to`` and

        - ``n_from``, ``n_to``, ``mean_from``, ``mean_to``; ``change`` = ``mean_to - mean_from``;
        - ``ci_low``, ``ci_high``: percentile bootstrap interval of the change, respondents
          resampled independently within each wave (as :func:`bootstrap_means`);
        - ``u``: Mann-Whitney :math:`U` of ``wave_to`` against ``wave_from`` (large = higher
          later), ``p_value`` (two-sided, normal approximation, tie and continuity corrected;
          respondents not matched), ``p_holm`` within ``family``;
        - ``n_paired``: respondents with a valid score in both waves;
        - ``wilcoxon_stat``: :math:`\min(T^+, T^-)` of the paired differences (as SciPy
          reports it for a two-sided test); ``wilcoxon_p``: two-sided normal approximation,
          tie and continuity corrected; ``wilcoxon_p_holm`` within ``family``;
        - [[reason]]
          Reasons: ``'fewer than 2 valid scores in a wave'`` (no interval or test),
          ``'all scores are equal'`` (no interval, no p-value), ``'no spread within either
          wave: no interval'``, ``'fewer than {min_paired} paired respondents'``, ``'all
          paired differences are zero'``.

        Empty when no council has data in two waves.

    Raises
    ------
    [[raises]]
    ValueError
        Bad ``n_resamples``, ``ci``, ``zero_method`` or ``min_paired``, or ``replicates`` that
        were not drawn from ``data`` with these columns and ``n_resamples``.

    Notes
    -----
    The interval is the percentile interval of
    :math:`\bar x^{*}_{\text{to}} - \bar x^{*}_{\text{from}}`, each mean from its own resample
    of that wave's respondents (:func:`bootstrap_means`). Ignoring the overlap between waves
    makes it somewhat conservative when the same people answer twice and agree with themselves.

    Mann-Whitney as in :func:`council_vs_rest`, with the ``wave_to`` scores as the first
    sample. For the :math:`m` paired differences :math:`d_i = x_{i,\text{to}} - x_{i,\text{from}}`
    (zeros handled by ``zero_method``, leaving :math:`n_r` non-zero ones ranked by
    :math:`|d_i|` with mid-ranks),

    .. math::

        T^+ = \sum_{d_i > 0} r_i, \qquad
        z = \frac{T^+ - n_r(n_r+1)/4 \mp 1/2}{\sqrt{\bigl(n_r(n_r+1)(2n_r+1) - \tfrac12\sum_j(t_j^3 - t_j)\bigr)/24}},
        \qquad p = 2\,(1 - \Phi(|z|)),

    (with Pratt's adjustment of the mean and variance for zeros); equal to
    ``scipy.stats.wilcoxon(method='asymptotic', correction=True)`` (checked in the tests).

    Interpretation: ``change`` and its interval are the headline; an interval that excludes 0
    is a change larger than sampling noise would usually produce. The Mann-Whitney test treats
    the waves as independent samples; the Wilcoxon test uses only people who answered both
    times, so it is more sensitive to within-person change but describes fewer people. Both
    ignore the clustering of respondents in councils and both p-values are Holm-adjusted within
    ``family``. A change can reflect who answered as much as a change in conditions.

    References
    ----------
    [[efron_ref]]

    [[mwu_ref]]

    Wilcoxon, F. (1945). Individual comparisons by ranking methods. *Biometrics Bulletin*,
    1(6), 80-83.

    Pratt, J. W. (1959). Remarks on zeros and ties in the Wilcoxon signed rank procedures.
    *Journal of the American Statistical Association*, 54(287), 655-667.

    [[holm_ref]]
    """
    resp_cols = _as_tuple(respondent)
    family = _as_tuple(family)
    _check_columns(data, (group, unit, wave) + resp_cols + (value,))
    _check_bootstrap_args(n_resamples, ci)
    if zero_method not in ("wilcox", "pratt"):
        raise ValueError(f"The value for `zero_method` must be one of ['wilcox', 'pratt'], but {zero_method!r} "
                         "was passed.")
    if int(min_paired) != min_paired or min_paired < 1:
        raise ValueError(f"The value for `min_paired` must be a positive integer, but {min_paired!r} was passed.")
    if replicates is not None:
        _check_replicates(replicates, data, group=group, wave=wave, unit=unit, respondent=resp_cols, value=value,
                          n_resamples=n_resamples)
    x = _values(data, value)
    cols = [group, unit] + WAVE_CHANGE_COLUMNS
    if len(data) == 0:
        return _empty(data, cols, {"n_from": "int64", "n_to": "int64", "n_paired": "int64",
                                   "wave_from": "str", "wave_to": "str"})
    # key encodings of the same table are shared with the replicates (same codes, no second pass)
    enc: dict[str, tuple[np.ndarray, np.ndarray]] = {} if replicates is None else dict(replicates.encoded)
    gk = _keys(data, (group,), enc)
    uk = _keys(data, (unit,), enc)
    wk = _keys(data, (wave,), enc)
    G, U, W = gk.n, uk.n, wk.n

    # bootstrap distribution of every council x wave x unit mean: drawn here, or those of `replicates`
    if replicates is None:
        rk = _keys(data, resp_cols, enc)
        gw = gk.codes * W + wk.codes
        gw_dense, gw_uniq = _dense(gw, G * W)
        n_gw = len(gw_uniq)
        xr, sizes, start, n_inv, row_key = _respondent_matrix(
            gw_dense, rk.codes, rk.n, uk.codes, U, x, n_gw, names=", ".join((group, wave) + resp_cols + (unit,)))
        n_resp_codes = rk.n
        gw_index = np.full(G * W, -1, dtype=np.int64)
        gw_index[gw_uniq] = np.arange(n_gw)
        del gw, gw_dense, rk
    else:
        rep = replicates
        xr, sizes, start, row_key, n_resp_codes = rep.xr, rep.sizes, rep.start, rep.row_key, rep.n_resp_codes
        n_gw = rep.gk.n
        parts = dict(zip(rep.group, rep.gk.parts, strict=True))        # codes of the shared encodings
        gw_index = np.full(G * W, -1, dtype=np.int64)
        gw_index[parts[group] * W + parts[wave]] = np.arange(n_gw)
    ok = ~np.isnan(x)
    cell = (gk.codes * U + uk.codes) * W + wk.codes                    # council x unit x wave, sorted that way
    n_cell_all = G * U * W
    n = np.bincount(cell[ok], minlength=n_cell_all)
    total = np.bincount(cell[ok], weights=x[ok], minlength=n_cell_all)
    cells = np.flatnonzero(n > 0)                                      # sorted by council, unit, wave
    cg, cu, cw = cells // (U * W), (cells // W) % U, cells % W
    nxt = np.flatnonzero((cg[1:] == cg[:-1]) & (cu[1:] == cu[:-1]))     # consecutive waves with data
    c_from, c_to = cells[nxt], cells[nxt + 1]
    n_pairs = len(nxt)
    if n_pairs == 0:
        return _empty(data, cols, {"n_from": "int64", "n_to": "int64", "n_paired": "int64",
                                   "wave_from": "str", "wave_to": "str"})
    pg, pu, wf, wt = cg[nxt], cu[nxt], cw[nxt], cw[nxt + 1]
    n_from, n_to = n[c_from], n[c_to]
    mean_from, mean_to = total[c_from] / n_from, total[c_to] / n_to
    i_from, i_to = gw_index[pg * W + wf], gw_index[pg * W + wt]

    # Mann-Whitney: the two waves' valid scores of each pair, ranked together
    xo, co = x[ok], cell[ok]
    vrank, n_val = _value_codes(xo)
    cell_unit = (np.arange(n_cell_all) // W) % U
    table = _grouped_value_counts(vrank, n_val, co, cell_unit, U)       # per cell: counts of its unit's values
    if table is not None:                                              # few values per unit (scores)
        counts, base, width = table
        r_to, ties = np.empty(n_pairs), np.empty(n_pairs)
        spread_from, spread_to = np.empty(n_pairs, dtype=bool), np.empty(n_pairs, dtype=bool)
        for u_ in np.unique(pu):                                       # the units (a few dozen), not councils
            sel = np.flatnonzero(pu == u_)
            w_ = int(width[c_from[sel[0]]])
            a = _pair_counts(counts, base, c_from[sel], w_)
            b = _pair_counts(counts, base, c_to[sel], w_)
            t = a + b
            mid = np.cumsum(t, axis=1) - t + (t + 1.0) / 2.0          # mid-ranks of the pair's values
            r_to[sel] = (b * mid).sum(axis=1)
            ties[sel] = (t.astype(np.float64) ** 3 - t).sum(axis=1)
            spread_from[sel] = np.count_nonzero(a, axis=1) > 1
            spread_to[sel] = np.count_nonzero(b, axis=1) > 1
        del counts, base, width, a, b, t, mid
    else:
        r_to, ties = _pair_rank_sums(xo, co, n_cell_all, c_from, c_to)
        spread = _spread(co, xo, n_cell_all)
        spread_from, spread_to = spread[c_from], spread[c_to]
    del xo, co, vrank, table
    u, p, sd = _mwu(r_to, n_to, n_from, ties)
    testable = (n_from >= 2) & (n_to >= 2)
    u = np.where(testable, u, np.nan)
    p = np.where(testable & np.isfinite(sd), p, np.nan)
    flat = testable & ~spread_from & ~spread_to                        # each wave constant: no interval
    out = gk.frame(data, pg)
    out[unit] = uk.frame(data, pu)[unit].to_numpy()
    wave_names = wk.frame(data)[wave]
    out["wave_from"] = wave_names.iloc[wf].to_numpy()
    out["wave_to"] = wave_names.iloc[wt].to_numpy()
    gu_cell = gk.codes * U + uk.codes
    fam = _family_of(out, data, family, gu_cell, G * U, pg * U + pu, enc, within=f"{group} x {unit}")
    resp_of_row = row_key % max(n_resp_codes, 1)
    # the row-level arrays are not needed any more: free them before the bootstrap
    del x, ok, cell, gu_cell, gk, uk, wk, enc, row_key

    # paired Wilcoxon: respondents (same key) with a valid score in both waves of the pair (before
    # the bootstrap interval, whose resamples may still be being drawn in the background)
    d_pair, d = _paired_differences(xr, sizes, start, resp_of_row, n_resp_codes, i_from, i_to, pu, n_gw)
    n_paired = np.bincount(d_pair, minlength=n_pairs)
    w_stat, w_p, n_eff, w_sd = _wilcoxon(d_pair, d, n_pairs, zero_method)
    w_ok = (n_paired >= min_paired) & (n_eff > 0) & np.isfinite(w_sd) & (w_sd > 0)
    w_stat = np.where(w_ok, w_stat, np.nan)
    w_p = np.where(w_ok, w_p, np.nan)

    del d_pair, d
    if replicates is None:
        center, dev = _resampled_means(xr, sizes, start, n_inv, n_resamples=int(n_resamples), seed=seed,
                                       workers=workers)
    else:
        center, dev = replicates.center, replicates.dev                # waits for a background draw
    lo, hi = np.empty(n_pairs), np.empty(n_pairs)
    step = max(1, (1 << 22) // max(int(n_resamples), 1))               # pairs at a time (bounded memory)
    for a in range(0, n_pairs, step):                                  # percentiles are row by row
        sl = slice(a, a + step)
        diff = dev[i_to[sl], pu[sl]].astype(np.float64)
        diff -= dev[i_from[sl], pu[sl]]
        lo[sl], hi[sl] = _percentile_interval(diff, ci)                # quantiles shift with the centres
    del dev, diff, replicates
    shift = center[i_to, pu] - center[i_from, pu]
    lo, hi = lo + shift, hi + shift
    lo = np.where(testable & ~flat, lo, np.nan)
    hi = np.where(testable & ~flat, hi, np.nan)

    reason = _reasons(n_pairs, (~testable, "fewer than 2 valid scores in a wave"),
                      (testable & ~np.isfinite(sd), "all scores are equal"),
                      (flat & np.isfinite(sd), "no spread within either wave: no interval"),
                      (n_paired < min_paired, f"fewer than {int(min_paired)} paired respondents"),
                      ((n_paired >= min_paired) & (n_eff == 0), "all paired differences are zero"))
    out = out.assign(n_from=n_from.astype(np.int64), n_to=n_to.astype(np.int64), mean_from=mean_from, mean_to=mean_to,
                     change=mean_to - mean_from, ci_low=lo, ci_high=hi, u=u, p_value=p,
                     n_paired=n_paired.astype(np.int64), wilcoxon_stat=w_stat, wilcoxon_p=w_p)
    out["p_holm"] = holm(p, family=fam)
    out["wilcoxon_p_holm"] = holm(w_p, family=fam)
    out["reason"] = pd.Series(reason, dtype="str")
    return out[cols].reset_index(drop=True)
