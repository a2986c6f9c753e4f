"""Export and report: columns, both CSV dialects, JSONL, formula neutralisation, whose labels."""

from __future__ import annotations

import csv
import io
import json

import pytest

from conftest import write_csv
from whylabel.store import Store

REASONS = ["trust", "fear", "uncertainty", "price", "features", "terms"]


@pytest.fixture
def labeled_db(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "tickets.csv",
                  "ticket_id,created,channel,breakpoint,message\n"
                  "T1,2026-06-01,chat,checkout,\"Verzendkosten van €6,95 zijn te veel\"\n"
                  "T2,2026-06-02,email,returns,=HYPERLINK(\"http://x\";\"klik\") retour kost geld\n"
                  "T3,2026-06-03,email,returns,\"-20% korting, maar ik vertrouw de site niet\"\n"
                  "T4,2026-06-04,chat,checkout,Nog niet gelabeld\n")
    assert cli("import", f, "--db", db_path).exit_code == 0
    bp = write_csv(tmp_path / "bp.csv", "name,moment,stage,reached,dropped\ncheckout,choose,purchase,1000,250\n"
                                        "returns,leave,retention,400,40\n")
    assert cli("breakpoints", bp, "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        ids = {r[1]: r[0] for r in s.db.execute("SELECT id, external_id FROM items")}
        s.annotate(ids["T1"], ["price"], annotator="anna")
        s.annotate(ids["T2"], ["price", "terms"], annotator="anna", note="+ formula in note")
        s.annotate(ids["T3"], ["trust"], annotator="anna")
        s.annotate(ids["T3"], ["trust", "price"], annotator="bob")
        s.save_suggestions([{"item_id": ids["T1"], "model_id": "m", "probabilities": {"price": 0.91},
                             "reasons": ["price"], "confidence": 0.91}])
    return ids


def read_csv(path, excel=False):
    raw = path.read_bytes()
    if excel:
        assert raw.startswith(b"\xef\xbb\xbf")
        text = raw[3:].decode("utf-8")
        return list(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert not raw.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))


def test_export_columns_and_values(cli, tmp_path, db_path, labeled_db):
    out = tmp_path / "out.csv"
    r = cli("export", "-o", out, "--db", db_path)
    assert r.exit_code == 0, r.stderr
    rows = read_csv(out)
    assert list(rows[0].keys()) == [
        "item_id", "external_id", "source", "breakpoint", "moment", "stage", "lang", "rating", "created_at",
        "text", "reasons", "driver", *REASONS, "annotator", "labeled_at", "suggested_reasons",
        "suggestion_confidence", "note",
        # then the imported file's own columns, as written; `breakpoint` clashes with whylabel's
        "ticket_id", "created", "channel", "input_breakpoint", "message",
    ]
    by_id = {r["external_id"]: r for r in rows}
    assert set(by_id) == {"T1", "T2", "T3"}  # T4 has no label
    t1 = by_id["T1"]
    assert (t1["source"], t1["breakpoint"], t1["moment"], t1["stage"]) == ("ticket", "checkout", "choose", "purchase")
    assert (t1["reasons"], t1["driver"], t1["price"], t1["trust"]) == ("price", "rational", "1", "0")
    assert (t1["suggested_reasons"], t1["suggestion_confidence"]) == ("price", "0.91")
    assert (t1["ticket_id"], t1["created"], t1["channel"], t1["input_breakpoint"], t1["message"]) == (
        "T1", "2026-06-01", "chat", "checkout", "Verzendkosten van €6,95 zijn te veel")
    assert by_id["T2"]["message"] == "'=HYPERLINK(\"http://x\";\"klik\") retour kost geld"  # neutralised too
    # Newest annotation wins by default (bob on T3): mixed driver.
    assert (by_id["T3"]["reasons"], by_id["T3"]["driver"], by_id["T3"]["annotator"]) == ("trust;price", "mixed", "bob")
    assert f"{len(rows)} labeled items" in r.stderr


def test_export_for_one_annotator(cli, tmp_path, db_path, labeled_db):
    out = tmp_path / "anna.csv"
    cli("export", "-o", out, "--db", db_path, "--annotator", "anna")
    t3 = {r["external_id"]: r for r in read_csv(out)}["T3"]
    assert (t3["reasons"], t3["driver"], t3["annotator"]) == ("trust", "emotional", "anna")


def test_formula_cells_are_neutralised(cli, tmp_path, db_path, labeled_db):
    out = tmp_path / "out.csv"
    cli("export", "-o", out, "--db", db_path)
    by_id = {r["external_id"]: r for r in read_csv(out)}
    assert by_id["T2"]["text"] == "'=HYPERLINK(\"http://x\";\"klik\") retour kost geld"
    assert by_id["T2"]["note"] == "'+ formula in note"
    assert by_id["T3"]["text"] == "'-20% korting, maar ik vertrouw de site niet"
    assert by_id["T1"]["text"] == "Verzendkosten van €6,95 zijn te veel"


def test_excel_dialect(cli, tmp_path, db_path, labeled_db):
    out = tmp_path / "excel.csv"
    assert cli("export", "-o", out, "--db", db_path, "--excel").exit_code == 0
    rows = read_csv(out, excel=True)
    assert len(rows) == 3 and rows[0]["text"] == "Verzendkosten van €6,95 zijn te veel"
    assert b"\r\n" in out.read_bytes()


def test_jsonl_export_keeps_lists(cli, tmp_path, db_path, labeled_db):
    r = cli("export", "-o", "-", "--db", db_path, "--format", "jsonl")
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["reasons"] for row in rows] == [["price"], ["price", "terms"], ["trust", "price"]]
    assert rows[1]["text"].startswith("=HYPERLINK")  # JSON is not a spreadsheet: text stays as written


def test_export_needs_existing_db_and_never_leaves_partial_files(cli, tmp_path):
    r = cli("export", "-o", tmp_path / "x.csv", "--db", tmp_path / "none.db")
    assert r.exit_code == 2
    assert r.stderr == f"whylabel: error: {tmp_path / 'none.db'}: database not found (run `whylabel import FILE` first)\n"
    assert list(tmp_path.iterdir()) == []


def test_report_per_breakpoint(cli, tmp_path, db_path, labeled_db):
    r = cli("report", "--db", db_path, "--json")
    rows = {row["breakpoint"]: row for row in json.loads(r.stdout)}
    assert rows["checkout"]["labeled"] == 1 and rows["checkout"]["drop_rate"] == 0.25
    assert rows["returns"]["labeled"] == 2
    assert rows["returns"]["price"] == 2 and rows["returns"]["terms"] == 1 and rows["returns"]["trust"] == 1
    assert rows["returns"]["mixed"] == 1 and rows["returns"]["rational"] == 1
    assert rows["returns"]["top_reason"] == "price"
    out = tmp_path / "summary.csv"
    assert cli("report", "--db", db_path, "-o", out, "--excel").exit_code == 0
    summary = read_csv(out, excel=True)
    assert [s["breakpoint"] for s in summary] == ["returns", "checkout"]
    table = cli("report", "--db", db_path).stdout
    assert "returns" in table and "price 100%" in table
