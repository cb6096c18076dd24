"""The single exception family of the package.

Every error a user can cause is a :class:`DiagnosticsError`. Each carries structured location
fields (``path``, ``sheet``, ``row``, ``column``) and reads as one actionable sentence: what was
found, where, and what to do. The CLI prints ``str(error)`` on one line and exits non-zero.
Row- and cell-level problems are *data* (quarantine and cell-issue tables), not exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class DiagnosticsError(Exception):
    """Base class for every error raised on purpose by the package.

    Parameters
    ----------
    message
        What was found and what was expected.
    path, sheet, row, column
        Where it was found. ``row`` is the 1-based row number as a spreadsheet shows it.
    hint
        What the user should do about it.
    """

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        sheet: str | None = None,
        row: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.sheet = sheet
        self.row = row
        self.column = column
        self.hint = hint
        super().__init__(str(self))

    @property
    def location(self) -> str:
        """``file, sheet 'S', row R, column 'C'`` for the parts that are known."""
        parts: list[str] = []
        if self.path:
            parts.append(self.path)
        if self.sheet:
            parts.append(f"sheet {self.sheet!r}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts)

    def __str__(self) -> str:
        text = self.message.rstrip()
        if self.location:
            text = f"{self.location}: {text}"
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint.rstrip()}"
        return text


class ConfigError(DiagnosticsError):
    """A settings file or command-line option is invalid."""


class InstrumentError(DiagnosticsError):
    """The instrument YAML file is malformed; ``column`` holds the key path (e.g. ``enablers[3].id``)."""

    def __init__(self, message: str, *, path: str | Path | None = None, key: str | None = None,
                 hint: str | None = None) -> None:
        self.key = key
        super().__init__(message, path=path, column=None, hint=hint)

    @property
    def location(self) -> str:
        loc = super().location
        if self.key:
            loc = f"{loc}, field {self.key!r}" if loc else f"field {self.key!r}"
        return loc


class InputFileError(DiagnosticsError):
    """A file cannot be read as a survey export at all (empty, corrupt, encrypted, not a spreadsheet)."""


class SchemaMismatchError(DiagnosticsError):
    """A file was read but its columns or codes do not fit the instrument."""


class MappingError(SchemaMismatchError):
    """Columns cannot be mapped to statements unambiguously (fix with ``mapping.yml``)."""


class RegisterError(DiagnosticsError):
    """The cohort register ``cohort.csv`` is malformed."""


class RowAccountingError(DiagnosticsError):
    """Data rows read != accepted respondents + quarantined rows. Always a bug: please report it."""

    exit_code = 3


class InsufficientDataError(DiagnosticsError):
    """There is too little valid data to compute what was asked."""


class ReportError(DiagnosticsError):
    """A report could not be built or written."""


class ParameterError(DiagnosticsError):
    """A notebook was given a parameter it does not declare, or lacks a parameters cell."""


class NotebookExecutionError(DiagnosticsError):
    """A pipeline notebook failed; the partly executed notebook is kept for inspection."""


class ValidationFailed(DiagnosticsError):
    """Several problems were found; all are listed so that they can be fixed in one go.

    Parameters
    ----------
    errors
        The individual errors, in the order found.
    """

    def __init__(self, errors: Iterable[DiagnosticsError], *, hint: str | None = None) -> None:
        self.errors = list(errors)
        n = len(self.errors)
        first = str(self.errors[0]) if self.errors else "no details"
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''}; see above or run 'diagnostics validate')" if n > 1 else ""
        super().__init__(f"{first}{more}", hint=hint)

    def __str__(self) -> str:  # the location is already inside the first error's text
        n = len(self.errors)
        first = str(self.errors[0]) if self.errors else "no details"
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''}; run 'diagnostics validate' for the full list)" if n > 1 else ""
        text = f"{first}{more}"
        return f"{text.rstrip('.')}. {self.hint}" if self.hint else text
