"""Judging an input before reading it: its text encoding, its format and its CSV separator."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

from ..errors import InputError

HEAD_SIZE = 65536  # characters of the input the format and the separator are judged by


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
        while chunk := f.read(chunk_size):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                break
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
                # A byte scan, before any row is parsed: the physical line is what we know.
                raise InputError(
                    str(path),
                    f"unreadable text encoding: byte 0x{chunk[exc.start]:02x} is neither UTF-8 nor "
                    "Windows-1252; re-save the file as CSV UTF-8",
                    row=line,
                    row_label="line",
                ) from None
            line += chunk.count(b"\n")
    return "cp1252"


def stream_encoding(head: bytes, name: str) -> str:
    """A pipe cannot be pre-scanned: judge by its first block; a later undecodable row is a bad row."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head[:8192]:
        raise InputError(name, "this is binary data, not CSV/TSV/JSON text")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut in half at the end of the block
            return "cp1252"
    return "utf-8"


def detect_format(path: Path, encoding: str) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext in ("jsonl", "ndjson", "csv", "tsv"):
        return ext if ext != "ndjson" else "jsonl"
    # A .json extension is checked: a JSON-lines file named .json is common.
    with open(path, encoding=encoding, errors="replace") as f:
        return sniff_format(f.read(HEAD_SIZE), ext=ext)


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
    return "tsv" if pick_delimiter(head) == "\t" else "csv"


def pick_delimiter(head: str) -> str:
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
