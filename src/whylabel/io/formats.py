"""The format readers: CSV/TSV, JSON lines, JSON. Each turns a `Source` into a `Table`.

The readers use the standard library's csv and json rather than sqlite-utils' `rows_from_file`:
a rejects file needs each bad row's raw text, and `predict` copies a good CSV record as it was read.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

from ..errors import InputError
from .sniff import pick_delimiter
from .table import BadRow, Replaced, Row, Source, Table, raw_text, register_format

FIRST_GOOD_LIMIT = 1000  # JSON lines without a single object before we call it "not a table"
FIELD_LIMIT = 1 << 24  # characters in one CSV cell (the csv module's default, 131,072, is one long review)
MAX_NESTING = 100  # levels of JSON arrays/objects in one record; deeper is refused, never a RecursionError
TOO_DEEP = f"JSON nested deeper than {MAX_NESTING} levels"


@register_format("csv", "tsv")
def read_csv(src: Source) -> Table:
    """Rows numbered as a spreadsheet shows them: the header is row 1, a blank line is a row too,
    and a quoted line break continues its row."""
    name, fmt, FMT = src.name, src.format, src.format.upper()

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter = "\t" if fmt == "tsv" else (src.delimiter or pick_delimiter(src.head))
    text = src.text()
    record: list[str] = []  # the physical lines of the record being parsed
    at_end = [False]  # the parser asked for a line after the last: a quoted cell ran to the end

    def lines() -> Iterator[str]:
        for line in text:
            record.append(line)
            yield line
        at_end[0] = True

    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)

    reader = csv.reader(lines(), Dialect)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(name, f"not a readable {FMT} file ({exc})", row=1) from None
    if not header:
        raise InputError(name, f"no header line: not a {FMT} table", row=1)
    if at_end[0] and record:  # the header's own quote is never closed: every line became a column name
        raise InputError(name, "a quote opened here is never closed", row=1)
    columns = [c.lstrip("\ufeff").strip() for c in header]
    seen: set[str] = set()
    for c in columns:
        if c and c in seen:
            raise InputError(name, f"the header names column {c!r} twice", row=1, column=c)
        seen.add(c)
    ncols = len(columns)

    seen = [src.first_row - 1, False]  # the last row number taken; a quoted cell cut by the end

    def numbered() -> Iterator[Row | BadRow]:
        number = src.first_row - 1
        while True:
            number += 1
            seen[0] = number
            record.clear()
            try:
                values = next(reader)
            except StopIteration:
                seen[0] = number - 1
                return
            except csv.Error as exc:
                reason = f"broken {FMT} ({exc})"
                if "field larger than field limit" in str(exc):
                    reason = f"a cell holds more than {FIELD_LIMIT:,} characters (a quote opened here is never closed?)"
                yield src.bad(BadRow(number, reason, raw_text("".join(record))), "row")
                continue
            except UnicodeDecodeError as exc:  # only when the encoding check was skipped
                yield src.bad(BadRow(number, f"cannot decode as {src.encoding} ({exc.reason})", ""), "row")
                return
            if not values:  # a blank line
                continue
            if at_end[0]:  # the csv module returns a quoted cell cut by the end of the input as a row
                seen[1] = True
                column = columns[len(values) - 1] if len(values) <= ncols else None
                yield src.bad(BadRow(number, "a quote opened here is never closed", raw_text("".join(record)),
                                     column), "row")
                return
            if src.replaced and any("\ufffd" in line for line in record):
                yield src.bad(BadRow(number, "undecodable bytes (the input mixes encodings)",
                                     raw_text("".join(record))), "row")
                continue
            if len(values) > ncols:
                yield src.bad(BadRow(number, f"{len(values)} fields but the header has {ncols} "
                                             f"(an unquoted {delimiter!r} in a text?)", raw_text("".join(record))),
                              "row")
                continue
            yield number, dict(zip(columns, values))

    def last_record() -> str:
        return record[0] if len(record) == 1 else "".join(record)

    return Table(name, fmt, src.encoding, columns, numbered(), "row", src.fp,
                 last_raw=lambda: raw_text("".join(record)), last_record=last_record if delimiter == "," else None,
                 delimiter=delimiter, last_row=lambda: seen[0], quote_cut=lambda: seen[1])


# The encodings a CSV file can be cut into blocks in: every line end and quote is one byte that
# is never part of another character (UTF-16 and UTF-32 are read whole, as one stream).
BLOCK_ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "cp1252"}


class CsvBlock(NamedTuple):
    data: bytes
    offset: int  # where it starts in the file
    final: bool  # it ends where the file ends


def csv_blocks(fp: IO[bytes], encoding: str, delimiter: str, size: int = 1 << 20, first: int | None = None,
               *, at: int = 0, header: bool = True, by_quotes: bool = False) -> Iterator[CsvBlock]:
    """A CSV file's bytes (from offset `at`, where `fp` is) cut into blocks of about `size` bytes
    at record boundaries, as `read_csv` parses the whole file; with `header`, the first block is
    the header record alone.

    A block read on its own (`Source.first_row` set, the header's bytes before it) gives the rows
    that reading the whole file gives there: the csv module starts each record afresh, so a block
    that starts where a record starts reads the same. The first block after the header comes from
    the first `first` bytes read (the first rows come back sooner).
    - Exact (default): each block is parsed with the csv module to find its last record's end
      (its last record is left for the next block: it may be a quoted cell cut by the block's end).
    - `by_quotes`: cut at the last line end with an even number of quotes before it: no parsing,
      right for any CSV a program wrote. A quote inside an unquoted cell (`5" screen`) can make
      it cut inside a quoted cell; the block's reader then finds a quote never closed before the
      block's end (`Table.quote_cut`), and the caller reads on from there exactly.
    """
    scan = BLOCK_ENCODINGS[encoding]

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    pending, at_eof, read = b"", False, True
    while True:
        if (read or not pending) and not at_eof:
            more = fp.read(first or size)
            at_eof = not more
            pending += more
        read = True
        if not pending:
            return
        if by_quotes and not header and len(pending) > 16 * max(size, 1 << 16):
            by_quotes = False  # a quote that never closes: the csv module's own limits decide
        # Up to the last complete line end ("\r" only where the next byte shows it is not "\r\n").
        cut = len(pending) if at_eof else max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1)) + 1
        if not cut:
            continue
        if by_quotes and not header and not at_eof and pending.count(b"\r", 0, cut) == pending.count(b"\r\n", 0, cut):
            end = cut  # line ends are "\n" (or "\r\n") only
            quotes = pending.count(b'"', 0, end)
            while quotes % 2 and end:
                before = pending.rfind(b"\n", 0, end - 1) + 1
                quotes -= pending.count(b'"', before, end)
                end = before
            if not end:
                continue  # inside one quoted cell: read on
        else:
            end = _last_record_end(pending, cut, scan, Dialect, keep_last=at_eof or header, header=header)
            if end is None:
                continue  # one record, perhaps cut: read on
        yield CsvBlock(pending[:end], at, at_eof and end == len(pending))
        at += end
        if header:
            read = first is None  # with `first`, the first rows come from the header's read
        else:
            first = None
        pending, header = pending[end:], False


def _last_record_end(pending: bytes, cut: int, scan: str, dialect: type, *, keep_last: bool,
                     header: bool) -> int | None:
    """Where the block's records end (bytes), parsed with the csv module; None: not one whole record."""
    text = pending[:cut].decode(scan, "surrogateescape")  # encodes back to the same bytes
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, dialect)
    tell = stream.tell
    ends: list[int] = []
    while True:
        try:
            next(reader)
        except StopIteration:
            break
        except csv.Error:
            pass
        ends.append(tell())
        if header:
            break
    keep = len(ends) if keep_last else len(ends) - 1
    if keep <= 0:
        return None
    end = ends[keep - 1]
    if end >= len(text):
        return cut
    return end if text.isascii() else len(text[:end].encode(scan, "surrogateescape"))


@register_format("jsonl")
def read_jsonl(src: Source) -> Table:
    """One object per line, numbered by line; the first object's keys stand in for a header."""
    name, text = src.name, src.text()
    last = [""]

    def parsed() -> Iterator[Row | BadRow]:
        number = 0
        while True:
            try:
                line = next(text)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:  # only when the encoding check was skipped
                yield src.bad(BadRow(number + 1, f"cannot decode as {src.encoding} ({exc.reason})", ""), "line")
                return
            number += 1
            stripped = line.strip()
            if not stripped:
                continue
            if src.replaced and "\ufffd" in line:
                yield src.bad(BadRow(number, "undecodable bytes (the input mixes encodings)", raw_text(line)), "line")
                continue
            try:
                obj = json.loads(stripped)
                if "\\u" in stripped or stripped.count("[") + stripped.count("{") > MAX_NESTING:
                    obj = _clean(obj, src.counts)
            except ValueError as exc:
                msg = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else _value_error(exc)
                yield src.bad(BadRow(number, f"broken JSON ({msg})", raw_text(line)), "line")
                continue
            except (RecursionError, _TooDeep):
                yield src.bad(BadRow(number, TOO_DEEP, raw_text(line[:200])), "line")
                continue
            if not isinstance(obj, dict):
                yield src.bad(BadRow(number, f"expected a JSON object, found {type(obj).__name__}", raw_text(line)),
                              "line")
                continue
            last[0] = line
            yield number, obj

    rows = parsed()
    leading: list[Any] = []
    for item in rows:  # up to the first object: its keys are the header
        leading.append(item)
        if not isinstance(item, BadRow):
            break
        if len(leading) >= FIRST_GOOD_LIMIT:
            raise InputError(name, f"not JSON lines: the first {len(leading)} lines hold no JSON object "
                                   f"(line {leading[0].number}: {leading[0].reason})")
    good = [item for item in leading if not isinstance(item, BadRow)]
    if not good:
        if leading:
            first = leading[0]
            raise InputError(name, f"not JSON lines: no line holds a JSON object (line {first.number}: {first.reason})")
        raise InputError(name, "no records in the input")
    columns = [str(k) for k in good[0][1].keys()]
    return Table(name, "jsonl", src.encoding, columns, _chain(leading, rows), "line", src.fp,
                 last_raw=lambda: raw_text(last[0]))


@register_format("json")
def read_json(src: Source) -> Table:
    """An array of records (or one object wrapping such an array), read whole, numbered by record."""
    name = src.name
    try:
        text = src.text().read()
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(name, f"broken JSON ({exc.msg} at column {exc.colno})", row=exc.lineno,
                         row_label="line") from None
    except UnicodeDecodeError as exc:
        raise InputError(name, f"cannot decode as {src.encoding} ({exc.reason})") from None
    except RecursionError:
        number, label = _where_too_deep(text)
        raise InputError(name, TOO_DEEP, row=number, row_label=label) from None
    except ValueError as exc:  # not a JSONDecodeError: an integer of more than 4,300 digits
        digits = re.search(r"\d{%d}" % (sys.get_int_max_str_digits() + 1), text)
        line = text.count("\n", 0, digits.start()) + 1 if digits else None
        raise InputError(name, f"broken JSON ({_value_error(exc)})", row=line, row_label="line") from None
    escapes = "\\u" in text
    del text
    if isinstance(data, dict):
        # {"reviews": [...]}: a wrapper object around one list of records.
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise InputError(name, f"not a table of records (the JSON holds a {type(data).__name__})")
    first = next((r for r in data if isinstance(r, dict)), None)
    if first is None:
        raise InputError(name, "not a table of records (no JSON object in the array)")
    columns = [_SURROGATE.sub("\ufffd", k) for k in first.keys()]  # its values are cleaned as it is read
    last: list[Any] = [None]

    def numbered() -> Iterator[Row | BadRow]:
        for i, row in enumerate(data, start=1):
            if escapes or not isinstance(row, dict) or any(isinstance(v, (dict, list)) for v in row.values()):
                try:
                    row = _clean(row, src.counts)
                except _TooDeep:
                    yield src.bad(BadRow(i, TOO_DEEP, ""), "record")
                    continue
            if isinstance(row, dict):
                last[0] = row
                yield i, row
            else:
                yield src.bad(BadRow(i, f"expected a JSON object, found {type(row).__name__}",
                                     raw_text(json.dumps(row, ensure_ascii=False))), "record")

    return Table(name, "json", src.encoding, columns, numbered(), "record", src.fp,
                 last_raw=lambda: raw_text(json.dumps(last[0], ensure_ascii=False)))


def _value_error(exc: ValueError) -> str:
    """Python's refusal of a huge integer, without its advice to the programmer."""
    if "integer string conversion" in str(exc):
        return f"a number with more than {sys.get_int_max_str_digits():,} digits"
    return str(exc)


class _TooDeep(Exception):
    pass


_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: Any, counts: Replaced, depth: int = 0) -> Any:
    """A parsed JSON value with its lone surrogates ("\\ud800", not a character: no file can hold it)
    read as U+FFFD and counted; deeper than MAX_NESTING raises _TooDeep before anything recurses."""
    if isinstance(value, str):
        if _SURROGATE.search(value) is None:
            return value
        value, n = _SURROGATE.subn("\ufffd", value)
        counts.surrogates += n
        return value
    if isinstance(value, (dict, list)):
        if depth >= MAX_NESTING:
            raise _TooDeep
        if isinstance(value, list):
            return [_clean(v, counts, depth + 1) for v in value]
        return {_clean(k, counts, depth + 1): _clean(v, counts, depth + 1) for k, v in value.items()}
    return value


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def _where_too_deep(text: str) -> tuple[int, str]:
    """Where a JSON document nests too deep: its record (an element of the array of records) or line."""
    stack: list[list] = []  # [bracket, elements before the current one]
    for m in _JSON_TOKEN.finditer(text):
        token = m.group()
        if token in ("[", "{"):
            stack.append([token, 0])
            if len(stack) > MAX_NESTING:
                if stack[0][0] == "[":
                    return stack[0][1] + 1, "record"
                if stack[1][0] == "[":  # {"reviews": [...]}
                    return stack[1][1] + 1, "record"
                break
        elif token in ("]", "}"):
            if stack:
                stack.pop()
        elif token == "," and stack:
            stack[-1][1] += 1
    else:
        return 1, "line"
    return text.count("\n", 0, m.start()) + 1, "line"


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest
