"""Maturity scores: respondent, council and cohort.

Three steps, each a pure function from one tidy table to another (see ``docs/architecture.md`` and
``docs/methodology.md``):

1. :func:`respondent_scores` turns the tidy responses table (one row per respondent x item) into
   one score per respondent x unit, where a unit is an enabler, a grouping of enablers or the
   overall score. Missing answers are handled by explicit completeness rules (2 of 3 statements
   per enabler; two thirds of the enablers, rounded up, per grouping and overall).
2. :func:`summarise` describes those scores per wave x council x unit, plus pooled cohort rows.
3. :func:`score_wave` runs both with the values from ``settings.yml``.

Everything is vectorised over respondents (``np.bincount`` and array reductions); the only Python
loops run over the units of the instrument (11 enablers, 3 groupings), never over respondents or
councils. Nothing is rounded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import ConfigError, InsufficientDataError, SchemaMismatchError
from .instrument import Instrument, required_count, required_fraction

logger = logging.getLogger(__name__)

__all__ = [
    "COHORT_ID",
    "COHORT_NAME",
    "LEVELS",
    "OVERALL_ID",
    "RESPONDENT_SCORE_COLUMNS",
    "SUMMARY_COLUMNS",
    "respondent_scores",
    "score_wave",
    "summarise",
]

#: The levels of a respondent score, in report order.
LEVELS: tuple[str, ...] = ("enabler", "grouping", "overall")
#: ``unit_id`` and ``unit_name`` of the overall score.
OVERALL_ID = "overall"
OVERALL_NAME = "Overall"
#: ``council_id`` and ``council_name`` of the pooled cohort rows of a summary.
COHORT_ID = "COHORT"
COHORT_NAME = "Cohort (all councils)"
#: The forms of the instrument, in code order.
FORMS: tuple[str, ...] = ("full", "short")

#: Columns the responses table must have (``perspective`` and ``enabler_id`` are optional:
#: a missing ``perspective`` becomes NA; ``enabler_id`` is taken from the instrument and, when
#: present, checked against it).
RESPONSE_REQUIRED: tuple[str, ...] = ("wave", "council_id", "council_name", "respondent_key", "form",
                                      "item_id", "score")
RESPONDENT_KEYS: list[str] = ["wave", "council_id", "respondent_key"]
RESPONDENT_SCORE_COLUMNS: list[str] = ["wave", "council_id", "council_name", "respondent_key", "perspective",
                                       "level", "unit_id", "unit_name", "n_answered", "n_required", "score"]
SUMMARY_COLUMNS: list[str] = ["wave", "scope", "council_id", "council_name", "level", "unit_id", "unit_name",
                              "n", "mean", "sd", "median", "q1", "q3", "favourable_pct", "unfavourable_pct"]
_SUMMARY_STATS: list[str] = ["n", "mean", "sd", "median", "q1", "q3", "favourable_pct", "unfavourable_pct"]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------
def _check_columns(data: pd.DataFrame, required: Sequence[str], *, what: str, hint: str) -> None:
    missing = [c for c in required if c not in data.columns]
    if missing:
        names = ", ".join(repr(c) for c in missing)
        raise SchemaMismatchError(
            f"the {what} has no column{'s' if len(missing) > 1 else ''} {names} "
            f"(it has: {', '.join(map(str, data.columns)) or 'no columns'})",
            column=missing[0], hint=hint)


def _examples(values: pd.Series | np.ndarray, k: int = 3) -> str:
    uniq = pd.unique(pd.Series(values).astype("object"))[:k]
    return ", ".join(repr(v) for v in uniq)


def _respondent_label(data: pd.DataFrame, row: int) -> str:
    r = data.iloc[row]
    return f"respondent {r['respondent_key']!r} of council {r['council_id']!r}, wave {r['wave']!r}"


def _consistent_within(codes: np.ndarray, resp: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Boolean mask of rows whose code differs from the code on their respondent's first row."""
    return codes != codes[first][resp]


# --------------------------------------------------------------------------------------------
# respondent scores
# --------------------------------------------------------------------------------------------
def respondent_scores(data: pd.DataFrame, *, instrument: Instrument, min_items: int = 2,
                      min_enabler_fraction: float = 2 / 3) -> pd.DataFrame:
    r"""Score each respondent on every enabler, grouping and overall.

    Parameters
    ----------
    data
        The tidy responses table (``docs/architecture.md``): one row per respondent x item of the
        form they answered, with columns ``wave, council_id, council_name, respondent_key, form,
        item_id, score`` and optionally ``perspective`` and ``enabler_id``. ``score`` is a float
        on the instrument's scale, NaN when the answer is missing. A respondent is identified by
        ``(wave, council_id, respondent_key)``.
    instrument
        The instrument the data were collected with: it gives each item's enabler, each
        enabler's grouping, and how many items each enabler has in each form.
    min_items
        Statements needed for a valid enabler score (``settings.yml``:
        ``scoring.min_items_per_enabler``), capped at the number of items the enabler has in the
        respondent's form: 2 of 3 on the full form, 1 of 1 on the short form.
    min_enabler_fraction
        Share of a grouping's enablers (rounded up) that must have a valid score for a valid
        grouping score; the same share of all enablers for the overall score (``settings.yml``:
        ``scoring.min_enabler_fraction``). With 2/3: Mindset 2 of 2, Behaviours 3 of 4,
        Infrastructure 4 of 5, overall 8 of 11.

    Returns
    -------
    pandas.DataFrame
        One row per respondent x unit, respondents sorted by ``wave, council_id,
        respondent_key`` and, within a respondent, enablers then groupings (instrument order)
        then overall. Columns:

        - ``wave, council_id, council_name, respondent_key, perspective``: the respondent;
        - ``level``: ``'enabler'``, ``'grouping'`` or ``'overall'``;
        - ``unit_id``: ``E01`` .., ``G1`` .. or ``'overall'``; ``unit_name``: its name;
        - ``n_answered``: valid statements (enabler) or valid enabler scores (grouping, overall);
        - ``n_required``: how many are needed for a valid score;
        - ``score``: float, unrounded; NaN when ``n_answered < n_required``.

    Raises
    ------
    SchemaMismatchError
        A required column is missing; an ``item_id`` is not in the instrument; an item belongs to
        the other form than the row's ``form``; ``form`` is not ``'full'``/``'short'``; a score is
        not numeric or outside the scale; an ``enabler_id`` disagrees with the instrument; a
        respondent answers the same item twice or has more than one ``form``, ``council_name`` or
        ``perspective``.
    InsufficientDataError
        The table has no rows.

    Notes
    -----
    For respondent :math:`r` and enabler :math:`e` with items :math:`I_e^{f(r)}` in the
    respondent's form :math:`f(r)`, let :math:`A_{re} \subseteq I_e^{f(r)}` be the items answered
    on the scale (not missing). Then

    .. math::

        k_{re} = \max\bigl(1, \min(m, |I_e^{f(r)}|)\bigr), \qquad
        s_{re} = \begin{cases} \frac{1}{|A_{re}|}\sum_{i \in A_{re}} x_{ri} & |A_{re}| \ge k_{re}\\
                 \text{NaN} & \text{otherwise}\end{cases}

    with :math:`m` = ``min_items``. For a grouping :math:`g` with enablers :math:`E_g` and
    :math:`V_{rg} = \{e \in E_g : s_{re} \text{ valid}\}`,

    .. math::

        k_g = \max\bigl(1, \lceil \phi\,|E_g| \rceil\bigr), \qquad
        s_{rg} = \frac{1}{|V_{rg}|}\sum_{e \in V_{rg}} s_{re} \quad \text{if } |V_{rg}| \ge k_g

    with :math:`\phi` = ``min_enabler_fraction``; the overall score is the same over all enablers
    (a mean of enabler scores, so every enabler weighs the same, not a mean of grouping scores).
    A respondent's scale score is the mean of the items answered: the usual summated-rating score
    of Likert (1932), divided by the number of items so that it stays on the 1..5 answer scale.
    Checked by hand against ``tests/conftest.py::tiny_responses`` (``tests/test_scoring.py``).

    References
    ----------
    Likert, R. (1932). A technique for the measurement of attitudes. *Archives of Psychology*,
    22(140), 1-55.

    Collaborate for Nesta (2020). *From the Margins to the Mainstream*, section 2.1.
    """
    hint = "Build the responses table with the ingest step (see docs/architecture.md, 'responses')."
    _check_columns(data, RESPONSE_REQUIRED, what="responses table", hint=hint)
    if len(data) == 0:
        raise InsufficientDataError("the responses table has no rows, so there is nothing to score",
                                    hint="Check quarantine.csv to see why every row was set aside.")
    items = instrument.items
    enabler_ids = instrument.enabler_ids
    grouping_ids = instrument.grouping_ids
    n_e, n_g = len(enabler_ids), len(grouping_ids)

    # ---- items -> (enabler, slot); each (form, enabler) has slots 0..n_items-1 -------------
    item_pos = pd.Index(items["item_id"]).get_indexer(data["item_id"])
    if (item_pos < 0).any():
        bad = data["item_id"][item_pos < 0]
        raise SchemaMismatchError(
            f"{len(bad)} row(s) have an item_id that instrument {instrument.id!r} does not define "
            f"(e.g. {_examples(bad)}); expected ids such as {_examples(items['item_id'])}",
            column="item_id",
            hint="Map the export's columns to the instrument's item ids in ingest, or score with the instrument the data were collected with.")
    item_enabler = pd.Index(enabler_ids).get_indexer(items["enabler_id"])
    item_form = pd.Index(FORMS).get_indexer(items["form"])
    item_slot = items.groupby(["form", "enabler_id"], sort=False).cumcount().to_numpy()
    n_slots = int(item_slot.max()) + 1
    e_of_row = item_enabler[item_pos]
    slot_of_row = item_slot[item_pos]

    if "enabler_id" in data.columns:
        expected = np.asarray(enabler_ids, dtype=object)[e_of_row]
        wrong = data["enabler_id"].astype("object").to_numpy() != expected
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise SchemaMismatchError(
                f"{int(wrong.sum())} row(s) give an enabler_id that disagrees with the instrument "
                f"(e.g. item {data['item_id'].iloc[i]!r} has enabler_id {data['enabler_id'].iloc[i]!r}, "
                f"but the instrument puts it under {expected[i]!r})",
                column="enabler_id", hint=hint)

    form_code = pd.Index(FORMS).get_indexer(data["form"])
    if (form_code < 0).any():
        raise SchemaMismatchError(
            f"form must be 'full' or 'short', but {_examples(data['form'][form_code < 0])} was found",
            column="form", hint=hint)
    other_form = item_form[item_pos] != form_code
    if other_form.any():
        i = int(np.flatnonzero(other_form)[0])
        raise SchemaMismatchError(
            f"{int(other_form.sum())} row(s) hold an item of the other form (e.g. item "
            f"{data['item_id'].iloc[i]!r} for {_respondent_label(data, i)}, whose form is "
            f"{data['form'].iloc[i]!r})", column="item_id", hint=hint)

    # ---- scores ------------------------------------------------------------------------------
    if not (pd.api.types.is_numeric_dtype(data["score"]) and not pd.api.types.is_bool_dtype(data["score"])):
        raise SchemaMismatchError(
            f"score must be numeric (NaN for a missing answer), but it has dtype {data['score'].dtype} "
            f"(e.g. {_examples(data['score'])})", column="score",
            hint="Convert answers to scale codes with analysis.cleaning before scoring.")
    x = data["score"].to_numpy(dtype="float64", na_value=np.nan)
    answered = ~np.isnan(x)
    lo, hi = instrument.scale.min, instrument.scale.max
    outside = answered & ((x < lo) | (x > hi))
    if outside.any():
        raise SchemaMismatchError(
            f"{int(outside.sum())} score(s) lie outside the scale {lo}..{hi} (e.g. {_examples(x[outside])})",
            column="score", hint="Out-of-range answers should be NaN in the responses table (see cell_issues.csv).")

    # ---- respondents: codes sorted by (wave, council_id, respondent_key) ---------------------
    resp = data.groupby(RESPONDENT_KEYS, sort=True, dropna=False).ngroup().to_numpy()
    n_r = int(resp.max()) + 1
    _, first = np.unique(resp, return_index=True)  # first row of each respondent, in code order
    attrs = ["council_name", "form"] + (["perspective"] if "perspective" in data.columns else [])
    for col in attrs:
        codes = form_code if col == "form" else pd.factorize(data[col], use_na_sentinel=True)[0]
        bad = _consistent_within(codes, resp, first)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SchemaMismatchError(
                f"{_respondent_label(data, i)} has more than one {col} "
                f"({data[col].iloc[first[resp[i]]]!r} and {data[col].iloc[i]!r})", column=col,
                hint="Each respondent answers one form from one perspective; check the respondent keys made by ingest.")

    # ---- one cell per respondent x enabler x slot -------------------------------------------
    cell = (resp.astype(np.int64) * n_e + e_of_row) * n_slots + slot_of_row
    size = n_r * n_e * n_slots
    counts = np.bincount(cell, minlength=size)
    if (counts > 1).any():
        dup = np.flatnonzero(counts[cell] > 1)[0]
        raise SchemaMismatchError(
            f"{_respondent_label(data, int(dup))} has item {data['item_id'].iloc[dup]!r} more than once; "
            "each respondent answers each item once", column="item_id",
            hint="Remove superseded duplicates in ingest (quarantine reason 'superseded_duplicate').")
    # Each cell holds at most one value, so the sums below do not depend on the row order.
    values = np.full(size, np.nan)
    values[cell] = x
    values = values.reshape(n_r, n_e, n_slots)
    e_answered = (~np.isnan(values)).sum(axis=2)
    e_sum = np.nansum(values, axis=2)

    # ---- completeness rules (loops over the instrument's units only) -------------------------
    ipe = instrument.items_per_enabler()
    n_items = np.zeros((len(FORMS), n_e), dtype=np.int64)
    n_items[pd.Index(FORMS).get_indexer(ipe["form"]), pd.Index(enabler_ids).get_indexer(ipe["enabler_id"])] = ipe["n_items"]
    req_table = np.array([[required_count(n, min_items) for n in row] for row in n_items], dtype=np.int64)
    resp_form = form_code[first]
    e_required = req_table[resp_form]                                 # (R, E)
    e_score = np.full((n_r, n_e), np.nan)
    np.divide(e_sum, e_answered, out=e_score, where=e_answered >= e_required)

    e_valid = ~np.isnan(e_score)
    grouping_of = instrument.enablers["grouping_id"].to_numpy()
    members = [np.flatnonzero(grouping_of == g) for g in grouping_ids] + [np.arange(n_e)]
    u_answered = np.empty((n_r, n_g + 1), dtype=np.int64)
    u_required = np.empty((n_r, n_g + 1), dtype=np.int64)
    u_score = np.full((n_r, n_g + 1), np.nan)
    for j, cols in enumerate(members):
        n_valid = e_valid[:, cols].sum(axis=1)
        total = np.nansum(e_score[:, cols], axis=1)
        k = required_fraction(len(cols), min_enabler_fraction)
        u_answered[:, j] = n_valid
        u_required[:, j] = k
        np.divide(total, n_valid, out=u_score[:, j], where=n_valid >= k)

    # ---- assemble: respondent-major, then enablers, groupings, overall ----------------------
    unit_level = ["enabler"] * n_e + ["grouping"] * n_g + ["overall"]
    unit_ids = enabler_ids + grouping_ids + [OVERALL_ID]
    unit_names = (instrument.enablers["enabler_name"].tolist() + instrument.groupings["grouping_name"].tolist()
                  + [OVERALL_NAME])
    n_u = len(unit_ids)
    who = data.iloc[first][["wave", "council_id", "council_name", "respondent_key"]].reset_index(drop=True)
    if "perspective" in data.columns:
        who["perspective"] = data["perspective"].iloc[first].reset_index(drop=True)
    else:
        who["perspective"] = pd.Series(pd.NA, index=who.index, dtype="object")
    out = who.iloc[np.repeat(np.arange(n_r), n_u)].reset_index(drop=True).assign(
        level=np.tile(np.asarray(unit_level, dtype=object), n_r),
        unit_id=np.tile(np.asarray(unit_ids, dtype=object), n_r),
        unit_name=np.tile(np.asarray(unit_names, dtype=object), n_r),
        n_answered=np.concatenate([e_answered, u_answered], axis=1).ravel().astype(np.int64),
        n_required=np.concatenate([e_required, u_required], axis=1).ravel().astype(np.int64),
        score=np.concatenate([e_score, u_score], axis=1).ravel(),
    )
    for col in ("level", "unit_id", "unit_name"):
        out[col] = out[col].astype("str")
    logger.debug("scored %d respondents x %d units", n_r, n_u)
    return out[RESPONDENT_SCORE_COLUMNS]


# --------------------------------------------------------------------------------------------
# summaries
# --------------------------------------------------------------------------------------------
def _describe(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """n, mean, sd, median, q1, q3 and favourable/unfavourable shares of ``score`` per group."""
    g = df.groupby(keys, sort=False, dropna=False, observed=True)
    stats = g.agg(council_name=("council_name", "first"), unit_name=("unit_name", "first"),
                  n=("score", "count"), mean=("score", "mean"), sd=("score", "std"),
                  median=("score", "median"), _fav=("_fav", "sum"), _unf=("_unf", "sum"))
    score = g["score"]
    stats["q1"] = score.quantile(0.25, interpolation="linear")
    stats["q3"] = score.quantile(0.75, interpolation="linear")
    n = stats["n"].astype("float64")
    stats["favourable_pct"] = (stats.pop("_fav") / n).where(n > 0)
    stats["unfavourable_pct"] = (stats.pop("_unf") / n).where(n > 0)
    return stats.reset_index()


def summarise(scores: pd.DataFrame, *, level: str | Sequence[str] = "enabler",
              by: Sequence[str] = ("wave", "council_id"), favourable_min: float = 4,
              unfavourable_max: float = 2, cohort: bool = True,
              instrument: Instrument | None = None, engine: str = "pandas") -> pd.DataFrame:
    r"""Describe respondent scores per wave x council x unit, with pooled cohort rows.

    Parameters
    ----------
    scores
        The output of :func:`respondent_scores` (one row per respondent x unit).
    level
        ``'enabler'``, ``'grouping'`` or ``'overall'``, or a sequence of them (for example
        ``('grouping', 'overall')``).
    by
        Grouping columns; must include ``'wave'`` and ``'council_id'``. Extra columns (for
        example ``'perspective'``) split both council and cohort rows further and appear in the
        output after ``council_name``.
    favourable_min
        A score ``>= favourable_min`` counts as favourable (``settings.yml``: 4, Agree or Strongly
        agree on average).
    unfavourable_max
        A score ``<= unfavourable_max`` counts as unfavourable (``settings.yml``: 2).
    cohort
        Add the pooled cohort rows (``scope='cohort'``).
    instrument
        Optional: sort units in instrument order (enablers, then groupings, then overall).
        Without it, units are sorted in the order they first appear in ``scores``, which is
        instrument order for :func:`respondent_scores` output but depends on the row order of a
        reordered table.
    engine
        ``'pandas'`` (default: pandas groupby) or ``'numpy'``: the same table computed from
        integer codes with ``np.bincount`` and one sort per scope, several times faster on large
        tables (``analysis.wave_stats`` uses it for the perspective breakdown). Counts, shares,
        medians and quartiles are identical; means and standard deviations agree to rounding
        (sums are taken in another order: relative differences up to about 1e-13 on groups of
        100,000 scores, where pandas' running variance is the less accurate of the two). Tables the numpy engine does not take
        (missing key values, names missing, duplicate rows) go the pandas way, which also
        reports the problem.

    Returns
    -------
    pandas.DataFrame
        One row per wave x council x unit (``scope='council'``; a council whose respondents all
        lack a valid score has ``n=0`` and NaN statistics) and, with ``cohort=True``, one row per
        wave x unit pooling every respondent of the wave (``scope='cohort'``, ``council_id``
        ``'COHORT'``, ``council_name`` ``'Cohort (all councils)'``). Columns ``wave, scope,
        council_id, council_name, level, unit_id, unit_name`` and

        - ``n``: respondents with a valid score (each respondent counts once);
        - ``mean``; ``sd`` (``ddof=1``, NaN when ``n < 2``);
        - ``median``, ``q1``, ``q3``: quantiles by linear interpolation (numpy ``'linear'``,
          R type 7);
        - ``favourable_pct``, ``unfavourable_pct``: *fractions* (0..1) of valid scores
          ``>= favourable_min`` and ``<= unfavourable_max``; NaN when ``n = 0``.

        Sorted (stably) by wave, scope (council rows first), council_id, level
        (enabler, grouping, overall) and unit (instrument order; see ``instrument``). Unrounded.

    Raises
    ------
    SchemaMismatchError
        A required column is missing, or a respondent has more than one row for a unit.
    ValueError
        ``level`` is not a known level, ``by`` lacks ``'wave'`` or ``'council_id'``, or
        ``engine`` is not ``'pandas'`` or ``'numpy'``.

    Notes
    -----
    For the :math:`n` valid scores :math:`s_1..s_n` of a group,

    .. math::

        \bar s = \frac{1}{n}\sum_j s_j, \qquad
        sd = \sqrt{\frac{1}{n-1}\sum_j (s_j - \bar s)^2}, \qquad
        Q(p) = s_{(\lfloor h \rfloor)} + (h - \lfloor h \rfloor)\,(s_{(\lfloor h \rfloor + 1)} - s_{(\lfloor h \rfloor)}),
        \; h = (n - 1)p + 1

    (order statistics :math:`s_{(1)} \le \dots \le s_{(n)}`; Hyndman & Fan 1996 definition 7,
    the default of R and numpy). ``favourable_pct`` :math:`= \#\{j: s_j \ge a\}/n`,
    ``unfavourable_pct`` :math:`= \#\{j: s_j \le b\}/n`; both boundaries count.

    The cohort row pools respondents: its mean weighs every respondent equally, so large
    councils weigh more. The "typical council" benchmark (median of council means, each council
    once) is computed by :func:`analysis.compare.council_vs_cohort`. These are descriptive
    statistics; the diagnostic's own caveat applies: the scores serve as an indicator only.

    References
    ----------
    Hyndman, R. J. & Fan, Y. (1996). Sample quantiles in statistical packages. *The American
    Statistician*, 50(4), 361-365.

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"wave": "w1", "council_id": ["a", "a", "b"], "council_name": ["A", "A", "B"],
    ...                   "respondent_key": ["r1", "r2", "r3"], "level": "enabler", "unit_id": "E01",
    ...                   "unit_name": "Systems", "score": [4.0, 2.0, 3.0]})
    >>> summarise(s)[["scope", "council_id", "n", "mean", "favourable_pct"]]
         scope council_id  n  mean  favourable_pct
    0  council          a  2   3.0        0.500000
    1  council          b  1   3.0        0.000000
    2   cohort     COHORT  3   3.0        0.333333
    """
    levels = (level,) if isinstance(level, str) else tuple(level)
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or not levels:
        raise ValueError(f"The value for `level` must be one of {LEVELS} (or a sequence of them), "
                         f"but {level!r} was passed.")
    by = list(by)
    if "wave" not in by or "council_id" not in by:
        raise ValueError(f"`by` must include 'wave' and 'council_id', but {tuple(by)!r} was passed.")
    if engine not in ("pandas", "numpy"):
        raise ValueError(f"The value for `engine` must be 'pandas' or 'numpy', but {engine!r} was passed.")
    needed = list(dict.fromkeys([*by, "council_name", "respondent_key", "level", "unit_id", "unit_name", "score"]))
    _check_columns(scores, needed, what="respondent scores table",
                   hint="Pass the output of analysis.scoring.respondent_scores.")
    extra = [c for c in by if c not in ("wave", "council_id")]
    if engine == "numpy":
        fast = _summarise_numpy(scores, levels=levels, by=by, extra=extra, favourable_min=favourable_min,
                                unfavourable_max=unfavourable_max, cohort=cohort, instrument=instrument)
        if fast is not None:
            return fast
    df = scores.loc[scores["level"].isin(levels), needed]
    dup = df.duplicated(["wave", "council_id", "respondent_key", "level", "unit_id"])
    if dup.any():
        r = df[dup].iloc[0]
        raise SchemaMismatchError(
            f"respondent {r['respondent_key']!r} of council {r['council_id']!r}, wave {r['wave']!r} has "
            f"{int(dup.sum()) + 1} or more rows for unit {r['unit_id']!r}; each respondent must count once",
            column="respondent_key", hint="Pass the output of respondent_scores once (not concatenated twice).")
    s = df["score"].astype("float64")
    df = df.assign(score=s, _fav=(s >= favourable_min).astype("float64"),
                   _unf=(s <= unfavourable_max).astype("float64"))

    if instrument is not None:
        unit_order = pd.Index([*instrument.enabler_ids, *instrument.grouping_ids, OVERALL_ID])
        unit_order = unit_order.append(pd.Index(pd.unique(df.loc[~df["unit_id"].isin(unit_order), "unit_id"])))
    else:
        unit_order = pd.Index(pd.unique(df["unit_id"]))
    council_keys = [*by, "level", "unit_id"]
    parts = [_describe(df, council_keys).assign(scope="council")]
    if cohort:
        cohort_keys = ["wave", *extra, "level", "unit_id"]
        pooled = _describe(df, cohort_keys)
        parts.append(pooled.assign(scope="cohort", council_id=COHORT_ID, council_name=COHORT_NAME))
    return _assemble(parts, extra, unit_order)


def _assemble(parts: list[pd.DataFrame], extra: list[str], unit_order: pd.Index) -> pd.DataFrame:
    """The council (and cohort) parts of :func:`summarise` in one table, columns selected and rows
    sorted by wave, scope, council, extra keys, level and unit (every group has its own sort key,
    so the order does not depend on the order of the parts' rows)."""
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    columns = ["wave", "scope", "council_id", "council_name", *extra, "level", "unit_id", "unit_name", *_SUMMARY_STATS]
    out = out[columns]
    order = pd.DataFrame({
        "wave": out["wave"],
        "scope": out["scope"].map({"council": 0, "cohort": 1}),
        "council_id": out["council_id"],
        **{c: out[c] for c in extra},
        "level": out["level"].map({lv: i for i, lv in enumerate(LEVELS)}),
        "unit": unit_order.get_indexer(out["unit_id"]),
    })
    idx = order.sort_values(list(order.columns), kind="stable", na_position="last").index
    out = out.loc[idx].reset_index(drop=True)
    out["n"] = out["n"].astype("int64")
    for col in _SUMMARY_STATS[1:]:
        out[col] = out[col].astype("float64")
    return out


def _key_codes(col: pd.Series) -> tuple[np.ndarray, int] | None:
    """Integer codes ``0..k-1`` of a key column (equal values, equal codes), or None if it has a
    missing value (pandas then groups it, with ``dropna=False``)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        k = len(col.cat.categories)
    else:
        from .schema import factorize_runs  # noqa: PLC0415  (schema imports pandera: only when needed)

        codes, uniques = factorize_runs(col)
        k = len(uniques)
    if len(codes) and codes.min() < 0:
        return None
    return codes.astype(np.int64, copy=False), k


def _mixed_key(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int] | None:
    """One integer per row for the combination of several key columns' codes (mixed radix) and the
    number of possible combinations, or None when that number would overflow int64."""
    key, size = parts[0]
    for codes, k in parts[1:]:
        size *= max(k, 1)
        if size >= 2 ** 62:
            return None
        key = key * max(k, 1) + codes
    return key, size


def _combine(parts: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, int] | None:
    """Dense codes ``0..k-1`` of the combinations of several key columns' codes, or None when the
    combinations overflow int64."""
    from .inference import _dense  # noqa: PLC0415

    mixed = _mixed_key(parts)
    if mixed is None:
        return None
    dense, uniq = _dense(np.asarray(mixed[0], dtype=np.int64), mixed[1])
    return dense, len(uniq)


def _all_distinct(parts: list[tuple[np.ndarray, int]]) -> bool:
    """Whether no two rows share the combination of these codes (False also when it cannot tell cheaply)."""
    mixed = _mixed_key(parts)
    if mixed is None:
        return False
    key, size = mixed
    if size <= 4 * len(key) + (1 << 20):
        return len(key) == 0 or int(np.bincount(key, minlength=size).max()) <= 1
    return len(np.unique(key)) == len(key)


def _value_ranks(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, rank of each valid value among the distinct ones, the distinct values sorted)."""
    ok = ~np.isnan(x)
    vcode, vuniq = pd.factorize(x[ok])
    rank_of = np.empty(len(vuniq), dtype=np.int64)
    rank_of[np.argsort(vuniq, kind="stable")] = np.arange(len(vuniq))
    return ok, rank_of[vcode], np.sort(vuniq)


def _group_stats(x: np.ndarray, g: np.ndarray, n_groups: int, favourable_min: float,
                 unfavourable_max: float, ranks: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """n, mean, sd, median, q1, q3 and the shares of the valid values ``x`` per group ``g``, as
    pandas computes them (group median: mean of the two middle values; quartiles: pandas'
    ``quantile(interpolation='linear')``, Hyndman & Fan type 7). ``ranks``: :func:`_value_ranks` of ``x``."""
    ok, vrank, srt = ranks
    xo, go = x[ok], g[ok]
    n = np.bincount(go, minlength=n_groups)
    has = n > 0
    nn = np.maximum(n, 1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(go, weights=xo, minlength=n_groups) / nn
        mean += np.bincount(go, weights=xo - mean[go], minlength=n_groups) / nn    # refine: exact to rounding
        dev = xo - mean[go]
        sd = np.sqrt(np.bincount(go, weights=dev * dev, minlength=n_groups) / (n - 1.0))
    del dev
    mean[~has] = np.nan
    sd[n < 2] = np.nan
    fav = np.bincount(go, weights=xo >= favourable_min, minlength=n_groups)
    unf = np.bincount(go, weights=xo <= unfavourable_max, minlength=n_groups)
    # the values of each group in order: one sort of (group, rank of the value)
    n_val = max(len(srt), 1)
    if n_groups * n_val < 2 ** 62:
        key = go * n_val
        key += vrank
        key.sort()
        sorted_x = srt[key % n_val] if len(key) else np.zeros(0)
    else:
        sorted_x = xo[np.lexsort((xo, go))]
    start = np.cumsum(n) - n
    last = np.maximum(n - 1, 0)

    def at(i: np.ndarray) -> np.ndarray:
        return sorted_x[np.where(has, start + np.minimum(i, last), 0)] if len(sorted_x) else np.zeros(n_groups)

    half = n // 2
    median = np.where(n % 2 == 1, at(half), (at(half - 1) + at(half)) / 2.0)
    quartiles = []
    for q in (0.25, 0.75):
        q_idx = q * (n - 1.0)
        lo = q_idx.astype(np.int64)                      # truncation, as pandas
        frac = q_idx % 1
        val = at(lo)
        quartiles.append(np.where(frac == 0.0, val, val + (at(lo + 1) - val) * frac))
    out = {"n": n.astype(np.int64), "mean": mean, "sd": sd, "median": median, "q1": quartiles[0],
           "q3": quartiles[1]}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["favourable_pct"] = np.where(has, fav / nn, np.nan)
        out["unfavourable_pct"] = np.where(has, unf / nn, np.nan)
    for c in ("median", "q1", "q3"):
        out[c] = np.where(has, out[c], np.nan)
    return out


def _summarise_numpy(scores: pd.DataFrame, *, levels: tuple[str, ...], by: list[str], extra: list[str],
                     favourable_min: float, unfavourable_max: float, cohort: bool,
                     instrument: Instrument | None) -> pd.DataFrame | None:
    """:func:`summarise` from integer codes (``engine='numpy'``), or None for tables it leaves to
    pandas: missing key values or names (pandas groups or skips them), duplicate rows (pandas
    raises), or codes too many to combine."""
    s = scores["score"]
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return None
    if scores["council_name"].isna().any() or scores["unit_name"].isna().any():
        return None
    codes: dict[str, tuple[np.ndarray, int]] = {}
    for c in dict.fromkeys([*by, "respondent_key", "level", "unit_id"]):
        got = _key_codes(scores[c])
        if got is None:
            return None
        codes[c] = got
    lv = scores["level"]
    if isinstance(lv.dtype, pd.CategoricalDtype):
        keep = np.asarray(lv.cat.categories.isin(levels), dtype=bool)[codes["level"][0]]
    else:
        keep = lv.isin(levels).to_numpy()
    rows = None if keep.all() else np.flatnonzero(keep)
    c = {k: (v if rows is None else v[rows], k_) for k, (v, k_) in codes.items()}
    x = s.to_numpy(dtype="float64", na_value=np.nan)
    if rows is not None:
        x = x[rows]
    # each respondent once per unit (else pandas raises the error)
    resp = _combine([c["wave"], c["council_id"], c["respondent_key"]])
    if resp is None or not _all_distinct([resp, c["level"], c["unit_id"]]):
        return None
    # units in instrument order, then the others in order of first appearance (as summarise)
    unit_first = _first_rows(*c["unit_id"])
    unit_first = np.sort(unit_first[unit_first < len(x)])
    seen = scores["unit_id"].iloc[unit_first if rows is None else rows[unit_first]].to_numpy()
    if instrument is not None:
        unit_order = pd.Index([*instrument.enabler_ids, *instrument.grouping_ids, OVERALL_ID])
        unit_order = unit_order.append(pd.Index([u for u in seen if u not in set(unit_order)]))
    else:
        unit_order = pd.Index(seen)
    parts = []
    ranks = _value_ranks(x)
    scopes = [("council", [*by, "level", "unit_id"])]
    if cohort:
        scopes.append(("cohort", ["wave", *extra, "level", "unit_id"]))
    for scope, keys in scopes:
        got = _combine([c[k] for k in keys])
        if got is None:
            return None
        g, n_groups = got
        first = _first_rows(g, n_groups)
        at = first if rows is None else rows[first]
        part = pd.DataFrame({k: scores[k].iloc[at].reset_index(drop=True) for k in keys})
        part["council_name"] = scores["council_name"].iloc[at].reset_index(drop=True)
        part["unit_name"] = scores["unit_name"].iloc[at].reset_index(drop=True)
        for name, values in _group_stats(x, g, n_groups, favourable_min, unfavourable_max, ranks).items():
            part[name] = values
        if scope == "cohort":
            part = part.assign(council_id=COHORT_ID, council_name=COHORT_NAME)
        parts.append(part.assign(scope=scope))
    return _assemble(parts, extra, unit_order)


def _first_rows(g: np.ndarray, n_groups: int) -> np.ndarray:
    """The first row of each group ``0..n_groups-1`` (``len(g)`` for a group without rows)."""
    first = np.full(n_groups, len(g), dtype=np.int64)
    np.minimum.at(first, g, np.arange(len(g), dtype=np.int64))
    return first


# --------------------------------------------------------------------------------------------
# convenience
# --------------------------------------------------------------------------------------------
def score_wave(responses: pd.DataFrame, *, instrument: Instrument,
               settings: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """Score one wave with the values from ``settings.yml``.

    Parameters
    ----------
    responses
        The tidy responses table of one wave (or several: waves never mix).
    instrument
        The instrument the data were collected with.
    settings
        The settings from :func:`analysis.config.load_settings` (its ``scoring`` section is used),
        or that ``scoring`` section itself: ``min_items_per_enabler``, ``min_enabler_fraction``,
        ``favourable_min``, ``unfavourable_max``.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``respondent_scores`` (:func:`respondent_scores`), ``enabler_scores``
        (:func:`summarise` at level ``'enabler'``) and ``grouping_scores`` (:func:`summarise` at
        levels ``'grouping'`` *and* ``'overall'``: the overall score is in this table, with
        ``level='overall'`` and ``unit_id='overall'``).

    Raises
    ------
    ConfigError
        A scoring setting is missing.
    SchemaMismatchError, InsufficientDataError
        From :func:`respondent_scores`.
    """
    section = settings.get("scoring", settings)
    keys = ("min_items_per_enabler", "min_enabler_fraction", "favourable_min", "unfavourable_max")
    missing = [k for k in keys if k not in section]
    if missing:
        raise ConfigError(f"settings lack scoring.{missing[0]}",
                          hint="Use analysis.config.load_settings(), which fills in every default from settings.yml.")
    scores = respondent_scores(responses, instrument=instrument, min_items=int(section["min_items_per_enabler"]),
                               min_enabler_fraction=float(section["min_enabler_fraction"]))
    kw = {"favourable_min": float(section["favourable_min"]), "unfavourable_max": float(section["unfavourable_max"]),
          "instrument": instrument}
    return {
        "respondent_scores": scores,
        "enabler_scores": summarise(scores, level="enabler", **kw),
        "grouping_scores": summarise(scores, level=("grouping", "overall"), **kw),
    }


#: Level of the answer-distribution table for a deliberate non-answer ("Don't know", "N/A").
DONT_KNOW_LEVEL = "dont_know"


def statement_distribution(responses: pd.DataFrame, *, instrument: Instrument,
                           cell_issues: pd.DataFrame | None = None) -> pd.DataFrame:
    """Answer counts per council x statement x scale point, with "Don't know" apart.

    The table behind the diverging stacked bars of the insight packs: how many of a council's
    respondents chose each point of the scale for each statement, and how many answered "Don't
    know" (a deliberate non-answer, never a point on the scale).

    Parameters
    ----------
    responses
        Tidy responses (``wave, council_id, council_name, item_id, enabler_id, score, source_file,
        source_row``): one row per respondent x item of their form, ``score`` NaN when unanswered.
    instrument
        Gives the scale points, the statements' order and each statement's enabler.
    cell_issues
        ``cell_issues.csv`` of the same wave; its ``kind == 'dont_know'`` cells (matched on
        ``source_file, source_row, item_id``) are counted at level ``'dont_know'``. Without it
        there are no don't-know counts.

    Returns
    -------
    pandas.DataFrame
        ``wave, scope, council_id, council_name, enabler_id, item_id, level, count, n_scale,
        n_dont_know``, one row per wave x council (and the pooled cohort, ``scope='cohort'``,
        ``council_id=COHORT``) x statement of the full form x level. ``level`` is the scale point
        as text (``'1'`` .. ``'5'``) or ``'dont_know'``; every level is present (count 0 when
        nobody chose it), statements follow the instrument. ``n_scale`` is the number of answers
        on the scale, ``n_dont_know`` the don't-know answers, for the council x statement.
    """
    _check_columns(responses, ["wave", "council_id", "council_name", "item_id", "score"], what="responses table",
                   hint="Pass responses.csv as written by the ingest step.")
    items = instrument.form_items("full")
    codes = [str(c) for c in instrument.scale.codes]
    levels = [*codes, DONT_KNOW_LEVEL]
    data = responses[responses["item_id"].isin(items["item_id"])]
    level = pd.Series(np.full(len(data), None, dtype=object), index=data.index)
    valid = data["score"].notna().to_numpy()
    level[valid] = data.loc[valid, "score"].astype("int64").astype(str).to_numpy()
    if cell_issues is not None and len(cell_issues) and {"source_file", "source_row"} <= set(data.columns):
        dk = cell_issues.loc[cell_issues["kind"] == "dont_know", ["source_file", "source_row", "item_id"]]
        key = pd.MultiIndex.from_frame(data[["source_file", "source_row", "item_id"]].astype({"source_row": "int64"}))
        is_dk = key.isin(pd.MultiIndex.from_frame(dk.astype({"source_row": "int64"}))) & ~valid
        level[is_dk] = DONT_KNOW_LEVEL
    data = data.assign(level=level.to_numpy()).dropna(subset=["level"])
    names = data.drop_duplicates("council_id").set_index("council_id")["council_name"]
    parts = []
    for scope, frame in (("council", data), ("cohort", data.assign(council_id=COHORT_ID))):
        counts = frame.groupby(["wave", "council_id", "item_id", "level"], observed=True).size()
        waves = pd.unique(frame["wave"])
        councils = pd.unique(frame["council_id"])
        full = pd.MultiIndex.from_product([waves, councils, items["item_id"], levels],
                                          names=["wave", "council_id", "item_id", "level"])
        present = frame.groupby(["wave", "council_id"], observed=True).size().index
        counts = counts.reindex(full, fill_value=0).rename("count").reset_index()
        counts = counts[pd.MultiIndex.from_frame(counts[["wave", "council_id"]]).isin(present)]
        counts["scope"] = scope
        parts.append(counts)
    out = pd.concat(parts, ignore_index=True)
    out["council_name"] = out["council_id"].map(names).where(out["scope"] == "council", COHORT_NAME)
    out["enabler_id"] = out["item_id"].map(dict(zip(items["item_id"], items["enabler_id"], strict=True)))
    cell = ["wave", "council_id", "item_id"]
    on_scale = out["level"] != DONT_KNOW_LEVEL
    out["n_scale"] = out["count"].where(on_scale, 0).groupby([out[c] for c in cell]).transform("sum").astype("int64")
    out["n_dont_know"] = (out["count"] - out["count"].where(on_scale, 0)).groupby([out[c] for c in cell]).transform("sum").astype("int64")
    cols = ["wave", "scope", "council_id", "council_name", "enabler_id", "item_id", "level", "count", "n_scale", "n_dont_know"]
    return out[cols].astype({"count": "int64"}).reset_index(drop=True)
