"""The `predict` command: batch auto-labeling of a new export (a thin face over whylabel.batch)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import click

from . import UserError, codebook_option, db_option, json_option, show_progress
from .data import _column_options, _source, column_overrides, make_redactor, redact_option, replaced_text
from ..codebook import load_codebook
from ..redact import counts_text
from ..safefile import check_output_path


@click.command("predict")
@click.argument("file", type=click.Path(allow_dash=True))
@click.option("-o", "--output", "out", type=click.Path(allow_dash=True),
              help="Labeled rows: a .csv, .jsonl, .xlsx or .parquet file, '-' for stdout. Written to a temporary "
                   "file and renamed, so it never exists half-written.")
@click.option("--output-format", type=click.Choice(["csv", "jsonl", "xlsx", "parquet"]),
              help="Output format (default: from the -o extension; csv for '-').")
@click.option("--excel", is_flag=True, help="CSV for a Dutch-locale spreadsheet: UTF-8 with BOM, ';' separator.")
@click.option("--into-db", is_flag=True,
              help="Also import the rows with their suggestions into the project database (--db), so the "
                   "labeling UI's uncertain queue starts with what the model could not decide.")
@click.option("--model", metavar="NAME|PATH",
              help="Model name in models/ or a model file (default: the model in use, see `whylabel models`; "
                   "else the shipped default, else the cue phrases).")
@click.option("--models-dir", type=click.Path(), help="Where models live (default: ./models).")
@click.option("--fast", is_flag=True,
              help="Words only: skip the sentence encoder (several times faster, a little less accurate).")
@click.option("--min-confidence", type=click.FloatRange(0.5, 1.0), default=0.8, show_default=True,
              help="needs_review is 1 when some reason's probability lies between 1-C and C.")
@click.option("--workers", type=click.IntRange(1, 64), default=lambda: os.cpu_count() or 1,
              show_default="number of cores", help="Processes that label in parallel (1 = no extra processes).")
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Rows per chunk handed to a worker.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where the labeling runs: worker processes on this machine, or a Dask cluster "
                   "(needs `pip install \"whylabel[dask]\"`). Same rows, values and rejects either way.")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --engine dask: the scheduler of an existing cluster (tcp://host:8786); its workers "
                   "must read FILE (and --model) at the same path. Default: a local cluster of --workers processes.")
@click.option("--connect-timeout", type=click.FloatRange(0.1, 600), default=10.0, show_default=True,
              metavar="SECONDS", help="With --scheduler: give up on a scheduler that does not answer.")
@click.option("--partitioned", is_flag=True,
              help="With --engine dask: write OUT as a directory of Parquet files, one per partition "
                   "(written by the workers), instead of one file.")
@click.option("--rejects", metavar="PATH", type=click.Path(),
              help="Where bad rows go (default: OUT with .rejects.csv, e.g. labeled.rejects.csv).")
@click.option("--strict", is_flag=True, help="Stop at the first bad row (naming its row) instead of rejecting it.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar and no summary on stderr.")
@redact_option
@_column_options
@db_option
@codebook_option
@json_option
def predict_cmd(file, out, output_format, excel, into_db, model, models_dir, fast, min_confidence, workers,
                chunk_size, engine, scheduler, connect_timeout, partitioned, rejects, strict, quiet, redact, fmt, sheet, source, breakpoint, lang, db_path, codebook_path,
                as_json, **kw):
    """Label a new export with the trained model: every input column plus the model's reasons.

    FILE is CSV, TSV, JSON, JSONL, an .xlsx workbook or Parquet ('-' reads stdin; CSV, TSV, JSON
    lines, workbooks and Parquet stream, a JSON array is read whole; Parquet needs
    `pip install "whylabel[dask]"`). Columns are guessed as in `whylabel import`. Added columns: reasons
    (';'-joined, 'none' for no reason), driver, p_<reason> per reason, confidence, needs_review
    (1 = a reason is uncertain: look at this row) and evidence (the words behind each reason).

    Bad rows (no text, undecodable, broken JSON, extra fields) go to OUT.rejects.csv with their
    row, reason and raw content; --strict stops at the first instead. A summary (rows read,
    labeled, needs review, rejected, per reason) goes to stderr, or to stdout as JSON with --json.

    --engine dask reads CSV, TSV and JSON lines in byte ranges cut at line ends, and Parquet by
    rows; each worker reads its range with whylabel's own reader, so bad rows are found, described
    and numbered as locally (same rejects file). Multi-line quoted CSV cells make a cut at a line
    end unsafe: a CSV is cut only where its quotes are balanced; a worker checks that its range
    ended between records, and if one did not (a stray quote, as in 24" scherm, misled the count)
    the client cuts the rest of the file again by parsing it. A JSON array, an .xlsx workbook and
    UTF-16/32 text are read as one partition. Not with --into-db or stdin.

    \b
    Examples:
      whylabel predict export_week_47.csv -o labeled.csv
      whylabel predict reviews.jsonl -o labeled.csv --excel --workers 2
      whylabel predict enquete.xlsx --sheet Antwoorden -o labeled.xlsx   # a workbook in, a workbook out
      whylabel predict events.parquet -o labeled.parquet      # keeps the input's column types
      whylabel predict huge_export.csv -o labeled.csv --fast          # words only: no sentence encoder
      whylabel predict export.csv -o labeled.csv --into-db    # then: whylabel label
      whylabel predict tickets.csv -o labeled.csv --redact    # no e-mail, phone, IBAN or card out
      whylabel predict huge_export.csv -o labeled.csv --engine dask --workers 2
      whylabel predict export.parquet -o labeled/ --engine dask --scheduler tcp://10.0.0.5:8786 --partitioned
      cat tickets.csv | whylabel predict - -o - --output-format jsonl --quiet | jq -c 'select(.needs_review == 1)'
    """
    from ..batch import predict
    from ..ingest import RowOptions

    if out is None and not into_db:
        raise UserError("say where the labels go: -o OUT (a file, or - for stdout) and/or --into-db")
    if as_json and out == "-":
        raise UserError("--json prints on stdout, which -o - already uses for the rows; write -o FILE")
    for path in (out, rejects):
        if path and not (partitioned and path == out):  # --partitioned: OUT is a directory (checked below)
            check_output_path(path)
    if engine == "local" and (scheduler or partitioned):
        raise UserError(f"{'--scheduler' if scheduler else '--partitioned'} needs --engine dask")
    if engine == "dask":
        if into_db:
            raise UserError("--into-db runs with the local engine only: drop --engine dask, or import OUT afterwards")
        if partitioned and out is None:
            raise UserError("--partitioned needs -o DIR: the directory of Parquet files to write")
        if partitioned and (os.path.isfile(out) or not os.path.isdir(os.path.dirname(os.path.abspath(out)))):
            raise UserError(f"{out}: --partitioned writes a directory there; give a new or existing directory's name "
                            "in an existing folder")
    book = load_codebook(codebook_path)
    opts = RowOptions(source=_source(source), breakpoint=breakpoint, lang=lang)
    bar = _Progress(file) if show_progress() and not quiet else None
    # `kill` cleans up like Ctrl-C: the temporary files are removed, no transaction half-done.
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
    try:
        if engine == "dask":
            from ..engine_dask import predict_dask

            summary = predict_dask(
                file, book, out=out, out_format=output_format, excel=excel, rejects=rejects,
                columns=column_overrides(kw), options=opts, input_format=fmt, model=model, models_dir=models_dir,
                workers=workers, scheduler=scheduler, connect_timeout=connect_timeout, partitioned=partitioned,
                chunk_size=chunk_size, min_confidence=min_confidence, strict=strict,
                progress=bar.update if bar else None, fast=fast, redact=redact, sheet=sheet,
            )
        else:
            summary = predict(
                file, book, out=out, out_format=output_format, excel=excel, rejects=rejects,
                columns=column_overrides(kw), options=opts, input_format=fmt, model=model, models_dir=models_dir,
                workers=workers, chunk_size=chunk_size, min_confidence=min_confidence, strict=strict,
                store=db_path if into_db else None, progress=bar.update if bar else None, fast=fast,
                redactor=make_redactor() if redact else None, sheet=sheet,
            )
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
        if bar:
            bar.close()
    if as_json:
        click.echo(json.dumps(summary.to_json(), ensure_ascii=False))
    elif not quiet:
        click.echo(summary_text(summary), err=True)


def _terminate(signum, frame) -> None:  # noqa: ANN001 - signal handler signature
    raise SystemExit(128 + signum)


def summary_text(s) -> str:  # noqa: ANN001 - a batch.PredictSummary
    def n(x: int) -> str:
        return f"{x:,}"

    where = s.output if s.output not in (None, "-") else (s.db or "stdout")
    lines = [
        f"{where}: {n(s.rows_read)} rows read in {s.elapsed_s:.1f} s ({n(round(s.rows_per_s))} rows/s, "
        f"{s.workers} worker{'s' if s.workers != 1 else ''}, model {s.model_id})",
        f"  labeled {n(s.labeled)}, needs review {n(s.needs_review)} "
        f"(a reason between {1 - s.min_confidence:.2f} and {s.min_confidence:.2f}), rejected {n(s.rejected)}"
        + (" (" + ", ".join(f"{k} {n(v)}" for k, v in s.rejected_why.items()) + f") -> {s.rejects}"
           if s.rejected else ""),
        "  reasons: " + ", ".join(f"{k} {n(v)}" for k, v in s.reasons.items()),
    ]
    if s.redacted is not None:
        lines.append("  " + counts_text(s.redacted))
    if s.replaced_bytes or s.replaced_surrogates:
        lines.append("  " + replaced_text(s.replaced_bytes, s.replaced_surrogates))
    if s.db:
        lines.append(f"  {s.db}: {n(s.added)} items added, {n(s.duplicates)} already there; "
                     f"review the uncertain ones first with `whylabel label --db {s.db}`")
    return "\n".join(lines)


class _Progress:
    """One stderr line: percent done, rows, rows/s and ETA; at most 5 updates a second."""

    def __init__(self, file: str):
        self.name = "stdin" if file == "-" else os.path.basename(file)
        self.start = self.last = time.monotonic()
        self.shown = False

    def update(self, rows: int, fraction: float | None) -> None:
        now = time.monotonic()
        if now - self.last < 0.2:
            return
        self.last = now
        elapsed = max(now - self.start, 1e-6)
        rate = rows / elapsed
        line = f"predicting {self.name}: {rows:,} rows, {rate:,.0f} rows/s"
        if fraction:
            eta = elapsed * (1 - fraction) / fraction
            line = f"predicting {self.name}: {fraction:4.0%}  {rows:,} rows, {rate:,.0f} rows/s, ETA {_clock(eta)}"
        sys.stderr.write("\r" + line.ljust(79)[:200])
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
