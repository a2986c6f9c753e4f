"""Hundreds of odd files, made by a seeded generator from three realistic exports, through `whylabel
import` (and a sample through `whylabel predict`): each ends in exit 0 with the right texts stored,
or exit 2 with one line naming the file and the database unchanged. Never a traceback, never exit 1.

Issue 12's acceptance: random bytes, truncations (inside multi-byte characters too), mixed
encodings, NULs, huge fields, deep nesting, broken quoting, CR-only and mixed line ends, BOMs,
duplicate headers, empty and header-only files, binary data named .csv, JSON that is not records.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import db_snapshot
from whylabel.store import Store

# Three exports as they come out of the tools: (header, rows); the text column is named in EXPORTS.
SURVEY = (["id", "datum", "opmerking", "cijfer"], [
    ["101", "2026-05-01", "Véél te duur, bij de concurrent betaal ik €10 minder", "3"],
    ["102", "2026-05-01", "Ik wist niet of het zou passen; geen maattabel", "6"],
    ["103", "2026-05-02", 'De bezorger zei "morgen" maar het werd vrijdag', "4"],
    ["104", "2026-05-02", "Retourneren kost €6,95 – dat is belachelijk", "2"],
    ["105", "2026-05-03", "Eén keer besteld,\nnooit weer: geïrriteerd over de klantenservice", "1"],
    ["106", "2026-05-03", "", "7"],
    ["107", "2026-05-04", "Betaling via iDEAL mislukte twee keer, ik vertrouw het niet", "3"],
    ["108", "2026-05-05", "Financiële gegevens vragen bij een proefabonnement? Nee dank je", "2"],
])
REVIEWS = (["review_id", "review_text", "rating", "language"], [
    ["R-1", "Love the fit, but the fabric feels thin after one wash", "4", "en"],
    ["R-2", "Don't trust this shop: no address, no phone number anywhere", "1", "en"],
    ["R-3", "Shipping cost more than the socks 🙄", "2", "en"],
    ["R-4", "Prima kwaliteit, snelle levering 👍", "5", "nl"],
    ["R-5", "The app crashed at checkout\r\nand charged me twice", "1", "en"],
    ["R-6", "Café-look jurk, maar de maat valt klein uit", "3", "nl"],
])
TICKETS = (["ticket_id", "channel", "message"], [
    ["T9001", "chat", "Waar blijft mijn pakket? Track & trace zegt al 5 dagen 'onderweg'"],
    ["T9002", "email", "I was told the refund takes 3 days; it's been 3 weeks"],
    ["T9003", "phone", "Klant twijfelt over de garantie: 1 of 2 jaar?"],
    ["T9004", "chat", "Can I return a sale item, or is that final?"],
    ["T9005", "email", "Geen bevestigingsmail ontvangen na bestelling #48213"],
])
EXPORTS = {"survey": (SURVEY, "opmerking"), "reviews": (REVIEWS, "review_text"), "tickets": (TICKETS, "message")}

ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252"]
MOJIBAKE = ("Ã", "Â", "â€", "ðŸ")  # UTF-8 read as Windows-1252


@dataclass
class Case:
    name: str
    data: bytes
    text_column: str
    expect: list[str] | str | None  # the stored texts; "error" = exit 2; None = either, by the rules
    from_utf8: bool = False  # damaged UTF-8: whatever is stored must not be mojibake


def texts_of(export) -> list[str]:
    (header, rows), column = export
    return [r[header.index(column)] for r in rows if r[header.index(column)].strip()]


def csv_text(header, rows, sep=",", end="\n", quote_all=False) -> str:
    def field(v: str) -> str:
        if quote_all or any(c in v for c in (sep, '"', "\r", "\n")):
            return '"' + v.replace('"', '""') + '"'
        return v

    return "".join(sep.join(field(v) for v in row) + end for row in [header, *rows])


def encode(text: str, encoding: str) -> tuple[bytes, str]:
    try:
        return text.encode(encoding), encoding
    except UnicodeEncodeError:  # an emoji has no Windows-1252 byte
        return text.encode("utf-8"), "utf-8"


def json_records(header, rows) -> list[dict]:
    out = []
    for row in rows:
        rec = dict(zip(header, row))
        if "rating" in rec:
            rec["rating"] = int(rec["rating"])
        out.append(rec)
    return out


def valid_file(rnd: random.Random, key: str) -> tuple[str, bytes, str]:
    """A well-formed export in a random dress: (extension, bytes, encoding)."""
    (header, rows), _ = EXPORTS[key]
    kind = rnd.choice(["csv", "csv", "csv", "jsonl", "json"])
    if kind == "csv":
        sep = rnd.choice([",", ";", "\t", "|"])
        end = rnd.choice(["\n", "\r\n", "\r"])
        data, enc = encode(csv_text(header, rows, sep, end, rnd.random() < 0.3), rnd.choice(ENCODINGS))
        return "csv", data, enc
    records = json_records(header, rows)
    ascii_only = rnd.random() < 0.5
    if kind == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in records)
    else:
        text = json.dumps(records if rnd.random() < 0.5 else {"count": len(records), "items": records},
                          ensure_ascii=ascii_only, indent=rnd.choice([None, 2]))
    return kind, text.encode("utf-8"), "utf-8"


def generate(seed: int = 20261206, n: int = 330) -> list[Case]:
    rnd = random.Random(seed)
    cases: list[Case] = []

    def add(kind: str, ext: str, data: bytes, column: str, expect, from_utf8: bool = False) -> None:
        cases.append(Case(f"{len(cases):03d}-{kind}.{ext}", data, column, expect, from_utf8))

    # A few large ones: a 5 MB cell in CSV and in JSON lines.
    huge = "Lang verhaal over de levering. " * (5_000_000 // 31) + "Einde."
    add("huge-cell", "csv", csv_text(["id", "text"], [["1", huge], ["2", "Kort: te duur"]]).encode(), "text",
        "error")  # longer than any feedback: refused, naming the row (predict: rejected)
    add("huge-cell", "jsonl", (json.dumps({"text": "Too slow"}) + "\n" + json.dumps({"text": huge}) + "\n").encode(),
        "text", "error")
    long = "De retour duurde lang. " * 4000 + "Einde."  # 92,006 characters: long, but one text
    add("long-cell", "csv", csv_text(["id", "text"], [["1", long], ["2", "Kort"]], ";").encode("utf-16"), "text",
        [long, "Kort"])
    add("many-rows", "csv", csv_text(["id", "text"], [[str(i), f"Bestelling {i} kwam te laat"] for i in range(3000)])
        .encode(), "text", [f"Bestelling {i} kwam te laat" for i in range(3000)])
    add("empty", "csv", b"", "text", "error")
    add("header-only", "csv", b"id;opmerking;cijfer\r\n", "opmerking", [])
    add("header-only", "jsonl", b"\n\n", "text", "error")

    mutations = [
        "valid", "valid", "truncate", "stray-bytes", "nul", "quote", "mixed-encoding", "line-ends", "bom",
        "duplicate-header", "binary", "deep", "not-records", "json-types", "surrogate", "random-bytes",
        "json-numbers", "nul-late",
    ]
    while len(cases) < n:
        key = rnd.choice(list(EXPORTS))
        (header, rows), column = EXPORTS[key]
        expected = texts_of(EXPORTS[key])
        ext, data, enc = valid_file(rnd, key)
        utf8 = enc.startswith("utf-8")
        kind = rnd.choice(mutations)
        if kind == "valid":
            add(f"valid-{enc}", ext, data, column, expected)
        elif kind == "truncate":  # anywhere: inside a character, a quoted cell, the header
            add(f"truncate-{enc}", ext, data[: rnd.randrange(1, len(data))], column, None, utf8)
        elif kind == "stray-bytes":
            for _ in range(rnd.randint(1, 3)):
                at = rnd.randrange(len(data))
                data = data[:at] + bytes([rnd.randrange(0x80, 0x100)]) + data[at:]
            add(f"stray-{enc}", ext, data, column, None, utf8)
        elif kind == "nul":
            at = rnd.randrange(len(data))
            add(f"nul-{enc}", ext, data[:at] + b"\x00" * rnd.randint(1, 4) + data[at:], column, None)
        elif kind == "nul-late":  # past the first 8 KiB, where the binary check looks
            text = csv_text(header, rows * 40, rnd.choice([",", ";"]))
            data, enc = encode(text, rnd.choice(["utf-8", "cp1252"]))
            at = rnd.randrange(9000, len(data))
            add(f"nul-late-{enc}", "csv", data[:at] + b"\x00" + data[at:], column, None)
        elif kind == "quote":  # a quote character dropped in anywhere, or a quoted cell left open
            text = csv_text(header, rows, rnd.choice([",", ";"]))
            at = rnd.randrange(len(text))
            add("broken-quote", "csv", (text[:at] + '"' + text[at:]).encode(), column, None)
        elif kind == "mixed-encoding":  # a UTF-8 export with rows appended by a Windows-1252 tool
            text = csv_text(header, rows)
            lines = text.splitlines(keepends=True)
            cut = rnd.randrange(1, len(lines))
            tail = "".join(lines[cut:]).encode("cp1252", errors="replace")
            add("mixed-encoding", "csv", "".join(lines[:cut]).encode() + tail, column, None)
        elif kind == "line-ends":  # every line its own ending
            text = csv_text(header, rows, ";")
            parts = text.split("\n")
            text = "".join(p + rnd.choice(["\n", "\r\n", "\r"]) for p in parts[:-1])
            # A break inside a quoted cell is part of the text: expected only where that stayed "\n".
            add("mixed-line-ends", "csv", text.encode(), column, None)
        elif kind == "bom":  # a BOM that matches, or one that lies
            bom = rnd.choice([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF32_LE, codecs.BOM_UTF16_BE])
            text = csv_text(header, rows)
            right = {codecs.BOM_UTF8: "utf-8", codecs.BOM_UTF16_LE: "utf-16-le",
                     codecs.BOM_UTF32_LE: "utf-32-le", codecs.BOM_UTF16_BE: "utf-16-be"}[bom]
            if rnd.random() < 0.5:
                add("bom", "csv", bom + text.encode(right), column, expected)
            else:
                add("bom-lies", "csv", bom + text.encode("utf-8"), column, None)
        elif kind == "duplicate-header":
            dup = [header[0], *header[1:], rnd.choice(header)]
            add("duplicate-header", "csv", csv_text(dup, [r + [r[0]] for r in rows]).encode(), column, "error")
        elif kind == "binary":
            garbage = rnd.choice([b"PK\x03\x04", b"\x89PNG\r\n\x1a\n", b"\xd0\xcf\x11\xe0", b""])
            garbage += bytes(rnd.randrange(256) for _ in range(rnd.randint(50, 3000)))
            add("binary", "csv", garbage, column, None)
        elif kind == "deep":
            depth = rnd.choice([101, 500, 999, 1500, 10_000])
            nested = "[" * depth + "]" * depth
            line = '{"text": "Te duur", "extra": ' + nested + "}"
            if rnd.random() < 0.5:
                add(f"deep-{depth}", "jsonl", ('{"text": "Prima"}\n' + line + "\n").encode(), "text", "error")
            else:
                add(f"deep-{depth}", "json", ('[{"text": "Prima"}, ' + line + "]").encode(), "text", "error")
        elif kind == "not-records":
            doc = rnd.choice(['42', '"tekst"', 'null', '[1, 2, 3]', '[["a", "b"]]', '{"a": 1}', '[]', '{}',
                              '{"x": [{"text": "a"}], "y": [{"text": "b"}]}', 'true', '[null]'])
            add("not-records", rnd.choice(["json", "jsonl"]), doc.encode(), "text", None)
        elif kind == "json-types":
            value = rnd.choice([123, 4.5, {"a": 1}, ["te", "duur"], True, False])
            recs = [{"text": "Goed geholpen"}, {"text": value}]
            if rnd.random() < 0.5:
                add("json-types", "jsonl", "".join(json.dumps(r) + "\n" for r in recs).encode(), "text", "error")
            else:
                add("json-types", "json", json.dumps(recs).encode(), "text", "error")
        elif kind == "surrogate":
            lone = rnd.choice(["\\ud800", "\\udfff", "\\uDBFF"])
            raw = '[{"text": "Caf' + lone + ' dicht"}, {"text": "Echt \\ud83d\\ude00 top"}]'
            add("surrogate", "json", raw.encode(), "text", ["Caf\ufffd dicht", "Echt \U0001f600 top"])
        elif kind == "json-numbers":  # numbers Python's float or int conversion cannot take, as ratings
            number = rnd.choice(["1e999", "-1e999", "NaN", "Infinity", "9" * 400, "9" * 5000])
            records = json_records(*REVIEWS)
            text = "".join(json.dumps(r).replace('"rating": ' + str(r["rating"]), '"rating": ' + number) + "\n"
                           for r in records)
            if rnd.random() < 0.5:
                text = "[" + ",".join(text.splitlines()) + "]"
            expect = "error" if len(number) > 4300 else texts_of(EXPORTS["reviews"])
            add("json-numbers", rnd.choice(["json", "jsonl"]) if text[0] == "{" else "json", text.encode(),
                "review_text", expect)
        else:  # random bytes overwritten at a few places
            buf = bytearray(data)
            for _ in range(rnd.randint(1, 8)):
                buf[rnd.randrange(len(buf))] = rnd.randrange(256)
            add(f"random-bytes-{enc}", ext, bytes(buf), column, None)
    return cases


# Another seed tries other files: WHYLABEL_FUZZ_SEED=7 pytest tests/test_fuzz_import.py
CASES = generate(int(os.environ.get("WHYLABEL_FUZZ_SEED", "20261206")))
PREDICT_CASES = CASES[::5][:66]


@pytest.fixture(scope="module")
def base_db(tmp_path_factory) -> tuple[Path, dict]:
    """A database with an earlier import in it: every case starts from a copy of it."""
    folder = tmp_path_factory.mktemp("base")
    earlier = folder / "earlier.csv"
    earlier.write_text("id,text\nB1,Het eerdere bestand blijft staan\nB2,An earlier import stays\n", encoding="utf-8")
    from click.testing import CliRunner

    from whylabel.cli import main

    db = folder / "base.db"
    r = CliRunner().invoke(main, ["import", str(earlier), "--db", str(db)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return db, db_snapshot(db)


def stored_texts(db: Path, skip: int) -> list[str]:
    with Store(db) as s:
        return [t for (t,) in s.db.execute("SELECT text FROM items ORDER BY id")][skip:]


def assert_one_line_error(result, path: Path) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"whylabel: error: {path}"), result.stderr


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_import_reads_it_right_or_refuses_it_in_one_line(cli, tmp_path, base_db, case):
    base, before = base_db
    db = tmp_path / "case.db"
    shutil.copy(base, db)
    path = tmp_path / case.name
    path.write_bytes(case.data)
    r = cli("import", path, "--db", db)
    assert r.exit_code in (0, 2), (r.exit_code, r.output)
    if r.exit_code == 2:
        assert case.expect is None or case.expect == "error", r.stderr
        assert_one_line_error(r, path)
        assert db_snapshot(db) == before
        return
    assert case.expect != "error", r.stdout
    got = stored_texts(db, len(before["items"]))
    if isinstance(case.expect, list):
        assert got == case.expect
    if case.from_utf8:
        assert not [t for t in got if any(m in t for m in MOJIBAKE)]


@pytest.mark.parametrize("case", PREDICT_CASES, ids=lambda c: c.name)
def test_predict_reads_it_right_or_refuses_it_in_one_line(cli, tmp_path, case):
    path = tmp_path / case.name
    path.write_bytes(case.data)
    out = tmp_path / "out.csv"
    r = cli("predict", path, "-o", out, "--workers", "1", "--json")
    assert r.exit_code in (0, 2), (r.exit_code, r.output)
    if r.exit_code == 2:
        assert case.expect is None or case.expect == "error" or case.expect == [], r.stderr
        assert_one_line_error(r, path)
        assert not out.exists()
        return
    from whylabel.io.sniff import pick_delimiter

    with open(out, encoding="utf-8", newline="") as f:
        delimiter = pick_delimiter(f.readline())  # predict keeps the input's separator
        f.seek(0)
        rows = list(csv.DictReader(f, delimiter=delimiter))
    column = json.loads(r.stdout)["columns"]["text"]  # a stray byte may have changed its name
    got = [row[column] for row in rows]
    if isinstance(case.expect, list):
        assert got == case.expect
    if case.from_utf8:
        assert not [t for t in got if any(m in t for m in MOJIBAKE)]


def test_the_generator_covers_every_kind_and_enough_files():
    kinds = {c.name.split("-", 1)[1].split(".")[0].split("-utf")[0].split("-cp")[0] for c in CASES}
    assert len(CASES) >= 300 and len(PREDICT_CASES) >= 60
    for kind in ("truncate", "stray", "nul", "broken-quote", "mixed-encoding", "mixed-line-ends", "duplicate-header",
                 "binary", "not-records", "json-types", "surrogate", "huge-cell", "empty", "header-only",
                 "json-numbers", "random-bytes", "nul-late"):
        assert kind in kinds, kind
    assert any(c.name.split("-", 1)[1].startswith("deep-") for c in CASES)
    assert sum(bool(isinstance(c.expect, list) and c.expect) for c in CASES) >= 60  # valid files, texts checked
