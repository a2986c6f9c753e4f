"""The .xlsx reader: one worksheet of an Excel workbook, streamed row by row.

openpyxl reads in read-only mode (rows are parsed as they are asked for, memory stays flat) with
`data_only=True` (a formula cell gives the value Excel last calculated). Rows are numbered as the
spreadsheet shows them: the first non-empty row is the header (row 1 in a normal sheet), a blank
row keeps its number. Cells keep their type as JSON's do (text, numbers, true/false); dates and
times become ISO 8601 text (`2025-10-20`, `2025-10-20T14:30:00`), as a CSV export would hold them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from typing import Any

from ..errors import InputError
from .table import BadRow, Row, Source, Table, raw_text, register_format

XLSX_MAGIC = b"PK\x03\x04"  # a zip archive: what an .xlsx is
XLS_MAGIC = b"\xd0\xcf\x11\xe0"  # an OLE2 compound file: the old binary .xls
XLSX_EXTENSIONS = (".xlsx", ".xlsm")

# openpyxl warns on stderr about styles and extensions it does not read; they do not matter here.
warnings.filterwarnings("ignore", category=UserWarning, module=r"openpyxl(\.|$)")


def iso(value: Any) -> Any:
    """A cell as the other readers give it: dates and times as ISO 8601 text, the rest unchanged."""
    if isinstance(value, dt.datetime):
        if not (value.hour or value.minute or value.second or value.microsecond):
            return value.date().isoformat()  # a date cell: Excel stores it as midnight
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return str(value)
    return value


@register_format("xlsx")
def read_xlsx(src: Source) -> Table:
    from openpyxl import load_workbook  # only when a workbook is read

    name = src.name
    try:
        workbook = load_workbook(src.fp, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds (zip, XML, KeyError) for one cause
        raise InputError(name, f"not a readable .xlsx workbook ({_reason(exc)})") from None
    sheets = [ws.title for ws in workbook.worksheets]
    if src.sheet is None:
        if not sheets:
            workbook.close()
            raise InputError(name, "the workbook has no worksheet")
        sheet = workbook.worksheets[0]
    elif src.sheet in sheets:
        sheet = workbook[src.sheet]
    else:
        workbook.close()
        raise InputError(name, f"no sheet named {src.sheet!r} (sheets: {', '.join(sheets)})")
    sheet.reset_dimensions()  # some tools write a wrong size; read every row and column there is
    where = f"sheet {sheet.title!r}"
    rows = sheet.iter_rows(values_only=True)
    last: list[tuple] = [()]

    def next_row() -> tuple | None:
        try:
            return next(rows)
        except StopIteration:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged sheet: zip, XML or value errors
            raise InputError(name, f"{where} cannot be read ({_reason(exc)})") from None

    number = 0
    header: tuple = ()
    while not header:
        values = next_row()
        if values is None:
            workbook.close()
            raise InputError(name, f"{where} is empty")
        number += 1
        header = _trimmed(values)
    header_row = number
    columns = ["" if c is None else str(iso(c)).strip() for c in header]
    seen: set[str] = set()
    for c in columns:
        if c and c in seen:
            workbook.close()
            raise InputError(name, f"the header names column {c!r} twice", row=header_row, column=c)
        seen.add(c)
    ncols = len(columns)

    def numbered() -> Iterator[Row | BadRow]:
        n = header_row
        try:
            while (values := next_row()) is not None:
                n += 1
                values = _trimmed(values)
                if not values:  # a blank row
                    continue
                last[0] = values
                if len(values) > ncols:
                    from openpyxl.utils import get_column_letter

                    yield src.bad(BadRow(n, f"a value in column {get_column_letter(len(values))}, beyond the "
                                            f"header's {ncols} columns", _raw(values)), "row")
                    continue
                yield n, {c: iso(v) for c, v in zip(columns, values)}
        finally:
            workbook.close()

    return Table(name, "xlsx", "utf-8", columns, numbered(), "row", src.fp, last_raw=lambda: _raw(last[0]),
                 numbers_are_text=True)


def _trimmed(values: tuple) -> tuple:
    """The row without its empty cells at the end (a cell with only spaces counts as empty)."""
    end = len(values)
    while end and (values[end - 1] is None or (isinstance(values[end - 1], str) and not values[end - 1].strip())):
        end -= 1
    return values[:end]


def _raw(values: tuple) -> str:
    """A row's cells as one CSV line, for a rejects file."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["" if v is None else iso(v) for v in values])
    return raw_text(buf.getvalue())


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    kind = type(exc).__name__
    if kind == "BadZipFile":
        return "not a zip archive: the file is damaged or not an Excel workbook"
    if kind == "KeyError":
        return f"a zip archive without the parts of a workbook: {text.strip(chr(34)).strip(chr(39))}"
    return f"{kind}: {text}"[:200] if text else kind
