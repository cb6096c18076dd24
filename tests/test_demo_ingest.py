"""The real loaders on the synthetic demo cohort: every format, every planted fault, same scores as a clean table.

The demo generator knows the truth (the answers it meant each respondent to give, and the row
accounting each file must produce); these tests run the whole ingest -> score path on the
mixed-format exports and on the same answers written as two clean tidy tables, and require:

* every file's row accounting equals the generator's (accepted + each quarantine reason);
* every accepted answer equals the truth, cell by cell;
* the council x enabler scores from the mixed exports equal those from the clean tables;
* no planted e-mail address or respondent name reaches any processed table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import ingest, scoring
from analysis.config import load_settings
from analysis.demo import generate_demo_cohort
from analysis.instrument import load_instrument

SALT = b"test-salt-0123456789abcdef"
REASONS = ("blank_row", "summary_row", "unknown_council", "empty_response", "superseded_duplicate")


@pytest.fixture(scope="module")
def instrument():
    return load_instrument(None)


@pytest.fixture(scope="module")
def settings():
    return load_settings(None)


@pytest.fixture(scope="module")
def cohorts(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_ingest")
    mixed = generate_demo_cohort(root / "mixed" / "demo", seed=20240101)
    tidy = generate_demo_cohort(root / "tidy" / "demo", seed=20240101, formats="tidy")
    return mixed, tidy


def _ingest(cohort, instrument, settings) -> dict[str, ingest.IngestResult]:
    register = ingest.load_register(cohort.raw_dir)
    return {w: ingest.load_wave(cohort.raw_dir / w, instrument=instrument, register=register, salt=SALT,
                                settings=settings)
            for w in ingest.list_waves(cohort.raw_dir)}


@pytest.fixture(scope="module")
def ingested(cohorts, instrument, settings):
    mixed, tidy = cohorts
    return _ingest(mixed, instrument, settings), _ingest(tidy, instrument, settings)


def test_every_file_accounts_as_planted(cohorts, ingested):
    mixed, _ = cohorts
    got = pd.concat([r.files for r in ingested[0].values()], ignore_index=True)
    exp = mixed.expected
    merged = exp.merge(got, on="source_file", how="outer", suffixes=("_exp", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", "source_file"].tolist()
    assert (merged["rows_read_exp"] == merged["rows_read"]).all()
    assert (merged["accepted_exp"] == merged["accepted"]).all(), \
        merged.loc[merged["accepted_exp"] != merged["accepted"], ["source_file", "accepted_exp", "accepted"]]
    for reason in REASONS:
        col = f"q_{reason}"
        have = merged[col].fillna(0).astype(int) if col in merged else pd.Series(0, index=merged.index)
        bad = merged[merged[reason] != have]
        assert bad.empty, (reason, bad[["source_file", reason]].assign(got=have[bad.index]))


def test_every_accepted_answer_equals_the_truth(cohorts, ingested):
    mixed, _ = cohorts
    responses = pd.concat([r.responses for r in ingested[0].values()], ignore_index=True)
    truth = mixed.truth
    # per council, wave and item: the multiset of scores (respondent identities are hashed)
    def profile(frame: pd.DataFrame) -> pd.DataFrame:
        f = frame.assign(score=frame["score"].fillna(0).astype(int))
        return f.groupby(["wave", "council_id", "item_id", "score"]).size().rename("n").reset_index()

    got, exp = profile(responses), profile(truth)
    pd.testing.assert_frame_equal(got.sort_values(list(got.columns)).reset_index(drop=True),
                                  exp.sort_values(list(exp.columns)).reset_index(drop=True))
    # one key per respondent, as many respondents as the truth has
    n_got = responses.groupby(["wave", "council_id"])["respondent_key"].nunique()
    n_exp = truth.groupby(["wave", "council_id"])["respondent_id"].nunique()
    pd.testing.assert_series_equal(n_got.sort_index(), n_exp.sort_index(), check_names=False)


def test_mixed_formats_score_the_same_as_clean_tables(ingested, instrument, settings):
    mixed, tidy = ingested
    for wave in mixed:
        a = scoring.score_wave(mixed[wave].responses, instrument=instrument, settings=settings)
        b = scoring.score_wave(tidy[wave].responses, instrument=instrument, settings=settings)
        for name in ("enabler_scores", "grouping_scores"):
            keys = ["scope", "council_id", "unit_id"]
            ta = a[name].sort_values(keys).reset_index(drop=True)
            tb = b[name].sort_values(keys).reset_index(drop=True)
            num = ta.select_dtypes("number").columns
            assert len(ta) == len(tb) > 0
            np.testing.assert_allclose(ta[num].to_numpy(float), tb[num].to_numpy(float), equal_nan=True,
                                       err_msg=f"{wave} {name}")


def test_dont_know_and_out_of_range_are_logged_cells(ingested):
    issues = pd.concat([r.cell_issues for r in ingested[0].values()], ignore_index=True)
    assert {"dont_know"} <= set(issues["kind"])
    assert issues["source_file"].notna().all() and issues["source_row"].notna().all()


def test_nothing_personal_in_processed_tables(cohorts, ingested):
    mixed, _ = cohorts
    frames = [t for r in ingested[0].values() for t in (r.responses, r.quarantine, r.cell_issues, r.files, r.councils)]
    text = "\n".join(f.to_csv(index=False) for f in frames)
    assert "@example.org" not in text and "@example.com" not in text
    # respondent names as written in the exports (first + last)
    from analysis.demo import FIRST_NAMES, LAST_NAMES
    for first in FIRST_NAMES[:5]:
        for last in LAST_NAMES[:5]:
            assert f"{first} {last}" not in text


def test_pipeline_steps_write_the_same_scores_for_mixed_exports_and_clean_tables(cohorts, tmp_path):
    """What notebooks 01 and 02 call (steps.ingest_step, steps.score_step), through the files they write."""
    from analysis import steps
    from analysis.io import read_table

    mixed, tidy = cohorts
    for label, cohort in (("mixed", mixed), ("tidy", tidy)):   # fixed salts: the same keys, hence draws, every run
        (tmp_path / "keys" / label).mkdir(parents=True)
        (tmp_path / "keys" / label / f"{cohort.raw_dir.name}.salt").write_text("ab" * 32 + "\n", encoding="utf-8")
    for wave in ("2024-01", "2025-01"):
        written = {}
        for label, cohort in (("mixed", mixed), ("tidy", tidy)):
            proc = tmp_path / label / wave
            steps.ingest_step(raw_dir=cohort.raw_dir, wave=wave, processed_dir=proc, keys_dir=tmp_path / "keys" / label)
            steps.score_step(processed_dir=proc)
            written[label] = {name: read_table(proc / f"{name}.csv", name)
                              for name in ("enabler_scores", "grouping_scores", "comparison")}
        for name, a in written["mixed"].items():
            b = written["tidy"][name]
            keys = [c for c in ("scope", "council_id", "unit_id") if c in a.columns]
            a = a.sort_values(keys).reset_index(drop=True)
            b = b.sort_values(keys).reset_index(drop=True)
            # Bootstrap CIs resample respondents in key order, and the salted keys differ between the
            # two cohorts (one has e-mails, the other not): same distribution, different draws.
            ci = [c for c in ("ci_low", "ci_high") if c in a.columns]
            for c in ci:
                np.testing.assert_allclose(a[c], b[c], atol=0.06, err_msg=f"{wave} {name} {c}")
            pd.testing.assert_frame_equal(a.drop(columns=ci), b.drop(columns=ci), check_exact=False, rtol=1e-12,
                                          obj=f"{wave} {name}")
