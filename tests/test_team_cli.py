"""`whylabel agreement` and `whylabel suspicious`: figures, shapes, bad input, adjudication preferred."""

from __future__ import annotations

import csv
import json
import random

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from whylabel.model import training_data
from whylabel.store import ItemRecord, Store

# Phrases a customer would write, per reason, in English and Dutch.
PHRASES = {
    "trust": ["I don't believe the delivery promise anymore", "ze beloven van alles maar komen niets na",
              "feels like a scam, no reviews anywhere", "ik vertrouw die webshop niet"],
    "fear": ["I'm afraid they will charge my card twice", "bang dat mijn gegevens gelekt worden",
             "worried my payment details get stolen", "ik ben bang voor oplichting"],
    "uncertainty": ["no idea when the parcel will arrive", "onduidelijk wanneer het pakket komt",
                    "the site doesn't say if it fits", "geen idee welke maat ik nodig heb"],
    "price": ["way too expensive for what it is", "veel te duur vergeleken met de concurrent",
              "shipping costs 7.95, cheaper elsewhere", "de verzendkosten zijn belachelijk hoog"],
    "features": ["the zipper broke after one day", "de app crasht steeds bij het betalen",
                 "battery dies within an hour", "het product mist een belangrijke functie"],
    "terms": ["return window of 14 days is too short", "retourneren kost geld, dat staat nergens",
              "you have to pay for returns yourself", "de voorwaarden voor retour zijn streng"],
}
FILLERS = ["", "Overall okay.", "Jammer.", "Thanks anyway.", "Verder prima.", "Not happy."]


def synthetic_items(n: int, seed: int) -> list[tuple[str, str, tuple[str, ...]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        chosen = tuple(sorted(rng.sample(list(PHRASES), rng.choice([0, 1, 1, 1, 2]))))
        parts = [rng.choice(PHRASES[r]) for r in chosen] or [rng.choice(["Great service!", "Alles prima geregeld",
                                                                         "Fast delivery, thanks", "Top, bedankt"])]
        text = ". ".join(parts) + ". " + rng.choice(FILLERS) + f" (#{i})"
        out.append((text.strip(), "nl" if any(w in text for w in (" de ", " het ", "ik ", " te ")) else "en", chosen))
    return out


def fill(path, items, breakpoint_of=lambda i: "checkout") -> list[int]:
    with Store(path) as s:
        s.upsert_breakpoints([{"name": "checkout", "moment": "choose", "stage": "purchase"},
                              {"name": "returns", "moment": "leave", "stage": "retention"}])
        s.import_records([ItemRecord(hash=f"s{i}", source="survey", text=t, lang=lang, external_id=f"R-{i}",
                                     breakpoint=breakpoint_of(i))
                          for i, (t, lang, _) in enumerate(items)], path="mem")
        return [r[0] for r in s.db.execute("SELECT id FROM items ORDER BY id")]


@pytest.fixture
def two_coders(db_path):
    """anna labels 60 items; ben double-codes 40 of them, disagreeing now and then; chris codes 10."""
    items = synthetic_items(60, seed=5)
    ids = fill(db_path, items, breakpoint_of=lambda i: "returns" if i % 3 == 0 else "checkout")
    rng = random.Random(9)
    with Store(db_path) as s:
        for item_id, (_, _, reasons) in zip(ids, items):
            s.annotate(item_id, reasons, annotator="anna")
        for item_id, (_, _, reasons) in zip(ids[:40], items):
            mine = set(reasons)
            if rng.random() < 0.25:
                mine ^= {rng.choice(list(PHRASES))}
            s.annotate(item_id, sorted(mine), annotator="ben")
        for item_id, (_, _, reasons) in zip(ids[50:], items[50:]):
            s.annotate(item_id, reasons, annotator="chris")
    return db_path


def test_agreement_json_shape_and_figures_equal_the_libraries(cli, two_coders):
    r = cli("agreement", "--db", two_coders, "--annotators", "anna,ben", "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert list(out) == ["annotators", "n_items", "reasons", "driver"]
    assert out["annotators"] == ["anna", "ben"] and out["n_items"] == 40
    assert list(out["reasons"]) == list(PHRASES)
    with Store(two_coders) as s:
        labels = s.coder_labels(["anna", "ben"])
    both = sorted(set(labels["anna"]) & set(labels["ben"]))
    for reason, got in out["reasons"].items():
        assert list(got) == ["alpha", "alpha_ci", "kappa", "agreement", "n"]
        first = [int(reason in labels["anna"][i]) for i in both]
        second = [int(reason in labels["ben"][i]) for i in both]
        if len(set(first) | set(second)) > 1:
            assert got["kappa"] == pytest.approx(cohen_kappa_score(first, second), abs=1e-4)
            assert got["alpha"] == pytest.approx(
                krippendorff.alpha(reliability_data=[first, second], level_of_measurement="nominal"), abs=1e-4)
            assert got["alpha_ci"][0] <= got["alpha"] <= got["alpha_ci"][1]
        assert got["agreement"] == pytest.approx(np.mean(np.array(first) == np.array(second)))
        assert got["n"] == 40
    assert list(out["driver"]) == ["alpha", "alpha_ci", "kappa", "agreement", "n"]


def test_agreement_text_names_the_bands_and_shows_the_confusion(cli, two_coders):
    r = cli("agreement", "--db", two_coders, "--annotators", "anna,ben")
    assert r.exit_code == 0, r.stderr
    assert "agreement of anna, ben on 40 items" in r.stdout
    assert "Krippendorff" in r.stdout and "Landis & Koch" in r.stdout and "almost perfect" in r.stdout
    assert "confusion per reason (rows: anna, columns: ben)" in r.stdout
    lines = r.stdout.splitlines()
    start = lines.index("confusion per reason (rows: anna, columns: ben)")
    trust_no, trust_yes = lines[start + 2], lines[start + 3]
    assert trust_no.startswith("trust") and "anna no" in trust_no and "anna yes" in trust_yes
    cells = [int(x) for x in trust_no.split()[-2:] + trust_yes.split()[-2:]]
    assert sum(cells) == 40


def test_agreement_of_three_and_per_breakpoint_and_csv(cli, two_coders, tmp_path):
    r = cli("agreement", "--db", two_coders, "--json")
    out = json.loads(r.stdout)
    assert out["annotators"] == ["anna", "ben", "chris"] and out["n_items"] == 50
    assert out["reasons"]["price"]["kappa"] is None  # three coders: no Cohen's kappa
    r = cli("agreement", "--db", two_coders, "--annotators", "anna,ben", "--breakpoint", "returns", "--json")
    assert json.loads(r.stdout)["n_items"] == 14  # items 0, 3, ..., 39
    target = tmp_path / "agreement.csv"
    r = cli("agreement", "--db", two_coders, "--annotators", "anna,ben", "-o", target)
    assert r.exit_code == 0 and r.stdout == ""
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [row["code"] for row in rows] == [*PHRASES, "driver"]
    assert {row["n"] for row in rows} == {"40"}


def test_agreement_bad_input_is_one_line_exit_2(cli, two_coders, db_path):
    with Store(two_coders) as s:
        s.annotate(1, ["price"], annotator="dirk")
        s.annotate(1, None, annotator="dirk", origin="undo")
        s.annotate(2, ["fear"], annotator="eva")  # labels item 2 only, which chris did not
    r = cli("agreement", "--db", two_coders, "--annotators", "chris,eva")
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: agreement needs two annotators who labeled the same items "
                        "(chris: 10 items, eva: 0 in common)\n")
    r = cli("agreement", "--db", two_coders, "--annotators", "anna,zoe")
    assert r.exit_code == 2
    assert r.stderr == "whylabel: error: unknown annotator 'zoe' (known: anna, ben, chris, eva)\n"
    r = cli("agreement", "--db", two_coders, "--annotators", "ben")
    assert r.exit_code == 2 and r.stderr == "whylabel: error: --annotators needs two names or more, e.g. --annotators ben,anna\n"
    r = cli("agreement", "--db", two_coders, "--breakpoint", "nowhere")
    assert r.exit_code == 2 and r.stderr == "whylabel: error: unknown breakpoint 'nowhere' (known: checkout, returns)\n"


def test_agreement_with_one_annotator(cli, db_path):
    ids = fill(db_path, synthetic_items(5, seed=1))
    with Store(db_path) as s:
        for i in ids:
            s.annotate(i, ["price"], annotator="anna")
    r = cli("agreement", "--db", db_path)
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: agreement needs two annotators who labeled the same items "
                        "(anna: 5 items, nobody else has labeled)\n")


def test_export_report_and_training_prefer_the_adjudicated_label(cli, two_coders, codebook, tmp_path):
    with Store(two_coders) as s:
        [disputed, *_] = s.adjudication_queue()
        s.annotate(disputed, ["trust", "terms"], annotator="lead", origin="adjudication")
        anna = s.coder_labels(["anna"])["anna"][disputed]
        texts, _, labels = training_data(s, codebook)
        by_text = dict(zip(texts, labels))
        assert by_text[s.item(disputed)["text"]] == ["trust", "terms"]
        texts, _, labels = training_data(s, codebook, annotator="anna")
        assert dict(zip(texts, labels))[s.item(disputed)["text"]] == anna
    out = tmp_path / "labeled.csv"
    assert cli("export", "--db", two_coders, "-o", out).exit_code == 0
    row = next(r for r in csv.DictReader(out.open(encoding="utf-8")) if r["item_id"] == str(disputed))
    assert row["reasons"] == "trust;terms" and row["annotator"] == "lead"
    assert cli("export", "--db", two_coders, "-o", out, "--annotator", "anna").exit_code == 0
    row = next(r for r in csv.DictReader(out.open(encoding="utf-8")) if r["item_id"] == str(disputed))
    assert row["annotator"] == "anna"
    report = json.loads(cli("report", "--db", two_coders, "--json").stdout)
    assert sum(r["labeled"] for r in report) == 60


# -- suspicious ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_suspicious_finds_planted_errors(cli, db_path):
    items = synthetic_items(160, seed=2)
    ids = fill(db_path, items)
    rng = random.Random(4)
    flipped = set(rng.sample(ids, 16))
    with Store(db_path) as s:
        for item_id, (_, _, reasons) in zip(ids, items):
            given = set(reasons)
            if item_id in flipped:
                given ^= {rng.choice(list(PHRASES))}
            s.annotate(item_id, sorted(given), annotator="anna")
    r = cli("suspicious", "--db", db_path, "--top", 32, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)["items"]
    assert len(out) == 32
    assert list(out[0]) == ["item_id", "external_id", "text", "labels", "suggested", "score"]
    assert [x["score"] for x in out] == sorted((x["score"] for x in out), reverse=True)
    found = len(flipped & {x["item_id"] for x in out})
    assert found >= 0.4 * len(flipped), found
    first = out[0]
    with Store(db_path) as s:
        assert first["external_id"] == s.item(first["item_id"])["external_id"]
        assert first["labels"] == s.current_annotation(first["item_id"])["reasons"]
        # a confirmed label (an adjudication) leaves the list
        s.annotate(first["item_id"], first["labels"], annotator="lead", origin="adjudication")
    again = json.loads(cli("suspicious", "--db", db_path, "--top", 32, "--json").stdout)["items"]
    assert first["item_id"] not in {x["item_id"] for x in again}


def test_suspicious_with_too_few_labels_and_unknown_annotator(cli, db_path):
    ids = fill(db_path, synthetic_items(12, seed=3))
    with Store(db_path) as s:
        for i in ids[:7]:
            s.annotate(i, ["price"], annotator="anna")
    r = cli("suspicious", "--db", db_path)
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: suspicious needs 10 labeled items for 5-fold cross-validation; "
                        "7 labeled, label 3 more\n")
    r = cli("suspicious", "--db", db_path, "--annotator", "bert")
    assert r.exit_code == 2 and r.stderr == "whylabel: error: unknown annotator 'bert' (known: anna)\n"


def test_label_team_queues_refuse_bad_input_before_the_ui(cli, db_path, monkeypatch):
    monkeypatch.setenv("WHYLABEL_FORCE_UI", "1")
    ids = fill(db_path, synthetic_items(6, seed=3))
    with Store(db_path) as s:
        for i in ids[:4]:
            s.annotate(i, ["terms"], annotator="anna")
    r = cli("label", "--db", db_path, "--queue", "suspicious")
    assert r.exit_code == 2
    assert r.stderr == ("whylabel: error: suspicious needs 10 labeled items for 5-fold cross-validation; "
                        "4 labeled, label 6 more\n")
    r = cli("label", "--db", db_path, "--queue", "double", "--share", "1.5")
    assert r.exit_code == 2 and "--share" in r.stderr and "1.5" in r.stderr
