"""`whylabel train`, `suggest` and `evaluate`: output, --json schemas, one-line errors."""

from __future__ import annotations

import json

from conftest import db_snapshot, write_csv, write_jsonl
from test_model import TINY, add_labeled
from whylabel.records import ItemRecord
from whylabel.store import Store

METRIC_KEYS = {"n", "threshold", "macro_f1", "micro_f1", "driver_accuracy", "exact_match", "ece", "per_reason",
               "calibration"}
REASON_KEYS = {"precision", "recall", "f1", "support", "tp", "fp", "fn", "tn", "ece"}
REASONS = ["trust", "fear", "uncertainty", "price", "features", "terms"]


def seeded_db(db_path):
    with Store(db_path) as store:
        add_labeled(store, TINY * 2)
        store.import_records([ItemRecord(hash="u1", source="review", text="veel te duur", lang="nl"),
                              ItemRecord(hash="u2", source="review", text="scared of fraud", lang="en")],
                             path="test")


def test_train_json_reports_cv_metrics_needs_and_saves_the_model(cli, db_path, tmp_path):
    seeded_db(db_path)
    r = cli("train", "--db", db_path, "--name", "t1", "--models-dir", tmp_path / "m", "--folds", "2", "--json",
            "--from-scratch")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"name", "model_id", "path", "n_items", "languages", "label_counts", "needs",
                        "cue_only_reasons", "threshold", "metrics", "trained_on", "in_use", "decision"}
    assert out["trained_on"]["prior"] is None and out["trained_on"]["team"]["n_items"] == 32
    assert out["name"] == "t1" and out["path"].endswith("t1/model.skops") and out["n_items"] == 32
    assert out["needs"] == {"trust": 10, "fear": 10, "uncertainty": 10, "features": 10}
    assert out["cue_only_reasons"] == ["trust", "fear", "uncertainty", "features"]
    assert set(out["metrics"]) == METRIC_KEYS | {"cv_folds"} and out["metrics"]["cv_folds"] == 2
    assert set(out["metrics"]["per_reason"]) == set(REASONS)
    assert set(out["metrics"]["per_reason"]["price"]) == REASON_KEYS
    assert (tmp_path / "m" / "t1" / "card.json").exists()


def test_train_text_output_says_how_many_more_labels_a_reason_needs(cli, db_path, tmp_path):
    seeded_db(db_path)
    r = cli("train", "--db", db_path, "--models-dir", tmp_path / "m", "--folds", "0", "--no-save", "--from-scratch")
    assert r.exit_code == 0, r.stderr
    assert "fear: 0 labels, needs 10 more to be learned; its cue phrases decide until then" in r.stdout
    assert "saved" not in r.stdout and not (tmp_path / "m").exists()


def test_train_on_a_database_without_labels_is_one_line(cli, db_path, tmp_path):
    Store(db_path).close()
    r = cli("train", "--db", db_path, "--models-dir", tmp_path / "m")
    assert r.exit_code == 2
    assert r.stderr.startswith("whylabel: error: no labeled items") and r.stderr.count("\n") == 1


def test_suggest_fills_unlabeled_items(cli, db_path, tmp_path):
    seeded_db(db_path)
    r = cli("suggest", "--db", db_path, "--model", "cues", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["suggested"] == 2 and out["model_id"].startswith("cues-")
    with Store(db_path) as store:
        got = {store.item(i)["text"]: store.suggestion(i)["reasons"] for i in store.queue(order="oldest")}
    assert got == {"veel te duur": ["price"], "scared of fraud": ["trust", "fear"]}


def test_evaluate_json_schema_and_confusion_counts(cli, tmp_path):
    gold = write_jsonl(tmp_path / "gold.jsonl", [
        {"text": "way too expensive", "reasons": "price", "lang": "en"},
        {"text": "ik ben bang dat ze mijn geld houden", "reasons": "fear", "lang": "nl"},
        {"text": "thanks!", "reasons": "none", "lang": "en"},
        {"text": "not labeled yet", "reasons": "", "lang": "en"},
    ])
    r = cli("evaluate", "--gold", gold, "--model", "cues", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == METRIC_KEYS | {"gold", "model_id", "skipped_unlabeled"}
    assert out["n"] == 3 and out["skipped_unlabeled"] == 1
    price = out["per_reason"]["price"]
    assert set(price) == REASON_KEYS and (price["tp"], price["fp"], price["fn"], price["tn"]) == (1, 0, 0, 2)
    assert out["per_reason"]["fear"]["tp"] == 1 and out["macro_f1"] <= 1.0


def test_evaluate_text_output_and_csv_gold_with_named_columns(cli, tmp_path):
    gold = write_csv(tmp_path / "gold.csv", "opmerking;codes\nVeel te duur;price\nTop service;none\n")
    r = cli("evaluate", "--gold", gold, "--model", "cues", "--reasons-column", "codes")
    assert r.exit_code == 0, r.stderr
    assert "2 labeled items (0 unlabeled skipped)" in r.stdout
    assert "price" in r.stdout and "macro-F1" in r.stdout


def test_evaluate_refuses_an_unknown_reason_with_row_and_column(cli, tmp_path, db_path):
    gold = write_csv(tmp_path / "gold.csv", "text,reasons\ntoo expensive,price\nslow,speed\n")
    r = cli("evaluate", "--gold", gold, "--model", "cues")
    assert r.exit_code == 2
    assert r.stderr.startswith(f"whylabel: error: {gold}, row 3, column 'reasons': unknown reason 'speed'")


def test_evaluate_with_a_foreign_model_changes_nothing_and_is_one_line(cli, tmp_path, db_path):
    seeded_db(db_path)
    before = db_snapshot(db_path)
    (tmp_path / "m" / "bad").mkdir(parents=True)
    (tmp_path / "m" / "bad" / "model.skops").write_bytes(b"junk")
    (tmp_path / "m" / "bad" / "card.json").write_text("{}", encoding="utf-8")
    r = cli("suggest", "--db", db_path, "--model", "bad", "--models-dir", tmp_path / "m")
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "retrain with `whylabel train`" in r.stderr
    assert db_snapshot(db_path) == before
