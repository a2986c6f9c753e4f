"""Dutch spreadsheets: funnel column names and figures, day-first dates, the input's dialect kept."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import db_snapshot, write_csv
from whylabel.localformat import NumberError, whole_numbers
from whylabel.store import Store


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == f"whylabel: error: {expected}\n"


# ---------------------------------------------------------------------------------------------
# Funnel figures (issue 15, item 5)

DUTCH_FUNNEL = (
    "Stap;Fase;Bereikt;Afgehaakt;Periode\r\n"
    "checkout;purchase;12.480;3.120;2026-10\r\n"
    "Bezorging;retention;9.360;1.404;2026-10\r\n"
    "retourneren;retention;850;;2026-10\r\n"
)


def test_dutch_funnel_with_dutch_figures_in_cp1252(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "trechter_oktober.csv", DUTCH_FUNNEL, encoding="cp1252")
    r = cli("breakpoints", f, "--db", db_path)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == f"{f}: 3 breakpoints updated\n"
    with Store(db_path) as s:
        got = {b["name"]: (b["stage"], b["reached"], b["dropped"], b["period"]) for b in s.breakpoints()}
    assert got == {"checkout": ("purchase", 12480, 3120, "2026-10"),
                   "bezorging": ("retention", 9360, 1404, "2026-10"),
                   "retourneren": ("retention", 850, None, "2026-10")}


def test_english_thousands_stay_english(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "funnel.csv", 'name,moment,reached,dropped\ncheckout,choose,"12,480","1,234"\n'
                                          'delivery,stay,"1,002,400",990\n')
    assert cli("breakpoints", f, "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        got = {b["name"]: (b["reached"], b["dropped"]) for b in s.breakpoints()}
    assert got == {"checkout": (12480, 1234), "delivery": (1002400, 990)}


def test_spaces_group_thousands(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "funnel.tsv", "stap\tbereikt\tafgehaakt\nwinkelmand\t12 480\t2\u00a0480\n")
    assert cli("breakpoints", f, "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        assert [(b["reached"], b["dropped"]) for b in s.breakpoints()] == [(12480, 2480)]


@pytest.mark.parametrize(("reached", "expected"), [
    ("0,5", "row 3, column 'bereikt': reached must be a whole number, got '0,5'"),
    ("1.234,5", "row 3, column 'bereikt': reached must be a whole number, got '1.234,5'"),
    ("veel", "row 3, column 'bereikt': reached must be a whole number, got 'veel'"),
    ("-40", "row 3, column 'bereikt': reached must be a whole number, got '-40'"),
    ("12 48", "row 3, column 'bereikt': reached must be a whole number, got '12 48'"),
    ("12.48", "row 2, column 'bereikt': reached must be a whole number, got '12.480' "
              "(read as 12.48: '12.48' in the same column writes decimals with '.')"),
])
def test_bad_figure_is_one_line_and_stores_nothing(cli, tmp_path, db_path, reached, expected):
    good = write_csv(tmp_path / "eerder.csv", "stap;bereikt\ncheckout;100\n")
    assert cli("breakpoints", good, "--db", db_path).exit_code == 0
    before = db_snapshot(db_path)
    f = write_csv(tmp_path / "trechter.csv", f"stap;bereikt\nzoeken;12.480\nbetalen;{reached}\n")
    assert_one_line_error(cli("breakpoints", f, "--db", db_path), f"{f}, {expected}")
    assert db_snapshot(db_path) == before


def test_mixed_decimal_marks_are_refused_at_the_later_row(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "trechter.csv", "stap;afgehaakt\nzoeken;1.234,0\nbetalen;1,234.0\n")
    assert_one_line_error(cli("breakpoints", f, "--db", db_path),
                          f"{f}, row 3, column 'afgehaakt': dropped '1,234.0' and '1.234,0' (an earlier row) "
                          "use different decimal marks")


def test_the_column_decides_the_decimal_mark():
    # '0,5' says the column writes decimals with ',', so '12.480' is twelve thousand and '0,5' is wrong.
    with pytest.raises(NumberError) as exc:
        whole_numbers(["12.480", "0,5"])
    assert exc.value.index == 1
    # '3.5' says '.', so '12.480' is 12.48: not a count.
    with pytest.raises(NumberError) as exc:
        whole_numbers(["12.480", "3.5"])
    assert exc.value.index == 0
    assert whole_numbers(["1.234.567", "12.480", "", 7, 8.0, "  950 "]) == [1234567, 12480, None, 7, 8, 950]
    assert whole_numbers(["1,234,567", "12,480"]) == [1234567, 12480]


def test_funnel_without_name_column_names_the_dutch_one_too(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "trechter.csv", "omschrijving;bereikt\ncheckout;10\n")
    assert_one_line_error(cli("breakpoints", f, "--db", db_path),
                          f"{f}: no `name`, `breakpoint` or `stap` column (columns: omschrijving, bereikt)")


# ---------------------------------------------------------------------------------------------
# Dates in one form (issue 15, item 7)

def stored_dates(db_path) -> dict[str, str | None]:
    with Store(db_path) as s:
        return dict(s.db.execute("SELECT external_id, created_at FROM items").fetchall())


def test_dutch_export_dates_become_iso(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "export_klantcontact.csv",
                  "Klantnummer;Datum;Opmerking;Kanaal;Stap\r\n"
                  "K-1001;03-10-2025;Verzendkosten van €6,95 vind ik te veel voor één boek;enquête;checkout\r\n"
                  "K-1002;20-10-2025 14:05;Pakket kwam beschadigd aan, doos was ingedeukt;e-mail;bezorging\r\n"
                  "K-1003;20/10/2025;Retourneren binnen 14 dagen is te kort;chat;retourneren\r\n"
                  "K-1004;21 okt 2025;Ik kon niet betalen met iDEAL, twee keer geprobeerd;enquête;checkout\r\n"
                  "K-1005;1 november 2025;Levering duurde een week, dat is te lang;telefoon;bezorging\r\n"
                  "K-1006;2025-11-02T09:30:00;Prima geholpen door de klantenservice;chat;retourneren\r\n"
                  "K-1007;;Geen datum bij deze opmerking;chat;checkout\r\n",
                  encoding="cp1252")
    r = cli("import", f, "--db", db_path, "--id-column", "Klantnummer", "--lang", "nl", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["encoding"] == "cp1252" and summary["dates_ambiguous"] == 0
    assert summary["columns"]["created_at"] == "Datum"
    assert stored_dates(db_path) == {
        "K-1001": "2025-10-03", "K-1002": "2025-10-20T14:05:00", "K-1003": "2025-10-20",
        "K-1004": "2025-10-21", "K-1005": "2025-11-01", "K-1006": "2025-11-02T09:30:00", "K-1007": None,
    }


def test_a_later_value_decides_the_order_of_an_earlier_one(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "enquete.csv",
                  "id,datum,opmerking\n1,03/04/2025,Bestellen ging snel en makkelijk\n"
                  "2,11/04/2025,De site was traag bij het afrekenen\n"
                  "3,25/04/2025,Te weinig betaalopties\n")
    assert cli("import", f, "--db", db_path, "--lang", "nl").exit_code == 0
    assert stored_dates(db_path) == {"1": "2025-04-03", "2": "2025-04-11", "3": "2025-04-25"}


def test_english_month_first_column_and_month_names(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "reviews.csv",
                  'review_id,date,review\nR1,04/03/2025,Shipping took ages\nR2,12/31/2024,Great fit\n'
                  'R3,"Oct 20, 2025",Checkout kept failing\nR4,20 October 2025,Returned it\n')
    assert cli("import", f, "--db", db_path, "--lang", "en").exit_code == 0
    assert stored_dates(db_path) == {"R1": "2025-04-03", "R2": "2024-12-31", "R3": "2025-10-20",
                                     "R4": "2025-10-20"}


def test_ambiguous_dates_are_kept_as_written_and_counted(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "tickets.csv",
                  "ticket_id;datum;bericht\nT1;03/04/2025;Waar blijft mijn bestelling?\n"
                  "T2;05-06-2025;Factuur klopt niet\nT3;07/07/2025;Graag mijn geld terug\n"
                  "T4;gisteren;Kan ik nog annuleren?\n")
    r = cli("import", f, "--db", db_path, "--lang", "nl")
    assert r.exit_code == 0, r.stderr
    assert "2 ambiguous dates kept as written (day or month first?)" in r.stdout
    assert stored_dates(db_path) == {"T1": "03/04/2025", "T2": "05-06-2025", "T3": "2025-07-07", "T4": "gisteren"}
    again = cli("import", f, "--db", tmp_path / "other.db", "--lang", "nl", "--json")
    assert json.loads(again.stdout)["dates_ambiguous"] == 2


# ---------------------------------------------------------------------------------------------
# Predict keeps the input's dialect (issue 15, item 8)

KLANTCONTACT = (
    "Klantnummer;Datum;Opmerking;Kanaal;Stap\r\n"
    "K-2001;20-10-2025;Verzendkosten van €6,95 zijn veel te duur voor één paar sokken;enquête;checkout\r\n"
    "K-2002;21-10-2025;\"Pakket te laat; bezorger belde niet aan\";e-mail;bezorging\r\n"
    "K-2003;22-10-2025;Ik vertrouw de betaalpagina niet, geen iDEAL of PayPal;chat;checkout\r\n"
)


@pytest.fixture
def klantcontact(tmp_path):
    return write_csv(tmp_path / "klantcontact_week43.csv", KLANTCONTACT, encoding="cp1252")


def test_predict_writes_a_semicolon_export_back_with_semicolons_in_utf8(cli, klantcontact):
    r = cli("predict", klantcontact, "-o", "gelabeld.csv", "--workers", "1")
    assert r.exit_code == 0, r.stderr
    raw = Path("gelabeld.csv").read_bytes()
    assert raw.startswith(b"Klantnummer;Datum;Opmerking;Kanaal;Stap;reasons;")
    with open("gelabeld.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert [row["Klantnummer"] for row in rows] == ["K-2001", "K-2002", "K-2003"]
    assert rows[0]["Opmerking"] == "Verzendkosten van €6,95 zijn veel te duur voor één paar sokken"
    assert rows[1]["Opmerking"] == "Pakket te laat; bezorger belde niet aan"
    assert rows[0]["Kanaal"] == "enquête" and "price" in rows[0]["reasons"]


def test_predict_excel_is_semicolons_with_a_bom(cli, klantcontact):
    assert cli("predict", klantcontact, "-o", "gelabeld.csv", "--excel", "--workers", "1").exit_code == 0
    raw = Path("gelabeld.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfKlantnummer;Datum;Opmerking;Kanaal;Stap;reasons;")
    assert "één paar sokken".encode() in raw and raw.count(b"\r\n") == 4


def test_another_format_named_by_o_wins(cli, tmp_path, klantcontact):
    assert cli("predict", klantcontact, "-o", "gelabeld.jsonl", "--workers", "1").exit_code == 0
    rows = [json.loads(line) for line in Path("gelabeld.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows[2]["Opmerking"].startswith("Ik vertrouw de betaalpagina niet")
    tsv = write_csv(tmp_path / "reviews.tsv", "id\treview\nR1\tShipping was far too expensive\n")
    assert cli("predict", tsv, "-o", "labeled.csv", "--workers", "1").exit_code == 0
    assert Path("labeled.csv").read_text(encoding="utf-8").startswith("id,review,reasons,")
    assert cli("predict", tsv, "-o", "labeled.tsv", "--workers", "1").exit_code == 0
    assert Path("labeled.tsv").read_text(encoding="utf-8").startswith("id\treview\treasons\t")
