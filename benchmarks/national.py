"""National-scale statistics benchmark: 400 councils x 500 respondents x 33 statements (6.6 M answers).

Run through ``benchmarks/run.py stats``. Three measurements, each a median of several runs in
the same process, against baselines measured in the same run:

1. **All statistics of a wave** (:func:`analysis.wave_stats.wave_statistics`: bootstrap CIs of
   every council x unit mean, rwg(j)/AD_M/polarisation and the aggregation check per council x
   enabler, grouping and overall, ICC(1)/ICC(2)/F, Cronbach's alpha with CI and item-total
   correlations, Kruskal-Wallis, council vs rest of cohort, change since the previous wave, the
   perspective breakdown), with its peak memory (``ru_maxrss`` of a fresh child process).
2. **The straightforward loop** over councils calling numpy/scipy per group (what an analyst
   would write first), on a slice of the councils and scaled up linearly (it is linear in the
   number of councils; the full loop would take many minutes).
3. **R's multilevel** (``rwg.j``, ``ICC1`` on ``aov``, ``ad.m``) on the same answers, timed inside
   R (``system.time``, reading excluded), against the project's ``rwg_j`` + ``icc_anova`` +
   ``ad_m`` in Python. Skipped when ``Rscript`` or the package is absent.
"""

from __future__ import annotations

import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

N_COUNCILS, N_RESP = 400, 500


def national_responses(*, n_councils: int = N_COUNCILS, n_resp: int = N_RESP, wave: str = "2025-01",
                       seed: int = 11, shift: float = 0.0) -> pd.DataFrame:
    """The tidy responses table of a national wave: categorical keys, 3% missing answers."""
    from analysis.instrument import load_instrument

    inst = load_instrument()
    items = inst.form_items("full")
    rng = np.random.default_rng(seed)
    n_items = len(items)
    council_mean = rng.normal(3.3 + shift, 0.35, n_councils)
    enabler_effect = rng.normal(0, 0.25, (n_councils, 11))
    e_pos = pd.Index(inst.enabler_ids).get_indexer(items["enabler_id"])
    latent = (council_mean[:, None, None] + enabler_effect[:, None, e_pos]
              + rng.normal(0, 0.6, (n_councils, n_resp, 1)) + rng.normal(0, 0.7, (n_councils, n_resp, n_items)))
    answers = np.clip(np.rint(latent), 1, 5).astype("float64")
    answers[rng.random(answers.shape) < 0.03] = np.nan
    n = n_councils * n_resp * n_items
    council_codes = np.repeat(np.arange(n_councils), n_resp * n_items)
    resp_codes = np.repeat(np.arange(n_councils * n_resp), n_items)
    item_codes = np.tile(np.arange(n_items), n_councils * n_resp)
    councils = pd.Index([f"N{c:03d}" for c in range(n_councils)])
    keys = pd.Index([f"{k:016x}" for k in range(n_councils * n_resp)])
    persp = pd.Categorical.from_codes(np.repeat(rng.integers(0, 3, n_councils * n_resp), n_items),
                                      categories=["service", "organisation", "system"])
    return pd.DataFrame({
        "wave": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[wave]),
        "council_id": pd.Categorical.from_codes(council_codes, categories=councils),
        "council_name": pd.Categorical.from_codes(council_codes, categories="Council " + councils),
        "respondent_key": pd.Categorical.from_codes(resp_codes, categories=keys),
        "perspective": persp,
        "form": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=["full"]),
        "item_id": pd.Categorical.from_codes(item_codes, categories=items["item_id"]),
        "enabler_id": pd.Categorical.from_codes(e_pos[item_codes], categories=inst.enabler_ids),
        "score": answers.ravel(),
    })


def _scores(responses: pd.DataFrame):
    from analysis import scoring
    from analysis.config import load_settings
    from analysis.instrument import load_instrument

    return scoring.score_wave(responses, instrument=load_instrument(), settings=load_settings())


def _all_statistics(r2, t1, t2) -> dict:
    from analysis.config import load_settings
    from analysis.instrument import load_instrument
    from analysis.wave_stats import wave_statistics

    return wave_statistics(responses=r2, respondent_scores=t2["respondent_scores"], enabler_scores=t2["enabler_scores"],
                           grouping_scores=t2["grouping_scores"], instrument=load_instrument(),
                           settings=load_settings(), previous_scores=t1["respondent_scores"])


def _loop_baseline(responses: pd.DataFrame, scores: pd.DataFrame, councils: list[str], n_resamples: int = 2000) -> None:
    """What an analyst writes first: a loop over councils and enablers calling numpy/scipy per group."""
    from scipy import stats

    enablers = sorted(responses["enabler_id"].astype(str).unique())
    e_scores = scores[scores["level"] == "enabler"]
    rng = np.random.default_rng(1)
    for cid in councils:  # the loop the project avoids
        mine = responses[responses["council_id"] == cid]
        for e in enablers:
            sub = mine[mine["enabler_id"] == e].pivot_table(index="respondent_key", columns="item_id", values="score",
                                                            aggfunc="first", observed=True)
            var = sub.var(ddof=1).mean()
            s = min(var, 2.0)
            j = sub.shape[1]
            _rwg_j = j * (1 - s / 2) / (j * (1 - s / 2) + s / 2)
            _ad = (sub - sub.mean()).abs().mean().mean()
            sc = e_scores.loc[(e_scores["council_id"] == cid) & (e_scores["unit_id"] == e), "score"].dropna().to_numpy()
            rest = e_scores.loc[(e_scores["council_id"] != cid) & (e_scores["unit_id"] == e), "score"].dropna().to_numpy()
            stats.bootstrap((sc,), np.mean, n_resamples=n_resamples, method="percentile", random_state=rng,
                            vectorized=True)
            stats.mannwhitneyu(sc, rest)


def _python_r_subset(responses: pd.DataFrame, scores: pd.DataFrame) -> None:
    from analysis import agreement

    agreement.rwg_j(responses, by=["council_id", "enabler_id"], item="item_id", value="score", missing="listwise",
                    respondent="respondent_key")
    agreement.ad_m(responses, by=["council_id", "enabler_id"], item="item_id", value="score")
    e = scores[scores["level"] == "enabler"]
    agreement.icc_anova(e, group="council_id", value="score", by=["unit_id"])


R_SCRIPT = textwrap.dedent("""
    suppressMessages(library(multilevel))
    args <- commandArgs(trailingOnly = TRUE)
    resp <- read.csv(args[1]); sc <- read.csv(args[2])
    # data preparation, not timed: one wide table (respondents x statements) per enabler
    wides <- list(); sets <- list()
    for (e in sort(unique(resp$enabler_id))) {
      sub <- resp[resp$enabler_id == e, ]
      sub$item <- as.integer(factor(sub$item_id))
      key <- paste(sub$council_id, sub$respondent_key)
      ids <- unique(key)
      m <- matrix(NA_real_, length(ids), max(sub$item))
      m[cbind(match(key, ids), sub$item)] <- sub$score
      wides[[e]] <- list(items = as.data.frame(m), grp = sub$council_id[match(ids, key)])
      sets[[e]] <- sc[sc$unit_id == e, ]
    }
    times <- c()
    for (run in 1:as.integer(args[3])) {
      t <- system.time({
        for (e in names(wides)) {
          w <- wides[[e]]
          rwg.j(w$items, w$grp, ranvar = 2)
          ad.m(w$items, w$grp)
          ICC1(aov(score ~ as.factor(council_id), data = sets[[e]]))
        }
      })[["elapsed"]]
      times <- c(times, t)
    }
    cat(median(times), "\\n")
""")


def _peak_memory_child() -> tuple[float, float]:
    """Peak RSS (MB, ``ru_maxrss``: the process's high-water mark) of a fresh process that builds
    both waves, scores them and runs every statistic once: (after building and scoring the input,
    after the statistics too). The second is the peak of the whole process, input included."""
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import national as nat
        r1 = nat.national_responses(wave="2024-01", seed=5)
        r2 = nat.national_responses(wave="2025-01", seed=6, shift=0.1)
        t1, t2 = nat._scores(r1), nat._scores(r2)
        del r1
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        nat._all_statistics(r2, t1, t2)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(before / 1024, after / 1024)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after = map(float, out.stdout.split())
    return before, after


def bench_stats(runs: int) -> list[str]:
    r1 = national_responses(wave="2024-01", seed=5)
    r2 = national_responses(wave="2025-01", seed=6, shift=0.1)
    t1, t2 = _scores(r1), _scores(r2)
    del r1
    n_answers = len(r2)
    _all_statistics(r2, t1, t2)  # warm-up (first-call imports and allocations)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        _all_statistics(r2, t1, t2)
        times.append(time.perf_counter() - t0)
    full = statistics.median(times)
    print(f"wave_statistics runs: {times}", file=sys.stderr, flush=True)
    # the loop baseline on a slice of councils, scaled to all of them
    councils = list(r2["council_id"].cat.categories)
    k = 8
    plain = r2.astype({c: "str" for c in ("council_id", "respondent_key", "item_id", "enabler_id")})
    plain_scores = t2["respondent_scores"].astype({"council_id": "str", "unit_id": "str", "level": "str"})
    t0 = time.perf_counter()
    _loop_baseline(plain, plain_scores, councils[:k])
    loop = (time.perf_counter() - t0) * len(councils) / k
    print(f"loop baseline scaled: {loop:.1f} s", file=sys.stderr, flush=True)
    peak_input, peak = _peak_memory_child()
    print(f"peak memory: {peak:.0f} MB (input built and scored: {peak_input:.0f} MB)", file=sys.stderr, flush=True)
    lines = ["### Statistics at national scale", "",
             f"{N_COUNCILS} councils x {N_RESP} respondents x 33 statements = {n_answers:,} answers per wave, two waves "
             f"(the previous one for the change table), keys categorical as `analysis.wave_stats` makes them. Every "
             f"statistic of issue 4 except Dunn's pairwise tests, at enabler, grouping and overall level, 2,000 "
             f"bootstrap resamples. Median of {runs} runs (runs: {', '.join(f'{t:.2f}' for t in times)}).", "",
             "| what | time | ratio |", "| --- | --- | --- |",
             f"| loop over councils x enablers calling numpy/scipy per group (rwg(j), AD, bootstrap, Mann-Whitney; "
             f"enablers only; {k} councils timed, scaled x{len(councils) // k}) | {loop:.0f} s | 1.0x |",
             f"| **`wave_statistics`, everything** | **{full:.2f} s** | **{loop / full:.0f}x faster** (target < 5 s, >= 20x) |",
             "", f"Peak memory (`ru_maxrss`, the high-water mark) of a fresh process that builds both waves, scores "
             f"them and runs every statistic once: **{peak / 1024:.2f} GB** (target < 2 GB). This includes the "
             f"input: the same process's high-water mark after building and scoring both waves, before any "
             f"statistic, is {peak_input / 1024:.2f} GB, so the statistics raise it by "
             f"{max(peak - peak_input, 0) / 1024:.2f} GB.", ""]
    lines += _bench_r(r2, t2, runs)
    return lines


def _bench_r(responses: pd.DataFrame, t2: dict, runs: int) -> list[str]:
    from analysis.instrument import load_instrument  # noqa: F401  (same import cost as above)

    if shutil.which("Rscript") is None or subprocess.run(["Rscript", "-e", "library(multilevel)"],
                                                         capture_output=True).returncode != 0:
        return ["R comparison skipped: Rscript or the multilevel package is not installed "
                "(`apt-get install r-base-core r-cran-multilevel`).", ""]
    scores = t2["respondent_scores"]
    e = scores[scores["level"] == "enabler"]
    _python_r_subset(responses, scores)  # warm-up (first-call imports and allocations)
    py_times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        _python_r_subset(responses, scores)
        py_times.append(time.perf_counter() - t0)
    with tempfile.TemporaryDirectory() as tmp:
        rp, sp, script = Path(tmp) / "resp.csv", Path(tmp) / "scores.csv", Path(tmp) / "bench.R"
        responses[["council_id", "respondent_key", "enabler_id", "item_id", "score"]].to_csv(rp, index=False)
        e[["council_id", "unit_id", "score"]].to_csv(sp, index=False)
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(rp), str(sp), str(max(1, runs // 2))], capture_output=True,
                             text=True, check=True)
        r_time = float(out.stdout.split()[-1])
    py = statistics.median(py_times)
    return [f"Against R's multilevel on the same answers (rwg.j, ad.m per enabler x council, ICC1 on aov per "
            f"enabler; R timed with system.time around the three calls only, reading and reshaping excluded, median of "
            f"{max(1, runs // 2)}):", "",
            "| what | time | ratio |", "| --- | --- | --- |",
            f"| R multilevel `rwg.j` + `ad.m` + `ICC1` (baseline) | {r_time:.2f} s | 1.0x |",
            f"| `agreement.rwg_j` + `ad_m` + `icc_anova` | {py:.2f} s | {r_time / py:.1f}x faster |", ""]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    print("\n".join(bench_stats(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
