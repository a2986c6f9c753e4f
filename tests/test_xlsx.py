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
