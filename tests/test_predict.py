"""whylabel predict: batch auto-labeling of a new export (whylabel.batch + cli/predict.py)."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import db_snapshot, write_csv, write_jsonl
from whylabel.batch import predict, suggestion_columns
from whylabel.codebook import load_codebook
from whylabel.errors import ModelError
from whylabel.resources import default_model_dir
from whylabel.store import Store
from whylabel.suggestion import Evidence, Suggestion

REASONS = ("trust", "fear", "uncertainty", "price", "features", "terms")
ADDED = ["reasons", "driver", *(f"p_{r}" for r in REASONS), "confidence", "needs_review", "evidence"]

TEXTS = [
    "Veel te duur en de verzendkosten zijn belachelijk",
    "I am not sure which size to pick",
    "Great, thanks!",
    "Is this a scam? They never refunded me",
    "Bezorging duurde lang, retour was onduidelijk",
    "The zipper broke after two days",
    "Ik durf niet met mijn creditcard te betalen, wat als ze mijn gegevens misbruiken?",
    "Only 14 days to return and you pay the postage yourself",
]


def export(path: Path, n: int = len(TEXTS), *, extra: str = "") -> Path:
    """A survey-tool style export: id, date, answer, plus `extra` raw lines appended."""
    lines = ["response_id,date,answer"]
    for i in range(n):
        text = TEXTS[i % len(TEXTS)] + (f" (#{i})" if i >= len(TEXTS) else "")
        lines.append(f'R{i + 1},2026-11-{1 + i % 28:02d},"{text}"')
    return write_csv(path, "\n".join(lines) + "\n" + extra)


def read_csv(path: Path | str, **kw) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, **kw))


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


# A deterministic suggester for the behaviours a real model cannot be steered into: "p=0.7 terms"
# in a text gives terms 0.7 (others 0.01); "boom" makes it crash.
class Fixed:
    model_id = "fixed-1"
    threshold = 0.5

    def __init__(self, codebook):
        self.names = codebook.reason_names

    def suggest(self, texts, langs=None):
        out = []
        for t in texts:
            if "boom" in t:
                raise RuntimeError("the model crashed on purpose")
            probs = dict.fromkeys(self.names, 0.01)
            for p, name in re.findall(r"p=([\d.]+) (\w+)", t):
                probs[name] = float(p)
            reasons = tuple(n for n in self.names if probs[n] >= self.threshold)
            out.append(Suggestion(probs, reasons, {r: (Evidence(0, 4, t[:4], 1.0),) for r in reasons}))
        return out


def fixed(codebook):
    return Fixed(codebook)


def foreign_model(codebook):
    raise ModelError("models/old: made for another codebook (abc, yours is def); retrain with `whylabel train`")


# ---------------------------------------------------------------------------------------------
# Output


def test_output_keeps_every_input_column_then_the_suggestion_columns_in_input_order(cli, tmp_path):
    src = write_csv(tmp_path / "week47.csv", "response_id;reasons;answer;nps\n"
                    + "".join(f'R{i};old;"{t}";{i}\n' for i, t in enumerate(TEXTS)))
    r = cli("predict", src, "-o", "labeled.csv", "--workers", "1")
    assert r.exit_code == 0, r.output
    with open("labeled.csv", encoding="utf-8", newline="") as f:
        header = next(csv.reader(f, delimiter=";"))  # the input's separator is kept
    # An input column named like an added one is kept under input_<name>.
    assert header == ["response_id", "input_reasons", "answer", "nps", *ADDED]
    rows = read_csv("labeled.csv", delimiter=";")
    assert [r["response_id"] for r in rows] == [f"R{i}" for i in range(len(TEXTS))]
    assert [r["answer"] for r in rows] == TEXTS
    assert {r["input_reasons"] for r in rows} == {"old"}
    for row in rows:
        reasons = row["reasons"].split(";")
        assert reasons == ["none"] or set(reasons) <= set(REASONS)
        assert row["driver"] in ("emotional", "rational", "mixed", "none")
        for name in REASONS:
            assert 0 <= float(row[f"p_{name}"]) <= 1
        assert 0 <= float(row["confidence"]) <= 1
        assert row["needs_review"] in ("0", "1")
    price = rows[0]
    assert "price" in price["reasons"] and price["driver"] == "rational"
    assert re.search(r"price: .*(duur|verzendkosten)", price["evidence"]), price["evidence"]
    # Nothing rejected, and the rejects file says so (no stale one from an earlier run can mislead).
    assert read_csv("labeled.rejects.csv") == []
    assert "8 rows read" in r.stderr and "rejected 0" in r.stderr


def test_jsonl_output_keeps_types_and_excel_csv_is_for_a_dutch_spreadsheet(cli, tmp_path):
    src = write_jsonl(tmp_path / "reviews.jsonl", [{"id": i, "stars": i % 5, "review": t, "tags": ["a"]}
                                                    for i, t in enumerate(TEXTS)])
    assert cli("predict", src, "-o", "out.jsonl", "--workers", "1").exit_code == 0
    rows = [json.loads(line) for line in Path("out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert list(rows[0]) == ["id", "stars", "review", "tags", *ADDED]
    assert rows[0]["id"] == 0 and rows[0]["tags"] == ["a"] and "price" in rows[0]["reasons"]
    assert isinstance(rows[0]["p_price"], float) and rows[0]["needs_review"] in (0, 1)
    assert cli("predict", src, "-o", "out.csv", "--excel", "--workers", "1").exit_code == 0
    raw = Path("out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid;stars;review;tags;reasons;")
    assert b'\r\n' in raw


def test_cells_a_spreadsheet_would_run_are_neutralised_in_csv(cli, tmp_path):
    src = write_csv(tmp_path / "x.csv", 'id,text\n=1+1,"=HYPERLINK(""http://x"") te duur"\n')
    assert cli("predict", src, "-o", "out.csv", "--workers", "1").exit_code == 0
    row = read_csv("out.csv")[0]
    assert row["id"] == "'=1+1" and row["text"].startswith("'=HYPERLINK")


def test_identical_results_with_one_and_two_workers(cli, tmp_path):
    src = export(tmp_path / "big.csv", 600, extra="R999,2026-11-01,\n")
    for w in ("1", "2"):
        r = cli("predict", src, "-o", f"w{w}.csv", "--workers", w, "--chunk-size", "37", "--json")
        assert r.exit_code == 0, r.output
    assert Path("w1.csv").read_bytes() == Path("w2.csv").read_bytes()
    assert Path("w1.rejects.csv").read_bytes() == Path("w2.rejects.csv").read_bytes()
    rows = read_csv("w2.csv")
    assert [r["response_id"] for r in rows] == [f"R{i + 1}" for i in range(600)]
    summary = json.loads(r.stdout)
    assert summary["workers"] == 2 and summary["rows_read"] == 601 and summary["rejected"] == 1


def _cells_from_suggestions(codebook, suggestions, low, high, as_csv):
    """What a row's added cells are, built from one Suggestion (the batch path must agree)."""
    names = codebook.reason_names
    rows = []
    for s in suggestions:
        ps = [s.probabilities.get(n, 0.0) for n in names]
        reasons = tuple(n for n in names if n in s.reasons)
        unsure = any(low < p < high for p in ps)
        parts = []
        for n, p in zip(names, ps):
            spans = s.evidence.get(n)
            if not spans or (p <= low and n not in s.reasons):
                continue
            words = []
            for e in sorted(spans, key=lambda e: -e.weight):
                w = " ".join(e.text.split()).lower()
                if w and w not in words:
                    words.append(w)
            parts.append(f"{n}: {', '.join(words[:3])}")
        # A chosen reason with no words behind it came from the text's meaning.
        parts += [f"{n}: (meaning)" for n in reasons if not s.evidence.get(n)]
        evidence = " | ".join(parts)
        if as_csv:
            rows.append((";".join(reasons) or "none", codebook.driver_of(reasons), *(f"{p:.4f}" for p in ps),
                         f"{s.confidence:.4f}", "1" if unsure else "0", evidence))
        else:
            rows.append((list(reasons), codebook.driver_of(reasons), *(round(p, 4) for p in ps),
                         round(s.confidence, 4), int(unsure), evidence))
    return rows


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="workers are forked only where fork exists")
def test_forked_workers_use_the_model_the_main_process_loaded(codebook, tmp_path):
    """The model is loaded (and warmed) once, in the main process; the workers label with that copy."""
    log = tmp_path / "pids.log"

    class Logged(Fixed):
        def suggest(self, texts, langs=None):
            with open(log, "a") as f:
                f.write(f"suggest {os.getpid()}\n")
            return super().suggest(texts, langs)

    def factory(codebook):
        with open(log, "a") as f:
            f.write(f"load {os.getpid()}\n")
        return Logged(codebook)

    src = export(tmp_path / "week.csv", 60)
    s = predict(str(src), codebook, out="out.csv", workers=2, chunk_size=10, factory=factory)
    assert s.labeled + s.needs_review == 60
    calls = [line.split() for line in log.read_text().splitlines()]
    assert [pid for what, pid in calls if what == "load"] == [str(os.getpid())]
    workers = {pid for what, pid in calls if what == "suggest"} - {str(os.getpid())}
    assert 1 <= len(workers) <= 2



@pytest.mark.parametrize("as_csv", [True, False])
def test_batch_cells_equal_the_cells_of_each_suggestion(codebook, as_csv):
    from conftest import sample_reviews
    from whylabel.batch import Labeler, LabelerSpec
    from whylabel.model import load_suggester

    texts, langs = sample_reviews()
    texts, langs = texts + TEXTS + ["p=0.6 terms p=0.9 price", "p=0.2 fear"], langs + [None] * (len(TEXTS) + 2)
    spec = LabelerSpec(codebook_path=None, min_confidence=0.7, csv_cells=as_csv)
    for suggester in (load_suggester(codebook), Fixed(codebook)):
        rows, review, counts, _ = Labeler(codebook, suggester, spec).label(texts, langs)
        expected = _cells_from_suggestions(codebook, suggester.suggest(texts, langs), 0.3, 0.7, as_csv)
        assert rows == expected
        assert review == sum(1 for r in expected if r[-2] in ("1", 1))
        chosen = [r[0].split(";") if as_csv else r[0] for r in expected]
        assert counts == [sum(n in c for c in chosen) for n in codebook.reason_names] + \
            [sum(c in (["none"], []) for c in chosen)]
        assert sum(bool(r[-1]) for r in rows) >= (1 if isinstance(suggester, Fixed) else 5)  # real evidence


def test_csv_rows_are_copied_as_read_and_the_added_cells_quoted_as_needed(cli, tmp_path):
    records = ['R1,"Te duur, en ""gratis"" verzending\r\nbleek niet gratis: de verzendkosten waren 8 euro",ja',
               "R2,Never again: the refund took six weeks,",
               'R3,"=cmd() te duur",nee']
    src = write_csv(tmp_path / "x.csv", "id,text,extra\r\n" + "\r\n".join(records) + "\r\n")
    assert cli("predict", src, "-o", "out.csv", "--workers", "1").exit_code == 0
    out = Path("out.csv").read_text(encoding="utf-8")
    lines = out.split("\n")
    assert out.startswith("id,text,extra,reasons,") and lines[1].startswith(records[0].split("\r\n")[0])
    rows = read_csv("out.csv")
    assert [r["text"] for r in rows] == [
        'Te duur, en "gratis" verzending\r\nbleek niet gratis: de verzendkosten waren 8 euro',
        "Never again: the refund took six weeks", "'=cmd() te duur"]
    assert [r["extra"] for r in rows] == ["ja", "", "nee"]
    assert all(set(r) == {"id", "text", "extra", *ADDED} for r in rows)
    # An evidence cell with a comma is quoted: the row still parses into the header's columns.
    assert rows[0]["reasons"].startswith("price") and ", " in rows[0]["evidence"]


# ---------------------------------------------------------------------------------------------
# Abstention: the uncertain band


def test_needs_review_marks_rows_with_a_reason_inside_the_uncertain_band(codebook, tmp_path):
    texts = ["p=0.95 price", "p=0.7 terms", "p=0.25 fear", "p=0.15 trust", "p=0.9 price p=0.55 features", "hello"]
    src = write_csv(tmp_path / "in.csv", "text\n" + "\n".join(texts) + "\n")
    s = predict(str(src), codebook, out="out.csv", workers=1, factory=fixed)
    rows = read_csv("out.csv")
    assert [r["needs_review"] for r in rows] == ["0", "1", "1", "0", "1", "0"]
    assert [r["reasons"] for r in rows] == ["price", "terms", "none", "none", "price;features", "none"]
    assert rows[4]["driver"] == "rational" and rows[4]["evidence"] == "price: p=0. | features: p=0."
    assert (s.rows_read, s.labeled, s.needs_review, s.rejected) == (6, 3, 3, 0)
    assert s.reasons == {"trust": 0, "fear": 0, "uncertainty": 0, "price": 2, "features": 1, "terms": 1, "none": 3}
    # --min-confidence sets the band (1-C, C): at 0.6 only 0.55 is unsure; at 0.5 nothing is.
    s = predict(str(src), codebook, out="out.csv", workers=1, factory=fixed, min_confidence=0.6)
    assert [r["needs_review"] for r in read_csv("out.csv")] == ["0", "0", "0", "0", "1", "0"]
    s = predict(str(src), codebook, out="out.csv", workers=1, factory=fixed, min_confidence=0.5)
    assert s.needs_review == 0 and s.labeled == 6


def test_min_confidence_outside_its_range_is_refused(cli, tmp_path):
    r = cli("predict", export(tmp_path / "x.csv"), "-o", "out.csv", "--min-confidence", "0.3")
    assert r.exit_code == 2 and "0.3 is not in the range 0.5<=x<=1.0" in r.stderr
    assert not Path("out.csv").exists()


# ---------------------------------------------------------------------------------------------
# Bad rows


def test_bad_rows_go_to_the_rejects_file_with_row_reason_and_raw_content(cli, tmp_path):
    src = write_csv(tmp_path / "week.csv", (
        "id;text\n"
        "1;Veel te duur\n"
        "2;\n"                                 # no text
        "3;de maat; klopt niet\n"              # an unquoted separator: one field too many
        '4;"een tekst\nover twee regels"\n'    # fine: a quoted line break
        "5;   \n"                              # only spaces: no text (row 6: the quoted break is one row)
        "6;Retour was gratis\n"
    ))
    r = cli("predict", src, "-o", "out.csv", "--workers", "1", "--json")
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in read_csv("out.csv", delimiter=";")] == ["1", "4", "6"]
    assert read_csv("out.rejects.csv") == [
        {"row": "3", "reason": "no text", "raw": "2;"},
        {"row": "4", "reason": "3 fields but the header has 2 (an unquoted ';' in a text?)",
         "raw": "3;de maat; klopt niet"},
        {"row": "6", "reason": "no text", "raw": "5;   "},
    ]
    s = json.loads(r.stdout)
    assert (s["rows_read"], s["rejected"], s["labeled"] + s["needs_review"]) == (6, 3, 3)
    assert s["rejected_why"] == {"no text": 2, "extra fields": 1}
    assert s["rejects"] == "out.rejects.csv"


def test_broken_json_lines_are_rejected_and_the_rest_is_labeled(cli, tmp_path):
    src = tmp_path / "reviews.jsonl"
    src.write_text('{"id": 1, "review": "te duur"}\n{"id": 2, "review": "kapot\n[1, 2]\n\n'
                   '{"id": 4, "review": "=cmd() retour"}\n', encoding="utf-8")
    r = cli("predict", src, "-o", "out.csv", "--rejects", "bad.csv", "--workers", "1")
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in read_csv("out.csv")] == ["1", "4"]
    rejects = read_csv("bad.csv")
    assert [(x["row"], x["raw"]) for x in rejects] == [("2", '{"id": 2, "review": "kapot'), ("3", "[1, 2]")]  # lines
    assert rejects[0]["reason"].startswith("broken JSON (Unterminated string")
    assert rejects[1]["reason"] == "expected a JSON object, found list"
    assert "rejected 2 (broken JSON 1, not a JSON object 1) -> bad.csv" in r.stderr


def test_an_undecodable_line_on_stdin_is_rejected(cli):
    # A pipe is judged by its first 64 KiB (UTF-8 here); a later line in another encoding is rejected.
    good = "".join(f"{i},prima service en de retour ging snel\n" for i in range(1, 3001)).encode()
    data = b"id,text\n" + good + b"3001,caf\xe9 slecht\n" + "3002,te duur\n".encode()
    r = cli("predict", "-", "-o", "out.csv", "--workers", "1", "--quiet", input=data)
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in read_csv("out.csv")][-2:] == ["3000", "3002"]
    [bad] = read_csv("out.rejects.csv")
    assert bad["row"] == "3002" and bad["reason"].startswith("undecodable bytes") and bad["raw"] == "3001,caf\ufffd slecht"


def test_strict_stops_at_the_first_bad_row_naming_its_row(cli, tmp_path):
    src = export(tmp_path / "week.csv", extra="R9,2026-11-09,a,b\nR10,2026-11-10,\n")
    r = cli("predict", src, "-o", "out.csv", "--strict", "--workers", "2")
    assert r.exit_code == 2
    assert r.stderr == (f"whylabel: error: {src}, row 10: 4 fields but the header has 3 "
                        "(an unquoted ',' in a text?)\n")
    assert not Path("out.csv").exists() and not Path("out.rejects.csv").exists()
    assert leftovers(Path.cwd()) == []


# ---------------------------------------------------------------------------------------------
# Inputs that stop the run before any output


@pytest.mark.parametrize("content, message", [
    (b"PK\x03\x04\x00\x00binary", "not a readable .xlsx workbook"),
    (b"\x00\x01\x02binary", "this is a binary file"),
    (b"Dear team,\nplease find attached\n", "no text column found"),
    (b'{"a": 1, "b": [1, 2', "broken JSON"),
])
def test_an_input_that_is_not_a_table_stops_before_any_output(cli, tmp_path, content, message):
    src = tmp_path / "export.json" if content.startswith(b"{") else tmp_path / "export.csv"
    src.write_bytes(content)
    r = cli("predict", src, "-o", "out.csv", "--into-db", "--workers", "1")
    assert r.exit_code == 2 and message in r.stderr and r.stderr.count("\n") == 1
    assert sorted(p.name for p in Path.cwd().iterdir() if p.name != src.name) == []


def test_a_model_that_does_not_fit_the_codebook_stops_before_any_output(codebook, tmp_path, db_path):
    src = export(tmp_path / "week.csv")
    with Store(db_path) as store:
        before = db_snapshot(db_path)
        with pytest.raises(ModelError, match="made for another codebook"):
            predict(str(src), codebook, out="out.csv", store=store, workers=2, factory=foreign_model)
    assert db_snapshot(db_path) == before
    assert not Path("out.csv").exists() and leftovers(Path.cwd()) == []


def test_a_model_file_for_another_codebook_stops_the_cli_before_any_output(cli, tmp_path):
    old = tmp_path / "models" / "old"
    shutil.copytree(default_model_dir(), old)
    card = json.loads((old / "card.json").read_text(encoding="utf-8"))
    card["codebook_hash"] = "0123456789abcdef"
    (old / "card.json").write_text(json.dumps(card), encoding="utf-8")
    src = export(tmp_path / "week.csv")
    r = cli("predict", src, "-o", "out.csv", "--into-db", "--db", "p.db", "--model", old, "--workers", "2")
    assert r.exit_code == 2 and "made for another codebook" in r.stderr and r.stderr.count("\n") == 1
    assert not Path("out.csv").exists() and not Path("p.db").exists() and leftovers(Path.cwd()) == []


def test_an_unknown_model_name_is_one_line_and_no_output(cli, tmp_path):
    r = cli("predict", export(tmp_path / "week.csv"), "-o", "out.csv", "--model", "nope", "--models-dir", "m")
    assert r.exit_code == 2 and r.stderr.startswith("whylabel: error: model 'nope' not found")
    assert not Path("out.csv").exists()


# ---------------------------------------------------------------------------------------------
# Pipes, the store, interruptions


def test_stdin_to_stdout_composes_in_a_shell_pipeline(tmp_path):
    src = export(tmp_path / "week.csv")
    cmd = f"cat {src} | {sys.executable} -m whylabel predict - -o - --workers 2 --quiet | sort | uniq | wc -l"
    out = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert out.stderr == ""
    direct = subprocess.run([sys.executable, "-m", "whylabel", "predict", "-", "-o", "-", "--quiet",
                             "--workers", "1"], input=src.read_bytes(), capture_output=True, timeout=120)
    assert direct.returncode == 0 and direct.stderr == b""
    rows = list(csv.DictReader(io.StringIO(direct.stdout.decode())))
    assert [r["response_id"] for r in rows] == [f"R{i + 1}" for i in range(len(TEXTS))]
    assert int(out.stdout) == 1 + len(TEXTS)


def test_json_summary_is_refused_when_stdout_carries_the_rows(cli, tmp_path):
    r = cli("predict", export(tmp_path / "x.csv"), "-o", "-", "--json")
    assert r.exit_code == 2 and "--json prints on stdout" in r.stderr


def test_into_db_imports_rows_with_suggestions_so_the_uncertain_queue_starts_with_them(cli, tmp_path, db_path):
    src = export(tmp_path / "survey_week47.csv", 40, extra="R99,2026-11-01,\n")
    r = cli("predict", src, "-o", "out.csv", "--into-db", "--db", db_path, "--workers", "2",
            "--chunk-size", "7", "--breakpoint", "checkout", "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert (summary["added"], summary["duplicates"], summary["rejected"]) == (40, 0, 1)
    out = {row["response_id"]: row for row in read_csv("out.csv")}
    with Store(db_path) as store:
        ids = store.queue(order="uncertain")
        assert len(ids) == 40
        items = {i: store.item(i) for i in ids}
        assert all(it["breakpoint"] == "checkout" and it["source"] == "survey" for it in items.values())
        for i, it in items.items():  # the stored suggestion is the one in the output file
            sugg, row = store.suggestion(i), out[it["external_id"]]
            assert sugg["model_id"] == summary["model_id"]
            assert sugg["probabilities"] == {r: float(row[f"p_{r}"]) for r in REASONS}
            assert (";".join(sugg["reasons"]) or "none") == row["reasons"]
        assert store.db.execute("SELECT count(*) FROM suggestions").fetchone()[0] == 40
        assert store.db.execute("SELECT rows_read, added, skipped FROM imports").fetchall() == [(41, 40, 1)]
    # Again: nothing new, the suggestions are replaced in place.
    r = cli("predict", src, "--into-db", "--db", db_path, "--workers", "1", "--json")
    assert json.loads(r.stdout)["added"] == 0 and json.loads(r.stdout)["duplicates"] == 40
    assert read_csv("survey_week47.rejects.csv")[0]["row"] == "42"


def test_into_a_store_the_uncertain_queue_starts_with_the_rows_that_need_review(codebook, tmp_path, db_path):
    texts = ["p=0.95 price", "p=0.7 terms", "p=0.05 fear", "p=0.45 trust", "p=0.9 price p=0.85 features",
             "p=0.99 trust", "p=0.3 uncertainty", "hello"] * 3
    src = write_csv(tmp_path / "in.csv", "id,text\n" + "".join(f"{i},{t} {i}\n" for i, t in enumerate(texts)))
    s = predict(str(src), codebook, out="out.csv", store=str(db_path), workers=2, chunk_size=5, factory=fixed)
    review = {row["id"] for row in read_csv("out.csv") if row["needs_review"] == "1"}
    assert len(review) == s.needs_review == 9 and s.added == 24
    with Store(db_path) as store:
        ids = store.queue(order="uncertain")
        first = {store.item(i)["external_id"] for i in ids[:len(review)]}
    assert first == review  # what the model could not decide comes first


def test_an_exception_midway_leaves_no_partial_output_and_no_stored_rows(codebook, tmp_path, db_path):
    src = export(tmp_path / "week.csv", 300, extra="R301,2026-11-01,boom\n")
    with Store(db_path) as store:
        before = db_snapshot(db_path)
        for workers in (1, 2):
            with pytest.raises(RuntimeError, match="crashed on purpose"):
                predict(str(src), codebook, out="out.csv", store=store, workers=workers, chunk_size=50,
                        factory=fixed)
            assert sorted(p.name for p in Path.cwd().iterdir()) == ["test.db", "test.db-shm", "test.db-wal",
                                                                   "week.csv"]
    assert db_snapshot(db_path) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_leaves_no_partial_output(tmp_path, sig):
    """A terminal's Ctrl-C (or a kill) reaches the whole process group: parent and workers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "whylabel", "predict", "-", "-o", "out.csv", "--workers", "2", "--chunk-size", "5"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        start_new_session=True,
    )
    try:
        proc.stdin.write(export(tmp_path / "head.csv", 40).read_bytes())
        proc.stdin.flush()  # and keep the pipe open: the run is mid-stream
        deadline = time.monotonic() + 60
        while not leftovers(tmp_path):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert not (tmp_path / "out.csv").exists() and leftovers(tmp_path) == []
    assert b"Traceback" not in proc.stderr.read()


def test_help_shows_the_columns_and_an_example_without_loading_the_model_libraries(cli):
    r = cli("predict", "--help")
    assert r.exit_code == 0 and "Example" in r.stdout and "needs_review" in r.stdout
    assert "--text-column" in r.stdout and "--into-db" in r.stdout
    code = ("import sys\nfrom whylabel.cli import main\ntry:\n    main(['predict', '--help'])\n"
            "except SystemExit:\n    pass\nimport whylabel.batch\n"
            "print('MODULES', *sorted({m.split('.')[0] for m in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.rsplit("MODULES", 1)[1].split())
    assert "whylabel" in loaded and not loaded & {"spacy", "sklearn", "scipy", "textual"}, loaded
    assert suggestion_columns(load_codebook())[-3:] == ["confidence", "needs_review", "evidence"]


def test_progress_line_shows_percent_rows_per_second_and_eta(tmp_path, monkeypatch, capsys):
    from whylabel.cli import predict as cli_predict

    clock = iter([100.0, 102.0, 102.1, 103.0])
    monkeypatch.setattr(cli_predict.time, "monotonic", lambda: next(clock))
    bar = cli_predict._Progress(str(tmp_path / "x.csv"))
    bar.update(5000, 0.25)   # 2 s in, a quarter done
    bar.update(6000, 0.3)    # within 0.2 s of the last update: not redrawn
    bar.update(9000, None)   # stdin: no size, so no percent and no ETA
    bar.close()
    err = capsys.readouterr().err
    assert err.count("predicting") == 2
    assert "predicting x.csv:  25%  5,000 rows, 2,500 rows/s, ETA 0:06" in err
    assert "predicting x.csv: 9,000 rows, 3,000 rows/s " in err
    assert err.endswith("\r")  # the line is wiped before the summary
