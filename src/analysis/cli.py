"""Command-line interface: ``diagnostics run | validate | demo``.

Thin by design: parse arguments, configure logging once, call :mod:`analysis.pipeline`, and turn
any :class:`~analysis.exceptions.DiagnosticsError` into one clear line on stderr and a non-zero
exit code (a traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .exceptions import DiagnosticsError

logger = logging.getLogger("analysis")

EPILOG = """examples:
  diagnostics demo                              build the synthetic demo cohort and run everything
  diagnostics validate data/raw/my-cohort       check exports and mappings; writes nothing
  diagnostics run data/raw/my-cohort            ingest, score, cohort report and council packs
  diagnostics run data/raw/my-cohort --wave 2025-01 --skip-bad-files
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wave", action="append", metavar="W",
                   help="only this wave folder (repeatable); default: every wave, in name order")
    p.add_argument("--instrument", metavar="NAME_OR_PATH", default=None,
                   help="bundled instrument name or path to an instrument YAML (default: margins_to_mainstream)")
    p.add_argument("--settings", metavar="FILE", default=None,
                   help="YAML file overriding analysis decisions in analysis/settings.yml")
    p.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    p.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diagnostics",
        description="Turn 'From the Margins to the Mainstream' survey exports into cohort reports and council insight packs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"upstream-diagnostics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline on a cohort folder",
                         description="Run notebooks 01-04 with papermill on every wave of RAW_DIR: processed tables in "
                                     "data/processed/<cohort>/<wave>/, reports in reports/<cohort>/<wave>/.")
    run.add_argument("raw_dir", metavar="RAW_DIR", help="cohort folder: data/raw/<cohort> with one folder per wave")
    _common(run)
    run.add_argument("--processed-dir", metavar="D", default=None, help="root for processed tables (default: data/processed)")
    run.add_argument("--reports-dir", metavar="D", default=None, help="root for reports (default: reports)")
    run.add_argument("--keep-comments", action="store_true",
                     help="keep free-text comments (emails and phone numbers masked) in a separate comments.csv")
    run.add_argument("--no-pdf", action="store_true",
                     help="write the reports as HTML and Excel only (PDF rendering takes 0.3-3 s of CPU per report)")
    run.add_argument("--pdf-engine", choices=("auto", "chromium", "weasyprint"), default="auto",
                     help="PDF engine: auto (Chromium when it and playwright are installed, else WeasyPrint), "
                          "chromium or weasyprint (default: auto)")
    run.add_argument("--skip-bad-files", action="store_true",
                     help="carry on past unreadable files; they are listed in the manifest and on the report's first page")
    run.add_argument("--kernels", type=int, metavar="N", default=None,
                     help="Jupyter kernels running council packs in parallel (default: one per CPU core, at most 2)")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="check a cohort's exports without writing outputs",
                         description="Read every export of RAW_DIR, report per file the detected format, sheet, rows read, "
                                     "accepted and quarantined rows and unmapped columns. Exits non-zero when a run would fail.")
    val.add_argument("raw_dir", metavar="RAW_DIR", help="cohort folder: data/raw/<cohort>")
    _common(val)
    val.add_argument("--write-mapping", action="store_true",
                     help="write a starter mapping.yml into each wave folder that has none (the only file validate writes)")
    val.set_defaults(func=cmd_validate)

    demo = sub.add_parser("demo", help="generate the synthetic demo cohort and run the pipeline on it",
                          description="Generate a fictional cohort (20 invented councils, 2 waves, mixed export formats) "
                                      "in data/raw/demo with a fixed seed, then run the whole pipeline on it.")
    demo.add_argument("--seed", type=int, default=20240101, help="random seed (default: 20240101)")
    demo.add_argument("--raw-dir", metavar="D", default=None, help="where to write the demo cohort (default: data/raw/demo)")
    demo.add_argument("--no-run", action="store_true", help="only generate the demo exports")
    demo.add_argument("--no-pdf", action="store_true", help="write the reports as HTML and Excel only")
    demo.add_argument("--pdf-engine", choices=("auto", "chromium", "weasyprint"), default="auto",
                      help="PDF engine (default: auto, Chromium when installed, else WeasyPrint)")
    demo.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    demo.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    demo.set_defaults(func=cmd_demo)
    return parser


def _configure_logging(debug: bool, quiet: bool) -> None:
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def _print_runs(runs: Sequence[object]) -> None:
    for run in runs:
        for skipped in run.manifest.get("skipped_files", []):  # type: ignore[attr-defined]
            print(f"warning: wave {run.wave}: skipped {skipped.get('source_file')}: {skipped.get('error', '')}",  # type: ignore[attr-defined]
                  file=sys.stderr)
        rep = run.reports_dir  # type: ignore[attr-defined]
        print(f"wave {run.wave}: {rep / 'cohort_report.html'}  ({len(list((rep / 'councils').glob('*.html')))} council packs in {rep / 'councils'})")  # type: ignore[attr-defined]


def cmd_run(args: argparse.Namespace) -> int:
    from . import pipeline

    runs = pipeline.run_cohort(args.raw_dir, waves=args.wave, instrument=args.instrument,
                               processed_dir=args.processed_dir, reports_dir=args.reports_dir,
                               settings_file=args.settings, keep_comments=args.keep_comments,
                               skip_bad_files=args.skip_bad_files, progress=not args.quiet,
                               kernels=args.kernels, pdf=False if args.no_pdf else args.pdf_engine)
    _print_runs(runs)
    return 0


def format_validation(results: Sequence[object]) -> str:
    """The table printed by ``diagnostics validate``: one line per file and sheet."""
    import pandas as pd

    frames = []
    for r in results:
        f = r.files.copy()  # type: ignore[attr-defined]
        f.insert(0, "wave", r.wave)  # type: ignore[attr-defined]
        frames.append(f)
    if not frames:
        return "no export files found"
    table = pd.concat(frames, ignore_index=True)
    reason_cols = [c for c in table.columns if c.startswith("q_")]
    table["quarantined by reason"] = table[reason_cols].apply(
        lambda row: ", ".join(f"{c[2:]} {int(v)}" for c, v in row.items() if pd.notna(v) and v), axis=1) if reason_cols else ""
    cols = [c for c in ("wave", "source_file", "sheet", "format", "form", "rows_read", "accepted", "quarantined",
                        "quarantined by reason", "unmapped_columns", "status") if c in table.columns]
    with pd.option_context("display.max_colwidth", 60, "display.width", 250, "display.max_rows", 500):
        return table[cols].fillna("").to_string(index=False)


def cmd_validate(args: argparse.Namespace) -> int:
    from . import pipeline
    results = pipeline.validate_cohort(args.raw_dir, waves=args.wave, instrument=args.instrument,
                                       settings_file=args.settings)
    print(format_validation(results))
    for r in results:
        for note in getattr(r, "notes", []):
            if not note.startswith("skipped "):  # the skipped files are listed as errors below
                print(f"note ({r.wave}): {note}")
    if args.write_mapping:
        from .io import atomic_path

        texts = pipeline.starter_mappings(args.raw_dir, waves=args.wave, instrument=args.instrument,
                                          settings_file=args.settings)
        for wave, text in texts.items():
            target = Path(args.raw_dir) / wave / "mapping.yml"
            if target.exists():
                print(f"{target} exists; not overwritten")
                continue
            with atomic_path(target) as tmp:
                tmp.write_text(text, encoding="utf-8")
            print(f"wrote starter mapping: {target}")
    errors = pipeline.collect_errors(results)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        print(f"validate: {len(errors)} problem(s) found; a run would stop. Fix the file(s) named above (or pin "
              f"columns in mapping.yml), or run with --skip-bad-files to leave them out, then validate again.",
              file=sys.stderr)
        return 1
    print("ok: a run would succeed")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import pipeline
    from .config import DEMO_COHORT, RAW_DIR
    from .demo import generate_demo_cohort

    raw = Path(args.raw_dir) if args.raw_dir else RAW_DIR / DEMO_COHORT
    if args.no_run:
        cohort = generate_demo_cohort(raw, seed=args.seed)
        logger.info("synthetic demo cohort written to %s (%d councils)", cohort.raw_dir, len(cohort.register))
        return 0
    # the kernels start (and import pandas, matplotlib ...) while the demo exports are written
    with pipeline.KernelPool(pipeline.default_kernels(), cwd=pipeline.NOTEBOOKS_DIR) as pool:
        cohort = generate_demo_cohort(raw, seed=args.seed)
        logger.info("synthetic demo cohort written to %s (%d councils)", cohort.raw_dir, len(cohort.register))
        runs = pipeline.run_cohort(raw, progress=not args.quiet, pool=pool,
                                   pdf=False if args.no_pdf else args.pdf_engine)
    _print_runs(runs)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _configure_logging(args.debug, args.quiet)
    try:
        return int(args.func(args) or 0)
    except DiagnosticsError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a path that is not there, not a folder, or not writable
        if args.debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}. Check that the path exists, is the right kind "
              f"(file or folder) and is writable.", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback is one flag away
        if args.debug:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc}. This is a bug; re-run with --debug for the "
              f"traceback and report it.", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
