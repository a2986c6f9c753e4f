"""Writing labeled breakpoints out: the item CSV/JSONL/.xlsx/Parquet and the per-breakpoint "why" summary.

Contract: a regular file is written to a temporary file beside the target and renamed into place,
so a crash never leaves half a file; a device, FIFO or stdout is written directly (`safefile`). CSV cells a spreadsheet would run as a formula are neutralised;
`excel=True` writes what a Dutch-locale spreadsheet opens correctly (UTF-8 BOM, `;` separator).
An .xlsx output is a real workbook (`whylabel.workbook`): typed cells, nothing neutralised; so is
a Parquet output (`whylabel.io.parquet`, needs the `dask` extra's pyarrow).
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from itertools import chain
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .codebook import Codebook
from .errors import OptionError
from .safefile import output
from .store import Store

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix a quote so a spreadsheet shows the cell instead of running it (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def atomic_output(path: str | Path, *, encoding: str = "utf-8") -> contextlib.AbstractContextManager[IO[str]]:
    """A text stream that becomes `path` complete or not at all (`-` is stdout, a device is
    written directly); see `whylabel.safefile.output`."""
    return output(path, encoding=encoding)


def format_from_name(out: str | Path | None) -> str:
    """The output format an -o name asks for: .xlsx a workbook, .parquet (.pq) Parquet,
    .jsonl/.ndjson/.json JSON lines, else CSV."""
    suffix = Path(str(out)).suffix.lower() if out else ""
    if suffix == ".xlsx":
        return "xlsx"
    if suffix in (".parquet", ".pq", ".parq"):
        return "parquet"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    return "csv"


@contextlib.contextmanager
def open_writer(out: str | Path, columns: Sequence[str], *, format: str = "csv", excel: bool = False,
                title: str = "whylabel", delimiter: str | None = None,
                types: dict[str, Any] | None = None) -> Iterator[Any]:
    """A row writer for `out` that appears complete or not at all: a TableWriter, for "xlsx" an
    XlsxWriter whose workbook is written when the block ends without an exception, for "parquet"
    a `whylabel.io.parquet.ParquetWriter` (column `types`: Arrow types or their names; the rest text)."""
    if format == "parquet":
        from .io.parquet import ParquetWriter, require_pyarrow

        require_pyarrow(str(out))  # before the output file is begun
        with output(out, binary=True) as stream:
            parquet = ParquetWriter(stream, columns, types=types, name=str(out))
            try:
                yield parquet
            except BaseException:
                parquet.discard()
                raise
            parquet.close()
        return
    if format != "xlsx":
        with atomic_output(out) as stream:
            yield TableWriter(stream, columns, format=format, excel=excel, delimiter=delimiter)
        return
    from .workbook import XlsxWriter

    writer = XlsxWriter(columns, title=title)
    with output(out, binary=True) as stream:
        try:
            yield writer
        except BaseException:
            writer.discard()
            raise
        writer.save(stream)


def csv_quoted(cells: list[str], delimiter: str) -> list[str]:
    """A column's cells as CSV writes them: a cell that holds the separator, a quote, a line feed
    or a carriage return quoted (`TableWriter`'s rule); a column with none of them as it is."""
    whole = "".join(cells)
    if delimiter not in whole and '"' not in whole and "\n" not in whole and "\r" not in whole:
        return cells
    return [f'"{v.replace(chr(34), chr(34) * 2)}"' if (delimiter in v or '"' in v or "\n" in v or "\r" in v) else v
            for v in cells]


class TableWriter:
    """CSV (plain or Excel dialect) or JSONL rows with a fixed column order.

    Every CSV cell that holds the separator, a quote, a line feed or a carriage return is quoted,
    whatever the line ending: Python's csv module (before 3.13) leaves a lone "\r" unquoted when
    the line end is "\n", and a reader would start a new row there.
    """

    def __init__(self, stream: IO[str], columns: Sequence[str], *, format: str = "csv", excel: bool = False,
                 delimiter: str | None = None, header: bool = True):
        self.format = format
        self.columns = list(columns)
        self.stream = stream
        self.delimiter = ";" if excel else (delimiter or ",")
        self.lineterminator = "\r\n" if excel else "\n"
        if format == "csv":
            if header and excel and getattr(stream, "name", None) != sys.stdout.name:
                stream.write("\ufeff")
            self._csv = csv.writer(stream, delimiter=self.delimiter, lineterminator=self.lineterminator)
            self._buf = _Lines()
            self._buf_csv = csv.writer(self._buf, delimiter=self.delimiter, lineterminator=self.lineterminator)
            # Quotes a cell with "\r" too (it is part of this line end); the end is swapped back.
            self._careful_buf = _Lines()
            self._careful_csv = csv.writer(self._careful_buf, delimiter=self.delimiter, lineterminator="\r\n")
            self._careful_needed = self.lineterminator != "\r\n"
            if header:  # (without: a part of a file whose header another writer wrote)
                self.write_values([neutralise(c) for c in self.columns])  # an input's header names too

    def write_text(self, text: str) -> None:
        """Rows that a writer of the same columns and dialect already formatted (`header=False`)."""
        self.stream.write(text)

    def _careful_line(self, values: Sequence[Any]) -> str:
        self._careful_csv.writerow(values)
        return self._careful_buf.pop()[:-2] + self.lineterminator

    def _has_cr(self, values: Sequence[Any]) -> bool:
        return self._careful_needed and any(type(v) is str and "\r" in v for v in values)

    def write(self, row: dict[str, Any]) -> None:
        if self.format == "jsonl":
            self.stream.write(json.dumps({c: row.get(c) for c in self.columns}, ensure_ascii=False) + "\n")
            return
        self.write_values([_csv_cell(row.get(c)) for c in self.columns])

    def write_values(self, values: Sequence[Any]) -> None:
        """A row in column order whose cells the caller already formatted and neutralised (batch fast path)."""
        if self.format == "jsonl":
            self.stream.write(json.dumps(dict(zip(self.columns, values)), ensure_ascii=False) + "\n")
            return
        if self._has_cr(values):
            self.stream.write(self._careful_line(values))
        else:
            self._csv.writerow(values)

    def write_rows(self, rows: Sequence[list[Any] | str], added: Sequence[Sequence[Any]]) -> None:
        """Rows of input cells (formatted and neutralised), or input CSV records already in this
        file's dialect (copied as read, line end stripped; the caller copies only records without
        quotes or line breaks), each followed by its `added` cells; one write per call (batch
        fast path)."""
        if self.format == "jsonl":
            for cells, more in zip(rows, added):
                self.write_values([*cells, *more])
            return
        buf = self._buf
        row_out, d = self._buf_csv.writerow, self.delimiter
        for cells, more in zip(rows, added):
            if type(cells) is str:
                buf.append(cells)
                buf.append(d)
                row_out(more)
            else:
                cells.extend(more)
                row_out(cells)
        text = "".join(buf)
        buf.clear()
        if self._careful_needed and "\r" in text:  # rare: write this batch again, quoting every "\r"
            lines = []
            for cells, more in zip(rows, added):
                if type(cells) is str:
                    lines.append(cells + d + self._careful_line(more))
                else:  # already extended with `more` above
                    lines.append(self._careful_line(cells))
            text = "".join(lines)
        self.stream.write(text)


    def write_lines(self, rows: Sequence[list[Any] | str], ends: Sequence[str]) -> None:
        """Rows of input cells or records (as `write_rows` takes them), each followed by the rest of
        its line already formatted in this writer's dialect (`whylabel.batch.Labeler.label_csv`);
        one write per call."""
        lists = [i for i, r in enumerate(rows) if type(r) is not str]
        if lists:
            rows = list(rows)
            for i, text in zip(lists, self._cells_texts([rows[i] for i in lists])):
                rows[i] = text
        self.stream.write("".join([r + end for r, end in zip(rows, ends)]))

    def _cells_texts(self, rows: list[Sequence[Any]]) -> list[str]:
        """Rows of cells as this writer writes them, without the line end (a "\r" in a cell quoted):
        text cells a column at a time (`csv_quoted`), anything else through the csv module."""
        width = len(rows[0])
        if all(len(r) == width for r in rows) and set(map(type, chain.from_iterable(rows))) == {str}:
            return list(map(self.delimiter.join, zip(*(csv_quoted(list(c), self.delimiter) for c in zip(*rows)))))
        lines = []
        for values in rows:
            self._careful_csv.writerow(values)
            lines.append(self._careful_buf.pop()[:-2])
        return lines


class _Lines(list):
    """A csv.writer target that keeps the lines (joined and written once per batch)."""

    write = list.append


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return neutralise(";".join(str(v) for v in value))
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:g}"
    return neutralise(value)


def export_columns(codebook: Codebook) -> list[str]:
    return [
        "item_id", "external_id", "source", "breakpoint", "moment", "stage", "lang", "rating",
        "created_at", "text", "reasons", "driver", *codebook.reason_names, "annotator", "labeled_at",
        "suggested_reasons", "suggestion_confidence", "note",
    ]


INPUT_PREFIX = "input_"


@dataclass
class _ImportColumns:
    """What an import's rows held: its header (None for imports stored before headers were kept;
    a JSON file's records may add keys to it), the column its text came from, the columns it mapped
    onto item fields, and whether every cell but the text was kept as written."""

    header: list[str] | None
    text: str | None
    fields: dict[str, str]  # column -> export row key (older imports: values from the stored fields)
    as_written: bool
    keys_vary: bool

    @classmethod
    def of(cls, options: dict) -> _ImportColumns:
        named = dict(options.get("columns") or {})
        text = named.pop("text", None)
        named.pop("reasons", None)  # older imports kept no labels per item
        fields = {column: ("external_id" if name == "id" else name) for name, column in named.items()}
        return cls(options.get("header"), text, fields, "header" in options, bool(options.get("keys_vary")))

    @property
    def fixed(self) -> bool:
        """Its header names every column its items have."""
        return self.header is not None and not self.keys_vary

    def columns(self, meta: dict) -> list[str]:
        if self.header is not None:
            return [*self.header, *meta] if self.keys_vary else self.header
        return [*meta, *([self.text] if self.text else []), *([] if self.as_written else self.fields)]

    def value(self, column: str, row: dict, meta: dict) -> Any:
        if column == self.text:
            return row["text"]
        if column in meta:
            return meta[column]
        if not self.as_written and column in self.fields:
            return row.get(self.fields[column])
        return None


_UNKNOWN_IMPORT = _ImportColumns(None, None, {}, True, True)


def input_columns(store: Store, annotator: str | None = None) -> list[str]:
    """The original imports' columns of the items an export writes: the union over those items,
    in first-seen order (items from different imports may have different columns)."""
    imports = {n: _ImportColumns.of(o) for n, o in store.import_options().items()}
    seen: dict[str, None] = {}
    ids = store.export_import_ids(annotator)
    if all(imports.get(n, _UNKNOWN_IMPORT).fixed for n in ids):
        for n in ids:  # each import's header: no need to read the items
            seen.update(dict.fromkeys(imports[n].header))
        return list(seen)
    fixed_seen: set[int] = set()
    for row in store.export_rows(annotator):  # JSON keys, or imports stored before headers were kept
        if row["import_id"] in fixed_seen:
            continue
        source = imports.get(row["import_id"], _UNKNOWN_IMPORT)
        if source.fixed:
            fixed_seen.add(row["import_id"])
        seen.update(dict.fromkeys(source.columns(json.loads(row["meta"]) if row["meta"] else {})))
    return list(seen)


def input_column_names(columns: Sequence[str], taken: Iterable[str]) -> list[str]:
    """Each input column's name in the export: its own, or with `input_` where it would clash with
    one of whylabel's columns (compared ignoring case, as a spreadsheet user reads them)."""
    used = {t.lower() for t in taken}
    names = []
    for column in columns:
        name = column
        while name.lower() in used:
            name = INPUT_PREFIX + name
        used.add(name.lower())
        names.append(name)
    return names


def choose_input_columns(available: Sequence[str], chosen: Sequence[str] | None) -> list[str]:
    """`--columns a,b,c`: these input columns in this order (None: all of them)."""
    if chosen is None:
        return list(available)
    known = set(available)
    out: list[str] = []
    for name in chosen:
        if name not in known:
            listed = ", ".join(available) if available else "(none: no labeled item has input columns)"
            raise OptionError(f"--columns: no input column named {name!r} (available: {listed})")
        if name not in out:
            out.append(name)
    return out


def export_items(
    store: Store,
    codebook: Codebook,
    out: str | Path,
    *,
    annotator: str | None = None,
    format: str = "csv",
    excel: bool = False,
    columns: Sequence[str] | None = None,
) -> int:
    """One row per item with a current label, whylabel's columns followed by the original
    import's columns (all of them, or `columns`); returns how many rows were written."""
    own = export_columns(codebook)
    with store.snapshot():  # both passes see the same labels
        inputs = choose_input_columns(input_columns(store, annotator), columns)
        names = input_column_names(inputs, own)
        imports = {n: _ImportColumns.of(o) for n, o in store.import_options().items()}
        n = 0
        types = None
        if format == "parquet":
            from .io.parquet import export_types

            types = export_types(codebook)  # the input columns are text
        with open_writer(out, [*own, *names], format=format, excel=excel, title="labeled", types=types) as writer:
            for row in store.export_rows(annotator):
                meta = json.loads(row["meta"]) if row["meta"] and inputs else {}
                source = imports.get(row["import_id"], _UNKNOWN_IMPORT)
                for column, name in zip(inputs, names):
                    row[name] = _input_cell(source.value(column, row, meta), format)
                reasons = row["reasons"]
                row["driver"] = codebook.driver_of(r for r in reasons if r in codebook.reason_names)
                for name in codebook.reason_names:
                    row[name] = int(name in reasons)
                if format != "jsonl":
                    row["reasons"] = ";".join(reasons) if reasons else "none"
                writer.write(row)
                n += 1
    return n


def _input_cell(value: Any, format: str) -> Any:
    """An input cell as its format holds it: JSON keeps types; a nested JSON value is JSON text
    elsewhere; a CSV float keeps every digit it was read with."""
    if format == "jsonl":
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if format == "csv" and type(value) is float:
        return repr(value)
    if format == "parquet" and value is not None and not isinstance(value, str):
        return repr(value) if type(value) is float else str(value)
    return value


def breakpoint_summary(store: Store, codebook: Codebook, *, annotator: str | None = None) -> list[dict]:
    """Per breakpoint: the "what" (reached, dropped) beside the "why" (reason and driver shares)."""
    from .report import funnel_figures

    names = codebook.reason_names
    rows: dict[str, dict] = {}
    for bp in funnel_figures(store).values():  # with periods: the totals over them
        rows[bp["name"]] = _summary_row(bp, names)
    for item in store.export_rows(annotator):
        name = item["breakpoint"] or "(none)"
        row = rows.setdefault(name, _summary_row({"name": name}, names))
        row["labeled"] += 1
        reasons = [r for r in item["reasons"] if r in names]
        for r in reasons:
            row[r] += 1
        row[codebook.driver_of(reasons)] += 1
    out = []
    for row in rows.values():
        labeled = row["labeled"]
        if row["reached"]:
            row["drop_rate"] = round((row["dropped"] or 0) / row["reached"], 4)
        for key in (*names, "emotional", "rational", "mixed", "none"):
            row[f"{key}_share"] = round(row[key] / labeled, 4) if labeled else None
        ranked = sorted(names, key=lambda r: -row[r])
        row["top_reason"] = ranked[0] if labeled and row[ranked[0]] else ""
        out.append(row)
    return sorted(out, key=lambda r: (-r["labeled"], r["breakpoint"]))


def _summary_row(bp: dict, names: Iterable[str]) -> dict:
    row = {
        "breakpoint": bp["name"], "moment": bp.get("moment"), "stage": bp.get("stage"),
        "reached": bp.get("reached"), "dropped": bp.get("dropped"), "drop_rate": None, "labeled": 0,
        "emotional": 0, "rational": 0, "mixed": 0, "none": 0,
    }
    row.update({n: 0 for n in names})
    return row


def summary_columns(codebook: Codebook) -> list[str]:
    names = codebook.reason_names
    return [
        "breakpoint", "moment", "stage", "reached", "dropped", "drop_rate", "labeled", "top_reason",
        "emotional", "rational", "mixed", "none", *names,
        "emotional_share", "rational_share", "mixed_share", "none_share", *(f"{n}_share" for n in names),
    ]
