"""The compiled kernels (whylabel._fast) give exactly what the numpy paths give.

Each test runs the same work twice: with the kernels, and with WHYLABEL_NO_FAST=1 (the numpy paths
a machine without a compiler runs), and compares the results.
"""

from __future__ import annotations

import shutil
import sysconfig

import numpy as np
import pytest

from conftest import sample_reviews
from whylabel import nlp
from whylabel.features import HashIndex
from whylabel.model import load_model
from whylabel.resources import default_model_dir

TRICKY = ["", " ", "trailing  ", "a\n", "  leading", "don't trust them!!", "Te duur. Echt niet doen",
          "www.example.nl/retour?id=3 €5,- niet zeker of het past", "I'm not sure... the size? 😊", "x" * 300]



def cxx_compiler() -> str | None:
    """The C++ compiler `pip install` would build the kernels with (Python's CXX), if it is here."""
    cxx = (sysconfig.get_config_var("CXX") or "c++").split()[0]
    return shutil.which(cxx) or shutil.which("c++")


# Without the kernels there is nothing to compare; test_the_kernels_are_built_where_a_compiler_exists
# then says whether that is expected (no compiler) or a broken build (a compiler, but no kernels).
needs_kernels = pytest.mark.skipif(nlp.fast_kernels() is None,
                                   reason="whylabel._fast is not built here (no C++ compiler at install time)")


@pytest.fixture
def numpy_only(monkeypatch):
    """Switch the kernels off for the duration of a `with` block."""
    class Switch:
        def __enter__(self):
            monkeypatch.setenv("WHYLABEL_NO_FAST", "1")
            nlp.fast_kernels.cache_clear()
            assert nlp.fast_kernels() is None

        def __exit__(self, *exc):
            monkeypatch.delenv("WHYLABEL_NO_FAST")
            nlp.fast_kernels.cache_clear()

    yield Switch()
    nlp.fast_kernels.cache_clear()


def texts_and_langs() -> tuple[list[str], list[str]]:
    texts, langs = sample_reviews()
    texts = texts + TRICKY
    return texts, langs + [nlp.detect_language(t, "en") for t in TRICKY]


def test_the_kernels_are_built_where_a_compiler_exists(monkeypatch):
    """`pip install` builds the kernels whenever a C++ compiler is there, and skips them silently
    (optional=True) when the build fails: so with a compiler present, missing kernels are a broken
    build, not a machine without a compiler, and must fail here rather than run a third slower.
    Without a compiler the numpy paths are what runs, and they must work."""
    monkeypatch.delenv("WHYLABEL_NO_FAST", raising=False)
    nlp.fast_kernels.cache_clear()
    try:
        if cxx_compiler():
            assert nlp.fast_kernels() is not None, (
                f"whylabel._fast is missing although a C++ compiler ({cxx_compiler()}) is here: "
                "reinstall (pip install -e .) and read the build output")
        else:  # the numpy paths: the same tokens spaCy gives
            a = nlp.analyse(["Te duur, echt niet doen"], ["nl"], keep_docs=True)
            assert a.offsets.tolist() == [0, 6] and [t.text for t in a.docs[0]] == ["Te", "duur", ",", "echt", "niet", "doen"]
    finally:
        nlp.fast_kernels.cache_clear()


@needs_kernels
def test_token_arrays_equal_spacys_to_array(numpy_only):
    texts, langs = texts_and_langs()
    fast = nlp.analyse(texts, langs)
    with numpy_only:
        ref = nlp.analyse(texts, langs)
    assert fast.offsets.tolist() == ref.offsets.tolist()
    assert fast.arr.dtype == ref.arr.dtype == np.uint64 and (fast.arr == ref.arr).all()
    assert fast.langs == ref.langs
    kept = nlp.analyse(texts[:5], langs[:5], keep_docs=True)
    assert [len(d) for d in kept.docs] == np.diff(kept.offsets).tolist()
    # More tokens than the kernel first makes room for (64 a text): its buffer grows, order kept.
    long = ["ok", "word, " * 400 + "end", "kort", "nog een keer: " * 90]
    fast = nlp.analyse(long, ["en", "en", "nl", "nl"])
    with numpy_only:
        ref = nlp.analyse(long, ["en", "en", "nl", "nl"])
    assert int(fast.offsets[-1]) > 64 * len(long) + 64
    assert fast.offsets.tolist() == ref.offsets.tolist() and (fast.arr == ref.arr).all()


@needs_kernels
def test_hash_lookups_equal_the_numpy_probe():
    rng = np.random.default_rng(1)
    index = HashIndex(expected=500, spread=1)  # a crowded table: long probe chains
    keys = np.unique(rng.integers(0, 2**63, 600, dtype=np.uint64))
    index.add(keys, np.arange(len(keys)))
    clash = (keys[:50] & index.mask) | (np.uint64(1) << np.uint64(62))  # absent keys in taken slots
    q = np.concatenate([keys, rng.integers(0, 2**63, 400, dtype=np.uint64), clash])
    assert (index.get(q) == index.get_numpy(q)).all()
    assert (index.get(keys) == np.arange(len(keys))).all()


@needs_kernels
def test_scores_tokens_and_evidence_equal_the_numpy_path(numpy_only, codebook):
    texts, langs = texts_and_langs()
    fast_s = load_model(default_model_dir(), codebook)
    est = fast_s.words
    a = nlp.analyse(texts, langs)
    got = est.batch(a)
    fast_out = fast_s.suggest(texts, langs)
    with numpy_only:
        ref_s = load_model(default_model_dir(), codebook)
        ref_est = ref_s.words
        ref = ref_est.batch(nlp.analyse(texts, langs))
        ref_out = ref_s.suggest(texts, langs)
    t, r = got.tokens, ref.tokens
    for name in ("offsets", "doc_of", "scoped", "pair_pos", "pair_feat", "m_doc", "m_cue", "m_start", "m_end",
                 "flags"):
        assert np.array_equal(getattr(t, name), getattr(r, name)), name
    assert [est.features.lower_of(g) for g in t.gid.tolist()] == [ref_est.features.lower_of(g) for g in r.gid.tolist()]
    assert np.allclose(got.scores, ref.scores, rtol=0, atol=1e-4)
    assert np.allclose(got.token_scores, ref.token_scores, rtol=0, atol=1e-4)
    assert [s.reasons for s in fast_out] == [s.reasons for s in ref_out]
    assert [{k: [(e.start, e.end, e.text) for e in v] for k, v in s.evidence.items()} for s in fast_out] == \
        [{k: [(e.start, e.end, e.text) for e in v] for k, v in s.evidence.items()} for s in ref_out]
    assert sum(len(s.reasons) for s in fast_out) > 100  # the comparison covers real suggestions


@needs_kernels
def test_new_words_mid_stream_get_types_in_both_paths(numpy_only, codebook):
    """A batch full of words the type table has not seen yet: the kernel's misses go to Python."""
    s = load_model(default_model_dir(), codebook)
    words = [f"zorblax{i} qwerty{i} te duur" for i in range(300)]
    first = s.predict_proba(words, ["nl"] * 300)
    again = s.predict_proba(words, ["nl"] * 300)  # now every type is known
    with numpy_only:
        ref = load_model(default_model_dir(), codebook).predict_proba(words, ["nl"] * 300)
    assert np.allclose(first, ref, atol=1e-4) and np.allclose(again, ref, atol=1e-4)
    assert (first[:, 3] > 0.5).all()  # "te duur": price
