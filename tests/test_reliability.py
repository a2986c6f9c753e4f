"""Issue 12, "nothing breaks, nothing leaks": devices and FIFOs, formula-safe CSV, bounded reads,
model names and checksums, full disks, damaged databases and cards, killed runs, missing folders.

Every refusal is one line on stderr, exit code 2, and the database and any earlier output are
as they were.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import sys
import threading
from pathlib import Path

import pytest

from conftest import REPO, db_snapshot, write_csv
from whylabel.store import Store
from whylabel.resources import default_model_dir

DEFAULT_MODEL = default_model_dir()


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr == f"whylabel: error: {expected}\n"


@pytest.fixture
def labeled_db(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "tickets.csv",
                  "ticket_id,message\n"
                  "T1,\"Verzendkosten van €6,95 zijn te veel\"\n"
                  "T2,I do not trust this shop with my card details\n"
                  "T3,Retourneren binnen 14 dagen is te kort\n")
    assert cli("import", f, "--db", db_path, "--lang", "nl").exit_code == 0
    with Store(db_path) as s:
        for item_id, reasons in zip((1, 2, 3), (["price"], ["trust"], ["terms"])):
            s.annotate(item_id, reasons, annotator="anna")
    return db_path


def survey(path: Path, rows: list[tuple[str, str]]) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)  # quotes a lone CR too
    w.writerow(["id", "text"])
    w.writerows(rows)
    return write_csv(path, buf.getvalue())


# ---------------------------------------------------------------------------------------------
# Finding 1: a device, a FIFO or stdout is written directly, never replaced


@pytest.mark.skipif(os.geteuid() != 0, reason="making a device node (mknod) needs root")
def test_export_to_a_null_device_writes_through_it_and_keeps_it_a_device(cli, tmp_path, labeled_db):
    """A private copy of /dev/null (same device numbers), so a regression cannot break the machine's."""
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
    r = cli("export", "-o", null, "--db", labeled_db)
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISCHR(os.stat(null).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".null.")] == []


def test_export_report_and_predict_write_into_a_fifo(cli, tmp_path, labeled_db):
    fifo = tmp_path / "pipe.csv"

    def read_all(into: list) -> None:
        with open(fifo, encoding="utf-8") as f:
            into.append(f.read())

    for args in (("export",), ("report", "--annotator", "anna")):
        os.mkfifo(fifo)
        got: list[str] = []
        reader = threading.Thread(target=read_all, args=(got,))
        reader.start()
        r = cli(*args, "-o", fifo, "--db", labeled_db)
        reader.join(timeout=30)
        assert r.exit_code == 0, r.stderr
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        rows = list(csv.DictReader(io.StringIO(got[0])))
        if args[0] == "export":
            assert [row["external_id"] for row in rows] == ["T1", "T2", "T3"]
        else:
            assert rows[0]["labeled"] == "3"
        fifo.unlink()
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=read_all, args=(got,))
    reader.start()
    f = survey(tmp_path / "in.csv", [("1", "Veel te duur"), ("2", "I do not trust them")])
    r = cli("predict", f, "-o", fifo, "--workers", "1", "-q", "--rejects", tmp_path / "rej.csv")
    reader.join(timeout=60)
    assert r.exit_code == 0, r.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert [row["id"] for row in csv.DictReader(io.StringIO(got[0]))] == ["1", "2"]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_full_device_is_one_line(cli, tmp_path, labeled_db):
    before = db_snapshot(labeled_db)
    assert_one_line_error(cli("export", "-o", "/dev/full", "--db", labeled_db),
                          "/dev/full: cannot write (no space left on device)")
    assert_one_line_error(cli("report", "-o", "/dev/full", "--db", labeled_db),
                          "/dev/full: cannot write (no space left on device)")
    f = survey(tmp_path / "in.csv", [("1", "Veel te duur")])
    assert_one_line_error(cli("predict", f, "-o", "/dev/full", "--workers", "1", "-q"),
                          "/dev/full: cannot write (no space left on device)")
    assert db_snapshot(labeled_db) == before
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_a_model_is_saved_through_the_same_writer(tmp_path):
    """save_model writes via safefile: complete files, the mode of an ordinary file, no litter."""
    from whylabel.safefile import write_file

    target = tmp_path / "m.bin"
    write_file(target, lambda p: Path(p).write_bytes(b"model bytes"))
    assert target.read_bytes() == b"model bytes"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask
    with pytest.raises(RuntimeError):
        write_file(target, lambda p: (Path(p).write_bytes(b"half"), (_ for _ in ()).throw(RuntimeError())))
    assert target.read_bytes() == b"model bytes" and sorted(os.listdir(tmp_path)) == ["m.bin"]


def test_paths_under_dev_and_symbolic_links_are_never_replaced(cli, tmp_path, labeled_db):
    from whylabel.safefile import is_special

    assert is_special("/dev/stdout") and is_special("/proc/self/fd/1") and not is_special(tmp_path / "x.csv")
    real = tmp_path / "week47.csv"
    real.write_text("old\n")
    os.chmod(real, 0o600)  # a private export stays private when it is written again
    link = tmp_path / "latest.csv"
    link.symlink_to(real.name)
    r = cli("export", "-o", link, "--db", labeled_db)
    assert r.exit_code == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.read_text(encoding="utf-8").startswith("item_id,")
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600


# ---------------------------------------------------------------------------------------------
# Finding 2: predict's CSV output quotes every cell that needs it


def predict_rows(cli, tmp_path, raw: bytes) -> list[list[str]]:
    """`whylabel predict` of a CSV given as bytes; the output read back with the csv module."""
    src = tmp_path / "in.csv"
    src.write_bytes(raw)
    r = cli("predict", src, "-o", tmp_path / "out.csv", "--workers", "1", "-q")
    assert r.exit_code == 0, r.stderr
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


def test_a_carriage_return_cell_cannot_start_a_formula_row(cli, tmp_path):
    rows = predict_rows(cli, tmp_path, b'id,text,b\n1,"\r=1+1",x\n')
    assert len(rows) == 2 and all(not row[0].startswith("=1+1") for row in rows)
    assert rows[1][:3] == ["1", "'\r=1+1", "x"]


def test_header_names_are_neutralised_and_quoted_too(cli, tmp_path):
    rows = predict_rows(cli, tmp_path, b'id,"=HYPERLINK(""http://x"")","note\rx",text\n1,a,b,Veel te duur\n')
    assert rows[0][:4] == ["id", "'=HYPERLINK(\"http://x\")", "note\rx", "text"] and len(rows) == 2


def test_cells_with_cr_lf_quotes_and_separators_round_trip_through_predict(cli, tmp_path):
    cells = [
        ("1", "Levering te laat\r=HYPERLINK(\"http://x\")"),   # CR, then a formula
        ("2", "a\rb"),                                       # a lone CR, no quote
        ("3", "Zei \"gratis\" retour, maar ik betaalde €6,95"),  # quotes and the separator
        ("4", "line one\nline two\n+31 kosten"),              # LF, then a formula character
        ("5", "Plain words, nothing odd"),
        ("6", "=SUM(A1:A9) is what they charged"),
    ]
    src = survey(tmp_path / "odd.csv", cells)
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.csv"
        r = cli("predict", src, "-o", out, "--workers", workers, "--chunk-size", "2", "-q")
        assert r.exit_code == 0, r.stderr
        with open(out, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        assert len(rows) == 1 + len(cells)
        assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row[:2])
        got = {row[0]: row[1] for row in rows[1:]}
        assert got["2"] == "a\rb" and got["3"] == cells[2][1] and got["4"] == cells[3][1]
        assert got["1"] == cells[0][1] and got["6"] == "'" + cells[5][1]


# ---------------------------------------------------------------------------------------------
# Finding 3: bounded reads of codebooks, cards and model files


def test_a_codebook_that_is_a_device_or_too_large_fails_at_once(cli, tmp_path, db_path):
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    assert_one_line_error(cli("import", f, "--db", db_path, "--codebook", "/dev/zero"),
                          "/dev/zero: not a regular file (a device or pipe); a codebook file must be a regular file")
    big = tmp_path / "big.toml"
    with open(big, "wb") as out:
        out.truncate(6_000_000)
    assert_one_line_error(cli("import", f, "--db", db_path, "--codebook", big),
                          f"{big}: codebook file is 6,000,000 bytes, more than the 5 MB allowed")
    fifo = tmp_path / "book.toml"
    os.mkfifo(fifo)
    assert_one_line_error(cli("import", f, "--db", db_path, "--codebook", fifo),
                          f"{fifo}: not a regular file (a device or pipe); a codebook file must be a regular file")
    assert not db_path.exists()


def copy_default(tmp_path: Path) -> Path:
    d = tmp_path / "models" / "mine"
    shutil.copytree(DEFAULT_MODEL, d)
    return d


def test_a_card_or_model_file_that_is_a_device_or_too_large_is_refused(cli, tmp_path):
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    d = copy_default(tmp_path)
    card = d / "card.json"
    card.unlink()
    os.symlink("/dev/zero", card)
    assert_one_line_error(cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1"),
                          f"{card}: not a regular file (a device or pipe); a model card must be a regular file")
    card.unlink()
    card.write_text(" " * 1_000_001)
    assert_one_line_error(cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1"),
                          f"{card}: model card is 1,000,001 bytes, more than the 1 MB allowed")
    shutil.copy(DEFAULT_MODEL / "card.json", card)
    model = d / "model.skops"
    with open(model, "ab") as out:
        out.truncate(200_000_001)
    assert_one_line_error(cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1"),
                          f"{model}: model file is 200 MB, more than the 200 MB allowed; "
                          "retrain with `whylabel train`")
    assert not (tmp_path / "out.csv").exists()
    model.unlink()
    os.mkfifo(model)  # nobody writes into it: refused at once, never waited on
    assert_one_line_error(cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1"),
                          f"{model}: not a regular file (a device or pipe); retrain with `whylabel train`")


# ---------------------------------------------------------------------------------------------
# Finding 4: a model name is one plain path component


@pytest.mark.parametrize("name, why", [
    ("../../evil", "contains a path separator"),
    ("/tmp/evil", "contains a path separator"),
    ("a/../../x", "contains a path separator"),
    ("a\\b", "contains a path separator"),
    (".", "is not a folder name"),
    ("..", "is not a folder name"),
    ("bad\nname", "contains a control character (a newline or NUL)"),
    ("bad\x00name", "contains a control character (a newline or NUL)"),
    ("-rf", "starts with '.' or '-'"),
    (".hidden", "starts with '.' or '-'"),
    (" anna", "starts or ends with a space"),
])
def test_train_refuses_a_model_name_that_is_not_one_plain_name(cli, tmp_path, labeled_db, name, why):
    from whylabel.errors import ModelError
    from whylabel.model import train_from_store

    from whylabel.codebook import load_codebook

    before = db_snapshot(labeled_db)
    expected = f"model name {name!r} {why}; use one plain folder name such as anna-oct"
    if "\x00" not in name:  # a NUL cannot pass through argv: the library call below covers it
        assert_one_line_error(cli("train", "--name", name, "--models-dir", tmp_path / "models",
                                  "--db", labeled_db, "--folds", "0"), expected.replace("\n", "\\n"))
    with Store(labeled_db) as s, pytest.raises(ModelError) as exc:
        train_from_store(s, load_codebook(), name=name, models_dir=tmp_path / "models", cv_folds=0)
    assert str(exc.value) == expected
    assert not (tmp_path / "models").exists() and not (tmp_path.parent / "evil").exists()
    assert db_snapshot(labeled_db) == before


def test_train_creates_no_folders_above_the_models_folder(cli, tmp_path, labeled_db):
    missing = tmp_path / "team" / "models"
    assert_one_line_error(cli("train", "--models-dir", missing, "--db", labeled_db, "--folds", "0"),
                          f"{missing}: folder {missing.parent} does not exist (whylabel creates no folders "
                          "above the models folder)")
    assert not missing.parent.exists()


def test_a_folder_name_with_spaces_or_accents_gives_a_plain_model_id():
    from whylabel.modelfile import check_model_name, model_id_for

    assert check_model_name("label-klant feedback (2)") == "label-klant feedback (2)"
    assert model_id_for("label-klant feedback (2)", "6033e12f9c") == "label-klant-feedback-2-6033e12f9c"
    assert model_id_for("enquête_q4..v2", "abc") == "enqu-te_q4.v2-abc"
    assert model_id_for("ééé", "abc") == "model-abc"


# ---------------------------------------------------------------------------------------------
# Finding 5: the model file's SHA-256 is recorded and checked


def test_the_shipped_default_card_records_its_model_checksum():
    card = json.loads((DEFAULT_MODEL / "card.json").read_text(encoding="utf-8"))
    assert card["model_sha256"] == hashlib.sha256((DEFAULT_MODEL / "model.skops").read_bytes()).hexdigest()


def test_train_records_the_checksum_in_the_card_and_the_registry(cli, tmp_path, labeled_db):
    r = cli("train", "--name", "anna-oct", "--models-dir", tmp_path / "models", "--db", labeled_db, "--folds", "0")
    assert r.exit_code == 0, r.stderr
    model = tmp_path / "models" / "anna-oct" / "model.skops"
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    assert json.loads((model.parent / "card.json").read_text(encoding="utf-8"))["model_sha256"] == digest
    with sqlite3.connect(labeled_db) as c:
        (card_json,) = c.execute("SELECT card FROM models WHERE name='anna-oct'").fetchone()
    assert json.loads(card_json)["model_sha256"] == digest


def test_a_model_file_with_changed_bytes_is_refused(cli, tmp_path):
    d = copy_default(tmp_path)
    model = d / "model.skops"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    r = cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1")
    recorded = json.loads((d / "card.json").read_text(encoding="utf-8"))["model_sha256"]
    actual = hashlib.sha256(bytes(data)).hexdigest()
    assert_one_line_error(r, f"{model}: model file changed since it was trained (SHA-256 {actual[:12]}…, "
                             f"the card says {recorded[:12]}…); re-copy the model folder as it was saved, "
                             "or retrain with `whylabel train`")
    assert not (tmp_path / "out.csv").exists()
    card = json.loads((d / "card.json").read_text(encoding="utf-8"))
    del card["model_sha256"]
    (d / "card.json").write_text(json.dumps(card), encoding="utf-8")
    assert_one_line_error(cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1"),
                          f"{d / 'card.json'}: model card has no model_sha256 checksum (made by an older "
                          "whylabel); retrain with `whylabel train`")


# ---------------------------------------------------------------------------------------------
# Finding 6: full disks, damaged databases and cards, deep codebooks: one line, never a traceback


def test_a_full_disk_while_importing_is_one_line_and_stores_nothing(cli, tmp_path, db_path, monkeypatch):
    """SQLite's own "database or disk is full" (max_page_count caps the file, as a full disk does)."""
    first = survey(tmp_path / "first.csv", [("1", "Veel te duur")])
    assert cli("import", first, "--db", db_path, "--lang", "nl").exit_code == 0
    before = db_snapshot(db_path)
    connect = Store._connect

    def capped(self):
        conn = connect(self)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        return conn

    monkeypatch.setattr(Store, "_connect", capped)
    rows = [(str(i), f"Bestelling {i}: de bezorger kwam niet en niemand nam op " * 4) for i in range(3000)]
    big = survey(tmp_path / "big.csv", rows)
    assert_one_line_error(cli("import", big, "--db", db_path, "--lang", "nl"),
                          f"{db_path}: cannot write the database: no space left on device; free some space "
                          "and run the command again (nothing of this run was saved)")
    monkeypatch.setattr(Store, "_connect", connect)
    assert db_snapshot(db_path) == before


def test_a_damaged_database_is_one_line(cli, tmp_path, labeled_db):
    with sqlite3.connect(labeled_db) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = c.execute("PRAGMA page_size").fetchone()[0]
        pages = c.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 2
    data = bytearray(labeled_db.read_bytes())
    for page in range(1, pages):  # every page but the header page: b-tree pages become garbage
        data[page * page_size:page * page_size + 64] = b"\xa5" * 64
    labeled_db.write_bytes(bytes(data))
    r = cli("export", "-o", tmp_path / "out.csv", "--db", labeled_db)
    assert_one_line_error(r, f"{labeled_db}: the database file is damaged (database disk image is malformed); "
                             "restore it from a backup, or start a new one with --db")
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.parametrize("card, why", [
    ("[]", "model card holds a JSON array, not an object"),
    ('{"threshold": "0.35"}', "model card field 'threshold' has the wrong type (string)"),
    ('{"reasons": "trust"}', "model card field 'reasons' has the wrong type (string)"),
    ('{"versions": ["1.9"]}', "model card field 'versions' has the wrong type (array)"),
    ('{"versions": {"scikit-learn": 1.9}}', "model card field 'versions' must map names to version strings"),
    ('{"model_sha256": null}', "model card field 'model_sha256' has the wrong type (null)"),
    ('{"n_items": true}', "model card field 'n_items' has the wrong type (boolean)"),
    ("[[[[" * 5000, "unreadable model card (nested too deeply)"),
    ("{\"a\": 1", "unreadable model card (Expecting ',' delimiter: line 1 column 8 (char 7))"),
])
def test_a_card_that_is_not_an_object_of_the_right_types_is_one_line(cli, tmp_path, card, why):
    d = copy_default(tmp_path)
    good = json.loads((d / "card.json").read_text(encoding="utf-8"))
    if card.startswith("{") and card.endswith("}"):
        good.update(json.loads(card))
        card = json.dumps(good)
    (d / "card.json").write_text(card, encoding="utf-8")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    r = cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1")
    assert_one_line_error(r, f"{d / 'card.json'}: {why}; retrain with `whylabel train`")
    assert not (tmp_path / "out.csv").exists()


def test_a_codebook_nested_5000_deep_is_one_line(cli, tmp_path, db_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    assert_one_line_error(cli("import", f, "--db", db_path, "--codebook", deep),
                          f"{deep}: not a codebook: its TOML is nested too deeply")
    assert not db_path.exists()


# ---------------------------------------------------------------------------------------------
# Finding 7: card values are checked; a header-only file records no import


@pytest.mark.parametrize("field, value, why", [
    ("threshold", 1e308, "model card threshold 1e+308 is not a number between 0 and 1"),
    ("threshold", -5, "model card threshold -5 is not a number between 0 and 1"),
    ("threshold", 1, "model card threshold 1 is not a number between 0 and 1"),
    ("threshold", float("nan"), "model card threshold nan is not a number between 0 and 1"),
    ("model_id", "../../etc/x", "model card model_id '../../etc/x' is not a plain id (letters, digits, '-', '_', '.')"),
    ("model_id", "default\nfake", "model card model_id 'default\\nfake' is not a plain id (letters, digits, '-', '_', '.')"),
    ("model_id", "a..b", "model card model_id 'a..b' is not a plain id (letters, digits, '-', '_', '.')"),
])
def test_card_values_no_trained_model_has_are_refused(cli, tmp_path, field, value, why):
    d = copy_default(tmp_path)
    card = json.loads((d / "card.json").read_text(encoding="utf-8"))
    card[field] = value
    (d / "card.json").write_text(json.dumps(card), encoding="utf-8")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    r = cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1")
    assert_one_line_error(r, f"{d / 'card.json'}: {why.replace(chr(10), '')}; retrain with `whylabel train`")


def test_a_reordered_reasons_list_in_the_card_is_refused(cli, tmp_path):
    d = copy_default(tmp_path)
    card = json.loads((d / "card.json").read_text(encoding="utf-8"))
    card["reasons"] = ["fear", "trust", "uncertainty", "price", "features", "terms"]
    (d / "card.json").write_text(json.dumps(card), encoding="utf-8")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    r = cli("predict", f, "-o", "out.csv", "--model", d, "-q", "--workers", "1")
    assert_one_line_error(r, f"{d / 'card.json'}: model card reasons (fear, trust, uncertainty, price, features, "
                             "terms) differ from the codebook's (trust, fear, uncertainty, price, features, terms) "
                             "or their order; retrain with `whylabel train` or use the matching --codebook")


def test_a_header_only_file_records_no_import(cli, tmp_path, labeled_db):
    before = db_snapshot(labeled_db)
    f = write_csv(tmp_path / "empty_week.csv", "id,text\n")
    r = cli("import", f, "--db", labeled_db, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["rows_read"] == 0
    assert db_snapshot(labeled_db) == before


# ---------------------------------------------------------------------------------------------
# Finding 9: no folder is created for an output


def test_an_output_in_a_missing_folder_is_refused_and_no_folder_appears(cli, tmp_path, labeled_db):
    missing = tmp_path / "nonexistent" / "dir"
    before = db_snapshot(labeled_db)
    for args in (("export",), ("report",)):
        assert_one_line_error(cli(*args, "-o", missing / "x.csv", "--db", labeled_db),
                              f"{missing / 'x.csv'}: folder {missing} does not exist (whylabel creates no folders)")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    assert_one_line_error(cli("predict", f, "-o", missing / "x.csv", "-q", "--workers", "1"),
                          f"{missing / 'x.csv'}: folder {missing} does not exist (whylabel creates no folders)")
    assert_one_line_error(cli("predict", f, "-o", "ok.csv", "--rejects", missing / "r.csv", "-q", "--workers", "1"),
                          f"{missing / 'r.csv'}: folder {missing} does not exist (whylabel creates no folders)")
    assert not (tmp_path / "nonexistent").exists() and not (tmp_path / "ok.csv").exists()
    assert db_snapshot(labeled_db) == before


# ---------------------------------------------------------------------------------------------
# Finding 10: accurate one-line messages


@pytest.fixture
def immutable(tmp_path):
    """chattr +i: read-only even for root (a read-only mount without mounting anything)."""
    import subprocess

    made: list[Path] = []

    def make(path: Path) -> Path:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", path], capture_output=True).returncode:
            pytest.skip("chattr +i is not available on this file system")
        made.append(path)
        return path

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", path], check=True)


def test_a_database_in_a_read_only_folder_says_so(cli, tmp_path, immutable):
    folder = tmp_path / "ro"
    folder.mkdir()
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    immutable(folder)
    assert_one_line_error(cli("import", f, "--db", folder / "new.db", "--lang", "nl"),
                          f"{folder / 'new.db'}: cannot create the database ({folder} is read-only); "
                          "choose another file with --db")


def test_an_existing_database_in_a_read_only_folder_says_so(cli, tmp_path, immutable):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "project.db"
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    assert cli("import", f, "--db", db, "--lang", "nl").exit_code == 0
    with sqlite3.connect(db) as c:  # leave no -wal/-shm behind: a copied-in project file
        c.execute("PRAGMA journal_mode=DELETE")
    immutable(db)
    before = db.read_bytes()
    g = survey(tmp_path / "b.csv", [("2", "I do not trust them")])
    r = cli("import", g, "--db", db, "--lang", "en")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"whylabel: error: {db}: cannot write the database (") and "read-only" in r.stderr
    assert db.read_bytes() == before


def test_a_folder_where_a_file_belongs_is_one_line(cli, tmp_path, labeled_db):
    folder = tmp_path / "afolder"
    folder.mkdir()
    assert_one_line_error(cli("import", folder, "--db", labeled_db), f"{folder}: is a directory, not a file")
    assert_one_line_error(cli("predict", folder, "-o", "x.csv", "-q"), f"{folder}: is a directory, not a file")
    assert_one_line_error(cli("export", "-o", folder, "--db", labeled_db), f"{folder}: is a directory; give a file name")
    f = survey(tmp_path / "a.csv", [("1", "Veel te duur")])
    assert_one_line_error(cli("import", f, "--db", labeled_db, "--codebook", folder),
                          f"{folder}: is a directory, not a codebook file")
    assert_one_line_error(cli("import", f, "--db", folder), f"{folder}: is a directory, not a database file")


def test_a_header_with_line_breaks_gives_one_line(cli, tmp_path, db_path):
    f = write_csv(tmp_path / "odd.jsonl", '{"klant\\nnummer": 1, "datum\\r\\nvan bestelling": "2026-10-12"}\n')
    assert_one_line_error(cli("import", f, "--db", db_path),
                          f"{f}: no text column found (columns: klant\\nnummer, datum\\r\\nvan bestelling); "
                          "name it with --text-column")
    g = write_csv(tmp_path / "odd.csv", '"klant\nnummer","datum\r\nvan bestelling"\n1,2026-10-12\n')
    r = cli("import", g, "--db", db_path)
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert db_snapshot(db_path)["items"] == [] and db_snapshot(db_path)["imports"] == []


# ---------------------------------------------------------------------------------------------
# Finding 8: a killed predict leaves no workers and no partial files behind


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc: no extra dependency)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_predict_leaves_no_workers_and_the_next_run_no_partial_files(tmp_path):
    import signal
    import subprocess
    import time

    texts = ["Veel te duur en de verzendkosten zijn belachelijk", "I am not sure which size to pick",
             "Is this a scam? They never refunded me", "Retour was onduidelijk en duurde lang"]
    big = survey(tmp_path / "big.csv", [(str(i), f"{texts[i % 4]} ({i})") for i in range(60_000)])
    cmd = [sys.executable, "-m", "whylabel", "predict", str(big), "-o", "out.csv", "--workers", "2",
           "--chunk-size", "200", "-q"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 or not any(p.name.endswith(".part") for p in tmp_path.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            workers = children_of(proc.pid)
            time.sleep(0.05)
        time.sleep(0.5)  # mid-run: chunks in flight
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as an OOM killer would
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while any(alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [w for w in workers if alive(w)] == []
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    left = [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]
    assert left and all(name.startswith((".out.csv.", ".out.rejects.csv.")) for name in left)
    assert not (tmp_path / "out.csv").exists()
    small = survey(tmp_path / "small.csv", [("1", "Veel te duur"), ("2", "Geen klachten")])
    r = subprocess.run([sys.executable, "-m", "whylabel", "predict", str(small), "-o", "out.csv", "--workers", "1",
                        "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        assert [row["id"] for row in csv.DictReader(f)] == ["1", "2"]


def test_partial_files_of_a_live_run_or_another_output_are_kept(tmp_path):
    import time

    from whylabel.safefile import remove_stale_parts

    target = tmp_path / "out.csv"
    mine = tmp_path / f".out.csv.{os.getpid()}.abc.part"           # this (live) process
    dead = tmp_path / ".out.csv.999999999.abc.part"                 # no such process
    old = tmp_path / ".out.csv.oldname.part"                         # an older whylabel's name, a day old
    other = tmp_path / ".other.csv.999999999.abc.part"              # another output
    for p in (mine, dead, old, other):
        p.write_text("partial")
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    assert remove_stale_parts(target) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, other.name])


def test_a_file_that_cannot_grow_mid_run_is_one_line_and_leaves_no_file(tmp_path, db_path):
    """RLIMIT_FSIZE makes the output file's writes fail part-way, as a full disk does (EFBIG
    instead of ENOSPC: the same path through the writer)."""
    import resource
    import subprocess

    rows = [(str(i), f"Bestelling {i} kwam twee weken te laat en niemand reageerde op mijn mails") for i in range(3000)]
    src = survey(tmp_path / "big.csv", rows)
    whylabel = [sys.executable, "-m", "whylabel"]
    assert subprocess.run([*whylabel, "import", src, "--db", db_path, "--lang", "nl"], cwd=tmp_path,
                          capture_output=True).returncode == 0
    with Store(db_path) as s:
        for item_id in range(1, 3001):
            s.annotate(item_id, ["terms"], annotator="anna")
    before = db_snapshot(db_path)

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (96_000, 96_000))

    for args in (["export", "-o", "out.csv", "--db", str(db_path)],
                 ["predict", str(src), "-o", "out.csv", "--workers", "1", "-q"]):
        r = subprocess.run([*whylabel, *args], cwd=tmp_path, capture_output=True, text=True, preexec_fn=small_files,
                           timeout=300)
        assert (r.returncode, r.stderr) == (2, "whylabel: error: out.csv: cannot write (file too large)\n")
        assert sorted(p.name for p in tmp_path.iterdir() if "out" in p.name) == []
    assert db_snapshot(db_path) == before
