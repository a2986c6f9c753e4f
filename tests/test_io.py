"""The one table reader: the same rows, numbers and messages whether bad rows are raised or collected."""

from __future__ import annotations

import io

import pytest

from conftest import write_csv, write_jsonl
from whylabel.errors import InputError
from whylabel.io import FORMATS, BadRow, Source, Table, open_table, register_format

# A Dutch-locale export: `;`, a quoted line break (one spreadsheet row), a blank line (a row too),
# then a row with an unquoted `;` in its text.
EXPORT = (
    "id;opmerking\n"                                   # row 1
    "1;Verzendkosten veel te hoog\n"                   # row 2
    '2;"Bezorging beloofd op maandag,\nkwam vrijdag"\n'  # row 3 (two lines)
    "\n"                                               # row 4: blank
    "3;Retour; duurde drie weken\n"                    # row 5: one field too many
    "4;Never again, the app keeps crashing\n"          # row 6
)


def collected(table: Table) -> list:
    with table:
        return list(table.rows)


def test_rows_are_numbered_as_a_spreadsheet_shows_them_in_both_modes(tmp_path):
    f = write_csv(tmp_path / "week.csv", EXPORT)
    rows = collected(open_table(f, bad_rows="collect"))
    assert rows == [
        (2, {"id": "1", "opmerking": "Verzendkosten veel te hoog"}),
        (3, {"id": "2", "opmerking": "Bezorging beloofd op maandag,\nkwam vrijdag"}),
        BadRow(5, "3 fields but the header has 2 (an unquoted ';' in a text?)", "3;Retour; duurde drie weken"),
        (6, {"id": "4", "opmerking": "Never again, the app keeps crashing"}),
    ]
    table = open_table(f)  # bad_rows="raise": the import's way, the same number in the message
    assert table.row_label == "row" and table.columns == ["id", "opmerking"]
    with table, pytest.raises(InputError) as err:
        list(table.rows)
    assert str(err.value) == f"{f}, row 5: 3 fields but the header has 2 (an unquoted ';' in a text?)"


def test_import_and_predict_name_the_same_row(cli, tmp_path):
    f = write_csv(tmp_path / "week.csv", EXPORT)
    r = cli("import", f, "--db", tmp_path / "t.db")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"whylabel: error: {f}, row 5: 3 fields")
    r = cli("predict", f, "-o", tmp_path / "out.csv", "--model", "cues", "--workers", "1", "--quiet")
    assert r.exit_code == 0, r.output
    rejects = (tmp_path / "out.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejects == ["row,reason,raw", "5,3 fields but the header has 2 (an unquoted ';' in a text?),3;Retour; duurde drie weken"]


def test_json_lines_are_numbered_by_line_and_a_bad_line_raises_or_is_kept(tmp_path):
    f = tmp_path / "reviews.jsonl"
    f.write_text('{"review": "Te duur"}\n\n{"review": "kapot\n["nee"]\n{"review": "Prima"}\n', encoding="utf-8")
    rows = collected(open_table(f, bad_rows="collect"))
    assert [r if isinstance(r, tuple) else (r.number, r.reason[:16]) for r in rows] == [
        (1, {"review": "Te duur"}), (3, "broken JSON (Unt"), (4, "expected a JSON "), (5, {"review": "Prima"}),
    ]
    with open_table(f) as table, pytest.raises(InputError, match=r", line 3: broken JSON \(Unterminated string"):
        list(table.rows)


def test_a_json_wrapper_is_unwrapped_and_records_are_numbered(tmp_path):
    f = tmp_path / "export.json"
    f.write_text('{"count": 3, "reviews": [{"text": "Goede pasvorm"}, 7, {"text": "Te klein"}]}', encoding="utf-8")
    rows = collected(open_table(f, bad_rows="collect"))
    assert rows == [(1, {"text": "Goede pasvorm"}), BadRow(2, "expected a JSON object, found int", "7"),
                    (3, {"text": "Te klein"})]
    with open_table(f) as table, pytest.raises(InputError) as err:
        list(table.rows)
    assert str(err.value) == f"{f}, record 2: expected a JSON object, found int"


def test_whole_input_problems_raise_in_both_modes(tmp_path):
    dup = write_csv(tmp_path / "dup.csv", "text,text\na,b\n")
    empty_array = tmp_path / "e.json"
    empty_array.write_text("[]", encoding="utf-8")
    for mode in ("raise", "collect"):
        with pytest.raises(InputError, match=r"dup.csv, row 1, column 'text': the header names column 'text' twice"):
            open_table(dup, bad_rows=mode)
        with pytest.raises(InputError, match=r"not a table of records \(no JSON object in the array\)"):
            open_table(empty_array, bad_rows=mode)
    with pytest.raises(InputError, match="unknown format 'avro'"):
        open_table(dup, format="avro")
    with pytest.raises(InputError, match=r"dup.csv: not a readable .xlsx workbook \(not a zip archive"):
        open_table(dup, format="xlsx")


def test_stdin_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"^-: file not found$"):
        open_table("-")
    pipe = io.BytesIO("text;lang\nTe duur;nl\n".encode("cp1252"))
    table = open_table("-", allow_stdin=True, stdin=pipe)
    assert (table.path, table.format, collected(table)) == ("<stdin>", "csv", [(2, {"text": "Te duur", "lang": "nl"})])


def test_a_new_format_slots_into_the_registry(tmp_path, monkeypatch):
    """How .xlsx or Parquet would come in: a reader from a Source to a Table, registered by name."""
    monkeypatch.setattr("whylabel.io.table.FORMATS", dict(FORMATS))

    @register_format("pipes")
    def read_pipes(src: Source) -> Table:
        lines = src.text().read().splitlines()
        header = lines[0].split("|")
        rows = ((i, dict(zip(header, line.split("|")))) for i, line in enumerate(lines[1:], start=2))
        return Table(src.name, "pipes", src.encoding, header, rows, "row", src.fp)

    f = write_jsonl(tmp_path / "x.txt", [])
    f.write_text("text|lang\nLevering te laat|nl\n", encoding="utf-8")
    assert collected(open_table(f, format="pipes")) == [(2, {"text": "Levering te laat", "lang": "nl"})]
