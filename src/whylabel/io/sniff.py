"""Judging an input before reading it: its text encoding, its format and its CSV separator."""

from __future__ import annotations

import codecs
import io
import json
import re
import threading
from pathlib import Path
from typing import IO

from ..errors import InputError

HEAD_SIZE = 65536  # characters of the input the format and the separator are judged by


class _Tally:
    """Counts what a decoder had to replace: spans (as U+FFFD shows them) and bytes."""

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0


_tallies = threading.local()
TALLY = "whylabel.tally"  # an error handler: replace with U+FFFD, and count what was replaced


def _tally_error(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    tally = getattr(_tallies, "current", None)
    if tally is not None:
        tally.spans += 1
        tally.bytes += exc.end - exc.start
    return "\ufffd", exc.end


codecs.register_error(TALLY, _tally_error)

_BOMS = (  # UTF-32's little-endian BOM starts with UTF-16's: test it first
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(path: Path, *, chunk_size: int = 1 << 20) -> str:
    return scan_encoding(path, chunk_size=chunk_size)[0]


def scan_encoding(path: Path, *, chunk_size: int = 1 << 20) -> tuple[str, int]:
    """The file's encoding, and how many of its bytes do not decode (they read as U+FFFD).

    UTF-32 or UTF-16 with a BOM; UTF-8 (with or without BOM) when nearly all of it is UTF-8: a file
    cut inside its last character, or with a stray byte among valid accented text, is UTF-8 with a
    few bytes replaced, never Windows-1252 mojibake ("CafÃ©"); else Windows-1252 (which decodes all
    but five byte values). Binary files are refused. The whole file is decoded once, incrementally:
    an export can be valid UTF-8 for 10 MB and then carry one Windows-1252 "é".
    """
    with open(path, "rb") as f:
        head = f.read(4)
        for bom, encoding in _BOMS:
            if head.startswith(bom):
                f.seek(0)
                return encoding, _count_undecodable(f, encoding, chunk_size)
        f.seek(0)
        if b"\x00" in f.read(8192):
            raise InputError(
                str(path),
                "this is a binary file, not CSV/TSV/JSON text or an .xlsx workbook",
            )
        f.seek(0)
        bad, tail, multibyte, last = _utf8_evidence(f, chunk_size)
        utf8 = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        if not bad.spans and not tail.spans:
            return utf8, 0
        cut_character = tail.spans and (multibyte or tail.bytes > 1 or 0xC2 <= last[-1] <= 0xDF)
        if not bad.spans:
            nearly_all = cut_character
        elif not multibyte:  # not one valid multi-byte character: nothing of it is UTF-8 text
            nearly_all = False
        else:  # a vote by line: a Windows-1252 file has no line of valid multi-byte UTF-8
            f.seek(0)
            utf8_lines, other_lines = _line_votes(f, chunk_size, tail.bytes)
            nearly_all = utf8_lines >= other_lines
        if utf8 == "utf-8-sig" or nearly_all:
            return utf8, bad.bytes + tail.bytes
        f.seek(0)
        _check_cp1252(f, path, chunk_size)
    return "cp1252", 0


# Bytes decoded at a time: one emoji makes a whole str four bytes a character, so a 1 MiB piece of
# mostly-ASCII text decodes ~5x slower than sixteen-KiB pieces (a 270 MB export: 2 s against 0.3 s).
DECODE_PIECE = 1 << 14


def _utf8_evidence(f: IO[bytes], chunk_size: int) -> tuple[_Tally, _Tally, int, bytes]:
    """Undecodable spans inside the file, at its very end (a cut character), whether it holds valid
    non-ASCII characters (counted only until the first: the callers ask "any?"), and the last
    bytes: what tells UTF-8 with a few bad bytes from Windows-1252."""
    bad, tail = _Tally(), _Tally()
    multibyte = 0
    last = b""
    decoder = codecs.getincrementaldecoder("utf-8")(errors=TALLY)
    _tallies.current = bad
    try:
        while chunk := f.read(chunk_size):
            last = chunk[-4:]
            if chunk.isascii() and not decoder.getstate()[0]:
                continue
            if multibyte:  # only the bad spans are still to count: decoding tallies them (2-3x faster)
                for start in range(0, len(chunk), DECODE_PIECE):
                    decoder.decode(chunk[start:start + DECODE_PIECE])
                continue
            before, non_ascii = bad.spans, 0
            for start in range(0, len(chunk), DECODE_PIECE):
                text = decoder.decode(chunk[start:start + DECODE_PIECE])
                non_ascii += len(text) - len(text.encode("ascii", "ignore"))
            multibyte += non_ascii - (bad.spans - before)  # never falls: each bad span is one U+FFFD
            if bad.spans >= 1000 and not multibyte:  # Windows-1252 by all signs: no need to read on
                return bad, tail, multibyte, last
        _tallies.current = tail
        decoder.decode(b"", final=True)
    finally:
        _tallies.current = None
    return bad, tail, multibyte, last


_DECODED_NON_ASCII = re.compile("[\x80-\ufffc\ufffe-\U0010ffff]")  # U+FFFD is what did not decode


def _line_votes(f: IO[bytes], chunk_size: int, cut: int) -> tuple[int, int]:
    """Lines that hold valid multi-byte UTF-8, and lines whose non-ASCII bytes are all invalid
    UTF-8 (`cut` bytes of a character cut at the end of the file left out): a UTF-8 export with a
    stray byte, or a row appended by a Windows-1252 tool, still has far more of the first."""
    utf8_lines = other_lines = 0
    carry = b""
    while True:
        chunk = f.read(chunk_size)
        data = carry + chunk
        lines = data.splitlines(keepends=True)  # LF, CRLF and CR: no UTF-8 character holds those bytes
        if chunk:
            carry = lines.pop() if lines else b""
        elif cut and lines:
            lines[-1] = lines[-1][:-cut]
        for line in lines:
            if line.isascii():
                continue
            if _DECODED_NON_ASCII.search(line.decode("utf-8", errors="replace")):
                utf8_lines += 1
            else:
                other_lines += 1
        if other_lines >= 1000 and not utf8_lines:  # a Windows-1252 file: no need to read it all
            return utf8_lines, other_lines
        if not chunk:
            return utf8_lines, other_lines


def _count_undecodable(f: IO[bytes], encoding: str, chunk_size: int) -> int:
    tally = _Tally()
    decoder = codecs.getincrementaldecoder(encoding)(errors=TALLY)
    _tallies.current = tally
    try:
        while chunk := f.read(chunk_size):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    finally:
        _tallies.current = None
    return tally.bytes


def _check_cp1252(f: IO[bytes], path: Path, chunk_size: int) -> None:
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


def stream_encoding(head: bytes, name: str) -> str:
    """A pipe cannot be pre-scanned: judge by its first block; a later undecodable row is a bad row."""
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if head.startswith(b"PK\x03\x04"):  # a zip archive: what an .xlsx is
        raise InputError(name, "a workbook (.xlsx) cannot be read from stdin: give its file name")
    if head.startswith(b"PAR1"):  # Parquet's footer is at its end: it needs a file, not a pipe
        raise InputError(name, "a Parquet file cannot be read from stdin: give its file name")
    if b"\x00" in head[:8192]:
        raise InputError(name, "this is binary data, not CSV/TSV/JSON text")
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    # one chunk: the count of valid non-ASCII characters is exact for the whole head
    bad, _, multibyte, _ = _utf8_evidence(io.BytesIO(head[:-3]), len(head) or 1)
    return "cp1252" if bad.spans > multibyte else "utf-8"


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
        except RecursionError:  # one object nested too deep to parse: the reader says so, with its line
            pass
        # One complete object per line is JSON lines; a single one-line object is plain JSON.
        return "jsonl" if rest.strip() or ext != "json" else "json"
    if ext == "json":
        return "json"
    return "tsv" if pick_delimiter(head) == "\t" else "csv"


_LINE_END = re.compile(r"\r\n|\r|\n")


def pick_delimiter(head: str) -> str:
    """The separator that splits the header line most: Excel in a Dutch locale writes `;`."""
    header = _LINE_END.split(head.lstrip("\ufeff"), 1)[0]  # old Mac/Excel exports end lines with CR alone
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
