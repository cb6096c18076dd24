"""Privacy: small-group suppression and the ingest-time protections.

* Reports never show statistics for a group smaller than the disclosure threshold
  (:func:`suppress_small_groups`).
* Respondents are known only by a salted hash of their identity (:func:`respondent_keys`); the salt
  lives in ``data/keys/<cohort>.salt`` (:func:`load_or_create_salt`), never beside the outputs.
* Columns with a personal role (:data:`~analysis.loaders.base.PERSONAL_ROLES`) never leave ingest
  (:func:`split_personal_columns`); free text that is kept is masked (:func:`mask_personal_text`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ConfigError
from .loaders.base import PERSONAL_ROLES, ParsedExport

logger = logging.getLogger(__name__)


def suppress_small_groups(data: pd.DataFrame, *, n: str = "n", threshold: int,
                          values: Sequence[str] | None = None) -> pd.DataFrame:
    """Blank the statistics of rows whose group size is below the disclosure threshold.

    Parameters
    ----------
    data
        A summary table with one row per group.
    n
        Column holding the group size.
    threshold
        Disclosure threshold: rows with ``n < threshold`` are suppressed. ``0`` or ``1`` disables.
    values
        Columns to blank; by default every numeric column except ``n``.

    Returns
    -------
    pandas.DataFrame
        A copy with the value columns set to NaN on suppressed rows and a boolean column
        ``suppressed``. ``n`` itself is kept so that readers can see why.
    """
    out = data.copy()
    if values is None:
        values = [c for c in out.columns if c != n and c != "suppressed" and pd.api.types.is_numeric_dtype(out[c])]
    mask = (out[n].fillna(0).to_numpy() < threshold)
    out["suppressed"] = mask
    if mask.any():
        for col in values:
            out[col] = out[col].astype("float64")
            out.loc[mask, col] = np.nan
    return out


# --------------------------------------------------------------------------------------------
# Respondent keys and the cohort salt
# --------------------------------------------------------------------------------------------

#: Identity columns read by :func:`respondent_keys` (missing columns count as blank).
IDENTITY_COLUMNS: tuple[str, ...] = ("email", "name", "source_file", "sheet", "respondent_id", "row", "scope")

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Name answers that identify nobody (compared after casefolding and dropping punctuation).
PLACEHOLDER_NAMES: frozenset[str] = frozenset({
    "", "anonymous", "anon", "na", "n a", "none", "no", "not given", "prefer not to say", "unknown",
    "test", "x", "xx", "xxx", "dienw",
})
KEY_LENGTH: int = 16
SALT_BYTES: int = 32


def _text_column(identity: pd.DataFrame, column: str) -> pd.Series:
    if column not in identity.columns:
        return pd.Series("", index=identity.index, dtype=object)
    col = identity[column].astype(object)
    return col.where(col.notna(), "").astype(str).str.strip()


def identity_strings(identity: pd.DataFrame) -> pd.Series:
    """The text that identifies each respondent (before hashing); see :func:`respondent_keys`."""
    email = _text_column(identity, "email").str.casefold()
    email_ok = email.str.match(_EMAIL_SHAPE.pattern) & ~email.str.startswith("anonymous")
    # names are normalised only where the email does not already identify the row
    name = pd.Series("", index=identity.index, dtype=object)
    need = ~email_ok.to_numpy(dtype=bool)
    if need.any():
        name[need] = (_text_column(identity, "name")[need].str.casefold()
                      .str.replace(r"[^\w\s]+", " ", regex=True).str.split().str.join(" ")).astype(object)
    name_ok = ~name.isin(PLACEHOLDER_NAMES) & (name.str.len() >= 2)
    src = _text_column(identity, "source_file") + "|" + _text_column(identity, "sheet")
    rid = _text_column(identity, "respondent_id")
    row = _text_column(identity, "row")
    scope = _text_column(identity, "scope")
    out = np.where(email_ok, "email:" + email,
                   np.where(name_ok, "name:" + name,
                            np.where(rid != "", "export:" + src + "|" + rid, "row:" + src + "|" + row)))
    return scope + "\x1f" + pd.Series(out, index=identity.index, dtype=object)


def respondent_keys(identity: pd.DataFrame, *, salt: bytes) -> pd.Series:
    """Salted SHA-256 keys (first 16 hex characters) that stand in for respondents.

    Parameters
    ----------
    identity
        One row per respondent row. Columns used (all optional): ``email``, ``name`` (full name,
        first and last joined), ``source_file``, ``sheet``, ``respondent_id`` (the export's own id),
        ``row``, and ``scope`` (text hashed with the identity, e.g. the council id, so that one
        person answering for two councils is two respondents).
    salt
        The cohort salt (:func:`load_or_create_salt`). The same identity and salt always give the
        same key, so keys are stable across waves; without the salt they cannot be reversed by
        hashing guessed emails.

    Returns
    -------
    pandas.Series
        Same index, dtype ``str``: 16 lowercase hex characters.

    Notes
    -----
    Identity, first that applies per row: the email (casefolded; must look like an address and not
    start with "anonymous"), else the full name (casefolded, punctuation and spacing normalised;
    placeholders such as "Anonymous" or "N/A" skipped), else ``source_file|sheet|respondent_id``,
    else ``source_file|sheet|row``. Two different people with the same full name and no email in the
    same council therefore share a key (and one is kept as the latest response). ``hashlib`` is
    called once per *unique* identity, not per row.
    """
    if not isinstance(salt, (bytes, bytearray)) or not salt:
        raise ConfigError("the respondent-key salt must be non-empty bytes",
                          hint="Use privacy.load_or_create_salt(keys_dir, cohort).")
    ident = identity_strings(identity)
    uniques = pd.unique(ident.to_numpy())
    table = {u: hashlib.sha256(bytes(salt) + u.encode("utf-8")).hexdigest()[:KEY_LENGTH] for u in uniques}
    return ident.map(table).astype("str")


def load_or_create_salt(keys_dir: Path, cohort: str) -> bytes:
    """Read the cohort's salt from ``<keys_dir>/<cohort>.salt``, creating it on first use.

    The file holds 32 random bytes as hex, is created with mode 0o600 (its folder 0o700) and is
    reused by every later run so that respondent keys stay stable across waves. Losing it makes new
    keys unrelated to old ones; sharing it lets anyone test guessed emails against the keys.

    Raises
    ------
    ConfigError
        When ``cohort`` is not a plain folder name, ``keys_dir`` is inside a ``processed`` or
        ``reports`` folder, or the existing salt file is malformed.
    """
    keys_dir = Path(keys_dir)
    if not cohort or not re.match(r"^[\w.-]+$", cohort) or cohort in (".", ".."):
        raise ConfigError(f"cohort name {cohort!r} cannot name a salt file",
                          hint="Use letters, digits, '-', '_' or '.' only.")
    parts = {p.casefold() for p in keys_dir.resolve().parts}
    if parts & {"processed", "reports"}:
        raise ConfigError("the salt folder must not be inside data/processed or reports (those are shared)",
                          path=keys_dir, hint="Keep salts in data/keys (config.cohort_paths(...)['keys']).")
    path = keys_dir / f"{cohort}.salt"
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created by a concurrent run: read theirs
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(SALT_BYTES) + "\n")
            os.chmod(path, 0o600)
            logger.info("created respondent-key salt %s", path)
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        salt = bytes.fromhex(text)
    except ValueError:
        salt = b""
    if len(salt) != SALT_BYTES:
        raise ConfigError(f"the salt file does not hold {SALT_BYTES} bytes as hex", path=path,
                          hint="Restore it from backup; deleting it makes new respondent keys unrelated to earlier waves.")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        logger.warning("salt file %s is readable by others (mode %o); run chmod 600 on it", path, mode)
    return salt


# --------------------------------------------------------------------------------------------
# Personal text
# --------------------------------------------------------------------------------------------

EMAIL_RE = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
#: UK numbers (07700 900123, 020 7946 0000, (01632) 960 001) and international numbers written with
#: a country code (+44 20 7946 0000, +1 415 555 2671): a leading ``0`` or ``+<code>`` then 8 to 12
#: more digits, optionally separated by spaces, dots, dashes or brackets. Dates, times and scores
#: do not start that way and are kept.
PHONE_RE = re.compile(r"(?<![\w+])(?:\+\d{1,3}|\(?0)(?:[\s().-]{0,2}\d){8,12}(?!\w)")


def mask_personal_text(s: pd.Series) -> pd.Series:
    """Replace email addresses with ``[email]`` and phone numbers with ``[phone]``.

    Everything else is kept. Emails are :data:`EMAIL_RE`; phone numbers are :data:`PHONE_RE`
    (UK numbers starting with 0 and numbers with a ``+`` country code).

    Returns
    -------
    pandas.Series
        Same index; dtype ``string`` (NA kept).
    """
    text = s.astype("string")
    text = text.str.replace(EMAIL_RE, "[email]", regex=True)
    return text.str.replace(PHONE_RE, "[phone]", regex=True)


def complementary_suppression(data: pd.DataFrame, *, within: Sequence[str], n: str = "n",
                              threshold: int) -> pd.DataFrame:
    """Flag groups below the disclosure threshold, and the siblings that would give them away.

    Parameters
    ----------
    data
        One row per group (e.g. council x perspective x unit), with a size column ``n``.
    within
        Columns that define a set of sibling groups whose total is published elsewhere (e.g.
        ``["wave", "council_id", "unit_id"]`` for the perspectives of one council and unit).
    n
        Column holding the group size.
    threshold
        Disclosure threshold: a group with ``n < threshold`` is suppressed (primary).

    Returns
    -------
    pandas.DataFrame
        A copy with two boolean columns: ``suppressed`` (``n < threshold``: primary) and
        ``secondary_suppressed`` (hidden only to protect a primary one). Nothing is blanked here;
        :func:`suppress_small_groups` or the report writers blank what the flags say.

    Notes
    -----
    When exactly one group of a sibling set is suppressed and has respondents, its figures could be
    worked out by subtracting the visible siblings from the published total; the smallest visible
    sibling is then suppressed too (ties: the first in table order), as survey platforms do.
    Vectorised over sibling sets (group codes, ``np.bincount`` and one sort).
    """
    out = data.copy()
    size = out[n].fillna(0).to_numpy(dtype="float64")
    primary = size < threshold
    out["suppressed"] = primary
    out["secondary_suppressed"] = False
    if not len(out):
        return out
    set_id = out.groupby(list(within), sort=False, dropna=False).ngroup().to_numpy()
    hidden_with_people = np.bincount(set_id, weights=(primary & (size > 0)).astype(float))
    visible = ~primary & (hidden_with_people[set_id] == 1)
    if visible.any():
        cand = pd.DataFrame({"set": set_id[visible], "size": size[visible], "pos": np.flatnonzero(visible)})
        first = cand.sort_values(["set", "size", "pos"], kind="stable").drop_duplicates("set")["pos"].to_numpy()
        flag = np.zeros(len(out), dtype=bool)
        flag[first] = True
        out["secondary_suppressed"] = flag
    return out


def split_personal_columns(export: ParsedExport) -> tuple[ParsedExport, pd.DataFrame]:
    """Separate the personal columns of an export from the rest.

    Returns
    -------
    (ParsedExport, pandas.DataFrame)
        A copy of ``export`` without the columns whose role is in :data:`PERSONAL_ROLES`, and those
        columns (``data`` restricted to them; column keys unchanged). The input is not modified.
    """
    personal = export.columns["role"].isin(PERSONAL_ROLES)
    keys = export.columns.loc[personal, "key"].tolist()
    kept = dataclasses.replace(export, data=export.data.drop(columns=keys),
                               columns=export.columns.loc[~personal].reset_index(drop=True))
    return kept, export.data[keys].copy()


def drop_personal_columns(export: ParsedExport) -> ParsedExport:
    """A copy of ``export`` without its personal columns (see :func:`split_personal_columns`)."""
    return split_personal_columns(export)[0]


#: Words that make an unparseable answer cell worth quoting in ``cell_issues.csv`` (a mistyped or
#: unusual scale answer); any other text could be a name or a comment and is withheld.
_ANSWER_WORDS_RE = re.compile(r"\d|agree|disagree|neutral|neither|strongly|know|applicable|n/?a\b|unsure|sure|"
                              r"cytuno|anghytuno|gwybod|berthnasol", re.IGNORECASE)


def redact_raw_answers(values: pd.Series, kinds: pd.Series) -> pd.Series:
    """Make the raw values quoted in ``cell_issues.csv`` safe to keep in ``data/processed``.

    E-mail addresses and phone numbers are masked everywhere. An ``unparseable`` cell is quoted
    only when it looks like an attempt at a scale answer (it contains a digit or a scale word such
    as "agree", "neutral", "know", "cytuno"); other text (a name, a comment typed into an answer
    cell) becomes ``[withheld: N characters of text]``. The analyst can still find the cell from
    ``source_file``, ``sheet``, ``source_row`` and ``column`` in the raw export.
    """
    text = mask_personal_text(values.astype(object).where(values.notna(), "").astype(str))
    answer_like = text.str.contains(_ANSWER_WORDS_RE, na=False)
    withheld = (kinds.astype("string") == "unparseable").fillna(False) & ~answer_like
    lengths = text.str.len().astype("Int64").astype(str)
    return text.where(~withheld, "[withheld: " + lengths + " characters of text]")
