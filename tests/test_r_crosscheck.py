"""Cross-check against R's ``multilevel`` package on the project's own synthetic demo cohort.

The golden values of ``tests/test_agreement.py`` come from the package authors' datasets; this
test runs R itself (``tests/r/crosscheck.R``) on a cohort the project generates, so that the two
implementations meet on data with missing answers, unequal councils and a short-form council.
R is installed on CI by ``.ci/run`` (Debian's r-base-core, r-cran-multilevel, r-cran-psych);
elsewhere the test is skipped with the reason.

Conventions compared (see ``docs/methodology.md``): Debian's multilevel 2.7 computes rwg(j)
after listwise deletion, so the project's ``missing="listwise"`` is compared (the project's
default is the itemwise rule of multilevel 2.8); R's ``ad.m`` is compared on complete cases.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import agreement, ingest, scoring
from analysis.config import load_settings
from analysis.demo import generate_demo_cohort

SCRIPT = Path(__file__).with_name("r") / "crosscheck.R"


def _r_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not installed (CI installs r-base-core and r-cran-multilevel; see .ci/run)"
    probe = subprocess.run(["Rscript", "-e", "suppressMessages(library(multilevel))"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"R's multilevel package is not installed: {probe.stderr.strip()[:200]}"
    return None


pytestmark = pytest.mark.skipif(_r_available() is not None, reason=str(_r_available()))


@pytest.fixture(scope="module")
def demo_wave(tmp_path_factory, instrument):
    root = tmp_path_factory.mktemp("r_crosscheck")
    cohort = generate_demo_cohort(root / "demo", seed=20240101, formats="tidy", waves=("2024-01",))
    settings = load_settings(None)
    wave = ingest.list_waves(cohort.raw_dir)[0]
    res = ingest.load_wave(cohort.raw_dir / wave, instrument=instrument, register=ingest.load_register(cohort.raw_dir),
                           salt=b"crosscheck-salt-0123456789", settings=settings)
    scores = scoring.respondent_scores(res.responses, instrument=instrument)
    return res.responses, scores, root


@pytest.fixture(scope="module")
def r_values(demo_wave):
    responses, scores, root = demo_wave
    full = responses[responses["form"] == "full"]
    full[["council_id", "respondent_key", "enabler_id", "item_id", "score"]].to_csv(root / "resp.csv", index=False)
    enabler = scores[scores["level"] == "enabler"]
    enabler[["council_id", "unit_id", "score"]].to_csv(root / "scores.csv", index=False)
    run = subprocess.run(["Rscript", str(SCRIPT), str(root / "resp.csv"), str(root / "scores.csv"), str(root / "r.csv")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    out = pd.read_csv(root / "r.csv", keep_default_na=False, na_values=["NA"], dtype={"council": str})
    return out, full, enabler


def _r(out: pd.DataFrame, stat: str) -> pd.DataFrame:
    return out[out["stat"] == stat].rename(columns={"unit": "enabler_id", "council": "council_id", "value": "r"})


def test_rwg_j_listwise_matches_r(r_values):
    out, full, _ = r_values
    py = agreement.rwg_j(full, by=["council_id", "enabler_id"], item="item_id", value="score", missing="listwise",
                         respondent="respondent_key")
    both = _r(out, "rwg_j_listwise").merge(py, on=["council_id", "enabler_id"], how="outer", validate="one_to_one")
    assert len(both) == 20 * 11 - _short_only(full)
    np.testing.assert_allclose(both["rwg_j"].to_numpy(float), both["r"].to_numpy(float), rtol=0, atol=1e-9,
                               equal_nan=True)
    assert both["rwg_j"].notna().sum() > 150  # compared on real numbers, not on NaN = NaN


def test_ad_m_matches_r_on_complete_cases(r_values):
    out, full, _ = r_values
    complete_keys = full.assign(_n=full["score"].notna()).groupby(["council_id", "respondent_key", "enabler_id"])["_n"].all()
    keep = full.set_index(["council_id", "respondent_key", "enabler_id"]).index.isin(complete_keys[complete_keys].index)
    py = agreement.ad_m(full[keep], by=["council_id", "enabler_id"], item="item_id", value="score")
    both = _r(out, "ad_m_complete").merge(py, on=["council_id", "enabler_id"], validate="one_to_one")
    assert len(both) > 150
    np.testing.assert_allclose(both["ad_m"].to_numpy(float), both["r"].to_numpy(float), rtol=0, atol=1e-9)


def test_alpha_and_icc_match_r(r_values):
    out, full, enabler = r_values
    alpha = agreement.cronbach_alpha(full, respondent=["council_id", "respondent_key"], item="item_id",
                                     value="score", by=["enabler_id"])
    a = _r(out, "alpha").merge(alpha, on="enabler_id", validate="one_to_one")
    assert len(a) == 11
    np.testing.assert_allclose(a["alpha"].to_numpy(float), a["r"].to_numpy(float), rtol=0, atol=1e-9)
    icc = agreement.icc_anova(enabler.rename(columns={"unit_id": "enabler_id"}), group="council_id", value="score",
                              by=["enabler_id"])
    for stat in ("icc1", "icc2"):
        m = _r(out, stat).merge(icc, on="enabler_id", validate="one_to_one")
        assert len(m) == 11
        np.testing.assert_allclose(m[stat].to_numpy(float), m["r"].to_numpy(float), rtol=0, atol=1e-9)


def _short_only(full: pd.DataFrame) -> int:
    """Council x enabler cells with no full-form answers (a short-form-only council has none)."""
    have = full.groupby(["council_id", "enabler_id"]).size()
    return 20 * 11 - len(have)
