"""The words-only form (words.npz): the same suggestions as model.skops's words, checked like it,
and `whylabel predict --fast` without scikit-learn, skops or scipy.stats."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import sample_reviews, write_csv
from whylabel.errors import ModelError
from whylabel.model import CARD_FILE, MODEL_FILE, ReasonClassifier, load_model, shipped_default, train_from_store
from whylabel.resources import sample_dir
from whylabel.store import ItemRecord
from whylabel.words_runtime import WORDS_FILE, WordsModel, load_suggester, load_words_suggester

MIXED = [
    ("De bezorging was veel te duur en ik vertrouw die site niet", "nl"),
    ("Ik weet niet zeker of het abonnement bij me past", "nl"),
    ("Geen iDEAL bij het afrekenen, dus ik ben afgehaakt", "nl"),
    ("Bang dat mijn gegevens worden doorverkocht", "nl"),
    ("I'm not sure the plan fits, and the price doubled after a month", "en"),
    ("Can't cancel online, you have to call them. Ridiculous.", "en"),
    ("The app keeps crashing when I try to add a second address", "en"),
    ("Would not trust them with my card details", "en"),
    ("ok", None),
    ("", None),
    ("€ 12,95 verzendkosten?!", None),
]


def demo_texts() -> tuple[list[str], list[str | None]]:
    """Every text of the demo sample: survey answers, reviews, support tickets."""
    texts, langs = sample_reviews()
    langs = list(langs)
    for name, column, delimiter in (("survey_answers.csv", "answer", ","), ("support_tickets.csv", "message", ";")):
        with open(sample_dir() / name, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f, delimiter=delimiter))
        texts += [r[column] for r in rows]
        langs += [r.get("lang") or None for r in rows]
    return texts, langs


def assert_same_suggestions(fast, full, texts, langs):
    a, b = fast.suggest_batch(texts, langs), full.suggest_batch(texts, langs)
    assert np.allclose(a.probabilities, b.probabilities, rtol=0, atol=1e-6)
    assert np.array_equal(a.chosen, b.chosen)
    assert (a.pair_text, a.pair_reason) == (b.pair_text, b.pair_reason)
    assert (a.units.pair, a.units.start, a.units.end, a.units.text) == (b.units.pair, b.units.start, b.units.end,
                                                                        b.units.text)
    assert np.allclose(a.units.weight, b.units.weight, rtol=0, atol=1e-6)
    assert [s.reasons for s in a.suggestions()] == [s.reasons for s in b.suggestions()]
    assert [s.evidence for s in a.suggestions()] == [s.evidence for s in b.suggestions()]


def test_the_shipped_words_form_suggests_as_the_skops_words_do(codebook):
    fast = load_suggester(codebook, fast=True)
    full = load_model(shipped_default(), codebook, fast=True)
    assert isinstance(fast.words, WordsModel) and isinstance(full.words, ReasonClassifier)
    assert (fast.model_id, fast.threshold, fast.reasons) == (full.model_id, full.threshold, full.reasons)
    assert fast.encoder_id is None and fast.path == full.path
    texts, langs = demo_texts()
    assert len(texts) > 500
    assert_same_suggestions(fast, full, [t for t, _ in MIXED], [lang for _, lang in MIXED])
    assert_same_suggestions(fast, full, texts, langs)
    assert_same_suggestions(fast, full, texts, None)  # languages detected
    assert np.allclose(fast.predict_proba(texts), full.predict_proba(texts), rtol=0, atol=1e-6)
    assert fast.evidence_for(texts[:50], langs[:50], ["price"] * 50) == \
        full.evidence_for(texts[:50], langs[:50], ["price"] * 50)


def test_the_full_model_is_still_loaded_without_fast(codebook):
    s = load_suggester(codebook)
    assert isinstance(s.words, ReasonClassifier) and s.blend is not None


TINY = [
    ("way too expensive for what it is", "en", ["price"]), ("the price went up again", "en", ["price"]),
    ("shipping costs are outrageous", "en", ["price"]), ("veel te duur, de prijs is belachelijk", "nl", ["price"]),
    ("verzendkosten van 7 euro, echt te duur", "nl", ["price"]), ("prijs omhoog, nee dank je", "nl", ["price"]),
    ("returns only within 14 days", "en", ["terms"]), ("no paypal option at checkout", "en", ["terms"]),
    ("the subscription renews automatically, cannot cancel online", "en", ["terms"]),
    ("retourneren kan maar 14 dagen", "nl", ["terms"]), ("geen ideal mogelijk bij het afrekenen", "nl", ["terms"]),
    ("opzegtermijn van een jaar", "nl", ["terms"]), ("lovely, thanks", "en", []), ("prima zo", "nl", []),
]


@pytest.fixture
def saved_model(codebook, store, tmp_path):
    store.import_records([ItemRecord(hash=f"h{i}", source="review", text=t, lang=lang, reasons=tuple(r))
                          for i, (t, lang, r) in enumerate(TINY * 2)], path="test", annotator="sample")
    train_from_store(store, codebook, name="tiny", models_dir=tmp_path / "models", cv_folds=0,
                     params={"min_positives": 3})
    return tmp_path / "models" / "tiny"


def test_a_saved_model_gets_its_words_form_with_its_checksum_in_the_card(codebook, saved_model):
    card = json.loads((saved_model / CARD_FILE).read_text(encoding="utf-8"))
    words = saved_model / WORDS_FILE
    assert card["words_sha256"] == hashlib.sha256(words.read_bytes()).hexdigest()
    with np.load(words, allow_pickle=False) as z:  # arrays only: readable without pickles
        assert sorted(z.files) == ["bigram_keys", "calibration", "coef", "idf", "intercept", "meta"]
    fast = load_suggester(codebook, "tiny", models_dir=saved_model.parent, fast=True)
    assert isinstance(fast.words, WordsModel)
    assert_same_suggestions(fast, load_model(saved_model, codebook, fast=True),
                            [t for t, _ in MIXED] + [t for t, _, _ in TINY], None)


def test_a_changed_words_file_is_refused_in_one_line(codebook, saved_model):
    with np.load(saved_model / WORDS_FILE, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["coef"] = arrays["coef"] * 3  # every reason pushed up
    with open(saved_model / WORDS_FILE, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ModelError, match=r"words\.npz: model file changed since it was trained \(SHA-256 .*, the "
                                         r"card says .*\); re-copy the model folder as it was saved, or retrain"):
        load_suggester(codebook, "tiny", models_dir=saved_model.parent, fast=True)
    # A tamperer who rewrote the card too still meets the codebook and shape checks, never a pickle.
    (saved_model / WORDS_FILE).write_bytes(b"PK\x03\x04 not an npz")
    card = json.loads((saved_model / CARD_FILE).read_text(encoding="utf-8"))
    card["words_sha256"] = hashlib.sha256((saved_model / WORDS_FILE).read_bytes()).hexdigest()
    (saved_model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match=r"words\.npz: not a readable words file \(.*\); retrain"):
        load_words_suggester(saved_model, codebook)


def test_a_words_checksum_of_the_wrong_type_is_refused_in_one_line(codebook, saved_model):
    card = json.loads((saved_model / CARD_FILE).read_text(encoding="utf-8"))
    card["words_sha256"] = 12345
    (saved_model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match=r"card\.json: model card field 'words_sha256' has the wrong type \(number\)"):
        load_suggester(codebook, "tiny", models_dir=saved_model.parent, fast=True)


def test_a_missing_words_file_falls_back_to_the_skops_words(codebook, saved_model):
    (saved_model / WORDS_FILE).unlink()
    s = load_suggester(codebook, "tiny", models_dir=saved_model.parent, fast=True)
    assert isinstance(s.words, ReasonClassifier)
    # And a folder saved before words.npz existed (no words_sha256 in its card) too.
    card = json.loads((saved_model / CARD_FILE).read_text(encoding="utf-8"))
    del card["words_sha256"]
    (saved_model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    assert load_words_suggester(saved_model, codebook) is None


def test_a_changed_model_file_is_refused_on_the_fast_path_too(codebook, saved_model):
    with open(saved_model / MODEL_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match=r"model\.skops: model file changed since it was trained"):
        load_suggester(codebook, "tiny", models_dir=saved_model.parent, fast=True)


def run_predict(tmp_path, *args):
    src = write_csv(tmp_path / "in.csv", "id,text\n" + "".join(
        f'{i},"{t}"\n' for i, (t, _) in enumerate(MIXED) if t))
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "whylabel", "predict", str(src),
                           "-o", str(tmp_path / "out.csv"), "--quiet", *args],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


def imported_modules(importtime_log: str) -> set[str]:
    """Module names from `python -X importtime` lines ("import time: self | cumulative | name")."""
    return {line.rsplit("|", 1)[1].strip() for line in importtime_log.splitlines()
            if line.startswith("import time:") and line.count("|") == 2}


def test_predict_fast_never_imports_scikit_learn_or_skops(tmp_path):
    r = run_predict(tmp_path, "--fast", "--workers", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    names = imported_modules(r.stderr)
    assert {"spacy", "whylabel.words_runtime", "whylabel.batch"} <= names  # the log is read right
    assert not {n for n in names if n.split(".")[0] in ("sklearn", "skops")}
    assert "scipy.stats" not in names and "whylabel.model" not in names
    with open(tmp_path / "out.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len([t for t, _ in MIXED if t])
    assert any("price" in r["reasons"] for r in rows)
    # The control: the cue phrases are a fitted ReasonClassifier, so scikit-learn shows in the log.
    r = run_predict(tmp_path, "--fast", "--model", "cues")
    assert r.returncode == 0 and "sklearn" in imported_modules(r.stderr)


def test_predict_fast_refuses_a_changed_words_file_in_one_line(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(shipped_default(), models / "copy")
    with open(models / "copy" / WORDS_FILE, "r+b") as f:
        f.seek(200)
        f.write(b"\x01\x02\x03")
    r = run_predict(tmp_path, "--fast", "--model", "copy", "--models-dir", str(models))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if not ln.startswith("import time:")]
    assert len(lines) == 1 and "words.npz: model file changed since it was trained" in lines[0], lines
