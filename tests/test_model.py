"""The reason model: estimator contract, evidence, calibration, safe files, training rules."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from whylabel.codebook import load_codebook
from whylabel.errors import ModelError
from whylabel.evaluation import expected_calibration_error
from whylabel.model import (
    CARD_FILE,
    MODEL_FILE,
    TRUSTED_TYPES,
    CueSuggester,
    ReasonClassifier,
    fill_suggestions,
    load_model,
    load_suggester,
    set_in_use,
    train_from_store,
)
from whylabel.nlp import analyse, cue_table
from whylabel.store import ItemRecord

# Tiny, clearly separable training data in both languages: (text, lang, reasons).
TINY = [
    ("way too expensive for what it is", "en", ["price"]),
    ("the price went up again", "en", ["price"]),
    ("shipping costs are outrageous", "en", ["price"]),
    ("veel te duur, de prijs is belachelijk", "nl", ["price"]),
    ("verzendkosten van 7 euro, echt te duur", "nl", ["price"]),
    ("prijs omhoog, nee dank je", "nl", ["price"]),
    ("returns only within 14 days", "en", ["terms"]),
    ("no paypal option at checkout", "en", ["terms"]),
    ("the subscription renews automatically, cannot cancel online", "en", ["terms"]),
    ("retourneren kan maar 14 dagen", "nl", ["terms"]),
    ("geen ideal mogelijk bij het afrekenen", "nl", ["terms"]),
    ("opzegtermijn van een jaar", "nl", ["terms"]),
    ("lovely, thanks", "en", []),
    ("all good", "en", []),
    ("prima zo", "nl", []),
    ("bedankt!", "nl", []),
]


def tiny_xy(codebook):
    X = [(t, lang) for t, lang, _ in TINY]
    return X, [r for _, _, r in TINY]


def small_estimator(codebook, **kw):
    params = {"cues": cue_table(codebook), "codebook_hash": codebook.hash, "min_positives": 3,
              "min_df": 1, "random_state": 0}
    params.update(kw)
    return ReasonClassifier(**params)


def test_estimator_follows_the_scikit_learn_contract(codebook):
    est = small_estimator(codebook, C=2.0)
    params = est.get_params()
    assert params["C"] == 2.0 and params["random_state"] == 0
    twin = clone(est)
    assert twin is not est and twin.get_params()["cues"] == params["cues"]
    with pytest.raises(NotFittedError):
        est.predict_proba(["too expensive"])
    X, y = tiny_xy(codebook)
    assert est.fit(X, y) is est
    P = est.predict_proba(X)
    assert P.shape == (len(X), len(codebook.reason_names)) and ((P >= 0) & (P <= 1)).all()
    # Fixed seed: a clone fitted on the same data is the same model.
    assert np.allclose(clone(est).fit(X, y).predict_proba(X), P)
    price, terms = codebook.reason_names.index("price"), codebook.reason_names.index("terms")
    got = est.predict([("much too expensive", "en"), ("retour binnen 14 dagen", "nl")])
    assert got[0, price] == 1 and got[1, terms] == 1
    assert est.mode_[price] == "model" and est.mode_[codebook.reason_names.index("fear")] == "cues"


def test_fast_scores_equal_the_design_matrix_path(codebook):
    est = small_estimator(codebook).fit(*tiny_xy(codebook))
    X = [(t, lang) for t, lang, _ in TINY] + [("I don't trust the price, not worth it", "en"), ("", "en")]
    M = est._make_features().matrix(est.analyse(X))
    assert np.allclose(np.asarray(M @ est.coef_.T) + est.intercept_, est.decision_function(X), atol=1e-5)


def test_cue_phrases_suggest_in_both_languages_with_evidence_on_the_words(codebook):
    s = CueSuggester(codebook)
    texts = ["I'm scared they will charge my card twice", "Veel te duur en de verzendkosten zijn belachelijk",
             "thanks, all fine"]
    out = s.suggest(texts, ["en", "nl", "en"])
    assert out[0].reasons == ("fear",) and out[1].reasons == ("price",) and out[2].reasons == ()
    assert out[0].probabilities["fear"] > 0.5 > out[0].probabilities["price"]
    for text, sug in zip(texts, out):
        for reason, evidence in sug.evidence.items():
            assert evidence, reason
            for ev in evidence:
                assert text[ev.start:ev.end] == ev.text and ev.weight > 0
    assert {e.text for e in out[0].evidence["fear"]} == {"scared"}
    assert {e.text for e in out[1].evidence["price"]} == {"Veel te duur", "verzendkosten"}
    assert s.model_id == f"cues-{codebook.hash}"


def test_model_evidence_points_at_the_words_that_pushed_the_reason(codebook):
    est = small_estimator(codebook).fit(*tiny_xy(codebook))
    from whylabel.model import ModelSuggester

    s = ModelSuggester(est, "tiny", threshold=0.5)
    text = "Honestly the price is way too expensive now!!"
    (sug,) = s.suggest([text], ["en"])
    assert "price" in sug.reasons
    ev = sug.evidence["price"]
    assert 1 <= len(ev) <= 3
    for e in ev:
        assert text[e.start:e.end] == e.text
    assert ev[0].text in {"price", "too expensive", "expensive"}
    assert [e.weight for e in ev] == sorted((e.weight for e in ev), reverse=True)
    assert not any(e.text in {"!", "!!"} for e in ev)  # punctuation is never evidence


def test_probabilities_are_calibrated_on_a_synthetic_set(codebook):
    # Each text holds a few of 8 signal words; P(price) rises with the price words it holds.
    rng = np.random.default_rng(0)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    weight = np.array([1.6, 1.2, 0.8, 0.4, -0.4, -0.8, -1.2, 0.0])

    def make(n):
        texts, y = [], []
        for _ in range(n):
            pick = rng.choice(8, size=rng.integers(2, 5), replace=False)
            texts.append((" ".join(words[i] for i in pick), "en"))
            y.append(int(rng.random() < 1 / (1 + np.exp(-(weight[pick].sum() - 0.5)))))
        return texts, np.array(y)

    X, y = make(1500)
    Y = np.zeros((len(y), len(codebook.reason_names)), dtype=int)
    Y[:, codebook.reason_names.index("price")] = y
    est = small_estimator(codebook, bigrams=False).fit(X, Y)
    Xt, yt = make(1500)
    p = est.predict_proba(Xt)[:, codebook.reason_names.index("price")]
    assert expected_calibration_error(p, yt) < 0.05
    assert 0.35 < p.mean() < 0.65 and abs(p.mean() - yt.mean()) < 0.05


def add_labeled(store, rows, annotator="sample"):
    recs = [ItemRecord(hash=f"h{i}", source="review", text=t, lang=lang, reasons=tuple(r))
            for i, (t, lang, r) in enumerate(rows)]
    store.import_records(recs, path="test", annotator=annotator)


def test_train_save_load_gives_the_same_predictions(codebook, store, tmp_path):
    add_labeled(store, TINY * 2)
    result = train_from_store(store, codebook, name="tiny", models_dir=tmp_path / "models", cv_folds=2,
                              params={"min_positives": 3})
    assert result.path == tmp_path / "models" / "tiny" / MODEL_FILE
    card = json.loads((tmp_path / "models" / "tiny" / CARD_FILE).read_text(encoding="utf-8"))
    assert card["codebook_hash"] == codebook.hash and card["label_counts"]["price"] == 12
    assert card["versions"]["scikit-learn"] and card["languages"] == {"en": 16, "nl": 16}
    assert card["metrics"]["cv_folds"] == 2 and "macro_f1" in card["metrics"]
    row = store.db.execute("SELECT id, name, codebook_hash FROM models").fetchone()
    assert row == (card["model_id"], "tiny", codebook.hash)
    loaded = load_suggester(codebook, "tiny", models_dir=tmp_path / "models")
    texts = ["the price is a joke", "retourneren kost geld", "lovely"]
    assert np.allclose(loaded.predict_proba(texts), result.suggester.predict_proba(texts))
    assert loaded.suggest(texts) == result.suggester.suggest(texts)
    assert loaded.model_id == card["model_id"] and loaded.threshold == card["threshold"]


def test_too_few_labels_keep_the_cue_phrases_and_say_how_many_more(codebook, store, tmp_path):
    add_labeled(store, TINY)
    result = train_from_store(store, codebook, models_dir=tmp_path / "m", cv_folds=0, save=False, from_scratch=True)
    assert result.needs == {r: 10 - n for r, n in
                            {"trust": 0, "fear": 0, "uncertainty": 0, "price": 6, "features": 0, "terms": 6}.items()}
    assert result.card["cue_only_reasons"] == list(codebook.reason_names)
    # A reason decided by its cues still suggests from them.
    (sug,) = result.suggester.suggest(["I am scared to pay on this site"], ["en"])
    assert "fear" in sug.reasons and sug.evidence["fear"][0].text == "scared"


def test_training_without_labels_is_refused(codebook, store, tmp_path):
    with pytest.raises(ModelError, match="no labeled items"):
        train_from_store(store, codebook, models_dir=tmp_path)


@pytest.fixture
def saved_model(codebook, store, tmp_path):
    add_labeled(store, TINY * 2)
    train_from_store(store, codebook, name="tiny", models_dir=tmp_path / "models", cv_folds=0,
                     params={"min_positives": 3})
    return tmp_path / "models" / "tiny"


def record_checksum(model_dir):
    """Re-record the model file's SHA-256 in its card: a tamperer who rewrote the card too."""
    card = json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
    card["model_sha256"] = hashlib.sha256((model_dir / MODEL_FILE).read_bytes()).hexdigest()
    (model_dir / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")


def test_a_model_file_with_an_untrusted_type_is_refused(codebook, saved_model):
    est = sio.load(saved_model / MODEL_FILE, trusted=TRUSTED_TYPES)
    est.payload = os.system  # what a tampered file would smuggle in
    sio.dump(est, saved_model / MODEL_FILE)
    record_checksum(saved_model)  # past the checksum: the type list still refuses it
    with pytest.raises(ModelError, match=r"refusing to load untrusted types \(.*system"):
        load_model(saved_model, codebook)


def test_a_foreign_or_damaged_model_file_is_refused(codebook, saved_model, tmp_path):
    from sklearn.linear_model import LogisticRegression

    sio.dump(LogisticRegression(), saved_model / MODEL_FILE)  # trusted by skops, but not ours
    record_checksum(saved_model)
    with pytest.raises(ModelError, match="not a whylabel reason model"):
        load_model(saved_model, codebook)
    (saved_model / MODEL_FILE).write_bytes(b"PK\x03\x04 definitely not a model")
    record_checksum(saved_model)
    with pytest.raises(ModelError, match="not a readable skops model file"):
        load_model(saved_model, codebook)


def test_a_model_for_another_codebook_is_refused(codebook, saved_model, tmp_path):
    with open(codebook.path, encoding="utf-8") as f:
        text = f.read()
    other = tmp_path / "other.toml"
    other.write_text(text.replace('"trust", "trusted",', '"trust", "trusted", "zzcue",', 1), encoding="utf-8")
    book = load_codebook(other)
    assert book.hash != codebook.hash
    with pytest.raises(ModelError, match="made for another codebook.*retrain with `whylabel train`"):
        load_model(saved_model, book)
    # Without a named model, the incompatible one is skipped for the cue phrases.
    assert isinstance(load_suggester(book, models_dir=saved_model.parent), CueSuggester)


def test_a_model_from_another_scikit_learn_version_is_refused(codebook, saved_model):
    card = json.loads((saved_model / CARD_FILE).read_text(encoding="utf-8"))
    card["versions"]["scikit-learn"] = "0.24.2"
    (saved_model / CARD_FILE).write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelError, match=r"made with scikit-learn 0\.24\.2, this is .*; retrain with `whylabel train`"):
        load_model(saved_model, codebook)


def test_load_suggester_uses_the_model_in_use_else_the_shipped_default_else_the_cue_phrases(
        codebook, saved_model, tmp_path):
    models = saved_model.parent
    # Nothing in use: the shipped default, never silently the newest trained model.
    assert load_suggester(codebook, models_dir=tmp_path / "empty").model_id.startswith("default-")
    assert load_suggester(codebook, models_dir=models).model_id.startswith("default-")
    assert isinstance(load_suggester(codebook, "cues", models_dir=models), CueSuggester)
    set_in_use(models, "tiny", "tiny-x", "test")
    assert load_suggester(codebook, models_dir=models).model_id.startswith("tiny-")
    # Forced by name, and refused when unknown.
    assert load_suggester(codebook, "tiny", models_dir=models).model_id.startswith("tiny-")
    with pytest.raises(ModelError, match="model 'nope' not found"):
        load_suggester(codebook, "nope", models_dir=models)


def test_with_a_codebook_no_model_was_made_for_the_cue_phrases_suggest(codebook, tmp_path):
    text = open(codebook.path, encoding="utf-8").read()
    other = tmp_path / "other.toml"
    other.write_text(text.replace('"trust", "trusted",', '"trust", "trusted", "zzcue",', 1), encoding="utf-8")
    assert isinstance(load_suggester(load_codebook(other), models_dir=tmp_path / "empty"), CueSuggester)


def test_fill_suggestions_writes_the_unlabeled_items(codebook, store):
    add_labeled(store, [("lovely", "en", [])])
    store.import_records([ItemRecord(hash="u1", source="review", text="way too expensive", lang="en"),
                          ItemRecord(hash="u2", source="review", text="ik ben bang voor fraude", lang="nl")],
                         path="test")
    n = fill_suggestions(store, CueSuggester(codebook), batch_size=1)
    assert n == 2
    rows = {r[0]: r for r in store.db.execute("SELECT item_id, model_id FROM suggestions")}
    labeled_id = store.labeled()[0]["id"]
    assert labeled_id not in rows and len(rows) == 2
    ids = [i for i in rows]
    got = {store.item(i)["text"]: store.suggestion(i) for i in ids}
    assert got["way too expensive"]["reasons"] == ["price"]
    assert got["way too expensive"]["evidence"]["price"][0][2] == "too expensive"
    assert "fear" in got["ik ben bang voor fraude"]["reasons"]


def test_texts_in_an_undetectable_language_and_empty_texts_still_get_a_suggestion(codebook):
    out = CueSuggester(codebook).suggest(["", "   ", "🙂", "12345"])
    assert len(out) == 4 and all(s.reasons == () and len(s.probabilities) == 6 for s in out)
    assert analyse([""], None)[0].arr.shape == (0, 2)


def test_the_type_table_starts_afresh_beyond_its_limit_without_changing_scores(codebook, monkeypatch):
    import whylabel.features as features

    est = small_estimator(codebook).fit(*tiny_xy(codebook))
    X = [(t, lang) for t, lang, _ in TINY]
    expected = est.decision_function(X)
    est.__dict__.pop("_features")
    monkeypatch.setattr(features, "MAX_TYPES", 20)  # far fewer than the types in TINY
    assert np.allclose(est.decision_function(X[:8]), expected[:8], atol=1e-5)
    assert np.allclose(est.decision_function(X), expected, atol=1e-5)
    assert est.features._n <= len({w for t, _ in X for w in t.split()}) + 40


def test_the_fast_constructors_make_ordinary_suggestions_and_evidence():
    from whylabel.suggestion import Evidence, EvidenceUnits, Suggestion, SuggestionBatch

    units = EvidenceUnits([0, 0, 2], [3, 9, 0], [7, 12, 4], ["late", "fee", "scam"], [0.25, 0.5, 1.0])
    spans = units.spans(4)
    assert [len(x) for x in spans] == [2, 0, 1, 0]
    e = spans[0][0]
    assert e == Evidence(3, 7, "late", 0.25) and hash(e) == hash(Evidence(3, 7, "late", 0.25))
    assert repr(e) == repr(Evidence(3, 7, "late", 0.25)) and e.to_json() == [3, 7, "late", 0.25]
    assert EvidenceUnits.of(spans) == EvidenceUnits([0, 0, 2], [9, 3, 0], [12, 7, 4], ["fee", "late", "scam"],
                                                    [0.5, 0.25, 1.0])  # strongest first
    batch = SuggestionBatch(("price", "terms"), np.array([[0.9, 0.1], [0.2, 0.3]]),
                            np.array([[True, False], [False, False]]), 0.35, [0], [0],
                            EvidenceUnits([0], [3], [7], ["late"], [0.25]))
    s, t = batch.suggestions()
    assert s == Suggestion({"price": 0.9, "terms": 0.1}, ("price",), {"price": (e,)}, 0.35)
    assert t == Suggestion({"price": 0.2, "terms": 0.3}, (), {}, 0.35)
    assert s.confidence == pytest.approx(0.81) and s.margin == pytest.approx(0.25)
    assert batch.confidences().tolist() == [s.confidence, t.confidence]
    with pytest.raises(AttributeError):
        s.threshold = 0.5  # still frozen
    # ... and back: any suggester's suggestions in the batch form (a reason it lacks is 0).
    back = SuggestionBatch.of([s, t], ("terms", "price", "fear"))
    assert back.probabilities.tolist() == [[0.1, 0.9, 0.0], [0.3, 0.2, 0.0]]
    assert back.chosen.tolist() == [[False, True, False], [False, False, False]]
    assert (back.pair_text, back.pair_reason, back.units.spans(1)) == ([0], [1], [(e,)])
    assert back.confidences().tolist() == [s.confidence, t.confidence]


def test_evidence_spans_are_exact_around_odd_whitespace(codebook):
    s = CueSuggester(codebook)
    texts = ["Way  too expensive ", "too expensive\nand I am scared", "  scared  "]
    for text, sug in zip(texts, s.suggest(texts, ["en"] * 3)):
        assert sug.reasons
        for ev in (e for evs in sug.evidence.values() for e in evs):
            assert text[ev.start:ev.end] == ev.text and ev.text == ev.text.strip()
    out = s.suggest(texts, ["en"] * 3)
    assert {e.text for e in out[0].evidence["price"]} == {"too expensive"}
    assert {e.text for e in out[2].evidence["fear"]} == {"scared"}
