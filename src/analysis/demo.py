"""The synthetic demo cohort: fictional councils, realistic answers, realistic messy exports.

:func:`generate_demo_cohort` simulates two waves of the diagnostic for ~20 invented councils and
writes each council's answers the way its (fictional) survey tool would export them, using the
writers in :mod:`analysis.synthetic`. It also returns the *truth* (what a correct ingest must
produce) and the *expected* row accounting per file, so tests can check the whole pipeline.

The answer model (per wave :math:`w`, council :math:`c`, respondent :math:`i`, item :math:`j` of
enabler :math:`k` in grouping :math:`g`)::

    latent = mu + m_c + d_c * w + a_k + u_cg + v_ck + r_i + s_ig + b_j + e_ij
    score  = 1 + #{t in (1.5, 2.5, 3.5, 4.5) : latent > t}

with council maturity ``m_c ~ N(0, 0.35)``, fixed enabler offsets ``a_k`` (E01 and E03 higher,
E09 and E11 lower), council x grouping ``u ~ N(0, 0.2)`` and council x enabler ``v ~ N(0, 0.12)``
effects, respondent ``r ~ N(0, 0.5)`` and respondent x grouping ``s ~ N(0, 0.25)`` effects, item
offsets ``b ~ N(0, 0.1)`` and noise ``e ~ N(0, 0.6)``. Between waves most councils improve by
0.1-0.3 and two decline. About 2.8 % of answers are left blank and 0.4 % are "Don't know".

Randomness comes from independent streams of ``numpy.random.default_rng([seed, stream])``, so the
answers (and therefore ``truth``) do not depend on ``formats`` or ``faults``.

Nothing here is real: council names are invented, e-mail addresses use ``example.org`` /
``example.com`` subdomains and IP addresses the documentation ranges of RFC 5737.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import synthetic as syn
from .config import SYNTHETIC_MARKER
from .instrument import Instrument, load_instrument
from .io import atomic_path

logger = logging.getLogger(__name__)

DEMO_WAVES: tuple[str, ...] = ("2024-01", "2025-01")
DEMO_SEED: int = 20240101
REGISTER_FILE: str = "cohort.csv"

#: Fixed enabler offsets of the answer model (systematic strengths and weaknesses of the cohort).
ENABLER_EFFECTS: dict[str, float] = {
    "E01": 0.40, "E02": -0.05, "E03": 0.30, "E04": 0.05, "E05": 0.15, "E06": -0.10,
    "E07": 0.05, "E08": -0.10, "E09": -0.35, "E10": -0.05, "E11": -0.45,
}
MISSING_RATE: float = 0.028
DONT_KNOW_RATE: float = 0.004
DONT_KNOW: str = "Don't know"
EXPECTED_REASONS: tuple[str, ...] = ("blank_row", "summary_row", "unknown_council", "empty_response",
                                     "superseded_duplicate")


# --------------------------------------------------------------------------------------------
# the cohort plan: councils, their survey tools and the planted faults
# --------------------------------------------------------------------------------------------

def _c(cid: str, name: str, aliases: str, ctype: str, region: str, slug: str, form: str = "full") -> dict:
    return {"council_id": cid, "name": name, "aliases": aliases, "type": ctype, "region": region,
            "slug": slug, "form": form}


#: Fictional councils (invented names; none is, or contains the name of, a real UK council).
COUNCILS: list[dict] = [
    _c("C01", "Harbourside Borough Council", "Harbourside BC|Harbourside", "Non-metropolitan district", "South West", "harbourside"),
    _c("C02", "Brackenfold District Council", "Brackenfold DC|Brackenfold", "Non-metropolitan district", "East of England", "brackenfold"),
    _c("C03", "Kestrel Vale Council", "Kestrel Vale|KVC", "Unitary authority", "North East", "kestrelvale"),
    _c("C04", "Corriebrook City Council", "Corriebrook CC|Corriebrook", "Metropolitan district", "North West", "corriebrook"),
    _c("C05", "Glenhollow County Council", "Glenhollow CC|Glenhollow", "County council", "East Midlands", "glenhollow"),
    _c("C06", "Cyngor Sir Dyffryn Mawr", "Dyffryn Mawr County Council|Dyffryn Mawr", "Welsh principal area", "Wales", "dyffrynmawr"),
    _c("C07", "Ashcombe & Fellmarsh Borough Council", "Ashcombe and Fellmarsh BC|Ashcombe & Fellmarsh", "Non-metropolitan district", "South East", "ashcombefellmarsh"),
    _c("C08", "Merrowdown District Council", "Merrowdown DC|Merrowdown", "Non-metropolitan district", "South East", "merrowdown"),
    _c("C09", "Saltmere Metropolitan Borough Council", "Saltmere MBC|Saltmere Council|Saltmere", "Metropolitan district", "Yorkshire and the Humber", "saltmere"),
    _c("C10", "Fernleigh Borough Council", "Fernleigh BC|Fernleigh", "Non-metropolitan district", "West Midlands", "fernleigh"),
    _c("C11", "Oakhaven City Council", "Oakhaven CC|Oakhaven", "Unitary authority", "South West", "oakhaven"),
    _c("C12", "Ravensmoor District Council", "Ravensmoor DC|Ravensmoor", "Non-metropolitan district", "North West", "ravensmoor"),
    _c("C13", "Larkspur Coast Council", "Larkspur Coast|Larkspur", "Unitary authority", "East of England", "larkspur"),
    _c("C14", "Wyndle Forest District Council", "Wyndle Forest DC|Wyndle Forest", "Non-metropolitan district", "West Midlands", "wyndleforest"),
    _c("C15", "Pennick Valley Council", "Pennick Valley|PVC", "Unitary authority", "South West", "pennickvalley"),
    _c("C16", "Hollinsgate Borough Council", "Hollinsgate BC|Hollinsgate", "London borough", "London", "hollinsgate"),
    _c("C17", "Marram Bay Council", "Marram Bay|Marram Bay UA", "Unitary authority", "North East", "marrambay", "short"),
    _c("C18", "Elderwick County Council", "Elderwick CC|Elderwick", "County council", "East Midlands", "elderwick", "short"),
    _c("C19", "Tollmere Borough Council", "Tollmere BC|Tollmere", "Metropolitan district", "Yorkshire and the Humber", "tollmere"),
    _c("C20", "Briarcliffe Metropolitan Borough Council", "Briarcliffe MBC|Briarcliffe", "Metropolitan district", "North West", "briarcliffe"),
]

#: One entry per export file of a wave: which writer, which councils it holds, its file name
#: (``{n}``: rows, ``{wave}``: wave without '-'), and the writer's options.
FILE_PLAN: list[dict] = [
    {"writer": "ms_forms", "format": "ms_forms", "councils": ["C01"], "file": "Harbourside Upstream diagnostic(1-{n}).xlsx"},
    {"writer": "ms_forms", "format": "ms_forms", "councils": ["C02"], "file": "Brackenfold diagnostic (anonymous)(1-{n}).xlsx", "anonymous": True},
    {"writer": "google_forms", "format": "google_forms", "councils": ["C03", "C04", "C05"],
     "file": "Upstream diagnostic - shared form (Responses) - Form responses 1.csv"},
    {"writer": "handmade", "format": "handmade", "councils": ["C06"], "file": "Dyffryn Mawr ymatebion diagnostig.xlsx", "welsh": True},
    {"writer": "surveymonkey", "format": "surveymonkey", "councils": ["C07"], "file": "Ashcombe_Fellmarsh_Data_All_{wave}.xlsx", "layout": "condensed", "fmt": "xlsx"},
    {"writer": "surveymonkey", "format": "surveymonkey", "councils": ["C08"], "file": "Merrowdown_Data_All_{wave}.csv", "layout": "expanded", "fmt": "csv"},
    {"writer": "qualtrics", "format": "qualtrics", "councils": ["C09"], "file": "Saltmere+Upstream+Diagnostic_{wave}.csv", "codes": "labels", "fmt": "csv"},
    {"writer": "qualtrics", "format": "qualtrics", "councils": ["C10"], "file": "Fernleigh Upstream Diagnostic_{wave} (numeric).xlsx", "codes": "numeric", "fmt": "xlsx"},
    {"writer": "smartsurvey", "format": "smartsurvey", "councils": ["C11"], "file": "oakhaven-smartsurvey-export-{wave}.csv"},
    {"writer": "handmade", "format": "handmade", "councils": ["C12"], "file": "Ravensmoor diagnostic returns FINAL v2.xlsx"},
    {"writer": "handmade", "format": "handmade", "councils": ["C13"], "file": "Larkspur Coast - workshop scores.xlsx"},
    {"writer": "ms_forms", "format": "ms_forms", "councils": ["C14"], "file": "Wyndle Forest Upstream Diagnostic(1-{n}).xlsx"},
    {"writer": "google_forms", "format": "google_forms", "councils": ["C15"], "file": "Pennick Valley diagnostic (Responses) - Form responses 1.csv"},
    {"writer": "surveymonkey", "format": "surveymonkey", "councils": ["C16"], "file": "Hollinsgate_Data_All_{wave}.csv", "layout": "condensed", "fmt": "csv"},
    {"writer": "short_form", "format": "short_form", "councils": ["C17", "C18"], "file": "short form returns (Marram Bay, Elderwick).csv"},
    {"writer": "smartsurvey", "format": "smartsurvey", "councils": ["C19"], "file": "tollmere-smartsurvey-export-{wave}.csv"},
    {"writer": "qualtrics", "format": "qualtrics", "councils": ["C20"], "file": "Briarcliffe_Upstream_Diagnostic_{wave}.xlsx", "codes": "labels", "fmt": "xlsx"},
]

#: Planted faults: (wave index, council_id) -> {reason: count}. Blank rows only in hand-made files
#: (which always end with a blank row and an "Average" row as well).
FAULTS: dict[tuple[int, str], dict[str, int]] = {
    (0, "C01"): {"superseded_duplicate": 1, "empty_response": 1},
    (0, "C03"): {"unknown_council": 1},
    (0, "C07"): {"superseded_duplicate": 1},
    (0, "C11"): {"superseded_duplicate": 1},
    (0, "C12"): {"blank_row": 2},
    (1, "C04"): {"superseded_duplicate": 1, "unknown_council": 1},
    (1, "C07"): {"empty_response": 1},
    (1, "C09"): {"superseded_duplicate": 1},
    (1, "C13"): {"blank_row": 1},
    (1, "C19"): {"unknown_council": 1},
}

#: Names of councils that are not in the register (quarantined as unknown_council).
UNKNOWN_COUNCILS: tuple[str, ...] = ("Glasswater Borough Council", "Quillon Vale District Council")

FIRST_NAMES: tuple[str, ...] = (
    "Alex", "Amira", "Bethan", "Callum", "Carys", "Chloe", "Daniel", "Dylan", "Eleanor", "Ffion",
    "Grace", "Hamza", "Harriet", "Imran", "Isla", "Jack", "Jasmine", "Kieran", "Leah", "Mohammed",
    "Nia", "Oliver", "Priya", "Rhys", "Rosie", "Sanjay", "Sian", "Tariq", "Tom", "Zara",
)
LAST_NAMES: tuple[str, ...] = (
    "Ahmed", "Bailey", "Begum", "Campbell", "Chen", "Davies", "Edwards", "Evans", "Fletcher", "Green",
    "Hughes", "Islam", "Jenkins", "Khan", "Lewis", "Morgan", "Nowak", "Okafor", "Patel", "Price",
    "Reid", "Roberts", "Shah", "Singh", "Taylor", "Thomas", "Walsh", "Williams", "Wright", "Young",
)


@dataclass
class DemoCohort:
    """What :func:`generate_demo_cohort` wrote and what a correct ingest must make of it.

    Attributes
    ----------
    raw_dir
        The cohort's raw folder (``<raw_dir>/<wave>/<files>``, ``cohort.csv``, ``README.md``,
        ``SYNTHETIC_DATA.txt``).
    register
        The council register as written to ``cohort.csv``: ``council_id, name, aliases, type,
        region`` (aliases separated by ``|``).
    truth
        Tidy long table of the accepted respondents: ``wave, council_id, council_name,
        respondent_id, perspective, form, item_id, score`` (``score`` NaN = missing, including
        "Don't know"). One row per respondent x item of the form they answered. Superseded
        duplicates, blank, summary, empty and unknown-council rows are not in it.
    expected
        Row accounting per wave x file: ``wave, source_file, sheet, format, councils, rows_read,
        accepted`` and one count column per quarantine reason (``blank_row, summary_row,
        unknown_council, empty_response, superseded_duplicate``);
        ``accepted + sum(reasons) == rows_read``.
    """

    raw_dir: Path
    register: pd.DataFrame
    truth: pd.DataFrame
    expected: pd.DataFrame


# --------------------------------------------------------------------------------------------
# simulation
# --------------------------------------------------------------------------------------------

def _discretise(latent: np.ndarray, scale_min: int, scale_max: int) -> np.ndarray:
    cuts = np.arange(scale_min, scale_max) + 0.5
    return (scale_min + (latent[..., None] > cuts).sum(axis=-1)).astype(float)


def _simulate(instrument: Instrument, councils: pd.DataFrame, waves: Sequence[str], *, seed: int,
              n_min: int, n_max: int) -> dict[str, pd.DataFrame]:
    """Clean respondent-level wide tables, one per wave (accepted respondents only)."""
    rng = np.random.default_rng([seed, 0])
    people = np.random.default_rng([seed, 1])
    n_c = len(councils)
    items = instrument.form_items("full")
    short = instrument.form_items("short")
    enablers = instrument.enablers
    groupings = instrument.grouping_ids
    e_index = {e: i for i, e in enumerate(enablers["enabler_id"])}
    g_index = {g: i for i, g in enumerate(groupings)}
    item_e = items["enabler_id"].map(e_index).to_numpy()
    item_g = items["grouping_id"].map(g_index).to_numpy()
    short_e = short["enabler_id"].map(e_index).to_numpy()
    short_g = short["grouping_id"].map(g_index).to_numpy()
    a_k = np.array([ENABLER_EFFECTS.get(e, 0.0) for e in enablers["enabler_id"]])
    mid = (instrument.scale.min + instrument.scale.max) / 2

    m_c = rng.normal(0, 0.35, n_c)
    u_cg = rng.normal(0, 0.2, (n_c, len(groupings)))
    v_ck = rng.normal(0, 0.12, (n_c, len(enablers)))
    b_j = rng.normal(0, 0.1, len(items))
    d_c = rng.uniform(0.1, 0.3, n_c)
    decliners = rng.choice(n_c, size=min(2, n_c), replace=False)
    d_c[decliners] = -rng.uniform(0.1, 0.25, len(decliners))
    is_short = councils["form"].eq("short").to_numpy()

    out: dict[str, pd.DataFrame] = {}
    for w, wave in enumerate(waves):
        n = rng.integers(n_min, n_max + 1, n_c)
        c = np.repeat(np.arange(n_c), n)
        total = len(c)
        council_level = mid + m_c[c] + d_c[c] * w + rng.normal(0, 0.05, n_c)[c]
        r_i = rng.normal(0, 0.5, total)
        s_ig = rng.normal(0, 0.25, (total, len(groupings)))
        latent = (council_level[:, None] + a_k[item_e] + u_cg[c][:, item_g] + v_ck[c][:, item_e]
                  + r_i[:, None] + s_ig[:, item_g] + b_j + rng.normal(0, 0.6, (total, len(items))))
        full = _discretise(latent, instrument.scale.min, instrument.scale.max).astype(object)
        latent_s = (council_level[:, None] + a_k[short_e] + u_cg[c][:, short_g] + v_ck[c][:, short_e]
                    + r_i[:, None] + s_ig[:, short_g] + rng.normal(0, 0.45, (total, len(short))))
        overall = _discretise(latent_s, instrument.scale.min, instrument.scale.max).astype(object)
        u = rng.random(full.shape)
        full[u < MISSING_RATE] = np.nan
        full[(u >= MISSING_RATE) & (u < MISSING_RATE + DONT_KNOW_RATE)] = DONT_KNOW
        overall[rng.random(overall.shape) < MISSING_RATE] = np.nan
        row_short = is_short[c]
        full[row_short] = np.nan
        overall[~row_short] = np.nan

        persp = rng.choice(["service", "organisation", "system"], size=total, p=[0.45, 0.35, 0.2]).astype(object)
        persp[row_short] = np.nan
        year, month = (int(x) for x in wave.split("-")[:2])
        window = pd.Timestamp(year=year, month=month, day=8, hour=8)  # 18 days, 08:00-18:00
        started = (window + pd.to_timedelta(rng.integers(0, 18, total), unit="D")
                   + pd.to_timedelta(rng.integers(0, 10 * 3600, total), unit="s"))
        completed = started + pd.to_timedelta(rng.integers(240, 1800, total), unit="s")

        # Full names are unique within a council (an anonymous form identifies a respondent by name, so
        # two invented people sharing one would look like a duplicate): walk the first x last grid with a
        # per-council offset and a stride coprime with its size.
        n_combo = len(FIRST_NAMES) * len(LAST_NAMES)
        strides = np.array([7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 49, 53, 59, 61, 67, 71, 73, 77])
        offset = people.integers(0, n_combo, size=len(councils))[c]
        stride = people.choice(strides[np.gcd(strides, n_combo) == 1], size=len(councils))[c]
        serial0 = pd.Series(c).groupby(c).cumcount().to_numpy()
        combo = (offset + serial0 * stride) % n_combo
        first = np.asarray(FIRST_NAMES)[combo // len(LAST_NAMES)]
        last = np.asarray(LAST_NAMES)[combo % len(LAST_NAMES)]
        domain = np.where(people.random(total) < 0.7, "example.org", "example.com")
        local = pd.Series(np.char.lower(np.char.add(np.char.add(first.astype(str), "."), last.astype(str))))
        host = councils["slug"].to_numpy()[c]
        addr = local + "@" + pd.Series(host) + "." + pd.Series(domain)
        dup_no = addr.groupby(addr).cumcount()
        addr = addr.where(dup_no == 0, local + (dup_no + 1).astype(str) + "@" + pd.Series(host) + "." + pd.Series(domain))
        serial = pd.Series(c).groupby(c).cumcount().to_numpy() + 1
        comments = np.array([None, None, None, None, None, None, "Hard to answer for the whole council.",
                             "We are further on in some services than others.",
                             "- more time for partnership work would help",
                             "Good to see this being asked."], dtype=object)
        frame = pd.DataFrame({
            "council_id": councils["council_id"].to_numpy()[c],
            "council_name": councils["name"].to_numpy()[c],
            "respondent_id": [f"{cid}-{wave}-{k:03d}" for cid, k in zip(councils["council_id"].to_numpy()[c], serial)],
            "email": addr.to_numpy(),
            "first_name": first, "last_name": last, "perspective": persp,
            "started_at": started, "completed_at": completed,
            "comment": people.choice(comments, size=total),
            "form": np.where(row_short, "short", "full"),
        })
        answers = pd.DataFrame(np.concatenate([full, overall], axis=1),
                               columns=[*items["item_id"], *short["item_id"]], dtype=object)
        out[wave] = pd.concat([frame, answers], axis=1)
    return out


def _truth(clean: dict[str, pd.DataFrame], instrument: Instrument) -> pd.DataFrame:
    parts = []
    for wave, df in clean.items():
        for form in ("full", "short"):
            ids = instrument.form_items(form)["item_id"].tolist()
            sub = df[df["form"] == form]
            if sub.empty:
                continue
            long = sub.melt(id_vars=["council_id", "council_name", "respondent_id", "perspective", "form"],
                            value_vars=ids, var_name="item_id", value_name="score")
            long["score"] = pd.to_numeric(long["score"], errors="coerce").astype(float)
            long.insert(0, "wave", wave)
            parts.append(long)
    truth = pd.concat(parts, ignore_index=True)
    order = {i: k for k, i in enumerate(instrument.items["item_id"])}
    truth["_o"] = truth["item_id"].map(order)
    truth = truth.sort_values(["wave", "council_id", "respondent_id", "_o"]).drop(columns="_o")
    cols = ["wave", "council_id", "council_name", "respondent_id", "perspective", "form", "item_id", "score"]
    return truth[cols].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# faults and rendering
# --------------------------------------------------------------------------------------------

def _name_variants(register_row: pd.Series) -> list[str]:
    """Ways a respondent writes the council's name that the register must resolve."""
    name = str(register_row["name"])
    aliases = [a for a in str(register_row["aliases"]).split("|") if a]
    variants = [name, *aliases, name.lower(), name.upper(), f"{name} "]
    if "&" in name:
        variants.append(name.replace("&", "and"))
    elif " and " in name:
        variants.append(name.replace(" and ", " & "))
    return variants


def _with_faults(df: pd.DataFrame, faults: dict[str, int], rng: np.random.Generator,
                 item_ids: list[str], wave: str) -> pd.DataFrame:
    """Add fault rows to one council's accepted rows; ``_role`` says what ingest must do with each."""
    df = df.assign(_role="accepted")
    extra: list[pd.DataFrame] = []
    for k in range(faults.get("superseded_duplicate", 0)):
        src = df.iloc[[int(rng.integers(len(df)))]].copy()
        answers = np.array(src[item_ids].to_numpy(dtype=object), copy=True)
        for j in range(answers.shape[1]):
            v = answers[0, j]
            if isinstance(v, float) and not np.isnan(v) and rng.random() < 0.4:
                answers[0, j] = float(np.clip(v + rng.choice([-1, 1]), 1, 5))
        src[item_ids] = answers
        shift = pd.Timedelta(seconds=int(rng.integers(2 * 3600, 72 * 3600)))
        src["started_at"] -= shift
        src["completed_at"] -= shift
        src["respondent_id"] = f"{src['respondent_id'].iloc[0]}-earlier{k}"
        src["comment"] = None
        src["_role"] = "superseded_duplicate"
        extra.append(src)
    for k in range(faults.get("empty_response", 0)):
        src = df.iloc[[int(rng.integers(len(df)))]].copy()
        src[item_ids] = np.nan
        src[["perspective", "comment"]] = None
        src[["started_at", "completed_at"]] += pd.Timedelta(seconds=int(rng.integers(60, 6 * 3600)))
        src["email"] = f"no.answers{k}@example.com"
        src["first_name"], src["last_name"] = "Sam", "Blank"
        src["respondent_id"] = f"{src['council_id'].iloc[0]}-{wave}-empty{k}"
        src["_role"] = "empty_response"
        extra.append(src)
    for k in range(faults.get("unknown_council", 0)):
        src = df.iloc[[int(rng.integers(len(df)))]].copy()
        src["council_name"] = UNKNOWN_COUNCILS[k % len(UNKNOWN_COUNCILS)]
        src["council_id"] = None
        src["email"] = f"visitor{k}@example.com"
        src["respondent_id"] = f"unknown-{wave}-{k}"
        src["_role"] = "unknown_council"
        extra.append(src)
    return pd.concat([df, *extra], ignore_index=True)


def _insert_blank_rows(df: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if n <= 0:
        return df
    blank = pd.DataFrame(np.nan, index=range(n), columns=df.columns).astype(object)
    blank["_role"] = "blank_row"
    pos = np.sort(rng.choice(np.arange(1, len(df)), size=n, replace=False))
    parts, last = [], 0
    for k, p in enumerate(pos):
        parts += [df.iloc[last:p], blank.iloc[[k]]]
        last = p
    parts.append(df.iloc[last:])
    return pd.concat(parts, ignore_index=True)


def _render(spec: dict, df: pd.DataFrame, path: Path, instrument: Instrument, seed: int) -> tuple[pd.DataFrame, str | None]:
    """Write one file; return the rows as written (with ``_role``) and the data sheet name."""
    writer = spec["writer"]
    rows = df.drop(columns=["_role"])
    role_cols = [c for c in rows.columns if c not in ("council_id", "form")]
    rows = rows[role_cols]
    if writer == "ms_forms":
        syn.write_ms_forms(rows, path, instrument=instrument, anonymous=spec.get("anonymous", False))
        return df, "Sheet1"
    if writer == "google_forms":
        syn.write_google_forms(rows, path, instrument=instrument, locale=spec.get("locale", "en_GB"))
        return df, None
    if writer == "surveymonkey":
        syn.write_surveymonkey(rows, path, instrument=instrument, layout=spec["layout"], fmt=spec["fmt"])
        return df, "Sheet" if spec["fmt"] == "xlsx" else None
    if writer == "qualtrics":
        syn.write_qualtrics(rows, path, instrument=instrument, codes=spec["codes"], fmt=spec["fmt"])
        return df, "Sheet0" if spec["fmt"] == "xlsx" else None
    if writer == "smartsurvey":
        syn.write_smartsurvey(rows, path, instrument=instrument)
        return df, None
    if writer == "handmade":
        syn.write_handmade(rows, path, instrument=instrument, welsh=spec.get("welsh", False), seed=seed)
        summary = pd.DataFrame({"_role": ["blank_row", "summary_row"]})
        return pd.concat([df, summary], ignore_index=True), "Responses"
    if writer == "short_form":
        syn.write_short_form(rows, path, instrument=instrument)
        return df, None
    raise ValueError(f"unknown writer {writer!r} in the demo file plan")


def _expected_row(wave: str, source_file: str, sheet: str | None, fmt: str, councils: Sequence[str],
                  roles: pd.Series) -> dict:
    counts = roles.value_counts()
    row = {"wave": wave, "source_file": source_file, "sheet": sheet, "format": fmt,
           "councils": "|".join(councils), "rows_read": int(len(roles)),
           "accepted": int(counts.get("accepted", 0))}
    row.update({r: int(counts.get(r, 0)) for r in EXPECTED_REASONS})
    return row


def _write_mixed(clean: dict[str, pd.DataFrame], register: pd.DataFrame, plan: list[dict],
                 raw_dir: Path, instrument: Instrument, *, seed: int, faults: bool) -> pd.DataFrame:
    rng = np.random.default_rng([seed, 2])
    reg = register.set_index("council_id")
    full_ids = instrument.form_items("full")["item_id"].tolist()
    short_ids = instrument.form_items("short")["item_id"].tolist()
    expected: list[dict] = []
    for w, (wave, df) in enumerate(clean.items()):
        for k, spec in enumerate(plan):
            members = [c for c in spec["councils"] if c in reg.index]
            if not members:
                continue
            item_ids = short_ids if spec["writer"] == "short_form" else full_ids
            parts = []
            for cid in members:
                sub = df[df["council_id"] == cid]
                fault = FAULTS.get((w, cid), {}) if faults else {}
                sub = _with_faults(sub, fault, rng, item_ids, wave)
                variants = _name_variants(reg.loc[cid])
                named = sub["_role"] != "unknown_council"
                pick = rng.choice(len(variants), size=int(named.sum()),
                                  p=[0.55] + [0.45 / (len(variants) - 1)] * (len(variants) - 1))
                sub.loc[named, "council_name"] = np.asarray(variants, dtype=object)[pick]
                parts.append(sub)
            rows = pd.concat(parts, ignore_index=True)
            if spec["writer"] == "handmade":
                rows = rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)
                n_blank = sum(FAULTS.get((w, c), {}).get("blank_row", 0) for c in members) if faults else 0
                rows = _insert_blank_rows(rows, n_blank, rng)
            else:
                descending = spec["writer"] == "surveymonkey"  # SurveyMonkey lists newest first
                rows = rows.sort_values("completed_at", ascending=not descending, kind="stable").reset_index(drop=True)
            name = spec["file"].format(n=int((rows["_role"] != "blank_row").sum()), wave=wave.replace("-", ""))
            path = raw_dir / wave / name
            written, sheet = _render(spec, rows, path, instrument, seed=seed + 1000 * w + k)
            expected.append(_expected_row(wave, f"{wave}/{name}", sheet, spec["format"], members, written["_role"]))
    return pd.DataFrame(expected)


def _write_tidy(clean: dict[str, pd.DataFrame], raw_dir: Path, instrument: Instrument) -> pd.DataFrame:
    expected: list[dict] = []
    for wave, df in clean.items():
        for form in ("full", "short"):
            sub = df[df["form"] == form]
            if sub.empty:
                continue
            name = f"tidy_{form}.csv"
            syn.write_tidy_wide(sub, raw_dir / wave / name, instrument=instrument, form=form)
            expected.append(_expected_row(wave, f"{wave}/{name}", None, "tidy_wide",
                                          sorted(sub["council_id"].unique()),
                                          pd.Series(["accepted"] * len(sub))))
    return pd.DataFrame(expected)


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _readme(expected: pd.DataFrame, register: pd.DataFrame, seed: int, formats: str, faults: bool) -> str:
    lines = [
        "# Demo cohort (synthetic)",
        "",
        f"Generated by `diagnostics demo` (analysis.demo.generate_demo_cohort, seed {seed}, "
        f"formats={formats!r}, faults={faults}). **Every council, person and answer here is invented.**",
        "Council names are fictional; e-mail addresses use example.org / example.com; IP addresses are in",
        "the documentation ranges 192.0.2.0/24, 198.51.100.0/24 and 203.0.113.0/24.",
        "",
        "- `cohort.csv`: the council register (`council_id, name, aliases, type, region, invited`; aliases separated by "
        "`|`; `invited` is the number of staff invited, blank where unknown).",
        "- `<wave>/`: one folder per wave with the exports exactly as a survey tool would give them.",
        "",
    ]
    if formats == "mixed":
        lines += [
            "Files may spell a council as an alias, in another case, with '&' for 'and' or with a trailing",
            "space; the register resolves them. Hand-made workbooks end with a blank row and an 'Average'",
            "row. Qualtrics numeric exports code 'Don't know' as 6 (out of range, read as missing).",
        ]
        if faults:
            lines += [
                "Planted faults: duplicate submissions by the same e-mail (the later completion is kept;",
                "SurveyMonkey lists newest first), blank rows inside hand-made workbooks, rows naming a",
                "council that is not in the register, and a response with no answers.",
            ]
    else:
        lines.append("Clean tidy tables (`tidy_full.csv`, `tidy_short.csv`): no faults and no personal data.")
    lines += [
        "",
        "| wave | file | format | councils | rows | accepted | quarantined |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in expected.itertuples(index=False):
        q = ", ".join(f"{reason} {getattr(r, reason)}" for reason in EXPECTED_REASONS if getattr(r, reason))
        lines.append(f"| {r.wave} | `{r.source_file}` | {r.format} | {r.councils.replace('|', ', ')} | "
                     f"{r.rows_read} | {r.accepted} | {q or '-'} |")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------

def _with_invited(register: pd.DataFrame, clean: Mapping[str, pd.DataFrame], *, seed: int) -> pd.DataFrame:
    """Add an ``invited`` headcount per council: response rates between about 20% and 75%.

    Drawn from a stream of its own, so the answers do not depend on it. Two councils get a low
    rate (below 30%) and the last council none (blank: the reports say its rate is unknown), so
    the demo shows every case of the participation rules.
    """
    rng = np.random.default_rng([seed, 2])
    n = pd.concat([w["council_id"].value_counts() for w in clean.values()], axis=1).max(axis=1)
    n = n.reindex(register["council_id"]).fillna(0).to_numpy()
    rate = rng.uniform(0.35, 0.75, len(register))
    rate[rng.choice(len(register), size=min(2, len(register)), replace=False)] = rng.uniform(0.18, 0.27, min(2, len(register)))
    invited = np.ceil(np.maximum(n, 1) / rate).astype("int64").astype(object)
    if len(register) > 2:
        invited[-1] = ""
    return register.assign(invited=invited)


def demo_register(n_councils: int = 20) -> pd.DataFrame:
    """The fictional council register: ``council_id, name, aliases, type, region``."""
    if not 1 <= n_councils <= len(COUNCILS):
        raise ValueError(f"The value for `n_councils` must be between 1 and {len(COUNCILS)}, but {n_councils!r} was passed.")
    return pd.DataFrame(COUNCILS[:n_councils])[["council_id", "name", "aliases", "type", "region"]]


def generate_demo_cohort(raw_dir: str | Path, *, seed: int = DEMO_SEED, n_councils: int = 20,
                         waves: Sequence[str] = DEMO_WAVES, n_min: int = 15, n_max: int = 60,
                         formats: str = "mixed", faults: bool = True,
                         instrument: Instrument | None = None) -> DemoCohort:
    """Write a synthetic multi-council cohort and return what a correct ingest must produce.

    Parameters
    ----------
    raw_dir
        Cohort raw folder to write into (created if needed). Only the files this function writes
        are replaced; nothing else is deleted.
    seed
        Seed of every random choice; the same seed gives the same ``truth`` and the same files.
    n_councils
        Number of fictional councils (1..20), taken in register order.
    waves
        Wave ids ``"YYYY-MM"``; one folder each. The second and later waves shift council means.
    n_min, n_max
        Accepted respondents per council per wave are drawn uniformly from ``n_min..n_max``.
    formats
        ``"mixed"``: each council's exports in its own survey tool's layout (see
        :data:`FILE_PLAN`), some files shared by several councils. ``"tidy"``: the same
        answers as clean ``tidy_full.csv`` / ``tidy_short.csv`` per wave, without faults or
        personal data.
    faults
        ``mixed`` only: plant duplicates, blank and summary rows, unknown councils and an empty
        response (see :data:`FAULTS`).
    instrument
        The instrument; default the bundled diagnostic.

    Returns
    -------
    DemoCohort
        ``raw_dir``, ``register``, ``truth`` and ``expected`` (see :class:`DemoCohort`).

    Raises
    ------
    ValueError
        ``formats`` unknown, ``n_councils`` out of range, ``n_min > n_max`` or a malformed wave id.
    """
    if formats not in ("mixed", "tidy"):
        raise ValueError(f"The value for `formats` must be one of ['mixed', 'tidy'], but {formats!r} was passed.")
    if not 1 <= n_min <= n_max:
        raise ValueError(f"`n_min` ({n_min}) must be at least 1 and at most `n_max` ({n_max}).")
    for wave in waves:
        parts = str(wave).split("-")
        if len(parts) < 2 or not (parts[0].isdigit() and parts[1].isdigit() and 1 <= int(parts[1]) <= 12):
            raise ValueError(f"Wave ids must look like 'YYYY-MM' (e.g. '2024-01'), but {wave!r} was passed.")
    instrument = instrument or load_instrument()
    raw_dir = Path(raw_dir)
    register = demo_register(n_councils)
    councils = pd.DataFrame(COUNCILS[:n_councils])
    clean = _simulate(instrument, councils, list(waves), seed=seed, n_min=n_min, n_max=n_max)
    truth = _truth(clean, instrument)

    register = _with_invited(register, clean, seed=seed)
    raw_dir.mkdir(parents=True, exist_ok=True)
    if formats == "mixed":
        expected = _write_mixed(clean, register, FILE_PLAN, raw_dir, instrument, seed=seed, faults=faults)
    else:
        expected = _write_tidy(clean, raw_dir, instrument)
    syn._write_csv(raw_dir / REGISTER_FILE, [list(register.columns), *register.to_numpy().tolist()],
                   lineterminator="\n")
    _write_text(raw_dir / SYNTHETIC_MARKER,
                "SYNTHETIC DATA. This cohort was generated by `diagnostics demo` "
                f"(analysis.demo.generate_demo_cohort) with seed {seed}. The councils, people and answers "
                "are invented; nothing here describes a real council or person.\n")
    _write_text(raw_dir / "README.md", _readme(expected, register, seed, formats, faults))
    logger.info("demo cohort: %d councils, %d waves, %d files written to %s",
                n_councils, len(waves), len(expected), raw_dir)
    return DemoCohort(raw_dir=raw_dir, register=register, truth=truth, expected=expected)
