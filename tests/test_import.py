"""Import: formats, encodings, column guessing, idempotency, labels, and every kind of bad input."""

from __future__ import annotations

import json

import pytest

from conftest import db_snapshot, write_csv, write_jsonl
from whylabel.store import SCHEMA_VERSION, Store

CSV_NL = (
    "id;datum;opmerking;cijfer\n"
    "1;2026-05-01;Véél te duur, bij de concurrent betaal ik €10 minder;3\n"
    "2;2026-05-02;Ik wist niet of het zou passen, geen maattabel;6\n"
    '3;2026-05-03;"Retourneren kost €6,95; dat is belachelijk";2\n'
)


def items(db_path):
    with Store(db_path) as s:
        return [dict(zip(("external_id", "source", "breakpoint", "text", "lang", "rating", "created_at", "meta"), r))
                for r in s.db.execute("SELECT external_id, source, breakpoint, text, lang, rating, created_at, meta"
                                      " FROM items ORDER BY id")]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_csv_encodings_and_semicolons(cli, tmp_path, db_path, encoding):
    f = write_csv(tmp_path / "enquete.csv", CSV_NL, encoding)
    r = cli("import", f, "--db", db_path, "--breakpoint", "checkout")
    assert r.exit_code == 0, r.stderr
    got = items(db_path)
    assert [i["text"] for i in got] == [
        "Véél te duur, bij de concurrent betaal ik €10 minder",
        "Ik wist niet of het zou passen, geen maattabel",
        "Retourneren kost €6,95; dat is belachelijk",
    ]
    assert [i["external_id"] for i in got] == ["1", "2", "3"]
    assert [i["rating"] for i in got] == [3.0, 6.0, 2.0]
    assert {i["breakpoint"] for i in got} == {"checkout"}
    assert {i["source"] for i in got} == {"survey"}  # from the file name "enquete"
    assert {i["lang"] for i in got} == {"nl"}
    assert "3 rows read" in r.stdout and "3 added" in r.stdout


def test_tsv_json_and_jsonl(cli, tmp_path, db_path):
    (tmp_path / "a.tsv").write_text("review\tstars\nWay too expensive for what it is\t2\n", encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({"reviews": [
        {"body": "I don't trust this shop, no address anywhere", "rating": 1, "extra": {"x": 1}}]}), encoding="utf-8")
    write_jsonl(tmp_path / "c.jsonl", [{"message": "Waar blijft mijn pakket?", "channel": "chat"},
                                       {"message": "Retourbeleid is onduidelijk", "channel": "email"}])
    for name in ("a.tsv", "b.json", "c.jsonl"):
        r = cli("import", tmp_path / name, "--db", db_path)
        assert r.exit_code == 0, r.stderr
    got = items(db_path)
    assert [i["text"] for i in got] == [
        "Way too expensive for what it is",
        "I don't trust this shop, no address anywhere",
        "Waar blijft mijn pakket?",
        "Retourbeleid is onduidelijk",
    ]
    assert [i["source"] for i in got] == ["unknown", "unknown", "ticket", "ticket"]
    assert json.loads(got[1]["meta"]) == {"rating": 1, "extra": {"x": 1}}  # every cell but the text, as written
    assert got[0]["lang"] == "en" and got[2]["lang"] == "nl"


def test_column_guessing_names_and_overrides(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "export.csv",
                  "Clothing ID,Title,Review Text,Rating,Recommended IND\n"
                  "767,Nice,\"Love it, but the fabric is thin\",4,1\n")
    r = cli("import", f, "--db", db_path, "--source", "review", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["columns"] == {"text": "Review Text", "rating": "Rating"}
    [item] = items(db_path)
    assert item["source"] == "review"
    assert json.loads(item["meta"]) == {"Clothing ID": "767", "Title": "Nice", "Rating": "4", "Recommended IND": "1"}

    f2 = write_csv(tmp_path / "odd.csv", "klantnummer,wat vond je ervan\n12,Prima geholpen door de chat\n")
    r = cli("import", f2, "--db", db_path, "--text-column", "wat vond je ervan", "--id-column", "klantnummer")
    assert r.exit_code == 0, r.stderr
    assert items(db_path)[-1]["external_id"] == "12"


def test_reimport_adds_nothing_and_skips_are_counted(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "reviews.csv", "id,text\n1,Too expensive\n2,\n3,   \n4,Too expensive\n")
    first = json.loads(cli("import", f, "--db", db_path, "--json").stdout)
    assert (first["rows_read"], first["added"], first["duplicates"], first["skipped"]) == (4, 2, 0, 2)
    assert first["skipped_why"] == {"empty text": 2}
    before = db_snapshot(db_path)
    again = json.loads(cli("import", f, "--db", db_path, "--json").stdout)
    assert (again["added"], again["duplicates"]) == (0, 2)
    after = db_snapshot(db_path)
    assert after["items"] == before["items"]
    # The same text without ids is one item.
    g = write_csv(tmp_path / "g.csv", "text\nSame words\nsame   words\n")
    third = json.loads(cli("import", g, "--db", db_path, "--json").stdout)
    assert (third["added"], third["duplicates"]) == (1, 1)


def test_reasons_column_brings_labels(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "coded.csv",
                  "id,text,reasons\n"
                  "1,Te duur en retour kost geld,price; terms\n"
                  "2,Top service!,none\n"
                  "3,Nog niet gecodeerd,\n"
                  "4,Bang dat mijn kaart misbruikt wordt,FEAR\n")
    r = cli("import", f, "--db", db_path, "--reasons-column", "reasons", "--annotator", "anna", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["labels_added"] == 3
    with Store(db_path) as s:
        labeled = {row["text"]: (row["reasons"], row["annotator"]) for row in s.labeled()}
        assert labeled == {
            "Te duur en retour kost geld": (["price", "terms"], "anna"),
            "Top service!": ([], "anna"),
            "Bang dat mijn kaart misbruikt wordt": (["fear"], "anna"),
        }
        assert s.db.execute("SELECT DISTINCT origin FROM annotations").fetchall() == [("import",)]
    # Re-import: no new annotations.
    r = cli("import", f, "--db", db_path, "--reasons-column", "reasons", "--annotator", "anna", "--json")
    assert json.loads(r.stdout)["labels_added"] == 0


def test_large_import_in_one_go(cli, tmp_path, db_path):
    rows = "".join(f"{i},Bestelling {i} kwam te laat aan\n" for i in range(5000))
    f = write_csv(tmp_path / "big.csv", "id,text\n" + rows)
    r = cli("import", f, "--db", db_path, "--lang", "nl", "--json")
    assert json.loads(r.stdout)["added"] == 5000


# ---------------------------------------------------------------------------------------------
# Bad input: one line on stderr naming the file (and row/column), exit 2, database untouched.


def assert_one_line_error(result, expected: str):
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == f"whylabel: error: {expected}\n"
    assert "Traceback" not in result.stderr


@pytest.fixture
def seeded(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "seed.csv", "id,text,reasons\n1,Eerste opmerking,price\n")
    assert cli("import", f, "--db", db_path, "--reasons-column", "reasons", "--annotator", "a").exit_code == 0
    return db_snapshot(db_path)


def test_missing_file(cli, tmp_path, db_path, seeded):
    assert_one_line_error(cli("import", "nope.csv", "--db", db_path), "nope.csv: file not found")
    assert db_snapshot(db_path) == seeded


def test_unreadable_encoding_and_binary(cli, tmp_path, db_path, seeded):
    f = tmp_path / "weird.csv"
    f.write_bytes(b"id,text\n1,ok\n2,bad \x81 byte\n")
    assert_one_line_error(
        cli("import", f, "--db", db_path),
        f"{f}, line 3: unreadable text encoding: byte 0x81 is neither UTF-8 nor Windows-1252; "
        "re-save the file as CSV UTF-8",
    )
    x = tmp_path / "book.xlsx"
    x.write_bytes(b"PK\x03\x04\x00\x00binary")
    assert_one_line_error(
        cli("import", x, "--db", db_path),
        f"{x}: not a readable .xlsx workbook (not a zip archive: the file is damaged or not an Excel workbook)",
    )
    b = tmp_path / "dump.bin"
    b.write_bytes(b"\x00\x01\x02binary")
    assert_one_line_error(cli("import", b, "--db", db_path),
                          f"{b}: this is a binary file, not CSV/TSV/JSON text or an .xlsx workbook")
    old = tmp_path / "oud.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    assert_one_line_error(cli("import", old, "--db", db_path),
                          f"{old}: an old Excel .xls workbook: save it as .xlsx (or CSV UTF-8) and try again")
    assert db_snapshot(db_path) == seeded


def test_no_text_column(cli, tmp_path, db_path, seeded):
    f = write_csv(tmp_path / "nums.csv", "id,score\n1,5\n")
    assert_one_line_error(cli("import", f, "--db", db_path),
                          f"{f}: no text column found (columns: id, score); name it with --text-column")
    assert_one_line_error(cli("import", f, "--db", db_path, "--text-column", "body"),
                          f"{f}: no column named 'body' (--text-column); columns are: id, score")
    assert db_snapshot(db_path) == seeded


def test_broken_json_line_rolls_back(cli, tmp_path, db_path, seeded):
    f = tmp_path / "t.jsonl"
    f.write_text('{"text": "een"}\n{"text": "twee"}\n\n{"text": "drie"\n', encoding="utf-8")
    assert_one_line_error(cli("import", f, "--db", db_path),
                          f"{f}, line 4: broken JSON (Expecting ',' delimiter at column 16)")
    assert db_snapshot(db_path) == seeded


def test_row_with_extra_fields_rolls_back(cli, tmp_path, db_path, seeded):
    rows = "".join(f"{i},tekst {i}\n" for i in range(2, 60)) + "60,te duur, echt\n"
    f = write_csv(tmp_path / "extra.csv", "id,text\n" + rows)
    assert_one_line_error(cli("import", f, "--db", db_path),
                          f"{f}, row 60: 3 fields but the header has 2 (an unquoted ',' in a text?)")
    assert db_snapshot(db_path) == seeded


def test_unknown_reason_names_row_and_column(cli, tmp_path, db_path, seeded):
    f = write_csv(tmp_path / "c.csv", "text,codes\nfine,price\nbad,pricing\n")
    assert_one_line_error(
        cli("import", f, "--db", db_path, "--reasons-column", "codes", "--annotator", "a"),
        f"{f}, row 3, column 'codes': unknown reason 'pricing' "
        "(expected one of: trust, fear, uncertainty, price, features, terms, or none)",
    )
    assert db_snapshot(db_path) == seeded


def test_reasons_column_needs_annotator(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "c.csv", "text,codes\nfine,price\n")
    assert_one_line_error(cli("import", f, "--db", db_path, "--reasons-column", "codes"),
                          f"{f}: --reasons-column needs --annotator (whose labels are these?)")


def test_not_a_whylabel_database(cli, tmp_path):
    import sqlite3

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE invoices (id INTEGER)")
    f = write_csv(tmp_path / "a.csv", "text\nhoi\n")
    assert_one_line_error(
        cli("import", f, "--db", other),
        f"{other}: not a whylabel database (it holds another application's tables); choose another file with --db",
    )
    with sqlite3.connect(other) as c:
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master")] == ["invoices"]
    junk = tmp_path / "notes.db"
    junk.write_text("just some text, not sqlite at all" * 10)
    assert_one_line_error(cli("import", f, "--db", junk),
                          f"{junk}: not a whylabel database (not an SQLite file); choose another file with --db")


def test_newer_database_is_refused(cli, tmp_path, db_path, seeded):
    import sqlite3

    with sqlite3.connect(db_path) as c:
        c.execute("PRAGMA user_version=99")
    f = write_csv(tmp_path / "a.csv", "text\nhoi\n")
    assert_one_line_error(
        cli("import", f, "--db", db_path),
        f"{db_path}: written by a newer whylabel (schema 99; this version reads up to {SCHEMA_VERSION}); upgrade whylabel to open it",
    )


def test_unknown_moment_in_breakpoints_file(cli, tmp_path, db_path, seeded):
    f = write_csv(tmp_path / "bp.csv", "name,moment,stage,reached,dropped\ncheckout,choose,purchase,100,10\n"
                                       "returns,leaving,retention,50,5\n")
    assert_one_line_error(cli("breakpoints", f, "--db", db_path),
                          f"{f}, row 3, column 'moment': unknown moment 'leaving' (expected one of: choose, stay, leave, return)")
    assert db_snapshot(db_path) == seeded


def test_every_column_field_has_its_flag_and_its_guesses(cli):
    from whylabel.ingest import CANDIDATES
    from whylabel.records import COLUMN_FIELDS, ColumnMap

    assert set(CANDIDATES) == set(COLUMN_FIELDS) == set(vars(ColumnMap(text="t"))) - {"reasons"}
    for command in ("import", "predict"):
        help_text = cli(command, "--help").output
        assert all(f"--{f.replace('_', '-')}-column" in help_text for f in COLUMN_FIELDS), command
