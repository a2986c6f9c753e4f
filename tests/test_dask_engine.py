"""whylabel predict --engine dask: the same rows, values and rejects as the local engine, on a LocalCluster."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="the dask extra is not installed: pip install 'whylabel[dask]'")

from distributed import Client, LocalCluster  # noqa: E402

from whylabel.batch import predict  # noqa: E402
from whylabel.engine_dask import exact_csv_parts, plan_text_parts, predict_dask  # noqa: E402
from whylabel.errors import InputError  # noqa: E402

TEXTS = [
    "Veel te duur en de verzendkosten zijn belachelijk",
    "I am not sure which size to pick",
    "Great, thanks!",
    "Is this a scam? They never refunded me",
    "Bezorging duurde lang, retour was onduidelijk",
    'He said "no refunds",\nthen hung up. Never again.',  # a quoted line break, quotes inside
    "Ik durf niet met mijn creditcard te betalen,\r\nwat als ze mijn gegevens misbruiken?",
    "Only 14 days to return and you pay the postage yourself",
    "De levertijd klopte niet: 3 dagen werd 2 weken",
]
SUMMARY_FIELDS = ("rows_read", "labeled", "needs_review", "rejected", "rejected_why", "reasons", "columns",
                  "format", "encoding", "model_id")


def quoted(text: str, sep: str = ",") -> str:
    return '"' + text.replace('"', '""') + '"'


def survey_csv(path: Path, n: int, *, sep: str = ",", encoding: str = "utf-8") -> Path:
    """A survey export with multi-line answers, stray quotes in unquoted cells (24" scherm) that
    throw a quote count off, a blank answer and a row with an extra field."""
    lines = [sep.join(["response_id", "datum", "antwoord", "taal"])]
    for i in range(n):
        text = TEXTS[i % len(TEXTS)] + f" (#{i})"
        lang = "nl" if i % 3 else "en"
        if i % 37 == 5:
            lines.append(sep.join([f"R{i}", "2026-11-02", "", lang]))  # no text: rejected
        elif i % 41 == 7:
            lines.append(sep.join([f"R{i}", "2026-11-02", quoted(text), lang, "extra"]))  # rejected
        elif i % 29 == 3:
            lines.append(sep.join([f"R{i}", "2026-11-03", f'Mijn 24" scherm kwam kapot aan {i}', lang]))
        else:
            lines.append(sep.join([f"R{i}", f"2026-11-{1 + i % 28:02d}", quoted(text), lang]))
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def survey_jsonl(path: Path, n: int) -> Path:
    out = []
    for i in range(n):
        if i % 31 == 4:
            out.append('{"id": "R%d", "review": "kapot' % i)  # broken JSON: rejected
        elif i % 43 == 9:
            out.append('["not", "an", "object"]')
        elif i % 17 == 2:
            out.append("")  # a blank line still counts as a line
        else:
            out.append(json.dumps({"id": f"R{i}", "review": TEXTS[i % len(TEXTS)] + f" #{i}", "stars": i % 5 + 1},
                                  ensure_ascii=False))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster, set_as_default=False) as c:
        yield c


def same_as_local(src: Path, out_name: str, client, codebook, partition_bytes: int, **kw) -> tuple:
    local = predict(str(src), codebook, out=f"local.{out_name}", workers=1, fast=True, **kw)
    dask = predict_dask(str(src), codebook, out=f"dask.{out_name}", fast=True, client=client,
                        partition_bytes=partition_bytes, **kw)
    assert Path(f"dask.{out_name}").read_bytes() == Path(f"local.{out_name}").read_bytes()
    assert Path("dask.rejects.csv").read_bytes() == Path("local.rejects.csv").read_bytes()
    for name in SUMMARY_FIELDS:
        assert getattr(dask, name) == getattr(local, name), name
    assert dask.engine == "dask" and local.engine == "local"
    assert dask.workers == 2
    return local, dask


def test_csv_cut_in_many_partitions_equals_local(tmp_path, client, codebook):
    src = survey_csv(tmp_path / "enquete.csv", 400)
    # Cuts every ~1.5 KB: quoted line breaks and stray quotes near cuts are read again joined.
    parts = plan_text_parts(str(src), "csv", "utf-8", 0, 1500)
    assert len(parts) > 10
    local, dask = same_as_local(src, "csv", client, codebook, partition_bytes=1500)
    assert local.rejected_why == {"no text": 11, "extra fields": 10}
    rows = Path("dask.csv").read_text(encoding="utf-8").count("\nR")
    assert rows == 400 - 21
    rejected = Path("dask.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejected[1].startswith("7,")  # R5: the header is row 1, so row 7


def records_by_range(path: Path, parts) -> list[list[list[str]]]:
    import csv

    data = path.read_bytes()
    return [list(csv.reader(io.StringIO(data[p.start:p.end].decode(), newline=""))) for p in parts]


def test_exact_cuts_fall_between_records_where_a_stray_quote_misleads_the_count(tmp_path):
    import csv

    src = survey_csv(tmp_path / "enquete.csv", 400)
    whole = list(csv.reader(io.StringIO(src.read_bytes().decode(), newline="")))
    counted = plan_text_parts(str(src), "csv", "utf-8", 0, 1500)
    assert sum(records_by_range(src, counted), []) != whole  # some cut landed inside a quoted cell
    exact = exact_csv_parts(str(src), "utf-8", ",", 0, 1500, 0)
    assert len(exact) > 10 and exact[-1].last and not exact[0].last
    assert [p.start for p in exact[1:]] == [p.end for p in exact[:-1]]
    assert sum(records_by_range(src, exact), []) == whole


def test_dutch_semicolon_cp1252_csv_equals_local(tmp_path, client, codebook):
    src = survey_csv(tmp_path / "export.csv", 150, sep=";", encoding="cp1252")
    src.write_bytes(src.read_bytes().replace(b"De levertijd", "Één levertijd".encode("cp1252")))
    local, _ = same_as_local(src, "csv", client, codebook, partition_bytes=700)
    assert local.encoding == "cp1252"
    assert Path("dask.csv").read_text(encoding="utf-8").splitlines()[0].startswith("response_id;datum;")


def test_excel_csv_and_redaction_equal_local(tmp_path, client, codebook):
    from whylabel.redact import Redactor

    lines = ["id,opmerking"] + [f"T{i}," + quoted(f"{TEXTS[i % len(TEXTS)]} mail me: klant{i}@example.nl of bel 06-1234{i:04d}")
                                for i in range(120)]
    src = tmp_path / "tickets.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    local = predict(str(src), codebook, out="local.csv", workers=1, fast=True, excel=True, redactor=Redactor())
    dask = predict_dask(str(src), codebook, out="dask.csv", fast=True, excel=True, redact=True, client=client,
                        partition_bytes=2000)
    assert Path("dask.csv").read_bytes() == Path("local.csv").read_bytes()
    assert Path("dask.csv").read_bytes().startswith("\ufeffid;opmerking;".encode())
    assert b"@example.nl" not in Path("dask.csv").read_bytes()
    assert dask.redacted == local.redacted and local.redacted["email"] == 120


def test_jsonl_to_jsonl_equals_local_with_line_numbers(tmp_path, client, codebook):
    src = survey_jsonl(tmp_path / "reviews.jsonl", 300)
    local, _ = same_as_local(src, "jsonl", client, codebook, partition_bytes=900)
    assert local.rejected_why == {"broken JSON": 10, "not a JSON object": 7}
    rejected = Path("dask.rejects.csv").read_text(encoding="utf-8").splitlines()
    assert rejected[1].startswith("5,")  # line 5 holds the first broken object
    ids = [json.loads(line)["id"] for line in Path("dask.jsonl").read_text(encoding="utf-8").splitlines()]
    assert ids == sorted(ids, key=lambda s: int(s[1:]))  # input order kept across partitions


def test_input_order_kept_when_partitions_finish_out_of_order(tmp_path, client, codebook):
    # The first partition is the slowest (long texts): later ones finish first and wait their turn.
    lines = ["id,text"] + [f"L{i}," + quoted(" ".join(TEXTS) * 8) for i in range(60)]
    lines += [f"S{i},ok {i}" for i in range(600)]
    src = tmp_path / "mixed.csv"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    predict_dask(str(src), codebook, out="out.csv", fast=True, client=client, partition_bytes=2000)
    got = [line.split(",", 1)[0] for line in Path("out.csv").read_text(encoding="utf-8").splitlines()[1:]
           if line[:1] in "LS"]
    assert got == [f"L{i}" for i in range(60)] + [f"S{i}" for i in range(600)]


def survey_parquet(path: Path, n: int, **write) -> Path:
    """Typed columns (a timestamp, small integers), a null and an empty answer among the texts."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    answers = [None if i % 23 == 4 else "" if i % 19 == 6 else TEXTS[i % len(TEXTS)] + f" #{i}" for i in range(n)]
    pq.write_table(pa.table({
        "id": [f"P{i}" for i in range(n)],
        "ingevuld": pa.array([dt.datetime(2026, 11, 1, 8, 30) + dt.timedelta(minutes=7 * i) for i in range(n)],
                             pa.timestamp("s")),
        "sterren": pa.array([i % 5 + 1 for i in range(n)], pa.int16()),
        "antwoord": answers,
    }), path, **write)
    return path


@pytest.mark.parametrize("out_name", ["csv", "parquet"])
def test_parquet_in_equals_local_cut_inside_and_across_row_groups(tmp_path, client, codebook, out_name):
    src = survey_parquet(tmp_path / "week.parquet", 500, row_group_size=120)
    local = predict(str(src), codebook, out=f"local.{out_name}", workers=1, fast=True)
    dask = predict_dask(str(src), codebook, out=f"dask.{out_name}", fast=True, client=client, partition_rows=70)
    assert local.rejected_why == {"no text": 47}
    for name in SUMMARY_FIELDS:
        assert getattr(dask, name) == getattr(local, name), name
    assert Path("dask.rejects.csv").read_bytes() == Path("local.rejects.csv").read_bytes()
    if out_name == "csv":
        assert Path("dask.csv").read_bytes() == Path("local.csv").read_bytes()
    else:
        import pyarrow.parquet as pq

        ours, theirs = pq.read_table("dask.parquet"), pq.read_table("local.parquet")
        assert ours.schema == theirs.schema and ours.schema.field("ingevuld").type == theirs.schema.field("ingevuld").type
        assert ours.to_pylist() == theirs.to_pylist()


def test_partitioned_writes_a_parquet_directory_with_the_local_rows(tmp_path, client, codebook, cli):
    import pyarrow.parquet as pq

    src = survey_csv(tmp_path / "enquete.csv", 300)
    predict(str(src), codebook, out="local.parquet", workers=1, fast=True)
    predict_dask(str(src), codebook, out="labeled", partitioned=True, fast=True, client=client, partition_bytes=4000)
    files = sorted(p.name for p in Path("labeled").iterdir())
    assert len(files) > 3 and files[0] == "part-00000.parquet" and all(f.endswith(".parquet") for f in files)
    dataset = pq.read_table("labeled")  # pyarrow reads the directory as one dataset, parts in name order
    assert dataset.to_pylist() == pq.read_table("local.parquet").to_pylist()
    assert [p.name for p in Path(".").iterdir() if p.name.startswith(".labeled")] == []  # no temporary left
    # Again into the same directory: it is replaced whole (no part of the first run stays).
    (Path("labeled") / "stale.txt").write_text("from before", encoding="utf-8")
    r = cli("predict", src, "-o", "labeled", "--engine", "dask", "--scheduler", client.scheduler.address,
            "--partitioned", "--fast", "-q")
    assert r.exit_code == 0, r.stderr
    assert not (Path("labeled") / "stale.txt").exists()
    assert pq.read_table("labeled").to_pylist() == pq.read_table("local.parquet").to_pylist()


def test_corrupt_parquet_is_one_line_and_starts_no_cluster(tmp_path, cli):
    src = survey_parquet(tmp_path / "kapot.parquet", 50)
    src.write_bytes(src.read_bytes()[:-30])  # cut short: no footer
    started = time.monotonic()
    r = cli("predict", src, "-o", "out.csv", "--engine", "dask", "--workers", "1", "--fast")
    assert r.exit_code == 2
    assert r.stderr == (f"whylabel: error: {src}: not a readable Parquet file (no Parquet footer at its end: "
                        "the file is cut short, or it is not Parquet)\n")
    assert time.monotonic() - started < 10
    assert not Path("out.csv").exists()


def test_a_damaged_row_group_is_the_local_engines_one_line(tmp_path, client, codebook):
    import pyarrow.parquet as pq

    src = survey_parquet(tmp_path / "groot.parquet", 300, row_group_size=100, compression="snappy")
    data = bytearray(src.read_bytes())
    start = pq.ParquetFile(src).metadata.row_group(1).column(3).data_page_offset  # answers of rows 101-200
    data[start: start + 64] = bytes(range(200, 255)) + bytes(9)
    src.write_bytes(bytes(data))
    with pytest.raises(InputError) as local:
        predict(str(src), codebook, out="local.csv", workers=1, fast=True)
    with pytest.raises(InputError) as dask:
        predict_dask(str(src), codebook, out="dask.csv", fast=True, client=client, partition_rows=60)
    assert str(dask.value) == str(local.value)
    assert str(dask.value).startswith(f"{src}, row 101: damaged Parquet data in row group 2 of 3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["groot.parquet"]


def test_strict_names_the_same_row_as_local(tmp_path, client, codebook):
    src = survey_csv(tmp_path / "enquete.csv", 60)
    with pytest.raises(InputError) as local:
        predict(str(src), codebook, out="local.csv", workers=1, fast=True, strict=True)
    with pytest.raises(InputError) as dask:
        predict_dask(str(src), codebook, out="dask.csv", fast=True, client=client, strict=True, partition_bytes=500)
    assert str(dask.value) == str(local.value)
    assert not Path("dask.csv").exists()


@pytest.mark.parametrize("make", [survey_csv, survey_parquet])
def test_cli_one_worker_local_cluster_equals_local_engine(tmp_path, cli, make):
    src = make(tmp_path / f"enquete.{'csv' if make is survey_csv else 'parquet'}", 120)
    r = cli("predict", src, "-o", "local.csv", "--workers", "1", "--fast", "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("predict", src, "-o", "dask.csv", "--engine", "dask", "--workers", "1", "--fast", "--json")
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["engine"] == "dask" and summary["workers"] == 1 and summary["rows_read"] == 120
    assert summary["rejected"] > 0
    assert Path("dask.csv").read_bytes() == Path("local.csv").read_bytes()
    assert Path("dask.rejects.csv").read_bytes() == Path("local.rejects.csv").read_bytes()


def test_cli_on_an_existing_cluster_by_scheduler_address(tmp_path, cli, client):
    src = survey_jsonl(tmp_path / "reviews.jsonl", 80)
    address = client.scheduler.address
    r = cli("predict", src, "-o", "local.csv", "--workers", "1", "--fast", "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("predict", src, "-o", "dask.csv", "--engine", "dask", "--scheduler", address, "--fast", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["workers"] == 2  # the cluster's, not --workers
    assert Path("dask.csv").read_bytes() == Path("local.csv").read_bytes()
    assert Path("dask.rejects.csv").read_bytes() == Path("local.rejects.csv").read_bytes()
    assert len(client.scheduler_info()["workers"]) == 2  # the cluster is left running


def test_workers_must_load_the_model_the_client_checked():
    from whylabel.engine_dask import EngineError, _check_workers_model

    class OneWorkerElsewhere:  # what client.run returns when a worker found another models folder
        def run(self, function, plugin):
            return {"tcp://10.0.0.7:40111": "model-20261122-143303-440b828d96"}

    with pytest.raises(EngineError) as err:
        _check_workers_model(OneWorkerElsewhere(), "whylabel-labeler-x", "default-967cc6f278")
    assert str(err.value) == ("the Dask worker at tcp://10.0.0.7:40111 loaded model model-20261122-143303-440b828d96, "
                              "not default-967cc6f278: give --model a path that every worker reads at the same "
                              "place (shared storage)")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_one_line_and_no_hang(tmp_path, cli):
    src = survey_csv(tmp_path / "enquete.csv", 10)
    port = closed_port()
    started = time.monotonic()
    r = cli("predict", src, "-o", "out.csv", "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}",
            "--connect-timeout", "1", "--fast")
    assert time.monotonic() - started < 15
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0
    assert r.stderr.startswith(f"whylabel: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 1 s")
    assert not Path("out.csv").exists()


def test_without_dask_one_line_says_what_to_install(tmp_path, cli, monkeypatch):
    src = survey_csv(tmp_path / "enquete.csv", 10)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    r = cli("predict", src, "-o", "out.csv", "--engine", "dask")
    assert r.exit_code == 2
    assert r.stderr == 'whylabel: error: --engine dask needs dask[distributed]: pip install "whylabel[dask]"\n'


def test_engine_flags_refused_where_they_do_not_apply(tmp_path, cli):
    src = survey_csv(tmp_path / "enquete.csv", 10)
    r = cli("predict", src, "-o", "out.csv", "--scheduler", "tcp://127.0.0.1:8786")
    assert (r.exit_code, r.stderr) == (2, "whylabel: error: --scheduler needs --engine dask\n")
    r = cli("predict", src, "-o", "out.csv", "--engine", "dask", "--into-db")
    assert r.exit_code == 2 and r.stderr.startswith("whylabel: error: --into-db runs with the local engine only")
    r = cli("predict", "-", "-o", "out.csv", "--engine", "dask", input="id,text\n1,hoi\n")
    assert r.exit_code == 2 and "reads a file, not stdin" in r.stderr


def test_cli_start_up_does_not_import_dask():
    code = ("import sys\nfrom click.testing import CliRunner\nfrom whylabel.cli import main\n"
            "r = CliRunner().invoke(main, ['predict', '--help'])\nassert r.exit_code == 0, r.output\n"
            "assert '--engine' in r.output and '--partitioned' in r.output\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
