"""The opened table, its bad rows, and `open_table`: where every input is opened the same way."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from ..errors import InputError
from .sniff import HEAD_SIZE, detect_format, scan_encoding, sniff_format, stream_encoding

STDIN = "-"
RAW_LIMIT = 20_000  # characters of a bad row kept for a rejects file

Row = tuple[int, dict[str, Any]]


@dataclass
class BadRow:
    """A row that cannot be used: its number (as `Table.row_label` says), why, and what it held."""

    number: int
    reason: str
    raw: str
    column: str | None = None


def raw_text(text: str) -> str:
    """A bad row's text as kept for a rejects file: without its line end, at most RAW_LIMIT characters."""
    text = text.rstrip("\r\n")
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


@dataclass
class Replaced:
    """What was read as U+FFFD instead of refused: undecodable bytes of a file that is nearly all
    UTF-8 (counted before any row is read), and lone surrogates in JSON strings (as rows are read)."""

    bytes: int = 0
    surrogates: int = 0


@dataclass
class Table:
    """An opened input: its header and a stream of numbered rows (and BadRows, when collected)."""

    path: str
    format: str
    encoding: str
    columns: list[str]
    rows: Iterator[Row | BadRow]
    row_label: str = "row"
    _fp: IO[bytes] | None = None
    # The raw text of the row yielded last (for a rejects file).
    last_raw: Callable[[], str] = lambda: ""
    # The exact text of the record yielded last, for a comma-separated CSV (None otherwise): what
    # `whylabel predict` copies to its CSV output instead of parsing and quoting the cells again.
    last_record: Callable[[], str] | None = None
    replaced: Replaced = field(default_factory=Replaced)
    # The CSV/TSV separator read (None for JSON): what `whylabel predict` writes back.
    delimiter: str | None = None
    # A number in a text cell is that text: a spreadsheet stores the answer "10" as a number.
    numbers_are_text: bool = False
    # CSV: the last row number taken so far (a blank line takes one), and whether the input ended
    # inside a quoted cell (read on its own, a block cut there: `whylabel.io.formats.csv_blocks`).
    last_row: Callable[[], int] = lambda: 0
    quote_cut: Callable[[], bool] = lambda: False

    def bytes_read(self) -> int:
        """How far the reader is into the file, for a progress bar."""
        try:
            return self._fp.tell() if self._fp else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._fp:
            self._fp.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Source:
    """What a format reader gets: the opened bytes, their encoding, the first block as text, and
    whether bad rows are collected (else the reader may raise as soon as it meets one)."""

    name: str
    format: str
    fp: IO[bytes]
    encoding: str
    head: str
    replaced: bool  # undecodable bytes became U+FFFD (stdin, not pre-scanned): such a row is bad
    collect: bool
    sheet: str | None = None  # the worksheet of a workbook (None: the first)
    # A scanned file's undecodable bytes, read as U+FFFD and counted (its rows are kept).
    counts: Replaced = field(default_factory=Replaced)
    # The number of the first row after the header: 2, or further on for a block of a CSV file's
    # records read on its own (`whylabel.io.formats.csv_blocks`).
    first_row: int = 2
    delimiter: str | None = None  # the CSV separator when already known (else picked from `head`)

    def text(self) -> IO[str]:
        errors = "replace" if self.replaced or self.counts.bytes else "strict"
        return io.TextIOWrapper(self.fp, encoding=self.encoding, errors=errors, newline="")

    def bad(self, row: BadRow, row_label: str) -> BadRow:
        """The row to yield when bad rows are collected; raised as the import's error otherwise."""
        if not self.collect:
            raise _error(self.name, row, row_label)
        return row


FormatReader = Callable[[Source], Table]
FORMATS: dict[str, FormatReader] = {}
"""Format name -> reader; `--format` choices and sniffed formats are looked up here."""


def register_format(*names: str) -> Callable[[FormatReader], FormatReader]:
    def register(reader: FormatReader) -> FormatReader:
        for name in names:
            FORMATS[name] = reader
        return reader

    return register


def open_table(
    path: str | Path,
    *,
    format: str | None = None,
    bad_rows: Literal["raise", "collect"] = "raise",
    allow_stdin: bool = False,
    stdin: IO[bytes] | None = None,
    sheet: str | None = None,
) -> Table:
    """Open `path` (see the package contract); `bad_rows` says whether a bad row raises or is yielded."""
    if bad_rows not in ("raise", "collect"):
        raise ValueError(f"bad_rows must be 'raise' or 'collect', not {bad_rows!r}")
    name = str(path)
    fmt = format.lower() if format else None
    if fmt and fmt not in FORMATS:
        raise InputError(name, f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if allow_stdin and name == STDIN:
        name = "<stdin>"
        fp, enc, head = _open_stream(stdin if stdin is not None else sys.stdin.buffer, name)
        fmt = fmt or sniff_format(head)
        replaced, replaced_bytes = True, 0
    else:
        p = Path(path)
        _check_file(p, name)
        if fmt == "xlsx" or (fmt is None and _is_workbook(p)):
            fmt, enc, replaced_bytes, head = "xlsx", "utf-8", 0, ""
        elif fmt == "parquet" or (fmt is None and _is_parquet(p)):
            fmt, enc, replaced_bytes, head = "parquet", "utf-8", 0, ""
        else:
            enc, replaced_bytes = scan_encoding(p)
            fmt = fmt or detect_format(p, enc)
        fp = open(p, "rb")
        if fmt not in ("xlsx", "parquet"):
            head = fp.read(HEAD_SIZE).decode(enc, errors="replace")
            fp.seek(0)
        replaced = False
    if sheet is not None and fmt != "xlsx":
        fp.close()
        raise InputError(name, f"--sheet applies to .xlsx workbooks only (this is {fmt.upper()})")
    source = Source(name, fmt, fp, enc, head, replaced, collect=bad_rows == "collect", sheet=sheet,
                    counts=Replaced(bytes=replaced_bytes))
    try:
        table = FORMATS[fmt](source)
    except BaseException:
        fp.close()
        raise
    table.replaced = source.counts
    return table


def _check_file(p: Path, name: str) -> None:
    if not p.exists():
        raise InputError(name, "file not found")
    if p.is_dir():
        raise InputError(name, "is a directory, not a file")
    if p.stat().st_size == 0:
        raise InputError(name, "the file is empty")


def _is_workbook(p: Path) -> bool:
    """An .xlsx by its name, or a zip archive by its first bytes (an .xlsx saved under another name);
    the old binary .xls is refused with what to do."""
    from .xlsx import XLS_MAGIC, XLSX_EXTENSIONS, XLSX_MAGIC

    if p.suffix.lower() in XLSX_EXTENSIONS:
        return True
    with open(p, "rb") as f:
        magic = f.read(4)
    if magic == XLS_MAGIC:
        raise InputError(str(p), "an old Excel .xls workbook: save it as .xlsx (or CSV UTF-8) and try again")
    return magic == XLSX_MAGIC


def _is_parquet(p: Path) -> bool:
    from .parquet import is_parquet

    return is_parquet(p)


def _open_stream(pipe: IO[bytes], name: str) -> tuple[IO[bytes], str, str]:
    # What has arrived, up to the first line end: a slow producer must not stall the run.
    read = getattr(pipe, "read1", pipe.read)
    head = b""
    while len(head) < HEAD_SIZE and b"\n" not in head:
        more = read(HEAD_SIZE - len(head))
        if not more:
            break
        head += more
    if not head:
        raise InputError(name, "no input on stdin")
    enc = stream_encoding(head, name)
    return io.BufferedReader(_PrependedRaw(head, pipe), 1 << 16), enc, head.decode(enc, errors="replace")


class _PrependedRaw(io.RawIOBase):
    """The bytes already sniffed from a pipe, then the rest of the pipe."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # noqa: ANN001 - RawIOBase signature
        if self.head.nbytes:
            n = min(len(b), self.head.nbytes)
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)



def _error(name: str, row: BadRow, row_label: str) -> InputError:
    return InputError(name, row.reason, row=row.number, column=row.column, row_label=row_label)
