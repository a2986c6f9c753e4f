"""Parquet in (import, predict) and out (predict, export) with the local engine, and the [dask] extra.

The model is the shipped default in its words-only mode (`--fast`): real labels, a second each.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow", reason="the [dask] extra (pyarrow) is not installed")
pq = pytest.importorskip("pyarrow.parquet")

from conftest import db_snapshot, write_csv  # noqa: E402
from whylabel.batch import predict  # noqa: E402
from whylabel.store import Store  # noqa: E402

REASONS = ("trust", "fear", "uncertainty", "price", "features", "terms")
ADDED = ["reasons", "driver", *(f"p_{r}" for r in REASONS), "confidence", "needs_review", "evidence"]

# (response id, answer, language, stars): a week of checkout feedback, Dutch and English.
FEEDBACK = [
    ("NPS-1001", "De verzendkosten van €6,95 zijn echt te hoog voor zo'n kleine bestelling", "nl", 2),
    ("NPS-1002", "I don't trust this shop: no address, no phone number, nothing", "en", 1),
    ("NPS-1003", "Ik twijfel welke maat ik moet nemen, de maattabel klopt niet", "nl", 3),
    ("NPS-1004", "Checkout was quick and the parcel arrived the next day, great!", "en", 5),
    ("NPS-1005", "Retourneren binnen 14 dagen en zelf de retourzending betalen? Nee dank je.", "nl", 2),
    ("NPS-1006", "=HYPERLINK(\"http://x\") the discount code did not work, so way too expensive", "en", 1),
    ("NPS-1007", "Bang dat mijn creditcardgegevens worden misbruikt,\nik heb de bestelling afgebroken", "nl", 1),
    ("NPS-1008", "The zipper broke after two days and the fabric feels cheap", "en", 2),
    ("NPS-1009", "Levering duurde een week, niemand liet iets weten", "nl", 2),
    ("NPS-1010", "Hidden fees at the last step of checkout, I left", "en", 1),
]
HEADER = ["response_id", "antwoord", "taal", "sterren"]


def feedback_csv(path: Path, rows=FEEDBACK) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(rows)
    return path


def feedback_parquet(path: Path, rows=FEEDBACK, *, stars_type=None, **write) -> Path:
    table = pa.table({
        "response_id": [r[0] for r in rows],
        "antwoord": [r[1] for r in rows],
        "taal": [r[2] for r in rows],
        "sterren": pa.array([r[3] for r in rows], stars_type or pa.int16()),
    })
    pq.write_table(table, path, **write)
    return path


def read_csv(path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def run_predict(src, out, **kw):
    kw.setdefault("workers", 1)
    return predict(str(src), _codebook(), out=str(out), fast=True, **kw)


def _codebook():
    from whylabel.codebook import load_codebook

    return load_codebook()


def error_of(r) -> str:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    return r.stderr


# ---------------------------------------------------------------------------------------------
# predict: Parquet in, Parquet out


def test_parquet_input_gives_the_labels_and_the_file_of_the_same_csv(tmp_path):
    """The same answers as CSV and as Parquet: the labeled CSV outputs are the same bytes."""
    as_csv = run_predict(feedback_csv(tmp_path / "week.csv"), tmp_path / "from_csv.csv")
    as_parquet = run_predict(feedback_parquet(tmp_path / "week.parquet"), tmp_path / "from_parquet.csv")
    assert (tmp_path / "from_parquet.csv").read_bytes() == (tmp_path / "from_csv.csv").read_bytes()
    assert as_parquet.reasons == as_csv.reasons and as_parquet.rows_read == 10 and as_parquet.format == "parquet"
    rows = read_csv(tmp_path / "from_parquet.csv")
    assert list(rows[0]) == HEADER + ADDED
    assert rows[0]["reasons"] == "price" and rows[1]["reasons"].startswith("trust")
    assert rows[5]["antwoord"].startswith("'=HYPERLINK")  # a CSV output neutralises formulas, whatever the input


def test_parquet_output_holds_the_values_of_the_csv_output_typed(tmp_path):
    src = feedback_csv(tmp_path / "week.csv")
    run_predict(src, tmp_path / "labeled.csv")
    summary = run_predict(src, tmp_path / "labeled.parquet")
    assert summary.output == str(tmp_path / "labeled.parquet")
    table = pq.read_table(tmp_path / "labeled.parquet")
    types = dict(zip(table.schema.names, table.schema.types))
    assert table.schema.names == HEADER + ADDED
    assert all(types[c] == pa.string() for c in HEADER)  # a CSV input's cells are text
    assert [types[c] for c in ADDED] == [pa.string(), pa.string(), *[pa.float64()] * 7, pa.int8(), pa.string()]
    got, want = table.to_pylist(), read_csv(tmp_path / "labeled.csv")
    assert len(got) == len(want) == 10
    for g, w in zip(got, want):  # same rows, same order
        assert g["response_id"] == w["response_id"] and g["sterren"] == w["sterren"]
        assert g["antwoord"] == w["antwoord"].removeprefix("'")  # Parquet cells are never run: not neutralised
        assert (g["reasons"], g["driver"], g["evidence"]) == (w["reasons"], w["driver"], w["evidence"])
        for c in ADDED[2:9]:
            assert g[c] == float(w[c]) and 0 <= g[c] <= 1
        assert g["needs_review"] == int(w["needs_review"])
    assert (tmp_path / "labeled.rejects.csv").read_text("utf-8") == "row,reason,raw\n"


def test_parquet_in_and_out_keeps_the_input_column_types_and_numbers_bad_rows(tmp_path):
    src = tmp_path / "tickets.parquet"
    stamps = [dt.datetime(2026, 11, 2, 9, 15, tzinfo=dt.timezone.utc) + dt.timedelta(hours=i) for i in range(4)]
    pq.write_table(pa.table({
        "ticket_id": pa.array([501, 502, 503, 504], pa.int64()),
        "ontvangen": pa.array(stamps, pa.timestamp("ms", tz="UTC")),
        "dag": pa.array([s.date() for s in stamps], pa.date32()),
        "bedrag": pa.array([decimal.Decimal("12.50"), None, decimal.Decimal("0.99"), decimal.Decimal("7.00")],
                           pa.decimal128(8, 2)),
        "kanaal": pa.array(["chat", "mail", "chat", "chat"]).dictionary_encode(),
        "labels": pa.array([["bezorging"], [], None, ["prijs", "retour"]], pa.list_(pa.string())),
        "vip": [True, False, None, True],
        "confidence": [0.1, 0.2, 0.3, 0.4],  # named like an added column: written as input_confidence
        "bericht": ["Waar blijft mijn pakket? Al vijf dagen niets gehoord", "Refund still not received after 3 weeks",
                    None, "Te duur, bij de concurrent betaal ik minder"],
    }), src)
    out = tmp_path / "labeled.parquet"
    summary = run_predict(src, out, chunk_size=2)
    assert (summary.rows_read, summary.rejected, summary.rejected_why) == (4, 1, {"no text": 1})
    rejects = read_csv(tmp_path / "labeled.rejects.csv")
    assert [(r["row"], r["reason"]) for r in rejects] == [("3", "no text")]  # the 3rd data row
    assert rejects[0]["raw"].startswith("503,2026-11-02T11:15:00+00:00,2026-11-02,0.99,chat,,,0.3,")
    written = pq.read_table(out)
    source = pq.read_table(src)
    assert written.schema.names[:9] == [*source.schema.names[:7], "input_confidence", "bericht"]
    assert written.schema.types[:9] == source.schema.types  # every input column keeps its Arrow type
    kept = source.filter(pa.array([True, True, False, True]))
    assert written.select(list(range(9))).rename_columns(source.schema.names).equals(kept)


def test_one_and_two_workers_write_the_same_parquet(tmp_path):
    rows = [(f"R{i}", f"{FEEDBACK[i % 10][1]} (#{i})", FEEDBACK[i % 10][2], i % 5 + 1) for i in range(120)]
    src = feedback_parquet(tmp_path / "week.parquet", rows, stars_type=pa.int16(), row_group_size=50)
    run_predict(src, tmp_path / "one.parquet", workers=1, chunk_size=16)
    run_predict(src, tmp_path / "two.parquet", workers=2, chunk_size=16)
    one, two = pq.read_table(tmp_path / "one.parquet"), pq.read_table(tmp_path / "two.parquet")
    assert one.num_rows == 120 and one.equals(two)
    assert one.column("response_id").to_pylist() == [f"R{i}" for i in range(120)]  # input order
    assert one.schema.field("sterren").type == pa.int16()


def test_column_mapping_works_on_parquet_as_on_csv(cli, tmp_path):
    src = tmp_path / "reviews.parquet"
    pq.write_table(pa.table({"body": [r[1] for r in FEEDBACK], "review_language": [r[2] for r in FEEDBACK]}), src)
    r = cli("predict", src, "-o", tmp_path / "out.parquet", "--text-column", "body", "--lang-column",
            "review_language", "--workers", "1", "--fast", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["columns"] == {"text": "body", "lang": "review_language"} and summary["format"] == "parquet"
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 10
    r = cli("predict", src, "-o", tmp_path / "out2.parquet", "--text-column", "tekst", "--workers", "1")
    assert error_of(r) == (f"whylabel: error: {src}: no column named 'tekst' (--text-column); "
                           "columns are: body, review_language\n")


def test_parquet_output_to_stdout_and_by_format_name(cli, tmp_path):
    src = feedback_csv(tmp_path / "week.csv")
    r = cli("predict", src, "-o", "-", "--output-format", "parquet", "--workers", "1", "--fast", "--quiet")
    assert r.exit_code == 0, r.stderr
    table = pq.read_table(io.BytesIO(r.stdout_bytes))
    assert table.num_rows == 10 and table.schema.names == HEADER + ADDED
    # A Parquet file under another name is found by its signature; --format parquet says so outright.
    (tmp_path / "export.dat").write_bytes((tmp_path / "week.csv").read_bytes())
    feedback_parquet(tmp_path / "export.bin")
    for args in ((tmp_path / "export.bin",), (tmp_path / "export.bin", "--format", "parquet")):
        r = cli("predict", *args, "-o", tmp_path / "o.csv", "--workers", "1", "--fast", "--json")
        assert r.exit_code == 0, r.stderr
        assert json.loads(r.stdout)["format"] == "parquet"


def test_a_parquet_file_on_stdin_is_refused_with_what_to_do(tmp_path):
    from click.testing import CliRunner

    from whylabel.cli import main

    data = feedback_parquet(tmp_path / "week.parquet").read_bytes()
    r = CliRunner().invoke(main, ["predict", "-", "-o", str(tmp_path / "out.csv"), "--workers", "1"], input=data)
    assert error_of(r) == "whylabel: error: <stdin>: a Parquet file cannot be read from stdin: give its file name\n"
    assert not (tmp_path / "out.csv").exists()


# ---------------------------------------------------------------------------------------------
# import and export


def test_import_parquet_then_export_parquet_and_csv(cli, tmp_path, db_path):
    src = tmp_path / "enquete.parquet"
    pq.write_table(pa.table({
        "id": pa.array([7001, 7002, 7003], pa.int32()),
        "datum": pa.array([dt.datetime(2026, 10, 20, 14, 30), dt.datetime(2026, 10, 21), None], pa.timestamp("us")),
        "opmerking": ["Véél te duur, bij de concurrent betaal ik €10 minder", "I don't trust the payment page",
                      "Retour kost €6,95; dat is belachelijk"],
        "cijfer": pa.array([3.0, 1.5, None]),
        "bedrag": pa.array([decimal.Decimal("59.95"), decimal.Decimal("12.00"), None], pa.decimal128(6, 2)),
        "kanaal": ["enquête", "review", "chat"],
    }), src)
    r = cli("import", src, "--db", db_path, "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["format"], summary["rows_read"], summary["added"]) == ("parquet", 3, 3)
    assert summary["columns"] == {"text": "opmerking", "id": "id", "source": "kanaal", "rating": "cijfer",
                                  "created_at": "datum"}
    with Store(db_path) as s:
        got = s.db.execute("SELECT external_id, source, rating, created_at, meta FROM items ORDER BY id").fetchall()
        assert [g[:4] for g in got] == [("7001", "survey", 3.0, "2026-10-20T14:30:00"),
                                        ("7002", "review", 1.5, "2026-10-21T00:00:00"), ("7003", "ticket", None, None)]
        assert [json.loads(g[4]) if g[4] else None for g in got] == [{"bedrag": "59.95"}, {"bedrag": "12.00"}, None]
        s.annotate(1, ["price"], annotator="anna")
        s.annotate(2, ["trust", "uncertainty"], annotator="anna", note="=1+1")
        s.annotate(3, [], annotator="anna")
    assert cli("export", "-o", tmp_path / "labeled.csv", "--db", db_path).exit_code == 0
    r = cli("export", "-o", tmp_path / "labeled.parquet", "--db", db_path)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == f"{tmp_path / 'labeled.parquet'}: 3 labeled items\n"
    table = pq.read_table(tmp_path / "labeled.parquet")
    want = read_csv(tmp_path / "labeled.csv")
    assert table.schema.names == list(want[0])
    types = dict(zip(table.schema.names, table.schema.types))
    assert (types["item_id"], types["rating"], types["price"], types["suggestion_confidence"], types["text"]) == (
        pa.int64(), pa.float64(), pa.int8(), pa.float64(), pa.string())
    got = table.to_pylist()
    assert [g["item_id"] for g in got] == [int(w["item_id"]) for w in want] == [1, 2, 3]
    assert [g["reasons"] for g in got] == [w["reasons"] for w in want] == ["price", "trust;uncertainty", "none"]
    assert [g["rating"] for g in got] == [3.0, 1.5, None]
    assert [(g["trust"], g["price"]) for g in got] == [(0, 1), (1, 0), (0, 0)]
    assert got[1]["note"] == "=1+1" and want[1]["note"] == "'=1+1"  # only the CSV neutralises
    assert [g["text"] for g in got] == [w["text"] for w in want]


def test_empty_parquet_behaves_like_an_empty_csv(cli, tmp_path):
    empty = pa.table({c: pa.array([], pa.string()) for c in HEADER})
    pq.write_table(empty, tmp_path / "leeg.parquet")
    write_csv(tmp_path / "leeg.csv", ",".join(HEADER) + "\n")
    results = {}
    for ext in ("csv", "parquet"):
        r = cli("import", tmp_path / f"leeg.{ext}", "--db", tmp_path / f"{ext}.db", "--json")
        assert r.exit_code == 0, r.stderr
        summary = json.loads(r.stdout)
        results[ext] = {k: v for k, v in summary.items() if k not in ("file", "format", "db")}
        s = run_predict(tmp_path / f"leeg.{ext}", tmp_path / f"out_{ext}.parquet")
        assert (s.rows_read, s.labeled, s.rejected) == (0, 0, 0)
        out = pq.read_table(tmp_path / f"out_{ext}.parquet")
        assert out.num_rows == 0 and out.schema.names == HEADER + ADDED
    assert results["parquet"] == results["csv"]
    assert results["csv"]["rows_read"] == 0 and results["csv"]["added"] == 0


# ---------------------------------------------------------------------------------------------
# Damaged files: one line naming the file, exit 2, nothing stored or written


def _truncated(p: Path) -> None:
    data = feedback_parquet(p).read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _random_bytes(p: Path) -> None:
    p.write_bytes(bytes((i * 7919 + 13) % 251 for i in range(3000)))


def _broken_footer(p: Path) -> None:
    data = bytearray(feedback_parquet(p).read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[-8 - footer: -8 - footer + 40] = b"\x07" * 40  # PAR1 at both ends, garbage metadata between
    p.write_bytes(bytes(data))


CUT = "not a readable Parquet file (no Parquet footer at its end: the file is cut short, or it is not Parquet)"


@pytest.mark.parametrize("make, message", [
    (_truncated, CUT),
    (_random_bytes, CUT),
    (_broken_footer, "not a readable Parquet file (its footer is damaged: the file was changed or cut after it "
                     "was written)"),
])
def test_a_damaged_parquet_file_is_one_line_and_changes_nothing(cli, tmp_path, db_path, make, message):
    assert cli("import", feedback_csv(tmp_path / "ok.csv"), "--db", db_path).exit_code == 0
    before = db_snapshot(db_path)
    bad = tmp_path / "kapot.parquet"
    make(bad)
    assert error_of(cli("import", bad, "--db", db_path)) == f"whylabel: error: {bad}: {message}\n"
    assert db_snapshot(db_path) == before
    r = cli("predict", bad, "-o", tmp_path / "out.parquet", "--workers", "1")
    assert error_of(r) == f"whylabel: error: {bad}: {message}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kapot.parquet", "ok.csv", db_path.name]


def test_a_damaged_row_group_names_its_rows_and_leaves_no_output(cli, tmp_path):
    rows = [(f"R{i}", f"Levering {i} was te laat en de kosten te hoog", "nl", 2) for i in range(300)]
    src = feedback_parquet(tmp_path / "groot.parquet", rows, row_group_size=100, compression="snappy")
    data = bytearray(src.read_bytes())
    column = pq.ParquetFile(src).metadata.row_group(1).column(1)  # the answers of rows 101-200
    start = column.data_page_offset
    data[start: start + 64] = bytes(range(200, 255)) + bytes(9)
    src.write_bytes(bytes(data))
    r = cli("predict", src, "-o", tmp_path / "out.parquet", "--workers", "1", "--fast", "--chunk-size", "50")
    stderr = error_of(r)
    assert stderr.startswith(f"whylabel: error: {src}, row 101: damaged Parquet data in row group 2 of 3 "
                             "(rows 101-200): ")
    assert stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groot.parquet"]


def test_a_parquet_file_without_a_text_column_lists_its_columns(cli, tmp_path, db_path):
    src = tmp_path / "cijfers.parquet"
    pq.write_table(pa.table({"klant_id": [1, 2], "bedrag": [9.95, 12.5], "datum": ["2026-11-01", "2026-11-02"]}), src)
    expected = (f"whylabel: error: {src}: no text column found (columns: klant_id, bedrag, datum); "
                "name it with --text-column\n")
    assert error_of(cli("import", src, "--db", db_path)) == expected
    assert error_of(cli("predict", src, "-o", tmp_path / "o.parquet", "--workers", "1")) == expected
    # A typed column that is not text, named as the text: each row is refused, as JSON's numbers are.
    s = run_predict(src, tmp_path / "o.parquet", columns={"text": "bedrag"}, strict=False)
    assert (s.rows_read, s.rejected, s.rejected_why) == (2, 2, {"text not a string": 2})


def test_a_failed_or_interrupted_parquet_write_leaves_no_file(tmp_path):
    from whylabel.export import open_writer

    for stop in (RuntimeError("stopped halfway"), KeyboardInterrupt()):
        out = tmp_path / "half.parquet"
        with pytest.raises(type(stop)), open_writer(out, ["text", "n"], format="parquet", types={"n": "int64"}) as w:
            for i in range(70_000):  # past the first row group (65,536 rows): some of it is on disk already
                w.write_values([f"rij {i}", i])
            raise stop
        assert list(tmp_path.iterdir()) == []


def test_a_value_that_does_not_fit_its_column_type_is_one_line(tmp_path):
    from whylabel.errors import WhylabelError
    from whylabel.export import open_writer

    out = tmp_path / "typed.parquet"
    with pytest.raises(WhylabelError) as caught, open_writer(out, ["n"], format="parquet", types={"n": "int64"}) as w:
        w.write_values(["zeven"])
    assert str(caught.value).startswith(f"{out}: column 'n' cannot be written as int64 (")
    assert "\n" not in str(caught.value) and list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Without the extra


@pytest.fixture
def block_pyarrow(monkeypatch):
    """Call it to make pyarrow as if it were not installed (its import raises ImportError) for the
    rest of the test: the test writes its Parquet files first."""
    def block() -> None:
        for name in [n for n in sys.modules if n == "pyarrow" or n.startswith("pyarrow.")]:
            monkeypatch.delitem(sys.modules, name)
        monkeypatch.setitem(sys.modules, "pyarrow", None)
        monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)

    return block


def test_without_pyarrow_every_parquet_path_says_what_to_install(cli, tmp_path, db_path, block_pyarrow):
    src = feedback_parquet(tmp_path / "week.parquet")
    csv_src = feedback_csv(tmp_path / "week.csv")
    assert cli("import", csv_src, "--db", db_path).exit_code == 0
    with Store(db_path) as s:
        s.annotate(1, ["price"], annotator="anna")
    before = db_snapshot(db_path)
    block_pyarrow()
    hint = 'Parquet needs pyarrow: pip install "whylabel[dask]"'
    assert error_of(cli("import", src, "--db", db_path)) == f"whylabel: error: {src}: {hint}\n"
    out = tmp_path / "labeled.parquet"
    for args, target in (((src, "-o", tmp_path / "labeled.csv"), src), ((csv_src, "-o", out), out),
                         ((csv_src, "-o", "-", "--output-format", "parquet"), "-")):
        assert error_of(cli("predict", *args, "--workers", "1")) == f"whylabel: error: {target}: {hint}\n"
    assert error_of(cli("export", "-o", out, "--db", db_path)) == f"whylabel: error: {out}: {hint}\n"
    assert cli("export", "-o", tmp_path / "labeled.csv", "--db", db_path).exit_code == 0  # CSV needs no extra
    assert db_snapshot(db_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["week.parquet", "week.csv", db_path.name,
                                                                 "labeled.csv"])


def test_require_names_the_feature_the_package_and_the_extra(block_pyarrow, monkeypatch):
    from whylabel.extras import MissingExtra, require

    block_pyarrow()
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtra) as caught:
        require("distributed", what="--engine dask")
    assert str(caught.value) == '--engine dask needs dask[distributed]: pip install "whylabel[dask]"'
    with pytest.raises(MissingExtra) as caught:
        require("pyarrow.parquet", what="Parquet", subject="x.parquet")
    assert str(caught.value) == 'x.parquet: Parquet needs pyarrow: pip install "whylabel[dask]"'
    assert require("json", what="JSON").dumps([1]) == "[1]"


def test_without_pyarrow_in_a_fresh_process_the_cli_answers_in_one_line(tmp_path):
    """A process where importing pyarrow fails, as on an install without the extra."""
    src = feedback_parquet(tmp_path / "week.parquet")
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class _NoPyarrow:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'pyarrow' or name.startswith('pyarrow.'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, _NoPyarrow())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "whylabel", "import", str(src), "--db", str(tmp_path / "w.db")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr == f'whylabel: error: {src}: Parquet needs pyarrow: pip install "whylabel[dask]"\n'


def test_row_groups_read_on_their_own_are_numbered_as_in_the_whole_file(tmp_path):
    """What a partition of a distributed run reads: its row groups, with the whole file's row numbers."""
    from whylabel.io import open_table
    from whylabel.io.parquet import arrow_schema, open_parquet, record_batch, row_group_sizes

    rows = [(f"R{i}", f"{FEEDBACK[i % 10][1]} (#{i})", FEEDBACK[i % 10][2], i % 5 + 1) for i in range(25)]
    src = feedback_parquet(tmp_path / "week.parquet", rows, row_group_size=10)
    assert row_group_sizes(src) == [10, 10, 5]
    with open_table(src) as whole:
        everything = list(whole.rows)
    parts = []
    for groups in ([0], [1, 2]):
        with open_parquet(src, row_groups=groups) as part:
            parts += list(part.rows)
    assert parts == everything and [n for n, _ in everything] == list(range(1, 26))
    with open_parquet(src, row_groups=[2]) as last:
        assert [n for n, _ in last.rows] == [21, 22, 23, 24, 25]
    # The same schema and conversions for every part that a run writes.
    schema = arrow_schema(HEADER, {"sterren": pa.int16()})
    batch = record_batch(schema, [list(r.values()) for _, r in parts])
    assert pa.Table.from_batches([batch]).equals(pq.read_table(src))


def test_a_bad_row_is_named_by_its_data_row(cli, tmp_path, db_path, codebook):
    src = tmp_path / "stappen.parquet"
    pq.write_table(pa.table({
        "opmerking": ["Te duur", "Geen vertrouwen in de betaling", "Waar blijft mijn pakket?"],
        "stage": ["purchase", "purchase", "onboarding"],
        "score": pa.array([2, None, 1], pa.int8()),
    }), src)
    r = cli("import", src, "--db", db_path)
    assert error_of(r) == (f"whylabel: error: {src}, row 3, column 'stage': unknown stage 'onboarding' "
                           f"(expected one of: {', '.join(codebook.stages)})\n")
    with Store(db_path) as s:
        assert s.count_items() == 0
    pq.write_table(pa.table({"opmerking": ["Te duur", None, "Retour te ingewikkeld"]}), src)
    r = cli("predict", src, "-o", tmp_path / "out.parquet", "--strict", "--workers", "1", "--fast")
    assert error_of(r) == f"whylabel: error: {src}, row 2: no text\n"
    assert not (tmp_path / "out.parquet").exists()


def test_row_groups_are_bounded_by_rows_and_by_bytes(tmp_path):
    from whylabel.io.parquet import ParquetWriter

    def groups(rows, chunk, **limits):
        """Row group sizes of `rows` written as predict writes them: `chunk` rows a call."""
        path = tmp_path / "groups.parquet"
        with open(path, "wb") as f:
            writer = ParquetWriter(f, ["id", "text"], types={"id": "int64"}, **limits)
            for start in range(0, len(rows), chunk):
                part = range(start, min(start + chunk, len(rows)))
                writer.write_rows([[i] for i in part], [[rows[i]] for i in part])
            writer.close()
        meta = pq.ParquetFile(path).metadata
        assert pq.read_table(path).column("text").to_pylist() == rows
        return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]

    short = [f"Kort antwoord {i}" for i in range(10_000)]
    assert groups(short, 10_000, rows_per_group=4096) == [4096, 4096, 1808]  # converted 2,048 rows at a time
    assert groups(short, 3000, rows_per_group=4096) == [5048, 4952]  # a group ends with the chunk that fills it
    long = ["Een lange klacht over de bezorging. " * 300] * 40  # about 11 KB each
    assert groups(long, 5, bytes_per_group=100_000) == [10, 10, 10, 10]


def test_nanosecond_timestamps_as_pandas_writes_them_are_read_to_the_microsecond(tmp_path):
    from whylabel.io import open_table

    src = tmp_path / "pandas.parquet"
    ns = [1_761_000_000_123_456_789, None]  # 2025-10-20T22:40:00.123456789Z
    pq.write_table(pa.table({"created": pa.array(ns, pa.timestamp("ns", tz="Europe/Amsterdam")),
                             "tijd": pa.array([1_000, None], pa.time64("ns")),
                             "tekst": ["Pakket kwam kapot aan", "Package arrived broken"]}), src)
    with open_table(src) as table:
        rows = [row for _, row in table.rows]
    assert rows[0] == {"created": "2025-10-21T00:40:00.123456+02:00", "tijd": "00:00:00.000001",
                       "tekst": "Pakket kwam kapot aan"}
    assert rows[1]["created"] is None
    run_predict(src, tmp_path / "out.parquet")
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.field("created").type == pa.timestamp("ns", tz="Europe/Amsterdam")
    assert out.column("created").cast(pa.int64()).to_pylist() == [1_761_000_000_123_456_000, None]
