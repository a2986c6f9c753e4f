"""Spreadsheets that just open: .xlsx in (import, predict) and out (export, predict), and --sample."""

from __future__ import annotations

import datetime as dt
import json
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from conftest import db_snapshot, write_csv
from whylabel.store import Store

HEADER = ["Klantnummer", "Datum", "Opmerking", "Kanaal", "Cijfer"]
ROWS = [
    [10231, dt.datetime(2025, 10, 20), "Véél te duur, bij de concurrent betaal ik €10 minder", "enquête", 3],
    [10232, dt.datetime(2025, 10, 21, 14, 30), "I don't trust this shop, no address anywhere", "review", 1.5],
    [10233, dt.date(2025, 10, 22), "Retourneren kost €6,95; dat is belachelijk\nEn de bezorging duurde een week", "chat", None],
    [10234, "20-10-2025", 42, "enquête", 7],  # a numeric answer: Excel stores it as a number
]


def workbook(path, rows=ROWS, header=HEADER, sheets=("Antwoorden",), blank_before=0):
    wb = Workbook()
    ws = wb.active
    ws.title = sheets[0]
    for _ in range(blank_before):
        ws.append([])
    ws.append(header)
    for row in rows:
        ws.append(row)
    for name in sheets[1:]:
        wb.create_sheet(name)
    wb.save(path)
    return path


def stored(db_path):
    with Store(db_path) as s:
        return [dict(zip(("external_id", "source", "text", "rating", "created_at", "meta"), r))
                for r in s.db.execute("SELECT external_id, source, text, rating, created_at, meta FROM items ORDER BY id")]


def test_import_reads_the_first_sheet_with_types_and_iso_dates(cli, tmp_path, db_path):
    f = workbook(tmp_path / "export.xlsx", sheets=("Antwoorden", "Toelichting"))
    r = cli("import", f, "--db", db_path, "--id-column", "Klantnummer", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["format"], summary["rows_read"], summary["added"]) == ("xlsx", 4, 4)
    got = stored(db_path)
    assert [g["text"] for g in got] == [ROWS[0][2], ROWS[1][2], ROWS[2][2], "42"]
    assert [g["external_id"] for g in got] == ["10231", "10232", "10233", "10234"]
    assert [g["rating"] for g in got] == [3.0, 1.5, None, 7.0]
    assert [g["source"] for g in got] == ["survey", "review", "ticket", "survey"]
    assert [g["created_at"] for g in got][:3] == ["2025-10-20", "2025-10-21T14:30:00", "2025-10-22"]


def test_import_sheet_by_name_and_rows_numbered_as_the_spreadsheet_shows(cli, tmp_path, db_path):
    wb = Workbook()
    wb.active.title = "Leeg"
    ws = wb.create_sheet("Data")
    ws.append([])
    ws.append(["opmerking", "cijfer"])
    ws.append(["Prima service", 8])
    ws.append([])
    ws.append(["Geen maattabel", "=1+1", None, None, "los"])  # a value beyond the header
    wb.save(tmp_path / "twee.xlsx")
    r = cli("import", tmp_path / "twee.xlsx", "--db", db_path, "--sheet", "Data")
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: " + str(tmp_path / "twee.xlsx")
                        + ", row 5: a value in column E, beyond the header's 2 columns\n")
    assert stored(db_path) == []


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(bytes(range(256)) * 20),
     "not a readable .xlsx workbook (not a zip archive: the file is damaged or not an Excel workbook)"),
    (lambda p: zipfile.ZipFile(p, "w").writestr("notes.txt", "hallo"),
     "not a readable .xlsx workbook (a zip archive without the parts of a workbook: "
     "There is no item named '[Content_Types].xml' in the archive)"),
    (lambda p: workbook(p, rows=[], header=[], sheets=("Blad1",)), "sheet 'Blad1' is empty"),
])
def test_bad_workbooks_get_one_line_exit_2_and_the_database_unchanged(cli, tmp_path, db_path, make, message):
    write_csv(tmp_path / "ok.csv", "text\nEerder geïmporteerd\n")
    assert cli("import", tmp_path / "ok.csv", "--db", db_path).exit_code == 0
    before = db_snapshot(db_path)
    f = tmp_path / "bad.xlsx"
    make(f)
    r = cli("import", f, "--db", db_path)
    assert r.exit_code == 2
    assert r.stderr == f"whylabel: error: {f}: {message}\n"
    assert db_snapshot(db_path) == before


def test_a_missing_sheet_lists_the_sheets(cli, tmp_path, db_path):
    f = workbook(tmp_path / "export.xlsx", sheets=("Antwoorden", "Toelichting"))
    r = cli("import", f, "--db", db_path, "--sheet", "Blad1")
    assert r.exit_code == 2
    assert r.stderr == f"whylabel: error: {f}: no sheet named 'Blad1' (sheets: Antwoorden, Toelichting)\n"
    r = cli("import", write_csv(tmp_path / "a.csv", "text\nhoi\n"), "--db", db_path, "--sheet", "Blad1")
    assert r.exit_code == 2
    assert r.stderr == f"whylabel: error: {tmp_path / 'a.csv'}: --sheet applies to .xlsx workbooks only (this is CSV)\n"


# ---------------------------------------------------------------------------------------------
# Workbooks out: export and predict


def read_back(path):
    wb = load_workbook(path)  # the full reader: cell types, panes and the filter as Excel sees them
    ws = wb.worksheets[0]
    return ws, [[c for c in row] for row in ws.iter_rows()]


def test_export_xlsx_has_typed_cells_a_frozen_header_and_a_filter(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "tickets.csv",
                  "ticket_id,created,channel,rating,message\n"
                  "T1,2026-06-01,chat,2,\"Verzendkosten van €6,95 zijn te veel\"\n"
                  "T2,2026-06-02T09:15:00,email,4.5,=1+1\n"
                  "T3,20-10-2025,email,,#N/A ik vertrouw de site niet\n")
    assert cli("import", f, "--db", db_path, "--lang", "nl").exit_code == 0
    with Store(db_path) as s:
        ids = {r[1]: r[0] for r in s.db.execute("SELECT id, external_id FROM items")}
        s.annotate(ids["T1"], ["price"], annotator="anna")
        s.annotate(ids["T2"], ["price", "terms"], annotator="anna", note="=HYPERLINK(\"http://x\")")
        s.annotate(ids["T3"], [], annotator="anna")
    out = tmp_path / "labeled.xlsx"
    r = cli("export", "-o", out, "--db", db_path)
    assert r.exit_code == 0, r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    ws, rows = read_back(out)
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:{ws.cell(1, len(rows[0])).column_letter}4"
    header = [c.value for c in rows[0]]
    by_id = {row[header.index("external_id")].value: {h: c for h, c in zip(header, row)} for row in rows[1:]}
    t1, t2, t3 = by_id["T1"], by_id["T2"], by_id["T3"]
    assert isinstance(t1["item_id"].value, int) and t1["rating"].value == 2 and t2["rating"].value == 4.5
    assert t1["created_at"].is_date and t1["created_at"].value == dt.datetime(2026, 6, 1)
    assert t2["created_at"].value == dt.datetime(2026, 6, 2, 9, 15)
    assert t3["created_at"].is_date and t3["created_at"].value == dt.datetime(2025, 10, 20)  # day-first Dutch date, stored as ISO
    assert t2["labeled_at"].is_date
    assert (t2["text"].value, t2["text"].data_type) == ("=1+1", "s")  # text, not a formula, no apostrophe
    assert (t2["note"].value, t2["note"].data_type) == ('=HYPERLINK("http://x")', "s")
    assert (t3["text"].value, t3["text"].data_type) == ("#N/A ik vertrouw de site niet", "s")
    assert t1["text"].value == "Verzendkosten van €6,95 zijn te veel"
    assert (t2["reasons"].value, t3["reasons"].value, t2["price"].value, t3["price"].value) == ("price;terms", "none", 1, 0)
    assert t3["rating"].value is None


def test_export_format_follows_the_name_and_excel_is_for_csv(cli, tmp_path, db_path):
    write_csv(tmp_path / "a.csv", "text\nTe duur\n")
    assert cli("import", tmp_path / "a.csv", "--db", db_path, "--lang", "nl").exit_code == 0
    with Store(db_path) as s:
        s.annotate(1, ["price"], annotator="anna")
    assert cli("export", "-o", tmp_path / "a.jsonl", "--db", db_path).exit_code == 0
    assert json.loads((tmp_path / "a.jsonl").read_text("utf-8"))["reasons"] == ["price"]
    r = cli("export", "-o", tmp_path / "a.xlsx", "--db", db_path, "--excel")
    assert r.exit_code == 2 and r.stderr == "whylabel: error: --excel applies to CSV output only\n"
    assert not (tmp_path / "a.xlsx").exists()


def test_a_workbook_write_that_fails_leaves_no_file(tmp_path):
    from whylabel.export import open_writer

    out = tmp_path / "half.xlsx"
    with pytest.raises(RuntimeError), open_writer(out, ["text"], format="xlsx") as writer:
        writer.write({"text": "eerste rij"})
        raise RuntimeError("stopped halfway")
    assert list(tmp_path.iterdir()) == []


def test_cells_excel_cannot_hold_are_mended(tmp_path):
    from whylabel.export import open_writer

    out = tmp_path / "odd.xlsx"
    with open_writer(out, ["a", "b", "c", "d", "e", "f"], format="xlsx") as writer:
        writer.write_values(["x" * 40_000, "bel\x07 en tab\t", 12345678901234567890, float("nan"), "0612345678",
                             "2025-02-30"])
    _, rows = read_back(out)
    a, b, c, d, e, f = (cell.value for cell in rows[1])
    assert len(a) == 32_767 and a.endswith("…")
    assert b == "bel\ufffd en tab\t"
    assert (c, d, e, f) == ("12345678901234567890", "nan", "0612345678", "2025-02-30")


def test_predict_reads_a_workbook_and_writes_one(cli, tmp_path):
    f = workbook(tmp_path / "export.xlsx")
    out = tmp_path / "labeled.xlsx"
    r = cli("predict", f, "-o", out, "--fast", "--workers", "1", "--quiet", "--id-column", "Klantnummer")
    assert r.exit_code == 0, r.stderr
    ws, rows = read_back(out)
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:") and ws.auto_filter.ref.endswith("5")
    header = [c.value for c in rows[0]]
    assert header[:5] == HEADER and header[5:7] == ["reasons", "driver"] and header[-1] == "evidence"
    first, third = rows[1], rows[3]
    assert first[0].value == 10231 and first[1].value == dt.datetime(2025, 10, 20) and first[1].is_date
    assert first[2].value == ROWS[0][2] and third[2].value == ROWS[2][2]  # a line break stays in its cell
    assert first[4].value == 3 and rows[2][4].value == 1.5
    p = header.index("p_price")
    assert all(isinstance(row[p].value, float) and 0 <= row[p].value <= 1 for row in rows[1:])
    assert all(isinstance(row[5].value, str) and row[5].value for row in rows[1:])
    assert rows[4][2].value == 42  # the numeric answer was labeled and written back as it was
    assert (tmp_path / "labeled.rejects.csv").read_text("utf-8") == "row,reason,raw\n"


# ---------------------------------------------------------------------------------------------
# --sample N --seed S


def long_export(path, n=300):
    lines = ["id,opmerking"]
    for i in range(1, n + 1):
        if i % 7 == 0:
            lines.append(f'{i},"Antwoord {i}: veel te duur,\nen de bezorging duurde een week"')
        elif i % 50 == 0:
            lines.append(f"{i},")  # an empty answer: never sampled, counted as skipped
        else:
            lines.append(f"{i},Answer {i}: I don't trust the payment page")
    return write_csv(path, "\n".join(lines) + "\n")


def sampled_ids(db_path):
    return [int(g["external_id"]) for g in stored(db_path)]


def test_sample_is_seeded_in_file_order_and_keeps_multi_line_answers_whole(cli, tmp_path):
    f = long_export(tmp_path / "export_week_46.csv")
    runs = {}
    for name, seed in (("a", "0"), ("b", "0"), ("c", "7")):
        db = tmp_path / f"{name}.db"
        r = cli("import", f, "--db", db, "--lang", "nl", "--sample", "40", "--seed", seed, "--json")
        assert r.exit_code == 0, r.stderr
        s = json.loads(r.stdout)
        assert (s["rows_read"], s["sampled"], s["sample_of"], s["added"], s["skipped"]) == (300, 40, 294, 40, 6)
        runs[name] = sampled_ids(db)
        texts = [g["text"] for g in stored(db)]
        assert all(t.endswith("een week") for i, t in zip(runs[name], texts) if i % 7 == 0)
    assert runs["a"] == runs["b"] == sorted(runs["a"]) and len(set(runs["a"])) == 40
    assert runs["c"] != runs["a"]
    assert not any(i % 50 == 0 for i in runs["a"] + runs["c"])
    r = cli("import", f, "--db", tmp_path / "d.db", "--lang", "nl", "--sample", "40")
    assert r.stdout.splitlines()[0] == (f"{f}: 300 rows read (csv, utf-8); sampled 40 of 294 rows with a text "
                                        "(seed 0); 40 added; 0 duplicates; 6 skipped (6 empty text)")


def test_a_sample_larger_than_the_file_takes_every_row_and_says_so(cli, tmp_path, db_path):
    f = long_export(tmp_path / "klein.csv", n=30)
    r = cli("import", f, "--db", db_path, "--lang", "nl", "--sample", "1000", "--json")
    s = json.loads(r.stdout)
    assert (s["sampled"], s["sample_of"], s["added"]) == (30, 30, 30)
    r = cli("import", f, "--db", tmp_path / "b.db", "--lang", "nl", "--sample", "1000")
    assert r.stdout.splitlines()[0] == (f"{f}: 30 rows read (csv, utf-8); --sample 1000 is more than the 30 rows "
                                        "with a text: took every row; 30 added; 0 duplicates; 0 skipped")
    assert sampled_ids(tmp_path / "b.db") == list(range(1, 31))


def test_sample_of_a_workbook_and_seed_without_sample(cli, tmp_path, db_path):
    f = workbook(tmp_path / "export.xlsx")
    r = cli("import", f, "--db", db_path, "--sample", "2", "--seed", "3", "--id-column", "Klantnummer", "--json")
    assert json.loads(r.stdout)["sampled"] == 2 and len(stored(db_path)) == 2
    r = cli("import", f, "--db", db_path, "--seed", "3")
    assert r.exit_code == 2 and r.stderr == "whylabel: error: --seed applies to --sample only\n"


def test_reservoir_sample_is_uniform():
    from whylabel.io.sample import reservoir_sample

    hits = [0] * 20
    for seed in range(2000):
        sample, seen = reservoir_sample(iter(range(20)), 5, seed)
        assert seen == 20 and sample == sorted(sample) and len(set(sample)) == 5
        for i in sample:
            hits[i] += 1
    # each item is expected 2000 * 5/20 = 500 times (sd about 19): a skewed sampler misses by far more
    assert all(400 < h < 600 for h in hits), hits
    assert reservoir_sample([], 3)[0] == [] and reservoir_sample("ab", 3) == (["a", "b"], 2)


def test_a_workbook_on_stdin_is_refused_with_what_to_do(cli, tmp_path):
    data = workbook(tmp_path / "export.xlsx").read_bytes()
    from click.testing import CliRunner

    from whylabel.cli import main

    r = CliRunner().invoke(main, ["predict", "-", "-o", str(tmp_path / "out.csv"), "--workers", "1"], input=data)
    assert r.exit_code == 2
    assert r.stderr == "whylabel: error: <stdin>: a workbook (.xlsx) cannot be read from stdin: give its file name\n"
    assert not (tmp_path / "out.csv").exists()
