"""The shipped default model: rebuilt by one command to the same metrics; scored on real text."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA, sample_reviews
from whylabel.build_default import build
from whylabel.model import CARD_FILE, MODEL_FILE, load_model, load_suggester
from whylabel.resources import default_model_dir, shipped_models_dir

DEFAULT = default_model_dir()
CV_FLOOR = 0.70  # measured 0.741 (5-fold CV, 1,090 sample labels, threshold 0.35)
DEV_FLOOR = 0.48  # measured 0.514 (benchmarks/dev_eval.py, weak and our own labels on real data)
OWN_FLOOR = 0.49  # measured 0.527 (the same, our own labels of 389 real texts only)


@pytest.fixture(scope="module")
def card():
    return json.loads((DEFAULT / CARD_FILE).read_text(encoding="utf-8"))


def test_rebuilding_the_default_model_reproduces_its_metrics(tmp_path, card, codebook):
    result = build(tmp_path / "models")
    assert result.card["label_counts"] == card["label_counts"], "sample_feedback changed: run python -m whylabel.build_default"
    assert result.metrics == card["metrics"]
    # Same features and the same weights; not the same digest: liblinear's last bits differ between
    # CPUs (about 1e-8 here), and the model id hashes the weights to 10 decimals.
    import numpy as np

    rebuilt = result.suggester.estimator
    shipped = load_model(DEFAULT, codebook).estimator
    assert rebuilt.vocabulary_ == shipped.vocabulary_
    assert (rebuilt.bigram_keys_ == shipped.bigram_keys_).all()
    for name in ("coef_", "intercept_", "calibration_"):
        assert np.allclose(getattr(rebuilt, name), getattr(shipped, name), rtol=0, atol=1e-6), name
    assert result.card["model_id"].startswith("default-")
    assert json.loads((tmp_path / "models" / "default" / CARD_FILE).read_text())["metrics"] == card["metrics"]


def test_the_default_model_is_small_honest_and_loads(codebook, card):
    assert (DEFAULT / MODEL_FILE).stat().st_size < 2_000_000
    assert card["metrics"]["macro_f1"] >= CV_FLOOR
    assert card["metrics"]["ece"] < 0.05
    assert card["codebook_hash"] == codebook.hash and card["languages"].keys() == {"en", "nl"}
    s = load_suggester(codebook, "default", models_dir=shipped_models_dir())
    assert s.model_id == card["model_id"] and s.threshold == card["threshold"]
    out = s.suggest(["The delivery was promised for Monday, still nothing and nobody answers",
                     "Verzendkosten van 6,95 vind ik echt te veel"], ["en", "nl"])
    assert "trust" in out[0].reasons and "price" in out[1].reasons


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data (real feedback) is not on this machine")
def test_out_of_the_box_quality_on_real_weakly_labeled_feedback(codebook):
    from dev_set import OWN_LABELS, load_dev_set, score
    items = load_dev_set(SHARED_DATA)
    assert len(items) > 5000
    s = load_suggester(codebook, "default", models_dir=shipped_models_dir())
    probs = s.predict_proba([i["text"] for i in items], [i["lang"] for i in items])
    result = score(items, probs, s.threshold)
    assert result["macro_f1"] >= DEV_FLOOR, result["per_reason"]
    assert result["per_reason"]["price"]["f1"] >= 0.6
    # Our own labels: every labeled id still names a text of the seeded sample, all six reasons
    # have positives, and the model does about as well on them as measured.
    own = [(it, p) for it, p in zip(items, probs) if it["source"].startswith("own:")]
    with OWN_LABELS.open(encoding="utf-8") as f:
        assert len(own) == sum(1 for _ in f) - 1
    mine = score([it for it, _ in own], [p for _, p in own], s.threshold)
    assert min(m["support"] for m in mine["per_reason"].values()) >= 20
    assert mine["macro_f1"] >= OWN_FLOOR, mine["per_reason"]


def test_evidence_is_never_a_quiet_word_but_negations_and_telling_words_stay(codebook):
    """On the whole sample, evidence is words a researcher can read a reason in, not "the"/"op"."""
    from whylabel.features import quiet_words

    texts, langs = sample_reviews()
    s = load_suggester(codebook, "default", models_dir=shipped_models_dir())
    spans = [(e.text.lower(), lang) for sug, lang in zip(s.suggest(texts, langs), langs)
             for evs in sug.evidence.values() for e in evs]
    assert len(spans) > 300
    assert not [w for w, lang in spans if w in quiet_words(lang)]
    assert {"the", "de", "op", "they", "het"} <= quiet_words("en") | quiet_words("nl")
    assert not {"not", "n't", "niet", "geen", "too", "waarom"} & (quiet_words("en") | quiet_words("nl"))
    (sug,) = s.suggest(["They said it would arrive on Monday and they lied to me again"], ["en"])
    assert "trust" in sug.reasons
    assert sug.evidence["trust"] and not {e.text.lower() for e in sug.evidence["trust"]} & {"they", "on", "and", "to", "it"}
