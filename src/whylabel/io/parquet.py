"""Parquet in and out (pyarrow, from the `dask` extra): streamed in record batches, bounded memory.

Reading: `read_parquet` (the "parquet" format of `open_table`) opens the file's footer, refuses a
damaged or non-Parquet file in one line, and yields its rows one row group at a time, numbered
1, 2, ... (the data row: `row 12` in an error). Cells come out as the JSON reader gives them, so
import and predict treat them alike: text, numbers, true/false, null, lists and objects; dates
and times as ISO 8601 text (to the microsecond: nanoseconds, as pandas writes them, are cut),
decimals as their exact text, binary as UTF-8 text. The file's Arrow schema rides along
(`ParquetTable.arrow_schema`) so that a Parquet output can keep the input's column types.
`open_parquet(path, row_groups=[...])` reads some row groups only, numbered as in the whole file
(a partition of a distributed run); `row_group_sizes(path)` says how to split.

Writing: `ParquetWriter` has the row-writing face of `export.TableWriter` and writes row groups of
about `ROWS_PER_GROUP` rows or `BYTES_PER_GROUP` bytes, whichever comes first, with pyarrow's
`ParquetWriter`, to a stream (a temporary file that `safefile.output` renames into place, or a
pipe). A column's type comes from `types` (`arrow_schema`); a column without one is text holding
what the CSV output of the same command holds (not neutralised: a Parquet cell is never run as a
formula). A typed value is converted back to its Arrow type (`record_batch`: ISO text to a
timestamp), so `predict x.parquet -o y.parquet` keeps x's types.

pyarrow is imported only when a Parquet file is read or written; without it, one line says what
to install (`whylabel.extras.require`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from ..errors import InputError, WhylabelError
from ..extras import require
from .table import BadRow, Row, Source, Table, raw_text, register_format

PARQUET_MAGIC = b"PAR1"  # at the start and the end of every Parquet file
PARQUET_EXTENSIONS = (".parquet", ".pq", ".parq")
ROWS_PER_BATCH = 8192  # rows read per record batch
ROWS_PER_GROUP = 65_536  # rows per written row group (about): what is held in memory before it is written
BYTES_PER_GROUP = 64 << 20  # Arrow bytes per written row group (about): long texts make smaller groups
ROWS_PER_CONVERSION = 2048  # rows written one by one that are converted to Arrow together
WHAT = "Parquet"


def is_parquet(path: str | Path) -> bool:
    """A Parquet file by its name, or by its first four bytes (one saved under another name)."""
    p = Path(path)
    if p.suffix.lower() in PARQUET_EXTENSIONS:
        return True
    with open(p, "rb") as f:
        return f.read(4) == PARQUET_MAGIC


def require_pyarrow(subject: str | None = None) -> None:
    """Raise `MissingExtra` ("x.parquet: Parquet needs pyarrow: pip install ...") unless pyarrow imports."""
    _pyarrow(subject)


def _pyarrow(subject: str | None = None) -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or one line saying what to install (naming `subject`)."""
    pa = require("pyarrow", what=WHAT, subject=subject)
    pq = require("pyarrow.parquet", what=WHAT, subject=subject)
    return pa, pq


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class ParquetTable(Table):
    """A Table with the file's Arrow schema, and a progress position from the rows read."""

    arrow_schema: Any = None
    group_rows: list[int] = field(default_factory=list)  # rows per row group of the whole file
    total_rows: int = 0  # rows in the groups being read
    file_size: int = 0
    rows_done: int = 0

    def bytes_read(self) -> int:
        if not self.total_rows:
            return 0
        return int(self.file_size * min(self.rows_done / self.total_rows, 1.0))


@register_format("parquet")
def read_parquet(src: Source) -> Table:
    return _open(src.name, src.fp)


def open_parquet(path: str | Path, *, row_groups: Sequence[int] | None = None) -> ParquetTable:
    """A Parquet file as a Table, or only some of its row groups (rows numbered as in the whole
    file): a partition of a distributed run reads its own groups with the rules of `open_table`."""
    name = str(path)
    fp = open(path, "rb")
    try:
        return _open(name, fp, row_groups)
    except BaseException:
        fp.close()
        raise


def row_group_sizes(path: str | Path) -> list[int]:
    """The rows of each row group, in file order: what a partitioned run splits the file by."""
    with open_parquet(path) as table:
        return list(table.group_rows)


def _open(name: str, fp: IO[bytes], row_groups: Sequence[int] | None = None) -> ParquetTable:
    pa, pq = _pyarrow(name)
    if not fp.seekable():
        raise InputError(name, "a Parquet file cannot be read from stdin: give its file name")
    try:
        parquet_file = pq.ParquetFile(fp)
        schema = parquet_file.schema_arrow
        metadata = parquet_file.metadata
        group_rows = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    except Exception as exc:  # noqa: BLE001 - pyarrow raises ArrowInvalid, OSError, ... for one cause
        raise InputError(name, f"not a readable Parquet file ({_footer_reason(exc)})") from None
    columns = list(schema.names)
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise InputError(name, f"the file names column {c!r} twice", column=c)
        seen.add(c)
    groups = list(range(len(group_rows)) if row_groups is None else row_groups)
    for g in groups:
        if not 0 <= g < len(group_rows):
            raise InputError(name, f"no row group {g} (the file has {len(group_rows)})")
    starts = [0]
    for n in group_rows:
        starts.append(starts[-1] + n)
    converters = [_reader_converter(pa, f.type) for f in schema]
    last: list[tuple] = [()]
    table: ParquetTable

    def numbered() -> Iterator[Row | BadRow]:
        for group in groups:  # one row group at a time: a damaged one is named with its rows
            number = starts[group]
            batches = parquet_file.iter_batches(batch_size=ROWS_PER_BATCH, row_groups=[group],
                                                use_pandas_metadata=False)
            while True:
                try:
                    batch = next(batches)
                    cells = [convert(batch.column(i)) for i, convert in enumerate(converters)]
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - a damaged page: decompression, decoding, thrift
                    raise InputError(name, f"damaged Parquet data in row group {group + 1} of {len(group_rows)} "
                                           f"(rows {starts[group] + 1:,}-{starts[group + 1]:,}): {_reason(exc)}",
                                     row=number + 1) from None
                for values in zip(*cells):
                    number += 1
                    table.rows_done += 1
                    last[0] = values
                    yield number, dict(zip(columns, values))

    table = ParquetTable(name, "parquet", "utf-8", columns, numbered(), "row", fp,
                         last_raw=lambda: _raw(last[0]), arrow_schema=schema,
                         total_rows=sum(group_rows[g] for g in groups), file_size=_size(fp), group_rows=group_rows)
    return table


def _size(fp: IO[bytes]) -> int:
    try:
        return fp.seek(0, io.SEEK_END)
    finally:
        fp.seek(0)


def _iso(value: Any) -> str:
    return value.isoformat()


def _decoded(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _reader_converter(pa: Any, t: Any) -> Callable[[Any], list[Any]]:
    """How a column of a record batch becomes a list of JSON-like cells."""
    types = pa.types
    value_type = t.value_type if types.is_dictionary(t) else t
    to_micro = _microseconds(pa, value_type)  # Python's datetime stops at microseconds
    each = _cell_converter(pa, value_type)

    def convert(column: Any) -> list[Any]:
        if to_micro is not None:
            if types.is_dictionary(t):
                column = column.dictionary_decode()
            column = column.cast(to_micro, safe=False)  # nanoseconds are cut to microseconds
        values = column.to_pylist()
        if each is None:
            return values
        return [None if v is None else each(v) for v in values]

    return convert


def _microseconds(pa: Any, t: Any) -> Any:
    """The microsecond type to read a nanosecond timestamp, time or duration as; else None."""
    if getattr(t, "unit", None) != "ns":
        return None
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz=t.tz)
    if pa.types.is_time64(t):
        return pa.time64("us")
    if pa.types.is_duration(t):
        return pa.duration("us")
    return None


def _cell_converter(pa: Any, t: Any) -> Callable[[Any], Any] | None:
    """How one Python value (pyarrow's `to_pylist`) becomes a JSON-like cell; None: as it is."""
    types = pa.types
    if types.is_timestamp(t) or types.is_date(t) or types.is_time(t):
        return _iso
    if types.is_decimal(t) or types.is_duration(t) or types.is_interval(t):
        return str
    if types.is_binary(t) or types.is_large_binary(t) or types.is_fixed_size_binary(t) or _is_binary_view(types, t):
        return _decoded
    if types.is_nested(t):
        return _jsonable
    return None


def _is_binary_view(types: Any, t: Any) -> bool:
    check = getattr(types, "is_binary_view", None)
    return bool(check and check(t))


def _jsonable(value: Any) -> Any:
    """A nested value (list, struct, map) with only JSON's kinds of values inside."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):  # a map: (key, value) pairs
            return {str(k): _jsonable(v) for k, v in value}
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return _decoded(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _raw(values: tuple) -> str:
    """A row's cells as one CSV line, for a rejects file."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(["" if v is None else _text_cell(v) for v in values])
    return raw_text(buf.getvalue())


def _footer_reason(exc: Exception) -> str:
    text = str(exc)
    if any(cut in text for cut in ("magic bytes not found", "minimum file footer", "size is 0 bytes")):
        return "no Parquet footer at its end: the file is cut short, or it is not Parquet"
    if "smaller than the size reported by footer" in text:
        return "its footer gives a size larger than the file: the file is cut short or damaged"
    if "thrift" in text.lower():  # pyarrow's words for it vary by version and by the damage
        return "its footer is damaged: the file was changed or cut after it was written"
    return f"its footer is damaged: {_reason(exc)}"


def _reason(exc: Exception) -> str:
    """pyarrow's message, on one line, without trailing punctuation."""
    lines = str(exc).strip().splitlines()
    text = "".join(c for c in lines[0] if c.isprintable()).strip().rstrip(":;,. ") if lines else ""
    return text[:200] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# Writing


class ParquetOutputError(WhylabelError):
    """A value that cannot be written in its column's type."""


def suggestion_types(codebook: Any) -> dict[str, str]:
    """Arrow types of predict's added columns, as the .xlsx output types them: text, floats, 0/1."""
    types = {"reasons": "string", "driver": "string", "confidence": "float64", "needs_review": "int8",
             "evidence": "string"}
    types.update({f"p_{name}": "float64" for name in codebook.reason_names})
    return types


def export_types(codebook: Any) -> dict[str, str]:
    """Arrow types of `whylabel export`'s typed columns (the rest are text)."""
    types = {"item_id": "int64", "rating": "float64", "suggestion_confidence": "float64"}
    types.update({name: "int8" for name in codebook.reason_names})
    return types


def input_types(table: Table, written_names: Sequence[str]) -> dict[str, Any]:
    """The Arrow type of each input column as predict writes it (renamed as `written_names` says):
    a Parquet input's own types where the writer can rebuild them; other inputs' columns are text."""
    schema = getattr(table, "arrow_schema", None)
    if schema is None:
        return {}
    pa, _ = _pyarrow()
    return {name: f.type for name, f in zip(written_names, schema) if _rebuildable(pa, f.type)}


def _rebuildable(pa: Any, t: Any) -> bool:
    """Whether the reader's JSON-like cell of this type converts back to the same type."""
    types = pa.types
    if types.is_dictionary(t):
        return _rebuildable(pa, t.value_type)
    if types.is_nested(t):
        return all(_plain(pa, t.field(i).type) for i in range(t.num_fields)) and not types.is_map(t)
    return _plain(pa, t) or _from_text(pa, t) or _is_binaryish(pa, t)


def _plain(pa: Any, t: Any) -> bool:
    types = pa.types
    if types.is_nested(t):
        return not types.is_map(t) and all(_plain(pa, t.field(i).type) for i in range(t.num_fields))
    return (types.is_boolean(t) or types.is_integer(t) or types.is_floating(t) or types.is_string(t)
            or types.is_large_string(t) or types.is_null(t) or bool(getattr(types, "is_string_view", None)
                                                                     and types.is_string_view(t)))


def _from_text(pa: Any, t: Any) -> bool:
    types = pa.types
    return types.is_timestamp(t) or types.is_date(t) or types.is_decimal(t) or types.is_time(t)


def _is_binaryish(pa: Any, t: Any) -> bool:
    types = pa.types
    return types.is_binary(t) or types.is_large_binary(t)


def arrow_schema(columns: Sequence[str], types: Mapping[str, Any] | None = None) -> Any:
    """The Arrow schema of an output: each column's type from `types` (an Arrow type or its name,
    "int64"), text where it has none. Every writer of one run uses it, so all parts have one schema."""
    pa, _ = _pyarrow()
    types = types or {}
    fields = []
    for c in columns:
        t = types.get(c) or "string"
        fields.append(pa.field(c, pa.type_for_alias(t) if isinstance(t, str) else t))
    return pa.schema(fields)


def record_batch(schema: Any, rows: Sequence[Sequence[Any]], *, name: str = "output") -> Any:
    """Rows of cells in the schema's column order as one Arrow record batch, each value converted
    to its column's type (ISO text back to a timestamp; a list in a text column as JSON). A value
    that does not fit raises ParquetOutputError naming `name` and the column."""
    pa, _ = _pyarrow(name)
    arrays = []
    for i, f in enumerate(schema):
        values = [r[i] if i < len(r) else None for r in rows]
        try:
            arrays.append(_column_builder(pa, f.type)(values))
        except Exception as exc:  # noqa: BLE001 - pyarrow's conversion errors: ArrowInvalid, TypeError, ...
            raise ParquetOutputError(f"{name}: column {f.name!r} cannot be written as {f.type} "
                                     f"({_reason(exc)})") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column_builder(pa: Any, t: Any) -> Callable[[list[Any]], Any]:
    types = pa.types
    if types.is_string(t) or types.is_large_string(t):
        return lambda values: pa.array([v if v is None or type(v) is str else _text_cell(v) for v in values], type=t)
    if types.is_time(t):  # Arrow casts no text to a time of day
        return lambda values: pa.array([None if v is None else _time_of_day(v) for v in values], type=t)
    if _from_text(pa, t) or (types.is_dictionary(t) and _from_text(pa, t.value_type)):
        return lambda values: pa.array([None if v is None else str(v) for v in values], type=pa.string()).cast(t)
    if _is_binaryish(pa, t):
        return lambda values: pa.array([v.encode("utf-8") if type(v) is str else v for v in values], type=t)
    return lambda values: pa.array(values, type=t)


class ParquetWriter:
    """Rows into one Parquet file, in row groups of about `ROWS_PER_GROUP` rows or `BYTES_PER_GROUP`
    bytes (held as compact Arrow batches until written); `close()` writes the footer.

    `write(row)` takes a dict (export: a list cell is joined with ";", as its CSV has it);
    `write_values` / `write_rows` take cells in column order (predict: a list or object cell in a
    text column is JSON, as its CSV has it).
    """

    format = "parquet"
    delimiter = None  # no CSV record is ever copied into a Parquet file

    def __init__(self, stream: IO[bytes], columns: Sequence[str], *, types: Mapping[str, Any] | None = None,
                 name: str = "output", rows_per_group: int = ROWS_PER_GROUP, bytes_per_group: int = BYTES_PER_GROUP):
        pa, pq = _pyarrow(name)
        self._pa = pa
        self.name = name
        self.columns = list(columns)
        self.schema = arrow_schema(self.columns, types)
        self.rows_per_group = max(1, rows_per_group)
        self.bytes_per_group = bytes_per_group
        self._pending: list[Sequence[Any]] = []  # rows not yet converted to Arrow
        self._batches: list[Any] = []  # converted, not yet written: one row group's worth at most
        self._batched_rows = self._batched_bytes = 0
        self.rows = 0
        self._writer = pq.ParquetWriter(_Position(stream), self.schema)

    def write(self, row: Mapping[str, Any]) -> None:
        self._add([_joined(row.get(c)) for c in self.columns])

    def write_values(self, values: Sequence[Any]) -> None:
        self._add(list(values))

    def write_rows(self, rows: Sequence[Sequence[Any]], added: Sequence[Sequence[Any]]) -> None:
        """Rows of input cells, each followed by its `added` cells (the batch face of TableWriter)."""
        pending = self._pending
        for cells, more in zip(rows, added):
            pending.append([*cells, *more])
            if len(pending) >= ROWS_PER_CONVERSION:
                self._convert()
                pending = self._pending
        self._convert()

    def _add(self, values: list[Any]) -> None:
        self._pending.append(values)
        if len(self._pending) >= ROWS_PER_CONVERSION:
            self._convert()

    def _convert(self) -> None:
        """Pending rows to an Arrow batch (compact: a Python row of cells takes several times more);
        a row group is written once it holds `rows_per_group` rows or `bytes_per_group` bytes."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        self.rows += len(rows)
        if not self.columns:
            return
        batch = record_batch(self.schema, rows, name=self.name)
        self._batches.append(batch)
        self._batched_rows += batch.num_rows
        self._batched_bytes += batch.nbytes
        if self._batched_rows >= self.rows_per_group or self._batched_bytes >= self.bytes_per_group:
            self._write_group()

    def _write_group(self) -> None:
        if self._batches:
            group = self._pa.Table.from_batches(self._batches, schema=self.schema)
            self._batches, self._batched_rows, self._batched_bytes = [], 0, 0
            self._writer.write_table(group, row_group_size=max(group.num_rows, 1))

    def _flush(self) -> None:
        self._convert()
        self._write_group()

    def close(self) -> None:
        """Write what is pending and the footer: the file is complete."""
        try:
            self._flush()
        except BaseException:
            self.discard()
            raise
        self._writer.close()

    def discard(self) -> None:
        """A run that failed: drop the pending rows and let go of the file (its temporary file is removed)."""
        self._pending, self._batches = [], []
        try:
            self._writer.close()
        except Exception:  # noqa: BLE001 - the output is thrown away anyway
            pass


class _Position:
    """A write-only stream that knows its position: pyarrow asks for it, and a pipe cannot tell."""

    def __init__(self, stream: IO[bytes]):
        self._stream = stream
        self._written = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self._stream.write(data)
        self._written += len(data)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        self._stream.flush()

    def close(self) -> None:
        self.closed = True  # the stream's owner (safefile.output) closes it

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


def _time_of_day(value: Any) -> Any:
    import datetime as dt

    return dt.time.fromisoformat(value) if type(value) is str else value


def _text_cell(value: Any) -> str:
    """A value in a text column as predict's CSV output holds it (JSON for a list or an object)."""
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _joined(value: Any) -> Any:
    """A list cell as export's CSV has it: its items joined with ";"."""
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return value


__all__ = [
    "PARQUET_EXTENSIONS", "PARQUET_MAGIC", "ParquetOutputError", "ParquetTable", "ParquetWriter", "arrow_schema",
    "export_types",
    "input_types", "is_parquet", "open_parquet", "read_parquet", "record_batch", "require_pyarrow", "row_group_sizes",
    "suggestion_types",
]
