r"""Within-council agreement and reliability: rwg, rwg(j), AD_M, awg, ICC(1)/ICC(2), alpha.

Every function takes a long (tidy) table first and keyword-only column names, and returns one row
per group of the ``by`` columns (sorted by them, ``by`` columns first) with a ``reason`` column that
says, in words, why a statistic is NaN (missing when everything is fine). Degenerate groups (one
respondent, nothing answered, one group, no variance where it matters) give NaN plus a reason:
never an exception, never a misleading 1.0.

Everything is vectorised over groups: each key column is factorised once, combinations are
numbered with integer arithmetic, and all sums are ``np.bincount`` / ``np.add.reduceat``
reductions. The only Python loop over units is in :func:`icc_reml`, which runs a 1-D
optimisation per ``by`` unit (e.g. per enabler), itself vectorised over the groups; alpha loops
over the item positions of a scale (3 per enabler). Nothing is rounded (except where :func:`rwg`
is asked to mimic the WGA package).

The conventions (ddof, truncation, missing data, k in ICC(1)) are those of the R package
multilevel 2.8 (Bliese), checked against ``../shared/reference-data`` in
``tests/test_agreement.py``; see ``docs/methodology.md``, section 8.

**Speed.** Factorising text key columns dominates at national scale (hashing ~6.6 M strings costs
about 0.4-0.8 s a column). Key columns that are ``category`` dtype, or integer codes, are used as
they are; text columns that come in runs (council, respondent, enabler) are factorised run by
run. Convert key columns to ``category`` once when calling many functions on a national table.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .exceptions import SchemaMismatchError

logger = logging.getLogger(__name__)

__all__ = [
    "ad_m",
    "agreement_table",
    "aggregation_check",
    "awg",
    "cronbach_alpha",
    "icc_anova",
    "icc_reml",
    "item_total",
    "polarisation",
    "rwg",
    "rwg_j",
]

Columns = str | Sequence[str]

_HINT = ("Pass the tidy responses table (one row per respondent x item) or the respondent scores table, "
         "and name its columns with the keyword arguments.")

# --------------------------------------------------------------------------------------------
# shared docstring snippets (seaborn _docstrings style; replaced by _share_docs)
# --------------------------------------------------------------------------------------------
_DOCS: dict[str, str] = {
    "p.data": """data : pandas.DataFrame
        Long (tidy) table, one row per answer (e.g. the ``responses`` table: respondent x item)
        or per respondent score. It is not modified.""",
    "p.by": """by : str or sequence of str
        Columns whose combinations define the groups (e.g. ``["council_id", "enabler_id"]``).
        Missing keys form their own group. An empty sequence makes one group of all rows.""",
    "p.item": """item : str
        Column naming the item (statement) of each answer, e.g. ``"item_id"``.""",
    "p.value": """value : str
        Numeric column with the answer or score; NaN is a missing answer.""",
    "p.respondent": """respondent : str or sequence of str
        Column(s) identifying a respondent, e.g. ``["wave", "council_id", "respondent_key"]``.
        A respondent may answer each item once per group.""",
    "p.n_options": """n_options : int, default 5
        Number of answer options A of the scale (5 for the 1..5 agree scale).""",
    "p.null_variance": r"""null_variance : float, optional
        Expected variance :math:`\sigma^2_{E}` under "no agreement". Default: the uniform null
        :math:`(A^2 - 1)/12` (2.0 for 5 options). LeBreton & Senter's (2008) skewed nulls for 5
        points: slight skew 1.34, moderate 0.90, heavy 0.44; triangular 1.32; normal 1.04.""",
    "p.missing": """missing : {"itemwise", "listwise"}, default "itemwise"
        ``"itemwise"`` removes each item's missing answers separately (multilevel 2.8);
        ``"listwise"`` first drops every respondent who misses any of the group's items
        (multilevel <= 2.7) and needs ``respondent=``.""",
    "r.reason": """- ``reason``: why the statistic is NaN (or partly undefined), in words; missing when fine.""",
    "raises": """SchemaMismatchError
        A named column is missing, the value column is not numeric or holds infinities, or a
        respondent answers the same item twice within a group.
    ValueError
        An option has an invalid value.""",
}


def _share_docs(func: Callable) -> Callable:
    doc = func.__doc__ or ""
    for key, text in _DOCS.items():
        doc = doc.replace("{" + key + "}", text)
    func.__doc__ = doc
    return func


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _cols(cols: Columns | None, name: str) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    try:
        out = list(cols)
    except TypeError:
        raise ValueError(f"The value for `{name}` must be a column name or a sequence of column names, "
                         f"but {cols!r} was passed.") from None
    return out


def _check_columns(data: pd.DataFrame, needed: Sequence[str]) -> None:
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame, but {type(data).__name__} was passed.")
    missing = [c for c in dict.fromkeys(needed) if c not in data.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise SchemaMismatchError(
            f"the table has no column{'s' if len(missing) > 1 else ''} {names} "
            f"(it has: {', '.join(map(str, data.columns)) or 'no columns'})",
            column=str(missing[0]), hint=_HINT)


def _values(data: pd.DataFrame, column: str) -> np.ndarray:
    s = data[column]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        examples = ", ".join(repr(v) for v in pd.unique(s.dropna().astype("object"))[:3])
        raise SchemaMismatchError(
            f"{column!r} must be numeric (NaN for a missing answer), but it has dtype {s.dtype} "
            f"(e.g. {examples})", column=column,
            hint="Convert answers to scale codes with analysis.cleaning before computing agreement.")
    # float64 columns are used as they are (read-only: nothing here writes into ``x``)
    x = s.to_numpy() if s.dtype == np.float64 else s.to_numpy(dtype="float64", na_value=np.nan)
    if np.isinf(x).any():
        raise SchemaMismatchError(f"{column!r} holds {int(np.isinf(x).sum())} infinite value(s)", column=column,
                                  hint="Infinite scores are a bug upstream; missing answers should be NaN.")
    return x


def _null_variance(n_options: int, null_variance: float | None) -> float:
    if null_variance is not None:
        v = float(null_variance)
        if not v > 0 or not math.isfinite(v):
            raise ValueError(f"The value for `null_variance` must be a positive number, but {null_variance!r} was passed.")
        return v
    if int(n_options) != n_options or n_options < 2:
        raise ValueError(f"The value for `n_options` must be an integer >= 2, but {n_options!r} was passed.")
    return (n_options ** 2 - 1) / 12.0


# --------------------------------------------------------------------------------------------
# group codes: factorise once, combine with integer arithmetic
# --------------------------------------------------------------------------------------------
def _factorize(s: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes 0..k-1 (missing keys get their own code, last) and the sorted distinct values."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes = s.cat.codes.to_numpy()          # int8/int16/int32: widened once, in _combine
        k = len(s.cat.categories)
        na = bool((codes < 0).any())
        if na:
            codes = np.where(codes < 0, k, codes.astype(np.int64))
        cat_codes = np.arange(k + na)
        if na:
            cat_codes[-1] = -1
        return codes, pd.CategoricalIndex(pd.Categorical.from_codes(cat_codes, dtype=s.dtype))
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        values = s.to_numpy(dtype=object)
        n = len(values)
        heads = None
        # Keys usually come in runs (council, respondent, enabler): then hash one value per run.
        # A sample of the first rows says whether runs are worth looking for.
        m = min(n, 4096)
        try:
            if m > 1 and 2 * int(np.count_nonzero(values[1:m] != values[:m - 1])) < m:
                change = np.empty(n, dtype=bool)
                change[0] = True
                np.not_equal(values[1:], values[:-1], out=change[1:])
                heads = np.flatnonzero(change)
        except (TypeError, ValueError):  # e.g. pd.NA in an object column
            heads = None
        if heads is not None and 2 * len(heads) <= n:
            head_codes, uniques = pd.factorize(values[heads], sort=True, use_na_sentinel=False)
            codes = np.repeat(head_codes.astype(np.int64), np.diff(np.append(heads, n)))
        else:
            codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
        return codes.astype(np.int64, copy=False), pd.Index(uniques, dtype=s.dtype)
    codes, uniques = pd.factorize(s, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


_Part = tuple[np.ndarray, pd.Index]


def _compact(comb: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct values of ``comb`` in increasing order, codes 0..m-1 of each row)."""
    n = len(comb)
    if space <= 4 * n + 1_000_000:
        present = np.flatnonzero(np.bincount(comb, minlength=space))
        if len(present) == space:          # every combination occurs: the codes are already compact
            return present, comb
        remap = np.zeros(space, dtype=np.int64)
        remap[present] = np.arange(len(present))
        return present, remap[comb]
    # Sparse space: sort the distinct values. Rows come in runs (a respondent's answers are
    # adjacent), so sort only the first value of each run.
    heads = np.flatnonzero(np.concatenate([[True], comb[1:] != comb[:-1]])) if n else np.zeros(0, dtype=np.int64)
    present, inverse = np.unique(comb[heads], return_inverse=True)
    codes = np.repeat(inverse.ravel().astype(np.int64), np.diff(np.append(heads, n)))
    return present.astype(np.int64), codes


@dataclass(frozen=True)
class _Combo:
    """Observed combinations of several key columns, numbered 0..m-1 in lexicographic order."""

    codes: np.ndarray             # row -> combination
    values: np.ndarray | None     # combination -> mixed-radix value of its column codes (increasing)
    dims: tuple[int, ...]         # number of distinct values of each column
    table: np.ndarray | None      # combination -> column codes; only when the radix space is too big

    def column(self, j: int) -> np.ndarray:
        """Code of column ``j`` for each combination."""
        if self.values is None:
            return self.table[:, j]
        return (self.values // math.prod(self.dims[j + 1:])) % self.dims[j]

    def prefix(self, k: int) -> np.ndarray:
        """For each combination, a non-decreasing integer identifying its first ``k`` columns."""
        if self.values is None:
            return np.unique(self.table[:, :k], axis=0, return_inverse=True)[1].ravel()
        return self.values // math.prod(self.dims[k:])


def _combine(parts: Sequence[_Part], n: int) -> _Combo:
    """Number the observed combinations of the parts' codes (integer arithmetic, no hashing)."""
    dims = tuple(len(u) for _, u in parts)
    if not parts:
        return _Combo(np.zeros(n, dtype=np.int64), np.zeros(1 if n else 0, dtype=np.int64), (), None)
    total = math.prod(dims)
    if total < 2 ** 62:
        comb = parts[0][0].astype(np.int64)
        for (c, _), d in zip(parts[1:], dims[1:]):
            comb *= d
            comb += c
        values, codes = _compact(comb, total)
        return _Combo(codes, values, dims, None)
    table, codes = np.unique(np.column_stack([c for c, _ in parts]), axis=0, return_inverse=True)
    return _Combo(codes.ravel().astype(np.int64), None, dims, table)


def _nest(outer: Sequence[_Part], inner: Sequence[_Part], n: int) -> tuple[_Combo, np.ndarray, np.ndarray]:
    """Cells = observed (outer, inner) combinations, sorted.

    Returns the cells (``.codes``: each row's cell), each cell's outer group (0..G-1, sorted) and
    the outer groups' code table (G x len(outer)). With no outer columns there is one group (also
    when there are no rows). Two calls with the same outer parts on the same rows number the
    groups identically.
    """
    cells = _combine([*outer, *inner], n)
    k = len(outer)
    m = len(cells.values) if cells.values is not None else len(cells.table)
    if k == 0:
        return cells, np.zeros(m, dtype=np.int64), np.zeros((1, 0), dtype=np.int64)
    p = cells.prefix(k)
    change = np.ones(m, dtype=bool)
    change[1:] = p[1:] != p[:-1]
    cell_outer = np.cumsum(change) - 1
    first = np.flatnonzero(change)
    table = np.column_stack([cells.column(j)[first] for j in range(k)]) if m else np.zeros((0, k), dtype=np.int64)
    return cells, cell_outer, table


def _keys(cols: Sequence[str], parts: Sequence[_Part], table: np.ndarray) -> pd.DataFrame:
    if not cols:
        return pd.DataFrame(index=pd.RangeIndex(len(table)))
    return pd.DataFrame({c: pd.Series(u.take(table[:, j])) for j, (c, (_, u)) in enumerate(zip(cols, parts))})


def _group_codes(data: pd.DataFrame, cols: Sequence[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """Row codes 0..G-1 of the groups of ``cols`` and the G x len(cols) key table, sorted by the keys.

    With no columns, all rows (even none) form one group.
    """
    if not cols:
        return np.zeros(len(data), dtype=np.int64), pd.DataFrame(index=pd.RangeIndex(1))
    parts = [_factorize(data[c]) for c in cols]
    combo = _combine(parts, len(data))
    table = np.column_stack([combo.column(j) for j in range(len(cols))])
    return combo.codes, _keys(cols, parts, table)


def _reasons(n: int, rules: Sequence[tuple[np.ndarray, str]]) -> np.ndarray:
    """One reason per group: the text of the first rule whose mask is true, else None."""
    out = np.full(n, None, dtype=object)
    for mask, text in reversed(rules):
        out[np.asarray(mask, dtype=bool)] = text
    return out


def _result(keys: pd.DataFrame, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    out = keys.reset_index(drop=True).copy()
    for name, col in columns.items():
        out[name] = pd.Series(col, dtype="str") if name.endswith("reason") or name.endswith("note") else col
    return out


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


_Segments = tuple[np.ndarray, np.ndarray]


def _segments(codes: np.ndarray) -> _Segments | None:
    """(first row, code) of each run of equal codes, if every code forms a single run."""
    if not len(codes):
        return None
    starts = np.flatnonzero(np.concatenate([[True], codes[1:] != codes[:-1]]))
    seg_codes = codes[starts]
    if len(np.unique(seg_codes)) != len(seg_codes):
        return None
    return starts, seg_codes


def _sums(codes: np.ndarray, size: int, segments: _Segments | None) -> Callable[..., np.ndarray]:
    """Sum of weights per code: ``np.bincount``, or ``np.add.reduceat`` (several times faster)
    when each code's rows are contiguous and ``segments`` (from :func:`_segments`) says where."""
    if segments is None:
        return lambda w: np.bincount(codes, weights=w, minlength=size)
    starts, seg_codes = segments

    def seg(w: np.ndarray) -> np.ndarray:
        out = np.zeros(size)
        out[seg_codes] = np.add.reduceat(w, starts, dtype=np.float64)
        return out
    return seg


def _moments(codes: np.ndarray, x: np.ndarray, size: int, ok: np.ndarray | None = None,
             segments: _Segments | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code: count, mean and sum of squared deviations of the non-missing ``x``.

    One pass of sums of ``x - c`` and ``(x - c)^2`` with ``c`` the overall mean rounded to an
    integer (so integer answers sum exactly); codes whose mean lies so far from ``c`` that the
    one-pass formula could lose more than about six digits are recomputed with two passes.
    ``segments``: see :func:`_sums`.
    """
    if ok is None:
        ok = ~np.isnan(x)
    full = bool(ok.all())
    total_sum = _sums(codes, size, segments)
    if full:
        n = np.bincount(codes, minlength=size)
    else:
        n = np.rint(total_sum(ok)).astype(np.int64)
    n = n.astype(np.int64)
    total = int(n.sum())
    c = float(np.round(np.sum(x, where=ok) / total)) if total else 0.0
    d = x - c
    if not full:
        d[~ok] = 0.0
    s1 = total_sum(d)
    d *= d
    s2 = total_sum(d)
    m1 = _div(s1, n)
    ss = np.maximum(s2 - np.where(n > 0, s1 * m1, 0.0), 0.0)
    bad = (n > 1) & (s1 * m1 > 1e6 * ss)          # ill-conditioned: redo those codes exactly
    if bad.any():
        rows = bad[codes] & ok
        sub, xs = codes[rows], x[rows]
        mean_b = _div(np.bincount(sub, weights=xs, minlength=size), n)
        dev = xs - mean_b[sub]
        ss = np.where(bad, np.bincount(sub, weights=dev * dev, minlength=size), ss)
        m1 = np.where(bad, mean_b - c, m1)
    return n, m1 + c, ss


def _zero(ss: np.ndarray, n: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """True where a sum of squares is zero up to rounding (equal values that are not integers)."""
    return ss <= n * (1e-9 * (1 + np.abs(np.nan_to_num(mean)))) ** 2


# --------------------------------------------------------------------------------------------
# item-level structure shared by rwg_j, ad_m, awg (and agreement_table)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cells:
    keys: pd.DataFrame          # G group keys
    cell: np.ndarray            # row -> cell (group x item)
    x: np.ndarray               # row value; NaN = missing, or removed by listwise deletion
    ok: np.ndarray              # row answered (and kept)
    cell_group: np.ndarray      # cell -> group
    n_items: np.ndarray         # group -> items present in the group
    n_resp: np.ndarray          # group -> respondents with >= 1 answer (after listwise deletion)
    n_cell: np.ndarray          # cell -> answers
    mean_cell: np.ndarray
    var_cell: np.ndarray        # ddof 1; NaN with fewer than 2 answers
    n_answers: np.ndarray       # group -> answers
    listwise: bool


def _duplicate_error(data: pd.DataFrame, row: int, resp: Sequence[str], item: str, by: Sequence[str]) -> SchemaMismatchError:
    r = data.iloc[row]
    who = ", ".join(f"{c}={r[c]!r}" for c in resp)
    where = (" in group " + ", ".join(f"{c}={r[c]!r}" for c in by)) if by else ""
    return SchemaMismatchError(
        f"respondent ({who}) answers item {r[item]!r} more than once{where}; each respondent answers each item once",
        column=item, hint="Remove superseded duplicates in ingest, or include the distinguishing column in `respondent`.")


def _slots(data: pd.DataFrame, pair: np.ndarray, n_pairs: int, cell: np.ndarray, cell_group: np.ndarray,
           n_items: np.ndarray, resp: Sequence[str], item: str, by: Sequence[str]) -> tuple[np.ndarray, int]:
    """Each row's slot in a (max items x respondent-in-group) matrix; raises on duplicate answers."""
    first_cell = np.cumsum(n_items) - n_items
    local = np.arange(len(cell_group)) - first_cell[cell_group]
    K = int(n_items.max()) if len(n_items) else 0
    slot = local[cell]
    slot *= n_pairs
    slot += pair
    counts = np.bincount(slot, minlength=n_pairs * K)
    if len(slot) and counts.max() > 1:
        raise _duplicate_error(data, int(np.flatnonzero(counts[slot] > 1)[0]), resp, item, by)
    return slot, K


def _pairs(data: pd.DataFrame, by: Sequence[str], parts_by: Sequence[_Part], group: np.ndarray,
           resp: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Number the (group, respondent) pairs: each row's pair, and each pair's group.

    A respondent is numbered first (its key columns usually include the council, so pairing
    with the remaining ``by`` columns keeps the code space small); pairs are not sorted by group.
    """
    n = len(data)
    parts_resp = [_factorize(data[c]) for c in resp]
    extra = [p for c, p in zip(by, parts_by) if c not in resp]
    # (extra, respondent) order: a group's pairs are then usually contiguous (see _wide)
    if math.prod(len(u) for _, u in [*extra, *parts_resp]) <= 4 * n + 1_000_000:
        pair = _combine([*extra, *parts_resp], n).codes
    else:
        rho = _combine(parts_resp, n).codes
        pair = _combine([*extra, (rho, pd.RangeIndex(int(rho.max()) + 1 if n else 0))], n).codes
    n_pairs = int(pair.max()) + 1 if n else 0
    pair_group = np.zeros(n_pairs, dtype=np.int64)
    pair_group[pair] = group
    return pair, pair_group


def _item_cells(data: pd.DataFrame, *, by: Columns, item: str, value: str, respondent: Columns | None,
                missing: str) -> _Cells:
    by_, resp = _cols(by, "by"), _cols(respondent, "respondent")
    if missing not in ("itemwise", "listwise"):
        raise ValueError(f"The value for `missing` must be one of ('itemwise', 'listwise'), but {missing!r} was passed.")
    if missing == "listwise" and not resp:
        raise ValueError("`missing='listwise'` needs `respondent=` (the column(s) identifying a respondent), "
                         "to know whose answers to drop.")
    _check_columns(data, [*by_, item, *resp, value])
    x = _values(data, value)
    n = len(data)
    parts_by = [_factorize(data[c]) for c in by_]
    cells, cell_group, gtable = _nest(parts_by, [_factorize(data[item])], n)
    cell = cells.codes
    keys = _keys(by_, parts_by, gtable)
    G, C = len(keys), len(cell_group)
    n_items = np.bincount(cell_group, minlength=G).astype(np.int64)
    ok = ~np.isnan(x)
    n_resp = None
    if resp:
        pair, pair_group = _pairs(data, by_, parts_by, cell_group[cell], resp)
        P = len(pair_group)
        _slots(data, pair, P, cell, cell_group, n_items, resp, item, by_)
        ans_pair = np.bincount(pair, weights=ok, minlength=P)
        if missing == "listwise":
            complete = ans_pair == n_items[pair_group]
            ok = ok & complete[pair]
            x = np.where(ok, x, np.nan)
            n_resp = np.bincount(pair_group, weights=complete, minlength=G)
        else:
            n_resp = np.bincount(pair_group, weights=ans_pair > 0, minlength=G)
    n_cell, mean_cell, ss_cell = _moments(cell, x, C, ok)
    var_cell = np.where(n_cell >= 2, ss_cell / np.maximum(n_cell - 1, 1), np.nan)
    if n_resp is None:  # without respondent ids: the most answers any one item got
        n_resp = np.maximum.reduceat(n_cell, np.cumsum(n_items) - n_items) if C else np.zeros(G)
        n_resp = np.where(n_items > 0, n_resp, 0)
    return _Cells(keys=keys, cell=cell, x=x, ok=ok, cell_group=cell_group, n_items=n_items,
                  n_resp=np.asarray(n_resp).astype(np.int64), n_cell=n_cell, mean_cell=mean_cell,
                  var_cell=var_cell, n_answers=np.bincount(cell_group, weights=n_cell, minlength=G).astype(np.int64),
                  listwise=missing == "listwise")


def _item_reason_rules(c: _Cells) -> list[tuple[np.ndarray, str]]:
    G = len(c.keys)
    thin_item = np.bincount(c.cell_group, weights=c.n_cell < 2, minlength=G) > 0
    few = ("fewer than 2 respondents answered every item (listwise deletion)" if c.listwise
           else "fewer than 2 respondents")
    return [(c.n_answers == 0, "no answers"),
            (c.n_resp < 2, few),
            (thin_item, "an item has fewer than 2 answers, so its variance is undefined")]


def _rwg_j_columns(c: _Cells, sigma2: float) -> dict[str, np.ndarray]:
    G = len(c.keys)
    rules = _item_reason_rules(c)
    bad = np.logical_or.reduce([m for m, _ in rules])
    s = _div(np.bincount(c.cell_group, weights=np.nan_to_num(c.var_cell), minlength=G), c.n_items)
    s = np.where(bad, np.nan, s)
    j = c.n_items.astype(float)
    st = np.minimum(s, sigma2) / sigma2          # truncated at the null variance before the formula
    rwgj = _div(j * (1 - st), j * (1 - st) + st)
    return {"n": c.n_resp, "n_items": c.n_items, "mean_item_variance": s, "rwg_j": np.where(bad, np.nan, rwgj),
            "rwg_j_lindell": 1 - s / sigma2, "reason": _reasons(G, rules)}


def _ad_columns(c: _Cells, centre: str, ad_cell: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """AD_M per group; ``ad_cell`` (each cell's mean absolute deviation) is computed from the rows
    of ``c`` unless given."""
    G = len(c.keys)
    if ad_cell is None:
        ad_cell = _ad_cells(c, centre)
    rules = _item_reason_rules(c)
    bad = np.logical_or.reduce([m for m, _ in rules])
    ad = _div(np.bincount(c.cell_group, weights=np.nan_to_num(ad_cell), minlength=G), c.n_items)
    return {"n": c.n_resp, "n_items": c.n_items, "ad_m": np.where(bad, np.nan, ad), "reason": _reasons(G, rules)}


def _ad_cells(c: _Cells, centre: str) -> np.ndarray:
    """Mean absolute deviation of each cell's answers from the cell's mean or median."""
    C = len(c.cell_group)
    if centre == "mean":
        dev = c.x - c.mean_cell[c.cell]
    else:
        cell, x = c.cell[c.ok], c.x[c.ok]
        xs = x[np.lexsort((x, cell))]
        start = np.cumsum(c.n_cell) - c.n_cell
        last = max(len(xs) - 1, 0)
        lo = np.minimum(start + np.maximum(c.n_cell - 1, 0) // 2, last)
        hi = np.minimum(start + c.n_cell // 2, last)
        mid = np.where(c.n_cell > 0, (xs[lo] + xs[hi]) / 2, np.nan) if len(xs) else np.full(C, np.nan)
        dev = c.x - mid[c.cell]
    np.abs(dev, out=dev)
    dev[~c.ok] = 0.0
    return _div(np.bincount(c.cell, weights=dev, minlength=C), c.n_cell)


# --------------------------------------------------------------------------------------------
# rwg, rwg(j), AD_M, awg, polarisation
# --------------------------------------------------------------------------------------------
@_share_docs
def rwg(data: pd.DataFrame, *, by: Columns, value: str, n_options: int = 5, null_variance: float | None = None,
        round_variance: int | None = None) -> pd.DataFrame:
    r"""Single-item within-group agreement :math:`r_{wg}` (James, Demaree & Wolf 1984).

    Parameters
    ----------
    {p.data}
    {p.by}
    {p.value}
    {p.n_options}
    {p.null_variance}
    round_variance : int, optional
        Round each group variance to this many decimals before computing rwg. ``2`` reproduces
        LeBreton's WGA package; leave it ``None`` (no rounding) otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: non-missing answers; ``mean``: their mean;
        - ``variance``: their variance :math:`s^2` (ddof 1; rounded if ``round_variance`` is set);
        - ``rwg``: in [0, 1]; NaN with fewer than 2 answers;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        r_{wg} = 1 - \frac{\min(s^2, \sigma^2_E)}{\sigma^2_E}, \qquad
        \sigma^2_{EU} = \frac{A^2 - 1}{12}

    :math:`s^2` is the variance of the group's answers with :math:`n - 1` in the denominator and
    :math:`\sigma^2_E` the variance expected if answers were random (uniform null: 2.0 for
    :math:`A = 5` options). A variance above the null is truncated, so rwg is 0 rather than
    negative (multilevel::rwg). Conventional reading: 0.70 or more is "strong enough agreement to
    aggregate" (LeBreton & Senter 2008), a convention, not a test. Validated against
    multilevel::rwg on lq2002 LEAD and bhr2000 RELIG, and the WGA vignette's LEAD06 values
    (``tests/test_agreement.py``).

    References
    ----------
    James, L. R., Demaree, R. G. & Wolf, G. (1984). Estimating within-group interrater
    reliability with and without response bias. *Journal of Applied Psychology*, 69(1), 85-98.

    LeBreton, J. M. & Senter, J. L. (2008). Answers to 20 questions about interrater reliability
    and interrater agreement. *Organizational Research Methods*, 11(4), 815-852.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": ["a", "a", "a", "b"], "score": [4.0, 4.0, 5.0, 3.0]})
    >>> rwg(d, by="council_id", value="score")[["council_id", "n", "rwg", "reason"]]
      council_id  n       rwg                              reason
    0          a  3  0.833333                                 NaN
    1          b  1       NaN  only one answer (variance needs 2)
    """
    by_ = _cols(by, "by")
    sigma2 = _null_variance(n_options, null_variance)
    _check_columns(data, [*by_, value])
    x = _values(data, value)
    g, keys = _group_codes(data, by_)
    G = len(keys)
    n, mean, ss = _moments(g, x, G)
    var = np.where(n >= 2, ss / np.maximum(n - 1, 1), np.nan)
    if round_variance is not None:
        var = np.round(var, int(round_variance))
    r = 1 - np.minimum(var, sigma2) / sigma2
    reason = _reasons(G, [(n == 0, "no answers"), (n == 1, "only one answer (variance needs 2)")])
    return _result(keys, {"n": n, "mean": mean, "variance": var, "rwg": r, "reason": reason})


@_share_docs
def rwg_j(data: pd.DataFrame, *, by: Columns, item: str, value: str, n_options: int = 5,
          null_variance: float | None = None, missing: Literal["itemwise", "listwise"] = "itemwise",
          respondent: Columns | None = None) -> pd.DataFrame:
    r"""Multi-item within-group agreement :math:`r_{wg(j)}` and Lindell's :math:`r^*_{wg(j)}`.

    Parameters
    ----------
    {p.data}
    {p.by}
    {p.item}
    {p.value}
    {p.n_options}
    {p.null_variance}
    {p.missing}
    respondent : str or sequence of str, optional
        Column(s) identifying a respondent. Needed for ``missing="listwise"``; when given, ``n``
        counts respondents exactly and duplicate answers are reported.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: respondents with at least one answer (after listwise deletion). Without
          ``respondent``, the largest number of answers to any one item (the same when nobody
          skips a whole item);
        - ``n_items``: J, the items present in the group;
        - ``mean_item_variance``: :math:`\bar s^2`, the mean of the item variances (ddof 1);
        - ``rwg_j``: in [0, 1];
        - ``rwg_j_lindell``: :math:`r^*_{wg(j)}`, untruncated, can be negative;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        r_{wg(j)} = \frac{J\,(1 - \tilde s^2/\sigma^2_E)}{J\,(1 - \tilde s^2/\sigma^2_E) + \tilde s^2/\sigma^2_E},
        \qquad \tilde s^2 = \min(\bar s^2, \sigma^2_E), \qquad
        r^*_{wg(j)} = 1 - \frac{\bar s^2}{\sigma^2_E}

    :math:`\bar s^2` is the mean over the J items of each item's variance, each computed with
    :math:`n - 1` from that item's non-missing answers. It is truncated at the null variance
    *before* the formula (multilevel::rwg.j), so rwg(j) is 0 rather than negative or exploding
    as :math:`\bar s^2/\sigma^2_E \to J/(J-1)`. An item with fewer than 2 answers makes the group
    NaN (its variance is undefined), as in R. Conventional reading: rwg(j) of 0.70 or more
    supports aggregating to the group (James, Demaree & Wolf 1984; LeBreton & Senter 2008).
    rwg(j) grows with J, so Lindell's :math:`r^*_{wg(j)}` (Lindell, Brandt & Whitney 1999), which
    does not, is reported alongside. Validated against multilevel::rwg.j and rwg.j.lindell on
    lq2002 and bhr2000.

    References
    ----------
    James, L. R., Demaree, R. G. & Wolf, G. (1984). Estimating within-group interrater
    reliability with and without response bias. *Journal of Applied Psychology*, 69(1), 85-98.

    Lindell, M. K., Brandt, C. J. & Whitney, D. J. (1999). A revised index of interrater agreement
    for multi-item ratings of a single target. *Applied Psychological Measurement*, 23(2), 127-135.

    LeBreton, J. M. & Senter, J. L. (2008). Answers to 20 questions about interrater reliability
    and interrater agreement. *Organizational Research Methods*, 11(4), 815-852.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": "a", "respondent_key": ["r1", "r1", "r2", "r2"],
    ...                   "item_id": ["S1", "S2", "S1", "S2"], "score": [4.0, 5.0, 5.0, 5.0]})
    >>> rwg_j(d, by="council_id", item="item_id", value="score")[["n", "n_items", "rwg_j", "rwg_j_lindell"]]
       n  n_items     rwg_j  rwg_j_lindell
    0  2        2  0.933333          0.875
    """
    sigma2 = _null_variance(n_options, null_variance)
    cells = _item_cells(data, by=by, item=item, value=value, respondent=respondent, missing=missing)
    return _result(cells.keys, _rwg_j_columns(cells, sigma2))


@_share_docs
def ad_m(data: pd.DataFrame, *, by: Columns, item: str, value: str,
         centre: Literal["mean", "median"] = "mean") -> pd.DataFrame:
    r"""Average deviation index :math:`AD_M` (Burke, Finkelstein & Dusig 1999), averaged over items.

    Parameters
    ----------
    {p.data}
    {p.by}
    {p.item}
    {p.value}
    centre : {"mean", "median"}, default "mean"
        Deviations from each item's group mean (:math:`AD_M`) or median (:math:`AD_{Md}`).

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: the largest number of answers to any one item; ``n_items``: items present;
        - ``ad_m``: mean over items of the item's average absolute deviation, >= 0, in scale
          points; NaN when an item has fewer than 2 answers;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        AD_{M(j)} = \frac{1}{J}\sum_{i=1}^{J} \frac{1}{n_i}\sum_{r=1}^{n_i} \lvert x_{ri} - \bar x_i \rvert

    with :math:`n_i` the non-missing answers to item i (each item's missing answers removed
    separately) and :math:`\bar x_i` their mean (or median). The divisor is :math:`n_i`, not
    :math:`n_i - 1` (multilevel::ad.m). Lower means more agreement; 0 is unanimity. Burke &
    Dunlap's (2002) rule of thumb: :math:`AD \le A/6` (0.83 for 5 options) is practically
    significant agreement (a convention). Validated against multilevel::ad.m on bhr2000 (items,
    median centre and HRS).

    References
    ----------
    Burke, M. J., Finkelstein, L. M. & Dusig, M. S. (1999). On average deviation indices for
    estimating interrater agreement. *Organizational Research Methods*, 2(1), 49-68.

    Burke, M. J. & Dunlap, W. P. (2002). Estimating interrater agreement with the average deviation
    index: a user's guide. *Organizational Research Methods*, 5(2), 159-172.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": "a", "item_id": ["S1", "S1", "S2", "S2"], "score": [4.0, 2.0, 5.0, 5.0]})
    >>> ad_m(d, by="council_id", item="item_id", value="score")[["n", "n_items", "ad_m"]]
       n  n_items  ad_m
    0  2        2   0.5
    """
    if centre not in ("mean", "median"):
        raise ValueError(f"The value for `centre` must be one of ('mean', 'median'), but {centre!r} was passed.")
    cells = _item_cells(data, by=by, item=item, value=value, respondent=None, missing="itemwise")
    return _result(cells.keys, _ad_columns(cells, centre))


@_share_docs
def awg(data: pd.DataFrame, *, by: Columns, item: str, value: str, scale: tuple[float, float] = (1, 5)) -> pd.DataFrame:
    r"""Brown & Hauenstein's (2005) agreement index :math:`a_{wg}`, averaged over items.

    Parameters
    ----------
    {p.data}
    {p.by}
    {p.item}
    {p.value}
    scale : (float, float), default (1, 5)
        Lowest and highest possible answer (L, H), e.g. ``(0, 4)`` for a 0..4 frequency scale.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: the largest number of answers to any one item; ``n_items``: items present;
        - ``n_items_defined``: items whose :math:`a_{wg}` is defined (mean not too close to an end);
        - ``awg``: mean over the defined items, in [-1, 1];
        {r.reason}

    Raises
    ------
    {raises}
    SchemaMismatchError
        Also when an answer lies outside ``scale``.

    Notes
    -----
    For an item with k non-missing answers, mean M and variance :math:`s^2` (ddof 1):

    .. math::

        a_{wg} = 1 - \frac{2 s^2}{\left[(H + L)M - M^2 - HL\right]\,\frac{k}{k - 1}}

    the observed variance as a share of the largest variance possible at that mean. It is
    undefined (NaN) when :math:`M < (L(k-1) + H)/k` or :math:`M > (H(k-1) + L)/k`, and exactly 1
    when :math:`M = H` or :math:`M = L` (everyone at one end). The item values are averaged with
    the undefined ones left out (multilevel::awg). Unlike R, which drops incomplete rows first,
    each item's missing answers are removed separately (identical without missing data).
    Brown & Hauenstein suggest 0.70 as "strong agreement" (a convention). Validated against
    multilevel::awg on lq2002.

    References
    ----------
    Brown, R. D. & Hauenstein, N. M. A. (2005). Interrater agreement reconsidered: an alternative to
    the rwg indices. *Organizational Research Methods*, 8(2), 165-184.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": "a", "item_id": "S1", "score": [4.0, 4.0, 5.0, 3.0]})
    >>> round(float(awg(d, by="council_id", item="item_id", value="score")["awg"].iloc[0]), 4)
    0.6667
    """
    lo_, hi_ = (float(v) for v in scale)
    if not lo_ < hi_:
        raise ValueError(f"The value for `scale` must be (lowest, highest) with lowest < highest, but {scale!r} was passed.")
    cells = _item_cells(data, by=by, item=item, value=value, respondent=None, missing="itemwise")
    x = cells.x
    outside = ~np.isnan(x) & ((x < lo_) | (x > hi_))
    if outside.any():
        raise SchemaMismatchError(f"{int(outside.sum())} answer(s) lie outside the scale {lo_:g}..{hi_:g} "
                                  f"(e.g. {x[outside][0]:g})", column=value,
                                  hint="Pass the scale's real range as `scale=(lowest, highest)`.")
    G = len(cells.keys)
    m, k, s2 = cells.mean_cell, cells.n_cell.astype(float), cells.var_cell
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1 - (2 * s2) / (((hi_ + lo_) * m - m ** 2 - hi_ * lo_) * (k / (k - 1)))
        undefined = (m < (lo_ * (k - 1) + hi_) / k) | (m > (hi_ * (k - 1) + lo_) / k)
    a = np.where(undefined, np.nan, a)
    a = np.where((m == hi_) | (m == lo_), 1.0, a)
    a = np.where(k >= 2, a, np.nan)
    defined = ~np.isnan(a)
    n_def = np.bincount(cells.cell_group, weights=defined, minlength=G).astype(np.int64)
    mean_a = _div(np.bincount(cells.cell_group, weights=np.where(defined, a, 0), minlength=G), n_def)
    rules = _item_reason_rules(cells)
    bad = np.logical_or.reduce([mk for mk, _ in rules])
    rules.append((n_def == 0, "awg is undefined for every item (means too close to an end of the scale)"))
    mean_a = np.where(bad, np.nan, mean_a)
    return _result(cells.keys, {"n": cells.n_resp, "n_items": cells.n_items, "n_items_defined": n_def,
                                "awg": mean_a, "reason": _reasons(G, rules)})


@_share_docs
def polarisation(data: pd.DataFrame, *, by: Columns, value: str, low_max: float = 2.0,
                 high_min: float = 4.0) -> pd.DataFrame:
    r"""Share of answers at each end of the scale, and a polarisation index (the project's own).

    Parameters
    ----------
    {p.data}
    {p.by}
    {p.value}
    low_max : float, default 2.0
        Answers (or scores) at or below this are "low" (disagree).
    high_min : float, default 4.0
        Answers at or above this are "high" (agree). Must be greater than ``low_max``.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: non-missing values;
        - ``share_low``, ``share_high``: shares of those values at each end, in [0, 1];
        - ``polarisation``: :math:`2\min(\text{share\_low}, \text{share\_high})` in [0, 1];
          NaN with fewer than 2 values;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        p_L = \frac{\#\{x \le \ell\}}{n}, \quad p_H = \frac{\#\{x \ge h\}}{n}, \quad
        \text{polarisation} = 2\min(p_L, p_H)

    0 means nobody is at one of the two ends (everyone on one side or in the middle); 1 means
    half the group at each end. It is a descriptive index defined by this project, not a
    published statistic: it flags a council whose middling mean hides two camps, which rwg(j)
    and AD_M report only as "low agreement". No threshold is implied; read it next to the shares.

    References
    ----------
    None: the project's own descriptive index (see ``docs/methodology.md``, section 8).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": "a", "score": [1.0, 2.0, 5.0, 3.0]})
    >>> polarisation(d, by="council_id", value="score")[["share_low", "share_high", "polarisation"]]
       share_low  share_high  polarisation
    0        0.5        0.25           0.5
    """
    if not low_max < high_min:
        raise ValueError(f"`low_max` must be below `high_min`, but {low_max!r} and {high_min!r} were passed.")
    by_ = _cols(by, "by")
    _check_columns(data, [*by_, value])
    x = _values(data, value)
    g, keys = _group_codes(data, by_)
    G = len(keys)
    n = np.bincount(g, weights=~np.isnan(x), minlength=G).astype(np.int64)
    low = _div(np.bincount(g, weights=x <= low_max, minlength=G), n)      # NaN compares False
    high = _div(np.bincount(g, weights=x >= high_min, minlength=G), n)
    pol = np.where(n >= 2, 2 * np.minimum(low, high), np.nan)
    reason = _reasons(G, [(n == 0, "no answers"), (n == 1, "only one answer")])
    return _result(keys, {"n": n, "share_low": low, "share_high": high, "polarisation": pol, "reason": reason})


# --------------------------------------------------------------------------------------------
# ICC(1), ICC(2): one-way ANOVA and REML
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _OneWay:
    keys: pd.DataFrame       # U units
    cell_unit: np.ndarray    # cell (unit x group) -> unit; cells with >= 1 value only
    n_cell: np.ndarray
    mean_cell: np.ndarray
    ss_cell: np.ndarray      # within-cell sum of squares


def _one_way(data: pd.DataFrame, *, group: Columns, value: str, by: Columns) -> _OneWay:
    by_, grp = _cols(by, "by"), _cols(group, "group")
    if not grp:
        raise ValueError("`group` must name at least one column (e.g. 'council_id').")
    _check_columns(data, [*by_, *grp, value])
    x = _values(data, value)
    parts_by = [_factorize(data[c]) for c in by_]
    cells, cell_unit, utable = _nest(parts_by, [_factorize(data[c]) for c in grp], len(data))
    n_cell, mean_cell, ss_cell = _moments(cells.codes, x, len(cell_unit))
    keep = n_cell > 0                       # a group counts only with at least one value
    return _OneWay(keys=_keys(by_, parts_by, utable), cell_unit=cell_unit[keep], n_cell=n_cell[keep],
                   mean_cell=mean_cell[keep], ss_cell=ss_cell[keep])


@_share_docs
def icc_anova(data: pd.DataFrame, *, group: Columns, value: str, by: Columns = ()) -> pd.DataFrame:
    r"""ICC(1) and ICC(2) of respondents nested in groups, from a one-way ANOVA (Bliese 2000).

    Parameters
    ----------
    {p.data}
    group : str or sequence of str
        Column(s) of the group the respondents are nested in, e.g. ``"council_id"``.
    {p.value}
    by : str or sequence of str, default ()
        Columns defining separate analyses, e.g. ``"unit_id"`` for one ANOVA per enabler.

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` unit, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n_groups``: groups with at least one value; ``n``: non-missing values;
        - ``k``: mean group size :math:`N/G`;
        - ``df_between``, ``df_within``: :math:`G - 1`, :math:`N - G`;
        - ``msb``, ``msw``: mean squares between and within groups;
        - ``f``, ``p_value``: the F test of equal group means;
        - ``icc1``: can be negative; ``icc2``: reliability of the group means;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        ICC(1) = \frac{MSB - MSW}{MSB + (k - 1)\,MSW}, \qquad
        ICC(2) = \frac{MSB - MSW}{MSB}, \qquad k = N / G

    k is the plain mean group size (multilevel::ICC1), not Bartko's adjusted
    :math:`k_0 = (N - \sum n_j^2 / N)/(G - 1)`. ICC(1) is the share of the variance of an
    individual answer that lies between groups (typically 0.05-0.20 in organisational data; it
    can be negative when groups differ less than chance); ICC(2) is the reliability of a group
    mean (0.70 or more is the usual bar). Missing values are dropped. Validated against
    multilevel::ICC1/ICC2 on bh1996, bhr2000 and lq2002.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability: implications
    for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski (eds), *Multilevel
    theory, research, and methods in organizations*, 349-381. Jossey-Bass.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": list("aabbcc"), "score": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]})
    >>> icc_anova(d, group="council_id", value="score")[["n_groups", "k", "icc1", "icc2"]].round(4)
       n_groups    k    icc1    icc2
    0         3  2.0  0.8974  0.9459
    """
    ow = _one_way(data, group=group, value=value, by=by)
    U = len(ow.keys)
    cu, n_c = ow.cell_unit, ow.n_cell
    N = np.bincount(cu, weights=n_c, minlength=U).astype(np.int64)
    G = np.bincount(cu, minlength=U).astype(np.int64)
    grand = _div(np.bincount(cu, weights=n_c * ow.mean_cell, minlength=U), N)
    ssb = np.bincount(cu, weights=n_c * (ow.mean_cell - grand[cu]) ** 2, minlength=U)
    ssw = np.bincount(cu, weights=ow.ss_cell, minlength=U)
    dfb, dfw = np.maximum(G - 1, 0), np.maximum(N - G, 0)
    msb, msw = _div(ssb, dfb.astype(float)), _div(ssw, dfw.astype(float))
    k = _div(N.astype(float), G.astype(float))
    no_b, no_w = _zero(ssb, N, grand), _zero(ssw, N, grand)
    msb, msw = np.where(no_b & (dfb > 0), 0.0, msb), np.where(no_w & (dfw > 0), 0.0, msw)
    bad = (G < 2) | (dfw < 1) | (no_b & no_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(bad, np.nan, np.where(msw > 0, msb / np.where(msw > 0, msw, 1), np.inf))
        p = np.where(bad, np.nan, stats.f.sf(f, np.maximum(dfb, 1), np.maximum(dfw, 1)))
    icc1 = np.where(bad, np.nan, _div(msb - msw, msb + (k - 1) * msw))
    icc2 = np.where(bad | no_b, np.nan, _div(msb - msw, msb))
    reason = _reasons(U, [(N == 0, "no values"),
                          (G < 2, "only one group, so there is no between-group variance to estimate"),
                          (dfw < 1, "every group has one member, so there is no within-group variance"),
                          (no_b & no_w, "all values are equal (no variance)"),
                          (no_b, "all group means are equal, so ICC(2) is undefined")])
    return _result(ow.keys, {"n_groups": G, "n": N, "k": k, "df_between": dfb, "df_within": dfw, "msb": msb,
                             "msw": msw, "f": f, "p_value": p, "icc1": icc1, "icc2": icc2, "reason": reason})


def _reml_profile(lam: np.ndarray, n: np.ndarray, ybar: np.ndarray, ssw: float) -> tuple[np.ndarray, np.ndarray]:
    """-2 x restricted log-likelihood with sigma^2 profiled out (up to a constant), and Q, for each lambda."""
    lam = np.atleast_1d(lam)[:, None]
    w = n / (1 + n * lam)                                   # weight of a group mean, x sigma^2
    sw = w.sum(axis=1)
    mu = (w * ybar).sum(axis=1) / sw
    q = ssw + (w * (ybar - mu[:, None]) ** 2).sum(axis=1)   # (y - mu)' V^-1 (y - mu) x sigma^2
    N = n.sum()
    with np.errstate(divide="ignore"):
        dev = (N - 1) * np.log(q / (N - 1)) + np.log1p(n * lam).sum(axis=1) + np.log(sw)
    return dev, q


def _reml_fit(n: np.ndarray, ybar: np.ndarray, ssw: float) -> tuple[float, float, float]:
    """REML (tau00, sigma2, -2 logLik) of y_ij = mu + u_j + e_ij; lambda = tau00 / sigma2 >= 0."""
    N = float(n.sum())
    grid = np.linspace(-25.0, 15.0, 81)                     # log lambda: bracket the minimum first
    dev, _ = _reml_profile(np.exp(grid), n, ybar, ssw)
    i = int(np.nanargmin(dev))
    lo_, hi_ = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = optimize.minimize_scalar(lambda t: float(_reml_profile(np.exp(t), n, ybar, ssw)[0][0]),
                                   bounds=(lo_, hi_), method="bounded", options={"xatol": 1e-10})
    lam = float(np.exp(res.x))
    dev_best = float(res.fun)
    dev0 = float(_reml_profile(np.array([0.0]), n, ybar, ssw)[0][0])
    if dev0 <= dev_best:                                    # boundary: no between-group variance
        lam, dev_best = 0.0, dev0
    q = float(_reml_profile(np.array([lam]), n, ybar, ssw)[1][0])
    sigma2 = q / (N - 1)
    # -2 l_R = (N-1) log(2 pi) + log|V| + log|X'V^-1 X| + r'V^-1 r, with r'V^-1 r = N - 1 at sigma2-hat
    neg2ll = dev_best + (N - 1) * (1 + math.log(2 * math.pi))
    return lam * sigma2, sigma2, neg2ll


@_share_docs
def icc_reml(data: pd.DataFrame, *, group: Columns, value: str, by: Columns = ()) -> pd.DataFrame:
    r"""ICC(1) and ICC(2) from a random-intercept model fitted by REML (multilevel::mult.icc).

    Parameters
    ----------
    {p.data}
    group : str or sequence of str
        Column(s) of the group the respondents are nested in, e.g. ``"council_id"``.
    {p.value}
    by : str or sequence of str, default ()
        Columns defining separate models, e.g. ``"unit_id"`` for one model per enabler.

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` unit, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n_groups``, ``n``: groups and non-missing values; ``k``: mean group size N/G;
        - ``tau00``: between-group (intercept) variance; ``sigma2``: residual variance;
        - ``icc1``: :math:`\tau_{00}/(\tau_{00} + \sigma^2)`, in [0, 1];
        - ``icc2``: Spearman-Brown of ``icc1`` at the mean group size (mult.icc's ICC2);
        - ``mean_reliability``: mean over groups of Spearman-Brown at each group's own size
          (multilevel::gmeanrel, psychometric::ICC2.lme with ``weighted=FALSE``);
        - ``neg2_loglik``: -2 x the restricted log-likelihood at the optimum, including the
          constant :math:`(N - 1)\log 2\pi` (Harville 1977), for checking a fit;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    The model is :math:`y_{ij} = \mu + u_j + e_{ij}`, :math:`u_j \sim N(0, \tau_{00})`,
    :math:`e_{ij} \sim N(0, \sigma^2)`. With :math:`\lambda = \tau_{00}/\sigma^2`, group sizes
    :math:`n_j`, group means :math:`\bar y_j`, within-group sum of squares SSW and weights
    :math:`w_j = n_j/(1 + n_j\lambda)`, the restricted likelihood has a closed form per group;
    profiling out :math:`\sigma^2 = Q(\lambda)/(N - 1)` leaves

    .. math::

        -2\ell_R(\lambda) = (N - 1)\log\frac{Q(\lambda)}{N - 1} + \sum_j \log(1 + n_j\lambda)
        + \log\sum_j w_j + \text{const}, \qquad
        Q(\lambda) = SSW + \sum_j w_j(\bar y_j - \hat\mu)^2

    with :math:`\hat\mu = \sum_j w_j\bar y_j / \sum_j w_j`, minimised over :math:`\lambda \ge 0`
    (a grid on :math:`\log\lambda`, then bounded Brent; the boundary :math:`\lambda = 0` is
    checked). Then :math:`ICC(1) = \lambda/(1 + \lambda)`,
    :math:`ICC(2) = \bar k\,ICC(1)/(1 + (\bar k - 1)ICC(1))` with :math:`\bar k = N/G`, and
    ``mean_reliability`` averages the same with :math:`n_j` for :math:`\bar k`. Unlike the
    ANOVA estimator it is never negative. Missing values are dropped before everything,
    including the group sizes (mult.icc counts the rows of ``grpid`` before ``lme`` drops missing
    values; identical without missing data). Validated within 1e-6 against nlme::lme,
    multilevel::mult.icc, gmeanrel and psychometric::ICC2.lme on bh1996 (the likelihood
    surface is so flat that nlme's 8th digit is optimiser noise). The loop over ``by`` units
    is the only Python loop over groups or units in this module; each fit is vectorised over
    the groups.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability: implications
    for data aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski (eds), *Multilevel
    theory, research, and methods in organizations*, 349-381. Jossey-Bass.

    Patterson, H. D. & Thompson, R. (1971). Recovery of inter-block information when block sizes
    are unequal. *Biometrika*, 58(3), 545-554.

    Harville, D. A. (1977). Maximum likelihood approaches to variance component estimation and to
    related problems. *Journal of the American Statistical Association*, 72(358), 320-338.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"council_id": list("aabbcc"), "score": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]})
    >>> icc_reml(d, group="council_id", value="score")[["tau00", "sigma2", "icc1"]].round(4)
        tau00  sigma2    icc1
    0  2.9167  0.3333  0.8974
    """
    ow = _one_way(data, group=group, value=value, by=by)
    U = len(ow.keys)
    cu = ow.cell_unit
    N = np.bincount(cu, weights=ow.n_cell, minlength=U).astype(np.int64)
    G = np.bincount(cu, minlength=U).astype(np.int64)
    ssw = np.bincount(cu, weights=ow.ss_cell, minlength=U)
    grand = _div(np.bincount(cu, weights=ow.n_cell * ow.mean_cell, minlength=U), N)
    sst = ssw + np.bincount(cu, weights=ow.n_cell * (ow.mean_cell - grand[cu]) ** 2, minlength=U)
    rules = [(N == 0, "no values"),
             (G < 2, "only one group, so there is no between-group variance to estimate"),
             (N - G < 1, "every group has one member, so there is no within-group variance"),
             (_zero(sst, N, grand), "all values are equal (no variance)"),
             (_zero(ssw, N, grand), "no variance within groups, so the model is degenerate")]
    bad = np.logical_or.reduce([m for m, _ in rules])
    tau = np.full(U, np.nan)
    sig = np.full(U, np.nan)
    neg2 = np.full(U, np.nan)
    start = np.cumsum(G) - G
    for u in np.flatnonzero(~bad):                           # one 1-D optimisation per by-unit
        sl = slice(start[u], start[u] + G[u])
        tau[u], sig[u], neg2[u] = _reml_fit(ow.n_cell[sl].astype(float), ow.mean_cell[sl], float(ssw[u]))
    icc1 = tau / (tau + sig)
    k = _div(N.astype(float), G.astype(float))
    icc2 = k * icc1 / (1 + (k - 1) * icc1)
    nj = ow.n_cell.astype(float)
    rel = nj * icc1[cu] / (1 + (nj - 1) * icc1[cu])
    mean_rel = _div(np.bincount(cu, weights=np.nan_to_num(rel), minlength=U), G.astype(float))
    mean_rel = np.where(bad, np.nan, mean_rel)
    return _result(ow.keys, {"n_groups": G, "n": N, "k": k, "tau00": tau, "sigma2": sig, "icc1": icc1,
                             "icc2": icc2, "mean_reliability": mean_rel, "neg2_loglik": neg2,
                             "reason": _reasons(U, rules)})


# --------------------------------------------------------------------------------------------
# internal consistency: Cronbach's alpha, item-total correlations
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Wide:
    keys: pd.DataFrame         # U units
    items: pd.Index            # item labels
    cell_unit: np.ndarray      # cell (unit x item) -> unit
    cell_item: np.ndarray      # cell -> item code
    first_cell: np.ndarray     # unit -> index of its first cell
    n_items: np.ndarray        # unit -> k
    W: np.ndarray              # K x respondents-in-unit: answers in the unit's item order (0 beyond k)
    wunit: np.ndarray          # respondent-in-unit -> unit (each unit's respondents contiguous)
    segments: _Segments        # where each unit's respondents start
    complete: np.ndarray       # respondent-in-unit answered every item of the unit
    n: np.ndarray              # unit -> complete respondents


def _wide(data: pd.DataFrame, *, respondent: Columns, item: str, value: str, by: Columns) -> _Wide:
    by_, resp = _cols(by, "by"), _cols(respondent, "respondent")
    if not resp:
        raise ValueError("`respondent` must name at least one column (e.g. 'respondent_key').")
    _check_columns(data, [*by_, *resp, item, value])
    x = _values(data, value)
    n = len(data)
    parts_by = [_factorize(data[c]) for c in by_]
    part_item = _factorize(data[item])
    cells, cell_unit, utable = _nest(parts_by, [part_item], n)
    keys = _keys(by_, parts_by, utable)
    U = len(keys)
    n_items = np.bincount(cell_unit, minlength=U).astype(np.int64)
    pair, pair_unit = _pairs(data, by_, parts_by, cell_unit[cells.codes], resp)
    P = len(pair_unit)
    segments = _segments(pair_unit)
    if segments is None:  # a unit's pairs are not contiguous: sort them by unit (stable counting sort)
        order = np.argsort(pair_unit.astype(np.uint16) if U < 2 ** 16 else pair_unit, kind="stable")
        rank = np.empty(P, dtype=np.int64)
        rank[order] = np.arange(P)
        pair, pair_unit = rank[pair], pair_unit[order]
        segments = _segments(pair_unit)
    slot, K = _slots(data, pair, P, cells.codes, cell_unit, n_items, resp, item, by_)
    W = np.zeros(K * P)
    W[slot] = x
    answered = np.bincount(pair, weights=~np.isnan(x), minlength=P)
    complete = answered == n_items[pair_unit]                  # listwise deletion within each unit
    n_complete = np.rint(_sums(pair_unit, U, segments)(complete)).astype(np.int64)
    return _Wide(keys=keys, items=part_item[1], cell_unit=cell_unit, cell_item=cells.column(len(parts_by)),
                 first_cell=np.cumsum(n_items) - n_items, n_items=n_items, W=W.reshape(K, P), wunit=pair_unit,
                 segments=segments, complete=complete, n=n_complete)


def _wide_columns(w: _Wide, rest: bool = False) -> dict[str, np.ndarray]:
    """Per cell (unit x item), over the complete respondents: the item variance and, with
    ``rest``, the sums of squares and cross-products of the item and the rest score (total minus
    the item). Also each respondent's total (meaningful for complete respondents only).

    Loops over the K item positions only (3 per enabler); each step is vectorised over units.
    """
    K = w.W.shape[0]
    C, U = len(w.cell_unit), len(w.keys)
    nu = w.n.astype(float)
    total = w.W.sum(axis=0)
    uniform = bool((w.n_items == K).all())          # e.g. every enabler has its 3 statements
    names = ["var"] + (["sxx", "srr", "sxr", "var_rest", "mean", "mean_rest"] if rest else [])
    out = {name: np.full(C, np.nan) for name in names}
    unit_sum = _sums(w.wunit, U, w.segments)
    for j in range(K):
        units = np.flatnonzero(w.n_items > j)
        cells = w.first_cell[units] + j
        valid = w.complete if uniform else w.complete & (w.n_items > j)[w.wunit]
        xj = w.W[j]
        if not rest:
            _, _, sxx = _moments(w.wunit, xj, U, ok=valid, segments=w.segments)
            out["var"][cells] = _div(sxx, nu - 1)[units]
            continue
        mx = _div(unit_sum(np.where(valid, xj, 0.0)), nu)
        dx = np.where(valid, xj - mx[w.wunit], 0.0)
        rj = total - xj
        mr = _div(unit_sum(np.where(valid, rj, 0.0)), nu)
        dr = np.where(valid, rj - mr[w.wunit], 0.0)
        sxx = unit_sum(dx * dx)
        srr = unit_sum(dr * dr)
        for name, v in (("sxx", sxx), ("srr", srr), ("sxr", unit_sum(dx * dr)),
                        ("var", _div(sxx, nu - 1)), ("var_rest", _div(srr, nu - 1)), ("mean", mx), ("mean_rest", mr)):
            out[name][cells] = v[units]
    out["total"] = total
    return out


def _alpha(k: np.ndarray, sum_var: np.ndarray, var_total: np.ndarray) -> np.ndarray:
    return _div(k, k - 1) * (1 - _div(sum_var, var_total))


@_share_docs
def cronbach_alpha(data: pd.DataFrame, *, respondent: Columns, item: str, value: str, by: Columns = (),
                   ci: float = 0.95) -> pd.DataFrame:
    r"""Cronbach's (1951) alpha per ``by`` unit, with Feldt's (1965) confidence interval.

    Parameters
    ----------
    {p.data}
    {p.respondent}
    {p.item}
    {p.value}
    by : str or sequence of str, default ()
        Columns defining the scales, e.g. ``"enabler_id"`` (one alpha per enabler, all councils
        pooled) or ``["council_id", "enabler_id"]``.
    ci : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` unit, sorted by ``by``, with columns

        - the ``by`` columns;
        - ``n``: respondents who answered every item of the unit (listwise deletion);
        - ``n_items``: k, the items present in the unit;
        - ``alpha``: at most 1, can be negative; ``ci_low``, ``ci_high``: Feldt interval;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        \alpha = \frac{k}{k - 1}\left(1 - \frac{\sum_{i=1}^k s_i^2}{s_T^2}\right), \qquad
        \left[1 - (1 - \alpha)F_{1-\gamma/2},\; 1 - (1 - \alpha)F_{\gamma/2}\right]

    :math:`s_i^2` is the variance of item i and :math:`s_T^2` that of the respondents' total
    scores (the ddof cancels), both over the respondents who answered every item of the unit
    (multilevel::cronbach). :math:`F_p` is the upper-p quantile of the F distribution with
    :math:`n - 1` and :math:`(n - 1)(k - 1)` degrees of freedom and :math:`\gamma = 1 -` ``ci``
    (Feldt 1965; Feldt, Woodruff & Salih 1987; as pingouin.cronbach_alpha). Alpha of 0.70 or more
    is the usual bar for a research scale; with 3 items per enabler, alpha is modest by
    construction. Validated against multilevel::cronbach on bhr2000 and lq2002.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    *Psychometrika*, 16(3), 297-334.

    Feldt, L. S. (1965). The approximate sampling distribution of Kuder-Richardson reliability
    coefficient twenty. *Psychometrika*, 30(3), 357-370.

    Feldt, L. S., Woodruff, D. J. & Salih, F. A. (1987). Statistical inference for coefficient
    alpha. *Applied Psychological Measurement*, 11(1), 93-103.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"respondent_key": ["r1", "r1", "r2", "r2", "r3", "r3"],
    ...                   "item_id": ["S1", "S2"] * 3, "score": [1.0, 2.0, 3.0, 3.0, 5.0, 4.0]})
    >>> cronbach_alpha(d, respondent="respondent_key", item="item_id", value="score")[["n", "n_items", "alpha"]]
       n  n_items     alpha
    0  3        2  0.888889
    """
    if not 0 < ci < 1:
        raise ValueError(f"The value for `ci` must be between 0 and 1, but {ci!r} was passed.")
    w = _wide(data, respondent=respondent, item=item, value=value, by=by)
    U = len(w.keys)
    st = _wide_columns(w)
    sum_var = np.bincount(w.cell_unit, weights=np.nan_to_num(st["var"]), minlength=U)
    n_t, mean_t, ss_t = _moments(w.wunit, st["total"], U, ok=w.complete, segments=w.segments)
    return _alpha_frame(w.keys, w.n, w.n_items, sum_var, n_t, mean_t, ss_t, ci)


def _alpha_frame(keys: pd.DataFrame, n: np.ndarray, n_items: np.ndarray, sum_var: np.ndarray, n_t: np.ndarray,
                 mean_t: np.ndarray, ss_t: np.ndarray, ci: float) -> pd.DataFrame:
    """The table of :func:`cronbach_alpha` from, per unit: complete respondents ``n``, items ``k``,
    the sum of the item variances and the count, mean and sum of squares of the total score."""
    U = len(keys)
    var_t = np.where(_zero(ss_t, n_t, mean_t), 0.0, _div(ss_t, (n_t - 1).astype(float)))
    k = n_items.astype(float)
    rules = [(n_items < 2, "fewer than 2 items, so alpha is undefined"),
             (n < 2, "fewer than 2 respondents answered every item"),
             (var_t == 0, "the total score has zero variance")]
    bad = np.logical_or.reduce([m for m, _ in rules])
    a = np.where(bad, np.nan, _alpha(k, sum_var, var_t))
    df1 = np.maximum(n - 1, 1).astype(float)
    df2 = df1 * np.maximum(k - 1, 1)
    lo_ = np.where(bad, np.nan, 1 - (1 - a) * stats.f.isf((1 - ci) / 2, df1, df2))
    hi_ = np.where(bad, np.nan, 1 - (1 - a) * stats.f.isf((1 + ci) / 2, df1, df2))
    return _result(keys, {"n": n, "n_items": n_items, "alpha": a, "ci_low": lo_, "ci_high": hi_,
                          "reason": _reasons(U, rules)})


@_share_docs
def item_total(data: pd.DataFrame, *, respondent: Columns, item: str, value: str, by: Columns = ()) -> pd.DataFrame:
    r"""Corrected item-total correlation and alpha if the item is deleted (multilevel::item.total).

    Parameters
    ----------
    {p.data}
    {p.respondent}
    {p.item}
    {p.value}
    by : str or sequence of str, default ()
        Columns defining the scales, e.g. ``"enabler_id"``.

    Returns
    -------
    pandas.DataFrame
        One row per ``by`` unit x item, sorted by ``by`` then item, with columns

        - the ``by`` columns and the ``item`` column;
        - ``n``: respondents who answered every item of the unit; ``n_items``: k of the unit;
        - ``item_total_r``: correlation of the item with the sum of the unit's *other* items;
        - ``alpha_if_deleted``: Cronbach's alpha of the other k - 1 items;
        {r.reason}

    Raises
    ------
    {raises}

    Notes
    -----
    .. math::

        r_{i,T-i} = \operatorname{corr}\Bigl(x_i, \sum_{l \ne i} x_l\Bigr), \qquad
        \alpha_{-i} = \frac{k - 1}{k - 2}\left(1 - \frac{\sum_{l \ne i} s_l^2}{s^2_{T - i}}\right)

    over the respondents who answered every item of the unit (listwise, as
    :func:`cronbach_alpha`). A low or negative :math:`r_{i,T-i}` (below about 0.30) flags an
    item that does not move with the rest of its scale, e.g. one that should be reverse-keyed.
    ``alpha_if_deleted`` needs k >= 3.

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests.
    *Psychometrika*, 16(3), 297-334.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"respondent_key": ["r1", "r1", "r2", "r2", "r3", "r3"],
    ...                   "item_id": ["S1", "S2"] * 3, "score": [1.0, 2.0, 3.0, 3.0, 5.0, 4.0]})
    >>> item_total(d, respondent="respondent_key", item="item_id", value="score")[["item_id", "item_total_r"]]
      item_id  item_total_r
    0      S1           1.0
    1      S2           1.0
    """
    w = _wide(data, respondent=respondent, item=item, value=value, by=by)
    keys = w.keys.iloc[w.cell_unit].reset_index(drop=True)
    keys[item] = pd.Series(w.items.take(w.cell_item))
    return _item_total_frame(keys, w.cell_unit, w.n, w.n_items, _wide_columns(w, rest=True))


def _item_total_frame(keys: pd.DataFrame, cell_unit: np.ndarray, n_unit: np.ndarray, n_items: np.ndarray,
                      st: dict[str, np.ndarray]) -> pd.DataFrame:
    """The table of :func:`item_total` from, per cell (unit x item; ``keys``, ``cell_unit``), the
    sums of squares and cross-products of :func:`_wide_columns` (``rest=True``) and, per unit,
    the complete respondents ``n_unit`` and items ``n_items``."""
    U = len(n_unit)
    C = len(cell_unit)
    sxx, ss_r, var_c, var_rest = st["sxx"], st["srr"], st["var"], st["var_rest"]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = st["sxr"] / np.sqrt(sxx * ss_r)
    sum_var = np.bincount(cell_unit, weights=np.nan_to_num(var_c), minlength=U)
    k = n_items[cell_unit].astype(float)
    a_del = _alpha(k - 1, sum_var[cell_unit] - var_c, var_rest)
    n = n_unit[cell_unit]
    flat = _zero(sxx, n, st["mean"]) | _zero(ss_r, n, st["mean_rest"])
    rules = [(k < 2, "fewer than 2 items, so there is no rest score"),
             (n < 2, "fewer than 2 respondents answered every item"),
             (flat, "the item or the rest score has zero variance"),
             (k < 3, "alpha if deleted needs at least 3 items")]
    bad_r = np.logical_or.reduce([m for m, _ in rules[:3]])
    r = np.where(bad_r, np.nan, r)
    a_del = np.where(bad_r | (k < 3), np.nan, a_del)
    return _result(keys, {"n": n, "n_items": k.astype(np.int64), "item_total_r": r, "alpha_if_deleted": a_del,
                          "reason": _reasons(C, rules)})


# --------------------------------------------------------------------------------------------
# aggregation decision
# --------------------------------------------------------------------------------------------
def _fmt(values: pd.Series, threshold: float) -> pd.Series:
    # Round away float noise first (1e-15 between two summation orders of the same statistic) so
    # that a value on a rounding boundary prints the same whichever exact path computed it.
    values = values.round(9)
    two = values.map("{:.2f}".format)
    three = values.map("{:.3f}".format)
    return two.where(two != f"{threshold:.2f}", three)


def aggregation_check(table: pd.DataFrame, *, min_n: int, rwg_min: float = 0.70, ad_max: float | None = None,
                      n_options: int = 5) -> pd.DataFrame:
    r"""Say, per group, whether a council mean is a fair summary of its staff's answers.

    Parameters
    ----------
    table : pandas.DataFrame
        A table with columns ``n``, ``rwg_j`` and ``ad_m``, e.g. from :func:`agreement_table` or a
        merge of :func:`rwg_j` and :func:`ad_m`. It is not modified.
    min_n : int
        Fewest respondents for a council score to be shown (``privacy.disclosure_threshold``).
    rwg_min : float, default 0.70
        Smallest rwg(j) that counts as agreement.
    ad_max : float, optional
        Largest AD_M that counts as agreement. Default :math:`A/6` (0.83 for 5 options).
    n_options : int, default 5
        Answer options A, used for the default ``ad_max``.

    Returns
    -------
    pandas.DataFrame
        ``table`` with two more columns:

        - ``aggregation_ok``: bool, True when ``n >= min_n``, ``rwg_j >= rwg_min`` and
          ``ad_m <= ad_max`` (a NaN statistic fails);
        - ``aggregation_note``: every reason it fails, in plain words, joined by "; " (e.g.
          "fewer than 5 respondents", "staff disagree (rwg(j) 0.52 < 0.70)"); missing when OK.

    Raises
    ------
    SchemaMismatchError
        ``table`` lacks ``n``, ``rwg_j`` or ``ad_m``.

    Notes
    -----
    A council score is the mean of its staff's answers. It describes "the council" only if staff
    broadly agree; otherwise it averages away two different experiences. The check asks three
    questions: are there enough respondents (``min_n``), do they agree more than random answering
    would (:math:`r_{wg(j)} \ge 0.70`, James, Demaree & Wolf 1984; LeBreton & Senter 2008), and is
    the typical distance from the group mean small (:math:`AD_M \le A/6`, Burke & Dunlap 2002).
    These cut-offs are conventions, not tests; a failed check means "report the spread, not just
    the mean", not "the data are wrong".

    References
    ----------
    LeBreton, J. M. & Senter, J. L. (2008). Answers to 20 questions about interrater reliability
    and interrater agreement. *Organizational Research Methods*, 11(4), 815-852.

    Burke, M. J. & Dunlap, W. P. (2002). Estimating interrater agreement with the average deviation
    index: a user's guide. *Organizational Research Methods*, 5(2), 159-172.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"n": [12, 3, 20], "rwg_j": [0.81, 0.90, 0.52], "ad_m": [0.55, 0.40, 0.95]})
    >>> out = aggregation_check(t, min_n=5)
    >>> out["aggregation_ok"].tolist()
    [True, False, False]
    >>> out["aggregation_note"].tolist()  # doctest: +NORMALIZE_WHITESPACE
    [nan, 'fewer than 5 respondents',
     'staff disagree (rwg(j) 0.52 < 0.70); answers spread out (AD_M 0.95 > 0.83)']
    """
    _check_columns(table, ["n", "rwg_j", "ad_m"])
    ad_max_ = float(n_options) / 6 if ad_max is None else float(ad_max)
    n = pd.to_numeric(table["n"]).to_numpy(dtype=float, na_value=np.nan)
    rj = pd.Series(pd.to_numeric(table["rwg_j"]).to_numpy(dtype=float, na_value=np.nan))
    ad = pd.Series(pd.to_numeric(table["ad_m"]).to_numpy(dtype=float, na_value=np.nan))
    small = ~(n >= min_n)
    no_r, low_r = rj.isna().to_numpy(), (rj < rwg_min).to_numpy()
    no_ad, high_ad = ad.isna().to_numpy(), (ad > ad_max_).to_numpy()
    parts = [
        np.where(small, f"fewer than {min_n} respondents", ""),
        np.where(no_r & ~small, "rwg(j) could not be computed", ""),
        np.where(low_r, "staff disagree (rwg(j) " + _fmt(rj, rwg_min) + f" < {rwg_min:.2f})", ""),
        np.where(no_ad & ~small, "AD_M could not be computed", ""),
        np.where(high_ad, "answers spread out (AD_M " + _fmt(ad, ad_max_) + f" > {ad_max_:.2f})", ""),
    ]
    note = pd.Series(parts[0], dtype=object)
    for p in parts[1:]:
        p = pd.Series(p, dtype=object)
        note = note.where(p == "", note.where(note == "", note + "; ") + p)
    ok = ~(small | no_r | low_r | no_ad | high_ad)
    out = table.copy()
    out["aggregation_ok"] = ok
    out["aggregation_note"] = pd.Series(np.where(ok, None, note.to_numpy()), index=out.index, dtype="str")
    return out


@_share_docs
def agreement_table(responses: pd.DataFrame, *, by: Columns, item: str, value: str, respondent: Columns,
                    unit_scores: pd.DataFrame | None = None, unit_by: Columns | None = None,
                    unit_value: str | None = None, n_options: int = 5, null_variance: float | None = None,
                    min_n: int = 5, rwg_min: float = 0.70, ad_max: float | None = None,
                    missing: Literal["itemwise", "listwise"] = "itemwise", low_max: float = 2.0,
                    high_min: float = 4.0) -> pd.DataFrame:
    r"""rwg(j), r*wg(j), AD_M, polarisation and the aggregation check in one table per group.

    Parameters
    ----------
    responses : pandas.DataFrame
        The tidy item-level table (one row per respondent x item).
    {p.by}
    {p.item}
    {p.value}
    {p.respondent}
    unit_scores : pandas.DataFrame, optional
        Respondent-level scores (e.g. ``respondent_scores`` at level ``'enabler'``). When given,
        polarisation is computed from these scores (one per respondent); otherwise from the
        item answers (each answer counts once).
    unit_by : str or sequence of str, optional
        The columns of ``unit_scores`` that correspond to ``by``, in the same order (e.g.
        ``["council_id", "unit_id"]`` for ``by=["council_id", "enabler_id"]``). Default: ``by``.
    unit_value : str, optional
        Score column of ``unit_scores``. Default: ``value``.
    {p.n_options}
    {p.null_variance}
    min_n, rwg_min, ad_max
        Passed to :func:`aggregation_check`.
    {p.missing}
    low_max, high_min
        Passed to :func:`polarisation`.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by ``by``, with columns ``by..., n, n_items,
        mean_item_variance, rwg_j, rwg_j_lindell, ad_m, share_low, share_high, polarisation,
        aggregation_ok, aggregation_note, reason`` (see :func:`rwg_j`, :func:`ad_m`,
        :func:`polarisation`, :func:`aggregation_check`). ``reason`` joins the reasons of the parts.

    Raises
    ------
    {raises}

    Notes
    -----
    The item-level statistics share one pass over ``responses`` (the keys are factorised once).
    ``ad_m`` uses the same missing-data rule as ``rwg_j``. Polarisation from ``unit_scores`` is
    the better choice: it asks whether *people* are split, while item answers mix people and
    statements. Groups present in ``responses`` but not in ``unit_scores`` get NaN polarisation.

    References
    ----------
    See :func:`rwg_j`, :func:`ad_m` and :func:`aggregation_check`.
    """
    by_ = _cols(by, "by")
    sigma2 = _null_variance(n_options, null_variance)
    cells = _item_cells(responses, by=by_, item=item, value=value, respondent=respondent, missing=missing)
    return _agreement_frame(cells, None, by=by_, value=value, sigma2=sigma2, unit_scores=unit_scores,
                            unit_by=unit_by, unit_value=unit_value, n_options=n_options, min_n=min_n,
                            rwg_min=rwg_min, ad_max=ad_max, low_max=low_max, high_min=high_min)


def _agreement_frame(cells: _Cells, ad_cell: np.ndarray | None, *, by: list[str], value: str, sigma2: float,
                     unit_scores: pd.DataFrame | None, unit_by: Columns | None, unit_value: str | None,
                     n_options: int, min_n: int, rwg_min: float, ad_max: float | None, low_max: float,
                     high_min: float) -> pd.DataFrame:
    """The table of :func:`agreement_table` from the item cells of its groups.

    ``ad_cell``: each cell's mean absolute deviation from the cell mean; computed from the rows of
    ``cells`` when None (a caller that has it from elsewhere passes it, and ``unit_scores``).
    """
    by_ = by
    rj = _rwg_j_columns(cells, sigma2)
    ad = _ad_columns(cells, "mean", ad_cell)
    cols = {k: rj[k] for k in ("n", "n_items", "mean_item_variance", "rwg_j", "rwg_j_lindell")}
    cols["ad_m"] = ad["ad_m"]
    out = _result(cells.keys, cols)
    if unit_scores is not None:
        ub = _cols(unit_by, "unit_by") if unit_by is not None else by_
        if len(ub) != len(by_):
            raise ValueError(f"`unit_by` must name one column per `by` column ({by_!r}), but {ub!r} was passed.")
        pol = polarisation(unit_scores, by=ub, value=unit_value or value, low_max=low_max, high_min=high_min)
        pol = pol.rename(columns=dict(zip(ub, by_)))
    else:
        ok = ~np.isnan(cells.x)
        sub = pd.DataFrame({"_g": cells.cell_group[cells.cell[ok]], "_x": cells.x[ok]})
        pol = polarisation(sub, by="_g", value="_x", low_max=low_max, high_min=high_min)
        pol = pd.concat([cells.keys.iloc[pol["_g"].to_numpy()].reset_index(drop=True),
                         pol.drop(columns="_g")], axis=1)
    pol = pol[[*by_, "share_low", "share_high", "polarisation", "reason"]].rename(columns={"reason": "_pol_reason"})
    if by_:
        out = out.merge(pol, on=by_, how="left", sort=False)
    else:
        out = pd.concat([out, pol.reset_index(drop=True)], axis=1)
    out = aggregation_check(out, min_n=min_n, rwg_min=rwg_min, ad_max=ad_max, n_options=n_options)
    r1 = pd.Series(rj["reason"], dtype=object)
    r2 = out.pop("_pol_reason").astype(object).where(lambda s: s.notna(), None)
    r2 = r2.where(r2.isna() | (r2.to_numpy() != r1.to_numpy()), None)    # say the same thing once
    joined = np.where(r1.isna(), r2, np.where(r2.isna(), r1, r1.astype(str) + "; " + r2.astype(str)))
    out["reason"] = pd.Series(joined, dtype="str")
    return out
