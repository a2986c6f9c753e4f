"""Words and meaning: the sentence encoder, vectors kept once per item, training on top of the
default's labels, --fast, and the rule that a retrained model replaces the model in use only when
it scores better on the team's own labels."""

from __future__ import annotations

import asyncio
import csv
import json

import numpy as np
import pytest

from test_model import add_labeled
from whylabel import encoder as encoder_mod
from whylabel.encoder import DIM, ENCODER_ID, SentenceEncoder
from whylabel.meaning import MeaningClassifier
from whylabel.model import (
    IN_USE_FILE,
    BlendedReasonClassifier,
    ReasonClassifier,
    in_use,
    load_suggester,
    meaning_c_for,
    prior_weight_for,
    set_in_use,
    stored_vectors,
    train_from_store,
)
from whylabel.store import Store

# What a team labels in its first session: real-looking feedback in both languages, with the
# reasons a researcher gives by the codebook.
TEAM = [
    ("The parcel was promised for Saturday, now they say Tuesday and nobody answers my emails", "en", ["trust"]),
    ("Ik heb al drie keer gebeld over mijn terugbetaling en elke keer een ander verhaal", "nl", ["trust"]),
    ("Is this site even legit? No company address anywhere and the reviews look fake", "en", ["trust"]),
    ("Ze beloofden levering binnen 24 uur, het werd een week. Ik bestel hier niet meer.", "nl", ["trust"]),
    ("I'm scared my card details were stolen after ordering here, there are charges I don't recognise", "en",
     ["fear"]),
    ("Ik durf niet met iDEAL te betalen sinds die phishingmail met jullie logo", "nl", ["fear"]),
    ("Worried the battery might overheat, there were recalls of this brand last year", "en", ["fear"]),
    ("Not sure which size to pick, the size chart and the reviews say different things", "en", ["uncertainty"]),
    ("Ik twijfel tussen de twee modellen, wat is nu precies het verschil?", "nl", ["uncertainty"]),
    ("Does this charger work with the older model? The description doesn't say", "en", ["uncertainty"]),
    ("Way too expensive with the shipping costs added, found it cheaper elsewhere", "en", ["price"]),
    ("Verzendkosten van €6,95 op een bestelling van €15 is echt belachelijk", "nl", ["price"]),
    ("The price went up by 20 euros between adding it to my cart and checkout", "en", ["price"]),
    ("Te duur voor wat je krijgt, bij de concurrent is hetzelfde pakket goedkoper", "nl", ["price"]),
    ("The zipper broke after two weeks and the fabric pills after one wash", "en", ["features"]),
    ("De app crasht steeds bij het afrekenen, ik kan niet eens betalen", "nl", ["features"]),
    ("Love the colour but the sleeves are far too long and there are no pockets", "en", ["features"]),
    ("Het scherm is prachtig maar de batterij gaat nog geen dag mee", "nl", ["features"]),
    ("Returns only within 14 days and I have to pay the return shipping myself", "en", ["terms"]),
    ("Je moet een abonnement van een jaar afsluiten en opzeggen kan alleen per brief", "nl", ["terms"]),
    ("No warranty on sale items? That is not mentioned anywhere before you pay", "en", ["terms"]),
    ("Retourneren kan alleen in de winkel, niet per post. Dat had ik eerder willen weten.", "nl", ["terms"]),
    ("Great service, my order arrived the next day, thank you!", "en", []),
    ("Alles prima verlopen, snel geleverd en netjes verpakt", "nl", []),
    ("Expensive, and I am not sure it will even fit my bike", "en", ["price", "uncertainty"]),
]


def write_export(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        for i, (text, _, _) in enumerate(rows):
            w.writerow([f"T-{i}", text])
    return path


# -- the encoder and the meaning side -----------------------------------------------------------


def test_the_encoder_puts_dutch_and_english_in_one_space():
    vectors = SentenceEncoder().encode(["veel te duur", "way too expensive", "de bezorging was te laat", ""])
    assert vectors.shape == (4, DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-3)
    same_meaning = vectors[0] @ vectors[1]
    other_meaning = vectors[0] @ vectors[2]
    assert same_meaning > other_meaning + 0.1
    assert np.isfinite(vectors[3]).all()  # an empty text still gets a vector


def test_meaning_classifier_learns_calibrated_decisions_and_leaves_rare_reasons_to_the_words():
    rng = np.random.default_rng(0)
    centre = rng.normal(size=(2, 16))
    n = 400
    y = rng.integers(0, 2, size=n)
    E = centre[y] + rng.normal(scale=1.5, size=(n, 16))
    rare = np.zeros(n, dtype=int)
    rare[:4] = 1  # four positives: too few to learn from
    m = MeaningClassifier(C=1.0, min_positives=10).fit(E, np.column_stack([y, rare]))
    assert m.active_.tolist() == [True, False]
    p = m.predict_proba(E)
    assert p.shape == (n, 2)
    assert ((p[:, 0] >= 0.5) == y).mean() > 0.8
    # Calibrated: the mean probability is close to the base rate.
    assert abs(p[:, 0].mean() - y.mean()) < 0.05


# -- vectors are computed once per item and kept ------------------------------------------------


@pytest.fixture
def counted_encoder(monkeypatch):
    """Count the texts the shared encoder encodes."""
    calls: list[int] = []
    real = SentenceEncoder.encode

    def encode(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(SentenceEncoder, "encode", encode)
    return calls


def test_vectors_are_encoded_once_and_a_retrain_encodes_nothing(codebook, store, tmp_path, counted_encoder):
    add_labeled(store, TEAM)
    ids = [r["id"] for r in store.labeled()]
    texts = [r["text"] for r in store.labeled()]
    first = stored_vectors(store, ids, texts)
    assert sum(counted_encoder) == len(TEAM)
    assert len(store.embeddings(ids, ENCODER_ID)) == len(TEAM)
    again = stored_vectors(store, ids, texts)
    assert sum(counted_encoder) == len(TEAM)  # nothing encoded twice
    assert np.allclose(first, again, atol=1e-3)  # float16 in the store
    counted_encoder.clear()
    train_from_store(store, codebook, models_dir=tmp_path / "models", cv_folds=3, save=False)
    assert sum(counted_encoder) == 0  # the team's vectors come from the store, the prior's ship with it


def test_suggestions_for_stored_items_use_the_stored_vectors(codebook, store, counted_encoder):
    from whylabel.suggest import suggest_and_store

    add_labeled(store, TEAM[:5])
    ids = [r["id"] for r in store.labeled()]
    suggester = load_suggester(codebook)
    assert suggester.encoder_id == ENCODER_ID
    got = suggest_and_store(store, suggester, ids)
    assert set(got) == set(ids) and sum(counted_encoder) == 5
    counted_encoder.clear()
    suggest_and_store(store, suggester, ids, reuse=False)
    assert sum(counted_encoder) == 0


# -- two speeds -----------------------------------------------------------------------------------


def test_fast_gives_the_words_only_predictions(codebook, tmp_path, cli):
    blended = load_suggester(codebook, "default")
    fast = load_suggester(codebook, "default", fast=True)
    assert isinstance(blended.estimator, BlendedReasonClassifier)
    assert fast.encoder_id is None and blended.encoder_id == ENCODER_ID
    words = blended.estimator.words_
    assert isinstance(words, ReasonClassifier) and fast.threshold == words.threshold
    texts = [t for t, _, _ in TEAM]
    langs = [lang for _, lang, _ in TEAM]
    assert np.array_equal(fast.predict_proba(texts, langs), words.predict_proba(list(zip(texts, langs))))
    assert not np.allclose(blended.predict_proba(texts, langs), fast.predict_proba(texts, langs))
    export = write_export(tmp_path / "export.csv", TEAM)
    r = cli("predict", export, "-o", tmp_path / "fast.csv", "--fast", "--workers", "1", "--json")
    assert r.exit_code == 0, r.stderr
    with open(tmp_path / "fast.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    p = words.predict_proba(texts)  # the file has no language column: detected, as predict does
    for row, probs in zip(rows, p):
        assert [float(row[f"p_{n}"]) for n in codebook.reason_names] == pytest.approx(probs, abs=6e-5)


# -- training on top of what ships ---------------------------------------------------------------


def test_training_builds_on_the_default_unless_from_scratch(codebook, store, tmp_path):
    only_price = [row for row in TEAM if row[2] == ["price"]] * 3 + [row for row in TEAM if not row[2]] * 3
    add_labeled(store, only_price)
    fear = "Ik ben bang dat mijn bankgegevens gelekt zijn na die bestelling"
    on_top = train_from_store(store, codebook, models_dir=tmp_path / "m", cv_folds=0, save=False)
    prior = on_top.card["trained_on"]["prior"]
    assert prior["n_items"] == 1090 and prior["weight"] == pytest.approx(prior_weight_for(len(only_price)))
    assert on_top.card["params"]["meaning_C"] == pytest.approx(meaning_c_for(len(only_price), 1090, prior["weight"]),
                                                               abs=1e-4)
    assert on_top.card["kind"] == "words+meaning" and on_top.card["encoder"] == ENCODER_ID
    assert "fear" in on_top.suggester.suggest([fear], ["nl"])[0].reasons  # learned from the default's labels
    scratch = train_from_store(store, codebook, models_dir=tmp_path / "m", cv_folds=0, save=False,
                               from_scratch=True)
    assert scratch.card["trained_on"]["prior"] is None and scratch.card["n_items"] == len(only_price)
    assert scratch.card["cue_only_reasons"] == ["trust", "fear", "uncertainty", "features", "terms"]
    assert on_top.card["cue_only_reasons"] == []  # every reason learned, from the default's labels


def test_the_sample_weighs_less_and_meaning_learns_more_as_a_team_labels_more():
    weights = [prior_weight_for(n) for n in (1, 25, 75, 100, 250, 1000)]
    assert weights[:3] == [1.0, 1.0, 1.0] and weights[3] == pytest.approx(0.75) and weights[4:] == [0.3, 0.3]
    cs = [meaning_c_for(n, 1090, prior_weight_for(n)) for n in (0, 25, 100, 250, 5000)]
    assert cs == sorted(cs) and cs[0] == pytest.approx(0.3) and cs[-1] == pytest.approx(1.0)


# -- no silent downgrade --------------------------------------------------------------------------


def test_a_model_that_scores_below_the_model_in_use_is_not_put_in_use(codebook, store, db_path, tmp_path, cli):
    add_labeled(store, TEAM)
    models = tmp_path / "models"
    result = train_from_store(store, codebook, name="first-25", models_dir=models, cv_folds=3,
                              from_scratch=True)
    d = result.decision
    assert d["use"] is False and d["in_use"].startswith("default-") and d["n"] == len(TEAM)
    assert d["candidate_macro_f1"] < d["in_use_macro_f1"]
    assert "does not beat" in d["why"]
    assert not (models / IN_USE_FILE).exists()
    assert (models / "first-25" / "model.skops").exists()  # kept for a look, not used
    # What suggest and predict pick: still the default.
    assert load_suggester(codebook, models_dir=models).model_id.startswith("default-")
    export = write_export(tmp_path / "next_week.csv", TEAM[:5])
    r = cli("predict", export, "-o", tmp_path / "out.csv", "--models-dir", models, "--workers", "1", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["model_id"].startswith("default-")
    r = cli("models", "--models-dir", models, "--json")
    listed = {m["name"]: m for m in json.loads(r.stdout)["models"]}
    assert listed["default"]["in_use"] and not listed["first-25"]["in_use"]
    assert listed["first-25"]["trained_on"].startswith(f"{len(TEAM)} team labels")


def test_a_model_that_scores_better_is_put_in_use_and_predict_picks_it(codebook, store, tmp_path, cli):
    models = tmp_path / "models"
    # A poor model in use: learned from scratch from labels that are all wrong.
    rng = np.random.default_rng(1)
    names = codebook.reason_names
    wrong = [(t, lang, [names[int(k)] for k in rng.choice(6, 1)] if r else ["trust", "fear"]) for t, lang, r in TEAM]
    with Store(tmp_path / "wrong.db") as other:
        add_labeled(other, wrong)
        poor = train_from_store(other, codebook, name="poor", models_dir=models, cv_folds=0, from_scratch=True)
    set_in_use(models, "poor", poor.card["model_id"], "test")
    assert load_suggester(codebook, models_dir=models).model_id == poor.card["model_id"]
    add_labeled(store, TEAM)
    better = train_from_store(store, codebook, name="team", models_dir=models, cv_folds=3)
    assert better.decision["use"] is True, better.decision
    assert in_use(models)["name"] == "team" and "replaces" in in_use(models)["why"]
    export = write_export(tmp_path / "next_week.csv", TEAM[:5])
    r = cli("predict", export, "-o", tmp_path / "out.csv", "--models-dir", models, "--workers", "1", "--json")
    assert json.loads(r.stdout)["model_id"] == better.card["model_id"]
    r = cli("models", "--models-dir", models)
    assert f"* team" in r.stdout and "in use: macro-F1" in r.stdout


def test_the_labeling_ui_keeps_the_model_in_use_when_a_retrain_scores_below_it(codebook, db_path, tmp_path):
    """Driven key by key: 25 decisions trigger a retrain that would downgrade; the UI keeps its model."""
    from whylabel.tui.app import build_app
    from whylabel.tui.engine import team_trainer

    models = tmp_path / "models"
    with Store(db_path) as s:
        from whylabel.records import ItemRecord

        s.import_records([ItemRecord(hash=f"t{i}", source="review", text=t, lang=lang, external_id=f"T-{i}")
                          for i, (t, lang, _) in enumerate(TEAM * 2)], path="test")
    app = build_app(db_path, codebook, annotator="anna", queue="newest", retrain_every=25,
                    suggester_factory=lambda book: load_suggester(book, models_dir=models),
                    trainer=team_trainer(models_dir=models, from_scratch=True), clock=lambda: 0.0,
                    reaction_time=0.0)  # each key answers what is on screen (pauses between keys)

    async def scenario():
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            screen = app.label_screen
            before = screen.model_id
            assert before.startswith("default-")
            for k in range(25):
                item = screen.session.current().item["id"]
                await pilot.press("0" if k % 5 == 4 else "enter")  # accept the suggestion, or "no reason"
                await pilot.pause()
                if screen.session.current().item["id"] == item:  # nothing was pre-selected to accept
                    await pilot.press("0")
                    await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert screen.model_id == before
            message = str(screen.message)
            assert "kept" in message and "does not beat" in message, message

    asyncio.run(scenario())
    assert not (models / IN_USE_FILE).exists()
    assert load_suggester(codebook, models_dir=models).model_id.startswith("default-")
    with Store(db_path) as s:
        assert len(s.labeled("anna")) == 25


def test_evidence_of_a_reason_from_meaning_alone_says_so():
    from whylabel.suggestion import Suggestion
    from whylabel.tui.reason_panel import evidence_words

    s = Suggestion({"uncertainty": 0.7, "price": 0.1}, ("uncertainty",), {}, 0.3)
    assert evidence_words(s, "uncertainty") == "from the text's meaning, no single words"
    assert evidence_words(s, "price") == ""


def test_shared_encoder_is_one_per_process():
    assert encoder_mod.encoder() is encoder_mod.encoder()


def test_labels_the_prior_already_holds_are_not_learned_twice(codebook, store, tmp_path):
    """A team that imported the sample itself (the demo) trains on it once: the prior keeps none of
    those texts, so cross-validation never sees a test text in its training folds."""
    from whylabel.ingest import import_file
    from whylabel.model import load_prior
    from whylabel.resources import sample_dir

    import_file(store, sample_dir() / "survey_answers.csv", codebook, columns={"reasons": "reasons"},
                annotator="anna")
    prior = load_prior(codebook)
    texts = {r["text"] for r in store.labeled()}
    assert len(prior.without(texts)) == len(prior) - len(texts & set(prior.texts)) < len(prior)
    result = train_from_store(store, codebook, models_dir=tmp_path / "m", cv_folds=0, save=False)
    assert result.card["trained_on"]["prior"]["n_items"] == len(prior) - len(texts & set(prior.texts))
    # Nor does the default get compared on labels it learned from: here there are none it did not.
    result = train_from_store(store, codebook, models_dir=tmp_path / "m", cv_folds=3)
    assert result.decision["use"] is False
    assert result.decision["why"].startswith("no labels that default-") and "has not learned from" in result.decision["why"]


def test_predict_into_the_database_keeps_the_vectors_it_read(codebook, db_path, tmp_path, cli, counted_encoder):
    export = write_export(tmp_path / "week.csv", TEAM[:6])
    r = cli("predict", export, "-o", tmp_path / "out.csv", "--into-db", "--db", db_path, "--workers", "1", "-q")
    assert r.exit_code == 0, r.stderr
    encoded = sum(counted_encoder)
    with Store(db_path) as s:
        rows = s.texts([i for (i,) in s.db.execute("SELECT id FROM items ORDER BY id")])
        assert len(s.embeddings([row[0] for row in rows], ENCODER_ID)) == 6
        stored_vectors(s, [row[0] for row in rows], [row[1] for row in rows])
    assert sum(counted_encoder) == encoded  # read from the store, not encoded again
    r = cli("predict", export, "-o", tmp_path / "fast.csv", "--into-db", "--db", tmp_path / "fast.db", "--fast",
            "--workers", "1", "-q")
    assert r.exit_code == 0, r.stderr
    with Store(tmp_path / "fast.db") as s:
        assert s.db.execute("SELECT count(*) FROM embeddings").fetchone()[0] == 0  # words only: nothing read
