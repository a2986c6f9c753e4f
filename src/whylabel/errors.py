"""Typed errors the core raises; the CLI turns each into one line on stderr and exit code 2.

Every message is written for the researcher, not the developer: it names the file, and the row
and column where there is one, and says what to do.
"""

from __future__ import annotations


class WhylabelError(Exception):
    """Base class: anything the user can fix by changing their input or options."""


class InputError(WhylabelError):
    """A data file (export, metrics, gold set) cannot be read as asked."""

    def __init__(
        self,
        path: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        row_label: str = "row",
    ):
        self.path = str(path)
        self.row = row
        self.column = column
        self.detail = message
        where = self.path
        if row is not None:
            where += f", {row_label} {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


class CodebookError(WhylabelError):
    """A codebook file is not valid."""


class StoreError(WhylabelError):
    """The database cannot be used (not ours, too new, corrupt)."""


class ModelError(WhylabelError):
    """A model file cannot be trusted or does not fit the codebook/data."""


class OptionError(WhylabelError):
    """An option names something the data does not have (an export's input column)."""
