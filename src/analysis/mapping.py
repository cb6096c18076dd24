"""Map export columns to instrument items and column roles; read ``mapping.yml``.

Matching a column
-----------------
Every header cell is normalised with :func:`normalise_text` and compared with the instrument, in
this order (the first rule that applies wins):

1. **Pins** from ``mapping.yml`` (exact header text, a header row's text, or a column letter such
   as ``H``) to an item id, a role, or ``ignore`` (role ``metadata``).
2. **Item id in the header**: ``E01S1``, ``E01S1 We recognise ...``, ``E03_overall`` or ``E03``
   alone (the enabler's short-form item).
3. **Known metadata names** of the supported exports (``Id``, ``Start time``, ``ResponseId``,
   ``IP Address`` ...) and short council/perspective questions -> their role.
4. **Exact** match after normalisation against statement text, enabler name, short name and aliases;
   a header's bracketed part (``Title [Statement]``), the part after its last ``" - "`` and after its
   last ``": "`` are tried too.
5. **Fuzzy** match with rapidfuzz. Statements use ``fuzz.token_set_ratio``: it scores 100 when
   one text's words are a subset of the other's, so shortened headers (the first 40 characters, or
   a few keywords) and headers with a question prefix both map, and word order does not matter.
   Because a subset scores 100, headers of fewer than 3 words or 12 characters (2 words: 20
   characters, e.g. "Collaboration internally...") are never fuzzily matched to a statement
   (``"Team"`` would otherwise match a statement containing "team"), and a subset of two
   statements is *ambiguous*. Enabler names (short form) use ``fuzz.token_sort_ratio``
   (whole-text similarity), so a statement that happens to contain an enabler's words does not
   match it. A match needs ``score >= fuzzy_threshold`` (settings ``mapping.fuzzy_threshold``, 88);
   when the runner-up is also above the threshold and within ``fuzzy_margin`` points (4) the column
   is ambiguous and :class:`~analysis.exceptions.MappingError` lists both candidates.
6. Free-text headers (comment, anything else, please explain, why, tell us, Open-Ended Response),
   columns whose cells are mostly e-mail addresses (role ``email`` whatever the header) and columns
   of long text (median length > 30 characters, mostly not scale labels) -> ``free_text``; any other
   header -> ``unmapped`` (reported by ``diagnostics validate``).

Form: a file is ``full`` when more columns map to statements than to enabler names (a tie counts as
full), else ``short``; matches of the other form become ``unmapped``. Two columns mapping to one
item raise ``MappingError`` unless exactly one of them is pinned (the other becomes ``unmapped``).
A file that lacks a column for some item of its form raises ``MappingError`` listing the missing
ids and the closest unmatched headers.

mapping.yml
-----------
Optional, in the wave folder (``data/raw/<cohort>/<wave>/mapping.yml``) and/or the cohort folder
(``data/raw/<cohort>/mapping.yml``, applies to every wave). Wave-level entries beat cohort-level
ones, and a file's own ``columns``/``recode`` beat the top-level ones. Unknown keys are errors::

    files:
      "harbourside.xlsx":           # file name relative to the wave folder
        sheet: "Responses"          # optional: read only this sheet
        format: qualtrics           # optional: override detection (ms_forms, google_forms,
                                    #   surveymonkey, qualtrics, smartsurvey, handmade, tidy_wide)
        header_row: 4               # optional: 1-based header row (first header row if several)
        council: "Harbourside"      # optional: council for a file with no council column
        columns:                    # pin headers (exact text or column letter) to an item id or role
          "Q7": E03S2
          "Comments": free_text
          "Team": ignore            # -> role metadata
        recode:                     # raw answer -> score (null = missing); "*" = every item column
          "*": {"1": 1, "2": 2, "4": 3, "5": 4, "6": 5}
    columns:                        # pins for every file
      "Our approach to risk (short)": E02S1
    recode:                         # recodes for every file (a file's own recode wins per item)
      E05S2: {"Mostly": 4}

Pin targets are an item id (``E03S2``, ``E03_overall``), a role (``council``, ``perspective``,
``respondent_id``, ``email``, ``name``, ``ip``, ``location``, ``recipient``, ``started_at``,
``completed_at``, ``free_text``, ``metadata``, ``unmapped``) or ``ignore``.
"""

from __future__ import annotations

import json
import logging
import re
import textwrap
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml
from rapidfuzz import fuzz, process

from .exceptions import MappingError
from .instrument import Instrument
from .loaders import base as _base

if TYPE_CHECKING:
    from .loaders.base import ParsedExport

logger = logging.getLogger(__name__)

MAPPING_FILE = "mapping.yml"
#: Pin target meaning "not an item, drop it" (role ``metadata``).
IGNORE = "ignore"
#: Columns of the table returned by :func:`map_columns` (``candidates`` is extra, for starter files).
COLUMN_TABLE = ("key", "header", "question", "role", "item_id", "match", "match_score", "candidates")

# --------------------------------------------------------------------------------------------
# normalisation
# --------------------------------------------------------------------------------------------
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
                         "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"'})
_TRAILING = re.compile(r"(?:\s*(?:\[required\]|\(required\)|\*))+\s*$")
_SEP = r"[\s:.)\]\-\u2013\u2014]"
_PREFIXES = (
    re.compile(rf"^(?:enabler|statement|question|item|section|part)\s*\d+[a-z]?(?:{_SEP}+)"),
    re.compile(rf"^e\d{{1,2}}(?:s\d{{1,2}}|_?overall)?(?![a-z0-9]){_SEP}*"),
    re.compile(rf"^q\s?\d+(?:[._]\d+)*[a-z]?(?![a-z0-9]){_SEP}*"),
    re.compile(rf"^\(?\d{{1,3}}(?:\.\d+)*[a-z]?(?:{_SEP}+)"),
)
_PUNCT = re.compile(r"[\W_]+")
_IZE = re.compile(r"\b(organi|prioriti|recogni|reali|mobili|empha|utili|minimi|maximi|speciali|standardi"
                  r"|characteri|summari|categori|empathi|capitali|centrali|decentrali|authori|finali)z")
_SPELLING = {
    "behavior": "behaviour", "behaviors": "behaviours", "behavioral": "behavioural", "center": "centre",
    "centers": "centres", "program": "programme", "programs": "programmes", "analyze": "analyse",
    "analyzed": "analysed", "favor": "favour", "labor": "labour", "neighborhood": "neighbourhood",
    "neighborhoods": "neighbourhoods", "color": "colour", "honor": "honour", "judgment": "judgement",
    "enroll": "enrol", "fulfill": "fulfil", "catalog": "catalogue", "adaptation": "adaption",
}
_WORD = re.compile(r"\w+")


def _normalise_once(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).translate(_QUOTES).casefold().strip()
    t = _TRAILING.sub("", t)
    changed = True
    while changed:
        changed = False
        for rx in _PREFIXES:
            new = rx.sub("", t, count=1).lstrip()
            if new != t:
                t, changed = new, True
    t = _PUNCT.sub(" ", t.replace("'", "").replace('"', " "))
    t = _IZE.sub(r"\1s", t)
    t = _WORD.sub(lambda m: _SPELLING.get(m.group(), m.group()), t)
    return " ".join(t.split())


@lru_cache(maxsize=65536)
def normalise_text(text: str) -> str:
    """Normalise a header (or label) for matching.

    Casefold; unify curly quotes; drop a trailing ``[required]``/``(required)``/``*``; strip
    numbering prefixes (``Enabler 3:``, ``E03S2``, ``Q7.``, ``Q1_3``, ``7.``, ``3a)``,
    ``Statement 2 -``); remove apostrophes and turn other punctuation into spaces; American to
    British spelling for a small table of words (organization, prioritized, behavior, center,
    program ...); collapse whitespace. Applied until nothing changes, so it is idempotent.

    Examples
    --------
    >>> normalise_text("Q7. We organize around the person*")
    'we organise around the person'
    >>> normalise_text("Enabler 3: Collaborative culture")
    'collaborative culture'
    """
    t = str(text)
    for _ in range(50):
        new = _normalise_once(t)
        if new == t:
            break
        t = new
    return t


def _tokens(text: str) -> int:
    return len(text.split())


def question_variants(text: str) -> list[str]:
    """Texts of one header cell to try against the instrument: the cell, its bracketed part
    (``Title [Statement]``), the part after its last ``" - "`` and the part after its last ``": "``."""
    text = str(text).strip()
    out = [text]
    m = re.search(r"\[([^\[\]]+)\]\s*\**$", text)
    if m and not _TRAILING.fullmatch(m.group(0)):
        out.append(m.group(1))
    for sep in (" - ", " \u2013 ", ": "):
        if sep in text:
            out.append(text.rsplit(sep, 1)[1])
    return [v for v in dict.fromkeys(v.strip() for v in out) if v]


# --------------------------------------------------------------------------------------------
# the item index and scoring
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ItemIndex:
    item_ids: tuple[str, ...]
    forms: np.ndarray                     # 'full' / 'short' per item
    texts: tuple[str, ...]                # item text as in the instrument
    full_pos: np.ndarray                  # positions of statements in item_ids
    full_norm: tuple[str, ...]
    short_pos: np.ndarray                 # position in item_ids, one per short-form name
    short_norm: tuple[str, ...]
    exact: dict[str, str]                 # normalised text -> item id (unambiguous ones only)
    ids: dict[str, str]                   # casefolded item / enabler id -> item id
    id_re: re.Pattern[str]


_INDEX_CACHE: dict[tuple[str, str, int], _ItemIndex] = {}


def _index(instrument: Instrument) -> _ItemIndex:
    key = (instrument.id, str(instrument.path), id(instrument))
    if key in _INDEX_CACHE:
        return _INDEX_CACHE[key]
    items = instrument.items
    ids = tuple(items["item_id"])
    exact: dict[str, str] = {}
    clash: set[str] = set()
    short_pos, short_norm = [], []
    for pos, row in enumerate(items.itertuples(index=False)):  # loop over items (44), not rows
        names = [row.text, *row.aliases]
        if row.form == "short":
            names.append(instrument.enablers.set_index("enabler_id").at[row.enabler_id, "short_name"])
        for name in dict.fromkeys(normalise_text(n) for n in names if str(n).strip()):
            if exact.get(name, row.item_id) != row.item_id:
                clash.add(name)
            exact[name] = row.item_id
            if row.form == "short":
                short_pos.append(pos)
                short_norm.append(name)
    for name in clash:
        exact.pop(name, None)
    id_map = {i.casefold(): i for i in ids}
    for r in items[items["form"] == "short"].itertuples(index=False):
        id_map.setdefault(str(r.enabler_id).casefold(), r.item_id)
    alternatives = "|".join(sorted((re.escape(k) for k in id_map), key=len, reverse=True))
    forms = items["form"].to_numpy()
    full_pos = np.flatnonzero(forms == "full")
    idx = _ItemIndex(ids, forms, tuple(items["text"]), full_pos, tuple(normalise_text(items["text"].iat[p]) for p in full_pos),
                     np.asarray(short_pos, dtype=int), tuple(short_norm), exact, id_map,
                     re.compile(rf"^\s*({alternatives})(?![A-Za-z0-9])", re.IGNORECASE))
    _INDEX_CACHE[key] = idx
    return idx


@dataclass
class _Scores:
    """Scores of every column against every item (columns x items) plus exact hits."""

    score: np.ndarray            # float, 0..100
    exact: list[list[str]]       # per column: item ids matched by id or exact text
    by_id: list[bool]            # per column: the exact hit came from an item id in the header
    best_text: list[list[str]]   # per column, per item: the header variant that scored best
    exact_text: list[str | None]  # per column: the header variant that matched exactly


_FUZZY_CACHE: dict[int, dict[str, np.ndarray]] = {}


def _fuzzy_scores(norm: list[str], idx: _ItemIndex) -> np.ndarray:
    """rapidfuzz scores (0-100) of normalised header texts against every item: texts x items."""
    score = np.zeros((len(norm), len(idx.item_ids)))
    ntok = np.array([_tokens(v) for v in norm])
    nlen = np.array([len(v) for v in norm])
    ok_full = ((ntok >= 3) & (nlen >= 12)) | ((ntok == 2) & (nlen >= 20))
    if idx.full_pos.size and ok_full.any():
        rows = np.flatnonzero(ok_full)
        m = process.cdist([norm[i] for i in rows], list(idx.full_norm), scorer=fuzz.token_set_ratio,
                          processor=None, dtype=np.float64)
        score[np.ix_(rows, idx.full_pos)] = m
    ok_short = (ntok >= 1) & (ntok <= 12)
    if idx.short_pos.size and ok_short.any():
        rows = np.flatnonzero(ok_short)
        m = process.cdist([norm[i] for i in rows], list(idx.short_norm), scorer=fuzz.token_sort_ratio,
                          processor=None, dtype=np.float64)
        for j, pos in enumerate(idx.short_pos):  # loop over short-form names
            score[rows, pos] = np.maximum(score[rows, pos], m[:, j])
    return score


_SCORES_CACHE: dict[tuple, _Scores] = {}


def _score_columns(questions: Sequence[Sequence[str]], idx: _ItemIndex) -> _Scores:
    """Scores of every column against every item; a pure function of the header texts, so the
    result is kept for the next file with the same headers (most exports of a cohort). Read-only."""
    key = (id(idx), tuple(tuple(str(c) for c in q) for q in questions))
    hit = _SCORES_CACHE.get(key)
    if hit is None:
        if len(_SCORES_CACHE) > 256:
            _SCORES_CACHE.clear()
        hit = _SCORES_CACHE[key] = _compute_scores(questions, idx)
    return hit


def _compute_scores(questions: Sequence[Sequence[str]], idx: _ItemIndex) -> _Scores:
    n_items = len(idx.item_ids)
    raw: list[str] = []
    owner: list[int] = []
    cell_of: list[int] = []   # which header cell of the column (0 = most specific) a variant comes from
    for c, cells in enumerate(questions):  # loop over columns
        variants = [(k, v) for k, cell in enumerate(cells) for v in question_variants(cell)] or [(0, "")]
        raw.extend(v for _, v in variants)
        cell_of.extend(k for k, _ in variants)
        owner.extend([c] * len(variants))
    norm = [normalise_text(v) for v in raw]
    n_var = len(raw)
    # Fuzzy scores depend only on the normalised text: computed once per distinct header text and
    # kept, since the exports of one cohort mostly share their headers.
    cache = _FUZZY_CACHE.setdefault(id(idx), {})
    todo = [n for n in dict.fromkeys(norm) if n not in cache]
    if todo:
        if len(cache) > 50_000:
            cache.clear()
        cache.update(zip(todo, _fuzzy_scores(todo, idx), strict=True))
    score = np.array([cache[n] for n in norm], dtype=np.float64).reshape(n_var, n_items)
    exact_v: list[str | None] = []
    by_id_v: list[bool] = []
    for v, n in zip(raw, norm, strict=True):
        m_id = idx.id_re.match(v)
        if m_id:
            exact_v.append(idx.ids[m_id.group(1).casefold()])
            by_id_v.append(True)
        else:
            exact_v.append(idx.exact.get(n))
            by_id_v.append(False)
    owner_a = np.asarray(owner)
    starts = np.flatnonzero(np.r_[True, owner_a[1:] != owner_a[:-1]])
    col_score = np.maximum.reduceat(score, starts, axis=0) if n_var else np.zeros((0, n_items))
    exact: list[list[str]] = []
    by_id: list[bool] = []
    best_text: list[list[str]] = []
    exact_text: list[str | None] = []
    pos_of = {i: p for p, i in enumerate(idx.item_ids)}
    bounds = list(starts) + [n_var]
    for c in range(len(questions)):  # loop over columns
        lo, hi = bounds[c], bounds[c + 1]
        # An exact hit in a more specific header cell (the statement row of a two-row header) wins over
        # one in a less specific cell (the question heading spanning it, e.g. "Enabler 1: <name>").
        hit_cells = [cell_of[i] for i in range(lo, hi) if exact_v[i]]
        first_cell = min(hit_cells) if hit_cells else -1
        hits = [exact_v[i] for i in range(lo, hi) if exact_v[i] and cell_of[i] == first_cell]
        ids_hits = [exact_v[i] for i in range(lo, hi) if exact_v[i] and by_id_v[i]]
        chosen = list(dict.fromkeys(ids_hits or hits))
        exact_text.append(next((raw[i] for i in range(lo, hi) if chosen and exact_v[i] == chosen[0]), None))
        exact.append(chosen)
        by_id.append(bool(ids_hits))
        arg = lo + np.argmax(score[lo:hi], axis=0)
        best_text.append([raw[a] for a in arg])
        for item in chosen:
            col_score[c, pos_of[item]] = 100.0
    return _Scores(col_score, exact, by_id, best_text, exact_text)


def match_cells(cells: Sequence[str], *, instrument: Instrument, fuzzy_threshold: float,
                pinned: Sequence[str] = ()) -> dict[str, str | None]:
    """The item each distinct header cell maps to (exact, fuzzy or pinned), else ``None``.

    Used to find the header row and the data sheet: scores all cells in one batch and never raises
    on ambiguity (the best candidate is taken). A pinned header maps to ``"pin:<header>"``.
    """
    uniq = list(dict.fromkeys(str(c).strip() for c in cells if str(c).strip()))
    if not uniq:
        return {}
    idx = _index(instrument)
    # (exact item, best item, best score) per cell text: a pure function of the text, kept across
    # files (the top rows of a cohort's exports repeat their headers and answer labels)
    cache = _CELL_CACHE.setdefault(id(idx), {})
    todo = [t for t in uniq if t not in cache]
    if todo:
        if len(cache) > 100_000:
            cache.clear()
        sc = _compute_scores([[c] for c in todo], idx)
        for c, text in enumerate(todo):  # loop over distinct new cells
            best = int(np.argmax(sc.score[c])) if sc.score.shape[1] else -1
            cache[text] = (sc.exact[c][0] if sc.exact[c] else None,
                           idx.item_ids[best] if best >= 0 else None,
                           float(sc.score[c, best]) if best >= 0 else 0.0)
    out: dict[str, str | None] = {}
    for text in uniq:  # loop over distinct cells
        exact, best_item, best_score = cache[text]
        if exact:
            out[text] = exact
        elif text in pinned:
            out[text] = f"pin:{text}"
        elif best_item is not None and best_score >= fuzzy_threshold:
            out[text] = best_item
        else:
            out[text] = None
    return out


_CELL_CACHE: dict[int, dict[str, tuple[str | None, str | None, float]]] = {}


def count_item_matches(cells: Sequence[str], *, instrument: Instrument, fuzzy_threshold: float,
                       pinned: Sequence[str] = ()) -> int:
    """Number of distinct items that the header cells ``cells`` map to (see :func:`match_cells`)."""
    found = match_cells(cells, instrument=instrument, fuzzy_threshold=fuzzy_threshold, pinned=pinned)
    return len({v for v in found.values() if v})


# --------------------------------------------------------------------------------------------
# roles
# --------------------------------------------------------------------------------------------
_ROLE_NAMES: dict[str, tuple[str, ...]] = {
    "respondent_id": ("id", "respondent id", "respondentid", "responseid", "response id", "userid", "user id",
                      "submission id", "record id", "response number", "respondent number", "responder id"),
    "email": ("email", "email address", "e mail", "e mail address", "your email", "your email address",
              "cyfeiriad e bost", "e bost"),
    "name": ("name", "first name", "last name", "full name", "your name", "surname", "forename",
             "respondent name", "enw", "your full name"),
    "ip": ("ip address", "ipaddress", "ip"),
    "location": ("locationlatitude", "locationlongitude", "location", "latitude", "longitude", "location latitude",
                 "location longitude"),
    "recipient": ("recipientlastname", "recipientfirstname", "recipientemail", "externalreference",
                  "externaldatareference", "external reference", "unique id"),
    "started_at": ("start time", "start date", "startdate", "started", "started at", "start"),
    "completed_at": ("completion time", "end date", "enddate", "recordeddate", "recorded date", "timestamp",
                     "ended", "submitted", "submitted at", "submission date", "date submitted", "completed",
                     "completed at", "end time", "date completed"),
    "metadata": ("collector id", "custom data 1", "custom data", "status", "progress", "duration in seconds",
                 "duration", "finished", "distributionchannel", "distribution channel", "userlanguage",
                 "user language", "last modified time", "tracking link", "custom value", "userno", "user no",
                 "response type", "language", "q recaptchascore", "q relevantidduplicate", "q relevantidfraudscore",
                 "q relevantidlaststartdate", "collector", "source", "team", "notes", "role", "job title", "job role",
                 "department", "service area", "directorate"),
    "council": ("council", "organisation", "local authority", "authority", "cyngor", "council name",
                "organisation name", "your council", "your organisation", "local authority name", "la",
                "awdurdod lleol", "which council do you work for", "which organisation do you work for",
                "name of council", "name of organisation", "which council are you from"),
    "perspective": ("perspective", "point of view", "answering from the point of view of", "viewpoint",
                    "are you answering for your service organisation or local system", "safbwynt"),
}
_ROLE_OF = {name: role for role, names in _ROLE_NAMES.items() for name in names}
_PERSPECTIVE_RX = re.compile(r"\b(perspective|point of view|answering (for|from|on behalf)|safbwynt)\b")
_COUNCIL_RX = re.compile(r"\b(council|local authority|cyngor|awdurdod)\b|^(which|what|your|name of)\b.*\b(organisation|authority)\b")
_FREE_TEXT_RX = re.compile(r"\b(comment|comments|anything else|other|please explain|please specify|explain|why|"
                           r"tell us|open ended response|sylwadau)\b")
_EMAIL_RX = r"^\s*[^@\s]+@[^@\s]+\.[A-Za-z]{2,}\s*$"
_GENERIC_SUBHEADERS = frozenset({"response", "open ended response", "responses", "answer", ""})


def _header_role(parts: Sequence[str]) -> str | None:
    norms = [normalise_text(p) for p in parts if str(p).strip()]
    for n in norms:
        if n in _ROLE_OF:
            return _ROLE_OF[n]
    for n in norms:
        if 0 < _tokens(n) <= 12:
            if _PERSPECTIVE_RX.search(n):
                return "perspective"
            if _COUNCIL_RX.search(n):
                return "council"
    return None


_EMAIL_CELL = re.compile(_EMAIL_RX)


def _content_role(values: pd.Series, scale_labels: frozenset[str], *, long_text: bool) -> str | None:
    """``email`` when most filled cells are e-mail addresses; ``free_text`` (if ``long_text``) when the
    cells are long text rather than scale labels. Each distinct cell is looked at once."""
    codes, uniq = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    counts = np.bincount(codes[codes >= 0], minlength=len(uniq))
    text = [str(u).strip() for u in uniq]  # loop over distinct values
    filled = np.fromiter((t != "" for t in text), dtype=bool, count=len(text))
    total = int(counts[filled].sum())
    if total == 0:
        return None
    has_at = np.fromiter(("@" in t for t in text), dtype=bool, count=len(text))
    if counts[has_at & filled].sum() >= 0.5 * total:
        is_email = np.fromiter((_EMAIL_CELL.match(t) is not None for t in text), dtype=bool, count=len(text))
        if counts[is_email & filled].sum() >= 0.5 * total:
            return "email"
    if long_text:
        lengths = np.fromiter((len(t) for t in text), dtype=np.int64, count=len(text))
        if np.median(np.repeat(lengths[filled], counts[filled])) > 30:
            distinct = {t for t, f in zip(text, filled, strict=True) if f}
            if np.mean([normalise_text(u) in scale_labels for u in distinct]) < 0.5:  # loop over distinct values
                return "free_text"
    return None


def scale_label_set(instrument: Instrument) -> frozenset[str]:
    """Normalised scale labels, non-answers and codes of ``instrument`` (to recognise answer cells)."""
    s = instrument.scale
    labels = [lab for labs in s.labels.values() for lab in labs] + list(s.non_answers) + [str(c) for c in s.codes]
    return frozenset(normalise_text(x) for x in labels)


# --------------------------------------------------------------------------------------------
# map_columns
# --------------------------------------------------------------------------------------------
def column_letter(position: int) -> str:
    """Spreadsheet column letter of a 0-based position (0 -> ``A``, 26 -> ``AA``)."""
    out = ""
    n = position + 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _resolve_pins(pins: dict[str, str], headers: list[str], letters: list[str], idx: _ItemIndex,
                  path: Any, sheet: str | None) -> dict[int, str]:
    out: dict[int, str] = {}
    parts = [[p.strip() for p in h.split(" | ")] for h in headers]
    for key, target in pins.items():
        key_s = str(key).strip()
        t = str(target).strip()
        if t.casefold() in idx.ids:
            t = idx.ids[t.casefold()]
        elif t == IGNORE:
            t = "metadata"
        elif t not in _base.COLUMN_ROLES or t == "item":
            raise MappingError(f"mapping.yml pins column {key_s!r} to {target!r}, which is neither an item id nor a role",
                               path=path, sheet=sheet,
                               hint=f"Use an item id such as {idx.item_ids[0]}, 'ignore' or one of the roles: "
                                    f"{', '.join(r for r in _base.COLUMN_ROLES if r != 'item')}.")
        hits = [i for i, h in enumerate(headers) if h.strip() == key_s]
        if not hits:
            hits = [i for i, p in enumerate(parts) if key_s in p]
            hits = hits if len(hits) == 1 else []
        if not hits:
            folded = " ".join(key_s.casefold().split())
            hits = [i for i, h in enumerate(headers) if " ".join(h.casefold().split()) == folded]
        if not hits and re.fullmatch(r"[A-Z]{1,3}", key_s):
            hits = [i for i, L in enumerate(letters) if L == key_s]
        for i in hits:
            out[i] = t
    return out


def map_columns(headers: list[str], *, instrument: Instrument, pins: dict[str, str] | None,
                fuzzy_threshold: float, fuzzy_margin: float, path: str | Path | None, sheet: str | None,
                letters: list[str] | None = None, questions: list[list[str]] | None = None,
                data: pd.DataFrame | None = None, check_complete: bool = True) -> pd.DataFrame:
    """Classify columns and map question columns to instrument items.

    Parameters
    ----------
    headers
        Header text of each column as shown (multi-row headers joined with ``" | "``).
    instrument
        The instrument whose items are matched.
    pins
        ``{header text or column letter: item id, role or 'ignore'}`` from ``mapping.yml``.
    fuzzy_threshold, fuzzy_margin
        Settings ``mapping.fuzzy_threshold`` and ``mapping.fuzzy_margin`` (see module docstring).
    path, sheet
        Where the headers come from, for messages.
    letters
        Column letters (keys); default ``A, B, ...`` by position.
    questions
        Header cells to match per column, most specific first; default: ``headers`` split on " | ".
    data
        The data cells (columns in the same order as ``headers``), for content-based roles.
    check_complete
        Raise when an item of the detected form has no column.

    Returns
    -------
    pandas.DataFrame
        One row per column: ``key, header, question, role, item_id, match, match_score, candidates``
        (``candidates``: the best items and scores, e.g. ``"E03S2 91; E03S1 80"``).

    Raises
    ------
    MappingError
        A column matches two items equally, two columns map to one item, a pin names an unknown
        target, or (``check_complete``) some item of the form has no column.
    """
    idx = _index(instrument)
    n = len(headers)
    letters = letters or [column_letter(i) for i in range(n)]
    questions = questions or [[p for p in h.split(" | ")] for h in headers]
    pinned = _resolve_pins(pins or {}, headers, letters, idx, path, sheet)
    sc = _score_columns(questions, idx)
    labels = scale_label_set(instrument)
    rows: list[dict[str, Any]] = []
    for c in range(n):  # loop over columns
        parts = [p for p in headers[c].split(" | ")]
        qparts = questions[c]
        order = np.argsort(-sc.score[c], kind="stable") if sc.score.shape[1] else np.array([], dtype=int)
        cands = "; ".join(f"{idx.item_ids[j]} {sc.score[c, j]:.0f}" for j in order[:3] if sc.score[c, j] >= 50)
        row: dict[str, Any] = {"key": letters[c], "header": headers[c], "question": (qparts[0] if qparts else headers[c]).strip(),
                               "role": "unmapped", "item_id": None, "match": "none", "match_score": np.nan,
                               "candidates": cands}
        best = int(order[0]) if order.size else -1
        role = _header_role(parts) if not sc.by_id[c] else None
        if c in pinned:
            t = pinned[c]
            row.update(match="pinned", **({"role": "item", "item_id": t} if t in idx.item_ids else {"role": t}))
        elif sc.by_id[c] or (sc.exact[c] and role is None):
            if len(sc.exact[c]) > 1:
                raise _ambiguous(headers[c], letters[c], sc.exact[c][:2], [100.0, 100.0], idx, path, sheet)
            row.update(role="item", item_id=sc.exact[c][0], match="exact", question=str(sc.exact_text[c]).strip())
        elif role is not None:
            row.update(role=role, match="role")
        elif best >= 0 and sc.score[c, best] >= fuzzy_threshold:
            second = int(order[1]) if order.size > 1 else best
            if second != best and sc.score[c, second] >= fuzzy_threshold and sc.score[c, best] - sc.score[c, second] < fuzzy_margin:
                raise _ambiguous(headers[c], letters[c], [idx.item_ids[best], idx.item_ids[second]],
                                 [sc.score[c, best], sc.score[c, second]], idx, path, sheet)
            row.update(role="item", item_id=idx.item_ids[best], match="fuzzy", match_score=float(sc.score[c, best]),
                       question=sc.best_text[c][best].strip())
        if row["match"] == "none":
            norms = [normalise_text(p) for p in parts]
            if any(_FREE_TEXT_RX.search(x) for x in norms):
                row.update(role="free_text", match="role")
            elif all(x == "" for x in norms) and (data is None or (data.iloc[:, c].astype(str).str.strip() == "").all()):
                row.update(role="metadata", match="role")
        if data is not None and row["match"] != "pinned" and row["role"] not in ("item", "council", "perspective"):
            content = _content_role(data.iloc[:, c], labels, long_text=row["role"] == "unmapped")
            if content == "email" or (content == "free_text" and row["role"] == "unmapped"):
                row.update(role=content, match="role")
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(COLUMN_TABLE))
    table["match_score"] = table["match_score"].astype("float64")
    table = _resolve_form_and_duplicates(table, idx, path, sheet)
    if check_complete:
        _check_complete(table, sc, idx, path, sheet)
    return table


def _ambiguous(header: str, letter: str, ids: list[str], scores: list[float], idx: _ItemIndex,
               path: Any, sheet: str | None) -> MappingError:
    desc = " and ".join(f"{i} (score {s:.0f}: {idx.texts[idx.item_ids.index(i)][:60]!r})" for i, s in zip(ids, scores, strict=True))
    name = Path(str(path)).name if path else "<file>"
    return MappingError(f"column {letter} matches two items equally well: {desc}", path=path, sheet=sheet, column=header,
                        hint=f"Pin it in the wave's mapping.yml: files: {{{json.dumps(name)}: {{columns: "
                             f"{{{json.dumps(header)}: {ids[0]}}}}}}} (use the right item id).")


def _resolve_form_and_duplicates(table: pd.DataFrame, idx: _ItemIndex, path: Any, sheet: str | None) -> pd.DataFrame:
    table = table.copy()
    # plain arrays: the table has one row per column of the export (a few dozen)
    is_item = (table["role"] == "item").to_numpy(dtype=bool)
    form_of = dict(zip(idx.item_ids, idx.forms, strict=True))
    forms = np.array([form_of.get(i) for i in table["item_id"].to_numpy(dtype=object)], dtype=object)
    form = "short" if (forms[is_item] == "short").sum() > (forms[is_item] == "full").sum() else "full"
    other = is_item & (forms != form)
    if other.any():
        logger.info("%s: %d column(s) match %s-form items in a %s-form file; treated as unmapped",
                    path, int(other.sum()), "short" if form == "full" else "full", form)
        table.loc[other, ["role", "match"]] = ["unmapped", "none"]
        table.loc[other, "item_id"] = None
        table.loc[other, "match_score"] = np.nan
    item_ids = table["item_id"].to_numpy(dtype=object)[(table["role"] == "item").to_numpy(dtype=bool)]
    if len(set(item_ids)) == len(item_ids):  # no item mapped twice: the usual case
        table.attrs["form"] = form
        return table
    items = table[table["role"] == "item"]
    dup = items["item_id"].duplicated(keep=False)
    for item, grp in items[dup].groupby("item_id", sort=False):  # loop over duplicated items only
        pinned = grp[grp["match"] == "pinned"]
        if len(pinned) == 1:
            drop = grp.index.difference(pinned.index)
            table.loc[drop, ["role", "match"]] = ["unmapped", "none"]
            table.loc[drop, "item_id"] = None
            continue
        cols = ", ".join(f"{k} {h!r} ({m}{'' if pd.isna(s) else f' {s:.0f}'})"
                         for k, h, m, s in zip(grp["key"], grp["header"], grp["match"], grp["match_score"], strict=True))
        raise MappingError(f"{len(grp)} columns map to the same item {item} "
                           f"({idx.texts[idx.item_ids.index(item)][:60]!r}): {cols}", path=path, sheet=sheet,
                           hint="Pin the right column to the item in mapping.yml and the other(s) to 'ignore' "
                                "or to their own item id.")
    table.attrs["form"] = form
    return table


def _check_complete(table: pd.DataFrame, sc: _Scores, idx: _ItemIndex, path: Any, sheet: str | None) -> None:
    if not (table["role"] == "item").any():
        return
    form = table.attrs.get("form", "full")
    wanted = [i for i, f in zip(idx.item_ids, idx.forms, strict=True) if f == form]
    have = set(table["item_id"].dropna())
    missing = [i for i in wanted if i not in have]
    if not missing:
        return
    free = np.flatnonzero((table["role"] != "item").to_numpy() & (table["header"].str.strip() != "").to_numpy())
    hints = []
    for item in missing[:8]:
        j = idx.item_ids.index(item)
        if free.size:
            c = int(free[np.argmax(sc.score[free, j])])
            hints.append(f"{item}: {table['key'].iat[c]} {table['header'].iat[c][:60]!r} (score {sc.score[c, j]:.0f})")
    kind = "statements" if form == "full" else "short-form items"
    closest = f" Closest unmatched headers: {'; '.join(hints)}." if hints else ""
    raise MappingError(f"this is a {form}-form export but {len(missing)} of {len(wanted)} {kind} have no column: "
                       f"{', '.join(missing)}.{closest}", path=path, sheet=sheet,
                       hint="If a header is a reworded statement, pin it in the wave's mapping.yml "
                            "(files: {<file>: {columns: {'<header>': <item id>}}}); "
                            "'diagnostics validate --write-mapping' writes a starter file.")


# --------------------------------------------------------------------------------------------
# mapping.yml
# --------------------------------------------------------------------------------------------
_FILE_KEYS = frozenset({"sheet", "format", "header_row", "council", "columns", "recode"})
_TOP_KEYS = frozenset({"files", "columns", "recode"})


@dataclass(frozen=True)
class FileMapping:
    """Settings of ``mapping.yml`` for one file (already merged with the top-level pins/recodes)."""

    sheet: str | None = None
    format: str | None = None
    header_row: int | None = None
    council: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    recode: dict[str, dict[str, float | None]] = field(default_factory=dict)


@dataclass
class WaveMapping:
    """A parsed ``mapping.yml`` (wave-level merged over cohort-level). See the module docstring.

    Attributes
    ----------
    files
        file name (relative to the wave folder) -> its :class:`FileMapping` (own keys only).
    columns
        Pins for every file.
    recode
        Recodes for every file.
    sources
        The ``mapping.yml`` files read, cohort-level first.
    """

    files: dict[str, FileMapping] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    recode: dict[str, dict[str, float | None]] = field(default_factory=dict)
    sources: list[Path] = field(default_factory=list)

    def for_file(self, name: str) -> FileMapping:
        """The settings for file ``name`` (its path relative to the wave folder, or the cohort folder)."""
        own = self.files.get(name)
        if own is None:
            folded = {k.casefold(): v for k, v in self.files.items()}
            own = folded.get(name.casefold()) or folded.get(Path(name).name.casefold()) or FileMapping()
        return FileMapping(sheet=own.sheet, format=own.format, header_row=own.header_row, council=own.council,
                           columns={**self.columns, **own.columns}, recode={**self.recode, **own.recode})


def _bad(path: Path, key: str, message: str) -> MappingError:
    return MappingError(f"key {key!r}: {message}", path=path,
                        hint="Fix mapping.yml; its layout is described in the README (section mapping.yml).")


def _parse_pins(value: Any, path: Path, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(path, key, f"must map a header (or column letter) to an item id or role, not {value!r}")
    out = {}
    for k, v in value.items():
        if not isinstance(v, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", v.strip()):
            raise _bad(path, f"{key}.{k}", f"must be an item id (e.g. E03S2), a role or 'ignore', not {v!r}")
        out[str(k).strip()] = v.strip()
    return out


def _parse_recode(value: Any, path: Path, key: str) -> dict[str, dict[str, float | None]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(path, key, "must map an item id (or '*') to {raw answer: score or null}")
    out: dict[str, dict[str, float | None]] = {}
    for item, codes in value.items():
        if not isinstance(codes, dict):
            raise _bad(path, f"{key}.{item}", f"must map raw answers to scores, not {codes!r}")
        conv: dict[str, float | None] = {}
        for raw, score in codes.items():
            if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
                raise _bad(path, f"{key}.{item}.{raw}", f"score must be a number or null, not {score!r}")
            conv[str(raw).strip()] = None if score is None else float(score)
        out[str(item).strip()] = conv
    return out


def _parse_mapping(data: Any, path: Path) -> WaveMapping:
    if data is None:
        return WaveMapping(sources=[path])
    if not isinstance(data, dict):
        raise _bad(path, "<root>", "the file must be a YAML mapping with 'files' and/or 'columns'")
    unknown = sorted(set(map(str, data)) - _TOP_KEYS)
    if unknown:
        raise _bad(path, unknown[0], f"unknown key; allowed at the top level: {', '.join(sorted(_TOP_KEYS))}")
    files_d = data.get("files") or {}
    if not isinstance(files_d, dict):
        raise _bad(path, "files", "must map file names to their settings")
    files: dict[str, FileMapping] = {}
    for name, spec in files_d.items():
        key = f"files.{name}"
        spec = spec or {}
        if not isinstance(spec, dict):
            raise _bad(path, key, f"must be a mapping of {', '.join(sorted(_FILE_KEYS))}")
        bad = sorted(set(map(str, spec)) - _FILE_KEYS)
        if bad:
            raise _bad(path, f"{key}.{bad[0]}", f"unknown key; allowed: {', '.join(sorted(_FILE_KEYS))}")
        fmt = spec.get("format")
        if fmt is not None and fmt not in _base.FORMATS:
            raise _bad(path, f"{key}.format", f"{fmt!r} is not a known format (known: {', '.join(_base.FORMATS)})")
        hr = spec.get("header_row")
        if hr is not None and (isinstance(hr, bool) or not isinstance(hr, int) or hr < 1):
            raise _bad(path, f"{key}.header_row", f"must be a row number (1 = first row), not {hr!r}")
        for k in ("sheet", "council"):
            if spec.get(k) is not None and not isinstance(spec[k], (str, int)):
                raise _bad(path, f"{key}.{k}", f"must be text, not {spec[k]!r}")
        files[str(name)] = FileMapping(
            sheet=None if spec.get("sheet") is None else str(spec["sheet"]), format=fmt, header_row=hr,
            council=None if spec.get("council") is None else str(spec["council"]),
            columns=_parse_pins(spec.get("columns"), path, f"{key}.columns"),
            recode=_parse_recode(spec.get("recode"), path, f"{key}.recode"))
    return WaveMapping(files=files, columns=_parse_pins(data.get("columns"), path, "columns"),
                       recode=_parse_recode(data.get("recode"), path, "recode"), sources=[path])


def _read_mapping_file(path: Path) -> WaveMapping:
    try:
        with open(path, encoding="utf-8-sig") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise MappingError(f"not valid YAML{where}: {getattr(exc, 'problem', None) or exc}", path=path,
                           hint="Check the indentation and quote headers that contain ':' or '#'.") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping file: {exc}", path=path) from exc
    return _parse_mapping(data, path)


def load_mapping(wave_dir: Path) -> WaveMapping | None:
    """Read ``<wave_dir>/mapping.yml`` and ``<wave_dir>/../mapping.yml``; ``None`` when neither exists.

    The wave-level file beats the cohort-level one: per file, its keys replace the cohort file's
    keys (``columns`` and ``recode`` are merged entry by entry); top-level pins are merged likewise.

    Raises
    ------
    MappingError
        Invalid YAML (with the line) or an invalid key (named, e.g. ``files.a.xlsx.format``).
    """
    wave_dir = Path(wave_dir)
    found = [p for p in (wave_dir.parent / MAPPING_FILE, wave_dir / MAPPING_FILE) if p.is_file()]
    if not found:
        return None
    merged = WaveMapping()
    for p in found:  # cohort first, then wave (wins)
        m = _read_mapping_file(p)
        for name, fm in m.files.items():
            old = merged.files.get(name, FileMapping())
            merged.files[name] = FileMapping(
                sheet=fm.sheet or old.sheet, format=fm.format or old.format, header_row=fm.header_row or old.header_row,
                council=fm.council or old.council, columns={**old.columns, **fm.columns}, recode={**old.recode, **fm.recode})
        merged.columns.update(m.columns)
        merged.recode.update(m.recode)
        merged.sources.append(p)
    return merged


# --------------------------------------------------------------------------------------------
# starter mapping
# --------------------------------------------------------------------------------------------
def _q(text: str) -> str:
    return json.dumps(str(text), ensure_ascii=False)


def starter_mapping(exports: list[ParsedExport], failed: Mapping[str, str] | None = None) -> str:
    """YAML text of a starter ``mapping.yml`` for the files read (``validate --write-mapping``).

    Lists every file with its detected format and sheet, and every column pinned to its current
    item or role, with how it matched and the fuzzy candidates as comments. Saved unchanged, it
    reproduces the current mapping exactly; edit the lines marked ``unmapped``.
    """
    lines = ["# Starter mapping.yml: every column pinned to what it maps to now.",
             "# Edit the targets (item id, role or 'ignore') and delete what you do not need.",
             "# Keys are header texts (or column letters when a header repeats).", "files:"]
    by_file: dict[str, list[ParsedExport]] = {}
    for ex in exports:
        by_file.setdefault(ex.path.name, []).append(ex)
    for name, group in by_file.items():
        first = group[0]
        lines.append(f"  {_q(name)}:")
        lines.append(f"    format: {first.format}")
        if len(group) == 1 and first.sheet is not None:
            lines.append(f"    sheet: {_q(first.sheet)}")
        elif len(group) > 1:
            lines.append(f"    # data sheets: {', '.join(_q(g.sheet) for g in group)}")
        if first.format in ("handmade", "tidy_wide"):
            lines.append(f"    header_row: {first.header_rows[0]}")
        if first.council_hint is not None:
            lines.append(f"    council: {_q(first.council_hint)}")
        lines.append("    columns:")
        seen: set[str] = set()
        for ex in group:
            cols = ex.columns
            counts = cols["header"].str.strip().value_counts()
            for r in cols.itertuples(index=False):  # loop over columns
                header = str(r.header).strip()
                key = header if header and counts.get(header, 0) == 1 else r.key
                if key in seen:
                    continue
                seen.add(key)
                target = r.item_id if r.role == "item" else r.role
                how = r.match + ("" if pd.isna(r.match_score) else f" {r.match_score:.0f}")
                note = f"  # {how}" + (f"; candidates: {r.candidates}" if getattr(r, "candidates", "") else "")
                lines.append(f"      {_q(key)}: {target}{note}")
    for name, message in (failed or {}).items():
        lines.append(f"  # {_q(name)}: could not be mapped automatically; pin its columns here:")
        lines.extend(f"  #   {part}" for part in textwrap.wrap(str(message), 100))
        lines.append(f"  # {_q(name)}:")
        lines.append("  #   columns:")
        lines.append('  #     "<header text or column letter>": <item id such as E01S1, a role, or ignore>')
    return "\n".join(lines) + "\n"
