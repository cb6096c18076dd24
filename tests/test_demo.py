"""Tests for analysis.demo: the synthetic cohort is deterministic, realistically structured,
fictional, and its files hold exactly the rows its ``expected`` table says.

These tests do not use analysis.loaders (the ingest cross-check lives with the loaders); files
are re-read with plain pandas/openpyxl. Expected structure comes from the brief for the demo
(20 councils, 2 waves, 15-60 respondents, ~3 % non-response, E11 below E01) and the answer model
in the module docstring.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from analysis import demo
from analysis.config import SYNTHETIC_MARKER
from analysis.instrument import load_instrument

#: Real councils named in the seed material; no fictional name may contain one of these.
REAL_COUNCILS = (
    "Barnsley", "Cambridgeshire", "Denbighshire", "Derbyshire", "Gateshead", "Gloucester",
    "Huntingdonshire", "Kirklees", "Leeds", "Barking", "Dagenham", "Newham", "Redbridge", "Oldham",
    "Oxfordshire", "Preston", "Redcar", "Cleveland", "Staffordshire", "Surrey", "York", "Manchester",
)
HEADER_ROWS = {"surveymonkey": 2, "qualtrics": 3}
SEED = 20240101


@pytest.fixture(scope="module")
def mixed_cohort(tmp_path_factory) -> demo.DemoCohort:
    root = tmp_path_factory.mktemp("demo")
    start = time.perf_counter()
    cohort = demo.generate_demo_cohort(root / "demo", seed=SEED)
    cohort.elapsed = time.perf_counter() - start  # type: ignore[attr-defined]
    return cohort


@pytest.fixture(scope="module")
def tidy_cohort(tmp_path_factory) -> demo.DemoCohort:
    return demo.generate_demo_cohort(tmp_path_factory.mktemp("tidy") / "demo", seed=SEED, formats="tidy")


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name.replace("&", "and")).strip().casefold()


# ---------------------------------------------------------------------------------------------
# determinism and size
# ---------------------------------------------------------------------------------------------

def test_same_seed_same_truth_whatever_the_format(mixed_cohort, tidy_cohort):
    pd.testing.assert_frame_equal(mixed_cohort.truth, tidy_cohort.truth)


def test_same_seed_same_files(mixed_cohort, tmp_path):
    again = demo.generate_demo_cohort(tmp_path / "demo", seed=SEED)
    pd.testing.assert_frame_equal(again.truth, mixed_cohort.truth)
    pd.testing.assert_frame_equal(again.expected, mixed_cohort.expected)
    for rel in mixed_cohort.expected["source_file"]:
        assert (tmp_path / "demo" / rel).read_bytes() == (mixed_cohort.raw_dir / rel).read_bytes(), rel


def test_other_seed_other_answers(mixed_cohort, tmp_path):
    other = demo.generate_demo_cohort(tmp_path / "o", seed=SEED + 1, formats="tidy")
    assert not other.truth["score"].equals(mixed_cohort.truth["score"])


def test_sizes(mixed_cohort):
    truth = mixed_cohort.truth
    assert truth["council_id"].nunique() == 20
    assert sorted(truth["wave"].unique()) == list(demo.DEMO_WAVES)
    n = truth.groupby(["wave", "council_id"])["respondent_id"].nunique()
    assert len(n) == 40 and n.between(15, 60).all()
    per_resp = truth.groupby("respondent_id").agg(form=("form", "first"), k=("item_id", "size"))
    assert (per_resp.loc[per_resp["form"] == "full", "k"] == 33).all()
    assert (per_resp.loc[per_resp["form"] == "short", "k"] == 11).all()
    assert set(truth.loc[truth["form"] == "short", "item_id"]) == {f"E{i:02d}_overall" for i in range(1, 12)}


def test_generation_is_quick(mixed_cohort):
    # brief: < 3 s; allow headroom for a shared CI runner
    assert mixed_cohort.elapsed < 10


# ---------------------------------------------------------------------------------------------
# realistic structure
# ---------------------------------------------------------------------------------------------

def test_non_response_rate(mixed_cohort):
    full = mixed_cohort.truth[mixed_cohort.truth["form"] == "full"]
    assert 0.015 < full["score"].isna().mean() < 0.05
    valid = full["score"].dropna()
    assert set(valid.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0} and valid.nunique() == 5


def test_council_and_enabler_differences(mixed_cohort):
    full = mixed_cohort.truth[mixed_cohort.truth["form"] == "full"].assign(
        enabler_id=lambda d: d["item_id"].str[:3])
    council_means = full.groupby(["wave", "council_id"])["score"].mean()
    assert council_means.groupby("wave").std().min() > 0.15
    enabler = full.groupby("enabler_id")["score"].mean()
    assert enabler["E11"] < enabler["E01"] - 0.3
    assert enabler["E09"] < enabler["E03"]
    assert enabler.idxmin() in {"E09", "E11"} and enabler.idxmax() in {"E01", "E03"}


def test_most_councils_improve_between_waves(mixed_cohort):
    means = mixed_cohort.truth.groupby(["council_id", "wave"])["score"].mean().unstack()
    change = means[demo.DEMO_WAVES[1]] - means[demo.DEMO_WAVES[0]]
    assert (change > 0).sum() >= 12 and (change < 0).sum() >= 1


def test_perspectives_mixed(mixed_cohort):
    full = mixed_cohort.truth[mixed_cohort.truth["form"] == "full"]
    assert set(full["perspective"].unique()) == {"service", "organisation", "system"}


# ---------------------------------------------------------------------------------------------
# fictional councils and the register
# ---------------------------------------------------------------------------------------------

def test_council_names_are_fictional():
    register = demo.demo_register()
    text = " ".join(register["name"].tolist() + register["aliases"].tolist()
                    + list(demo.UNKNOWN_COUNCILS)).casefold()
    for real in REAL_COUNCILS:
        assert real.casefold() not in text, real


def test_register_file(mixed_cohort):
    reg = pd.read_csv(mixed_cohort.raw_dir / demo.REGISTER_FILE, dtype=str, keep_default_na=False)
    assert list(reg.columns) == ["council_id", "name", "aliases", "type", "region", "invited"]
    assert len(reg) == 20 and reg["council_id"].is_unique and reg["name"].is_unique
    assert (reg["aliases"].str.len() > 0).all()
    assert any(n.startswith("Cyngor") for n in reg["name"])
    pd.testing.assert_frame_equal(reg, mixed_cohort.register.astype(str))
    # staff invited: every response rate a plausible fraction, two below 30%, one council unknown
    invited = pd.to_numeric(reg["invited"].replace("", None))
    assert invited.isna().sum() == 1 and (invited.dropna() >= 1).all()
    n = (mixed_cohort.truth.groupby(["wave", "council_id"])["respondent_id"].nunique()
         .groupby("council_id").max().reindex(reg["council_id"]).to_numpy())
    rate = n / invited.to_numpy()
    assert np.nanmax(rate) <= 1 and (rate[~np.isnan(rate)] < 0.30).sum() >= 2


def test_file_council_names_resolve_through_register(mixed_cohort):
    """Every council written in a file is a register name/alias up to case, spaces and '&'/'and'."""
    reg = mixed_cohort.register
    known = {_norm(n) for n in reg["name"]} | {_norm(a) for al in reg["aliases"] for a in al.split("|")}
    unknown = {_norm(n) for n in demo.UNKNOWN_COUNCILS}
    seen_variant = False
    for row in mixed_cohort.expected.itertuples():
        path = mixed_cohort.raw_dir / row.source_file
        if row.format != "google_forms":
            continue
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str)
        names = df["Council"].dropna()
        seen_variant |= bool((names != names.str.strip()).any() or names.str.isupper().any())
        assert {_norm(n) for n in names} <= known | unknown
    assert seen_variant


# ---------------------------------------------------------------------------------------------
# files and row accounting
# ---------------------------------------------------------------------------------------------

def _data_rows(path: Path, fmt: str, sheet: str | None) -> int:
    """Rows below the header as a plain reader sees them (interior blank rows included)."""
    if fmt == "handmade":
        ws = load_workbook(path, read_only=True)[sheet]
        return ws.max_row - 4
    skip = HEADER_ROWS.get(fmt, 1)
    if path.suffix == ".xlsx":
        raw = pd.read_excel(path, sheet_name=sheet, header=None, engine="openpyxl")
    else:
        raw = pd.read_csv(path, header=None, dtype=str, encoding="utf-8-sig", skip_blank_lines=False)
    return len(raw) - skip


def test_expected_accounts_for_every_row(mixed_cohort):
    exp = mixed_cohort.expected
    reasons = list(demo.EXPECTED_REASONS)
    assert (exp["accepted"] + exp[reasons].sum(axis=1) == exp["rows_read"]).all()
    accepted = mixed_cohort.truth.groupby("wave")["respondent_id"].nunique()
    assert exp.groupby("wave")["accepted"].sum().equals(accepted.rename("accepted"))
    totals = exp[reasons].sum()
    assert totals["superseded_duplicate"] >= 3 and totals["unknown_council"] >= 2
    assert totals["empty_response"] >= 1 and totals["summary_row"] >= 1 and totals["blank_row"] >= 2


def test_files_hold_expected_rows(mixed_cohort):
    exp = mixed_cohort.expected
    assert exp["source_file"].is_unique
    assert set(exp["format"]) >= {"ms_forms", "google_forms", "surveymonkey", "qualtrics", "smartsurvey",
                                  "handmade", "short_form"}
    assert (exp["councils"].str.count(r"\|") >= 2).any()  # a file shared by 3 councils
    for row in exp.itertuples():
        path = mixed_cohort.raw_dir / row.source_file
        assert path.exists(), row.source_file
        assert _data_rows(path, row.format, row.sheet) == row.rows_read, row.source_file


def test_every_council_has_one_file_per_wave(mixed_cohort):
    exp = mixed_cohort.expected
    for wave, group in exp.groupby("wave"):
        ids = [c for cs in group["councils"] for c in cs.split("|")]
        assert sorted(ids) == sorted(mixed_cohort.register["council_id"]), wave


def test_ms_forms_answers_match_truth(mixed_cohort):
    """A fault-free MS Forms file read back by label gives the truth's scores, row for row."""
    inst = load_instrument()
    exp = mixed_cohort.expected
    row = exp[(exp["format"] == "ms_forms") & (exp["councils"] == "C14")].iloc[0]
    df = pd.read_excel(mixed_cohort.raw_dir / row.source_file, engine="openpyxl")
    text_to_id = dict(zip(inst.form_items("full")["text"], inst.form_items("full")["item_id"]))
    label_to_code = {inst.scale.canonical_label(c): float(c) for c in inst.scale.codes}
    scores = df[list(text_to_id)].rename(columns=text_to_id).apply(lambda s: s.map(label_to_code))
    truth = mixed_cohort.truth
    t = truth[(truth["wave"] == row.wave) & (truth["council_id"] == "C14")]
    wide = t.pivot(index="respondent_id", columns="item_id", values="score")[scores.columns]
    got = scores.sort_values(list(scores.columns)).to_numpy()
    want = wide.sort_values(list(wide.columns)).to_numpy()
    np.testing.assert_array_equal(got, want)


def _scores_by_email(path: Path, fmt: str, inst) -> tuple[pd.DataFrame, str]:
    """Statement scores, e-mail and completion time per row of an MS Forms or SurveyMonkey file."""
    texts = inst.form_items("full")["text"].tolist()
    ids = inst.form_items("full")["item_id"].tolist()
    codes = {inst.scale.canonical_label(c): float(c) for c in inst.scale.codes}
    if fmt == "ms_forms":
        df = pd.read_excel(path, engine="openpyxl")
        when, email = "Completion time", "Email"
    else:
        raw = pd.read_excel(path, header=None, engine="openpyxl")
        head = [r2 if isinstance(r2, str) and r2 in texts else r1 for r1, r2 in zip(raw.iloc[0], raw.iloc[1])]
        df = raw.iloc[2:].set_axis(head, axis=1).reset_index(drop=True)
        when, email = "End Date", "Email Address"
    out = df[texts].rename(columns=dict(zip(texts, ids))).apply(lambda s: s.map(codes))
    out["email"], out["when"], out["position"] = df[email], pd.to_datetime(df[when]), range(len(df))
    return out, "when"


@pytest.mark.parametrize(("fmt", "council", "wave"), [("ms_forms", "C01", 0), ("surveymonkey", "C07", 0)])
def test_duplicates_keep_the_later_submission(mixed_cohort, fmt, council, wave):
    """The truth holds the later submission of a duplicated e-mail; SurveyMonkey lists newest first,
    so there the superseded row comes *after* the kept one (file order is not the rule)."""
    inst = load_instrument()
    exp = mixed_cohort.expected
    row = exp[(exp["councils"] == council) & (exp["wave"] == demo.DEMO_WAVES[wave])].iloc[0]
    assert row.superseded_duplicate == 1
    rows, when = _scores_by_email(mixed_cohort.raw_dir / row.source_file, fmt, inst)
    dup = rows[rows["email"].duplicated(keep=False)].sort_values(when)
    assert len(dup) == 2
    earlier, later = dup.iloc[0], dup.iloc[1]
    if fmt == "surveymonkey":
        assert earlier["position"] > later["position"]
    truth = mixed_cohort.truth
    t = truth[(truth["wave"] == row.wave) & (truth["council_id"] == council)]
    wide = t.pivot(index="respondent_id", columns="item_id", values="score")
    ids = inst.form_items("full")["item_id"].tolist()

    def in_truth(r: pd.Series) -> bool:
        target = r[ids].astype(float).to_numpy()
        return bool(((wide[ids].to_numpy() == target) | (np.isnan(wide[ids].to_numpy()) & np.isnan(target))).all(axis=1).any())

    assert in_truth(later) and not in_truth(earlier)


def test_tidy_files_match_truth(tidy_cohort):
    exp = tidy_cohort.expected
    assert set(exp["format"]) == {"tidy_wide"}
    assert (exp["accepted"] == exp["rows_read"]).all()
    truth = tidy_cohort.truth
    for row in exp.itertuples():
        df = pd.read_csv(tidy_cohort.raw_dir / row.source_file)
        long = df.melt(id_vars=["council", "respondent_id", "perspective"], var_name="item_id", value_name="score")
        mine = (truth["wave"] == row.wave) & truth["council_id"].isin(row.councils.split("|"))
        want = truth[mine].set_index(["respondent_id", "item_id"])["score"]
        assert len(long) == len(want)
        got = long.set_index(["respondent_id", "item_id"])["score"].reindex(want.index)
        np.testing.assert_array_equal(got.to_numpy(), want.to_numpy())


# ---------------------------------------------------------------------------------------------
# privacy, marker, overwrite behaviour
# ---------------------------------------------------------------------------------------------

def test_personal_data_only_in_raw_export_files(mixed_cohort, tidy_cohort):
    email = re.compile(r"[\w.+-]+@[\w.-]+")
    assert not set(mixed_cohort.truth.columns) & {"email", "first_name", "last_name", "comment"}
    assert not mixed_cohort.truth.astype(str).apply(lambda s: s.str.contains("@")).any().any()
    assert "@" not in (mixed_cohort.raw_dir / demo.REGISTER_FILE).read_text(encoding="utf-8")
    for row in tidy_cohort.expected.itertuples():
        assert "@" not in (tidy_cohort.raw_dir / row.source_file).read_text(encoding="utf-8")
    smart = mixed_cohort.expected.query("format == 'smartsurvey'").iloc[0]
    text = (mixed_cohort.raw_dir / smart.source_file).read_text(encoding="utf-8")
    addresses = set(email.findall(text))
    assert addresses and all(a.endswith((".example.org", ".example.com", "@example.org", "@example.com"))
                             for a in addresses)
    ips = re.findall(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b", text)
    assert ips and all(ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.")) for ip in ips)


def test_marker_and_readme(mixed_cohort):
    marker = (mixed_cohort.raw_dir / SYNTHETIC_MARKER).read_text(encoding="utf-8")
    assert "synthetic" in marker.casefold() and "diagnostics demo" in marker and str(SEED) in marker
    readme = (mixed_cohort.raw_dir / "README.md").read_text(encoding="utf-8")
    for rel in mixed_cohort.expected["source_file"]:
        assert rel in readme


def test_regenerating_keeps_other_files(tmp_path):
    raw = tmp_path / "demo"
    (raw / "2024-01").mkdir(parents=True)
    keep = raw / "2024-01" / "notes.txt"
    keep.write_text("mine")
    outside = tmp_path / "outside.txt"
    outside.write_text("mine")
    first = demo.generate_demo_cohort(raw, n_councils=3, formats="tidy")
    second = demo.generate_demo_cohort(raw, n_councils=3, formats="tidy")
    assert keep.read_text() == "mine" and outside.read_text() == "mine"
    pd.testing.assert_frame_equal(first.truth, second.truth)
    assert not list(raw.rglob("*.tmp"))


def test_subset_of_councils(tmp_path):
    small = demo.generate_demo_cohort(tmp_path / "d", n_councils=5, n_min=15, n_max=16)
    assert small.truth["council_id"].nunique() == 5
    exp = small.expected
    assert (exp["accepted"] + exp[list(demo.EXPECTED_REASONS)].sum(axis=1) == exp["rows_read"]).all()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31), n_councils=st.integers(1, 8), n_min=st.integers(15, 20))
def test_row_accounting_holds_for_any_seed(tmp_path, seed, n_councils, n_min):
    """Property: accepted + quarantined == rows read, and n per council stays in range."""
    cohort = demo.generate_demo_cohort(tmp_path / f"d{seed}", seed=seed, n_councils=n_councils,
                                       n_min=n_min, n_max=n_min + 5)
    exp = cohort.expected
    assert (exp["accepted"] + exp[list(demo.EXPECTED_REASONS)].sum(axis=1) == exp["rows_read"]).all()
    n = cohort.truth.groupby(["wave", "council_id"])["respondent_id"].nunique()
    assert len(n) == 2 * n_councils and n.between(n_min, n_min + 5).all()
    assert exp.groupby("wave")["accepted"].sum().tolist() == n.groupby("wave").sum().tolist()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"formats": "pdf"}, "`formats`"),
    ({"n_councils": 0}, "`n_councils`"),
    ({"n_min": 30, "n_max": 20}, "n_min"),
    ({"waves": ("wave one",)}, "YYYY-MM"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        demo.generate_demo_cohort(tmp_path / "x", **kwargs)
