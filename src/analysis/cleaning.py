"""Cleaning: answers to scores, council names to register ids, row classification, timestamps.

Pure functions over pandas objects; none mutates its input. Every function that reads free text
parses the **unique** strings once and maps the result back (a wave has millions of cells but only a
few dozen distinct answers), so nothing loops over rows.

Decisions documented here (and tested in ``tests/test_cleaning.py``):

* Answers are matched to the instrument's scale labels case-, space- and punctuation-insensitively
  (curly apostrophes count as straight ones), in every language the instrument lists.
* A bare number must be an integer code of the scale. ``3.5`` (or ``0``, ``6``, ``55``) is
  ``out_of_range``: the scale is ordinal with integer codes, so a half point is not an answer we can
  score without guessing.
* A label plus a number ("4 - Agree", "Strongly agree (5)") is accepted only when both agree; when
  they disagree ("2 - Strongly agree") the cell is ``unparseable``: we never guess which is right.
* Council names are matched exactly after :func:`normalise_council_name`; there is no fuzzy
  matching for councils (a wrong council is worse than a quarantined row).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .instrument import Instrument, Scale

logger = logging.getLogger(__name__)

#: Values of ``kind`` in :func:`parse_answers` (and of cell_issues.kind).
ISSUE_KINDS: tuple[str, ...] = ("dont_know", "out_of_range", "unparseable")

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")
# "4 - Agree", "4. Agree", "4) Agree", "4: Agree", "4 Agree"
_LEADING_NUM_RE = re.compile(r"^\(?\s*([+-]?\d+(?:\.\d+)?)\s*\)?\s*[-\u2013\u2014:.)=]?\s*(\D.*)$")
# "Agree (4)", "Agree [4]", "Agree - 4", "Agree: 4", "Agree = 4"
_TRAILING_NUM_RE = re.compile(r"^(.*\D)\s*(?:[(\[]\s*([+-]?\d+(?:\.\d+)?)\s*[)\]]|[-\u2013\u2014:=]\s*([+-]?\d+(?:\.\d+)?))$")


def _fold(text: str) -> str:
    """Casefold, strip accents, straighten apostrophes and drop everything but letters and digits."""
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"[\W_]+", "", text)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA \
        or (isinstance(value, str) and not value.strip())


def blank_to_empty(values: pd.Series) -> pd.Series:
    """``values`` as object dtype with every missing value replaced by ``""`` (a hashable map key)."""
    return pd.Series(values.to_numpy(dtype=object, na_value=""), index=values.index, dtype=object, name=values.name)


def _number(text: str) -> float | None:
    text = text.strip()
    if _NUMBER_RE.match(text):
        return float(text)
    return None


def _recode_key(value: Any) -> str:
    """Key used to compare recode entries with cells: numbers by value, text stripped and casefolded."""
    text = str(value).strip()
    num = _number(text)
    if num is not None:
        return repr(float(num))
    return text.casefold()


class _AnswerParser:
    """Lookup tables for one scale (built once per call of :func:`parse_answers`)."""

    def __init__(self, scale: Scale) -> None:
        self.scale = scale
        self.labels: dict[str, int] = {}
        for code, labs in scale.labels.items():
            for lab in labs:
                self.labels.setdefault(_fold(lab), code)
        self.non_answers = {_fold(v) for v in scale.non_answers}

    def _code(self, num: float) -> tuple[float, str | None]:
        if num.is_integer() and self.scale.min <= num <= self.scale.max:
            return float(num), None
        return np.nan, "out_of_range"

    def parse(self, raw: str) -> tuple[float, str | None]:
        text = raw.strip()
        num = _number(text.rstrip(" .:-\u2013"))  # "4 -" is 4; "-1" stays -1
        if num is not None:
            return self._code(num)
        folded = _fold(text)
        if folded in self.non_answers:
            return np.nan, "dont_know"
        if folded in self.labels:
            return float(self.labels[folded]), None
        m = _LEADING_NUM_RE.match(text)
        if m:
            num_text, label = m.group(1), m.group(2)
        else:
            m = _TRAILING_NUM_RE.match(text)
            if not m:
                return np.nan, "unparseable"
            label, num_text = m.group(1), m.group(2) or m.group(3)
        folded = _fold(label)
        if folded in self.non_answers:  # "6 - Don't know" (Qualtrics codes non-answers too)
            return np.nan, "dont_know"
        if folded not in self.labels:
            return np.nan, "unparseable"
        code = self.labels[folded]
        if float(num_text) != code:
            return np.nan, "unparseable"  # label and number disagree: never guess
        return float(code), None


def map_distinct(values: np.ndarray, func: Any, *, dtype: Any = object) -> np.ndarray:
    """Apply ``func`` once per distinct value of an array of any shape and broadcast the results.

    The vectorised core of answer parsing and row classification: a survey block has thousands of
    cells but only a handful of distinct answers, so ``func`` (pure Python) runs a handful of times
    and the lookup is one numpy take.
    """
    flat = np.asarray(values, dtype=object).ravel()
    codes, uniques = pd.factorize(flat, use_na_sentinel=False)
    table = np.empty(len(uniques), dtype=dtype)
    for i, u in enumerate(uniques):  # loop over distinct values only (tuples stay single elements)
        table[i] = func(u)
    if table.size == 0:
        return np.empty(np.shape(values), dtype=dtype)
    return table[codes].reshape(np.shape(values))


def parse_answer_block(frame: pd.DataFrame, *, scale: Scale) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse every answer cell of several item columns at once (no recode).

    Same rules as :func:`parse_answers`, applied once per distinct cell value of the whole block.

    Returns
    -------
    (scores, kinds)
        Two frames shaped like ``frame``: float64 scores (NaN = missing) and the issue kind of each
        cell (``None`` when scored or blank).
    """
    parser = _AnswerParser(scale)

    def one(raw: Any) -> tuple[float, str | None]:
        return (np.nan, None) if _is_blank(raw) else parser.parse(str(raw))

    codes, uniques = pd.factorize(frame.to_numpy(dtype=object).ravel(), use_na_sentinel=False)
    score_u = np.empty(len(uniques), dtype="float64")
    kind_u = np.empty(len(uniques), dtype=object)
    for i, u in enumerate(uniques):  # loop over distinct answers only
        score_u[i], kind_u[i] = one(u)
    score = score_u[codes].reshape(frame.shape)
    kind = kind_u[codes].reshape(frame.shape)
    return (pd.DataFrame(score, index=frame.index, columns=frame.columns),
            pd.DataFrame(kind, index=frame.index, columns=frame.columns))


def parse_answers(values: pd.Series, *, scale: Scale,
                  recode: Mapping[Any, float | None] | None = None) -> pd.DataFrame:
    """Turn raw answer cells into scores, logging why a non-blank cell could not be scored.

    Parameters
    ----------
    values
        Raw answer cells of one or more item columns (text; ``""``/NaN means blank).
    scale
        The instrument's rating scale (labels in every language, non-answers).
    recode
        Optional ``{raw answer: score or None}`` from ``mapping.yml``, applied before label parsing.
        Keys are compared after stripping and casefolding; numeric keys compare by value
        (``6``, ``"6"`` and ``"6.0"`` are the same key). ``None`` means "a deliberate non-answer".

    Returns
    -------
    pandas.DataFrame
        Same index as ``values``; ``score`` (float64, NaN when missing) and ``kind`` (string, NA
        when the cell was scored or blank, else one of ``dont_know``, ``out_of_range``,
        ``unparseable``).

    Examples
    --------
    >>> from analysis.instrument import load_instrument
    >>> scale = load_instrument().scale
    >>> parse_answers(pd.Series(["Agree", "5 - Strongly agree", "Don't know", "6", ""]), scale=scale)["score"].tolist()
    [4.0, 5.0, nan, nan, nan]
    """
    parser = _AnswerParser(scale)
    recode_map = {_recode_key(k): v for k, v in (recode or {}).items()}
    obj = blank_to_empty(values)
    uniques = pd.unique(obj.to_numpy())
    table: dict[Any, tuple[float, str | None]] = {}
    for raw in uniques:
        if _is_blank(raw):
            table[raw] = (np.nan, None)
            continue
        text = str(raw)
        if recode_map:
            key = _recode_key(text)
            if key in recode_map:
                target = recode_map[key]
                if target is None or (isinstance(target, float) and np.isnan(target)):
                    table[raw] = (np.nan, "dont_know")
                else:
                    table[raw] = parser._code(float(target))
                continue
        table[raw] = parser.parse(text)
    score = obj.map({k: v[0] for k, v in table.items()}).astype("float64")
    kind = obj.map({k: v[1] for k, v in table.items()}).astype("string")
    return pd.DataFrame({"score": score, "kind": kind}, index=values.index)


def check_code_set(values: pd.Series, *, scale: Scale) -> str | None:
    """Return a message when a column's numeric answer codes look shifted against the scale.

    Survey tools store answers as codes that can drift from ``min..max`` (Qualtrics keeps the codes
    of deleted or reordered options: 1, 2, 4, 5, 6 for a five-point scale). Such a column must not be
    trusted: the caller turns the message into a file-level error asking for a ``recode``.

    A column is flagged when codes just above the scale are used (up to one scale width above it,
    6..10 for 1..5) **and** the scale codes used have a gap (a code between the lowest and highest
    scale code used is never used): ``{1, 2, 4, 5, 6}`` is flagged. A subset of the scale
    (``{2, 3, 4}``) is fine, and so are stray codes with no gap (``{1..5, 6}``, ``{1, 2, 3, 4, 6}``,
    ``{3, 4, 6}``, ``{1..5, 55}``, ``{0, 4}``): their extra codes become ``out_of_range`` cell
    issues. Qualtrics numbers an extra "Don't know" option max+1, so a column where nobody chose 5
    reads ``{1, 2, 3, 4, 6}`` and must not be flagged. Not detected, by design: codes below the scale
    (``{0, 1, 2, 3, 4}``: 0-based codes or a typed 0) and whole-scale shifts without a gap
    (``{2, 3, 4, 5, 6}``). Non-numeric answers are ignored.

    Returns
    -------
    str or None
        ``None`` when the codes look right, else a sentence naming the codes.
    """
    uniques = pd.unique(values.astype(object).to_numpy())
    codes: set[int] = set()
    for raw in uniques:
        code = _integer_code(raw)
        if not np.isnan(code):
            codes.add(int(code))
    return _code_set_message(codes, scale)


def _integer_code(raw: Any) -> float:
    """The cell as an integer code (as float), NaN when blank, text or fractional."""
    if _is_blank(raw):
        return np.nan
    num = _number(str(raw))
    return float(num) if num is not None and num.is_integer() else np.nan


def check_code_sets(frame: pd.DataFrame, *, scale: Scale) -> dict[Any, str]:
    """:func:`check_code_set` for every column of ``frame`` at once: ``{column: message}`` for flagged ones."""
    codes = map_distinct(frame.to_numpy(dtype=object), _integer_code, dtype="float64")
    out: dict[Any, str] = {}
    for j, col in enumerate(frame.columns):  # loop over item columns (not respondents)
        used = codes[:, j]
        msg = _code_set_message({int(c) for c in np.unique(used[~np.isnan(used)])}, scale)
        if msg:
            out[col] = msg
    return out


def _code_set_message(codes: set[int], scale: Scale) -> str | None:
    if not codes:
        return None
    near_outside = {c for c in codes if scale.max < c <= scale.max + scale.points}
    inside = codes & set(scale.codes)
    if not near_outside or not inside:
        return None
    missing = sorted(c for c in scale.codes if min(inside) < c < max(inside) and c not in codes)
    if not missing:
        return None
    shown = "{" + ", ".join(str(c) for c in sorted(codes)) + "}"
    return (f"answer codes {shown} do not look like the scale's codes {scale.min}..{scale.max}: "
            f"code(s) {', '.join(map(str, missing))} are never used but "
            f"{', '.join(map(str, sorted(near_outside)))} are, so the survey tool's codes have probably drifted")


# --------------------------------------------------------------------------------------------
# Councils
# --------------------------------------------------------------------------------------------

#: Words dropped from council names before matching. English: council, borough, metropolitan,
#: county, city, district, of, the, and the abbreviations mbc/cbc/bc/cc/dc. Welsh: cyngor (council),
#: sir/sirol (county), bwrdeistref (borough). "dinas" (city) is NOT dropped because it is also part
#: of place names (Dinas Powys); add an alias instead. "royal" and "london" are kept on their own,
#: but the prefixes "london borough of" (also written LB/L.B.) and "royal borough of" are dropped
#: as a whole, so "LB Camden", "London Borough of Camden" and "Camden Council" all become "camden".
GENERIC_COUNCIL_WORDS: frozenset[str] = frozenset({
    "council", "borough", "metropolitan", "county", "city", "district", "of", "the",
    "mbc", "cbc", "bc", "cc", "dc", "cyngor", "sir", "sirol", "bwrdeistref",
})
_LB_RE = re.compile(r"(?<![\w.])l\.?\s?b\.?(?![\w])")


def _normalise_one(name: Any) -> str | None:
    if _is_blank(name):
        return None
    text = unicodedata.normalize("NFKD", str(name).translate(_APOSTROPHES).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("&", " and ").replace("'", "")
    text = re.sub(r"(?<=\b\w)\.(?=\w\b)", "", text)  # dotted abbreviations: d.c. -> dc, m.b.c. -> mbc
    text = _LB_RE.sub(" london borough of ", text)
    text = re.sub(r"[\W_]+", " ", text)
    text = re.sub(r"\b(?:london|royal) borough of\b", " ", text)
    words = [w for w in text.split() if w not in GENERIC_COUNCIL_WORDS]
    while words and words[0] == "and":
        words.pop(0)
    while words and words[-1] == "and":
        words.pop()
    return " ".join(words) or None


def normalise_council_name(s: pd.Series) -> pd.Series:
    """Normalise council names for exact matching.

    Casefold, strip accents, ``&`` -> ``and``, ``LB``/``L.B.`` -> ``london borough of``, drop
    punctuation and the words in :data:`GENERIC_COUNCIL_WORDS` (and the prefixes "london borough
    of"/"royal borough of"), collapse spaces. ``"Brighton & Hove City Council"`` ->
    ``"brighton and hove"``.

    Returns
    -------
    pandas.Series
        Same index, dtype ``string``; NA for blank names or names made only of generic words.
    """
    uniques = pd.unique(s.astype(object).to_numpy())
    table = {u: _normalise_one(u) for u in uniques if not _is_blank(u)}
    table[""] = None
    return blank_to_empty(s).map(table).astype("string")


def council_slug(normalised: pd.Series) -> pd.Series:
    """``"brighton and hove"`` -> ``"brighton-and-hove"`` (the council id when there is no register)."""
    return normalised.astype("string").str.replace(" ", "-", regex=False)


def register_keys(register: pd.DataFrame) -> pd.DataFrame:
    """Every matching key of a register: ``key`` (normalised), ``council_id``, ``source`` (name/alias/id).

    A council matches on its normalised name, any normalised alias (``|``-separated) and its id.
    Cached on the register's content (a wave asks for it once per file).
    """
    sig = tuple(tuple(map(str, register[c].tolist())) for c in ("council_id", "name", "aliases") if c in register)
    cached = _REGISTER_KEYS_CACHE.get(sig)
    if cached is None:
        cached = _register_keys(register)
        _REGISTER_KEYS_CACHE.clear()  # one register at a time is all a run needs
        _REGISTER_KEYS_CACHE[sig] = cached
    return cached.copy()


_REGISTER_KEYS_CACHE: dict[tuple, pd.DataFrame] = {}


def _register_keys(register: pd.DataFrame) -> pd.DataFrame:
    aliases = register.get("aliases", pd.Series("", index=register.index)).fillna("").astype(str)
    parts = [
        pd.DataFrame({"raw": register["name"].astype(str), "council_id": register["council_id"].astype(str), "source": "name"}),
        pd.DataFrame({"raw": register["council_id"].astype(str), "council_id": register["council_id"].astype(str), "source": "id"}),
    ]
    exploded = pd.DataFrame({"raw": aliases.str.split("|"), "council_id": register["council_id"].astype(str)}).explode("raw")
    exploded["source"] = "alias"
    parts.append(exploded)
    keys = pd.concat(parts, ignore_index=True)
    keys["key"] = normalise_council_name(keys["raw"].astype(object))
    keys = keys.dropna(subset=["key"])
    return keys[["key", "council_id", "source", "raw"]].drop_duplicates(["key", "council_id"]).reset_index(drop=True)


def match_councils(raw: pd.Series, *, register: pd.DataFrame | None) -> pd.DataFrame:
    """Match council names as written to the cohort register (exactly, after normalisation).

    Parameters
    ----------
    raw
        Council names as written in the exports.
    register
        The cohort register (``council_id, name, aliases, ...``) or ``None``.

    Returns
    -------
    pandas.DataFrame
        Same index as ``raw``: ``council_id``, ``council_name`` (string, NA when unmatched) and
        ``matched`` (bool). Without a register every non-blank name matches: ``council_id`` is a slug
        of the normalised name and ``council_name`` the most common spelling of it in ``raw``
        (ties: the first seen).
    """
    norm = normalise_council_name(raw)
    if register is None:
        slug = council_slug(norm)
        spelled = pd.DataFrame({"slug": slug, "raw": blank_to_empty(raw).astype(str).str.strip()})
        spelled = spelled[spelled["slug"].notna() & (spelled["raw"] != "")]
        if len(spelled):
            counts = spelled.groupby(["slug", "raw"], sort=False).size().reset_index(name="n")
            best = counts.sort_values("n", ascending=False, kind="stable").drop_duplicates("slug")
            names = dict(zip(best["slug"], best["raw"], strict=True))
        else:
            names = {}
        council_name = slug.map(names).astype("string")
        return pd.DataFrame({"council_id": slug, "council_name": council_name, "matched": slug.notna().to_numpy()},
                            index=raw.index)
    keys = register_keys(register)
    key_to_id = dict(zip(keys["key"], keys["council_id"], strict=True))
    id_to_name = dict(zip(register["council_id"].astype(str), register["name"].astype(str), strict=True))
    cid = norm.map(key_to_id).astype("string")
    return pd.DataFrame({"council_id": cid, "council_name": cid.map(id_to_name).astype("string"),
                         "matched": cid.notna().to_numpy()}, index=raw.index)


def council_from_filename(stem: str, *, register: pd.DataFrame | None) -> tuple[str, str] | None:
    """The register council named in a file name, or ``None`` when none or ambiguous.

    The longest normalised name/alias found as whole words in the normalised stem wins; when another
    council also matches outside that span (``camden_and_islington``) the result is ``None``.
    Without a register file names are never trusted (``None``).
    """
    if register is None or register.empty:
        return None
    stem_norm = _normalise_one(stem)
    if not stem_norm:
        return None
    tokens = stem_norm.split()
    hits: list[tuple[int, int, str]] = []  # (start, end, council_id)
    keys = register_keys(register)
    for key, cid in zip(keys["key"], keys["council_id"], strict=True):
        ktok = key.split()
        n = len(ktok)
        for i in range(len(tokens) - n + 1):
            if tokens[i:i + n] == ktok:
                hits.append((i, i + n, cid))
    if not hits:
        return None
    start, end, best = max(hits, key=lambda h: h[1] - h[0])
    for s0, e0, cid in hits:
        if cid != best and not (s0 >= start and e0 <= end):
            return None
    names = dict(zip(register["council_id"].astype(str), register["name"].astype(str), strict=True))
    return best, names[best]


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------

#: First words of a cell that mark a summary row (English and Welsh).
SUMMARY_WORDS: frozenset[str] = frozenset({
    "average", "averages", "mean", "total", "totals", "count", "sum", "median", "overall",
    "cyfartaledd", "cyfanswm", "grand",
})


def _looks_like_summary(value: Any) -> bool:
    if _is_blank(value):
        return False
    words = re.sub(r"[\W_]+", " ", str(value).casefold()).split()
    return bool(words) and words[0] in SUMMARY_WORDS and len(words) <= 4


def classify_rows(data: pd.DataFrame, *, scores: pd.DataFrame, item_keys: Sequence[str],
                  council_key: str | None = None, id_keys: Sequence[str] = (),
                  matched: pd.Series | None = None, skip_keys: Sequence[str] = ()) -> pd.DataFrame:
    """Decide which data rows are quarantined, and why (first reason that applies wins).

    Parameters
    ----------
    data
        ``ParsedExport.data``: every cell a string, ``""`` when empty, in file column order.
    scores
        Parsed scores of the item columns (same index as ``data``, one column per item key).
    item_keys
        Column keys of the item columns in ``data``.
    council_key
        Column key of the council column, if any.
    id_keys
        Column keys of the export's respondent-id columns.
    matched
        Whether the row's council was recognised (``None``: do not check councils).
    skip_keys
        Columns ignored when looking for the first non-empty cell (the personal columns, so that a
        name is never tested as a summary word nor quoted in ``detail``).

    Returns
    -------
    pandas.DataFrame
        Same index as ``data``: ``reason`` (string, NA when the row is accepted) and ``detail``.
        Reasons, in order of precedence:

        * ``blank_row``: every cell is blank;
        * ``summary_row``: the first non-empty cell (or the council cell) starts with a summary word
          (:data:`SUMMARY_WORDS`, e.g. "Average", "Total", "Cyfartaledd"), or the row has no council
          and no id and some item value is a non-integer number such as 3.67;
        * ``empty_response``: no item has a valid score (blank, don't know, out of range, unparseable);
        * ``unknown_council``: the council is blank or not in the register.
    """
    # One factorisation of the whole grid; every per-cell question is asked once per distinct value,
    # and the rest is numpy on (rows x columns) arrays.
    grid = data.to_numpy(dtype=object)
    n_rows = grid.shape[0]
    col_pos = {k: j for j, k in enumerate(data.columns)}
    codes, uniques = pd.factorize(grid.ravel(), use_na_sentinel=False)
    u_text = np.asarray(uniques, dtype=object)
    if not all(type(u) is str for u in u_text):  # data cells are text; anything else is made text
        u_text = np.array(["" if _is_blank(u) else str(u) for u in u_text], dtype=object)
    stripped = pd.Series(u_text, dtype=object).str.strip()
    u_filled = (stripped != "").to_numpy(dtype=bool)
    numeric = stripped.str.match(_NUMBER_RE.pattern).to_numpy(dtype=bool)  # distinct values only
    u_frac = np.zeros(len(u_text), dtype=bool)
    if numeric.any():
        nums = pd.to_numeric(stripped[numeric], errors="coerce").to_numpy(dtype=float)
        u_frac[np.flatnonzero(numeric)] = np.isfinite(nums) & (nums != np.floor(nums))
    codes = codes.reshape(grid.shape)
    filled = u_filled[codes] if grid.size else np.zeros(grid.shape, dtype=bool)
    blank = ~filled.any(axis=1)
    skip = set(skip_keys)
    looked = np.array([j for j, k in enumerate(data.columns) if k not in skip], dtype=np.intp)
    rows_at = np.arange(n_rows)
    if n_rows and looked.size:
        first_codes = codes[rows_at, looked[filled[:, looked].argmax(axis=1)]]
        first_cell = u_text[first_codes]
    else:
        first_cell = np.full(n_rows, "", dtype=object)
    first_u, first_inv = np.unique(first_cell.astype(str), return_inverse=True)
    by_word = np.fromiter((_looks_like_summary(u) for u in first_u), dtype=bool, count=len(first_u))[first_inv] & ~blank
    if council_key is not None:
        council_cells = u_text[codes[:, col_pos[council_key]]] if n_rows else np.empty(0, dtype=object)
        cu, cinv = np.unique(council_cells.astype(str), return_inverse=True)
        by_council = np.fromiter((_looks_like_summary(u) for u in cu), dtype=bool, count=len(cu))[cinv]
        first_cell = np.where(by_word | ~by_council, first_cell, council_cells)  # quote the cell that matched
        by_word = by_word | by_council
    anchor = [col_pos[k] for k in ([council_key] if council_key else []) + list(id_keys)]
    no_anchor = ~filled[:, anchor].any(axis=1) if anchor else np.ones(n_rows, dtype=bool)
    if item_keys:
        item_pos = [col_pos[k] for k in item_keys]
        fractional = u_frac[codes[:, item_pos]].any(axis=1) if n_rows else np.zeros(0, dtype=bool)
        valid = ~np.isnan(scores[list(item_keys)].to_numpy(dtype="float64")).all(axis=1)
    else:
        fractional = np.zeros(n_rows, dtype=bool)
        valid = np.zeros(n_rows, dtype=bool)
    by_numbers = no_anchor & fractional & ~blank
    summary = by_word | by_numbers
    empty = ~valid
    unknown = ~matched.to_numpy(dtype=bool) if matched is not None else np.zeros(n_rows, dtype=bool)
    reason = np.full(n_rows, None, dtype=object)
    detail = np.full(n_rows, "", dtype=object)
    n_items = len(item_keys)
    for mask, name, text_ in (
        (unknown, "unknown_council", "council not recognised"),
        (empty, "empty_response", f"no valid answer on any of the {n_items} item columns"),
        (summary, "summary_row", "looks like a summary row"),
        (blank, "blank_row", "every cell is blank"),
    ):  # lowest precedence first; later assignments win
        reason[mask] = name
        detail[mask] = text_
    sm = summary & ~blank
    if sm.any():
        first = np.array([str(v)[:40] for v in first_cell[sm]], dtype=object)  # summary rows only
        detail[sm] = np.where(~by_word[sm],
                              "no council or respondent id and non-integer item values (e.g. 3.67): a computed row",
                              "first cell '" + first + "' marks a summary row")
    reason = pd.Series(reason, index=data.index, dtype="string")
    detail = pd.Series(detail, index=data.index, dtype="string")
    return pd.DataFrame({"reason": reason, "detail": detail}, index=data.index)


# --------------------------------------------------------------------------------------------
# Timestamps and perspectives
# --------------------------------------------------------------------------------------------

_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M %p",
              "%d/%m/%y %H:%M:%S", "%d/%m/%y %H:%M", "%d/%m/%y", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M",
              "%d-%m-%Y", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")
_MONTH_FIRST = tuple(f.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m") for f in _DAY_FIRST)
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _try_formats(text: pd.Series, formats: Sequence[str]) -> np.ndarray:
    """``datetime64[us]`` array: each value parsed with the first of ``formats`` that fits (NaT if none)."""
    out = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
    values = text.to_numpy(dtype=object)
    todo = np.ones(len(values), dtype=bool)
    for fmt in formats:  # loop over formats, not values
        if not todo.any():
            break
        parsed = pd.to_datetime(pd.Series(values[todo], dtype=object), format=fmt, errors="coerce")
        got = parsed.to_numpy(dtype="datetime64[us]")
        idx = np.flatnonzero(todo)
        ok = ~np.isnat(got)
        out[idx[ok]] = got[ok]
        todo[idx[ok]] = False
    return out


def parse_timestamps(s: pd.Series) -> pd.Series:
    """Parse completion times written in any of the formats survey tools export.

    ISO 8601 (with or without an offset: converted to UTC, returned naive), UK day-first
    ``23/11/2026 10:15:03``, US month-first ``11/23/2026 10:15:03 AM`` and Excel serial day numbers
    (``46349.43``, accepted between 20000 and 80000, i.e. 1954..2119). Day-first is used unless some value of the series is impossible day-first but
    valid month-first and none is the reverse, in which case the whole series is read month-first
    (so that an ambiguous ``05/06/2026`` follows its neighbours). Unknown values are NaT.
    Each distinct value is parsed once.

    Returns
    -------
    pandas.Series
        Same index, dtype ``datetime64[us]``.
    """
    stripped = blank_to_empty(s).astype(str).str.strip()
    codes, uniq = pd.factorize(stripped.to_numpy(dtype=object))
    uniq = np.asarray(uniq, dtype=object)
    result = np.full(len(uniq), np.datetime64("NaT"), dtype="datetime64[us]")
    filled = uniq != ""
    if filled.any():
        text = pd.Series(uniq[filled], dtype=object)
        parsed = np.full(len(text), np.datetime64("NaT"), dtype="datetime64[us]")
        nums = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        serial = (nums >= 20000) & (nums <= 80000)  # Excel day numbers of 1954..2119
        if serial.any():
            days = pd.to_timedelta(nums[serial], unit="D")
            parsed[serial] = (_EXCEL_EPOCH + days).round("s").to_numpy(dtype="datetime64[us]")
        iso = text.str.match(r"^\d{4}-\d{1,2}-\d{1,2}").to_numpy(dtype=bool) & ~serial
        if iso.any():
            got = pd.to_datetime(text[iso], format="ISO8601", utc=True, errors="coerce")
            parsed[iso] = got.dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
        rest = ~serial & ~iso
        if rest.any():
            day = _try_formats(text[rest], _DAY_FIRST)
            month = _try_formats(text[rest], _MONTH_FIRST)
            us_only = bool((np.isnat(day) & ~np.isnat(month)).any())
            uk_only = bool((~np.isnat(day) & np.isnat(month)).any())
            first, second = (month, day) if us_only and not uk_only else (day, month)
            parsed[rest] = np.where(np.isnat(first), second, first)
        result[filled] = parsed
    out = np.where(codes >= 0, result[np.maximum(codes, 0)], np.datetime64("NaT"))
    return pd.Series(out.astype("datetime64[us]"), index=s.index)


def normalise_perspective(s: pd.Series, *, instrument: Instrument) -> pd.Series:
    """Map perspective answers to ``service``/``organisation``/``system`` (or NA).

    An answer matches when, ignoring case and punctuation, it equals one of the instrument's labels
    for a perspective (or the perspective's own name); otherwise when exactly one perspective's
    name or label appears in it as whole words ("From my service's point of view" -> service).
    """
    labels: dict[str, str] = {}
    for canon, labs in instrument.perspectives.items():
        for lab in (canon, *labs):
            labels.setdefault(" ".join(re.sub(r"[\W_]+", " ", lab.casefold()).split()), canon)

    def one(value: Any) -> str | None:
        if _is_blank(value):
            return None
        text = " ".join(re.sub(r"[\W_]+", " ", str(value).translate(_APOSTROPHES).replace("'s", "").casefold()).split())
        if text in labels:
            return labels[text]
        found = {canon for lab, canon in labels.items() if re.search(rf"\b{re.escape(lab)}\b", text)}
        return found.pop() if len(found) == 1 else None

    obj = blank_to_empty(s)
    table = {u: one(u) for u in pd.unique(obj.to_numpy())}
    return obj.map(table).astype("string")
