"""Data structures passed between reading (``loaders``) and cleaning (``cleaning``/``ingest``).

Reading a wave is two steps with one contract between them:

1. :func:`analysis.loaders.read_export` turns one file into one or more :class:`ParsedExport`
   (one per data sheet): it finds the data sheet and header rows, detects the export format,
   classifies every column (:data:`COLUMN_ROLES`) and maps question columns to instrument items.
   It removes **no** data rows: every row below the header is in ``ParsedExport.data``.
2. :func:`analysis.ingest.load_wave` cleans each ``ParsedExport`` (answers to scores, councils,
   blank/summary/empty/duplicate rows to quarantine) and builds the tidy responses table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: What a column of an export can be. Personal roles are dropped at ingest.
COLUMN_ROLES: tuple[str, ...] = (
    "item",           # an instrument item (statement or short-form overall rating); item_id is set
    "council",        # the council (organisation) the respondent answers for
    "perspective",    # service / organisation / system point of view
    "respondent_id",  # the export's own response id (Id, Respondent ID, ResponseId ...)
    "email",          # personal
    "name",           # personal (full, first or last name)
    "ip",             # personal
    "location",       # personal (latitude/longitude, location)
    "recipient",      # personal (Qualtrics RecipientFirstName ... ExternalReference)
    "started_at",     # start time
    "completed_at",   # completion/end/submitted time, used to keep the latest duplicate
    "free_text",      # personal by default: comments, open answers
    "metadata",       # anything else the export adds (Collector ID, Progress, UserLanguage ...); dropped
    "unmapped",       # looks like a question but matches no item: reported by validate, dropped
)

#: Roles whose values never leave ingest (unless --keep-comments for free_text, masked).
PERSONAL_ROLES: frozenset[str] = frozenset({"email", "name", "ip", "location", "recipient", "free_text"})

#: Known export formats, as :attr:`ParsedExport.format` values.
FORMATS: tuple[str, ...] = ("ms_forms", "google_forms", "surveymonkey", "qualtrics", "smartsurvey", "handmade", "tidy_wide")


@dataclass
class ParsedExport:
    """One data table of one export file, read but not yet cleaned.

    Attributes
    ----------
    path
        Absolute path of the file (never written to outputs).
    source_file
        Path of the file relative to the cohort's raw folder, POSIX style (e.g. ``2024-01/a.xlsx``);
        this is what outputs and messages show.
    sheet
        Sheet name for workbooks, ``None`` for CSV.
    format
        One of :data:`FORMATS`.
    header_rows
        1-based row numbers (as a spreadsheet shows them) of the header row(s).
    data
        One row per data row below the header, **none removed**: every cell as ``str`` with ``""``
        for an empty cell (numbers as their text, e.g. ``"4"``; dates as ISO text). Columns are
        the keys in ``columns.key``. The index is the 1-based source row number.
    columns
        One row per column of ``data``: ``key`` (unique column key), ``header`` (header text as
        shown, multi-row headers joined with " | "), ``question`` (the text used to match items),
        ``role`` (one of :data:`COLUMN_ROLES`), ``item_id`` (set when role == 'item', else NA),
        ``match`` ('exact', 'fuzzy', 'pinned', 'role' or 'none'), ``match_score`` (0-100, NA when
        not fuzzy).
    form
        'full' when the item columns are statements, 'short' for one overall rating per enabler.
    council_hint
        Council name to use when there is no council column (from ``mapping.yml`` or the file
        name), else ``None``.
    recode
        Answer recodes from ``mapping.yml``: item_id (or ``"*"`` for every item column) ->
        {raw answer text: score or None}. Applied before label parsing.
    encoding
        Text encoding detected for CSV files, ``None`` for workbooks.
    notes
        Human-readable remarks for ``diagnostics validate`` (e.g. "skipped notes sheet 'Read me'").
    """

    path: Path
    source_file: str
    sheet: str | None
    format: str
    header_rows: list[int]
    data: pd.DataFrame
    columns: pd.DataFrame
    form: str = "full"
    council_hint: str | None = None
    recode: dict[str, dict[str, float | None]] = field(default_factory=dict)
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        """Number of data rows read (the left-hand side of the row accounting)."""
        return len(self.data)

    def keys_with_role(self, role: str) -> list[str]:
        """Column keys that have ``role``, in file order."""
        # plain lists: called a dozen times per file, where a pandas comparison costs ~0.5 ms each
        return [k for k, r in zip(self.columns["key"].tolist(), self.columns["role"].tolist(), strict=True) if r == role]

    def item_columns(self) -> dict[str, str]:
        """``{column key: item_id}`` for the mapped item columns."""
        c = self.columns
        return {k: i for k, r, i in zip(c["key"].tolist(), c["role"].tolist(), c["item_id"].tolist(), strict=True)
                if r == "item"}

    def unmapped_headers(self) -> list[str]:
        """Headers of columns that looked like questions but matched no item."""
        return self.columns.loc[self.columns["role"] == "unmapped", "header"].tolist()
