"""The diagnostic instrument, loaded from YAML and validated.

The code never hard-codes enabler names, the number of statements or the scale: it reads them from
an :class:`Instrument`. A malformed file raises :class:`~analysis.exceptions.InstrumentError`
naming the file and the field (for example ``enablers[3].statements[1].id``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .config import DEFAULT_INSTRUMENT, INSTRUMENTS_DIR
from .exceptions import InstrumentError

_ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Scale:
    """A rating scale: integer codes ``min..max`` with labels in one or more languages."""

    min: int
    max: int
    #: code -> every accepted label for it, canonical English first, then variants and other languages.
    labels: dict[int, tuple[str, ...]]
    #: language -> code -> labels, as written in the file.
    labels_by_language: dict[str, dict[int, tuple[str, ...]]]
    #: answers that mean "no answer given on purpose" (Don't know, N/A ...), all languages.
    non_answers: tuple[str, ...]

    @property
    def points(self) -> int:
        """Number of response options A (5 for a 1..5 scale)."""
        return self.max - self.min + 1

    @property
    def codes(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1))

    def canonical_label(self, code: int) -> str:
        """The first English (or first-listed) label of ``code``."""
        return self.labels[code][0]


@dataclass(frozen=True)
class Instrument:
    """A validated diagnostic instrument.

    Attributes
    ----------
    id, name, version, provenance
        Identification and source of the instrument.
    scale
        The rating scale.
    groupings
        DataFrame: ``grouping_id, grouping_name, description, position``.
    enablers
        DataFrame: ``enabler_id, enabler_name, short_name, grouping_id, position``.
    items
        DataFrame, one row per item of every form: ``item_id, enabler_id, grouping_id, form
        ('full' or 'short'), text, position``.
    perspectives
        canonical perspective -> accepted labels.
    path
        The YAML file it came from.
    """

    id: str
    name: str
    version: Any
    provenance: dict[str, Any]
    scale: Scale
    groupings: pd.DataFrame
    enablers: pd.DataFrame
    items: pd.DataFrame
    perspectives: dict[str, tuple[str, ...]]
    path: Path
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def enabler_ids(self) -> list[str]:
        return self.enablers["enabler_id"].tolist()

    @property
    def grouping_ids(self) -> list[str]:
        return self.groupings["grouping_id"].tolist()

    def form_items(self, form: str = "full") -> pd.DataFrame:
        """Items of one form (``'full'``: the statements; ``'short'``: one overall item per enabler)."""
        if form not in ("full", "short"):
            raise ValueError(f"form must be 'full' or 'short', not {form!r}")
        return self.items[self.items["form"] == form].reset_index(drop=True)

    def items_per_enabler(self) -> pd.DataFrame:
        """``form, enabler_id, n_items``: how many items each enabler has in each form."""
        return (self.items.groupby(["form", "enabler_id"], sort=False).size()
                .rename("n_items").reset_index())

    def enabler_name(self, enabler_id: str) -> str:
        return str(self.enablers.set_index("enabler_id").at[enabler_id, "enabler_name"])


def _fail(path: Path, key: str, message: str) -> InstrumentError:
    return InstrumentError(message, path=path, key=key,
                           hint="Fix the instrument file; see src/analysis/instruments/margins_to_mainstream.yml for the expected layout.")


def _require(mapping: Any, key: str, where: str, path: Path, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise _fail(path, f"{where}{key}", "required field is missing")
    value = mapping[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, f"{where}{key}", f"must be a {names}, not {type(value).__name__} {value!r}")
    return value


def _check_id(value: Any, key: str, path: Path, seen: set[str]) -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise _fail(path, key, f"id {value!r} must be text starting with a letter (letters, digits, '_')")
    if value in seen:
        raise _fail(path, key, f"id {value!r} is used twice; ids must be unique across the instrument")
    seen.add(value)
    return value


def _labels(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(path, key, "must be a non-empty list of labels")
    return tuple(v.strip() for v in value)


def parse_instrument(data: Any, path: Path) -> Instrument:
    """Validate a parsed YAML document and build an :class:`Instrument` (see module docstring)."""
    if not isinstance(data, dict):
        raise _fail(path, "<root>", "the file must be a YAML mapping")
    seen: set[str] = set()
    inst_id = _check_id(_require(data, "id", "", path, str), "id", path, set())
    name = _require(data, "name", "", path, str)

    # scale
    scale_d = _require(data, "scale", "", path, dict)
    smin = _require(scale_d, "min", "scale.", path, int)
    smax = _require(scale_d, "max", "scale.", path, int)
    if smax <= smin:
        raise _fail(path, "scale.max", f"must be greater than scale.min ({smin}), not {smax}")
    labels_d = _require(scale_d, "labels", "scale.", path, dict)
    by_lang: dict[str, dict[int, tuple[str, ...]]] = {}
    labels: dict[int, tuple[str, ...]] = {}
    for code in range(smin, smax + 1):
        if code not in labels_d:
            raise _fail(path, f"scale.labels.{code}", f"every code {smin}..{smax} needs labels; {code} has none")
        entry = labels_d[code]
        key = f"scale.labels.{code}"
        if isinstance(entry, (list, str)):
            entry = {"en": entry}
        if not isinstance(entry, dict) or not entry:
            raise _fail(path, key, "must map a language code (en, cy ...) to a list of labels")
        merged: list[str] = []
        for lang, lab in entry.items():
            lab_t = _labels(lab, f"{key}.{lang}", path)
            by_lang.setdefault(str(lang), {})[code] = lab_t
            merged.extend(lab_t)
        labels[code] = tuple(dict.fromkeys(merged))
    extra = sorted(set(labels_d) - set(range(smin, smax + 1)), key=str)
    if extra:
        raise _fail(path, f"scale.labels.{extra[0]}", f"code {extra[0]!r} is outside the scale {smin}..{smax}")
    na_d = scale_d.get("non_answers", {}) or {}
    if isinstance(na_d, list):
        na_d = {"en": na_d}
    if not isinstance(na_d, dict):
        raise _fail(path, "scale.non_answers", "must map a language code to a list of labels")
    non_answers = tuple(dict.fromkeys(v for lang, lab in na_d.items() for v in _labels(lab, f"scale.non_answers.{lang}", path)))
    normal = {re.sub(r"\W+", "", v.casefold()) for v in non_answers}
    for code, labs in labels.items():
        for lab in labs:
            if re.sub(r"\W+", "", lab.casefold()) in normal:
                raise _fail(path, f"scale.labels.{code}", f"label {lab!r} is also listed as a non-answer")
    scale = Scale(min=smin, max=smax, labels=labels, labels_by_language=by_lang, non_answers=non_answers)

    # enablers and statements
    enablers_l = _require(data, "enablers", "", path, list)
    if not enablers_l:
        raise _fail(path, "enablers", "must list at least one enabler")
    short = data.get("short_form") or {}
    if not isinstance(short, dict):
        raise _fail(path, "short_form", "must be a mapping with 'item_suffix'")
    suffix = short.get("item_suffix", "_overall")
    if not isinstance(suffix, str) or not re.match(r"^[A-Za-z0-9_]+$", suffix):
        raise _fail(path, "short_form.item_suffix", f"must be letters, digits or '_', not {suffix!r}")
    enabler_rows: list[dict[str, Any]] = []
    item_rows: list[dict[str, Any]] = []
    texts: dict[str, str] = {}
    for i, en in enumerate(enablers_l):
        where = f"enablers[{i}]."
        eid = _check_id(_require(en, "id", where, path, str), f"{where}id", path, seen)
        ename = _require(en, "name", where, path, str)
        stmts = _require(en, "statements", where, path, list)
        if not stmts:
            raise _fail(path, f"{where}statements", f"enabler {eid} has no statements")
        enabler_rows.append({"enabler_id": eid, "enabler_name": ename.strip(),
                             "short_name": str(en.get("short_name") or ename).strip(), "position": i})
        for j, st in enumerate(stmts):
            swhere = f"{where}statements[{j}]."
            sid = _check_id(_require(st, "id", swhere, path, str), f"{swhere}id", path, seen)
            text = _require(st, "text", swhere, path, str).strip()
            if not text:
                raise _fail(path, f"{swhere}text", "statement text is empty")
            key = re.sub(r"\W+", " ", text.casefold()).strip()
            if key in texts:
                raise _fail(path, f"{swhere}text", f"same text as statement {texts[key]}")
            texts[key] = sid
            item_rows.append({"item_id": sid, "enabler_id": eid, "form": "full", "text": text,
                              "aliases": tuple(st.get("aliases") or ())})
        oid = _check_id(f"{eid}{suffix}", f"{where}id (short-form item)", path, seen)
        item_rows.append({"item_id": oid, "enabler_id": eid, "form": "short", "text": ename.strip(),
                          "aliases": tuple(en.get("aliases") or ()) + (str(en.get("short_name") or ""),) if en.get("short_name") else tuple(en.get("aliases") or ())})

    # groupings: every enabler in exactly one grouping
    groupings_l = _require(data, "groupings", "", path, list)
    enabler_ids = [r["enabler_id"] for r in enabler_rows]
    owner: dict[str, str] = {}
    grouping_rows: list[dict[str, Any]] = []
    for g, gr in enumerate(groupings_l):
        where = f"groupings[{g}]."
        gid = _check_id(_require(gr, "id", where, path, str), f"{where}id", path, seen)
        gname = _require(gr, "name", where, path, str)
        members = _require(gr, "enablers", where, path, list)
        if not members:
            raise _fail(path, f"{where}enablers", f"grouping {gid} has no enablers")
        for m in members:
            if m not in enabler_ids:
                raise _fail(path, f"{where}enablers", f"{m!r} is not an enabler id (known: {', '.join(enabler_ids)})")
            if m in owner:
                raise _fail(path, f"{where}enablers", f"enabler {m} is already in grouping {owner[m]}; each enabler belongs to one grouping")
            owner[m] = gid
        grouping_rows.append({"grouping_id": gid, "grouping_name": gname.strip(),
                              "description": str(gr.get("description", "")).strip(), "position": g})
    orphans = [e for e in enabler_ids if e not in owner]
    if orphans:
        raise _fail(path, "groupings", f"enabler(s) {', '.join(orphans)} belong to no grouping")

    # perspectives
    persp_d = data.get("perspectives") or {}
    if not isinstance(persp_d, dict):
        raise _fail(path, "perspectives", "must map a perspective to a list of labels")
    perspectives = {str(k): _labels(v, f"perspectives.{k}", path) for k, v in persp_d.items()}

    enablers = pd.DataFrame(enabler_rows)
    enablers["grouping_id"] = enablers["enabler_id"].map(owner)
    enablers = enablers[["enabler_id", "enabler_name", "short_name", "grouping_id", "position"]]
    items = pd.DataFrame(item_rows)
    items["grouping_id"] = items["enabler_id"].map(owner)
    items["position"] = range(len(items))
    items = items[["item_id", "enabler_id", "grouping_id", "form", "text", "aliases", "position"]]
    return Instrument(id=inst_id, name=name.strip(), version=data.get("version"),
                      provenance=dict(data.get("provenance") or {}), scale=scale,
                      groupings=pd.DataFrame(grouping_rows), enablers=enablers, items=items,
                      perspectives=perspectives, path=path, raw=data)


def resolve_instrument_path(name_or_path: str | Path | None = None) -> Path:
    """Turn an instrument name (``margins_to_mainstream``) or a path into an existing YAML path."""
    value = str(name_or_path or DEFAULT_INSTRUMENT)
    candidate = Path(value)
    if candidate.suffix in (".yml", ".yaml") or candidate.exists():
        if not candidate.exists():
            raise InstrumentError(f"instrument file {value!r} does not exist",
                                  hint="Pass a path to a YAML file or the name of a bundled instrument.")
        return candidate.resolve()
    bundled = INSTRUMENTS_DIR / f"{value}.yml"
    if bundled.exists():
        return bundled
    known = sorted(p.stem for p in INSTRUMENTS_DIR.glob("*.yml"))
    raise InstrumentError(f"no instrument called {value!r}",
                          hint=f"Bundled instruments: {', '.join(known)}; or pass a path to a YAML file.")


@lru_cache(maxsize=16)
def _load_cached(path: Path, mtime: float) -> Instrument:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        raise InstrumentError(f"not valid YAML: {exc}", path=path) from exc
    return parse_instrument(data, path)


def load_instrument(name_or_path: str | Path | None = None) -> Instrument:
    """Load and validate an instrument by bundled name or path.

    Parameters
    ----------
    name_or_path
        ``None`` or ``"margins_to_mainstream"`` for the bundled diagnostic, or a path to a YAML file.

    Raises
    ------
    InstrumentError
        The file is missing or malformed; the message names the field.
    """
    path = resolve_instrument_path(name_or_path)
    return _load_cached(path, path.stat().st_mtime)


def required_count(n_items: int, minimum: int) -> int:
    """Items needed for a valid score: ``minimum`` capped at the number of items available."""
    return max(1, min(int(minimum), int(n_items)))


def required_fraction(n_units: int, fraction: float) -> int:
    """Units needed for a valid aggregate: ``ceil(fraction * n)`` (at least 1)."""
    return max(1, math.ceil(round(fraction * n_units, 9)))
