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

import numpy as np
import pandas as pd

from . import __version__
from .config import SYNTHETIC_MARKER, load_settings
from .exceptions import InsufficientDataError, ReportError
from .instrument import Instrument, load_instrument
from .io import read_table, write_csv, write_json

logger = logging.getLogger(__name__)

#: Files each step writes into ``data/processed/<cohort>/<wave>/``.
INGEST_OUTPUTS = ("responses.csv", "quarantine.csv", "cell_issues.csv", "councils.csv", "ingest_summary.json")
SCORE_OUTPUTS = ("respondent_scores", "enabler_scores", "grouping_scores", "comparison", "statement_distribution")


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

    Returns ``{"respondent_scores", "enabler_scores", "grouping_scores", "comparison",
    "statement_distribution"}`` and the tables of :data:`analysis.wave_stats.STATS_OUTPUTS`.
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
    issues_path = processed_dir / "cell_issues.csv"
    issues = read_table(issues_path, "cell_issues") if issues_path.exists() else None
    tables["statement_distribution"] = scoring.statement_distribution(responses, instrument=inst, cell_issues=issues)
    for name in (*SCORE_OUTPUTS, *wave_stats.STATS_OUTPUTS):
        write_csv(tables[name], processed_dir / f"{name}.csv")
    return tables


# --------------------------------------------------------------------------------------------
# shared by 03 and 04
# --------------------------------------------------------------------------------------------
def _optional(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / f"{name}.csv"
    return read_table(path, name) if path.exists() else None


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
    cohort_stats: pd.DataFrame | None = None  # ICC, alpha and Kruskal-Wallis per unit (cohort_stats.csv)
    councils: pd.DataFrame | None = None  # councils.csv (respondents, invited)
    vs_cohort: pd.DataFrame | None = None  # council_vs_cohort.csv
    change: pd.DataFrame | None = None  # wave_change.csv
    perspectives: pd.DataFrame | None = None  # perspective_scores.csv
    distribution: pd.DataFrame | None = None  # statement_distribution.csv
    item_total: pd.DataFrame | None = None  # item_total.csv
    comments: pd.DataFrame | None = None  # comments.csv (only with --keep-comments)

    @property
    def threshold(self) -> int:
        return int(self.settings["privacy"]["disclosure_threshold"])

    @property
    def comments_min(self) -> int:
        return int(self.settings["privacy"].get("comments_min_respondents", 10))

    @property
    def low_rate(self) -> float:
        return float(self.settings["reports"].get("low_response_rate", 0.30))

    @property
    def alpha(self) -> float:
        return 1 - float(self.settings.get("statistics", {}).get("confidence", 0.95))

    @property
    def enabler_order(self) -> list[str]:
        return self.instrument.enabler_ids

    @property
    def enabler_labels(self) -> dict[str, str]:
        e = self.instrument.enablers
        return {eid: f"{eid} {short}" for eid, short in zip(e["enabler_id"], e["short_name"], strict=True)}

    @property
    def grouping_labels(self) -> dict[str, str]:
        g = self.instrument.groupings
        return dict(zip(g["grouping_id"], g["grouping_name"], strict=True)) | {"overall": "Overall"}

    @property
    def grouping_order(self) -> list[str]:
        return [*self.instrument.grouping_ids, "overall"]

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
        return notes

    def respondent_counts(self) -> pd.DataFrame:
        """Respondents per council: the largest n over the council's enablers (valid enabler scores)."""
        rows = _council_rows(self.enabler_scores, self.wave)
        return (rows.groupby(["council_id", "council_name"], sort=False)["n"].max()
                .rename("respondents").reset_index())

    def participation(self) -> pd.DataFrame:
        """Respondents, invited and response rate per council (:func:`analysis.insight.participation`)."""
        from . import insight

        councils = self.councils if self.councils is not None else pd.DataFrame(columns=["council_id", "council_name"])
        return insight.participation(councils, self.respondent_counts(), threshold=self.threshold,
                                     low_rate=self.low_rate)

    def council_comparison(self) -> pd.DataFrame:
        """This wave's ``comparison`` rows with council-level disclosure control (``hidden``)."""
        from . import insight

        comp = self.comparison[self.comparison["wave"] == self.wave]
        return insight.council_disclosure(comp, threshold=self.threshold)


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
    comments = None
    if (processed_dir / "comments.csv").exists():
        comments = pd.read_csv(processed_dir / "comments.csv", dtype=str, keep_default_na=False)
    return ReportContext(
        cohort=cohort, wave=wave, instrument=inst, settings=settings,
        synthetic=bool(synthetic or summary.get("synthetic", False)),
        enabler_scores=read_table(processed_dir / "enabler_scores.csv", "enabler_scores"),
        grouping_scores=read_table(processed_dir / "grouping_scores.csv", "grouping_scores"),
        comparison=read_table(processed_dir / "comparison.csv", "comparison"),
        summary=summary, previous=previous, run_id=run_id,
        cohort_stats=_optional(processed_dir, "cohort_stats"), councils=_optional(processed_dir, "councils"),
        vs_cohort=_optional(processed_dir, "council_vs_cohort"), change=_optional(processed_dir, "wave_change"),
        perspectives=_optional(processed_dir, "perspective_scores"),
        distribution=_optional(processed_dir, "statement_distribution"),
        item_total=_optional(processed_dir, "item_total"), comments=comments,
    )


#: Reader's headings of the cohort statistics table (cohort_stats.csv).
COHORT_STATS_LABELS: dict[str, str] = {
    "unit_name": "Unit", "n_councils": "Councils", "n": "Respondents", "icc1": "ICC(1)", "icc2": "ICC(2)",
    "f": "F", "f_p_value": "F p-value", "alpha": "Cronbach's alpha", "alpha_ci_low": "Alpha 95% CI low",
    "alpha_ci_high": "Alpha 95% CI high", "kw_h": "Kruskal-Wallis H", "kw_p_value": "Kruskal-Wallis p",
    "epsilon2": "Epsilon squared",
}


# --------------------------------------------------------------------------------------------
# what a report shows, in order
# --------------------------------------------------------------------------------------------
@dataclass
class Section:
    """One part of a report: a heading, an introduction and blocks (text, figures, tables) in order."""

    title: str
    intro: str = ""
    blocks: list[tuple[str, str]] = field(default_factory=list)  # ("text", markdown) | ("figure", key) | ("table", key)


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
    captions: dict[str, str] = field(default_factory=dict)  # caption of each table
    sections: dict[str, Section] = field(default_factory=dict)

    def image(self, key: str) -> Any:
        """The figure ``key`` for ``display``: a Matplotlib figure rendered once to PNG with its
        alternative text, or an HTML chart (:class:`analysis.plots.HtmlFigure`) as it is."""
        from . import plots, reports

        figure = self.figures[key]
        if isinstance(figure, plots.HtmlFigure):
            return figure
        return reports.figure_image(figure, alt=self.alt.get(key, key))

    def table(self, key: str) -> Any:
        """The table ``key`` styled for reading (:func:`analysis.reports.display_table`)."""
        from . import reports

        return reports.display_table(self.tables[key], caption=self.captions.get(key))

    def show(self, key: str) -> None:
        """Display section ``key`` in a notebook (heading, introduction, then its blocks)."""
        from IPython.display import Markdown, display

        section = self.sections.get(key)
        if section is None:
            return
        display(Markdown(f"## {section.title}\n\n{section.intro}".rstrip()))
        for kind, ref in section.blocks:
            if kind == "text":
                display(Markdown(ref))
            elif kind == "figure":
                display(self.image(ref))
            elif kind == "table":
                display(self.table(ref))

    def show_first_screen(self) -> None:
        """The banner (with the synthetic-data notice when it applies) and the first-screen notes."""
        from IPython.display import Markdown, display

        display(Markdown(self.banner))
        for note in self.notes:
            display(Markdown(f"**Note:** {note}"))


def _new_figure(**kwargs: Any) -> Any:
    """A figure not registered with pyplot, so notebooks show it only where it is displayed."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def _council_rows(frame: pd.DataFrame, wave: str) -> pd.DataFrame:
    return frame[(frame["wave"] == wave) & (frame["scope"] == "council")] if "scope" in frame else frame[frame["wave"] == wave]


def _dunn_tables(processed_dir: Path, wave: str, shown: pd.DataFrame,
                 ctx: ReportContext) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Dunn's pairwise tests per enabler among the councils the report shows: a summary per enabler
    and the pairs that differ (Holm-adjusted p below 1 - confidence). Hidden councils take no part,
    so no pair reveals anything about them. ``None`` without ``respondent_scores.csv``."""
    from . import inference

    path = processed_dir / "respondent_scores.csv"
    if not path.exists():
        return None
    scores = read_table(path, "respondent_scores")
    scores = scores[(scores["wave"].astype(str) == wave) & (scores["level"] == "enabler")]
    keep = shown[["council_id", "unit_id"]].astype(str).drop_duplicates()     # shown council x enabler cells
    scores = scores.assign(council_id=scores["council_id"].astype(str), unit_id=scores["unit_id"].astype(str)).merge(
        keep, on=["council_id", "unit_id"], how="inner")
    if scores["council_id"].nunique() < 2:
        return None
    pairs = inference.dunn(scores[["unit_id", "council_id", "score"]], by=("unit_id",), group="council_id", value="score")
    alpha = ctx.alpha
    differ = pairs["p_adj"] < alpha
    summary = pairs.assign(differ=differ).groupby("unit_id").agg(pairs=("differ", "size"), differing=("differ", "sum"))
    summary.insert(0, "councils", scores.groupby("unit_id")["council_id"].nunique().reindex(summary.index))
    summary = summary.reindex([e for e in ctx.enabler_order if e in summary.index]).rename_axis("unit_id").reset_index()
    summary.insert(1, "Enabler", summary["unit_id"].map(ctx.enabler_labels))
    summary = summary.drop(columns="unit_id").rename(columns={
        "councils": "Councils compared", "pairs": "Pairs", "differing": f"Pairs differing (Holm p < {alpha:g})"})
    names = dict(zip(shown["council_id"].astype(str), shown["council_name"].astype(str)))
    sig = pairs[differ].sort_values(["unit_id", "p_adj"], kind="stable")
    detail = pd.DataFrame({
        "Enabler": sig["unit_id"].map(ctx.enabler_labels), "Council A": sig["group_a"].astype(str).map(names),
        "Council B": sig["group_b"].astype(str).map(names), "n A": sig["n_a"], "n B": sig["n_b"],
        "Mean rank A": sig["mean_rank_a"], "Mean rank B": sig["mean_rank_b"], "z": sig["z"],
        "p (Holm)": sig["p_adj"]}).reset_index(drop=True)
    return summary, detail


def _methods_section(report: Report) -> None:
    from . import reports

    try:
        appendix = reports.methods_appendix()
    except ReportError as exc:  # a copy without docs/: say where the methods are
        appendix = f"The methods are described in `docs/methodology.md` of upstream-diagnostics ({exc})."
    report.sections["methods"] = Section("Appendix: methods", blocks=[("text", appendix)])


def _share_columns(ctx: ReportContext) -> list[str]:
    """Columns of the statement table holding fractions (one per scale point, and "Don't know")."""
    return [ctx.instrument.scale.canonical_label(c) for c in ctx.instrument.scale.codes] + ["Don't know"]


def _bands(comp: pd.DataFrame) -> pd.DataFrame:
    """Cohort quartiles of council means per unit (councils shown only), for the spider's band."""
    shown = comp[~comp["suppressed"].astype(bool)]
    q = shown.groupby("unit_id")["mean"].quantile([0.25, 0.75]).unstack()
    return q.rename(columns={0.25: "cohort_q1", 0.75: "cohort_q3"}).reset_index()


# --------------------------------------------------------------------------------------------
# 03 cohort report
# --------------------------------------------------------------------------------------------
def cohort_report_step(*, processed_dir: str | Path, reports_dir: str | Path, cohort: str, wave: str,
                       instrument: str | Path | Instrument | None = None,
                       settings_file: str | Path | None = None, synthetic: bool = False,
                       previous_processed_dir: str | Path | None = None, run_id: str = "") -> Report:
    """Build the cohort comparison report of one wave and write ``cohort_report.xlsx``.

    The notebook displays the returned :class:`Report` section by section; nbconvert turns the
    executed notebook into ``cohort_report.html`` (and the pipeline that into ``.pdf``).
    """
    from . import insight, plots, reports

    ctx = load_report_context(processed_dir=processed_dir, cohort=cohort, wave=wave, instrument=instrument,
                              settings_file=settings_file, synthetic=synthetic,
                              previous_processed_dir=previous_processed_dir, run_id=run_id)
    k = ctx.threshold
    title = f"Cohort report: {cohort}, wave {wave}"
    report = Report(banner=reports.banner_markdown(synthetic=ctx.synthetic, cohort=cohort, wave=wave, title=title),
                    notes=ctx.first_screen_notes())
    comp_all = ctx.council_comparison()
    comp = comp_all[comp_all["unit_id"].isin(ctx.enabler_order)].copy()
    comp["suppressed"] = comp["hidden"]
    part = ctx.participation()
    protecting = set(comp.loc[comp["secondary_suppressed"], "council_id"])
    if protecting:  # their counts too: cohort n minus the shown councils' n must not give a hidden count
        mask = part["council_id"].isin(protecting).to_numpy() & ~part["suppressed"].to_numpy()
        part.loc[mask, ["respondents", "invited", "response_rate"]] = np.nan
        part.loc[mask, "low_response"] = False
        part.loc[mask, "participation_note"] = "hidden to protect a smaller council"
    shown = comp[~comp["hidden"]]
    if shown.empty:
        raise InsufficientDataError(f"every council in wave {wave} has fewer than {k} respondents, so nothing can be shown",
                                    hint="Lower privacy.disclosure_threshold in a settings file only if your disclosure policy allows it.")
    cohort_rows = ctx.enabler_scores[(ctx.enabler_scores["wave"] == wave) & (ctx.enabler_scores["scope"] == "cohort")]
    n_total = int(cohort_rows["n"].max())
    n_small = int(part["suppressed"].sum())
    n_secondary = int(comp.loc[comp["secondary_suppressed"], "council_id"].nunique())
    low = part[part["low_response"]]
    unknown = int(part["participation_note"].str.startswith("response rate unknown").sum())
    overview = [f"{len(part)} councils and {n_total} respondents with at least one valid enabler score. Scores run from "
                f"1 (Strongly disagree) to 5 (Strongly agree); the cohort median is the median of council means."]
    if n_small:
        overview.append(f"{n_small} council(s) with {insight.fewer_than(k)} show no figures; their respondents still "
                        "count in the cohort figures.")
    if n_secondary:
        overview.append(f"{n_secondary} other council(s) are hidden for some enablers so that the hidden council's "
                        "figures cannot be worked out by subtraction from the cohort total.")
    if len(low):
        overview.append(f"Low response (below {ctx.low_rate:.0%} of staff invited), read with care: "
                        + ", ".join(low["council_name"].astype(str)) + ".")
    if unknown:
        overview.append(f"The response rate of {unknown} council(s) is unknown (no invited headcount in cohort.csv).")
    report.text["overview"] = " ".join(overview)
    report.sections["overview"] = Section("Overview", report.text["overview"])

    # heatmap: council x enabler, councils sorted by overall score, hidden cells as "n<k"
    fig = _new_figure(figsize=(11, 0.42 * comp["council_id"].nunique() + 2.6), layout="constrained")
    plots.heatmap(comp, x="unit_id", y="council_name", value="mean", ax=fig.add_subplot(), labels=ctx.enabler_labels,
                  sort_by="overall", suppressed_text=f"n<{k}", threshold=k,
                  suppressed_note=(f"n<{k}: fewer than {k} responses" + (", or hidden so that such a council cannot be "
                                                                        "worked out by subtraction" if n_secondary else "")),
                  title="Mean enabler score by council (1 = Strongly disagree, 5 = Strongly agree)")
    report.figures["heatmap"] = fig
    report.alt["heatmap"] = (f"Heatmap of mean enabler score (1 to 5) for {comp['council_id'].nunique()} councils (rows, "
                             f"highest overall first) by {len(ctx.enabler_order)} enablers (columns), coloured from red "
                             f"(low) through white (3) to blue (high); hidden cells read n<{k}. The same values are in "
                             "the table below.")
    counts = part[["council_id", "council_name", "respondents"]]
    wide = shown.pivot_table(index="council_id", columns="unit_id", values="mean", sort=False)
    wide = counts.merge(wide.reindex(columns=ctx.enabler_order).reset_index(), on="council_id", how="left")
    report.tables["council_by_enabler"] = (wide.drop(columns="council_id")
                                           .rename(columns={"council_name": "Council", "respondents": "n", **ctx.enabler_labels}))
    report.captions["council_by_enabler"] = f"Mean enabler score per council; blank: {insight.fewer_than(k)} (or hidden to protect such a council)."
    report.sections["heatmap"] = Section("Enabler maturity by council",
                                         "Councils are sorted by their overall score. A cell reading "
                                         f"n<{k} is hidden by disclosure control.",
                                         [("figure", "heatmap"), ("table", "council_by_enabler")])

    # distributions, between-council variance and reliability
    fig = _new_figure(figsize=(11, 5.5), layout="constrained")
    plots.distribution(shown, x="unit_id", value="mean", order=ctx.enabler_order,
                       labels={e: e for e in ctx.enabler_order}, ax=fig.add_subplot(),
                       title="Council means per enabler across the cohort")
    report.figures["distribution"] = fig
    report.alt["distribution"] = (f"Box and dot plot of the {shown['council_id'].nunique()} shown councils' mean score "
                                  "on each enabler E01 to E11; each council's mean is in the table under 'Enabler "
                                  "maturity by council'.")
    report.tables["cohort_enablers"] = reports.format_for_report(cohort_rows, threshold=k, level_names=ctx.enabler_labels)
    min_councils = int(ctx.settings.get("statistics", {}).get("cohort_ci_min_councils", 5))
    report.captions["cohort_enablers"] = (
        "All respondents pooled (each counted once). The 95% CI of the mean resamples whole councils, because staff of "
        f"one council answer alike; it is left blank with fewer than {min_councils} councils.")
    blocks: list[tuple[str, str]] = [("figure", "distribution"), ("table", "cohort_enablers")]
    if ctx.cohort_stats is not None:
        cs = ctx.cohort_stats[ctx.cohort_stats["wave"] == wave]
        report.tables["cohort_stats"] = cs[list(COHORT_STATS_LABELS)].rename(columns=COHORT_STATS_LABELS).reset_index(drop=True)
        report.captions["cohort_stats"] = "Between-council variance (ICC, F), reliability (alpha) and Kruskal-Wallis per unit."
        blocks.append(("table", "cohort_stats"))
    pairwise = _dunn_tables(Path(processed_dir), wave, shown, ctx)
    if pairwise is not None:
        report.tables["dunn_summary"], report.tables["dunn_pairs"] = pairwise
        report.captions["dunn_summary"] = (
            "Dunn's pairwise tests after Kruskal-Wallis, Holm-corrected across the pairs of each enabler: how many pairs "
            "of shown councils differ (p below 0.05). The pairs are listed in the workbook's 'Pairwise (Dunn)' sheet.")
        blocks.append(("table", "dunn_summary"))
    if ctx.item_total is not None and len(ctx.item_total):
        it = ctx.item_total[(ctx.item_total["wave"] == wave) & (ctx.item_total["level"] == "enabler")]
        report.tables["item_total"] = it[["unit_id", "item_id", "n", "item_total_r", "alpha_if_deleted"]].rename(columns={
            "unit_id": "Enabler", "item_id": "Statement", "item_total_r": "Item-rest correlation",
            "alpha_if_deleted": "Alpha if deleted"}).reset_index(drop=True)
        report.captions["item_total"] = "Each statement's correlation with the rest of its enabler (0.30 or more is usual)."
        blocks.append(("table", "item_total"))
    report.sections["distributions"] = Section(
        "How councils differ, and how reliable the scores are",
        "ICC(1): the share of the variation in respondents' scores that lies between councils (0.05-0.20 is typical of "
        "organisations). ICC(2): how reliably a council's mean is measured (0.70 or more is reliable). Cronbach's alpha: "
        "whether an enabler's statements measure one thing (0.70 or more). Kruskal-Wallis: whether councils differ at "
        "all, with epsilon squared as the size of the difference.", blocks)

    # ranks and small multiples
    report.tables["ranks"] = insight.rank_table(comp_all, ctx.vs_cohort[ctx.vs_cohort["wave"] == wave] if ctx.vs_cohort is not None else None,
                                                order=ctx.enabler_order, labels=ctx.enabler_labels)
    report.captions["ranks"] = "Rank of each council per enabler (1 = highest mean) and its overall percentile among councils."
    report.sections["ranks"] = Section("Ranks and percentiles",
                                       "Ranks are among the councils shown; close means can swap ranks by chance, so read "
                                       "them with the confidence intervals in each council's pack.", [("table", "ranks")])
    bands = _bands(comp)
    grid = shown.merge(bands, on="unit_id", how="left")
    report.figures["spider_grid"] = plots.spider_grid(grid, council="council_name", enabler="unit_id", value="mean",
                                                      reference="cohort_median", order=ctx.enabler_order,
                                                      labels={e: e for e in ctx.enabler_order})
    report.alt["spider_grid"] = (f"Spider diagrams, one per council ({shown['council_id'].nunique()} shown), of the council's "
                                 "mean score on each enabler E01 to E11 against the dashed cohort median; the values are "
                                 "in the table 'Enabler maturity by council'.")
    report.sections["spiders"] = Section("Each council against the cohort",
                                         "Each council's mean enabler scores (solid) against the cohort median of council "
                                         "means (dashed), as in the diagnostic's scoring tool.", [("figure", "spider_grid")])

    # participation
    report.tables["participation"] = part.drop(columns=["council_id", "suppressed", "low_response"]).rename(columns={
        "council_name": "Council", "respondents": "Respondents", "invited": "Staff invited",
        "response_rate": "Response rate", "participation_note": "Note"})
    report.captions["participation"] = (f"Response rate = respondents / staff invited (cohort.csv); below {ctx.low_rate:.0%} "
                                        "is flagged as low response.")
    report.sections["participation"] = Section("Participation", blocks=[("table", "participation")])

    # groupings
    grouping_long = ctx.grouping_scores[ctx.grouping_scores["wave"] == wave]
    g_hidden = insight.council_disclosure(grouping_long[grouping_long["scope"] == "council"], threshold=k)
    g_rows = pd.concat([g_hidden.assign(suppressed=g_hidden["hidden"]).drop(columns=["secondary_suppressed", "hidden"]),
                        grouping_long[grouping_long["scope"] == "cohort"]], ignore_index=True)
    report.tables["grouping_scores"] = reports.format_for_report(g_rows, threshold=k, level_names=ctx.grouping_labels)
    report.sections["groupings"] = Section("Groupings: mindset; behaviours, values and relationships; infrastructure",
                                           blocks=[("table", "grouping_scores")])
    enabler_long = _council_rows(ctx.enabler_scores, wave).merge(
        comp[["council_id", "unit_id", "hidden"]], on=["council_id", "unit_id"], how="left")
    enabler_long = enabler_long.assign(suppressed=enabler_long["hidden"].fillna(False).astype(bool)).drop(columns="hidden")
    report.tables["enabler_scores"] = reports.format_for_report(enabler_long, threshold=k, level_names=ctx.enabler_labels)

    # change since the previous wave
    change_blocks: list[tuple[str, str]] = []
    intro = "This is the first wave processed for this cohort."
    if ctx.previous is not None:
        prev = ctx.previous[(ctx.previous["scope"] == "cohort")][["unit_id", "mean"]].rename(columns={"mean": "mean_from"})
        now = cohort_rows[["unit_id", "mean", "ci_low", "ci_high"]].rename(columns={"mean": "mean_to"})
        both = prev.merge(now, on="unit_id", how="outer")
        fig = _new_figure(figsize=(9, 6), layout="constrained")
        plots.dumbbell(both, unit="unit_id", before="mean_from", after="mean_to", order=ctx.enabler_order,
                       labels=ctx.enabler_labels, low="ci_low", high="ci_high", ax=fig.add_subplot(),
                       title="Cohort mean per enabler: previous wave and this wave")
        report.figures["change"] = fig
        report.alt["change"] = ("Dumbbell chart of the cohort's mean score per enabler in the previous wave and this wave, "
                                "with the 95% CI of this wave's mean; the values are in the table below.")
        change_blocks.append(("figure", "change"))
        intro = ("Changes are tested council by council (Mann-Whitney, Holm-corrected within the council) with a bootstrap "
                 "95% CI of the change; respondents are not matched across waves.")
        if ctx.change is not None and len(ctx.change):
            ch = ctx.change[(ctx.change["wave_to"] == wave) & (ctx.change["level"] == "enabler")]
            ch = ch.assign(secondary_suppressed=ch["council_id"].isin(protecting).to_numpy())
            table = insight.change_table(ch, labels=ctx.enabler_labels, threshold=k, alpha=ctx.alpha, council_column=True)
            report.tables["wave_change"] = table
            summary = (table[~table["suppressed"]].groupby(["Enabler", "What changed"]).size().unstack(fill_value=0)
                       .reindex(index=[ctx.enabler_labels[e] for e in ctx.enabler_order]).fillna(0).astype(int)
                       .reset_index())
            report.tables["change_summary"] = summary
            report.captions["change_summary"] = "Councils per enabler with a clear rise, a clear fall or no clear change."
            change_blocks += [("table", "change_summary"), ("table", "wave_change")]
    report.sections["change"] = Section("Change since the previous wave", intro, change_blocks)

    files = pd.DataFrame(ctx.summary.get("files", []))
    if not files.empty:
        report.tables["data_quality"] = files
        report.sections["data_quality"] = Section("Data quality", "Every row read is either accepted or quarantined with a reason.",
                                                  [("table", "data_quality")])
    _methods_section(report)

    sheets = {"Participation": report.tables["participation"], "Council x enabler": report.tables["council_by_enabler"],
              "Ranks": report.tables["ranks"], "Enabler scores": report.tables["enabler_scores"],
              "Cohort enablers": report.tables["cohort_enablers"], "Grouping scores": report.tables["grouping_scores"]}
    for key, sheet in (("cohort_stats", "Variance and reliability"), ("dunn_summary", "Pairwise summary"),
                       ("dunn_pairs", "Pairwise (Dunn)"), ("item_total", "Item-rest correlations"),
                       ("change_summary", "Change summary"), ("wave_change", "Change since last wave"),
                       ("data_quality", "Data quality")):
        if key in report.tables:
            sheets[sheet] = report.tables[key]
    scale = {label: "scale" for label in ctx.enabler_labels.values()}
    report.workbook = reports.write_workbook(Path(reports_dir) / "cohort_report.xlsx", sheets,
                                             about=ctx.about(title) | {"notes": " | ".join(report.notes)},
                                             title=title, number_formats={"Response rate": "0%"},
                                             conditional_formats={"Council x enabler": scale,
                                                                  "Participation": {"Response rate": "share"}})
    return report


# --------------------------------------------------------------------------------------------
# 04 council pack
# --------------------------------------------------------------------------------------------
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
    from . import insight, plots, reports

    ctx = context or load_report_context(processed_dir=processed_dir, cohort=cohort, wave=wave, instrument=instrument,
                                         settings_file=settings_file, synthetic=synthetic,
                                         previous_processed_dir=previous_processed_dir, run_id=run_id)
    k = ctx.threshold
    comp_all = ctx.comparison[(ctx.comparison["wave"] == wave)]
    comp = comp_all[comp_all["council_id"] == council_id]
    if comp.empty:
        known = ", ".join(council_ids(processed_dir, wave)[:10])
        raise ReportError(f"council {council_id!r} has no scores in wave {wave}", hint=f"Councils in this wave include: {known}.")
    name = str(comp["council_name"].iloc[0])
    title = f"Insight pack: {name}, wave {wave}"
    report = Report(banner=reports.banner_markdown(synthetic=ctx.synthetic, cohort=cohort, wave=wave, title=title),
                    notes=ctx.first_screen_notes())
    part = ctx.participation()
    prow = part[part["council_id"] == council_id].iloc[0]
    enablers = comp[comp["unit_id"].isin(ctx.enabler_order)]
    suppressed = bool(prow["suppressed"]) or bool(enablers["suppressed"].all())
    scores = _council_rows(ctx.enabler_scores, wave)
    mine = scores[scores["council_id"] == council_id]
    vs = ctx.vs_cohort[(ctx.vs_cohort["wave"] == wave) & (ctx.vs_cohort["council_id"] == council_id)] if ctx.vs_cohort is not None else None
    participation_text = insight.participation_sentence(prow, threshold=k)
    sheets: dict[str, pd.DataFrame] = {}
    charts: list[Any] = []
    if suppressed:
        report.text["overview"] = (f"{name} has {insight.fewer_than(k)} with valid scores in this wave, so its results "
                                   "are not shown, to protect respondents' confidentiality. Its responses still count "
                                   "in the cohort's figures.")
        report.sections["first_screen"] = Section("At a glance", report.text["overview"])
        sheets["Summary"] = pd.DataFrame({"Summary": [report.text["overview"]]})
    else:
        e_rows = mine.merge(enablers[["unit_id", "cohort_median"]], on="unit_id", how="left")
        sentences = insight.headline_sentences(e_rows, labels=ctx.enabler_labels,
                                               n=int(ctx.settings["reports"]["strongest_weakest_n"]),
                                               rwg_min=float(ctx.settings.get("statistics", {}).get("rwg_min", 0.70)))
        report.text["overview"] = participation_text
        report.text["headlines"] = "\n".join(f"- {s}" for s in sentences)
        bands = _bands(comp_all[comp_all["unit_id"].isin(ctx.enabler_order)])
        spider_rows = enablers[["unit_id", "mean", "cohort_median"]].merge(bands, on="unit_id", how="left")
        report.alt["spider"] = (f"Spider diagram of {name}'s mean score (1 to 5) on each of the {len(ctx.enabler_order)} "
                                "enablers against the cohort median (dashed) and the cohort's interquartile range "
                                "(shaded band); the values are in the table beside it.")
        report.figures["spider"] = plots.spider_svg(
            spider_rows, enabler="unit_id", value="mean", order=ctx.enabler_order, labels=ctx.enabler_labels,
            series_label=name, reference="cohort_median", band_low="cohort_q1", band_high="cohort_q3",
            title=f"{name}: mean score per enabler against the cohort", alt=report.alt["spider"])
        spider_table = spider_rows.assign(unit_id=spider_rows["unit_id"].map(ctx.enabler_labels)).rename(columns={
            "unit_id": "Enabler", "mean": name[:60] or "Council", "cohort_median": "Cohort median",
            "cohort_q1": "Cohort Q1", "cohort_q3": "Cohort Q3"})
        spider_table = spider_table.set_index("Enabler").reindex([ctx.enabler_labels[e] for e in ctx.enabler_order]).reset_index()
        report.tables["spider"] = spider_table
        report.captions["spider"] = "The spider diagram's numbers: council mean, cohort median and interquartile range of council means."
        report.sections["first_screen"] = Section("At a glance", participation_text,
                                                  [("text", report.text["headlines"]), ("figure", "spider"), ("table", "spider")])
        sheets["Summary"] = pd.DataFrame({"Summary": [participation_text, *sentences]})
        sheets["Spider data"] = spider_table
        charts.append(reports.RadarSpec(sheet="Spider data", categories="Enabler",
                                        series=[c for c in spider_table.columns if c in (name[:60] or "Council", "Cohort median")],
                                        title=f"{name}: enablers against the cohort median"))

        # groupings
        g_comp = comp[comp["unit_id"].isin(ctx.grouping_order)]
        g_scores = _council_rows(ctx.grouping_scores, wave)
        g_mine = g_scores[g_scores["council_id"] == council_id]
        g_vs = vs[vs["unit_id"].isin(ctx.grouping_order)] if vs is not None else None
        report.tables["groupings"] = insight.enabler_table(g_mine, vs_cohort=g_vs, comparison=g_comp,
                                                           labels=ctx.grouping_labels, threshold=k, alpha=ctx.alpha
                                                           ).rename(columns={"Enabler": "Grouping"})
        report.alt["groupings"] = (f"Bar chart of {name}'s mean score on the three groupings and overall, with the cohort "
                                   "median marked; the values are in the table below.")
        report.figures["groupings"] = plots.bars_html(
            g_comp, enabler="unit_id", value="mean", reference="cohort_median", order=ctx.grouping_order,
            labels=ctx.grouping_labels, value_label=name, reference_label="Cohort median",
            suppressed_text=insight.fewer_than(k), title=f"{name}: grouping scores against the cohort median",
            alt=report.alt["groupings"], ylabel="Grouping")
        report.sections["groupings"] = Section(
            "Groupings", "The 11 enablers fall into three groupings: mindset; behaviours, values and relationships; "
            "and infrastructure.", [("figure", "groupings"), ("table", "groupings")])
        sheets["Groupings"] = report.tables["groupings"]

        # statements: diverging stacked bars
        if ctx.distribution is not None:
            dist = ctx.distribution[(ctx.distribution["wave"] == wave) & (ctx.distribution["council_id"] == council_id)]
            shares = insight.statement_shares(dist, instrument=ctx.instrument, threshold=k, respondents=int(prow["respondents"]))
            items = ctx.instrument.form_items("full")
            codes = [str(c) for c in ctx.instrument.scale.codes]
            alt = (f"Diverging stacked bar chart of the share of {name}'s respondents choosing each answer for each of "
                   f"the {len(items)} statements, disagreement to the left and agreement to the right, with 'Don't "
                   "know' shown apart; the shares are in the table below.")
            fig = plots.likert_html(insight.likert_counts(dist, shares), statement="item_id", level="level", count="count",
                                    order=list(items["item_id"]),
                                    labels={i: f"{i} {t}" for i, t in zip(items["item_id"], items["text"], strict=True)},
                                    level_order=codes, group="enabler_id", group_labels=ctx.enabler_labels,
                                    level_labels={c: ctx.instrument.scale.canonical_label(int(c)) for c in codes},
                                    apart=("dont_know",), apart_labels={"dont_know": "Don't know"},
                                    neutral=codes[len(codes) // 2], alt=alt,
                                    title=f"{name}: answers to the {len(items)} statements")
            report.figures["statements"] = fig
            report.alt["statements"] = alt
            report.tables["statements"] = shares.drop(columns=["item_id", "enabler_id"])
            report.captions["statements"] = ("Share of answers on the scale for each statement; 'Don't know' is a share of "
                                              "all answers including don't know.")
            report.sections["statements"] = Section(
                "The 33 statements", "Each bar shows how the council's staff answered one statement: disagreement to the "
                "left of the centre line, agreement to the right, the neutral answer straddling it.",
                [("figure", "statements"), ("table", "statements")])
            sheets["Statements"] = report.tables["statements"]

    if suppressed:  # nothing about the council beyond the first screen: no table, chart or count
        report.sections["about"] = Section("How to read this pack", "The methods, thresholds and formulas are in the "
                                           "cohort report's appendix and in `docs/methodology.md`.")
        report.workbook = reports.write_workbook(Path(reports_dir) / "councils" / f"{council_id}.xlsx", sheets,
                                                 about=ctx.about(title) | {"council": f"{name} ({council_id})"},
                                                 title=title)
        return report

    # enabler table
    e_comp = comp[comp["unit_id"].isin(ctx.enabler_order)]
    e_vs = vs[vs["unit_id"].isin(ctx.enabler_order)] if vs is not None else None
    report.tables["enablers"] = insight.enabler_table(mine, vs_cohort=e_vs, comparison=e_comp, labels=ctx.enabler_labels,
                                                      threshold=k, alpha=ctx.alpha)
    report.captions["enablers"] = ("Mean with its 95% bootstrap CI; favourable = enabler score 4 or more; rwg(j) and AD_M "
                                   "measure agreement (rwg(j) 0.70 or more and AD_M 0.83 or less support a council-level "
                                   "score); the difference from the rest of the cohort is tested with Mann-Whitney, "
                                   "Holm-corrected across the council's enablers.")
    report.sections["enablers"] = Section("Enabler by enabler", blocks=[("table", "enablers")])
    sheets["Enablers"] = report.tables["enablers"]

    # change since the previous wave
    intro, blocks = "No earlier wave to compare with.", []
    if ctx.change is not None and len(ctx.change):
        ch = ctx.change[(ctx.change["wave_to"] == wave) & (ctx.change["council_id"] == council_id)
                        & (ctx.change["level"] == "enabler")]
        if len(ch):
            table = insight.change_table(ch, labels=ctx.enabler_labels, threshold=k, alpha=ctx.alpha)
            report.tables["wave_change"] = table
            sheets["Change since last wave"] = table
            visible = ch[~table["suppressed"].to_numpy()]
            intro = ("Change in each enabler's mean since the previous wave, with a bootstrap 95% CI of the change and a "
                     "Mann-Whitney test Holm-corrected across the council's enablers (respondents are not matched "
                     "across waves).")
            if len(visible):
                report.alt["change"] = (f"Dumbbell chart of {name}'s mean score per enabler in the previous and this wave; "
                                        "the values and the tests are in the table below.")
                report.figures["change"] = plots.dumbbell_html(
                    visible, unit="unit_id", before="mean_from", after="mean_to", order=ctx.enabler_order,
                    labels=ctx.enabler_labels, alt=report.alt["change"],
                    title=f"{name}: mean per enabler, previous wave and this wave")
                blocks.append(("figure", "change"))
            blocks.append(("table", "wave_change"))
        else:
            intro = "The council took no part in the previous wave (or had too few respondents in it)."
    report.sections["change"] = Section("Change since the previous wave", intro, blocks)

    # perspectives
    intro, blocks = "No perspective was recorded.", []
    if ctx.perspectives is not None:
        pr = ctx.perspectives[(ctx.perspectives["wave"] == wave) & (ctx.perspectives["council_id"] == council_id)
                              & (ctx.perspectives["level"] == "enabler")]
        if len(pr):
            report.tables["perspectives"] = insight.perspective_table(pr, labels=ctx.enabler_labels, threshold=k,
                                                                      order=["service", "organisation", "system"])
            sheets["Perspectives"] = report.tables["perspectives"]
            intro = ("Mean enabler score by the perspective respondents answered from (their service, the organisation, "
                     f"the wider system). A group with {insight.fewer_than(k)} is hidden, and so is the next-smallest "
                     "group where subtraction from the council total would reveal it.")
            blocks.append(("table", "perspectives"))
    report.sections["perspectives"] = Section("By perspective", intro, blocks)

    # comments (only when kept, and only for councils with enough respondents)
    if ctx.comments is not None:
        if insight.comments_allowed(prow["respondents"], minimum=ctx.comments_min):
            mine_c = ctx.comments[ctx.comments["council_id"] == council_id]
            if len(mine_c):
                report.tables["comments"] = mine_c[["question", "comment"]].rename(
                    columns={"question": "Question", "comment": "Comment"}).reset_index(drop=True) \
                    if "question" in mine_c.columns else mine_c[["comment"]].rename(columns={"comment": "Comment"})
                report.sections["comments"] = Section("Comments", "Free text with names, e-mail addresses and phone "
                                                      "numbers masked.", [("table", "comments")])
        else:
            report.sections["comments"] = Section("Comments", f"Comments are shown only for councils with at least "
                                                  f"{ctx.comments_min} respondents.")

    report.sections["about"] = Section(
        "How to read this pack",
        "Scores are means of 1 (Strongly disagree) to 5 (Strongly agree). A 95% confidence interval shows how far the "
        "mean could move with a different set of respondents. Where staff disagree (low rwg(j), high AD_M), the "
        "council's average hides a split: read the statement chart. The methods, thresholds and formulas are in the "
        "cohort report's appendix and in `docs/methodology.md`.")
    report.workbook = reports.write_workbook(Path(reports_dir) / "councils" / f"{council_id}.xlsx", sheets,
                                             about=ctx.about(title) | {"council": f"{name} ({council_id})"}, title=title,
                                             charts=charts, number_formats={label: "0%" for label in _share_columns(ctx)})
    return report
