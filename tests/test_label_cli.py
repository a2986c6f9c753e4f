"""`whylabel label` refuses what it cannot open with one line, before any UI starts."""

from __future__ import annotations

from conftest import db_snapshot, write_csv


def one_line(result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr.removeprefix("whylabel: error: ").rstrip("\n")


def test_missing_and_empty_databases(cli, tmp_path):
    missing = tmp_path / "nope.db"
    assert one_line(cli("label", "--db", missing)) == (
        f"{missing}: database not found (run `whylabel import FILE --db {missing}` first, or `whylabel demo`)")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    from whylabel.store import Store

    Store(empty).close()
    assert one_line(cli("label", "--db", empty)) == (
        f"{empty}: holds no feedback yet (run `whylabel import FILE --db {empty}` first)")


def test_unknown_breakpoint_or_source_and_no_terminal(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "reviews.csv", "text,breakpoint\nTe duur,checkout\nRetour kost geld,returns\n")
    assert cli("import", f, "--db", db_path).exit_code == 0
    before = db_snapshot(db_path)
    assert one_line(cli("label", "--db", db_path, "--breakpoint", "chekout")) == (
        "unknown breakpoint 'chekout' (known: checkout, returns)")
    assert one_line(cli("label", "--db", db_path, "--source", "survey")) == "unknown source 'survey' (known: review)"
    # CliRunner gives no terminal: the UI refuses instead of drawing into a pipe.
    assert one_line(cli("label", "--db", db_path)) == (
        "whylabel label needs an interactive terminal (stdin and stdout must be a TTY)")
    assert db_snapshot(db_path) == before
