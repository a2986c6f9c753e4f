"""Reading tables: the one reader behind `whylabel import`, `predict`, `evaluate` and `breakpoints`.

Contract:
- `open_table(path, bad_rows="raise"|"collect")` sniffs the encoding (UTF-8 with or without BOM,
  UTF-16 or UTF-32 with BOM, Windows-1252; binary refused; a file nearly all UTF-8 is UTF-8 with
  its few bad bytes read as U+FFFD and counted in `Table.replaced`), the format (CSV, TSV, JSON,
  JSONL; .xlsx by its name or zip signature, its `sheet` or else the first; Parquet by its name or
  its `PAR1` signature, read in record batches with pyarrow) and the CSV separator
  (lines may end in LF, CRLF or CR alone), unwraps a JSON object
  around one list of records, refuses a header that names a column twice, and returns a `Table`
  whose `rows` yield `(number, row_dict)`.
- Row numbers are what a researcher sees: the spreadsheet row for CSV/TSV (the header is row 1, a
  quoted line break does not start a new row, a blank line is a row), the line for JSON lines,
  the record (1-based) for a JSON array; `Table.row_label` says which.
- A bad row (extra fields, broken JSON, not an object, nested deeper than 100 levels, a quote
  never closed) raises `InputError` naming the file and row with `bad_rows="raise"` (import: one
  transaction, nothing stored), or is yielded as a `BadRow` with its raw text with
  `bad_rows="collect"` (predict: the rejects file). A problem with the whole input (missing,
  empty, binary, no header, not a table) always raises, before any row.
- "-" reads stdin when `allow_stdin` is set: its encoding is judged from the first 64 KiB, and a
  later line that does not decode is a bad row.
- Formats are a registry (`FORMATS`, `register_format`): each is a function from a `Source` to a
  `Table` (Parquet's, in parquet.py, is one).
"""

from __future__ import annotations

from . import formats, parquet, xlsx  # noqa: F401 - register the CSV, TSV, JSON, JSONL, .xlsx and Parquet readers
from .sniff import detect_encoding, detect_format, sniff_format
from .table import FORMATS, STDIN, BadRow, FormatReader, Source, Table, open_table, register_format

__all__ = [
    "FORMATS", "STDIN", "BadRow", "FormatReader", "Source", "Table", "detect_encoding", "detect_format",
    "open_table", "register_format", "sniff_format",
]
