"""Issue 12, finding 12: personal data is replaced before anything is stored or written."""

from __future__ import annotations

import csv
import json
import re
import sqlite3

import pytest

from conftest import SHARED_DATA, write_csv, write_jsonl
from whylabel.redact import Redactor, card_valid, iban_valid, luhn_valid

# (text as written, text as stored): Dutch and English, as tickets and reviews really read.
REDACTED = [
    ("Mail me op piet.jansen@gmail.com als het pakket er is",
     "Mail me op <email> als het pakket er is"),
    ("Stuur de factuur naar p.de-vries+webshop@bedrijf.co.uk. Dank!",
     "Stuur de factuur naar <email>. Dank!"),
    ("Bel me terug op 06-12345678, ik ben na 17:00 thuis",
     "Bel me terug op <phone>, ik ben na 17:00 thuis"),
    ("Klantenservice 020 123 4567 neemt niet op, ook niet op 0612345678",
     "Klantenservice <phone> neemt niet op, ook niet op <phone>"),
    ("Mijn Belgische gsm is 0470 12 34 56, vast +32 470 12 34 56",
     "Mijn Belgische gsm is <phone>, vast <phone>"),
    ("Please call me on +44 20 7031 3000 or on my mobile, thanks",
     "Please call me on <phone> or on my mobile, thanks"),
    ("You can reach me at (650) 253-0000 after 5pm",
     "You can reach me at <phone> after 5pm"),
    ("bel 06 - 12 34 56 78 of tel. 010 - 414 43 22", "bel <phone> of tel. <phone>"),
    ("Call 1-800-275-2273 or +1 212 736 3100, tel:+31612345678", "Call <phone> or <phone>, tel:<phone>"),
    ("stuur naar <Jan.Jansen@Example.COM>", "stuur naar <<email>>"),
    ("Terugstorten op NL91 ABNA 0417 1643 00 graag, bedankt",
     "Terugstorten op <iban> graag, bedankt"),
    ("Refund to BE71 0961 2345 6769 or GB82 WEST 1234 5698 7654 32 please",
     "Refund to <iban> or <iban> please"),
    ("rekening nl91abna0417164300.", "rekening <iban>."),
    ("Ze hebben 4111 1111 1111 1111 twee keer belast", "Ze hebben <card> twee keer belast"),
    ("card 5555-5555-5555-4444 exp 12/27, still charged twice", "card <card> exp 12/27, still charged twice"),
    ("Amex 3782 822463 10005 was declined", "Amex <card> was declined"),
    ("Mail jan@voorbeeld.nl of bel 06-12345678, IBAN NL91ABNA0417164300, kaart 4111111111111111",
     "Mail <email> of bel <phone>, IBAN <iban>, kaart <card>"),
]

# Hard negatives: prices, dates, quantities, order and tracking numbers, postcodes, handles.
KEPT = [
    "Verzendkosten van € 12,99 voor 3 stuks is echt te veel",
    "Besteld op 2026-10-12, bestelnummer 123456789, nog steeds niks",
    "Levering gepland op 12-10-2026 tussen 10:00 en 14:00 uur",
    "Postcode 1012 AB, huisnummer 14-2, ordernummer 2026-00123",
    "I paid $1,299.00 for 2 chairs on 12/10/2026, order #100234567",
    "order #4532015112830367 never arrived",  # 16 digits that fail the Luhn check
    "Track & trace 3SABCD1234567 zegt nog steeds onderweg",
    "KvK 12345678 en btw NL001234567B01 staan op de factuur",
    "EAN 8710103487254, artikel 4006381333931",
    "rekeningnummer NL91ABNA0417164301 klopt niet",  # fails mod-97
    "@IBMcloud why is my bill 4 times higher than last month?",
    "Retour binnen 14 dagen, 30% korting, 1.234.567 klanten",
    "version 3.14.159265358979 broke the app",
    "factuur 2026001234 en klantnummer 0012345678 kloppen niet",  # bare ten digits: not a US number
    "Bestelling 1234567890 niet ontvangen, retour 3 van de 4 stuks",
]


@pytest.mark.parametrize("text, expected", REDACTED)
def test_personal_data_is_replaced(text, expected):
    assert Redactor().text(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_prices_dates_quantities_and_order_numbers_stay_as_written(text):
    r = Redactor()
    assert r.text(text) == text
    assert r.total == 0


def test_the_checks_themselves():
    assert iban_valid("NL91ABNA0417164300") and iban_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_valid("NL91ABNA0417164301") and not iban_valid("NL91ABNA041716430")  # digit, length
    assert luhn_valid("4532015112830366") and not luhn_valid("4532015112830367")
    assert card_valid("4111 1111 1111 1111") and not card_valid("9111111111111111")  # no card network
    # A Luhn-valid Visa number is a card number, whatever the word in front of it says.
    assert Redactor().text("order #4532015112830366") == "order #<card>"


def test_counts_per_kind():
    r = Redactor()
    for text, _ in REDACTED:
        r.text(text)
    assert r.counts == {"email": 4, "phone": 13, "iban": 5, "card": 4}


def test_rows_are_redacted_in_every_cell_and_nested_value():
    r = Redactor()
    row = {"id": "T1", "text": "bel 06-12345678", "email": "a@b.nl", "rating": 4,
           "extra": {"contact": ["x@y.com", 3]}}
    assert r.row(row) == {"id": "T1", "text": "bel <phone>", "email": "<email>", "rating": 4,
                          "extra": {"contact": ["<email>", 3]}}


def tickets(tmp_path):
    rows = [("T1", "jan@voorbeeld.nl", "Mail jan@voorbeeld.nl of bel 06-12345678, ik wil mijn geld terug"),
            ("T2", "", "Terugstorten op NL91 ABNA 0417 1643 00 graag, € 12,99 te veel betaald"),
            ("T3", "", "Card 4111 1111 1111 1111 was charged twice for order #100234567"),
            ("T4", "", "Besteld op 2026-10-12, 3 stuks, bestelnummer 123456789")]
    with open(tmp_path / "tickets.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ticket_id", "customer_email", "message"])
        w.writerows(rows)
    return tmp_path / "tickets.csv"


def test_import_redact_stores_no_personal_data_and_counts_it(cli, tmp_path, db_path):
    f = tickets(tmp_path)
    r = cli("import", f, "--db", db_path, "--redact", "--lang", "nl", "--text-column", "message")
    assert r.exit_code == 0, r.stderr
    assert "redacted 2 email, 1 phone, 1 iban, 1 card" in r.stdout
    with sqlite3.connect(db_path) as c:
        stored = c.execute("SELECT external_id, text, meta FROM items ORDER BY id").fetchall()
    assert stored == [
        ("T1", "Mail <email> of bel <phone>, ik wil mijn geld terug",
         json.dumps({"ticket_id": "T1", "customer_email": "<email>"})),
        ("T2", "Terugstorten op <iban> graag, € 12,99 te veel betaald", json.dumps({"ticket_id": "T2"})),
        ("T3", "Card <card> was charged twice for order #100234567", json.dumps({"ticket_id": "T3"})),
        ("T4", "Besteld op 2026-10-12, 3 stuks, bestelnummer 123456789", json.dumps({"ticket_id": "T4"})),
    ]
    raw = db_path.read_bytes() + (db_path.with_name(db_path.name + "-wal").read_bytes()
                                  if db_path.with_name(db_path.name + "-wal").exists() else b"")
    for secret in (b"jan@voorbeeld.nl", b"06-12345678", b"0417 1643", b"4111 1111"):
        assert secret not in raw
    g = write_jsonl(tmp_path / "more.jsonl", [{"id": "R9", "text": "bel +31 6 12345678 of mail a.b@c.com"}])
    r = cli("import", g, "--db", db_path, "--redact", "--json")
    assert json.loads(r.stdout)["redacted"] == {"email": 1, "phone": 1, "iban": 0, "card": 0}


def test_import_without_redact_keeps_the_text(cli, tmp_path, db_path):
    r = cli("import", tickets(tmp_path), "--db", db_path, "--json", "--text-column", "message")
    assert "redacted" not in json.loads(r.stdout)
    with sqlite3.connect(db_path) as c:
        assert "jan@voorbeeld.nl" in c.execute("SELECT text FROM items WHERE external_id='T1'").fetchone()[0]


def test_predict_redact_writes_no_personal_data_to_the_output_the_rejects_or_the_db(cli, tmp_path, db_path):
    f = tickets(tmp_path)
    with open(f, "a", encoding="utf-8") as out:
        out.write('T5,x@y.nl,"bel 06-12345678",extra,fields\n')  # a bad row: goes to the rejects file
    r = cli("predict", f, "-o", tmp_path / "out.csv", "--redact", "--workers", "1", "--text-column", "message",
            "--into-db", "--db", db_path, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["redacted"] == {"email": 3, "phone": 2, "iban": 1, "card": 1}
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as out:
        rows = list(csv.DictReader(out))
    assert [row["message"] for row in rows] == [
        "Mail <email> of bel <phone>, ik wil mijn geld terug",
        "Terugstorten op <iban> graag, € 12,99 te veel betaald",
        "Card <card> was charged twice for order #100234567",
        "Besteld op 2026-10-12, 3 stuks, bestelnummer 123456789",
    ]
    assert rows[0]["customer_email"] == "<email>"
    rejects = (tmp_path / "out.rejects.csv").read_text(encoding="utf-8")
    assert "x@y.nl" not in rejects and "06-12345678" not in rejects and "<phone>" in rejects
    with sqlite3.connect(db_path) as c:
        texts = [t for (t,) in c.execute("SELECT text FROM items ORDER BY id")]
    assert texts == [row["message"] for row in rows]
    r = cli("predict", f, "-o", tmp_path / "out2.csv", "--redact", "--workers", "1", "--text-column", "message")
    assert "redacted 3 email, 2 phone, 1 iban, 1 card" in r.stderr


@pytest.mark.skipif(not (SHARED_DATA / "ibm_twitter_customer_care").is_dir(),
                    reason="../shared/data (real customer-care tweets) is not on this machine")
def test_no_email_address_of_the_real_customer_care_tweets_survives():
    texts = []
    for name in ("dev.json", "test.json"):
        with open(SHARED_DATA / "ibm_twitter_customer_care" / name, encoding="utf-8") as f:
            for conversation in json.load(f):
                texts += [turn["message"] for turn in conversation.get("dialogContent", [])]
    address = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
    with_address = [t for t in texts if address.search(t)]
    assert with_address  # the data set holds real addresses
    r = Redactor()
    assert [t for t in map(r.text, with_address) if address.search(t)] == []
    assert r.counts["email"] >= len(with_address)
