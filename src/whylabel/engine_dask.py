"""`whylabel predict --engine dask`: the local engine's labeling, run partition by partition on a Dask cluster.

Contract: `predict_dask(source, codebook, out=..., scheduler=None, workers=N)` gives the same rows,
values, summary and rejects file as `whylabel.batch.predict` on the same input.
- Where it runs: without `scheduler`, a `distributed.LocalCluster` of N single-threaded worker
  processes (closed on exit or Ctrl-C); with it, an existing cluster, reached within
  `connect_timeout` seconds or refused in one line. The input path (and a model file, if named)
  must be readable at the same path on every worker.
- Partitions: CSV, TSV and JSON lines are cut into byte ranges at line ends; Parquet by data rows
  (a worker reads the row groups that hold its rows); anything else (a JSON array, an .xlsx workbook, UTF-16/32 text) is one partition. Each
  worker reads its range with whylabel's own reader (the encoding, separator and column mapping
  judged on the whole file by the client), so bad rows are found and described exactly as
  locally. A CSV cut is put where the quotes seen since the start are balanced; a worker checks
  that its range ended between records (a quoted line break crossing the cut otherwise). After a
  range that did not, the client cuts the rest of the file again by parsing it with the csv
  module as the reader does (exact, one pass); a range that still fails is read again joined to
  the next one. Multi-line quoted cells are always safe.
- The model is loaded once per worker (a WorkerPlugin holding a `Labeler`); tasks carry only the
  partition's address and the run's small settings.
- Output: the client writes each partition in input order to one file of any format (CSV and
  JSON lines come formatted by the workers with the local writer's TableWriter; other formats as
  cells through the local writer); with `partitioned`, workers write one Parquet file per partition into a
  directory that appears (renamed from a temporary one) only when all are written.
This module imports dask only when called; it never imports click or Textual.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .batch import (
    DEFAULT_CHUNK_SIZE, DEFAULT_MIN_CONFIDENCE, OUTPUT_FORMATS, REJECT_COLUMNS, Labeler, LabelerSpec,
    PredictSummary, Progress, _langs, _Run, default_rejects_path, output_columns, output_delimiter, output_types,
)
from .codebook import Codebook, load_codebook
from .errors import InputError, WhylabelError
from .export import TableWriter, atomic_output, format_from_name, neutralise, open_writer
from .ingest import RowOptions, guess_columns
from .io import STDIN, BadRow, open_table
from .io.table import FORMATS, Replaced, Source

DEFAULT_CONNECT_TIMEOUT = 10.0
# Bytes per partition: large enough that a task's overhead (~1 ms) is nothing next to labeling it,
# small enough that each worker gets several and holds little (finished partitions wait on their
# worker until the client appends them in order).
MIN_PARTITION_BYTES = 1 << 20
MAX_PARTITION_BYTES = 16 << 20
MIN_PARTITION_ROWS = 10_000  # Parquet: rows per partition (cut inside a row group where needed)
MAX_PARTITION_ROWS = 200_000
PARTITIONS_PER_WORKER = 8  # several per worker: the last ones to finish leave little idle time
IN_FLIGHT_PER_WORKER = 3  # partitions queued per worker before the client waits for the oldest
_SPLITTABLE = ("utf-8", "utf-8-sig", "cp1252")  # a "\n" byte is a line feed and nothing else
_CSV_END = "__whylabel_partition_end__"
_JSONL_END = '{"__whylabel_partition_end__": 1}'


class EngineError(WhylabelError):
    """The Dask engine cannot run as asked: no scheduler answers, or workers load another model."""


def require_dask() -> None:
    """One line saying what to install when dask.distributed is missing (whylabel.extras)."""
    from .extras import require

    require("dask", what="--engine dask")
    require("distributed", what="--engine dask")


# ---------------------------------------------------------------------------------------------
# The plan: what each task reads.


@dataclass(frozen=True)
class Part:
    """One partition: a byte range [start, end) of a text file, the data rows (start, end] of a
    Parquet file, or the whole file (end -1)."""

    index: int
    start: int
    end: int
    last: bool


@dataclass
class Job:
    """The run's settings every task needs: small and picklable."""

    path: str
    format: str
    encoding: str
    columns: list[str]
    cols: Any  # ingest.ColumnMap
    opts: RowOptions
    header: bytes  # a CSV file's header record (or a JSON-lines stand-in), put before every later range
    out_format: str
    out_delimiter: str  # the separator the output is written with
    write_delimiter: str | None  # what the client's writer was given (None: its default)
    excel: bool
    chunk_size: int
    redact: bool
    replaced_bytes: int
    plugin: str
    sheet: str | None = None
    partitioned_dir: str | None = None
    out_header: list[str] = field(default_factory=list)
    out_types: dict[str, Any] | None = None  # Parquet output's column types


@dataclass
class PartResult:
    """What a task sends back: the rows to write (unless written by the worker), the rejects with
    row numbers local to the range, the counts, and whether the range ended between records."""

    index: int
    clean: bool
    records: int  # rows (CSV) or lines (JSON lines) in the range, as the reader numbers them
    text: bytes | None = None  # CSV or JSON lines (UTF-8), formatted as the client's writer would
    cells: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    rejects: list = field(default_factory=list)  # (local number, reason, raw)
    rows_read: int = 0
    needs_review: int = 0
    reason_counts: list[int] = field(default_factory=list)
    surrogates: int = 0
    local_numbers: bool = True  # rejects numbered within the range (False: in the whole file)
    redacted: dict[str, int] | None = None
    written_file: str | None = None  # the file a worker wrote into the partitioned run's directory


def plan_text_parts(path: str, fmt: str, encoding: str, header_end: int, partition_bytes: int) -> list[Part]:
    """Byte ranges cut at line ends; for CSV/TSV at a line end where the quotes seen since the start
    of the file are balanced (always a record end in a well-formed file; the workers check)."""
    size = os.path.getsize(path)
    if encoding not in _SPLITTABLE or size - header_end <= partition_bytes:
        return [Part(0, 0, size, True)]
    quoted = fmt in ("csv", "tsv")
    cuts = [0]
    with open(path, "rb") as f:
        quotes = 0  # quotes in [0, scanned)
        scanned = 0
        target = header_end + partition_bytes
        while target < size:
            if quoted:
                quotes += _count_quotes(f, scanned, target)
            scanned = target
            f.seek(target)
            cut = _next_cut(f, target, quotes if quoted else None)
            if cut is None or cut >= size:
                break
            if quoted:
                quotes += _count_quotes(f, target, cut)
            scanned = cut
            cuts.append(cut)
            target = cut + partition_bytes
    cuts.append(size)
    return [Part(i, a, b, i == len(cuts) - 2) for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]


def _count_quotes(f: Any, start: int, end: int) -> int:
    f.seek(start)
    n, left = 0, end - start
    while left > 0:
        block = f.read(min(left, 1 << 22))
        if not block:
            break
        n += block.count(b'"')
        left -= len(block)
    return n


def _next_cut(f: Any, pos: int, quotes: int | None) -> int | None:
    """The offset just after the first line feed at or after `pos` (with balanced quotes, if counted)."""
    odd = bool(quotes and quotes % 2)
    while True:
        block = f.read(1 << 16)
        if not block:
            return None
        start = 0
        while True:
            nl = block.find(b"\n", start)
            if nl < 0:
                if quotes is not None:
                    odd ^= bool(block.count(b'"', start) % 2)
                pos += len(block)
                break
            if quotes is not None:
                odd ^= bool(block.count(b'"', start, nl) % 2)
            if not odd:
                return pos + nl + 1
            start = nl + 1


def exact_csv_parts(path: str, encoding: str, delimiter: str, start: int, partition_bytes: int,
                    first_index: int) -> list[Part]:
    """Cuts from `start` (a record boundary) found by parsing as the reader parses (the csv module,
    the same dialect and lines): exact whatever the quotes, at the price of one pass of the csv
    module over the rest of the file in the client. Used once a quote count proved wrong."""
    import csv

    from .io.formats import FIELD_LIMIT

    size = os.path.getsize(path)
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    offset = [start]

    def lines() -> Iterator[str]:
        with open(path, "rb") as f:
            f.seek(start)
            for raw in f:  # up to each "\n"; split at a lone "\r" too, as the reader's text stream does
                for line in raw.splitlines(keepends=True):
                    offset[0] += len(line)
                    yield line.decode(encoding, errors="replace")

    reader = csv.reader(lines(), Dialect)
    cuts, target = [start], start + partition_bytes
    while True:
        try:
            next(reader)
        except StopIteration:
            break
        except csv.Error:  # the reader rejects the row and reads on from the next line, as here
            pass
        if offset[0] >= target and offset[0] < size:
            cuts.append(offset[0])
            target = offset[0] + partition_bytes
    cuts.append(size)
    return [Part(first_index + i, a, b, i == len(cuts) - 2) for i, (a, b) in enumerate(zip(cuts, cuts[1:]))]


def csv_header_end(path: str, encoding: str, delimiter: str) -> int:
    """Bytes of the header record (with a BOM), read as the csv module reads it."""
    import csv

    with open(path, "rb") as f:
        head = f.read(1 << 20)
    lines = head.splitlines(keepends=True)
    used = [0]

    def feed() -> Iterator[str]:
        for line in lines:
            used[0] += len(line)
            yield line.decode(encoding, errors="replace")

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    with contextlib.suppress(csv.Error, StopIteration):
        next(csv.reader(feed(), Dialect))
    return used[0]


# ---------------------------------------------------------------------------------------------
# The worker side.


def _plugin_class() -> type:
    from distributed.diagnostics.plugin import WorkerPlugin

    class LabelerPlugin(WorkerPlugin):
        """Loads the codebook and the model once per worker, when the worker joins the run."""

        def __init__(self, spec: LabelerSpec, name: str):
            self.spec = spec
            self.name = name
            self.labeler: Labeler | None = None

        def setup(self, worker: Any) -> None:
            with contextlib.suppress(ImportError):  # one BLAS thread per worker: the workers are the parallelism
                from threadpoolctl import threadpool_limits

                threadpool_limits(1)
            codebook = load_codebook(self.spec.codebook_path)
            self.labeler = Labeler(codebook, self.spec.load_suggester(codebook), self.spec)
            self.labeler.warm()  # spaCy's pipelines and the feature tables, before the first task

    return LabelerPlugin


class _Collected:
    """Stands in for the output writer inside a task. CSV and JSON lines are formatted here by the
    local engine's TableWriter into one text that the client appends to its file (the client then
    does next to nothing per row); other formats keep the cells for the client's writer."""

    def __init__(self, job: Job):
        self.format, self.delimiter = job.out_format, job.out_delimiter
        self.cells: list = []
        self.rows: list = []
        self.text: _Utf8Pieces | None = None
        if job.out_format in ("csv", "jsonl") and job.partitioned_dir is None:
            self.text = _Utf8Pieces()
            self._writer = TableWriter(self.text, job.out_header, format=job.out_format, excel=job.excel,  # type: ignore[arg-type]
                                       delimiter=job.write_delimiter)
            self._skip = len(self.text.pieces)  # the header (and BOM) that the client's writer wrote already

    def write_rows(self, cells: list, rows: list) -> None:
        if self.text is not None:
            self._writer.write_rows(cells, rows)
        else:
            self.cells.extend(cells)
            self.rows.extend(rows)

    def body(self) -> bytes | None:
        return None if self.text is None else b"".join(self.text.pieces[self._skip:])


class _Utf8Pieces:
    """A text stream kept as UTF-8 bytes: a quarter of what a str holds once one character is
    beyond Latin-1, for the partitions that wait on a worker and the bytes sent to the client."""

    def __init__(self) -> None:
        self.pieces: list[bytes] = []

    def write(self, text: str) -> int:
        self.pieces.append(text.encode("utf-8", "surrogatepass"))
        return len(text)


class _PartRun(_Run):
    """The local engine's row loop over one range; bad rows are kept for the client to number."""

    def __init__(self, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self.bad: list[tuple[int, str, str]] = []

    def reject(self, bad: BadRow) -> None:
        raw = self.redactor.text(bad.raw) if self.redactor is not None else bad.raw
        self.bad.append((bad.number, bad.reason, raw))


def label_part(part: Part, job: Job) -> PartResult:
    """Runs on a worker: read one partition with whylabel's reader, label it, return or write it."""
    from distributed import get_worker

    labeler: Labeler = get_worker().plugins[job.plugin].labeler
    redactor = None
    if job.redact:
        from .redact import Redactor

        redactor = Redactor()
    result = PartResult(part.index, clean=True, records=0)
    with contextlib.ExitStack() as stack:
        table, end_of_range = _open_part(part, job, stack)
        table.columns = job.columns
        summary = PredictSummary(input=job.path, output=None, rejects=None)
        collected = _Collected(job)
        run = _PartRun(table, job.cols, labeler.codebook, job.opts, summary, stack=stack, writer=collected,
                       strict=False, chunk_size=job.chunk_size, progress=None, store=None, redactor=redactor)
        counts = [0] * (len(labeler.names) + 1)
        for chunk in run.chunks():
            rows, review, chunk_counts, _ = labeler.label(chunk.texts, _langs(chunk.langs))
            collected.write_rows(chunk.cells, rows)
            result.needs_review += review
            for i, c in enumerate(chunk_counts):
                counts[i] += c
        result.clean, result.records = end_of_range()
        result.local_numbers = part.end >= 0 and job.format != "parquet"
        result.rejects = run.bad
        result.rows_read = summary.rows_read
        result.reason_counts = counts
        result.surrogates = table.replaced.surrogates
        if redactor is not None:
            result.redacted = dict(redactor.counts)
        if job.partitioned_dir is not None:
            if result.clean:  # a range read again joined to the next is written then
                result.written_file = _write_part(job, part.index, collected)
        else:
            result.cells, result.rows, result.text = collected.cells, collected.rows, collected.body()
    return result


def _open_part(part: Part, job: Job, stack: contextlib.ExitStack) -> tuple[Any, Callable[[], tuple[bool, int]]]:
    """The partition as a Table, and a function telling (ended between records, records in the range)
    once its rows are read."""
    if job.format == "parquet":
        return _open_parquet_part(part, job, stack), lambda: (True, 0)
    if part.end < 0:  # the whole file, as the local engine opens it (its row numbers are the file's)
        table = stack.enter_context(open_table(job.path, format=job.format, bad_rows="collect", sheet=job.sheet))
        return table, lambda: (True, 0)
    with open(job.path, "rb") as f:
        f.seek(part.start)
        data = f.read(part.end - part.start)
    jsonl = job.format == "jsonl"
    prefix = job.header if part.start > 0 else b""
    # Numbers as the reader gives them: CSV rows from 2 (the header is row 1), JSON lines from 1,
    # one more after a JSON-lines stand-in header.
    base = (2 if not jsonl else 1 + bool(prefix))
    suffix = b""
    if not part.last:
        suffix = ((_JSONL_END if jsonl else _CSV_END) + "\n").encode(job.encoding.replace("-sig", ""))
    fp = io.BytesIO(prefix + data + suffix)
    # "utf-8-sig" reads a BOM where there is one (the file's start, a CSV header) and none elsewhere.
    source = Source(job.path, job.format, fp, job.encoding, "", False, collect=True,
                    counts=Replaced(bytes=job.replaced_bytes))
    if not jsonl:  # what the separator is judged by: the header line
        source.head = (job.header or data[:65536]).decode(job.encoding, errors="replace")
    table = FORMATS[job.format](source)
    rows = table.rows
    state = {"clean": part.last, "records": 0}

    def ranged() -> Iterator:
        """The range's rows numbered from 1 (the client adds the rows before it); stops at the end mark."""
        for item in rows:
            if isinstance(item, BadRow):
                yield BadRow(item.number - base + 1, item.reason, item.raw, item.column)
                continue
            number, row = item
            if number < base:
                continue  # the JSON-lines stand-in header
            if not part.last and _is_end(row, jsonl):
                state["clean"], state["records"] = True, number - base
                return
            yield number - base + 1, row

    table.rows = ranged()
    return table, lambda: (state["clean"], state["records"])


def _is_end(row: dict, jsonl: bool) -> bool:
    if jsonl:
        return row == {"__whylabel_partition_end__": 1}
    return len(row) >= 1 and next(iter(row.values())) == _CSV_END and all(v == _CSV_END for v in row.values())


def _open_parquet_part(part: Part, job: Job, stack: contextlib.ExitStack) -> Any:
    """Data rows (start, end] of a Parquet file, numbered as in the whole file: the row groups that
    hold them are read, the rows outside the range skipped (a row group is decoded whole)."""
    from .io.parquet import open_parquet, row_group_sizes

    groups, first = [], 0
    for g, n in enumerate(row_group_sizes(job.path)):
        if first < part.end and first + n > part.start:
            groups.append(g)
        first += n
    table = stack.enter_context(open_parquet(job.path, row_groups=groups))
    rows = table.rows

    def in_range() -> Iterator:
        for item in rows:
            number = item.number if isinstance(item, BadRow) else item[0]
            if number > part.end:
                return
            if number > part.start:
                yield item

    table.rows = in_range()
    return table


def _write_part(job: Job, index: int, collected: _Collected) -> str:
    """A uniquely named file (a range may be labeled twice); the client names the kept ones in order."""
    assert job.partitioned_dir is not None
    name = f"part-{index:05d}-{uuid.uuid4().hex[:8]}.parquet"
    with open_writer(os.path.join(job.partitioned_dir, name), job.out_header, format="parquet",
                     types=job.out_types) as writer:
        writer.write_rows(collected.cells, collected.rows)
    return name


# ---------------------------------------------------------------------------------------------
# The client side.


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> Iterator[Any]:
    """A Client on a new LocalCluster of `workers` single-threaded processes (quiet, no dashboard),
    or on the cluster at `scheduler`; both closed on the way out, Ctrl-C included."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError):
            raise EngineError(f"cannot reach the Dask scheduler at {scheduler} within {connect_timeout:g} s: "
                              "is `dask scheduler` running there, and the address right?") from None
        with contextlib.closing(client):
            yield client
        return
    # No dashboard; the scheduler's small HTTP server (health checks) on a free local port, so a
    # second run or a cluster already on :8787 draws no warning.
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield client


def predict_dask(
    source: str,
    codebook: Codebook,
    *,
    out: str,
    out_format: str | None = None,
    excel: bool = False,
    rejects: str | None = None,
    columns: dict[str, str | None] | None = None,
    options: RowOptions | None = None,
    input_format: str | None = None,
    model: str | None = None,
    models_dir: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    partitioned: bool = False,
    partition_bytes: int | None = None,
    partition_rows: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    strict: bool = False,
    progress: Progress | None = None,
    fast: bool = False,
    redact: bool = False,
    sheet: str | None = None,
    client: Any = None,
) -> PredictSummary:
    """Label `source` into `out` on a Dask cluster; see the module contract. `client`: an existing
    distributed.Client to use (tests share one), else one is made from `scheduler`/`workers`."""
    require_dask()
    if source == STDIN:
        raise InputError("<stdin>", "--engine dask reads a file, not stdin (workers read their own partitions)")
    if not 0.5 <= min_confidence <= 1.0:
        raise InputError(source, f"--min-confidence must be between 0.5 and 1 (got {min_confidence})")
    if partitioned:
        out_format = "parquet"
    out_format = (out_format or format_from_name(out)).lower()
    if out_format not in OUTPUT_FORMATS:
        raise InputError(str(out), f"unknown output format {out_format!r} (expected {', '.join(OUTPUT_FORMATS)})")
    if out_format == "parquet":
        from .io.parquet import require_pyarrow

        require_pyarrow(str(out))
    if excel and out_format != "csv":
        raise InputError(str(out), "--excel applies to CSV output only")
    if out == "-" and partitioned:
        raise InputError("-", "--partitioned writes a directory of Parquet files: name it with -o DIR")
    opts = options or RowOptions()
    started = time.perf_counter()

    # Whole-input checks first, as the local engine makes them: nothing is written before they pass.
    table = open_table(source, format=input_format, bad_rows="collect", sheet=sheet)
    with contextlib.closing(table):
        cols = guess_columns(table, columns)
        fmt, encoding, delimiter = table.format, table.encoding, table.delimiter
        input_columns = list(table.columns)
        row_label = table.row_label
        replaced_bytes = table.replaced.bytes
    spec = LabelerSpec(
        # Absolute paths: workers started elsewhere look where the client looked (./models included).
        codebook_path=_absolute(codebook.path), model=_absolute(model),
        models_dir=str(Path(models_dir if models_dir is not None else "models").resolve()),
        min_confidence=min_confidence, csv_cells=out_format == "csv", reasons_as_text=out_format in ("xlsx", "parquet"),
        fast=fast,
    )
    header, written_input = output_columns(input_columns, codebook)
    types = output_types(table, written_input, codebook, out_format)
    path = str(Path(source).resolve())

    with contextlib.ExitStack() as stack:
        # The client loads the model too, while the cluster starts: a foreign or mismatched model
        # stops the run before any output, and its id goes in the summary.
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="whylabel-model-check"))
        checked = pool.submit(lambda: getattr(spec.load_suggester(codebook), "model_id", "unknown"))
        if client is None:
            client = stack.enter_context(dask_client(scheduler, workers or os.cpu_count() or 1, connect_timeout))
        model_id = checked.result()
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        parts, job_header = _plan(path, fmt, encoding, delimiter, input_columns, n_workers, partition_bytes,
                                  partition_rows)
        plugin = _register(client, spec)
        _check_workers_model(client, plugin, model_id)
        summary = PredictSummary(
            input=source, output=out, rejects=rejects or default_rejects_path(out, source), format=fmt,
            encoding=encoding, columns=cols.named(), model_id=model_id, workers=n_workers,
            min_confidence=min_confidence, engine="dask",
        )
        write_delimiter = output_delimiter(table, out)
        job = Job(path=path, format=fmt, encoding=encoding, columns=input_columns, cols=cols, opts=opts,
                  header=job_header, out_format=out_format,
                  out_delimiter=";" if excel else (write_delimiter or ","), write_delimiter=write_delimiter,
                  excel=excel, chunk_size=chunk_size, redact=redact,
                  replaced_bytes=replaced_bytes, plugin=plugin, sheet=sheet, out_header=header, out_types=types)
        writer = None
        if partitioned:
            final_dir = Path(out)
            if final_dir.exists() and not final_dir.is_dir():
                raise InputError(out, "--partitioned writes a directory, and this is a file")
            # Workers write into one hidden directory; the parts kept move, named in input order,
            # into a second, which then takes OUT's place: a straggler never writes into OUT.
            work_dir, temp_dir = (final_dir.with_name(f".{final_dir.name}.{uuid.uuid4().hex[:8]}.{what}")
                                  for what in ("work", "part"))
            for d in (work_dir, temp_dir):
                d.mkdir()  # beside OUT, in a folder that exists (whylabel creates no folders)
                stack.callback(shutil.rmtree, d, True)
            job.partitioned_dir = str(work_dir.resolve())
            kept: list[str] = []
        else:
            writer = stack.enter_context(open_writer(out, header, format=out_format, excel=excel, title="predicted",
                                                     delimiter=write_delimiter, types=types))
        rejects_out = _Rejects(summary, stack, strict=strict, path=source, row_label=row_label)
        totals = _Totals(codebook)
        replan = None
        if fmt in ("csv", "tsv") and len(parts) > 1:
            every = partition_bytes or default_partition_bytes(os.path.getsize(path), n_workers)

            def replan(part: Part) -> list[Part]:
                return exact_csv_parts(path, encoding, delimiter or ",", part.start, every, part.index)

        for result, first_number in _results_in_order(client, parts, job, n_workers, progress, replan):
            rejects_out.add(result, first_number)
            totals.add(result)
            if result.text is not None:
                writer.stream.write(result.text.decode("utf-8", "surrogatepass"))
            elif writer is not None:
                writer.write_rows(result.cells, result.rows)
            elif result.written_file:
                kept.append(result.written_file)
        rejects_out.finish()
        if partitioned:
            for i, name in enumerate(kept):
                (work_dir / name).rename(temp_dir / f"part-{i:05d}.parquet")
            _publish(temp_dir, final_dir)
    summary.rows_read = totals.rows_read
    summary.needs_review = totals.needs_review
    summary.reasons = dict(zip((*codebook.reason_names, "none"), totals.reason_counts))
    summary.labeled = summary.rows_read - summary.rejected - summary.needs_review
    summary.replaced_bytes, summary.replaced_surrogates = replaced_bytes, totals.surrogates
    if redact:
        summary.redacted = totals.redacted
    summary.elapsed_s = time.perf_counter() - started
    summary.rows_per_s = summary.rows_read / summary.elapsed_s if summary.elapsed_s else 0.0
    return summary


def _absolute(path: str | None) -> str | None:
    """A path as workers started elsewhere find it; a model's name (not a path) stays a name."""
    if path and os.path.exists(path):
        return str(Path(path).resolve())
    return path


def _plan(path: str, fmt: str, encoding: str, delimiter: str | None, columns: list[str], n_workers: int,
          partition_bytes: int | None, partition_rows: int | None = None) -> tuple[list[Part], bytes]:
    if fmt == "parquet":
        from .io.parquet import row_group_sizes

        total = sum(row_group_sizes(path))
        if partition_rows is None:
            partition_rows = min(MAX_PARTITION_ROWS,
                                 max(MIN_PARTITION_ROWS, -(-total // (n_workers * PARTITIONS_PER_WORKER))))
        bounds = [*range(0, total, partition_rows), total] if total else [0, 0]
        return [Part(i, a, b, i == len(bounds) - 2) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))], b""
    if fmt not in ("csv", "tsv", "jsonl"):
        return [Part(0, 0, -1, True)], b""
    partition_bytes = partition_bytes or default_partition_bytes(os.path.getsize(path), n_workers)
    if fmt == "jsonl":
        import json

        header_end, job_header = 0, (json.dumps(dict.fromkeys(columns)) + "\n").encode(encoding.replace("-sig", ""))
    else:
        header_end = csv_header_end(path, encoding, delimiter or ",")
        with open(path, "rb") as f:
            job_header = f.read(header_end)
    return plan_text_parts(path, fmt, encoding, header_end, partition_bytes), job_header


def default_partition_bytes(size: int, n_workers: int) -> int:
    return min(MAX_PARTITION_BYTES, max(MIN_PARTITION_BYTES, size // (n_workers * PARTITIONS_PER_WORKER)))


def _register(client: Any, spec: LabelerSpec) -> str:
    """The model plugin, once per worker; named by the spec, so a run with other settings loads its own."""
    name = "whylabel-labeler-" + hashlib.sha256(repr(spec).encode()).hexdigest()[:12]
    plugin = _plugin_class()(spec, name)
    register = getattr(client, "register_plugin", None) or client.register_worker_plugin
    register(plugin, name=name)
    return name


def _model_id_here(plugin: str, dask_worker: Any = None) -> str:
    """Runs on each worker (client.run): the model its plugin loaded."""
    return dask_worker.plugins[plugin].labeler.model_id


def _check_workers_model(client: Any, plugin: str, model_id: str) -> None:
    """Every worker must label with the model the client checked, or the output would mix models."""
    for address, got in client.run(_model_id_here, plugin).items():
        if got != model_id:
            raise EngineError(f"the Dask worker at {address} loaded model {got}, not {model_id}: give --model a path "
                              "that every worker reads at the same place (shared storage)")


def _results_in_order(client: Any, parts: list[Part], job: Job, n_workers: int, progress: Progress | None,
                      replan: Callable[[Part], list[Part]] | None = None) -> Iterator[tuple[PartResult, int]]:
    """Each partition's result in input order, with the number its first row has in the whole file.
    A range that did not end between records (a stray quote misled the quote count) has the rest of
    the file cut again by `replan` (once), else is read again joined to the next range."""
    window = max(2, IN_FLIGHT_PER_WORKER * n_workers)
    futures: dict[int, Any] = {}
    submitted = 0
    first_number = 1 if job.format == "jsonl" else 2
    rows_done = 0
    total = sum(max(p.end - p.start, 1) for p in parts)
    finished_before = 0  # size of the partitions already yielded

    def submit_upto(limit: int) -> None:
        nonlocal submitted
        while submitted < min(limit, len(parts)):
            futures[submitted] = client.submit(label_part, parts[submitted], job, pure=False)
            submitted += 1

    def result_of(fut: Any, size: int) -> PartResult:
        """Waits for one future; meanwhile the bar shows the share of the input the cluster has done."""
        while True:
            try:
                result = fut.result(timeout=0.25)
            except TimeoutError:
                result = None
            if progress:
                done = finished_before + sum(max(parts[i].end - parts[i].start, 1)
                                             for i, f in futures.items() if f.done())
                progress(rows_done, min((done + (size if result is not None else 0)) / total, 1.0))
            if result is not None:
                return result

    try:
        submit_upto(window)
        index = 0
        while index < len(parts):
            part = parts[index]
            result = result_of(futures.pop(index), max(part.end - part.start, 1))
            if not result.clean and replan is not None:
                for later_index in [i for i in futures if i > index]:
                    futures.pop(later_index).cancel()
                parts[index:] = replan(part)
                replan = None
                submitted = index
                total = finished_before + sum(max(p.end - p.start, 1) for p in parts[index:])
                submit_upto(index + window)
                continue
            while not result.clean:
                # A quoted line break crossed the cut: read this range and the next as one.
                index += 1
                later = futures.pop(index, None)
                if later is not None:
                    later.cancel()
                submitted = max(submitted, index + 1)
                part = parts[index] = Part(part.index, part.start, parts[index].end, parts[index].last)
                futures[index] = client.submit(label_part, part, job, pure=False)
                result = result_of(futures.pop(index), max(part.end - part.start, 1))
            yield result, first_number
            first_number += result.records
            rows_done += result.rows_read
            finished_before += max(part.end - part.start, 1)
            index += 1
            submit_upto(index + window)
        if progress:
            progress(rows_done, 1.0)
    finally:
        for fut in futures.values():
            fut.cancel()


class _Rejects:
    """The rejects file as the local engine writes it: numbered in the whole file, always (re)written."""

    def __init__(self, summary: PredictSummary, stack: contextlib.ExitStack, *, strict: bool, path: str,
                 row_label: str):
        self.summary, self.stack, self.strict = summary, stack, strict
        self.path, self.row_label = path, row_label
        self.writer: TableWriter | None = None

    def add(self, result: PartResult, first_number: int) -> None:
        for number, reason, raw in result.rejects:
            if result.local_numbers:
                number += first_number - 1
            if self.strict:
                raise InputError(self.path, reason, row=number, row_label=self.row_label)
            self.summary.reject(reason)
            if self.writer is None:
                self._open()
            assert self.writer is not None
            self.writer.write_values([number, neutralise(reason), neutralise(raw)])

    def _open(self) -> None:
        stream = self.stack.enter_context(atomic_output(self.summary.rejects))
        self.writer = TableWriter(stream, REJECT_COLUMNS)

    def finish(self) -> None:
        if self.writer is None and self.summary.output not in (None, "-"):
            self._open()


class _Totals:
    def __init__(self, codebook: Codebook):
        self.rows_read = self.needs_review = self.surrogates = 0
        self.reason_counts = [0] * (len(codebook.reason_names) + 1)
        self.redacted: dict[str, int] = {}

    def add(self, r: PartResult) -> None:
        self.rows_read += r.rows_read
        self.needs_review += r.needs_review
        self.surrogates += r.surrogates
        for i, c in enumerate(r.reason_counts):
            self.reason_counts[i] += c
        for k, v in (r.redacted or {}).items():
            self.redacted[k] = self.redacted.get(k, 0) + v


def _publish(temp_dir: Path, final_dir: Path) -> None:
    """The finished directory takes the place of any earlier one in one rename."""
    if final_dir.exists():
        old = final_dir.with_name(f".{final_dir.name}.{uuid.uuid4().hex[:8]}.old")
        final_dir.rename(old)
        temp_dir.rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
    else:
        temp_dir.rename(final_dir)


__all__ = ["EngineError", "dask_client", "predict_dask", "require_dask"]
