"""Batch auto-labeling of large exports: streaming, parallel, honest about what it is unsure of.

Contract: `predict(source, codebook, out=...)` reads an export (CSV, TSV, JSON, JSONL, .xlsx,
Parquet; "-" is stdin) in chunks, labels the texts with a suggester that each worker process loads once, and
writes every input column plus the suggestion columns (`output_columns`), in input order; CSV
output keeps the input's separator (in UTF-8; `excel=True`: `;` with a BOM); Parquet output keeps
a Parquet input's column types (`output_types`).
- A bad row (no text, undecodable, broken JSON, extra fields) goes to the rejects file (row,
  reason, raw content) and is counted; `strict=True` raises `InputError` naming its row instead.
  Rows are numbered as `whylabel import` numbers them (whylabel.io: spreadsheet rows, JSONL lines).
- An input that is not a table, or a model that does not fit the codebook, raises before any
  output exists. OUT and the rejects file appear only complete (temp file + rename); with a store,
  the rows and their suggestions are one transaction.
- Memory is bounded by the chunks in flight (4 per worker), not by the input size.
- Where the rows go (the output is the same bytes on every path): one worker labels in-process;
  with more, a CSV/TSV file (UTF-8 or Windows-1252) to a CSV output takes the block path: the
  parent cuts the file into ~1 MiB blocks at record boundaries (`whylabel.io.formats.csv_blocks`,
  no parsing), each worker reads, labels and formats a block as the in-process path would, and the
  parent writes the text back in order and numbers the rejects; anything else (stdin, JSON,
  .xlsx, a store, redaction) goes row by row through the parent, the workers getting texts and
  sending back cells.
This module never imports click or Textual; spaCy and scikit-learn load with the suggester.
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import multiprocessing
import os
import re
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from .codebook import Codebook, load_codebook
from .errors import InputError
from .export import _FORMULA_START, TableWriter, atomic_output, csv_quoted, format_from_name, neutralise, open_writer
from .ingest import MAX_TEXT_CHARS, RowOptions, cell, guess_columns, header_options, not_text, too_long
from .io import FORMATS, STDIN, BadRow, Source, Table, open_table
from .io.formats import BLOCK_ENCODINGS, csv_blocks
from .io.table import Replaced
from .records import ItemRecord
from .store import ImportCounts, Store
from .suggestion import Suggester, SuggesterFactory, suggest_batch

DEFAULT_MIN_CONFIDENCE = 0.8
DEFAULT_CHUNK_SIZE = 2000
# Chunks handed out per worker before the parent waits for the oldest: enough that one slow chunk
# (a run of long complaints) does not leave the other workers idle, few enough to keep memory flat.
IN_FLIGHT_PER_WORKER = 4
# Bytes of a CSV file the parent hands a worker at a time on the block path (~4,000 short rows).
BLOCK_BYTES = 1 << 20
FIRST_BLOCK_BYTES = 1 << 16  # the first rows are written sooner
OUTPUT_FORMATS = ("csv", "jsonl", "xlsx", "parquet")
REJECT_COLUMNS = ("row", "reason", "raw")
_FORMULA = frozenset(_FORMULA_START)  # first characters a spreadsheet would run as a formula



def suggestion_columns(codebook: Codebook) -> list[str]:
    return ["reasons", "driver", *(f"p_{n}" for n in codebook.reason_names), "confidence", "needs_review",
            "evidence"]


def output_columns(input_columns: Sequence[str], codebook: Codebook) -> tuple[list[str], list[str]]:
    """(output header, input header as written): an input column named like an added one becomes input_<name>."""
    added = suggestion_columns(codebook)
    taken = set(added)
    renamed = []
    for c in input_columns:
        name = c
        while name in taken:
            name = f"input_{name}"
        taken.add(name)
        renamed.append(name)
    return renamed + added, renamed


def default_rejects_path(out: str | None, source: str) -> str:
    """labeled.csv -> labeled.rejects.csv; for stdout, beside the input (stdin: ./predict.rejects.csv)."""
    if out and out != "-":
        p = Path(out)
        return str(p.with_name(p.stem + ".rejects.csv"))
    if source != STDIN:
        p = Path(source)
        return str(p.with_name(p.stem + ".rejects.csv"))
    return "predict.rejects.csv"


# ---------------------------------------------------------------------------------------------
# The labeling step: the same code in-process (--workers 1) and in each worker process.


@dataclass
class LabelerSpec:
    """Everything a worker needs to build its labeler: small and picklable (no model inside)."""

    codebook_path: str | None
    model: str | None = None
    models_dir: str | None = None
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    csv_cells: bool = True
    reasons_as_text: bool = False  # typed cells (not csv_cells) with `reasons` as CSV has it: "price;terms", "none"
    keep_suggestions: bool = False
    factory: SuggesterFactory | None = None  # None: whylabel.model.load_suggester(codebook, model, models_dir=...)
    fast: bool = False  # words only: no sentence encoder

    def load_suggester(self, codebook: Codebook) -> Suggester:
        if self.factory is not None:
            return self.factory(codebook)
        from .words_runtime import load_suggester  # spaCy (+ scikit-learn unless --fast): only where a model is used

        return load_suggester(codebook, self.model, models_dir=self.models_dir, fast=self.fast)


class Labeler:
    """Texts in, output cells out: reasons, driver, p_<reason>..., confidence, needs_review, evidence.

    Works on the suggester's batch form (`SuggestionBatch`): probabilities are formatted a column
    at a time and a row's reasons and driver come from a table keyed by its chosen-reasons bitmask,
    so the per-row Python is one tuple (hot loop: a million rows).
    """

    def __init__(self, codebook: Codebook, suggester: Suggester, spec: LabelerSpec):
        self.names = codebook.reason_names
        self.codebook = codebook
        self.suggester = suggester
        self.model_id = getattr(suggester, "model_id", "unknown")
        self.low, self.high = 1.0 - spec.min_confidence, spec.min_confidence
        self.csv_cells = spec.csv_cells
        self.reasons_as_text = spec.reasons_as_text
        self.keep = spec.keep_suggestions
        self._by_mask: dict[Any, tuple[str, str, tuple[str, ...]]] = {}

    def warm(self) -> None:
        """Build what the suggester makes on first use (spaCy pipelines, feature tables: ~2 s), so
        that forked workers share it instead of each building their own."""
        self.suggester.suggest(["ok", "ok"], ["en", "nl"])

    def _mask_cells(self, mask: int | tuple[bool, ...]) -> tuple[str, str, tuple[str, ...]]:
        """(reasons cell, driver, reasons) of a row's chosen reasons: a bitmask (bit i: the codebook's
        reason i), or a tuple of flags for a codebook too large for one."""
        got = self._by_mask.get(mask)
        if got is None:
            flags = mask if isinstance(mask, tuple) else [mask >> i & 1 for i in range(len(self.names))]
            reasons = tuple(n for n, f in zip(self.names, flags) if f)
            got = self._by_mask[mask] = (";".join(reasons) or "none", self.codebook.driver_of(reasons), reasons)
        return got

    def label(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> tuple:
        """(cells per row, rows needing review, count per reason + "none", suggestion rows or None)."""
        columns, review, counts, kept = self._columns(texts, langs)
        return list(zip(*columns)), review, counts, kept

    def label_csv(self, texts: Sequence[str], langs: Sequence[str | None] | None, delimiter: str,
                  lineterminator: str) -> tuple:
        """As `label`, with each row's cells as the end of its CSV line: the separator, the cells
        (quoted as `TableWriter` quotes them) and the line end; `csv_cells` only. Joined a column
        at a time, so that a worker hands back text and the parent only writes it."""
        columns, review, counts, kept = self._columns(texts, langs)
        columns = [csv_quoted(col, delimiter) for col in columns]
        return [delimiter + line + lineterminator for line in map(delimiter.join, zip(*columns))], review, counts, kept

    def _columns(self, texts: Sequence[str], langs: Sequence[str | None] | None) -> tuple:
        b = suggest_batch(self.suggester, texts, langs, self.names)
        n, R = len(texts), len(self.names)
        if len(b) != n:
            raise RuntimeError(f"the suggester returned {len(b)} suggestions for {n} texts")
        P, chosen = self._in_codebook_order(b)
        unsure = ((P > self.low) & (P < self.high)).any(axis=1)
        if R <= 62:
            masks = (chosen.astype(np.int64) << np.arange(R, dtype=np.int64)).sum(axis=1).tolist()
        else:
            masks = list(map(tuple, chosen.tolist()))
        counts = [*chosen.sum(axis=0).tolist(), int((~chosen.any(axis=1)).sum())]
        by_mask = self._by_mask
        for m in set(masks).difference(by_mask):
            self._mask_cells(m)
        cells = list(map(by_mask.__getitem__, masks))
        evidence = self._evidence(b, P, chosen)
        conf = b.confidences()
        if self.csv_cells:
            columns = [[c[0] for c in cells], [c[1] for c in cells], *_fixed4(P.T), *_fixed4(conf[None, :]),
                       list(map(("0", "1").__getitem__, unsure.tolist())), evidence]
        else:
            columns = [[c[0] if self.reasons_as_text else list(c[2]) for c in cells], [c[1] for c in cells],
                       *([round(p, 4) for p in col] for col in P.T.tolist()), [round(c, 4) for c in conf.tolist()],
                       [int(u) for u in unsure.tolist()], evidence]
        kept = [s.to_row(0, self.model_id) for s in b.suggestions()] if self.keep else None
        encoder_id = getattr(self.suggester, "encoder_id", None)
        if kept is not None and encoder_id and getattr(b, "vectors", None) is not None:
            # The vectors read here are kept with the items: no retrain or suggest encodes them again.
            for row, vector in zip(kept, b.vectors.astype(np.float16)):
                row["vector"], row["encoder"] = vector.tobytes(), encoder_id
        return columns, int(unsure.sum()), counts, kept

    def _in_codebook_order(self, b: Any) -> tuple[np.ndarray, np.ndarray]:
        if tuple(b.reasons) == tuple(self.names):
            return np.asarray(b.probabilities, dtype=np.float64), np.asarray(b.chosen, dtype=bool)
        n = len(b)
        P = np.zeros((n, len(self.names)))
        chosen = np.zeros((n, len(self.names)), dtype=bool)
        where = {r: i for i, r in enumerate(b.reasons)}
        for j, name in enumerate(self.names):
            if name in where:
                P[:, j] = b.probabilities[:, where[name]]
                chosen[:, j] = b.chosen[:, where[name]]
        return P, chosen

    def _evidence(self, b: Any, P: np.ndarray, chosen: np.ndarray) -> list[str]:
        """Per row, the words behind each reason it chose or is unsure of: "price: te duur | terms: retour"."""
        out = [""] * len(b)
        u = b.units
        if not u.pair:
            return self._meaning_only(out, b, chosen, set())
        names = self.names
        col = [names.index(r) if r in names else -1 for r in b.reasons]
        pt = b.pair_text
        pc = [col[r] for r in b.pair_reason]
        d_, c_ = np.asarray(pt, dtype=np.int64), np.asarray(pc, dtype=np.int64)
        known = c_ >= 0
        live = known.copy()
        live[known] = (P[d_[known], c_[known]] > self.low) | chosen[d_[known], c_[known]]
        parts: dict[int, list[tuple[int, str]]] = {}

        def emit(k: int, words: list[str]) -> None:
            parts.setdefault(pt[k], []).append((pc[k], f"{names[pc[k]]}: {', '.join(words)}"))

        valid = live.tolist()
        prev, on, words = -1, False, []
        for k, w in zip(u.pair, u.text):  # by pair, strongest first: the first three distinct words
            if k != prev:
                if words:
                    emit(prev, words)
                prev, on, words = k, valid[k], []
            if not on or len(words) == 3:
                continue
            w = w.lower()
            if "  " in w or not w.isprintable():  # a span across a line break or odd spaces
                w = " ".join(w.split())
            if w and w not in words:
                words.append(w)
        if words:
            emit(prev, words)
        worded = {(pt[k], pc[k]) for k in set(u.pair)}
        for d, ps in parts.items():
            if len(ps) > 1:
                ps.sort()
            out[d] = " | ".join(p for _, p in ps)
        return self._meaning_only(out, b, chosen, worded)

    def _meaning_only(self, out: list[str], b: Any, chosen: np.ndarray, worded: set) -> list[str]:
        """A chosen reason with no words behind it came from the text's meaning: say so."""
        if getattr(b, "pair_text", None) is None:
            return out
        names = self.names
        col = [names.index(r) if r in names else -1 for r in b.reasons]
        for d, r in zip(b.pair_text, b.pair_reason):
            c = col[r]
            if c >= 0 and chosen[d, c] and (d, c) not in worded:
                tag = f"{names[c]}: (meaning)"
                out[d] = f"{out[d]} | {tag}" if out[d] else tag
        return out


_FIXED4 = np.array([f"{i / 10000:.4f}" for i in range(10001)], dtype=object)


def _fixed4(values: np.ndarray) -> list[list[str]]:
    """Each row of `values` as "%.4f" strings, from a table of the 10,001 strings in [0, 1]; a
    value near a rounding tie (or outside [0, 1]) is formatted on its own, so the text is exact."""
    x = values * 10000.0
    k = np.rint(x)
    odd = (np.abs(np.abs(x - k) - 0.5) < 1e-6) | (values < 0) | (values > 1) | np.isnan(values)
    out = _FIXED4[np.clip(np.nan_to_num(k), 0, 10000).astype(np.int64)]
    if odd.any():
        for i, j in zip(*np.nonzero(odd)):
            out[i, j] = f"{values[i, j]:.4f}"
    return out.tolist()


_WORKER: Labeler | None = None


# How often a worker's watchdog checks that its parent is still there (where no parent-death
# signal exists, or it was set too late).
PARENT_CHECK_S = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the process that started it dies, even by SIGKILL: a killed predict
    must not leave workers running. Linux: the kernel sends SIGTERM (prctl PR_SET_PDEATHSIG);
    everywhere: a daemon thread that exits once the parent pid changes."""
    import sys
    import threading

    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="whylabel-parent-watch", daemon=True).start()


def _init_worker(spec: LabelerSpec, parent_pid: int | None = None) -> None:
    """Runs once per worker process: end with the parent, load the codebook and the model (a
    forked worker has the parent's already), ignore Ctrl-C (the parent handles it)."""
    global _WORKER
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's clean-up handler (fork copies it)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    with contextlib.suppress(ImportError):  # one BLAS thread per worker: the workers are the parallelism
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    if _WORKER is None:
        codebook = load_codebook(spec.codebook_path)
        _WORKER = Labeler(codebook, spec.load_suggester(codebook), spec)


def _label_in_worker(texts: list[str], langs: list[str | None] | None) -> tuple:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.label(texts, langs)


@dataclass
class _Blocks:
    """What a worker needs to read, label and write a block of a CSV file's records exactly as the
    parent would have (`_Run.label_in_blocks`); set before the workers fork."""

    name: str
    format: str
    encoding: str
    separator: str  # the input's
    header: bytes  # the file's header record, read before each block
    replaced_bytes: int
    cols: Any
    opts: RowOptions
    columns: list[str]  # the output header
    delimiter: str | None
    excel: bool
    chunk_size: int


_BLOCKS: _Blocks | None = None


RECUT = "recut"  # a block's reader met a quote not closed by its end: it was cut inside a quoted cell


def _label_block(data: bytes, final: bool) -> tuple | str:
    """Read, label and format one block in a worker: (output text, rejects as (row, reason, raw),
    rows read, rows needing review, count per reason + "none", row numbers taken). Rows are
    numbered from 2 (the parent adds the rows before the block); RECUT when the block was cut
    inside a quoted cell."""
    ctx, labeler = _BLOCKS, _WORKER
    assert ctx is not None and labeler is not None, "worker not initialised"
    src = Source(ctx.name, ctx.format, io.BytesIO(ctx.header + data), ctx.encoding, "", False, collect=True,
                 counts=Replaced(bytes=ctx.replaced_bytes), delimiter=ctx.separator)
    table = FORMATS[ctx.format](src)
    out = io.StringIO()
    writer = TableWriter(out, ctx.columns, excel=ctx.excel, delimiter=ctx.delimiter, header=False)
    summary = PredictSummary(input=ctx.name, output=None, rejects=None)
    run = _BlockRun(table, ctx.cols, labeler.codebook, ctx.opts, summary, stack=None, writer=writer,  # type: ignore[arg-type]
                    strict=False, chunk_size=ctx.chunk_size, progress=None, store=None)
    label = run._label_of(labeler)
    for chunk in run.chunks():
        if not final and table.quote_cut():
            return RECUT
        for _ in run.emit(chunk, label(chunk.texts, _langs(chunk.langs))):
            pass
    if not final and table.quote_cut():
        return RECUT
    return out.getvalue(), run.bad, summary.rows_read, summary.needs_review, run.reason_counts, table.last_row() - 1


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class PredictSummary:
    input: str
    output: str | None
    rejects: str | None
    format: str = ""
    encoding: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    model_id: str = ""
    workers: int = 1
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    rows_read: int = 0
    labeled: int = 0  # labeled with confidence: needs_review 0
    needs_review: int = 0
    rejected: int = 0
    rejected_why: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)  # rows whose `reasons` include it; "none" = empty
    elapsed_s: float = 0.0
    rows_per_s: float = 0.0
    db: str | None = None
    added: int | None = None
    duplicates: int | None = None
    redacted: dict[str, int] | None = None  # with redaction: replaced per kind (email, phone, iban, card)
    replaced_bytes: int = 0  # undecodable bytes of a nearly-all-UTF-8 file, read as U+FFFD
    replaced_surrogates: int = 0  # lone surrogates in JSON strings, read as U+FFFD
    engine: str = "local"  # where the labeling ran: "local" (processes here) or "dask" (a Dask cluster)

    def reject(self, why: str) -> None:
        self.rejected += 1
        key = reject_kind(why)
        self.rejected_why[key] = self.rejected_why.get(key, 0) + 1

    def to_json(self) -> dict:
        d = dict(vars(self))
        d["elapsed_s"] = round(self.elapsed_s, 2)
        d["rows_per_s"] = round(self.rows_per_s, 1)
        if self.db is None:
            for k in ("db", "added", "duplicates"):
                d.pop(k)
        if self.redacted is None:
            d.pop("redacted")
        return d


_KINDS = (
    ("fields but the header has", "extra fields"), ("broken JSON", "broken JSON"),
    ("expected a JSON object", "not a JSON object"), ("undecodable", "undecodable"),
    ("cannot decode", "undecodable"), ("broken CSV", "broken CSV"), ("broken TSV", "broken TSV"),
    ("characters long", "text too long"), ("not a string", "text not a string"),
    ("nested deeper", "nested too deep"), ("never closed", "quote never closed"),
    ("a cell holds more than", "cell too long"), ("beyond the header's", "extra fields"),
)


def reject_kind(reason: str) -> str:
    """The stable kind of a reject reason, for the summary's counts ("extra fields", "no text", ...)."""
    for needle, kind in _KINDS:
        if needle in reason:
            return kind
    return reason.split(" (")[0]


Progress = Callable[[int, "float | None"], None]  # (rows done, fraction of the input done; None: unknown)


def predict(
    source: str,
    codebook: Codebook,
    *,
    out: str | None = None,
    out_format: str | None = None,
    excel: bool = False,
    rejects: str | None = None,
    columns: dict[str, str | None] | None = None,
    options: RowOptions | None = None,
    input_format: str | None = None,
    model: str | None = None,
    models_dir: str | None = None,
    workers: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    strict: bool = False,
    store: Store | str | Path | None = None,
    progress: Progress | None = None,
    stdin: IO[bytes] | None = None,
    factory: SuggesterFactory | None = None,
    fast: bool = False,
    redactor: Any = None,
    sheet: str | None = None,
) -> PredictSummary:
    """Label an export into `out` (a path, "-" for stdout) and/or into `store`; see the module contract.

    `store` is a Store, or a database path that is opened only once the input and the model passed
    their checks (so a refused run creates no database either). A `redactor`
    (whylabel.redact.Redactor) replaces personal data in every cell, and in the raw text of a
    rejected row, before it is labeled, stored or written.
    """
    if out is None and store is None:
        raise ValueError("predict needs an output file, a store, or both")
    if not 0.5 <= min_confidence <= 1.0:
        raise InputError(source, f"--min-confidence must be between 0.5 and 1 (got {min_confidence})")
    out_format = (out_format or format_from_name(out)).lower()
    if out_format not in OUTPUT_FORMATS:
        raise InputError(str(out), f"unknown output format {out_format!r} (expected csv, jsonl, xlsx or parquet)")
    if excel and out_format != "csv":
        raise InputError(str(out), "--excel applies to CSV output only")
    if out_format == "parquet":
        from .io.parquet import require_pyarrow

        require_pyarrow(str(out))
    workers = max(1, workers or os.cpu_count() or 1)
    opts = options or RowOptions()
    started = time.perf_counter()

    # Everything that can refuse the whole run happens before any output is opened.
    table = open_table(source, format=input_format, bad_rows="collect", allow_stdin=True, stdin=stdin, sheet=sheet)
    with contextlib.closing(table):
        cols = guess_columns(table, columns)
        if store is not None and not opts.source and not cols.source:
            from .ingest import source_from_filename

            opts.default_source = source_from_filename(table.path) or "unknown"
        spec = LabelerSpec(
            codebook_path=codebook.path, model=model, models_dir=models_dir, min_confidence=min_confidence,
            csv_cells=out_format == "csv", reasons_as_text=out_format in ("xlsx", "parquet"),
            keep_suggestions=store is not None,
            factory=factory, fast=fast,
        )
        # Load the model here once: a foreign or mismatched model stops the run before any output.
        local = Labeler(codebook, spec.load_suggester(codebook), spec)
        header, written_input = output_columns(table.columns, codebook)
        summary = PredictSummary(
            input=table.path, output=out, rejects=None, format=table.format, encoding=table.encoding,
            columns=cols.named(), model_id=local.model_id, workers=workers,
            min_confidence=min_confidence,
        )
        if out is not None or rejects is not None:
            summary.rejects = rejects or default_rejects_path(out, source)
        with contextlib.ExitStack() as stack:
            if store is not None and not isinstance(store, Store):
                store = stack.enter_context(Store(store))
            writer = None
            if out is not None:
                writer = stack.enter_context(open_writer(out, header, format=out_format, excel=excel, title="predicted",
                                                         delimiter=output_delimiter(table, out),
                                                         types=output_types(table, written_input, codebook, out_format)))
            run = _Run(table, cols, codebook, opts, summary, stack=stack, writer=writer, strict=strict,
                       chunk_size=chunk_size, progress=progress, store=store, redactor=redactor)
            blocks = _blocks_for(table, cols, opts, header, writer, excel, chunk_size) \
                if workers > 1 and store is None and redactor is None else None
            if workers == 1:
                labels = run.label_in_process(local)
            elif blocks is not None:
                labels = run.label_in_blocks(blocks, spec, workers, local)
            else:
                labels = run.label_in_pool(spec, workers, local)
            if store is None:
                for _ in labels:
                    pass
            else:
                counts = ImportCounts()
                run.import_counts = counts
                store.import_records(
                    labels, path=table.path if source != STDIN else "<stdin>", format=table.format,
                    options={"columns": summary.columns, **header_options(table), "encoding": table.encoding,
                             "predict": True, "model_id": summary.model_id},
                    codebook_hash=codebook.hash, counts=counts,
                )
                summary.db = str(store.path)
                summary.added, summary.duplicates = counts.added, counts.duplicates
            run.finish()
        summary.replaced_bytes, summary.replaced_surrogates = table.replaced.bytes, table.replaced.surrogates
    if redactor is not None:
        summary.redacted = dict(redactor.counts)
    summary.elapsed_s = time.perf_counter() - started
    summary.rows_per_s = summary.rows_read / summary.elapsed_s if summary.elapsed_s else 0.0
    return summary


def output_types(table: Table, written_input: Sequence[str], codebook: Codebook, out_format: str) -> dict | None:
    """Parquet output's column types: a Parquet input's own, then the added columns' (the rest text)."""
    if out_format != "parquet":
        return None
    from .io.parquet import input_types, suggestion_types

    return {**input_types(table, written_input), **suggestion_types(codebook)}


def _blocks_for(table: Table, cols: Any, opts: RowOptions, header: list[str], writer: Any, excel: bool,
                chunk_size: int) -> _Blocks | None:
    """The block path's context where it gives the same output (a CSV/TSV file in UTF-8 or
    Windows-1252 to a CSV output, workers forked), else None: the rows go through the parent."""
    if (table.format not in ("csv", "tsv") or table.encoding not in BLOCK_ENCODINGS or writer is None
            or writer.format != "csv" or not table.delimiter or not os.path.isfile(table.path)
            or "fork" not in multiprocessing.get_all_start_methods()):
        return None
    return _Blocks(name=table.path, format=table.format, encoding=table.encoding, separator=table.delimiter or ",",
                   header=b"", replaced_bytes=table.replaced.bytes, cols=cols, opts=opts, columns=header,
                   delimiter=writer.delimiter, excel=excel, chunk_size=chunk_size)


def output_delimiter(table: Table, out: str | None) -> str | None:
    """The input's separator, so a `;`-separated Dutch export comes back `;`-separated; a tab
    only where the output is not named `.csv`."""
    if table.delimiter == "\t" and out and Path(out).suffix.lower() == ".csv":
        return ","
    return table.delimiter


class _Chunk:
    __slots__ = ("texts", "langs", "cells", "records")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.langs: list[str | None] = []
        self.cells: list[list[Any] | str] = []  # each row's input cells ready to write, or its CSV record
        self.records: list[ItemRecord] = []


class _Run:
    """One predict run: reads chunks, hands them out, writes results back in input order."""

    def __init__(self, table: Table, cols: Any, codebook: Codebook, opts: RowOptions,
                 summary: PredictSummary, *, stack: contextlib.ExitStack, writer: Any,
                 strict: bool, chunk_size: int, progress: Progress | None, store: Store | None,
                 redactor: Any = None):
        self.table, self.cols, self.codebook, self.opts = table, cols, codebook, opts
        self.redactor = redactor
        self.summary, self.strict, self.chunk_size = summary, strict, max(1, chunk_size)
        self.progress, self.store = progress, store
        self.names = codebook.reason_names
        self.reason_counts = [0] * (len(self.names) + 1)
        self.writer = writer
        self.neutralise = writer is None or writer.format == "csv"  # CSV cells are made spreadsheet-safe
        self.stack = stack  # where the rejects file joins the outputs that appear only when complete
        self.rejects_to = summary.rejects
        self._rejects: Any = None
        self.import_counts: ImportCounts | None = None
        self.rows_done = 0
        self._bytes_done = 0
        self.size = os.path.getsize(table.path) if os.path.isfile(table.path) else 0
        self._fraction = 0.0
        self._detect = None
        self._prepare = None
        if store is not None:
            from .ingest import prepare_row

            self._prepare = prepare_row
            if not opts.lang and not cols.lang:
                from .nlp import detect_language

                self._detect = detect_language

    # -- reading ---------------------------------------------------------------------------------

    def chunks(self) -> Iterator[_Chunk]:
        table, cols, summary = self.table, self.cols, self.summary
        text_col, lang_col, fixed_lang = cols.text, cols.lang, self.opts.lang
        columns = table.columns
        ncols = len(columns)
        as_csv = self.neutralise
        keep_cells = self.writer is not None
        from_csv = table.format in ("csv", "tsv")  # every cell is a str, in header order
        # CSV in and out in the same dialect: a row is copied as read (no formula to neutralise).
        record = table.last_record if (self.writer is not None and self.writer.format == "csv"
                                       and self.writer.delimiter == "," and self.redactor is None) else None
        redact = self.redactor.row if self.redactor is not None else None
        formula = _FORMULA
        # A cell that may start like a formula, in a record: after a separator and any quotes
        # (`,""=x` reads as "=x"). Conservative: a separator inside a quoted cell may match too, and
        # then the cells are checked one by one.
        after_separator = re.compile(f"{re.escape(table.delimiter or ',')}\"*[=+\\-@\t\r]").search
        first = formula | {'"'}
        langs: dict[Any, str | None] = {}
        chunk = _Chunk()
        for item in table.rows:
            summary.rows_read += 1
            if type(item) is not tuple:
                self.reject(item)
                continue
            number, row = item
            if redact is not None:
                row = redact(row)
            text = row.get(text_col)
            if type(text) is not str:
                problem = None if table.numbers_are_text else not_text(text)
                if problem:
                    self.reject(BadRow(number, problem, table.last_raw()))
                    continue
                text = cell(row, text_col)
            else:
                text = text.strip()
            if not text:
                self.reject(BadRow(number, "no text", table.last_raw()))
                continue
            if len(text) > MAX_TEXT_CHARS:
                self.reject(BadRow(number, too_long(text), table.last_raw()))
                continue
            if self._prepare is not None:
                try:
                    rec = self._prepare(table, number, row, cols, self.opts, self.codebook, self._detect)
                except InputError as exc:
                    self.reject(BadRow(number, exc.detail, table.last_raw()))
                    continue
                if isinstance(rec, str):  # prepare_row's own skip reasons
                    self.reject(BadRow(number, rec, table.last_raw()))
                    continue
                chunk.records.append(rec)
                lang = rec.lang
            elif fixed_lang or not lang_col:
                lang = fixed_lang
            else:
                value = row.get(lang_col)
                lang = langs.get(value, "?")
                if lang == "?":
                    lang = langs[value] = _lang(value)
            chunk.texts.append(text)
            chunk.langs.append(lang)
            if not keep_cells:  # into the store only: nothing to write
                pass
            elif as_csv and from_csv and len(row) == ncols:
                raw = record() if record is not None else None
                plain = (raw is not None and raw[:1] not in first and after_separator(raw) is None) \
                    or formula.isdisjoint([v[:1] for v in row.values()])
                # Copied as read only when nothing in it needs quoting: no quote, no line break
                # (a lenient reader's record may be quoted in ways other readers split differently).
                if raw is not None and plain and '"' not in raw and "\r" not in raw.rstrip("\r\n"):
                    chunk.cells.append(raw.rstrip("\r\n"))
                elif plain:
                    chunk.cells.append(list(row.values()))
                else:
                    chunk.cells.append([("'" + v) if v[:1] in formula else v for v in row.values()])
            elif as_csv:
                chunk.cells.append([_csv_input(row.get(c)) for c in columns])
            else:
                chunk.cells.append([row.get(c) for c in columns])
            if len(chunk.texts) >= self.chunk_size:
                yield chunk
                chunk = _Chunk()
        if chunk.texts:
            yield chunk

    def reject(self, bad: BadRow) -> None:
        if self.strict:
            raise InputError(self.table.path, bad.reason, row=bad.number, row_label=self.table.row_label)
        self.summary.reject(bad.reason)
        if self._rejects is None:
            self._open_rejects()
        raw = self.redactor.text(bad.raw) if self.redactor is not None else bad.raw
        self._rejects.write_values([bad.number, neutralise(bad.reason), neutralise(raw)])

    def _open_rejects(self) -> None:
        if self.rejects_to is None:  # into the store only, no file named: keep them beside the input
            self.rejects_to = self.summary.rejects = default_rejects_path(None, self.summary.input)
        stream = self.stack.enter_context(atomic_output(self.rejects_to))
        self._rejects = TableWriter(stream, REJECT_COLUMNS)

    def finish(self) -> None:
        """A rejects file beside a file output is always (re)written, so a stale one never misleads."""
        if self._rejects is None and self.summary.output not in (None, "-") and self.rejects_to:
            self._open_rejects()
        s = self.summary
        s.reasons = {n: c for n, c in zip((*self.names, "none"), self.reason_counts)}
        s.labeled = s.rows_read - s.rejected - s.needs_review
        if self.progress:
            self.progress(self.rows_done, 1.0 if self.size else None)

    # -- labeling ----------------------------------------------------------------------------------

    def label_in_process(self, labeler: Labeler) -> Iterator[ItemRecord]:
        label = self._label_of(labeler)
        for chunk in self.chunks():
            yield from self.emit(chunk, label(chunk.texts, _langs(chunk.langs)))
        self._sync_import_counts()

    def _label_of(self, labeler: Labeler) -> Callable[..., tuple]:
        """Labeler.label, or to a CSV output its label_csv: each row's line end formatted with its cells."""
        writer = self.writer
        if writer is None or writer.format != "csv" or not labeler.csv_cells:
            return labeler.label
        delimiter, end = writer.delimiter, writer.lineterminator
        return lambda texts, langs: labeler.label_csv(texts, langs, delimiter, end)

    def _sync_import_counts(self) -> None:
        """The import registry row records what was read and rejected, as `whylabel import` does."""
        if self.import_counts is not None:
            self.import_counts.rows_read = self.summary.rows_read
            self.import_counts.skipped = self.summary.rejected
            self.import_counts.skipped_why = dict(self.summary.rejected_why)

    def label_in_pool(self, spec: LabelerSpec, workers: int, labeler: Labeler) -> Iterator[ItemRecord]:
        global _WORKER
        methods = multiprocessing.get_all_start_methods()
        # fork: workers start in milliseconds and share the libraries and the model the parent
        # already loaded and warmed (about 2 s of CPU per worker saved).
        ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
        if ctx.get_start_method() == "fork":
            labeler.warm()
            gc.freeze()
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(spec, os.getpid()))
        inflight: deque[tuple[_Chunk, Future]] = deque()
        _WORKER = labeler  # inherited by forked workers (made at the first submit); spawned ones load their own
        try:
            for chunk in self.chunks():
                inflight.append((chunk, pool.submit(_label_in_worker, chunk.texts, _langs(chunk.langs))))
                chunk.texts = []  # sent; the parent keeps only what it writes
                if len(inflight) >= IN_FLIGHT_PER_WORKER * workers:
                    done, fut = inflight.popleft()
                    yield from self.emit(done, fut.result())
            while inflight:
                done, fut = inflight.popleft()
                yield from self.emit(done, fut.result())
            self._sync_import_counts()
        finally:
            for _, fut in inflight:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()
            _WORKER = None

    def label_in_blocks(self, blocks: _Blocks, spec: LabelerSpec, workers: int,
                        labeler: Labeler) -> Iterator[ItemRecord]:
        """The parent cuts the file into blocks at record boundaries and writes the workers'
        formatted text in order; the workers parse, label and format (no per-row work here).
        Blocks are cut by counting quotes; should one turn out cut inside a quoted cell (a stray
        quote in an unquoted cell), the rest of the file is cut by parsing it (`csv_blocks`)."""
        global _WORKER, _BLOCKS
        labeler.warm()
        gc.freeze()  # what is loaded stays out of the collector's way: no scans, no copied pages
        ctx = multiprocessing.get_context("fork")
        inflight: deque[tuple[int, int, Future]] = deque()
        limit = IN_FLIGHT_PER_WORKER * workers
        pool = None
        _WORKER = labeler
        try:
            with open(self.table.path, "rb") as fp:
                enc, sep = self.table.encoding, self.table.delimiter or ","
                # Words only: ~4,000 short rows a block; with the sentence encoder a quarter (a
                # block is then seconds of work: the last ones must not leave a worker idle long).
                size = BLOCK_BYTES if spec.fast else max(1, BLOCK_BYTES // 4)
                pieces = csv_blocks(fp, enc, sep, size, first=min(size, FIRST_BLOCK_BYTES), by_quotes=True)
                blocks.header = next(pieces).data
                _BLOCKS = blocks  # inherited by the workers, made at the first submit
                pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                           initargs=(spec, os.getpid()))
                row = 2  # the number of the next block's first row
                while True:
                    recut = None
                    for data, offset, final in pieces:
                        inflight.append((offset, len(data), pool.submit(_label_block, data, final)))
                        while len(inflight) >= limit and recut is None:
                            row, recut = self._emit_block(row, inflight.popleft())
                        if recut is not None:
                            break
                    while inflight and recut is None:
                        row, recut = self._emit_block(row, inflight.popleft())
                    if recut is None:
                        break
                    for _, _, fut in inflight:  # cut after a wrong cut: their results are not used
                        fut.cancel()
                    inflight.clear()
                    fp.seek(recut)
                    pieces = csv_blocks(fp, enc, sep, size, at=recut, header=False)
            return
            yield  # a generator like the other paths: nothing for a store here
        finally:
            for _, _, fut in inflight:
                fut.cancel()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()
            _WORKER = _BLOCKS = None

    def _emit_block(self, row: int, block: tuple[int, int, Future]) -> tuple[int, int | None]:
        """Write a block's result: (the next block's first row number, None), or (row, its offset)
        when it has to be read again, cut exactly."""
        offset, size, fut = block
        result = fut.result()
        if result == RECUT:
            return row, offset
        text, bad, rows_read, review, counts, taken = result
        self.summary.rows_read += rows_read
        for number, reason, raw in bad:
            self.reject(BadRow(number + row - 2, reason, raw))
        self.summary.needs_review += review
        for i, c in enumerate(counts):
            self.reason_counts[i] += c
        self.writer.write_text(text)
        self._bytes_done += size
        self.rows_done += rows_read - len(bad)
        if self.progress:
            fraction = min(self._bytes_done / self.size, 1.0) if self.size else None
            self.progress(self.rows_done, fraction)
        return row + taken, None

    def _report(self, rows: int) -> None:
        """Rows written so far; the byte position read, scaled back by the rows still in flight."""
        self.rows_done += rows
        if not self.progress:
            return
        fraction = None
        if self.size and self.summary.rows_read:
            read = self.table.bytes_read() or self.size  # 0: the reader is through and closed the file
            done = read / self.size * (self.rows_done / self.summary.rows_read)
            self._fraction = fraction = max(self._fraction, min(done, 1.0))
        self.progress(self.rows_done, fraction)

    def emit(self, chunk: _Chunk, result: tuple) -> Iterator[ItemRecord]:
        rows, review, counts, kept = result
        self._report(len(rows))
        self.summary.needs_review += review
        for i, c in enumerate(counts):
            self.reason_counts[i] += c
        if self.writer is None:
            pass
        elif rows and type(rows[0]) is str:  # each row's line end, from Labeler.label_csv
            self.writer.write_lines(chunk.cells, rows)
        else:
            self.writer.write_rows(chunk.cells, rows)
        if self.store is not None and kept is not None:
            # Each record carries its suggestion: the store writes both in the import's transaction.
            for rec, row in zip(chunk.records, kept):
                rec.suggestion = row
            yield from chunk.records


class _BlockRun(_Run):
    """A worker's run over one block: rejects are kept for the parent, which numbers, counts and
    writes them (or stops there, with --strict) in input order."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.bad: list[tuple[int, str, str]] = []

    def reject(self, bad: BadRow) -> None:
        self.bad.append((bad.number, bad.reason, bad.raw))


def _langs(langs: list[str | None]) -> list[str | None] | None:
    return langs if any(langs) else None


def _lang(value: Any) -> str | None:
    if not value:
        return None
    from .nlp import normalise_lang

    return normalise_lang(value)


def _csv_input(value: Any) -> Any:
    if type(value) is str:
        return neutralise(value)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return neutralise(json.dumps(value, ensure_ascii=False))
    return value


__all__ = [
    "DEFAULT_MIN_CONFIDENCE", "Labeler", "LabelerSpec", "PredictSummary", "default_rejects_path",
    "output_columns", "predict", "suggestion_columns",
]
