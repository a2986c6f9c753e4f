"""Data commands: import, breakpoints, export, report, demo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import (
    UserError,
    _remember_db,
    annotator_default,
    codebook_option,
    db_option,
    json_option,
    main,  # noqa: F401 - the group these commands belong to
    show_progress,
)
from ..codebook import load_codebook
from ..errors import InputError
from ..io import FORMATS
from ..records import COLUMN_FIELDS
from ..redact import counts_text
from ..safefile import check_output_path

if TYPE_CHECKING:  # the store (sqlite-utils, ~0.15 s) loads where a command uses it: `predict` needs none
    from ..store import Store

SOURCES_HELP = "survey, review or ticket (synonyms such as 'enquête', 'chat' or 'complaint' are mapped)."


COLUMN_HELP = {
    "text": "Column holding the feedback text (guessed: text, comment, review, Review Text, answer, opmerking, ...).",
    "id": "Column with the export's own id (guessed: id, response_id, review_id, ticket_id, ...).",
    "source": "Column saying survey/review/ticket (guessed: source, channel, ...).",
    "breakpoint": "Column naming the breakpoint (guessed: breakpoint, touchpoint, stap, klantreisstap, ...).",
    "moment": "Column with the decision moment (choose, stay, leave, return).",
    "stage": "Column with the journey stage (awareness, consideration, purchase, retention).",
    "rating": "Column with a rating or score (guessed: rating, stars, score, nps, ...).",
    "created_at": "Column with the date (guessed: date, created_at, timestamp, datum, ...).",
    "lang": "Column with the language, nl or en (otherwise detected from the text).",
}


def _column_options(f):
    """The column-mapping flags shared by `import` and `predict`: --<field>-column per COLUMN_FIELDS."""
    for name in reversed(COLUMN_FIELDS):
        flag = name.replace("_", "-")
        f = click.option(f"--{flag}-column", f"{name}_column", metavar="NAME", help=COLUMN_HELP[name])(f)
    f = click.option("--source", "source", metavar="SOURCE", help="Source of every row: " + SOURCES_HELP)(f)
    f = click.option("--breakpoint", "breakpoint", metavar="NAME", help="Breakpoint of every row in the file.")(f)
    f = click.option("--lang", "lang", type=click.Choice(["nl", "en"]), help="Language of every row.")(f)
    f = click.option("--format", "fmt", type=click.Choice(list(FORMATS)),
                     help="Input format (default: from the extension and content).")(f)
    f = click.option("--sheet", "sheet", metavar="NAME", help="The worksheet of an .xlsx workbook (default: the first).")(f)
    return f


def redact_option(f):
    return click.option(
        "--redact", is_flag=True,
        help="Replace e-mail addresses, phone numbers (NL, BE, UK, US), IBANs and card numbers with "
             "<email>, <phone>, <iban>, <card> before anything is stored or written.",
    )(f)


def make_redactor():
    from ..redact import Redactor

    return Redactor()


def column_overrides(kw: dict) -> dict[str, str | None]:
    return {k: kw.get(f"{k}_column") for k in COLUMN_FIELDS}


@click.command("import")
@click.argument("file", type=click.Path())
@_column_options
@click.option("--reasons-column", metavar="NAME",
              help="Column with existing labels: reason names separated by ';' or ','; 'none' = no reason, empty = unlabeled.")
@click.option("--annotator", metavar="NAME", help="Whose labels the --reasons-column holds.")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N",
              help="Import a uniform random N of the rows with a text (one pass; kept in file order).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of --sample: the same seed, the same rows.")
@redact_option
@db_option
@codebook_option
@json_option
def import_cmd(file, reasons_column, annotator, sample_size, seed, redact, db_path, codebook_path, as_json, fmt, sheet,
               source, breakpoint, lang, **kw):
    """Import a feedback export (CSV, TSV, JSON, JSONL, an .xlsx workbook or Parquet) into the project database.

    UTF-8 (with or without BOM), UTF-16, UTF-32 and Windows-1252 files with ',' or ';' separators
    are read as they come out of survey tools, shops and spreadsheets. Columns are guessed from common
    names; name them with the --*-column options. Every cell but the text is also kept as written
    (`whylabel export` writes the columns back, so labels join back to customers).
    Importing the same file again adds nothing.

    \b
    Examples:
      whylabel import nps_2026_10.csv --breakpoint checkout --source survey
      whylabel import reviews.jsonl --text-column body
      whylabel import enquete.xlsx --sheet Antwoorden
      whylabel import reviews.parquet --text-column body   # Parquet: pip install "whylabel[dask]"
      whylabel import export_week_46.csv --sample 1000 --seed 46   # 1,000 random answers to label
      whylabel import coded.csv --reasons-column reasons --annotator anna
      whylabel import tickets.csv --redact     # e-mail, phone, IBAN, card numbers never stored
    """
    from ..ingest import RowOptions, Sample

    if seed != 0 and sample_size is None:
        raise UserError("--seed applies to --sample only")
    sample = Sample(sample_size, seed) if sample_size is not None else None
    book = load_codebook(codebook_path)
    cols = column_overrides(kw)
    cols["reasons"] = reasons_column
    opts = RowOptions(source=_source(source), breakpoint=breakpoint, lang=lang)
    redactor = make_redactor() if redact else None
    from ..store import Store
    with Store(db_path) as store:
        counts, mapping, table = _run_import(store, file, book, cols, opts, annotator, fmt, redactor, sheet, sample)
    summary = {
        "file": file, "format": table.format, "encoding": table.encoding,
        "columns": mapping.named(),
        "rows_read": counts.rows_read, "added": counts.added, "duplicates": counts.duplicates,
        "skipped": counts.skipped, "skipped_why": counts.skipped_why, "labels_added": counts.labels_added,
        "dates_ambiguous": opts.dates.ambiguous,
        "replaced_bytes": table.replaced.bytes, "replaced_surrogates": table.replaced.surrogates,
        "db": str(db_path),
    }
    if sample is not None:
        summary.update(sample_size=sample.size, sampled=sample.taken, sample_of=sample.of, seed=sample.seed)
    if redactor is not None:
        summary["redacted"] = dict(redactor.counts)
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False))
        return
    click.echo(_import_line(summary))


def _source(value: str | None) -> str | None:
    if not value:
        return None
    from ..ingest import normalise_source

    return normalise_source(value)


def _run_import(store, file, book, cols, opts, annotator, fmt, redactor=None, sheet=None, sample=None):
    from ..ingest import import_file

    size = os.path.getsize(file) if os.path.exists(file) else 0
    # A progress bar only where it helps: a few thousand rows or more, on a terminal.
    if show_progress() and size > 256 * 1024:
        with click.progressbar(length=size, label=f"importing {Path(file).name}", file=click.get_text_stream("stderr"),
                               show_eta=True) as bar:
            last = [0]

            def progress(pos: int) -> None:
                bar.update(max(0, pos - last[0]))
                last[0] = max(last[0], pos)

            return import_file(store, file, book, columns=cols, options=opts, annotator=annotator,
                               format=fmt, progress=progress, redactor=redactor, sheet=sheet, sample=sample)
    return import_file(store, file, book, columns=cols, options=opts, annotator=annotator, format=fmt,
                       redactor=redactor, sheet=sheet, sample=sample)


def replaced_text(undecodable: int, surrogates: int) -> str:
    """What was read as U+FFFD (the summary of import and predict)."""
    what = [f"{undecodable:,} undecodable byte{'s' * (undecodable != 1)}"] if undecodable else []
    what += [f"{surrogates:,} lone surrogate{'s' * (surrogates != 1)}"] if surrogates else []
    return " and ".join(what) + " read as U+FFFD"


def _sample_text(s: dict) -> str:
    if s["sampled"] < s["sample_size"]:
        return (f"--sample {s['sample_size']} is more than the {s['sample_of']} rows with a text: "
                f"took every row")
    return f"sampled {s['sampled']} of {s['sample_of']} rows with a text (seed {s['seed']})"


def _import_line(s: dict) -> str:
    why = ", ".join(f"{n} {w}" for w, n in s["skipped_why"].items())
    parts = [
        f"{s['file']}: {s['rows_read']} rows read ({s['format']}, {s['encoding']})",
        *([_sample_text(s)] if "sampled" in s else []),
        f"{s['added']} added",
        f"{s['duplicates']} duplicates",
        f"{s['skipped']} skipped" + (f" ({why})" if why else ""),
    ]
    if s["labels_added"]:
        parts.append(f"{s['labels_added']} labels")
    if s.get("dates_ambiguous"):
        n = s["dates_ambiguous"]
        parts.append(f"{n} ambiguous date{'s' * (n != 1)} kept as written (day or month first?)")
    if s["replaced_bytes"] or s["replaced_surrogates"]:
        parts.append(replaced_text(s["replaced_bytes"], s["replaced_surrogates"]))
    if "redacted" in s:
        parts.append(counts_text(s["redacted"]))
    cols = ", ".join(f"{k}={v!r}" for k, v in s["columns"].items())
    return "; ".join(parts) + f"\n  columns: {cols}"


@click.command("breakpoints")
@click.argument("file", type=click.Path())
@db_option
@codebook_option
@json_option
def breakpoints_cmd(file, db_path, codebook_path, as_json):
    """Import behavioural figures per breakpoint: the "what" beside the "why".

    FILE is a CSV/TSV/JSON(L) with a `name` (or `breakpoint`) column and any of `moment`, `stage`,
    `reached`, `dropped`, `period`; Dutch names work too (`stap`, `fase`, `bereikt`, `afgehaakt`,
    `periode`), and so do Dutch figures (`12.480`, `12 480`). Existing figures are updated; empty
    cells keep the old value.

    \b
    Example:
      whylabel breakpoints funnel_2026_q3.csv
    """
    from ..funnel import read_funnel

    rows = read_funnel(file, load_codebook(codebook_path))
    from ..store import Store
    with Store(db_path) as store:
        n = store.upsert_breakpoints(rows)
    if as_json:
        click.echo(json.dumps({"file": file, "breakpoints": n}))
    else:
        click.echo(f"{file}: {n} breakpoints updated")


@click.command("export")
@click.option("-o", "--output", "out", required=True, type=click.Path(allow_dash=True),
              help="Output file ('-' for stdout).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "xlsx", "parquet"]),
              help="Output format (default: from the -o extension: .xlsx a workbook, .parquet Parquet, .jsonl "
                   "JSON lines, else CSV).")
@click.option("--excel", is_flag=True, help="CSV for a Dutch-locale spreadsheet: UTF-8 with BOM, ';' separator.")
@click.option("--annotator", metavar="NAME", help="Export this annotator's newest labels (default: the adjudicated label, else the newest by anyone).")
@click.option("--columns", "input_columns", metavar="A,B,…",
              help="Which columns of the imported files follow whylabel's, in this order (default: all; '' for none).")
@db_option
@codebook_option
def export_cmd(out, fmt, excel, annotator, input_columns, db_path, codebook_path):
    """Export labeled items: one row per item with its current label (adjudicated first, then newest).

    Columns: item_id, external_id, source, breakpoint, moment, stage, lang, rating, created_at,
    text, reasons (';'-joined, or 'none'), driver (emotional/rational/mixed/none), one 0/1 column
    per reason, annotator, labeled_at, suggested_reasons, suggestion_confidence, note; then every
    column of the imported file as written (`Klantnummer`, `Kanaal`, ...), so labels join back to
    customers. An input column named like one of whylabel's gets an `input_` prefix
    (`input_reasons`). In CSV, cells that a spreadsheet would run as a formula are prefixed with a
    quote; an .xlsx workbook has typed cells (numbers, dates, text), a frozen header row and a
    filter on every column.

    \b
    Examples:
      whylabel export -o labeled.csv
      whylabel export -o labeled.xlsx
      whylabel export -o labeled.csv --columns Klantnummer,Kanaal
      whylabel export -o labeled.parquet    # typed columns; needs pip install "whylabel[dask]"
      whylabel export -o labeled.csv --excel --annotator anna
      whylabel export -o - --format jsonl | jq .reasons
    """
    from ..export import export_items, format_from_name

    fmt = fmt or format_from_name(out)
    if excel and fmt != "csv":
        raise UserError("--excel applies to CSV output only")
    check_output_path(out)
    chosen = None if input_columns is None else [c.strip() for c in input_columns.split(",") if c.strip()]
    book = load_codebook(codebook_path)
    from ..store import Store
    with Store(db_path, create=False) as store:
        n = export_items(store, book, out, annotator=annotator, format=fmt, excel=excel, columns=chosen)
    if out != "-":
        click.echo(f"{out}: {n} labeled items", err=True)


@click.command("report")
@click.option("-o", "--output", "out", type=click.Path(allow_dash=True),
              help="Write the report here instead of printing a table: .html/.htm = one self-contained page "
                   "with charts and quotes (opens offline, can be mailed); .csv (or '-') = the summary table.")
@click.option("--excel", is_flag=True, help="With -o FILE.csv: UTF-8 with BOM and ';' separator.")
@click.option("--annotator", metavar="NAME", help="Use this annotator's labels (default: the adjudicated label, else the newest by anyone).")
@click.option("--models-dir", type=click.Path(),
              help="Where the models are (default: ./models): their cards give the precision of model labels, "
                   "the model in use the evidence words of quotes without stored evidence.")
@db_option
@codebook_option
@json_option
def report_cmd(out, excel, annotator, models_dir, db_path, codebook_path, as_json):
    """Per breakpoint: how many customers dropped (DO), what they said (SAY), and why (WHY).

    The HTML page (-o why.html) adds reason shares with 95 % intervals, human and model labels
    counted apart, quotes with their evidence words, and where to act first: breakpoints and
    reasons ranked by estimated customers lost.

    \b
    Examples:
      whylabel report
      whylabel report -o why.html
      whylabel report -o why_per_breakpoint.csv --excel
      whylabel report --json
    """
    from ..export import TableWriter, atomic_output, breakpoint_summary, summary_columns
    from ..report import report_format

    fmt = report_format(out) if out and not as_json else "csv"
    if excel and fmt != "csv":
        raise UserError("--excel applies to CSV output only")
    if out:
        check_output_path(out)
    book = load_codebook(codebook_path)
    from ..store import Store
    with Store(db_path, create=False) as store:
        if as_json or fmt == "html":
            from ..report import build_report, cards_on_disk, suggester_explain

            report = build_report(store, book, annotator=annotator, cards=cards_on_disk(models_dir),
                                  explain=suggester_explain(book, models_dir=models_dir))
        rows = breakpoint_summary(store, book, annotator=annotator) if fmt == "csv" else []
    if as_json:
        from ..report import report_json

        click.echo(json.dumps(report_json(report, rows), ensure_ascii=False, indent=2))
        return
    if fmt == "html":
        from ..report_html import write_html

        write_html(report, out)
        if out != "-":
            click.echo(f"{out}: the why report for {len(report.breakpoints)} breakpoints", err=True)
        return
    if out:
        with atomic_output(out) as stream:
            writer = TableWriter(stream, summary_columns(book), excel=excel)
            for row in rows:
                writer.write(row)
        if out != "-":
            click.echo(f"{out}: {len(rows)} breakpoints", err=True)
        return
    click.echo(_report_table(rows, book))


def _report_table(rows: list[dict], book) -> str:
    head = f"{'breakpoint':<22}{'moment':<8}{'drop':>7}{'labeled':>9}  {'emo':>5}{'rat':>5}  top reasons"
    lines = [head, "-" * len(head)]
    for r in rows:
        drop = f"{r['drop_rate']:.0%}" if r["drop_rate"] is not None else "-"
        if r["labeled"]:
            emo = f"{(r['emotional_share'] or 0) + (r['mixed_share'] or 0):.0%}"
            rat = f"{(r['rational_share'] or 0) + (r['mixed_share'] or 0):.0%}"
            top = sorted(book.reason_names, key=lambda n: -r[n])[:3]
            tops = ", ".join(f"{n} {r[n] / r['labeled']:.0%}" for n in top if r[n])
        else:
            emo = rat = "-"
            tops = ""
        lines.append(f"{r['breakpoint']:<22}{(r['moment'] or '-'):<8}{drop:>7}{r['labeled']:>9}  {emo:>5}{rat:>5}  {tops}")
    lines.append("emo/rat: share of labeled items with an emotional / rational reason (mixed items count in both)")
    return "\n".join(lines)


def load_sample(store: Store, book, directory: Path) -> list:
    """Import the bundled sample (idempotent): breakpoints, then feedback with the sample labels."""
    from ..ingest import import_file
    from ..resources import SAMPLE_BREAKPOINTS, SAMPLE_FILES

    results = []
    ctx = click.get_current_context()
    ctx.invoke(breakpoints_cmd, file=str(directory / SAMPLE_BREAKPOINTS), db_path=str(store.path),
               codebook_path=book.path, as_json=False)
    for name in SAMPLE_FILES:
        counts, _, _ = import_file(store, directory / name, book, columns={"reasons": "reasons"}, annotator="sample")
        results.append((name, counts))
    return results


@click.command("demo")
@click.option("--db", "db_path", default="whylabel-demo.db", show_default=True, type=click.Path(), callback=_remember_db,
              help="Scratch database for the demo (kept, so you can quit and come back).")
@click.option("--sample-dir", type=click.Path(file_okay=False, exists=True),
              help="Where the sample feedback lives (default: the sample inside the package).")
@click.option("--no-ui", is_flag=True, help="Only load the sample and print the summary.")
@click.option("--annotator", default=annotator_default, metavar="NAME", help="Your name in the annotations.")
@codebook_option
@click.pass_context
def demo_cmd(ctx, db_path, sample_dir, no_ui, annotator, codebook_path):
    """Load the bundled sample feedback into a scratch database and open the labeling UI.

    Running it again continues where you stopped (the sample is only imported once).

    \b
    Example:
      whylabel demo
      whylabel demo --no-ui && whylabel report --db whylabel-demo.db
    """
    book = load_codebook(codebook_path)
    from ..resources import sample_dir as shipped_sample

    directory = Path(sample_dir) if sample_dir else shipped_sample()
    from ..store import Store
    with Store(db_path) as store:
        results = load_sample(store, book, directory)
        total = store.count_items()
        labeled = len(store.labeled())
    for name, counts in results:
        click.echo(f"  {name}: {counts.added} added, {counts.duplicates} already there, {counts.labels_added} labels")
    click.echo(f"{db_path}: {total} items, {labeled} labeled, {total - labeled} to label")
    if no_ui:
        return
    from . import COMMANDS, LazyGroup

    label = LazyGroup().get_command(ctx, "label") if "label" in COMMANDS else None
    if label is None:
        click.echo("The labeling UI is not installed in this build; try `whylabel report --db " + db_path + "`.")
        return
    ctx.invoke(label, db_path=db_path, annotator=annotator, codebook_path=codebook_path)
