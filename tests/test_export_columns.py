"""A Dutch shop's export in, labels out with the export's own columns, so they join back to customers.

The export is what a Dutch webshop's feedback tool writes: Windows-1252, `;`-separated, day-first
dates, euro amounts and an answer over two lines. The .xlsx export is read back with openpyxl and,
where LibreOffice is installed, with LibreOffice itself.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from conftest import write_csv
from whylabel.store import Store

OWN = [
    "item_id", "external_id", "source", "breakpoint", "moment", "stage", "lang", "rating", "created_at",
    "text", "reasons", "driver", "trust", "fear", "uncertainty", "price", "features", "terms", "annotator",
    "labeled_at", "suggested_reasons", "suggestion_confidence", "note",
]
DUTCH_HEADER = ["Klantnummer", "Datum", "Opmerking", "Kanaal", "Stap"]
DUTCH_ROWS = [
    ["0012345", "20-10-2025", "Véél te duur: € 6,95 verzendkosten bij een bestelling van € 49,95", "Webshop", "Betalen"],
    ["100234", "21-10-2025", "Ik vertrouw de betaalpagina niet, er staat nergens een keurmerk", "App", "Betalen"],
    ["100235", "22-10-2025", "Retourneren kost € 4,50.\nEn mijn geld is na drie weken nog steeds niet teruggestort",
     "E-mail", "Retourneren"],
    ["100236", "23-10-2025", "De maattabel klopt niet; de jurk was twee maten te groot. Financiële compensatie? Nee.",
     "Telefoon", "Productpagina"],
    ["100237", "24-10-2025", "Ik twijfel nog, de café-tafel is mooi maar komt die wel vóór kerst?", "Webshop",
     "Bezorgen"],
]
LABELS = {"0012345": ["price"], "100234": ["trust"], "100235": ["price", "terms"], "100236": ["features"]}
# 100237 stays unlabeled: not exported


def dutch_export(path):
    """The file as the shop's tool writes it (csv quotes the multi-line answer)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", lineterminator="\r\n")
    writer.writerow(DUTCH_HEADER)
    writer.writerows(DUTCH_ROWS)
    return write_csv(path, buf.getvalue(), encoding="cp1252")


@pytest.fixture
def dutch_db(cli, tmp_path, db_path):
    r = cli("import", dutch_export(tmp_path / "feedback_week_43.csv"), "--db", db_path, "--json")
    assert r.exit_code == 0, r.stderr
    with Store(db_path) as s:
        by_customer = {json.loads(meta)["Klantnummer"]: item_id
                       for item_id, meta in s.db.execute("SELECT id, meta FROM items")}
        for customer, reasons in LABELS.items():
            s.annotate(by_customer[customer], reasons, annotator="anna")
    return json.loads(r.stdout)


def read_csv_file(path):
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def test_dutch_header_maps_without_flags_and_the_breakpoint_comes_from_stap(dutch_db, db_path):
    assert dutch_db["encoding"] == "cp1252" and dutch_db["added"] == 5
    assert dutch_db["columns"] == {"source": "Kanaal", "breakpoint": "Stap", "created_at": "Datum", "text": "Opmerking"}
    with Store(db_path) as s:
        got = s.db.execute("SELECT breakpoint, source, created_at, text FROM items ORDER BY id").fetchall()
    assert [g[0] for g in got] == ["betalen", "betalen", "retourneren", "productpagina", "bezorgen"]
    assert [g[1] for g in got] == ["webshop", "app", "ticket", "ticket", "webshop"]
    assert [g[2] for g in got] == ["2025-10-20", "2025-10-21", "2025-10-22", "2025-10-23", "2025-10-24"]
    assert [g[3] for g in got] == [row[2] for row in DUTCH_ROWS]


@pytest.mark.parametrize("header, field", [("stap", "breakpoint"), ("klantreisstap", "breakpoint"),
                                           ("Klantreis-stap", "breakpoint"), ("fase", "stage")])
def test_dutch_step_column_names(cli, tmp_path, db_path, header, field):
    f = write_csv(tmp_path / "a.csv", f"opmerking;{header}\nTe duur;purchase\n")
    r = cli("import", f, "--db", db_path, "--lang", "nl", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["columns"] == {"text": "opmerking", field: header}


def test_csv_export_brings_the_export_columns_back_so_labels_join_to_customers(cli, tmp_path, db_path, dutch_db):
    out = tmp_path / "gelabeld.csv"
    r = cli("export", "-o", out, "--db", db_path)
    assert r.exit_code == 0, r.stderr
    rows = read_csv_file(out)
    assert list(rows[0]) == OWN + DUTCH_HEADER
    by_customer = {row["Klantnummer"]: row for row in rows}
    assert {k: v["reasons"].split(";") for k, v in by_customer.items()} == LABELS  # the join back
    originals = {row[0]: dict(zip(DUTCH_HEADER, row)) for row in DUTCH_ROWS}
    for customer, row in by_customer.items():  # every input column as written, the text included
        assert {c: row[c] for c in DUTCH_HEADER} == originals[customer]
    assert by_customer["100235"]["Kanaal"] == "E-mail" and by_customer["100235"]["source"] == "ticket"
    assert by_customer["100235"]["Opmerking"].count("\n") == 1


def test_xlsx_export_keeps_typed_cells_and_the_export_columns(cli, tmp_path, db_path, dutch_db):
    out = tmp_path / "gelabeld.xlsx"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    ws = load_workbook(out).worksheets[0]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0] == OWN + DUTCH_HEADER
    assert ws.auto_filter.ref == f"A1:AB{len(LABELS) + 1}"
    by_customer = {row[len(OWN)]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert set(by_customer) == {"0012345", 100234, 100235, 100236}  # a leading zero keeps it text
    first, third = by_customer["0012345"], by_customer[100235]
    assert first["created_at"] == dt.datetime(2025, 10, 20) and first["Datum"] == "20-10-2025"
    assert (first["price"], first["trust"], first["item_id"]) == (1, 0, 1)
    assert first["Opmerking"] == DUTCH_ROWS[0][2] and third["Opmerking"] == DUTCH_ROWS[2][2]
    assert (third["Kanaal"], third["Stap"], third["reasons"]) == ("E-mail", "Retourneren", "price;terms")


def test_a_clash_with_a_whylabel_column_gets_input_prefix(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "coded.csv",
                  "Klantnummer,text,reasons,Source\n"
                  "K-881,\"Shipping cost €7, far too much\",te duur,Trustpilot\n"
                  "K-882,I don't trust a shop without an address,wantrouwen,Trustpilot\n")
    assert cli("import", f, "--db", db_path, "--lang", "en").exit_code == 0
    with Store(db_path) as s:
        s.annotate(1, ["price"], annotator="anna")
        s.annotate(2, ["trust"], annotator="anna")
    for out in (tmp_path / "out.csv", tmp_path / "out.xlsx"):
        assert cli("export", "-o", out, "--db", db_path).exit_code == 0
        if out.suffix == ".csv":
            rows = read_csv_file(out)
        else:
            values = [[c.value for c in row] for row in load_workbook(out).worksheets[0].iter_rows()]
            rows = [dict(zip(values[0], row)) for row in values[1:]]
        assert list(rows[0]) == OWN + ["Klantnummer", "input_text", "input_reasons", "input_Source"]
        assert [(r["reasons"], r["input_reasons"], r["input_Source"], r["source"]) for r in rows] == [
            ("price", "te duur", "Trustpilot", "trustpilot"), ("trust", "wantrouwen", "Trustpilot", "trustpilot")]
        assert rows[0]["input_text"] == rows[0]["text"] == "Shipping cost €7, far too much"


def test_columns_chooses_and_orders_the_input_columns(cli, tmp_path, db_path, dutch_db):
    out = tmp_path / "gekozen.csv"
    assert cli("export", "-o", out, "--db", db_path, "--columns", "Kanaal, Klantnummer").exit_code == 0
    rows = read_csv_file(out)
    assert list(rows[0]) == OWN + ["Kanaal", "Klantnummer"]
    assert [(r["Klantnummer"], r["Kanaal"]) for r in rows] == [
        ("0012345", "Webshop"), ("100234", "App"), ("100235", "E-mail"), ("100236", "Telefoon")]
    assert cli("export", "-o", out, "--db", db_path, "--columns", "").exit_code == 0
    assert list(read_csv_file(out)[0]) == OWN


def test_an_unknown_column_is_one_line_exit_2_and_no_file(cli, tmp_path, db_path, dutch_db):
    out = tmp_path / "gekozen.csv"
    r = cli("export", "-o", out, "--db", db_path, "--columns", "Klantnummer,Klantnr")
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: --columns: no input column named 'Klantnr' "
                        "(available: Klantnummer, Datum, Opmerking, Kanaal, Stap)\n")
    assert not out.exists()


def test_columns_are_the_union_over_imports_in_first_seen_order(cli, tmp_path, db_path):
    write_csv(tmp_path / "enquete.csv", "Klantnummer;Opmerking;Cijfer\n501;Bezorging duurde te lang;4\n"
                                        "502;Niet gelabeld;7\n")
    write_jsonl_path = tmp_path / "reviews.jsonl"
    write_jsonl_path.write_text(json.dumps({"review": "Great fit, but returns cost €5", "order": "ORD-9",
                                            "Klantnummer": 777, "stars": 2.5}) + "\n", encoding="utf-8")
    for f in (tmp_path / "enquete.csv", write_jsonl_path):
        assert cli("import", f, "--db", db_path, "--lang", "nl").exit_code == 0
    with Store(db_path) as s:
        s.annotate(1, ["uncertainty"], annotator="anna")
        s.annotate(3, ["terms"], annotator="anna")
    out = tmp_path / "alles.csv"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    rows = read_csv_file(out)
    assert list(rows[0])[len(OWN):] == ["Klantnummer", "Opmerking", "Cijfer", "review", "order", "stars"]
    assert [[r[c] for c in ("Klantnummer", "Opmerking", "Cijfer", "review", "order", "stars")] for r in rows] == [
        ["501", "Bezorging duurde te lang", "4", "", "", ""],
        ["777", "", "", "Great fit, but returns cost €5", "ORD-9", "2.5"],
    ]
    jsonl = cli("export", "-o", "-", "--db", db_path, "--format", "jsonl").stdout.splitlines()
    second = json.loads(jsonl[1])
    assert (second["Klantnummer"], second["stars"], second["Cijfer"]) == (777, 2.5, None)  # JSON keeps types


def test_an_empty_database_exports_a_header_only(cli, tmp_path, db_path):
    write_csv(tmp_path / "a.csv", "Opmerking;Klantnummer\nNog niet gelabeld;12\n")
    assert cli("import", tmp_path / "a.csv", "--db", db_path, "--lang", "nl").exit_code == 0
    out = tmp_path / "leeg.csv"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    assert out.read_text("utf-8") == ",".join(OWN) + "\n"
    r = cli("export", "-o", out, "--db", db_path, "--columns", "Klantnummer")
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: --columns: no input column named 'Klantnummer' "
                        "(available: (none: no labeled item has input columns))\n")


# ---------------------------------------------------------------------------------------------
# LibreOffice reads the workbook back


@pytest.mark.skipif(shutil.which("soffice") is None,
                    reason="LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui")
def test_libreoffice_reads_the_xlsx_export_back(cli, tmp_path, db_path, dutch_db):
    out = tmp_path / "gelabeld.xlsx"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    converted = tmp_path / "lo"
    profile = tmp_path / "lo-profile"  # its own profile: no clash with a LibreOffice already open
    for target in ('csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false', "fods"):
        done = subprocess.run(
            ["soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
             "--convert-to", target, "--outdir", str(converted), str(out)],
            capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO((converted / "gelabeld.csv").read_text("utf-8"))))
    assert list(rows[0]) == OWN + DUTCH_HEADER
    by_customer = {row["Klantnummer"]: row for row in rows}
    assert set(by_customer) == set(LABELS)  # 0012345 stays text: its leading zeros survive
    originals = {row[0]: dict(zip(DUTCH_HEADER, row)) for row in DUTCH_ROWS}
    for customer, row in by_customer.items():
        assert {c: row[c] for c in DUTCH_HEADER} == originals[customer]  # é, ë, €, the line break
        assert row["reasons"].split(";") == LABELS[customer]
    assert by_customer["0012345"]["created_at"].startswith("2025-10-20")
    # The types as LibreOffice holds them: numbers, dates and text, not numbers stored as text.
    cells = {(row[len(OWN)][1], name): cell for row in flat_ods_rows(converted / "gelabeld.fods")[1:]
             for name, cell in zip(OWN + DUTCH_HEADER, row)}
    assert cells["100234", "Klantnummer"] == ("float", "100234") and cells["0012345", "Klantnummer"][0] == "string"
    assert cells["0012345", "created_at"] == ("date", "2025-10-20")
    assert cells["0012345", "Datum"] == ("string", "20-10-2025")
    assert cells["0012345", "price"] == ("float", "1") and cells["100234", "item_id"] == ("float", "2")
    assert cells["100235", "Opmerking"] == ("string", DUTCH_ROWS[2][2])


def flat_ods_rows(path):
    """(value type, value) per cell of a flat OpenDocument spreadsheet's first sheet, as LibreOffice wrote it."""
    import xml.etree.ElementTree as ET

    ns = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
          "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
          "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}
    office, table = "{%s}" % ns["office"], "{%s}" % ns["table"]
    sheet = ET.parse(path).getroot().find(".//table:table", ns)
    rows = []
    for row in sheet.iter(table + "table-row"):
        cells = []
        for cell in row.iter(table + "table-cell"):
            kind = cell.get(office + "value-type")
            value = cell.get(office + "value") or cell.get(office + "date-value")
            if value is None:
                value = "\n".join("".join(p.itertext()) for p in cell.findall("text:p", ns))
            cells += [(kind, value)] * int(cell.get(table + "number-columns-repeated", "1"))
        if any(kind for kind, _ in cells):
            rows.append(cells)
    return rows


def test_the_xlsx_copy_of_the_dutch_export_round_trips_with_types(cli, tmp_path, db_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(DUTCH_HEADER)
    for customer, date, text, channel, step in DUTCH_ROWS:  # as Excel holds it: numbers and dates typed
        day, month, year = map(int, date.split("-"))
        ws.append([customer if customer.startswith("0") else int(customer), dt.datetime(year, month, day), text,
                   channel, step])
    wb.save(tmp_path / "feedback_week_43.xlsx")
    r = cli("import", tmp_path / "feedback_week_43.xlsx", "--db", db_path, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["columns"] == {"source": "Kanaal", "breakpoint": "Stap", "created_at": "Datum",
                                               "text": "Opmerking"}
    with Store(db_path) as s:
        for item_id, reasons in ((1, ["price"]), (3, ["price", "terms"])):
            s.annotate(item_id, reasons, annotator="anna")
    out = tmp_path / "gelabeld.xlsx"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    values = [[c.value for c in row] for row in load_workbook(out).worksheets[0].iter_rows()]
    rows = [dict(zip(values[0], row)) for row in values[1:]]
    assert [(r["Klantnummer"], r["Datum"], r["Kanaal"], r["Stap"], r["reasons"]) for r in rows] == [
        ("0012345", dt.datetime(2025, 10, 20), "Webshop", "Betalen", "price"),
        (100235, dt.datetime(2025, 10, 22), "E-mail", "Retourneren", "price;terms"),
    ]
    assert rows[1]["Opmerking"] == DUTCH_ROWS[2][2]


def test_items_imported_before_headers_were_kept_take_mapped_columns_from_their_fields(cli, tmp_path, db_path):
    from whylabel.records import ItemRecord

    with Store(db_path) as s:  # what an older whylabel stored: no header, only unmapped cells as metadata
        s.import_records([ItemRecord(hash="h1", source="ticket", text="Retour kost € 4,50", external_id="T-1",
                                     breakpoint="retourneren", meta={"Klantnummer": "100235"})],
                         path="oud.csv", options={"columns": {"text": "Opmerking", "id": "Nr", "source": "Kanaal",
                                                              "breakpoint": "Stap"}})
        s.annotate(1, ["terms"], annotator="anna")
    out = tmp_path / "oud.csv"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    [row] = read_csv_file(out)
    assert list(row)[len(OWN):] == ["Klantnummer", "Opmerking", "Nr", "Kanaal", "Stap"]
    assert [row[c] for c in ("Klantnummer", "Opmerking", "Nr", "Kanaal", "Stap")] == [
        "100235", "Retour kost € 4,50", "T-1", "ticket", "retourneren"]


def test_a_json_record_with_keys_of_its_own_brings_them_along(cli, tmp_path, db_path):
    f = tmp_path / "tickets.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"message": "Waar blijft mijn pakket?", "ticket": "T-1"},
        {"message": "Ik wil mijn geld terug", "ticket": "T-2", "order": {"nr": 881, "bedrag": "€ 59,95"}},
    ]) + "\n", encoding="utf-8")
    assert cli("import", f, "--db", db_path, "--lang", "nl").exit_code == 0
    with Store(db_path) as s:
        s.annotate(1, ["trust"], annotator="anna")
        s.annotate(2, ["terms"], annotator="anna")
    out = tmp_path / "out.csv"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    rows = read_csv_file(out)
    assert list(rows[0])[len(OWN):] == ["message", "ticket", "order"]
    assert [(r["ticket"], r["order"]) for r in rows] == [("T-1", ""), ("T-2", '{"nr": 881, "bedrag": "€ 59,95"}')]


def test_items_stored_by_predict_into_db_bring_their_columns_too(cli, tmp_path, db_path):
    f = dutch_export(tmp_path / "feedback_week_43.csv")
    r = cli("predict", f, "-o", tmp_path / "voorspeld.csv", "--into-db", "--db", db_path, "--fast", "--workers", "1",
            "--quiet")
    assert r.exit_code == 0, r.stderr
    with Store(db_path) as s:
        [(item_id,)] = s.db.execute("SELECT id FROM items WHERE text LIKE 'Retourneren kost%'").fetchall()
        s.annotate(item_id, ["terms"], annotator="anna")
    out = tmp_path / "gelabeld.csv"
    assert cli("export", "-o", out, "--db", db_path).exit_code == 0
    [row] = read_csv_file(out)
    assert list(row)[len(OWN):] == DUTCH_HEADER
    assert {c: row[c] for c in DUTCH_HEADER} == dict(zip(DUTCH_HEADER, DUTCH_ROWS[2]))
