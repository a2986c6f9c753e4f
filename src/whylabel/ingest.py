"""Reading feedback exports: formats, encodings, column mapping and validation.

Contract:
- Tables are read by `whylabel.io.open_table` (formats, encodings, row numbers, bad rows).
- `guess_columns(...)` maps an export's header onto whylabel's fields; names given on the command
  line win, then common names in English and Dutch.
- `prepare_row(...)` turns one row into an `ItemRecord` or a skip reason.
- `import_file(...)` does all of it into a `Store` in one transaction.
Every problem raises `InputError` naming the file, row and column. This module never imports spaCy
unless a language has to be detected.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .codebook import Codebook
from .errors import InputError
from .io import Table, open_table
from .localformat import DateColumn
from .io.sample import reservoir_sample
from .nlp import normalise_lang
from .records import COLUMN_FIELDS, ColumnMap, ItemRecord
from .store import ImportCounts, Store


# ---------------------------------------------------------------------------------------------
# Column mapping


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


# Common names of each of COLUMN_FIELDS, normalised (_norm), in order of preference.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "text": (
        "text", "feedback", "comment", "comments", "review", "reviewtext", "reviewbody", "body",
        "message", "answer", "response", "verbatim", "content", "narrative",
        "consumercomplaintnarrative", "complaint", "complainttext", "description", "tweet",
        "opmerking", "opmerkingen", "toelichting", "tekst", "reactie", "antwoord", "bericht",
        "omschrijving", "beschrijving", "klacht", "feedbacktekst",
    ),
    "id": (
        "id", "externalid", "responseid", "reviewid", "ticketid", "complaintid", "tweetid",
        "messageid", "feedbackid", "uuid", "respondentid",
    ),
    "source": ("source", "channel", "feedbacktype", "sourcetype", "bron", "kanaal"),
    "breakpoint": (
        "breakpoint", "touchpoint", "journeystep", "step", "breekpunt", "stap", "klantreisstap", "processtap",
        "journeystap", "contactmoment",
    ),
    "moment": ("moment", "decisionmoment", "beslismoment"),
    "stage": ("stage", "journeystage", "fase"),
    "rating": ("rating", "stars", "score", "nps", "npsscore", "csat", "cijfer", "sterren", "waardering"),
    "created_at": (
        "createdat", "created", "date", "datum", "timestamp", "submittedat", "datereceived",
        "reviewdate", "createddate", "time", "aangemaakt",
    ),
    "lang": ("lang", "language", "taal", "locale"),
}
_TEXT_HINTS = ("comment", "review", "feedback", "message", "answer", "narrative", "opmerking",
               "toelichting", "tekst", "text")
_NOT_TEXT_HINTS = ("id", "title", "date", "subject", "titel", "onderwerp", "url", "count", "score")

SOURCE_SYNONYMS = {
    "survey": ("survey", "surveys", "enquete", "enquête", "nps", "csat", "poll", "vragenlijst", "questionnaire"),
    "review": ("review", "reviews", "recensie", "beoordeling", "productreview", "appreview"),
    "ticket": ("ticket", "tickets", "support", "email", "e-mail", "mail", "chat", "phone", "telefoon",
               "phone-note", "webform", "contactform", "complaint", "complaints", "klacht", "twitter",
               "tweet", "social", "helpdesk"),
}


def guess_columns(table: Table, overrides: dict[str, str | None] | None = None) -> ColumnMap:
    """Named columns win; otherwise the first common name, in English or Dutch."""
    overrides = {k: v for k, v in (overrides or {}).items() if v}
    by_norm: dict[str, str] = {}
    for c in table.columns:
        by_norm.setdefault(_norm(c), c)
    chosen: dict[str, str | None] = {}
    for key, col in overrides.items():
        if col not in table.columns:
            raise InputError(
                table.path,
                f"no column named {col!r} (--{key.replace('_', '-')}-column); columns are: "
                + ", ".join(table.columns),
            )
        chosen[key] = col
    for key in COLUMN_FIELDS:
        if key in chosen:
            continue
        names = CANDIDATES[key]
        chosen[key] = next((by_norm[n] for n in names if n in by_norm and by_norm[n] not in chosen.values()), None)
    if not chosen.get("text"):
        for c in table.columns:
            n = _norm(c)
            if any(h in n for h in _TEXT_HINTS) and not any(h in n for h in _NOT_TEXT_HINTS):
                chosen["text"] = c
                break
    if not chosen.get("text"):
        cols = ", ".join(table.columns) or "(none)"
        raise InputError(table.path, f"no text column found (columns: {cols}); name it with --text-column")
    return ColumnMap(**chosen)


# ---------------------------------------------------------------------------------------------
# Row preparation


@dataclass
class RowOptions:
    source: str | None = None
    breakpoint: str | None = None
    lang: str | None = None
    default_source: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)
    # The created_at column's day/month order, and how many dates it left as written (ambiguous).
    dates: DateColumn = field(default_factory=DateColumn)


def normalise_source(value: str) -> str:
    v = value.strip().lower()
    for canonical, names in SOURCE_SYNONYMS.items():
        if v in names:
            return canonical
    return v


def source_from_filename(path: str) -> str | None:
    stem = Path(path).stem.lower()
    for canonical, names in SOURCE_SYNONYMS.items():
        if any(n in stem for n in names if len(n) > 3):
            return canonical
    return None


_NUMBER_RE = re.compile(r"-?\d+(?:[.,]\d+)?")


def parse_rating(value: Any) -> float | None:
    """A number, or None (then the cell is kept as metadata): JSON's 1e999, NaN and 400-digit
    integers are not ratings."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            rating = float(value)
        except OverflowError:
            return None
        return rating if math.isfinite(rating) else None
    m = _NUMBER_RE.search(str(value))
    return float(m.group().replace(",", ".")) if m else None


def cell(row: dict[str, Any], column: str | None) -> str:
    if not column:
        return ""
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


MAX_TEXT_CHARS = 100_000  # one piece of feedback; the sentence encoder takes ~2 s per 100,000 characters


def too_long(text: str) -> str | None:
    """Why a text is refused for its length: a 5 MB cell is an export gone wrong (a quote left open
    in the tool that wrote it), not feedback, and labeling it would take minutes."""
    if len(text) <= MAX_TEXT_CHARS:
        return None
    return f"the text is {len(text):,} characters long; whylabel reads up to {MAX_TEXT_CHARS:,} (a quote left open?)"


def not_text(value: Any) -> str | None:
    """Why a JSON value cannot be a feedback text (a number, true, an object, a list), else None:
    `{"text": 123}` is a broken export, and its text is not "123"."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, bool):
        kind = f"true/false ({json.dumps(value)})"
    elif isinstance(value, (int, float)):
        kind = f"a number ({value!r})"
    elif isinstance(value, dict):
        kind = "a JSON object"
    elif isinstance(value, list):
        kind = "a JSON list"
    else:
        kind = f"a {type(value).__name__}"
    return f"the text is {kind}, not a string"


def content_hash(source: str, external_id: str | None, text: str) -> str:
    """Same source, id and text: the same item, however often it is imported."""
    norm = " ".join(text.split()).lower()
    return hashlib.sha256(f"{source}\x1f{external_id or ''}\x1f{norm}".encode("utf-8")).hexdigest()


def prepare_row(
    table: Table,
    number: int,
    row: dict[str, Any],
    cols: ColumnMap,
    opts: RowOptions,
    codebook: Codebook,
    detect: Callable[[str], str | None] | None = None,
) -> ItemRecord | str:
    """An ItemRecord, or a short skip reason ("empty text"); raises InputError for bad values."""
    def bad(column: str | None, message: str) -> InputError:
        return InputError(table.path, message, row=number, column=column, row_label=table.row_label)

    problem = None if table.numbers_are_text else not_text(row.get(cols.text))
    if problem:
        raise bad(cols.text, problem)
    text = cell(row, cols.text)
    if not text:
        return "empty text"
    problem = too_long(text)
    if problem:
        raise bad(cols.text, problem)
    source = opts.source or (normalise_source(cell(row, cols.source)) if cols.source else "") or opts.default_source
    breakpoint = opts.breakpoint or cell(row, cols.breakpoint) or None
    if breakpoint:
        breakpoint = breakpoint.strip().lower()
    moment = cell(row, cols.moment).lower() or None
    if moment and codebook.moments and moment not in codebook.moments:
        raise bad(cols.moment, f"unknown moment {moment!r} (expected one of: {', '.join(codebook.moments)})")
    stage = cell(row, cols.stage).lower() or None
    if stage and codebook.stages and stage not in codebook.stages:
        raise bad(cols.stage, f"unknown stage {stage!r} (expected one of: {', '.join(codebook.stages)})")
    reasons = None
    if cols.reasons:
        try:
            reasons = codebook.parse_reasons(row.get(cols.reasons))
        except ValueError as exc:
            raise bad(cols.reasons, str(exc)) from None
    lang = opts.lang or (normalise_lang(cell(row, cols.lang)) if cols.lang else None)
    if not lang and detect is not None:
        lang = detect(text)
    rating = parse_rating(row.get(cols.rating)) if cols.rating else None
    external_id = cell(row, cols.id) or None
    # Every cell but the text, as written (`Kanaal: E-mail`, not the source `ticket` it maps to):
    # the export brings the columns back under their own names, so labels join back to customers.
    meta = {k: v for k, v in row.items() if k != cols.text and v not in (None, "")}
    meta.update(opts.extra)
    return ItemRecord(
        hash=content_hash(source, external_id, text),
        source=source,
        text=text,
        external_id=external_id,
        breakpoint=breakpoint,
        moment=moment,
        stage=stage,
        lang=lang,
        rating=rating,
        created_at=created_at(cell(row, cols.created_at), opts.dates),
        meta=meta,
        reasons=reasons,
    )


def created_at(value: str, dates: DateColumn) -> str | None:
    """ISO 8601 where the date is certain; as written (and counted) where day and month could swap."""
    if not value:
        return None
    dates.observe(value)
    return dates.iso(value)


def decide_date_order(path: str | Path, column: str, dates: DateColumn, format: str | None = None) -> None:
    """Read the date column once before importing, until a value says whether it is day-first:
    `03/04/2025` in row 2 is 3 April when row 900 says `20/10/2025`."""
    with open_table(path, format=format) as table:
        dates.decide(row.get(column) for _, row in table.rows)


def header_options(table: Table) -> dict[str, Any]:
    """The header an import keeps, so `whylabel export` writes the columns back in their order. A
    JSON file's header is its first record's keys; later records may add keys of their own."""
    kept: dict[str, Any] = {"header": list(table.columns)}
    if table.format in ("json", "jsonl"):
        kept["keys_vary"] = True
    return kept


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Sample:
    """`--sample N --seed S`: what to draw, and (filled by the import) how many were taken of how many."""

    size: int
    seed: int = 0
    taken: int = 0
    of: int = 0  # rows with a text: what the sample was drawn from


def import_file(
    store: Store,
    path: str | Path,
    codebook: Codebook,
    *,
    columns: dict[str, str | None] | None = None,
    options: RowOptions | None = None,
    annotator: str | None = None,
    format: str | None = None,
    progress: Callable[[int], None] | None = None,
    redactor: Any = None,
    sheet: str | None = None,
    sample: Sample | None = None,
) -> tuple[ImportCounts, ColumnMap, Table]:
    """Import one export in one transaction; an error anywhere leaves the database as it was.
    A `redactor` (whylabel.redact.Redactor) replaces personal data in every cell before it is stored.
    A `sample` imports a uniform random `sample.size` of the rows with a text, read in one pass and
    kept in file order (rows with an empty text are skipped and counted, as always)."""
    opts = options or RowOptions()
    table = open_table(path, format=format, sheet=sheet)
    try:
        cols = guess_columns(table, columns)
        if cols.reasons and not annotator:
            raise InputError(table.path, "--reasons-column needs --annotator (whose labels are these?)")
        if not opts.source and not cols.source:
            opts.default_source = source_from_filename(table.path) or "unknown"
        detect = None
        if not opts.lang and not cols.lang:
            from .nlp import detect_language

            detect = detect_language
        if cols.created_at:
            decide_date_order(path, cols.created_at, opts.dates, format)
        counts = ImportCounts()

        def read() -> Iterator[tuple[int, dict[str, Any]]]:
            for number, row in table.rows:
                counts.rows_read += 1
                if progress and counts.rows_read % 1000 == 0:
                    progress(table.bytes_read())
                yield number, row

        def with_text(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[tuple[int, dict[str, Any]]]:
            for number, row in rows:
                if cell(row, cols.text) or not_text(row.get(cols.text)):
                    yield number, row
                else:
                    counts.skip("empty text")

        rows: Iterable[tuple[int, dict[str, Any]]] = read()
        if sample is not None:
            rows, sample.of = reservoir_sample(with_text(rows), sample.size, sample.seed)
            sample.taken = len(rows)

        def records() -> Iterator[ItemRecord]:
            for number, row in rows:
                if redactor is not None:
                    row = redactor.row(row)
                rec = prepare_row(table, number, row, cols, opts, codebook, detect)
                if isinstance(rec, str):
                    counts.skip(rec)
                    continue
                yield rec

        options: dict[str, Any] = {"columns": cols.named(), **header_options(table), "encoding": table.encoding}
        if sample is not None:
            options.update(sample=sample.size, seed=sample.seed)
        store.import_records(
            records(),
            path=str(path),
            file_sha256=file_sha256(path),
            format=table.format,
            options=options,
            annotator=annotator,
            codebook_hash=codebook.hash,
            counts=counts,
        )
        if progress:
            progress(table.bytes_read())
        return counts, cols, table
    finally:
        table.close()
