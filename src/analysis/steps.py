"""One function per pipeline notebook: what ``notebooks/01..04`` call.

Each step reads its inputs from disk, calls the library, writes its products atomically and
returns what the notebook displays. Keeping the work here (not in the notebooks) means every step
can be tested without Jupyter, and the notebooks stay thin: a ``parameters`` cell, one call, and
cells that show the results.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .config import SYNTHETIC_MARKER, load_settings
from .exceptions import InsufficientDataError, ReportError
from .instrument import Instrument, load_instrument
from .io import read_table, write_csv, write_json

logger = logging.getLogger(__name__)

#: Files each step writes into ``data/processed/<cohort>/<wave>/``.
INGEST_OUTPUTS = ("responses.csv", "quarantine.csv", "cell_issues.csv", "councils.csv", "ingest_summary.json")
SCORE_OUTPUTS = ("respondent_scores", "enabler_scores", "grouping_scores", "comparison")


def _settings(settings_file: str | Path | None) -> dict[str, Any]:
    return load_settings(settings_file or None)


def is_synthetic(raw_dir: str | Path) -> bool:
    """True when the cohort folder carries the synthetic-data marker written by ``diagnostics demo``."""
    return (Path(raw_dir) / SYNTHETIC_MARKER).exists()


# --------------------------------------------------------------------------------------------
# 01 ingest and clean
# --------------------------------------------------------------------------------------------
def ingest_step(*, raw_dir: str | Path, wave: str, processed_dir: str | Path, keys_dir: str | Path,
                instrument: str | Path | Instrument | None = None, settings_file: str | Path | None = None,
                keep_comments: bool = False, skip_bad_files: bool = False) -> Any:
    """Load and clean one wave, account for every row, and write the processed tables.

    Writes ``responses.csv``, ``quarantine.csv``, ``cell_issues.csv``, ``councils.csv``,
    ``ingest_summary.json`` (and ``comments.csv`` only with ``keep_comments``) to
    ``processed_dir``. Returns the :class:`analysis.ingest.IngestResult`.
    """
    from . import ingest, privacy

    raw_dir = Path(raw_dir)
    processed_dir = Path(processed_dir)
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    settings = _settings(settings_file)
    register = ingest.load_register(raw_dir)
    salt = privacy.load_or_create_salt(Path(keys_dir), raw_dir.name)
    result = ingest.load_wave(raw_dir / wave, instrument=inst, register=register, salt=salt,
                              settings=settings, skip_bad_files=skip_bad_files,
                              keep_comments=keep_comments, cohort_dir=raw_dir)
    processed_dir.mkdir(parents=True, exist_ok=True)
    write_csv(result.responses, processed_dir / "responses.csv")
    write_csv(result.quarantine, processed_dir / "quarantine.csv")
    write_csv(result.cell_issues, processed_dir / "cell_issues.csv")
    write_csv(result.councils, processed_dir / "councils.csv")
    summary = result.summary()
    summary.update({"cohort": raw_dir.name, "wave": wave, "instrument": inst.id,
                    "synthetic": is_synthetic(raw_dir), "register": register is not None})
    write_json(summary, processed_dir / "ingest_summary.json")
    comments_path = processed_dir / "comments.csv"
    if keep_comments and result.comments is not None:
        write_csv(result.comments, comments_path)
    elif comments_path.exists():
        comments_path.unlink()  # a previous --keep-comments run must not leave free text behind
    logger.info("wave %s: %d responses rows, %d quarantined rows", wave, len(result.responses), len(result.quarantine))
    return result


# --------------------------------------------------------------------------------------------
# 02 score
# --------------------------------------------------------------------------------------------
def comparison_table(enabler: pd.DataFrame, grouping: pd.DataFrame, *, threshold: int) -> pd.DataFrame:
    """``comparison.csv``: every council against the cohort, for enablers then groupings and overall."""
    from . import compare

    return pd.concat([compare.council_vs_cohort(enabler, disclosure_threshold=threshold),
                      compare.council_vs_cohort(grouping, disclosure_threshold=threshold)], ignore_index=True)


def score_step(*, processed_dir: str | Path, instrument: str | Path | Instrument | None = None,
               settings_file: str | Path | None = None,
               previous_processed_dir: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Score one wave from ``responses.csv``, compute its statistics and write every table.

    ``previous_processed_dir`` is the previous wave's folder (its ``respondent_scores.csv`` feeds
    ``wave_change.csv``); empty or missing means no change table rows.

    Returns ``{"respondent_scores", "enabler_scores", "grouping_scores", "comparison"}`` and the
    tables of :data:`analysis.wave_stats.STATS_OUTPUTS`.
    """
    from . import scoring, wave_stats

    processed_dir = Path(processed_dir)
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    settings = _settings(settings_file)
    path = processed_dir / "responses.csv"
    if not path.exists():
        raise InsufficientDataError(f"{path} does not exist", hint="Run the ingest step (notebooks/01_ingest_clean.ipynb) first.")
    responses = read_table(path, "responses")
    if responses.empty:
        raise InsufficientDataError("no accepted responses in this wave", path=path,
                                    hint="Check quarantine.csv and ingest_summary.json to see why every row was set aside.")
    tables = scoring.score_wave(responses, instrument=inst, settings=settings)
    threshold = int(settings["privacy"]["disclosure_threshold"])
    previous = None
    prev_path = Path(previous_processed_dir) / "respondent_scores.csv" if previous_processed_dir else None
    if prev_path is not None and prev_path.exists():
        previous = read_table(prev_path, "respondent_scores")
    stats = wave_stats.wave_statistics(responses=responses, respondent_scores=tables["respondent_scores"],
                                       enabler_scores=tables["enabler_scores"],
                                       grouping_scores=tables["grouping_scores"], instrument=inst,
                                       settings=settings, previous_scores=previous)
    tables |= stats
    tables["comparison"] = comparison_table(tables["enabler_scores"], tables["grouping_scores"], threshold=threshold)
    for name in (*SCORE_OUTPUTS, *wave_stats.STATS_OUTPUTS):
        write_csv(tables[name], processed_dir / f"{name}.csv")
    return tables


# --------------------------------------------------------------------------------------------
# shared by 03 and 04
# --------------------------------------------------------------------------------------------
@dataclass
class ReportContext:
    """Everything a report needs about one wave, read once from ``data/processed``."""

    cohort: str
    wave: str
    instrument: Instrument
    settings: dict[str, Any]
    synthetic: bool
    enabler_scores: pd.DataFrame
    grouping_scores: pd.DataFrame
    comparison: pd.DataFrame
    summary: dict[str, Any]
    previous: pd.DataFrame | None = None  # enabler_scores of the previous wave, when processed
    run_id: str = ""
    cohort_left_out: int = 0  # respondents of suppressed groups left out of the cohort rows shown
    cohort_stats: pd.DataFrame | None = None  # ICC, alpha and Kruskal-Wallis per unit (cohort_stats.csv)

    @property
    def threshold(self) -> int:
        return int(self.settings["privacy"]["disclosure_threshold"])

    @property
    def enabler_order(self) -> list[str]:
        return self.instrument.enabler_ids

    @property
    def enabler_labels(self) -> dict[str, str]:
        e = self.instrument.enablers
        return {eid: f"{eid} {short}" for eid, short in zip(e["enabler_id"], e["short_name"], strict=True)}

    def about(self, title: str) -> dict[str, Any]:
        return {
            "title": title, "synthetic": self.synthetic, "cohort": self.cohort, "wave": self.wave,
            "instrument": f"{self.instrument.name} ({self.instrument.id} v{self.instrument.version})",
            "disclosure threshold": f"groups with fewer than {self.threshold} respondents are suppressed",
            "run id": self.run_id, "package version": f"upstream-diagnostics {__version__}",
            "generated at": pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"),
        }

    def first_screen_notes(self) -> list[str]:
        """Caveats that belong on the first screen: skipped files, missing register."""
        notes: list[str] = []
        for f in self.summary.get("files", []):
            if f.get("status") == "skipped":
                notes.append(f"File skipped (--skip-bad-files): {f.get('source_file')}: {f.get('error')}")
        if not self.summary.get("register", True):
            notes.append("No cohort register (cohort.csv): councils are the distinct names found in the exports.")
        if self.cohort_left_out:
            notes.append(f"Cohort figures pool the respondents of the councils shown: {self.cohort_left_out} respondent(s) "
                         f"in groups of fewer than {self.threshold} are left out of them, so that their answers "
                         f"cannot be worked out by subtraction.")
        return notes


_CONTEXT_CACHE: dict[tuple, ReportContext] = {}


def _file_signature(*folders: str | Path | None) -> tuple:
    sig = []
    for folder in folders:
        if folder:
            for path in sorted(Path(folder).glob("*.csv")) + sorted(Path(folder).glob("*.json")):
                st = path.stat()
                sig.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(sig)


def load_report_context(*, processed_dir: str | Path, cohort: str, wave: str,
                        instrument: str | Path | Instrument | None = None,
                        settings_file: str | Path | None = None, synthetic: bool = False,
                        previous_processed_dir: str | Path | None = None, run_id: str = "") -> ReportContext:
    """Read the processed tables of one wave (and the previous wave's enabler scores if given).

    The context is cached for the life of the process, keyed by the arguments and by the path,
    modification time and size of every table read: the council packs of a wave run one after
    another in a shared kernel and read the same tables, while a re-run on changed data reads
    afresh. Treat the returned tables as read-only.
    """
    key = (str(processed_dir), cohort, wave, str(instrument) if not isinstance(instrument, Instrument) else id(instrument),
           str(settings_file or ""), bool(synthetic), str(previous_processed_dir or ""), run_id,
           _file_signature(processed_dir, previous_processed_dir))
    if key not in _CONTEXT_CACHE:
        ctx = _load_report_context(processed_dir=processed_dir, cohort=cohort, wave=wave, instrument=instrument,
                                   settings_file=settings_file, synthetic=synthetic,
                                   previous_processed_dir=previous_processed_dir, run_id=run_id)
        if len(_CONTEXT_CACHE) >= 2:
            _CONTEXT_CACHE.pop(next(iter(_CONTEXT_CACHE)))
        _CONTEXT_CACHE[key] = ctx
    return _CONTEXT_CACHE[key]


def _load_report_context(*, processed_dir: str | Path, cohort: str, wave: str,
                         instrument: str | Path | Instrument | None, settings_file: str | Path | None,
                         synthetic: bool, previous_processed_dir: str | Path | None, run_id: str) -> ReportContext:
    processed_dir = Path(processed_dir)
    for name in ("enabler_scores", "grouping_scores", "comparison"):
        if not (processed_dir / f"{name}.csv").exists():
            raise ReportError(f"{processed_dir / (name + '.csv')} does not exist",
                              hint="Run the scoring step (notebooks/02_score.ipynb) first.")
    summary_path = processed_dir / "ingest_summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    previous = None
    if previous_processed_dir and (Path(previous_processed_dir) / "enabler_scores.csv").exists():
        previous = read_table(Path(previous_processed_dir) / "enabler_scores.csv", "enabler_scores")
    settings = _settings(settings_file)
    inst = instrument if isinstance(instrument, Instrument) else load_instrument(instrument)
    enabler = read_table(processed_dir / "enabler_scores.csv", "enabler_scores")
    grouping = read_table(processed_dir / "grouping_scores.csv", "grouping_scores")
    comparison = read_table(processed_dir / "comparison.csv", "comparison")
    threshold = int(settings["privacy"]["disclosure_threshold"])
    left_out = 0
    if (processed_dir / "respondent_scores.csv").exists():
        enabler, grouping, comparison, left_out = reportable_cohort_rows(
            read_table(processed_dir / "respondent_scores.csv", "respondent_scores"), enabler, grouping,
            comparison, threshold=threshold, settings=settings, instrument=inst)
    cohort_stats = (read_table(processed_dir / "cohort_stats.csv", "cohort_stats")
                    if (processed_dir / "cohort_stats.csv").exists() else None)
    ctx = ReportContext(
        cohort=cohort, wave=wave, instrument=inst, settings=settings, cohort_stats=cohort_stats,
        synthetic=bool(synthetic or summary.get("synthetic", False)),
        enabler_scores=enabler, grouping_scores=grouping, comparison=comparison,
        summary=summary, previous=previous, run_id=run_id, cohort_left_out=left_out,
    )
    return ctx


def reportable_cohort_rows(respondents: pd.DataFrame, enabler: pd.DataFrame, grouping: pd.DataFrame,
                           comparison: pd.DataFrame, *, threshold: int, settings: dict[str, Any],
                           instrument: Instrument) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, int]:
    """Cohort rows that cannot be differenced against the council rows shown.

    A report shows every council with ``n >= threshold`` and the pooled cohort row. If the cohort
    row also pooled a suppressed council (``n < threshold`` for that unit), subtracting the shown
    councils' ``n x mean`` from the cohort's would recover the suppressed group's mean: a
    disclosure by differencing. So for reports the cohort rows of each unit are re-pooled from the
    respondents of the councils shown for that unit only, and ``cohort_mean`` in the comparison
    follows. ``data/processed`` keeps the full cohort rows (it is not a report).

    Returns
    -------
    (enabler_scores, grouping_scores, comparison, left_out)
        The tables with their cohort rows replaced, and how many respondents were left out of the
        cohort rows of at least one unit (0 when nothing was suppressed).
    """
    from . import scoring

    council_rows = pd.concat([enabler, grouping], ignore_index=True)
    council_rows = council_rows[council_rows["scope"] == "council"]
    small = council_rows.loc[council_rows["n"] < threshold, ["wave", "council_id", "unit_id"]]
    if small.empty:
        return enabler, grouping, comparison, 0
    keys = ["wave", "council_id", "unit_id"]
    marked = respondents.merge(small.assign(_small=True), on=keys, how="left")
    hidden = marked["_small"].fillna(False).astype(bool).to_numpy()
    kept = respondents.loc[~hidden]
    left_out = int(respondents.loc[hidden, ["wave", "council_id", "respondent_key"]].drop_duplicates().shape[0])
    sec = settings["scoring"]
    kw = {"favourable_min": float(sec["favourable_min"]), "unfavourable_max": float(sec["unfavourable_max"]),
          "instrument": instrument}
    out = []
    for table, levels in ((enabler, ("enabler",)), (grouping, tuple(pd.unique(grouping["level"])))):
        pooled = scoring.summarise(kept[kept["level"].isin(levels)], level=levels, **kw)
        pooled = pooled[pooled["scope"] == "cohort"]
        merged = pd.concat([table[table["scope"] != "cohort"], pooled[table.columns.intersection(pooled.columns)]],
                           ignore_index=True)
        out.append(merged[table.columns])
    comparison = comparison_table(out[0], out[1], threshold=threshold)
    return out[0], out[1], comparison, left_out


#: Reader's headings of the cohort statistics table (cohort_stats.csv).
COHORT_STATS_LABELS: dict[str, str] = {
    "unit_name": "Unit", "n_councils": "Councils", "n": "Respondents", "icc1": "ICC(1)", "icc2": "ICC(2)",
    "f": "F", "f_p_value": "F p-value", "alpha": "Cronbach's alpha", "alpha_ci_low": "Alpha 95% CI low",
    "alpha_ci_high": "Alpha 95% CI high", "kw_h": "Kruskal-Wallis H", "kw_p_value": "Kruskal-Wallis p",
    "epsilon2": "Epsilon squared",
}


@dataclass
class Report:
    """What a report notebook shows: markdown blocks, figures and display tables, in order."""

    banner: str
    notes: list[str]
    figures: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    workbook: Path | None = None
    alt: dict[str, str] = field(default_factory=dict)  # alternative text of each figure

    def image(self, key: str) -> Any:
        """The figure ``key`` rendered once to PNG with its alternative text (for ``display``)."""
        from . import reports

        return reports.figure_image(self.figures[key], alt=self.alt.get(key, key))


def _new_figure(**kwargs: Any) -> Any:
    """A figure not registered with pyplot, so notebooks show it only where it is displayed."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _council_rows(frame: pd.DataFrame, wave: str) -> pd.DataFrame:
    return frame[(frame["wave"] == wave) & (frame["scope"] == "council")] if "scope" in frame else frame[frame["wave"] == wave]


def _respondent_counts(ctx: ReportContext) -> pd.DataFrame:
    """Respondents per council: the largest n over the council's enablers (valid enabler scores)."""
    rows = _council_rows(ctx.enabler_scores, ctx.wave)
    counts = (rows.groupby(["council_id", "council_name"], sort=False)["n"].max()
              .rename("respondents").reset_index())
    counts["suppressed"] = counts["respondents"] < ctx.threshold
    return counts


def cohort_report_step(*, processed_dir: str | Path, reports_dir: str | Path, cohort: str, wave: str,
                       instrument: str | Path | Instrument | None = None,
                       settings_file: str | Path | None = None, synthetic: bool = False,
                       previous_processed_dir: str | Path | None = None, run_id: str = "") -> Report:
    """Build the cohort comparison report of one wave and write ``cohort_report.xlsx``.

    The notebook displays the returned :class:`Report`; nbconvert turns the executed notebook
    into ``cohort_report.html``.
    """
    from . import compare, plots, reports

    ctx = load_report_context(processed_dir=processed_dir, cohort=cohort, wave=wave, instrument=instrument,
                              settings_file=settings_file, synthetic=synthetic,
                              previous_processed_dir=previous_processed_dir, run_id=run_id)
    title = f"Cohort report: {cohort}, wave {wave}"
    report = Report(banner=reports.banner_markdown(synthetic=ctx.synthetic, cohort=cohort, wave=wave, title=title),
                    notes=ctx.first_screen_notes())
    comp = ctx.comparison[(ctx.comparison["wave"] == wave) & ctx.comparison["unit_id"].isin(ctx.enabler_order)]
    counts = _respondent_counts(ctx)
    n_total = int(ctx.enabler_scores.loc[(ctx.enabler_scores["wave"] == wave) & (ctx.enabler_scores["scope"] == "cohort"), "n"].max())
    shown = comp[~comp["suppressed"]]
    report.text["overview"] = (
        f"{len(counts)} councils, {n_total} respondents with at least one valid enabler score. "
        f"{int(counts['suppressed'].sum())} council(s) with fewer than {ctx.threshold} respondents are suppressed. "
        f"Scores run from 1 (Strongly disagree) to 5 (Strongly agree); the spider diagrams compare each "
        f"council's mean with the cohort median (the median of council means)."
    )
    if shown.empty:
        raise InsufficientDataError(f"every council in wave {wave} has fewer than {ctx.threshold} respondents, so nothing can be shown",
                                    hint="Lower privacy.disclosure_threshold in a settings file only if your disclosure policy allows it.")

    # heatmap: council x enabler (suppressed councils kept as empty rows so nobody looks missing)
    fig = _new_figure(figsize=(11, 0.42 * len(counts) + 2.2), layout="constrained")
    plots.heatmap(comp, x="unit_id", y="council_name", value="mean", ax=fig.add_subplot(), labels=ctx.enabler_labels)
    report.figures["heatmap"] = fig
    report.alt["heatmap"] = (f"Heatmap of mean enabler score (1 to 5) for {len(counts)} councils (rows) by "
                             f"{len(ctx.enabler_order)} enablers (columns); the same values are in the table "
                             f"'Scores and respondents' below.")

    # spider small multiples: each council against the cohort median
    report.figures["spider_grid"] = plots.spider_grid(shown, council="council_name", enabler="unit_id", value="mean",
                                                      reference="cohort_median", order=ctx.enabler_order,
                                                      labels={k: v.split(" ", 1)[0] for k, v in ctx.enabler_labels.items()})
    report.alt["spider_grid"] = (f"Spider diagrams, one per council ({len(shown['council_id'].unique())} shown), of "
                                 f"the council's mean score on each enabler E01 to E11 against the dashed cohort median.")

    # tables
    cohort_rows = ctx.enabler_scores[(ctx.enabler_scores["wave"] == wave) & (ctx.enabler_scores["scope"] == "cohort")]
    wide = shown.pivot_table(index=["council_id", "council_name"], columns="unit_id", values="mean", sort=False)
    wide = wide.reindex(columns=ctx.enabler_order).reset_index()
    wide = counts[["council_id", "respondents"]].merge(wide, on="council_id", how="left")
    wide.loc[wide["respondents"] < ctx.threshold, ctx.enabler_order] = float("nan")
    wide.insert(1, "council_name", wide.pop("council_name").fillna(wide["council_id"].map(dict(zip(counts["council_id"], counts["council_name"], strict=True)))))
    report.tables["council_by_enabler"] = wide.rename(columns=ctx.enabler_labels)
    report.tables["cohort_enablers"] = reports.format_for_report(cohort_rows, threshold=ctx.threshold, level_names=ctx.enabler_labels)
    enabler_long = _council_rows(ctx.enabler_scores, wave)
    report.tables["enabler_scores"] = reports.format_for_report(enabler_long, threshold=ctx.threshold, level_names=ctx.enabler_labels)
    gnames = dict(zip(ctx.instrument.groupings["grouping_id"], ctx.instrument.groupings["grouping_name"], strict=True))
    gnames["overall"] = "Overall"
    grouping_long = ctx.grouping_scores[ctx.grouping_scores["wave"] == wave]
    report.tables["grouping_scores"] = reports.format_for_report(grouping_long, threshold=ctx.threshold, level_names=gnames)
    if ctx.previous is not None:
        both = pd.concat([ctx.previous, ctx.enabler_scores], ignore_index=True)
        change = compare.wave_change(both[both["scope"] == "council"])
        change = change[change["wave_to"] == wave]
        small = (change["n_from"] < ctx.threshold) | (change["n_to"] < ctx.threshold)
        change = change.assign(suppressed=small.to_numpy())
        num = [c for c in change.columns if c not in ("n_from", "n_to", "suppressed") and pd.api.types.is_numeric_dtype(change[c])]
        change.loc[small, num] = float("nan")
        report.tables["wave_change"] = change
    if ctx.cohort_stats is not None:
        cs = ctx.cohort_stats[ctx.cohort_stats["wave"] == wave]
        report.tables["cohort_stats"] = cs[list(COHORT_STATS_LABELS)].rename(columns=COHORT_STATS_LABELS).reset_index(drop=True)
    files = pd.DataFrame(ctx.summary.get("files", []))
    if not files.empty:
        report.tables["data_quality"] = files
    sheets = {"Council x enabler": report.tables["council_by_enabler"],
              "Enabler scores": report.tables["enabler_scores"],
              "Cohort enablers": report.tables["cohort_enablers"],
              "Grouping scores": report.tables["grouping_scores"]}
    if "cohort_stats" in report.tables:
        sheets["Variance and reliability"] = report.tables["cohort_stats"]
    if "wave_change" in report.tables:
        sheets["Change since last wave"] = report.tables["wave_change"]
    if "data_quality" in report.tables:
        sheets["Data quality"] = report.tables["data_quality"]
    report.workbook = reports.write_workbook(Path(reports_dir) / "cohort_report.xlsx", sheets,
                                             about=ctx.about(title) | {"notes": " | ".join(report.notes)},
                                             title=title)
    return report


def council_ids(processed_dir: str | Path, wave: str) -> list[str]:
    """Councils of a wave that get an insight pack (every council with accepted responses)."""
    scores = read_table(Path(processed_dir) / "enabler_scores.csv", "enabler_scores")
    rows = scores[(scores["wave"] == wave) & (scores["scope"] == "council")]
    return list(dict.fromkeys(rows["council_id"].astype(str)))


def council_pack_step(*, processed_dir: str | Path, reports_dir: str | Path, cohort: str, wave: str,
                      council_id: str, instrument: str | Path | Instrument | None = None,
                      settings_file: str | Path | None = None, synthetic: bool = False,
                      previous_processed_dir: str | Path | None = None, run_id: str = "",
                      context: ReportContext | None = None) -> Report:
    """Build one council's insight pack and write ``councils/<council_id>.xlsx``.

    Pass ``context`` (from :func:`load_report_context`) to reuse tables across councils.
    """
    from . import compare, plots, reports

    ctx = context or load_report_context(processed_dir=processed_dir, cohort=cohort, wave=wave, instrument=instrument,
                                         settings_file=settings_file, synthetic=synthetic,
                                         previous_processed_dir=previous_processed_dir, run_id=run_id)
    comp = ctx.comparison[(ctx.comparison["wave"] == wave) & (ctx.comparison["council_id"] == council_id)]
    if comp.empty:
        known = ", ".join(council_ids(processed_dir, wave)[:10])
        raise ReportError(f"council {council_id!r} has no scores in wave {wave}", hint=f"Councils in this wave include: {known}.")
    name = str(comp["council_name"].iloc[0])
    title = f"Insight pack: {name}, wave {wave}"
    report = Report(banner=reports.banner_markdown(synthetic=ctx.synthetic, cohort=cohort, wave=wave, title=title),
                    notes=ctx.first_screen_notes())
    enablers = comp[comp["unit_id"].isin(ctx.enabler_order)]
    n_resp = int(enablers["n"].max())
    suppressed = bool(enablers["suppressed"].all())
    if suppressed:
        report.text["overview"] = (f"{name} has fewer than {ctx.threshold} respondents with valid scores in this wave, "
                                   f"so its results are suppressed to protect respondents' confidentiality.")
    else:
        report.text["overview"] = (f"{n_resp} respondents from {name}. The spider diagram shows the council's mean score per "
                                   f"enabler (1 = Strongly disagree, 5 = Strongly agree) against the cohort median "
                                   f"(the median of council means).")
        series = pd.concat([
            enablers.assign(series=name)[["unit_id", "mean", "series"]],
            enablers.assign(series="Cohort median", mean=enablers["cohort_median"])[["unit_id", "mean", "series"]],
        ], ignore_index=True)
        fig = _new_figure(figsize=(7.5, 7.5), layout="constrained")
        plots.spider(series, enabler="unit_id", value="mean", hue="series", order=ctx.enabler_order,
                     labels=ctx.enabler_labels, ax=fig.add_subplot(projection="polar"))
        report.figures["spider"] = fig
        report.alt["spider"] = (f"Spider diagram of {name}'s mean score on each of the {len(ctx.enabler_order)} enablers "
                                f"against the cohort median; the values are in the 'Enabler scores' table below.")
        fig2 = _new_figure(figsize=(8, 5), layout="constrained")
        plots.enabler_bars(enablers, enabler="unit_id", value="mean", reference="cohort_median",
                           order=ctx.enabler_order, labels=ctx.enabler_labels, ax=fig2.add_subplot())
        report.figures["bars"] = fig2
        report.alt["bars"] = f"Bar chart of {name}'s mean score per enabler, with the cohort median marked."
    council_enablers = ctx.enabler_scores[(ctx.enabler_scores["wave"] == wave) & (ctx.enabler_scores["council_id"] == council_id)]
    table = reports.format_for_report(council_enablers, threshold=ctx.threshold, level_names=ctx.enabler_labels)
    report.tables["enablers"] = table
    gnames = dict(zip(ctx.instrument.groupings["grouping_id"], ctx.instrument.groupings["grouping_name"], strict=True))
    gnames["overall"] = "Overall"
    cg = ctx.grouping_scores[(ctx.grouping_scores["wave"] == wave) & (ctx.grouping_scores["council_id"] == council_id)]
    report.tables["groupings"] = reports.format_for_report(cg, threshold=ctx.threshold, level_names=gnames)
    if not suppressed:
        n_sw = int(ctx.settings["reports"]["strongest_weakest_n"])
        report.tables["strongest_weakest"] = compare.strongest_weakest(ctx.comparison[ctx.comparison["unit_id"].isin(ctx.enabler_order)],
                                                                       council_id=council_id, wave=wave, n=n_sw)
        report.tables["comparison"] = enablers[["unit_id", "unit_name", "n", "mean", "cohort_median", "diff_vs_median", "rank", "n_ranked"]]
    if ctx.previous is not None and not suppressed:
        both = pd.concat([ctx.previous, ctx.enabler_scores], ignore_index=True)
        both = both[(both["scope"] == "council") & (both["council_id"] == council_id)]
        change = compare.wave_change(both)
        change = change[(change["wave_to"] == wave) & (change["n_from"] >= ctx.threshold)]
        if not change.empty:
            report.tables["wave_change"] = change
    sheets = {"Enablers": report.tables["enablers"], "Groupings": report.tables["groupings"]}
    for key, sheet in (("comparison", "Versus cohort"), ("strongest_weakest", "Strongest and weakest"), ("wave_change", "Change since last wave")):
        if key in report.tables:
            sheets[sheet] = report.tables[key]
    report.workbook = reports.write_workbook(Path(reports_dir) / "councils" / f"{council_id}.xlsx", sheets,
                                             about=ctx.about(title) | {"council": f"{name} ({council_id})"}, title=title)
    return report
