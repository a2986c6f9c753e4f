"""Writing an .xlsx workbook that just opens: typed cells, a frozen header row and an autofilter.

Contract: `XlsxWriter` has the row-writing face of `export.TableWriter` (`write`, `write_values`,
`write_rows`) and `save(stream)` at the end. openpyxl's write-only mode streams the rows to a
temporary file and writes strings inline (no shared-string table), so memory stays flat however
many rows there are. Cells are typed: numbers as numbers, ISO 8601 dates and times as dates, text
as text. A text starting with "=" is written as a text cell, never as a formula, so nothing is
prefixed with an apostrophe. What Excel cannot hold is mended, not refused: control characters
become U+FFFD, a text longer than 32,767 characters is cut (ending in "…"), a number Excel would
round (more than 15 digits) or cannot show (NaN, infinity) is written as text, a date with a time
zone is written in UTC, a date before 1900 as text.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from typing import IO, Any

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell
_EXACT_DIGITS = 10**15  # integers beyond 15 digits are rounded by Excel: kept as text
_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,14})")
_DECIMAL = re.compile(r"-?(?:0|[1-9]\d{0,14})\.\d{0,14}[1-9]")  # no trailing zero: the text round-trips
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?")


class XlsxWriter:
    """Rows into one worksheet of a write-only workbook; `save(stream)` writes the file."""

    format = "xlsx"
    delimiter = None  # no CSV record is ever copied into a workbook

    def __init__(self, columns: Sequence[str], *, title: str = "whylabel"):
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE

        self._text_cell, self._errors, self._illegal = WriteOnlyCell, frozenset(ERROR_CODES), ILLEGAL_CHARACTERS_RE
        self.columns = list(columns)
        self.workbook = Workbook(write_only=True)
        self.sheet = self.workbook.create_sheet(title=title)
        self.sheet.freeze_panes = "A2"  # written with the sheet's start: set before the first row
        self.rows = 0
        self.sheet.append([self._text(str(c)) for c in self.columns])

    def write(self, row: dict[str, Any]) -> None:
        self.write_values([row.get(c) for c in self.columns])

    def write_values(self, values: Sequence[Any]) -> None:
        self.sheet.append([self._cell(v) for v in values])
        self.rows += 1

    def write_rows(self, rows: Sequence[Sequence[Any]], added: Sequence[Sequence[Any]]) -> None:
        """Rows of input cells, each followed by its `added` cells (the batch face of TableWriter)."""
        for cells, more in zip(rows, added):
            self.write_values([*cells, *more])

    def save(self, stream: IO[bytes]) -> None:
        from openpyxl.utils import get_column_letter

        if self.columns:
            self.sheet.auto_filter.ref = f"A1:{get_column_letter(len(self.columns))}{self.rows + 1}"
        self.workbook.save(stream)

    def discard(self) -> None:
        """A run that failed: close the rows streamed so far and remove openpyxl's temporary file."""
        with contextlib.suppress(Exception):
            self.sheet.close()
            writer = getattr(self.sheet, "_writer", None)  # openpyxl keeps no public handle on it
            if writer is not None:
                writer.cleanup()

    def _text(self, value: str) -> Any:
        if self._illegal.search(value):
            value = self._illegal.sub("\ufffd", value)
        if len(value) > MAX_CELL_CHARS:
            value = value[: MAX_CELL_CHARS - 1] + "…"
        if value[:1] == "=" or value in self._errors:  # openpyxl would make it a formula or an error
            cell = self._text_cell(self.sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def _cell(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self._typed_text(value)
        if value is None or kind is bool:
            return value
        if kind is int:
            return value if -_EXACT_DIGITS < value < _EXACT_DIGITS else str(value)
        if kind is float:
            return value if math.isfinite(value) else str(value)
        if isinstance(value, (list, tuple)):
            return self._text(";".join(str(v) for v in value))
        if isinstance(value, dict):
            return self._text(json.dumps(value, ensure_ascii=False))
        if isinstance(value, (dt.date, dt.time)):
            return _excel_date(value)
        return self._text(str(value))

    def _typed_text(self, value: str) -> Any:
        """A number or a date written as text by a CSV export or the database becomes one again."""
        n = len(value)
        if 0 < n <= 17 and (value[0].isdigit() or value[0] == "-"):
            if _INTEGER.fullmatch(value):
                return int(value)
            if _DECIMAL.fullmatch(value):
                return float(value)
        if 10 <= n <= 32 and value[4:5] == "-" and value[:4].isdigit():
            try:
                if n == 10 and _DATE.fullmatch(value):
                    return _excel_date(dt.date.fromisoformat(value), value)
                if _DATETIME.fullmatch(value):
                    return _excel_date(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), value)
            except ValueError:  # `2025-02-30` looks like a date and is not one: it stays text
                pass
        return self._text(value)


def _excel_date(value: Any, text: str | None = None) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if isinstance(value, dt.time) and value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    if isinstance(value, dt.date) and value.year < 1900:  # before Excel's calendar
        return text or value.isoformat()
    return value
