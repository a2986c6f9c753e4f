"""The block path of `whylabel predict` (2+ workers, a CSV file to CSV): the parent cuts the file at
record boundaries (`whylabel.io.formats.csv_blocks`) and the workers read, label and format each
block. It must give the bytes, rejects and figures that reading the whole file in one process gives."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import whylabel.batch as batch
from whylabel.batch import predict
from whylabel.io import FORMATS, BadRow, open_table
from whylabel.io.formats import csv_blocks
from whylabel.io.table import Replaced, Source
from whylabel.suggestion import Evidence, Suggestion

HEADER = "response_id,datum,antwoord,taal"
ROWS = [
    'R1,2026-11-01,"Veel te duur, en de verzendkosten zijn belachelijk",nl',
    'R2,2026-11-02,"I am not sure which size to pick.\nThe chart says M, the reviews say L",en',
    "R3,2026-11-03,=HYPERLINK(\"x\") looks odd but is a review,en",
    'R4,2026-11-04,"She said ""never again"" and meant it",en',
    "",  # a blank line is a row too
    "R5,2026-11-05,de bezorger zei \"morgen\" maar kwam niet,nl",  # a quote inside an unquoted cell
    "R6,2026-11-06,,nl",  # no text
    "R7,2026-11-07,te duur,nl,extra",  # an extra field
    "R8,2026-11-08,-10% korting klopte niet",  # a short row (no language)
    'R9,2026-11-09,"Ünïcode café 🚚 levering, twee dagen te laat",nl',
    'R10,2026-11-10,"a cell with a carriage return\rinside it",en',
    "R11,2026-11-11,@support why is my refund not here,en",
    'R12,2026-11-12,"' + "lang verhaal over de retour, " * 12 + '",nl',
]


def _file(tmp_path: Path, name: str, *, sep: str = ",", end: str = "\n", encoding: str = "utf-8",
          tail: str = "", repeat: int = 3) -> Path:
    lines = [HEADER] + [f"{r.split(',', 1)[0]}x{k}," + r.split(",", 1)[1] if r else "" for k in range(repeat)
                        for r in ROWS]
    text = end.join(line.replace(",", sep) if sep != "," and '"' not in line else line for line in lines) + end + tail
    if encoding == "cp1252":
        text = text.replace("🚚 ", "")  # no lorry in Windows-1252
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


class Echo:
    """A stand-in model: a reason by keyword, evidence from the text; fast and deterministic."""

    model_id = "echo-1"
    threshold = 0.5

    def __init__(self, codebook):
        self.names = codebook.reason_names

    def suggest(self, texts, langs=None):
        out = []
        for t in texts:
            probs = dict.fromkeys(self.names, 0.1)
            if "duur" in t or "korting" in t:
                probs["price"] = 0.93
            if "retour" in t or "refund" in t:
                probs["terms"] = 0.61
            reasons = tuple(n for n in self.names if probs[n] >= self.threshold)
            out.append(Suggestion(probs, reasons, {r: (Evidence(0, 4, t[:4], 1.0),) for r in reasons}))
        return out


def echo(codebook):
    return Echo(codebook)


FILES = {
    "lf": {},
    "crlf": {"end": "\r\n"},
    "cr": {"end": "\r"},
    "semicolon": {"sep": ";"},
    "cp1252": {"encoding": "cp1252", "tail": "R99,2026-11-30,caf\u00e9 te duur,nl\n"},
    "bom": {"encoding": "utf-8-sig"},
    "unclosed quote at the end": {"tail": 'R98,2026-11-30,"this quote never closes, te duur\nnext line\n'},
    # A quote inside an unquoted cell, then a quoted line break: counting quotes cuts wrongly there.
    "stray quote": {"tail": 'R97,2026-11-30,my 5" screen broke,en\nR96,2026-11-30,"te duur\nen traag",nl\n' * 9},
}


def _rows(table) -> list:
    return [(r.number, r.reason, r.raw) if isinstance(r, BadRow) else r for r in table.rows]


@pytest.mark.parametrize("kind", FILES)
@pytest.mark.parametrize("size", [1, 7, 64, 300, 1 << 20])
@pytest.mark.parametrize("by_quotes", [False, True])
def test_blocks_read_alone_give_the_rows_of_the_whole_file(tmp_path, kind, size, by_quotes):
    """Cut exactly or by counting quotes, then read on their own with the header before each and
    numbered on from the rows before them, the blocks give the whole file's rows; a block cut
    inside a quoted cell says so, and the file is cut exactly from there (as predict does)."""
    path = _file(tmp_path, "in.csv", **FILES[kind])
    whole = open_table(path, bad_rows="collect")
    expected = _rows(whole)
    got, first, data_seen, recuts = [], 2, b"", 0
    with open(path, "rb") as fp:
        pieces = csv_blocks(fp, whole.encoding, whole.delimiter, size, first=max(1, size // 3), by_quotes=by_quotes)
        header = next(pieces).data
        assert header.rstrip(b"\r\n").lstrip(b"\xef\xbb\xbf").decode(whole.encoding).startswith("response_id")
        data_seen = header
        while True:
            for block in pieces:
                src = Source(str(path), whole.format, io.BytesIO(header + block.data), whole.encoding, "", False,
                             collect=True, counts=Replaced(), first_row=first, delimiter=whole.delimiter)
                table = FORMATS[whole.format](src)
                rows = _rows(table)
                if table.quote_cut() and not block.final:
                    assert by_quotes, "an exact cut is never inside a quoted cell"
                    recuts += 1
                    fp.seek(block.offset)
                    pieces = csv_blocks(fp, whole.encoding, whole.delimiter, size, at=block.offset, header=False)
                    break
                assert block.offset == len(data_seen)
                data_seen += block.data
                got += rows
                first = table.last_row() + 1
            else:
                break
    assert data_seen == path.read_bytes()
    assert got == expected
    if kind == "stray quote" and by_quotes and size < 1 << 20:
        assert recuts == 1  # then cut exactly to the end
    whole.close()


def _run(tmp_path: Path, src: Path, workers: int, out: str, **kw) -> tuple[bytes, bytes, dict]:
    s = predict(str(src), batch.load_codebook(), out=str(tmp_path / out), workers=workers, chunk_size=4,
                factory=echo, **kw)
    rejects = tmp_path / out.replace(".csv", ".rejects.csv")
    figures = s.to_json()
    for key in ("output", "rejects", "elapsed_s", "rows_per_s", "workers"):
        figures.pop(key)
    return (tmp_path / out).read_bytes(), rejects.read_bytes(), figures


@pytest.mark.parametrize("kind", FILES)
def test_two_workers_on_blocks_write_what_one_process_writes(tmp_path, monkeypatch, kind):
    src = _file(tmp_path, "week.csv", **FILES[kind])
    one = _run(tmp_path, src, 1, "one.csv")
    used = []
    real = batch._Run.label_in_blocks

    def spy(self, *args):
        used.append(True)
        return real(self, *args)

    monkeypatch.setattr(batch._Run, "label_in_blocks", spy)
    monkeypatch.setattr(batch, "BLOCK_BYTES", 50)  # many blocks, some cut inside quoted cells
    cuts = []
    real_blocks = batch.csv_blocks

    def blocks(*args, **kw):
        cuts.append(kw.get("by_quotes", False))
        return real_blocks(*args, **kw)

    monkeypatch.setattr(batch, "csv_blocks", blocks)
    two = _run(tmp_path, src, 2, "two.csv")
    assert used == [True]
    assert cuts == ([True, False] if kind == "stray quote" else [True])  # read again, exactly, after a wrong cut
    assert two == one
    excel_one = _run(tmp_path, src, 1, "x1.csv", excel=True)
    assert _run(tmp_path, src, 2, "x2.csv", excel=True) == excel_one
    assert excel_one[0].startswith(b"\xef\xbb\xbf")


def test_the_block_path_counts_and_numbers_rejects_as_one_process_does(tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "BLOCK_BYTES", 40)
    src = _file(tmp_path, "week.csv")
    out, rejects, figures = _run(tmp_path, src, 2, "two.csv")
    rows = rejects.decode().splitlines()
    assert rows[0] == "row,reason,raw"
    # R6 (no text) and R7 (extra field) of each of the 3 repeats, 13 rows apart (the blank line is
    # a row, R2's quoted line break is not).
    assert [r.split(",", 1)[0] for r in rows[1:]] == ["8", "9", "21", "22", "34", "35"]
    assert figures["rows_read"] == 3 * 12 and figures["rejected"] == 6
    assert figures["rejected_why"] == {"no text": 3, "extra fields": 3}


def test_strict_on_the_block_path_names_the_first_bad_row(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "BLOCK_BYTES", 40)
    src = _file(tmp_path, "week.csv")
    r = cli("predict", src, "-o", "out.csv", "--strict", "--workers", "2", "--fast")
    assert r.exit_code == 2
    assert r.stderr == f"whylabel: error: {src}, row 8: no text\n"
    assert not Path("out.csv").exists()


def test_the_real_words_model_gives_the_same_bytes_on_blocks(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(batch, "BLOCK_BYTES", 200)
    src = _file(tmp_path, "week.csv", repeat=5)
    r1 = cli("predict", src, "-o", "one.csv", "--workers", "1", "--fast", "--json")
    r2 = cli("predict", src, "-o", "two.csv", "--workers", "2", "--fast", "--json")
    assert r1.exit_code == r2.exit_code == 0
    assert Path("one.csv").read_bytes() == Path("two.csv").read_bytes()
    assert Path("one.rejects.csv").read_bytes() == Path("two.rejects.csv").read_bytes()
    s1, s2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s1["reasons"] == s2["reasons"] and s1["needs_review"] == s2["needs_review"]


def test_a_cell_that_reads_as_a_formula_is_neutralised_however_it_is_quoted(tmp_path):
    """`""=x` is an empty quoted start followed by =x: the csv module reads "=x", a formula."""
    src = tmp_path / "week.csv"
    src.write_text('id,text,note\nR1,te duur,""=HYPERLINK(1)\nR2,"=1+1 klopt niet",ok\nR3,prima,-\n', encoding="utf-8")
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.csv"
        predict(str(src), batch.load_codebook(), out=str(out), workers=workers, factory=echo)
        rows = [line.split(",")[:3] for line in out.read_text(encoding="utf-8").splitlines()[1:]]
        assert rows == [["R1", "te duur", "'=HYPERLINK(1)"], ["R2", "'=1+1 klopt niet", "ok"], ["R3", "prima", "'-"]]
