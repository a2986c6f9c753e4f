"""Reading feedback exports: formats, encodings, column mapping and validation.

Contract:
- `open_table(path)` sniffs format (CSV, TSV, JSON, JSONL), encoding (UTF-8, UTF-8 with BOM,
  UTF-16 with BOM, Windows-1252) and separator, and yields `(row_number, row_dict)` through
  sqlite-utils' `rows_from_file`. Row numbers are what a researcher sees: a spreadsheet row (the
  header is row 1) for CSV/TSV, a line for JSONL, a record (1-based) for a JSON array.
- `guess_columns(...)` maps an export's header onto whylabel's fields; names given on the command
  line win, then common names in English and Dutch.
- `prepare_row(...)` turns one row into an `ItemRecord` or a skip reason.
- `import_file(...)` does all of it into a `Store` in one transaction.
Every problem raises `InputError` naming the file, row and column. This module never imports spaCy
unless a language has to be detected.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from sqlite_utils.utils import Format, rows_from_file

from .codebook import Codebook
from .errors import InputError
from .store import ImportCounts, ItemRecord, Store

FORMATS = ("csv", "tsv", "json", "jsonl")
_EXTRAS = "\x00extras"


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class Table:
    """An opened export: its header and a stream of numbered rows."""

    path: str
    format: str
    encoding: str
    columns: list[str]
    rows: Iterator[tuple[int, dict[str, Any]]]
    row_label: str = "row"
    _fp: IO[bytes] | None = None

    def bytes_read(self) -> int:
        """How far the reader is into the file, for a progress bar."""
        try:
            return self._fp.tell() if self._fp else 0
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        if self._fp:
            self._fp.close()


def detect_encoding(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252; refuses binary files.

    Decodes the whole file once, incrementally: an export can be valid UTF-8 for 10 MB and then
    carry one Windows-1252 "é", and we must not find that out half-way through an import.
    """
    with open(path, "rb") as f:
        head = f.read(4)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        first = f.read(8192)
        if b"\x00" in first:
            raise InputError(
                str(path),
                "this is a binary file, not CSV/TSV/JSON text (an Excel workbook? save it as CSV UTF-8)",
            )
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        while chunk := f.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                break
            line += chunk.count(b"\n")
        else:
            try:
                decoder.decode(b"", final=True)
                return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
            except UnicodeDecodeError:
                pass
        # Not UTF-8: Windows-1252 decodes all but five byte values.
        f.seek(0)
        decoder = codecs.getincrementaldecoder("cp1252")()
        line = 1
        while chunk := f.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise InputError(
                    str(path),
                    f"unreadable text encoding: byte 0x{chunk[exc.start]:02x} is neither UTF-8 nor "
                    "Windows-1252; re-save the file as CSV UTF-8",
                    row=line,
                    row_label="line",
                ) from None
            line += chunk.count(b"\n")
    return "cp1252"


def detect_format(path: Path, encoding: str) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in ("jsonl", "ndjson", "csv", "tsv"):
        return ext if ext != "ndjson" else "jsonl"
    # A .json extension is checked: a JSON-lines file named .json is common.
    with open(path, encoding=encoding, errors="replace") as f:
        return sniff_format(f.read(65536), ext=ext)


def sniff_format(head: str, *, ext: str = "") -> str:
    """Format from the first block of text (a file's, or a pipe's with no name)."""
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        first_line, _, rest = stripped.partition("\n")
        try:
            json.loads(first_line)
        except ValueError:
            return "json"
        # One complete object per line is JSON lines; a single one-line object is plain JSON.
        return "jsonl" if rest.strip() or ext != "json" else "json"
    if ext == "json":
        return "json"
    return "tsv" if _pick_delimiter(head) == "\t" else "csv"


def _pick_delimiter(head: str) -> str:
    """The separator that splits the header line most: Excel in a Dutch locale writes `;`."""
    header = head.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: _count_outside_quotes(header, d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _count_outside_quotes(line: str, ch: str) -> int:
    n, quoted = 0, False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == ch and not quoted:
            n += 1
    return n


class _Lines:
    """Binary line iterator that counts lines and re-encodes legacy encodings to UTF-8 for json."""

    def __init__(self, fp: IO[bytes], encoding: str):
        self.fp = fp
        self.encoding = encoding
        self.line = 0

    def __iter__(self) -> Iterator[bytes]:
        for raw in self.fp:
            self.line += 1
            if self.encoding not in ("utf-8", "utf-8-sig"):
                raw = raw.decode(self.encoding).encode("utf-8")
            elif self.line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[3:]
            # Without the newline a truncated object reports the column where it breaks off.
            yield raw.rstrip(b"\r\n")


def _check_file(p: Path, name: str) -> None:
    if not p.exists():
        raise InputError(name, "file not found")
    if p.is_dir():
        raise InputError(name, "is a directory, not a file")
    if p.stat().st_size == 0:
        raise InputError(name, "the file is empty")


def open_table(path: str | Path, *, format: str | None = None, encoding: str | None = None) -> Table:
    p = Path(path)
    name = str(path)
    _check_file(p, name)
    enc = encoding or detect_encoding(p)
    fmt = (format or detect_format(p, enc)).lower()
    if fmt not in FORMATS:
        raise InputError(name, f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    fp = open(p, "rb")
    try:
        if fmt == "jsonl":
            return _open_jsonl(name, fp, enc)
        if fmt == "json":
            return _open_json(name, fp, enc)
        return _open_csv(name, fp, enc, fmt)
    except BaseException:
        fp.close()
        raise


def _open_csv(name: str, fp: IO[bytes], enc: str, fmt: str) -> Table:
    head = fp.read(65536).decode(enc, errors="replace")
    fp.seek(0)
    delimiter = "\t" if fmt == "tsv" else _pick_delimiter(head)

    class Dialect(csv.excel):
        pass

    Dialect.delimiter = delimiter
    rows, _ = rows_from_file(fp, format=Format.CSV, dialect=Dialect, encoding=enc, extras_key=_EXTRAS)
    rows = iter(rows)
    try:
        first = next(rows, None)
    except csv.Error as exc:
        raise InputError(name, f"not a readable {fmt.upper()} file ({exc})", row=1) from None
    header_line = head.lstrip("\ufeff").split("\n", 1)[0].rstrip("\r")
    columns = next(csv.reader([header_line], dialect=Dialect), [])
    columns = [c.strip() for c in columns]
    seen = set()
    for c in columns:
        if not c:
            continue
        if c in seen:
            raise InputError(name, f"the header names column {c!r} twice", row=1, column=c)
        seen.add(c)

    def numbered() -> Iterator[tuple[int, dict[str, Any]]]:
        number = 1
        pending = [first] if first is not None else []
        try:
            for row in _chain(pending, rows):
                number += 1
                extras = row.pop(_EXTRAS, None)
                if extras:
                    raise InputError(
                        name,
                        f"{len(columns) + len(extras)} fields but the header has {len(columns)} "
                        f"(an unquoted {delimiter!r} in a text?)",
                        row=number,
                    )
                yield number, {(k or "").strip(): v for k, v in row.items() if k is not None}
        except csv.Error as exc:
            raise InputError(name, f"broken {fmt.upper()} ({exc})", row=number + 1) from None
        except UnicodeDecodeError as exc:
            raise InputError(name, f"cannot decode as {enc} ({exc.reason})", row=number + 1) from None

    return Table(name, fmt, enc, columns, numbered(), "row", fp)


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _open_jsonl(name: str, fp: IO[bytes], enc: str) -> Table:
    lines = _Lines(fp, enc)
    rows, _ = rows_from_file(lines, format=Format.NL)  # type: ignore[arg-type]
    rows = iter(rows)

    def numbered() -> Iterator[tuple[int, dict[str, Any]]]:
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except json.JSONDecodeError as exc:
                raise InputError(name, f"broken JSON ({exc.msg} at column {exc.colno})",
                                 row=lines.line, row_label="line") from None
            except UnicodeDecodeError as exc:
                raise InputError(name, f"cannot decode as {enc} ({exc.reason})",
                                 row=lines.line, row_label="line") from None
            if not isinstance(row, dict):
                raise InputError(name, f"expected a JSON object, found {type(row).__name__}",
                                 row=lines.line, row_label="line")
            yield lines.line, row

    return _with_columns_from_first(Table(name, "jsonl", enc, [], numbered(), "line", fp))


def _open_json(name: str, fp: IO[bytes], enc: str) -> Table:
    source: IO[bytes] = fp
    if enc not in ("utf-8", "utf-8-sig"):
        source = io.BytesIO(fp.read().decode(enc).encode("utf-8"))
    try:
        data, _ = rows_from_file(source, format=Format.JSON)
    except json.JSONDecodeError as exc:
        raise InputError(name, f"broken JSON ({exc.msg} at column {exc.colno})",
                         row=exc.lineno, row_label="line") from None
    except Exception as exc:  # RowsFromFileBadJSON and friends: the top level is not a table
        raise InputError(name, f"not a table of records ({exc})") from None
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        # {"reviews": [...]}: a wrapper object around one list of records.
        lists = [v for v in data[0].values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(lists) == 1:
            data = lists[0]

    def numbered() -> Iterator[tuple[int, dict[str, Any]]]:
        for i, row in enumerate(data, start=1):
            if not isinstance(row, dict):
                raise InputError(name, f"expected a JSON object, found {type(row).__name__}",
                                 row=i, row_label="record")
            yield i, row

    return _with_columns_from_first(Table(name, "json", enc, [], numbered(), "record", fp))


def _with_columns_from_first(table: Table) -> Table:
    """JSON has no header: the first record's keys stand in for it."""
    first = next(table.rows, None)
    if first is None:
        table.rows = iter(())
        return table
    table.columns = [str(k) for k in first[1].keys()]
    table.rows = _chain([first], table.rows)
    return table


# ---------------------------------------------------------------------------------------------
# Column mapping


def _norm(name: str) -> str:
    return re.sub(r"[^0-9a-z]", "", name.lower())


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
    "breakpoint": ("breakpoint", "touchpoint", "journeystep", "step", "breekpunt", "contactmoment"),
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
_LANG_SYNONYMS = {"en": ("en", "eng", "english", "engels"), "nl": ("nl", "nld", "dut", "dutch", "nederlands", "vlaams", "flemish")}


@dataclass
class ColumnMap:
    text: str
    id: str | None = None
    source: str | None = None
    breakpoint: str | None = None
    moment: str | None = None
    stage: str | None = None
    rating: str | None = None
    created_at: str | None = None
    lang: str | None = None
    reasons: str | None = None

    def mapped(self) -> set[str]:
        return {getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


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
    for key, names in CANDIDATES.items():
        if key in chosen:
            continue
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
    return ColumnMap(**{k: v for k, v in chosen.items() if k in {f.name for f in fields(ColumnMap)}})


# ---------------------------------------------------------------------------------------------
# Row preparation


@dataclass
class RowOptions:
    source: str | None = None
    breakpoint: str | None = None
    lang: str | None = None
    default_source: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)


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


def normalise_lang(value: str) -> str | None:
    v = value.strip().lower().replace("_", "-").split("-")[0]
    for canonical, names in _LANG_SYNONYMS.items():
        if v in names:
            return canonical
    return v or None


_NUMBER_RE = re.compile(r"-?\d+(?:[.,]\d+)?")


def parse_rating(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
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

    text = cell(row, cols.text)
    if not text:
        return "empty text"
    if "\ufffd" in text:
        raise bad(cols.text, "text holds undecodable bytes (the file mixes encodings)")
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
    mapped = cols.mapped()
    meta = {k: v for k, v in row.items() if k not in mapped and v not in (None, "")}
    if cols.rating and rating is None and cell(row, cols.rating):
        meta[cols.rating] = row[cols.rating]
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
        created_at=cell(row, cols.created_at) or None,
        meta=meta,
        reasons=reasons,
    )


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
) -> tuple[ImportCounts, ColumnMap, Table]:
    """Import one export in one transaction; an error anywhere leaves the database as it was.
    A `redactor` (whylabel.redact.Redactor) replaces personal data in every cell before it is stored."""
    opts = options or RowOptions()
    table = open_table(path, format=format)
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
        counts = ImportCounts()

        def records() -> Iterator[ItemRecord]:
            for number, row in table.rows:
                counts.rows_read += 1
                if redactor is not None:
                    row = redactor.row(row)
                rec = prepare_row(table, number, row, cols, opts, codebook, detect)
                if isinstance(rec, str):
                    counts.skip(rec)
                    continue
                if progress and counts.rows_read % 1000 == 0:
                    progress(table.bytes_read())
                yield rec

        store.import_records(
            records(),
            path=str(path),
            file_sha256=file_sha256(path),
            format=table.format,
            options={"columns": {k: v for k, v in vars(cols).items() if v}, "encoding": table.encoding},
            annotator=annotator,
            codebook_hash=codebook.hash,
            counts=counts,
        )
        if progress:
            progress(table.bytes_read())
        return counts, cols, table
    finally:
        table.close()


# ---------------------------------------------------------------------------------------------
# Lenient reading (batch predict): one bad row is a value, not an exception; "-" reads stdin.


STDIN = "-"
_RAW_LIMIT = 20_000  # characters of a bad row kept for the rejects file
_FIRST_GOOD_LIMIT = 1000  # JSON lines without a single object before we call it "not a table"


@dataclass
class BadRow:
    """A row that cannot be used: where it starts (line, or record for a JSON array), why, what it held."""

    number: int
    reason: str
    raw: str


@dataclass
class LenientTable(Table):
    """A Table whose rows may be BadRows; `last_raw()` is the raw text of the row yielded last."""

    last_raw: Callable[[], str] = lambda: ""
    # The exact text of the record yielded last, for a comma-separated CSV (None otherwise): what
    # `whylabel predict` copies to its CSV output instead of parsing and quoting the cells again.
    last_record: Callable[[], str] | None = None


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


def _stdin_encoding(head: bytes) -> str:
    """A pipe cannot be pre-scanned: judge by its first block; later undecodable rows become BadRows."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:8192]:
        raise InputError("<stdin>", "this is binary data, not CSV/TSV/JSON text")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut in half at the end of the block
            return "cp1252"
    return "utf-8"


def open_table_lenient(
    path: str | Path, *, format: str | None = None, stdin: IO[bytes] | None = None
) -> LenientTable:
    """Like `open_table`, but `rows` yields a `BadRow` in place of a row it cannot read.

    Whole-input problems (missing, empty, binary, no readable header, not JSON at all) still raise
    `InputError` here, before a single row is read. Rows are numbered by physical line where the
    record starts (CSV/TSV/JSONL) or by record (JSON array). `path` "-" reads `stdin` (default
    sys.stdin): its encoding is judged from the first 64 KiB and a row that does not decode later
    becomes a BadRow. A JSON array is loaded whole (JSON lines and CSV stream).
    """
    name = str(path)
    fmt = format.lower() if format else None
    if fmt and fmt not in FORMATS:
        raise InputError(name, f"unknown format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    if name == STDIN:
        import sys

        pipe = stdin if stdin is not None else sys.stdin.buffer
        # What has arrived, up to the first line end: a slow producer must not stall the run.
        read = getattr(pipe, "read1", pipe.read)
        head = b""
        while len(head) < 65536 and b"\n" not in head:
            more = read(65536 - len(head))
            if not more:
                break
            head += more
        if not head:
            raise InputError("<stdin>", "no input on stdin")
        enc = _stdin_encoding(head)
        fp: IO[bytes] = io.BufferedReader(_PrependedRaw(head, pipe), 1 << 16)
        head_text = head.decode(enc, errors="replace")
        fmt = fmt or sniff_format(head_text)
        name, replaced = "<stdin>", True
    else:
        p = Path(path)
        _check_file(p, name)
        enc = detect_encoding(p)
        fmt = fmt or detect_format(p, enc)
        fp = open(p, "rb")
        head_text = fp.read(65536).decode(enc, errors="replace")
        fp.seek(0)
        replaced = False
    try:
        text = io.TextIOWrapper(fp, encoding=enc, errors="replace" if replaced else "strict", newline="")
        if fmt == "json":
            return _lenient_json(name, fp, text, enc)
        if fmt == "jsonl":
            return _lenient_jsonl(name, fp, text, enc, replaced)
        return _lenient_csv(name, fp, text, enc, fmt, head_text, replaced)
    except BaseException:
        fp.close()
        raise


def _raw(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= _RAW_LIMIT else text[:_RAW_LIMIT] + "…"


def _lenient_csv(
    name: str, fp: IO[bytes], text: IO[str], enc: str, fmt: str, head: str, replaced: bool
) -> LenientTable:
    class Dialect(csv.excel):
        pass

    Dialect.delimiter = "\t" if fmt == "tsv" else _pick_delimiter(head)
    line_no = 0
    record: list[str] = []  # the physical lines of the record being parsed

    def lines() -> Iterator[str]:
        nonlocal line_no
        for line in text:
            line_no += 1
            record.append(line)
            yield line

    reader = csv.reader(lines(), Dialect)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(name, f"not a readable {fmt.upper()} file ({exc})", row=1, row_label="line") from None
    if not header:
        raise InputError(name, f"no header line: not a {fmt.upper()} table", row=1, row_label="line")
    columns = [c.lstrip("\ufeff").strip() for c in header]
    seen: set[str] = set()
    for c in columns:
        if c and c in seen:
            raise InputError(name, f"the header names column {c!r} twice", row=1, column=c)
        seen.add(c)
    ncols = len(columns)
    delimiter = Dialect.delimiter

    def numbered() -> Iterator[tuple[int, dict[str, Any]] | BadRow]:
        while True:
            start = line_no + 1
            record.clear()
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield BadRow(start, f"broken {fmt.upper()} ({exc})", _raw("".join(record)))
                continue
            if not values:  # a blank line
                continue
            if replaced and any("\ufffd" in line for line in record):
                yield BadRow(start, "undecodable bytes (the input mixes encodings)", _raw("".join(record)))
                continue
            if len(values) > ncols:
                yield BadRow(start, f"{len(values)} fields but the header has {ncols} "
                                    f"(an unquoted {delimiter!r} in a text?)", _raw("".join(record)))
                continue
            yield start, dict(zip(columns, values))

    def last_record() -> str:
        return record[0] if len(record) == 1 else "".join(record)

    return LenientTable(name, fmt, enc, columns, numbered(), "line", fp, last_raw=lambda: _raw("".join(record)),
                        last_record=last_record if delimiter == "," else None)


def _lenient_jsonl(name: str, fp: IO[bytes], text: IO[str], enc: str, replaced: bool) -> LenientTable:
    last = [""]

    def parsed() -> Iterator[tuple[int, dict[str, Any]] | BadRow]:
        number = 0
        while True:
            try:
                line = next(text)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:  # only when the encoding check was skipped
                yield BadRow(number + 1, f"cannot decode as {enc} ({exc.reason})", "")
                return
            number += 1
            stripped = line.strip()
            if not stripped:
                continue
            if replaced and "\ufffd" in line:
                yield BadRow(number, "undecodable bytes (the input mixes encodings)", _raw(line))
                continue
            try:
                obj = json.loads(stripped)
            except ValueError as exc:
                msg = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)
                yield BadRow(number, f"broken JSON ({msg})", _raw(line))
                continue
            if not isinstance(obj, dict):
                yield BadRow(number, f"expected a JSON object, found {type(obj).__name__}", _raw(line))
                continue
            last[0] = line
            yield number, obj

    rows = parsed()
    leading: list[Any] = []
    for item in rows:
        leading.append(item)
        if not isinstance(item, BadRow):
            break
        if len(leading) >= _FIRST_GOOD_LIMIT:
            raise InputError(name, f"not JSON lines: the first {len(leading)} lines hold no JSON object "
                                   f"(line {leading[0].number}: {leading[0].reason})")
    good = [item for item in leading if not isinstance(item, BadRow)]
    if not good:
        if leading:
            first = leading[0]
            raise InputError(name, f"not JSON lines: no line holds a JSON object "
                                   f"(line {first.number}: {first.reason})")
        raise InputError(name, "no records in the input")
    columns = [str(k) for k in good[0][1].keys()]
    return LenientTable(name, "jsonl", enc, columns, _chain(leading, rows), "line", fp,
                        last_raw=lambda: _raw(last[0]))


def _lenient_json(name: str, fp: IO[bytes], text: IO[str], enc: str) -> LenientTable:
    try:
        data = json.loads(text.read())
    except json.JSONDecodeError as exc:
        raise InputError(name, f"broken JSON ({exc.msg} at column {exc.colno})",
                         row=exc.lineno, row_label="line") from None
    except UnicodeDecodeError as exc:
        raise InputError(name, f"cannot decode as {enc} ({exc.reason})") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        data = lists[0] if len(lists) == 1 else [data]
    if not isinstance(data, list):
        raise InputError(name, f"not a table of records (the JSON holds a {type(data).__name__})")
    first = next((r for r in data if isinstance(r, dict)), None)
    if first is None:
        raise InputError(name, "not a table of records (no JSON object in the array)")
    columns = [str(k) for k in first.keys()]

    last: list[Any] = [None]

    def numbered() -> Iterator[tuple[int, dict[str, Any]] | BadRow]:
        for i, row in enumerate(data, start=1):
            if isinstance(row, dict):
                last[0] = row
                yield i, row
            else:
                yield BadRow(i, f"expected a JSON object, found {type(row).__name__}",
                             _raw(json.dumps(row, ensure_ascii=False)))

    return LenientTable(name, "json", enc, columns, numbered(), "record", fp,
                        last_raw=lambda: _raw(json.dumps(last[0], ensure_ascii=False)))
