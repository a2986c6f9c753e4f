"""Inputs that once gave a traceback or silent damage (issue 12, findings 6 and 7): each is read
correctly, or refused with one line naming the file and row, exit 2 and the database unchanged."""

from __future__ import annotations

import codecs
import csv
import json

import pytest

from conftest import db_snapshot, write_csv
from whylabel.store import Store

WEEK = "id,text\n1,Bezorging was twee dagen te laat\n2,\"Great service, fast refund\"\n"


@pytest.fixture
def stored(cli, tmp_path, db_path):
    """A database with one earlier import, and its snapshot: a refused import must leave it so."""
    r = cli("import", write_csv(tmp_path / "earlier.csv", WEEK), "--db", db_path)
    assert r.exit_code == 0, r.stderr
    return db_snapshot(db_path)


def texts(db_path) -> list[str]:
    with Store(db_path) as s:
        return [t for (t,) in s.db.execute("SELECT text FROM items ORDER BY id")]


def refused(cli, db_path, before, path, message: str) -> None:
    r = cli("import", path, "--db", db_path)
    assert (r.exit_code, r.stdout, r.stderr) == (2, "", f"whylabel: error: {path}, {message}\n")
    assert db_snapshot(db_path) == before


def imported(cli, db_path, path) -> dict:
    r = cli("import", path, "--db", db_path, "--json")
    assert r.exit_code == 0, r.stderr
    return json.loads(r.stdout)


def predicted(cli, tmp_path, path) -> tuple[list[dict], list[dict], str]:
    r = cli("predict", path, "-o", tmp_path / "out.csv", "--model", "cues", "--workers", "1")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        # predict keeps the input's separator: a `;` export comes back `;`-separated
        delimiter = ";" if ";" in f.readline() else ","
        f.seek(0)
        out = list(csv.DictReader(f, delimiter=delimiter))
    with open(tmp_path / "out.rejects.csv", encoding="utf-8", newline="") as f:
        rejects = list(csv.DictReader(f))
    return out, rejects, r.stderr


# -- finding 6: tracebacks -------------------------------------------------------------------------


def test_carriage_return_line_endings_are_read_as_rows(cli, tmp_path, db_path, stored):
    # An old Mac / Excel export: CR alone ends each line, `;` separates, and texts hold commas.
    f = tmp_path / "mac.csv"
    f.write_bytes("id;opmerking\r1;Te duur, echt te duur\r2;\"Pakket kwam,\rmaar kapot\"\r3;Prima, snel\r"
                  .encode("cp1252"))
    summary = imported(cli, db_path, f)
    assert (summary["rows_read"], summary["added"], summary["columns"]["text"]) == (3, 3, "opmerking")
    assert texts(db_path)[-3:] == ["Te duur, echt te duur", "Pakket kwam,\rmaar kapot", "Prima, snel"]
    # Row numbers count CR-ended lines like any others (a quoted one stays in its row).
    bad = tmp_path / "mac_bad.csv"
    bad.write_bytes(b"id;text\r1;a\r2;\"b\rc\"\r3;d;e\r")
    before = db_snapshot(db_path)
    refused(cli, db_path, before, bad, "row 4: 3 fields but the header has 2 (an unquoted ';' in a text?)")
    mixed = write_csv(tmp_path / "mixed.csv", "id,text\r\n7,CRLF hier\r8,CR daar\n9,LF ginds\r\n")
    assert imported(cli, db_path, mixed)["added"] == 3
    assert texts(db_path)[-3:] == ["CRLF hier", "CR daar", "LF ginds"]


def test_json_nested_10000_deep_is_one_line_naming_the_record(cli, tmp_path, db_path, stored):
    f = tmp_path / "deep.json"
    f.write_text('[{"text": "Goed"}, {"text": "Slecht", "extra": ' + "[" * 10_000 + "]" * 10_000 + "}]",
                 encoding="utf-8")
    refused(cli, db_path, stored, f, "record 2: JSON nested deeper than 100 levels")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text('{"reviews": [{"text": "a"}, {"text": "b"}, ' + "[" * 10_000 + "]" * 10_000 + "]}",
                       encoding="utf-8")
    refused(cli, db_path, stored, wrapped, "record 3: JSON nested deeper than 100 levels")
    # Deep enough to refuse, not deep enough for Python's parser to fail: the same line.
    shallow = tmp_path / "shallow.json"
    shallow.write_text('[{"text": "a", "x": ' + "{\"a\": " * 150 + "1" + "}" * 150 + "}]", encoding="utf-8")
    refused(cli, db_path, stored, shallow, "record 1: JSON nested deeper than 100 levels")


def test_a_json_line_nested_10000_deep_is_one_line_or_a_reject(cli, tmp_path, db_path, stored):
    f = tmp_path / "deep.jsonl"
    f.write_text('{"text": "Levering op tijd"}\n\n{"text": ' + "[" * 10_000 + "]" * 10_000 + "}\n"
                 '{"text": "Too expensive"}\n', encoding="utf-8")
    refused(cli, db_path, stored, f, "line 3: JSON nested deeper than 100 levels")
    out, rejects, _ = predicted(cli, tmp_path, f)
    assert [row["text"] for row in out] == ["Levering op tijd", "Too expensive"]
    assert [(r["row"], r["reason"]) for r in rejects] == [("3", "JSON nested deeper than 100 levels")]


def test_a_lone_surrogate_in_json_is_read_as_a_replacement_character_and_counted(cli, tmp_path, db_path, stored):
    f = tmp_path / "sur.json"
    f.write_text('[{"text": "Caf\\ud800 dicht", "note": "\\uDC00"}, {"text": "Echt \\ud83d\\ude00 top"}]',
                 encoding="utf-8")
    summary = imported(cli, db_path, f)
    assert (summary["added"], summary["replaced_surrogates"], summary["replaced_bytes"]) == (2, 2, 0)
    assert texts(db_path)[-2:] == ["Caf\ufffd dicht", "Echt \U0001f600 top"]
    lines = tmp_path / "sur.jsonl"
    lines.write_text('{"text": "a\\ud800b"}\n', encoding="utf-8")
    r = cli("import", lines, "--db", db_path)
    assert r.exit_code == 0 and "1 lone surrogate read as U+FFFD" in r.stdout
    out, rejects, stderr = predicted(cli, tmp_path, lines)
    assert [row["text"] for row in out] == ["a\ufffdb"] and rejects == []
    assert "1 lone surrogate read as U+FFFD" in stderr


# -- finding 7: silent damage -----------------------------------------------------------------------

NL = "id;text\n1;Café was dicht\n2;één keer en nooit weer\n3;Prijs €12,50 te hoog\n"


@pytest.mark.parametrize("damage, stored_texts, replaced", [
    (lambda b: b[:b.index("€".encode()) + 2], ["Café was dicht", "één keer en nooit weer", "Prijs \ufffd"],
     2),  # cut inside "€": two of its three bytes are there
    (lambda b: b.replace("één".encode(), b"\xc3\xa9\xff\xc3\xa9n"),
     ["Café was dicht", "é\ufffdén keer en nooit weer", "Prijs €12,50 te hoog"], 1),  # one stray byte
    (lambda b: b.replace(b"\xc3\xa9 w", b"\xc3 w"),
     ["Caf\ufffd was dicht", "één keer en nooit weer", "Prijs €12,50 te hoog"], 1),  # half a character
])
def test_nearly_all_utf8_is_utf8_with_the_bad_bytes_replaced_and_counted(cli, tmp_path, db_path, damage,
                                                                         stored_texts, replaced):
    f = tmp_path / "nl.csv"
    f.write_bytes(damage(NL.encode("utf-8")))
    summary = imported(cli, db_path, f)
    assert (summary["encoding"], summary["replaced_bytes"], summary["added"]) == ("utf-8", replaced, 3)
    assert texts(db_path) == stored_texts
    r = cli("import", f, "--db", tmp_path / "other.db")
    said = f"{replaced} undecodable byte{'s' if replaced > 1 else ''} read as U+FFFD"
    assert f"; {said}\n" in r.stdout
    out, rejects, stderr = predicted(cli, tmp_path, f)
    assert [row["text"] for row in out] == stored_texts and rejects == []
    assert said in stderr


def test_a_utf8_file_cut_inside_its_only_accented_character_is_not_mojibake(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "cut.csv", "id,text\n1,Het café")
    f.write_bytes(f.read_bytes()[:-1])
    summary = imported(cli, db_path, f)
    assert (summary["encoding"], summary["replaced_bytes"]) == ("utf-8", 1)
    assert texts(db_path) == ["Het caf\ufffd"]


@pytest.mark.parametrize("text", [
    "id,text\n1,Café\n",
    "id,text\n1,Café",  # an "é" at the very end is not a cut UTF-8 character
    "id,text\n1,één keer en nooit weer\n2,Geïrriteerd: €5 extra\n",
    "id;opmerking\n1;Ça va, très bien, merci\n",
])
def test_real_windows_1252_files_are_still_windows_1252(cli, tmp_path, db_path, text):
    f = write_csv(tmp_path / "ansi.csv", text, "cp1252")
    summary = imported(cli, db_path, f)
    assert (summary["encoding"], summary["replaced_bytes"]) == ("cp1252", 0)
    rows = list(csv.reader(text.splitlines(), delimiter=";" if text.startswith("id;") else ","))
    assert texts(db_path) == [r[1] for r in rows[1:]]


@pytest.mark.parametrize("encoding, bom", [("utf-32-le", codecs.BOM_UTF32_LE), ("utf-32-be", codecs.BOM_UTF32_BE)])
def test_utf32_with_a_bom_is_read_as_utf32(cli, tmp_path, db_path, encoding, bom):
    f = tmp_path / "u32.csv"
    f.write_bytes(bom + "id,text\n1,Café dicht\n2,Too expensive 💸\n".encode(encoding))
    summary = imported(cli, db_path, f)
    assert (summary["encoding"], summary["added"]) == ("utf-32", 2)
    assert texts(db_path) == ["Café dicht", "Too expensive 💸"]


def test_an_unclosed_quote_names_the_row_where_it_opened(cli, tmp_path, db_path, stored):
    f = write_csv(tmp_path / "q.csv", 'id,text\n1,"hallo\n2,wereld\n')
    refused(cli, db_path, stored, f, "row 2, column 'text': a quote opened here is never closed")
    g = write_csv(tmp_path / "q2.csv", 'id;opmerking;cijfer\n1;Prima;8\n2;"Te duur;3\n3;Goed;7')
    refused(cli, db_path, stored, g, "row 3, column 'opmerking': a quote opened here is never closed")
    out, rejects, _ = predicted(cli, tmp_path, g)
    assert [row["opmerking"] for row in out] == ["Prima"]
    assert [(r["row"], r["reason"], r["raw"]) for r in rejects] == [
        ("3", "a quote opened here is never closed", '2;"Te duur;3\n3;Goed;7')]
    header = write_csv(tmp_path / "q3.csv", 'id,"text\n1,Te duur\n2,Goed\n')
    refused(cli, db_path, stored, header, "row 1: a quote opened here is never closed")
    # A closed quote that spans lines is one row, as before.
    ok = write_csv(tmp_path / "ok.csv", 'id,text\n1,"hallo\nwereld"\n')
    assert imported(cli, db_path, ok)["added"] == 1


@pytest.mark.parametrize("value, why", [
    (123, "the text is a number (123), not a string"),
    (4.5, "the text is a number (4.5), not a string"),
    ({"a": 1}, "the text is a JSON object, not a string"),
    (["te", "duur"], "the text is a JSON list, not a string"),
    (True, "the text is true/false (true), not a string"),
])
def test_a_json_text_that_is_not_a_string_is_refused_naming_row_and_column(cli, tmp_path, db_path, stored,
                                                                          value, why):
    f = tmp_path / "reviews.jsonl"
    f.write_text(json.dumps({"review": "Snelle levering"}) + "\n" + json.dumps({"review": value}) + "\n",
                 encoding="utf-8")
    refused(cli, db_path, stored, f, f"line 2, column 'review': {why}")
    g = tmp_path / "reviews.json"
    g.write_text(json.dumps([{"review": value}]), encoding="utf-8")
    refused(cli, db_path, stored, g, f"record 1, column 'review': {why}")
    out, rejects, _ = predicted(cli, tmp_path, f)
    assert [row["review"] for row in out] == ["Snelle levering"]
    assert [(r["row"], r["reason"]) for r in rejects] == [("2", why)]


def test_a_row_appended_in_windows_1252_does_not_turn_a_utf8_export_into_mojibake(cli, tmp_path, db_path):
    rows = "".join(f"{i};Bestelling {i}: café en één keer te laat\n" for i in range(1, 21))
    f = tmp_path / "mixed.csv"
    f.write_bytes(b"id;text\n" + rows.encode() + "21;Geïrriteerd: één, twee, drie à la carte\n".encode("cp1252"))
    summary = imported(cli, db_path, f)
    assert (summary["encoding"], summary["replaced_bytes"], summary["added"]) == ("utf-8", 4, 21)
    got = texts(db_path)
    assert got[0] == "Bestelling 1: café en één keer te laat"
    assert got[-1] == "Ge\ufffdrriteerd: \ufffd\ufffdn, twee, drie \ufffd la carte"


def test_json_numbers_python_cannot_convert_are_one_line_or_kept_as_metadata(cli, tmp_path, db_path, stored):
    f = tmp_path / "big.json"
    f.write_text('[{"text": "Te duur", "rating": 1},\n {"text": "Goed", "rating": ' + "9" * 5000 + "}]",
                 encoding="utf-8")
    refused(cli, db_path, stored, f, "line 2: broken JSON (a number with more than 4,300 digits)")
    g = tmp_path / "odd.jsonl"
    g.write_text('{"text": "Te duur", "rating": 1e999}\n{"text": "Goed", "rating": NaN}\n'
                 '{"text": "Prima", "rating": ' + "9" * 400 + "}\n", encoding="utf-8")
    assert imported(cli, db_path, g)["added"] == 3
    with Store(db_path) as s:
        got = s.db.execute("SELECT text, rating, meta FROM items ORDER BY id DESC LIMIT 3").fetchall()
    assert [(t, r) for t, r, _ in got] == [("Prima", None), ("Goed", None), ("Te duur", None)]
    assert json.loads(got[0][2]) == {"rating": int("9" * 400)}
