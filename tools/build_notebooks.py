"""Regenerate notebooks/*.ipynb from the cell sources below (no outputs, stable cell ids).

The notebooks are the source of truth that JupyterLab users edit; this script exists so that a
reviewer can see all four in one place and so that they can be rebuilt cleanly. Run:
``.venv/bin/python tools/build_notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]

IMPORTS = """%matplotlib inline
from IPython.display import Markdown, display

from analysis import reports, steps"""

REPORT_PARAMS = '''cohort: str = "demo"                                    # cohort folder under data/raw/
wave: str = "2024-01"                                   # wave folder under data/raw/<cohort>/
processed_dir: str = "../data/processed/demo/2024-01"   # this wave's processed tables
reports_dir: str = "../reports/demo/2024-01"            # where this wave's reports go
previous_processed_dir: str = ""                        # processed tables of the previous wave, empty if none
instrument: str = ""                                    # empty means margins_to_mainstream, else a path to an instrument YAML
settings_file: str = ""                                 # optional YAML overriding analysis/settings.yml
synthetic: bool = True                                  # show the "Synthetic demo data" banner
run_id: str = ""                                        # pipeline run id, for provenance'''

NOTEBOOKS = {
    "01_ingest_clean.ipynb": [
        new_markdown_cell("# 01 Ingest and clean\n\nReads every export of one wave (any survey tool's format), maps columns to the "
                          "instrument's statements and answers to scores, and accounts for every row: each data row is either an "
                          "accepted respondent or in `quarantine.csv` with a reason. Names, emails, IP addresses and free text are "
                          "dropped here. Writes `data/processed/<cohort>/<wave>/`."),
        new_code_cell(IMPORTS),
        new_code_cell('''raw_dir: str = "../data/raw/demo"                 # the cohort's raw folder (read-only)
wave: str = "2024-01"                             # wave folder under raw_dir
processed_dir: str = "../data/processed/demo/2024-01"  # where this wave's tables go
keys_dir: str = "../data/keys"                    # per-cohort salts for respondent keys (never in outputs)
instrument: str = ""                              # empty means margins_to_mainstream, else a path to an instrument YAML
settings_file: str = ""                           # optional YAML overriding analysis/settings.yml
keep_comments: bool = False                       # keep masked free-text comments in comments.csv
skip_bad_files: bool = False                      # carry on past unreadable files (recorded in the manifest)''',
                      metadata={"tags": ["parameters"]}),
        new_code_cell('''result = steps.ingest_step(raw_dir=raw_dir, wave=wave, processed_dir=processed_dir, keys_dir=keys_dir,
                           instrument=instrument or None, settings_file=settings_file or None,
                           keep_comments=keep_comments, skip_bad_files=skip_bad_files)
for note in result.notes:
    display(Markdown(f"**Note:** {note}"))'''),
        new_markdown_cell("## Every row accounted for\n\nPer file and sheet: detected format, rows read, accepted respondents and "
                          "quarantined rows (rows read = accepted + quarantined, checked on every run)."),
        new_code_cell("result.files"),
        new_markdown_cell("## Quarantined rows by reason"),
        new_code_cell('result.quarantine["reason"].value_counts().rename_axis("reason").rename("rows").to_frame()'),
        new_markdown_cell("## Cells read as missing\n\n`dont_know`: a deliberate non-answer; `out_of_range`: a number outside "
                          "the scale; `unparseable`: text that is not an answer. Details in `cell_issues.csv`."),
        new_code_cell('result.cell_issues["kind"].value_counts().rename_axis("kind").rename("cells").to_frame()'),
        new_markdown_cell("## Councils"),
        new_code_cell("result.councils"),
    ],
    "02_score.ipynb": [
        new_markdown_cell("# 02 Score\n\nRespondent enabler scores (mean of the enabler's answered statements, valid when at "
                          "least 2 of 3 are answered), grouping and overall scores, then council and cohort summaries and each "
                          "council's position against the cohort. Conventions: `docs/methodology.md`."),
        new_code_cell(IMPORTS),
        new_code_cell('''processed_dir: str = "../data/processed/demo/2024-01"  # this wave's processed tables
instrument: str = ""                              # empty means margins_to_mainstream, else a path to an instrument YAML
settings_file: str = ""                           # optional YAML overriding analysis/settings.yml
previous_processed_dir: str = ""                  # the previous wave's processed tables (for wave_change.csv)''',
                      metadata={"tags": ["parameters"]}),
        new_code_cell('''tables = steps.score_step(processed_dir=processed_dir, instrument=instrument or None,
                          settings_file=settings_file or None,
                          previous_processed_dir=previous_processed_dir or None)'''),
        new_markdown_cell("## Cohort: enabler scores (all respondents pooled, each counted once)\n\n"
                          "With the 95% bootstrap confidence interval of each mean."),
        new_code_cell('reports.display_table(tables["enabler_scores"].query("scope == \'cohort\'"))'),
        new_markdown_cell("## Groupings and overall, per council"),
        new_code_cell('reports.display_table(tables["grouping_scores"])'),
        new_markdown_cell("## Does a council-level score mean something?\n\nWithin-council agreement per council x "
                          "enabler: rwg(j) (1 = full agreement, 0 = no more than random answering; 0.70 is the usual bar), "
                          "AD_M (mean absolute deviation; 0.83 or less is agreement on a 5-point scale) and polarisation "
                          "(0 = everyone on one side, 1 = split evenly between the two ends). The aggregation check "
                          "fails when agreement or n is too low to report a council score without a caveat."),
        new_code_cell('''agreement = tables["enabler_scores"].query("scope == 'council'")[
    ["council_id", "unit_id", "n", "mean", "ci_low", "ci_high", "rwg_j", "ad_m", "polarisation", "aggregation_ok", "aggregation_note"]]
display(Markdown(f"{int((~agreement['aggregation_ok']).sum())} of {len(agreement)} council x enabler scores fail the "
                 "aggregation check (listed below; every row is in `enabler_scores.csv`)."))
reports.display_table(agreement[~agreement["aggregation_ok"]])'''),
        new_markdown_cell("## Between councils and reliability\n\nPer enabler: ICC(1) (share of the variance that lies "
                          "between councils), ICC(2) (reliability of council means), the F test, Cronbach's alpha of the "
                          "statements with its 95% CI, and Kruskal-Wallis across councils with epsilon squared."),
        new_code_cell('reports.display_table(tables["cohort_stats"])'),
        new_markdown_cell("## Councils that differ from the rest of the cohort\n\nMann-Whitney U of each council against "
                          "all other councils' respondents, Holm-corrected across the council's enablers, with Cliff's delta."),
        new_code_cell('''vs = tables["council_vs_cohort"]
reports.display_table(vs[(vs["level"] == "enabler") & (vs["p_holm"] < 0.05)])'''),
        new_markdown_cell("## Change since the previous wave\n\nBootstrap 95% CI of the change in mean, Mann-Whitney "
                          "(Holm within the council) and, for respondents linked across waves, the paired Wilcoxon test."),
        new_code_cell('''change = tables["wave_change"]
if change.empty:
    display(Markdown("No previous wave was processed."))
else:
    clear = change[(change["level"] == "enabler") & (change["p_holm"] < 0.05)]
    display(Markdown(f"{len(change)} council x unit changes in `wave_change.csv`; {len(clear)} enabler changes with "
                     "Holm-corrected p < 0.05 are listed."))
    display(reports.display_table(clear))'''),
        new_markdown_cell("## Perspective breakdown\n\nScores by the perspective respondents answered from (service, "
                          "organisation, system); groups below the disclosure threshold, and the next smallest where "
                          "subtraction would reveal them, are flagged for suppression in reports."),
        new_code_cell('''persp = tables["perspective_scores"]
reports.display_table(persp[(persp["scope"] == "cohort") & (persp["level"] != "enabler")])'''),
    ],
    "03_cohort_report.ipynb": [
        new_code_cell(IMPORTS),
        new_code_cell(REPORT_PARAMS, metadata={"tags": ["parameters"]}),
        new_code_cell('''report = steps.cohort_report_step(processed_dir=processed_dir, reports_dir=reports_dir, cohort=cohort, wave=wave,
                                  instrument=instrument or None, settings_file=settings_file or None,
                                  synthetic=synthetic, previous_processed_dir=previous_processed_dir or None,
                                  run_id=run_id)
report.show_first_screen()
report.show("overview")'''),
        *[new_code_cell(f'report.show("{key}")') for key in
          ("heatmap", "distributions", "ranks", "spiders", "participation", "groupings", "change", "data_quality")],
        new_code_cell('''display(Markdown(f"Workbook with these tables: `{report.workbook.name}`. "
                 + reports.provenance_markdown({"run_id": run_id, "cohort": cohort, "wave": wave})))
report.show("methods")'''),
    ],
    "04_council_pack.ipynb": [
        new_code_cell(IMPORTS),
        new_code_cell(REPORT_PARAMS + '\ncouncil_id: str = "C01"                                 # the council this pack is for',
                      metadata={"tags": ["parameters"]}),
        new_code_cell('''report = steps.council_pack_step(processed_dir=processed_dir, reports_dir=reports_dir, cohort=cohort, wave=wave,
                                 council_id=council_id, instrument=instrument or None,
                                 settings_file=settings_file or None, synthetic=synthetic,
                                 previous_processed_dir=previous_processed_dir or None, run_id=run_id)
report.show_first_screen()
report.show("first_screen")'''),
        *[new_code_cell(f'report.show("{key}")') for key in
          ("groupings", "statements", "enablers", "change", "perspectives", "comments", "about")],
        new_code_cell('''display(Markdown(f"Workbook with these tables: `{report.workbook.name}`. "
                 + reports.provenance_markdown({"run_id": run_id, "cohort": cohort, "wave": wave})))'''),
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        for i, cell in enumerate(cells):
            cell["id"] = f"{Path(name).stem[:2]}-{i:02d}"
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        })
        nbformat.validate(nb)
        nbformat.write(nb, ROOT / "notebooks" / name)


if __name__ == "__main__":
    build()
