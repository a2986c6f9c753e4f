"""The shipped default model: rebuilt by one command to the same metrics; scored on real text."""

from __future__ import annotations

import json

import pytest

from conftest import SHARED_DATA, sample_reviews
from whylabel.build_default import build
from whylabel.model import CARD_FILE, MODEL_FILE, load_model, load_suggester
from whylabel.resources import default_model_dir, shipped_models_dir

DEFAULT = default_model_dir()
CV_FLOOR = 0.73  # measured 0.761 (5-fold CV, 1,090 sample labels, words + meaning, threshold 0.3)
DEV_FLOOR = 0.52  # measured 0.549 (benchmarks/dev_eval.py, weak and our own labels on real data)
OWN_FLOOR = 0.55  # measured 0.582 (the same, our own labels of 389 real texts only)


@pytest.fixture(scope="module")
def card():
    return json.loads((DEFAULT / CARD_FILE).read_text(encoding="utf-8"))


def test_rebuilding_the_default_model_reproduces_its_metrics_and_predictions(tmp_path, card, codebook):
    """What matters, with tolerances that hold on any x86-64 CPU and BLAS: the solvers' last bits
    differ between machines (weights by ~1e-5), so compare metrics and predictions, not weights."""
    import numpy as np

    result = build(tmp_path / "models")
    assert result.card["label_counts"] == card["label_counts"], "sample_feedback changed: run python -m whylabel.build_default"
    got, shipped_metrics = result.metrics, card["metrics"]
    assert got["macro_f1"] == pytest.approx(shipped_metrics["macro_f1"], abs=0.005)
    for reason, m in shipped_metrics["per_reason"].items():
        assert got["per_reason"][reason]["support"] == m["support"]
        assert got["per_reason"][reason]["f1"] == pytest.approx(m["f1"], abs=0.01), reason
    assert result.card["model_id"].startswith("default-")
    rebuilt = result.suggester
    shipped = load_model(DEFAULT, codebook)
    assert rebuilt.words.vocabulary_ == shipped.words.vocabulary_
    texts, langs = sample_reviews()
    p_rebuilt = rebuilt.predict_proba(texts, langs)
    p_shipped = shipped.predict_proba(texts, langs)
    assert np.abs(p_rebuilt - p_shipped).max() < 2e-3
    same = (p_rebuilt >= rebuilt.threshold) == (p_shipped >= shipped.threshold)
    assert same.mean() >= 0.995
    rebuilt_card = json.loads((tmp_path / "models" / "default" / CARD_FILE).read_text())
    assert rebuilt_card["metrics"]["macro_f1"] == pytest.approx(shipped_metrics["macro_f1"], abs=0.005)


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


def test_evidence_is_never_a_stop_word_a_scrap_or_a_bare_number(codebook):
    """On the whole sample, evidence is words a researcher can read a reason in: never "the",
    "op", "not", a tokenised scrap ("nt") or a number."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.nl.stop_words import STOP_WORDS as NL

    from whylabel.features import is_fragment

    texts, langs = sample_reviews()
    s = load_suggester(codebook, "default", models_dir=shipped_models_dir())
    spans = [(e.text.lower(), lang) for sug, lang in zip(s.suggest(texts, langs), langs)
             for evs in sug.evidence.values() for e in evs]
    assert len(spans) > 300
    assert not [w for w, lang in spans if w in (NL if lang == "nl" else EN)]
    assert not [w for w, _ in spans if is_fragment(w)]
    assert is_fragment("nt") and is_fragment("123") and is_fragment("12,50") and not is_fragment("€12,50")
    (sug,) = s.suggest(["They said it would arrive on Monday and they lied to me again"], ["en"])
    assert "trust" in sug.reasons
    assert sug.evidence["trust"] and not {e.text.lower() for e in sug.evidence["trust"]} & {"they", "on", "and", "to", "it"}
    (sug,) = s.suggest(["I dont know if 2 sizes will fit, 123 days is long"], ["en"])
    assert not [e.text for evs in sug.evidence.values() for e in evs if e.text.lower() in {"nt", "2", "123", "do"}]
