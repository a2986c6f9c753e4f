"""Language work: detection, one pipeline per language, cue phrases, negation scope."""

from __future__ import annotations

import pytest

from conftest import sample_reviews
from whylabel.features import Features
from whylabel.nlp import (CueMatcher, analyse, cue_table, detect_language, normalise_lang, pipeline,
                          resolve_languages)
from whylabel.resources import sample_dir


@pytest.fixture(scope="module")
def matcher(codebook):
    return CueMatcher(cue_table(codebook))


def found(matcher, text, lang):
    """Cue phrases the fast path finds in one text, as (phrase, matched text)."""
    a = analyse([text], [lang])
    t = Features([], [], [], len(matcher.reasons), 1.0, matcher).tokens(a)
    out = set()
    for m in t.cues_of(0):
        s, e = a[0].span(m.start, m.end)
        out.add((matcher.cues[m.cue].phrase, text[s:e]))
    return out


@pytest.mark.parametrize("text, lang", [
    ("te duur", "nl"), ("Veel te duur!", "nl"), ("too expensive", "en"), ("never again", "en"),
    ("Supersnel geleverd, top", "nl"), ("Waar blijft mijn pakket?", "nl"), ("Where is my parcel?", "en"),
    ("Ik twijfel over de maat", "nl"), ("not sure about the size", "en"), ("Bestelling kwijt", "nl"),
])
def test_detect_language_on_short_texts(text, lang):
    assert detect_language(text) == lang


def test_detect_language_falls_back_to_the_default_without_a_signal():
    assert detect_language("", "nl") == "nl"
    assert detect_language("123 !!!", "en") == "en"
    assert detect_language("ok", None) is None


def test_given_languages_win_and_unknown_ones_are_detected():
    assert resolve_languages(["the parcel is late", "het pakket is te laat"], ["nl", None]) == ["nl", "nl"]
    assert resolve_languages(["te duur"], ["fr"]) == ["nl"]
    assert resolve_languages(["too expensive"], ["EN"]) == ["en"]
    assert resolve_languages(["te duur", "way too expensive"], ["Nederlands", "en_GB"]) == ["nl", "en"]


@pytest.mark.parametrize("cell, lang", [
    ("nl", "nl"), (" NL ", "nl"), ("nl-BE", "nl"), ("nl_NL", "nl"), ("Nederlands", "nl"), ("Dutch", "nl"),
    ("Vlaams", "nl"), ("nld", "nl"), ("en", "en"), ("EN-us", "en"), ("English", "en"), ("Engels", "en"),
    ("eng", "en"), ("de", None), ("Deutsch", None), ("ne", None), ("enx", None), ("", None), (None, None),
])
def test_a_language_cell_is_read_as_exports_write_it(cell, lang):
    assert normalise_lang(cell) == lang


def test_import_reads_language_cells_as_exports_write_them(cli, tmp_path):
    f = tmp_path / "mixed.csv"
    f.write_text("text,taal\nTe duur voor wat je krijgt,Nederlands\nWay too expensive,en-GB\n"
                 "Viel zu teuer,Deutsch\n", encoding="utf-8")
    assert cli("import", f, "--db", tmp_path / "t.db").exit_code == 0
    from whylabel.store import Store

    with Store(tmp_path / "t.db") as store:
        langs = [r[0] for r in store.db.execute("SELECT lang FROM items ORDER BY id")]
    assert langs == ["nl", "en", None]  # a language whylabel does not know is not stored as if it did


def test_one_pipeline_per_language_and_process():
    assert pipeline("nl") is pipeline("nl")
    assert pipeline("en") is not pipeline("nl")
    assert pipeline("nl").lang == "nl" and pipeline("en").lang == "en"
    assert pipeline("en").pipe_names == []  # a blank pipeline: nothing downloaded


def test_english_cue_phrases_multiword_stems_and_contractions(matcher):
    got = found(matcher, "I don't trust them. The shipping costs were crazy and I'm worried.", "en")
    assert ("don't trust", "don't trust") in got
    assert ("shipping cost*", "shipping costs") in got
    assert ("worried", "worried") in got


def test_dutch_cue_phrases_and_stems(matcher):
    got = found(matcher, "Dit is oplichterij, veel te duur en ik maak me zorgen over mijn gegevens", "nl")
    phrases = {p for p, _ in got}
    assert "oplicht*" in phrases and ("oplicht*", "oplichterij") in got
    assert "me zorgen" in phrases
    assert any(text == "te duur" for p, text in got)


def test_cues_of_one_language_do_not_fire_in_the_other(matcher):
    # "bang" is a Dutch fear cue; in English it is not one.
    assert not any(p == "bang" for p, _ in found(matcher, "this phone is a real bang for your buck", "en"))
    assert any(p == "bang" for p, _ in found(matcher, "ik ben bang dat het niet past", "nl"))


def test_fast_cue_path_equals_spacys_phrase_matcher_on_the_sample(matcher):
    texts, langs = sample_reviews()
    analyses = analyse(texts, langs, keep_docs=True)
    t = Features([], [], [], len(matcher.reasons), 1.0, matcher).tokens(analyses)
    total = 0
    for d, a in enumerate(analyses):
        fast = sorted(set(t.cues_of(d)), key=lambda m: (m.start, m.end, m.cue))
        assert fast == matcher.match_reference(a.doc, a.lang), a.text
        total += len(fast)
    assert total > 100  # the sample is full of cues: the comparison means something


def test_negation_scope_marks_the_words_after_a_negation(matcher):
    text = "I do not trust this shop, but the price is fine"
    a = analyse([text], ["en"], keep_docs=True)
    t = Features([], [], [], len(matcher.reasons), 1.0, matcher).tokens(a)
    words = [tok.lower_ for tok in a[0].doc]
    scoped = {words[p] for p in t.scoped.tolist()}
    assert {"trust", "this", "shop"} <= scoped
    assert not scoped & {"not", "price", "fine", "but", "the"}  # the comma stops the scope


def test_the_batch_analysis_gives_each_text_its_tokens_and_exact_spans():
    texts = ["Way  too expensive ", "te duur\necht", "", "don't trust them"]
    batch = analyse(texts, ["en", "nl", "en", "en"], keep_docs=True)
    assert len(batch) == 4 and batch.offsets.tolist()[0] == 0 and batch.arr.shape[1] == 2
    assert batch.lang_code.tolist() == [0, 1, 0, 0]
    for a in batch:
        assert [a.span(i, i + 1) for i in range(len(a.arr)) if not a.doc[i].is_space] == \
            [(t.idx, t.idx + len(t.text)) for t in a.doc if not t.is_space]
    assert batch[-1].text == "don't trust them" and batch[2].arr.shape == (0, 2)
    with pytest.raises(IndexError):
        batch[4]
    # A list of analyses is joined into the same batch form.
    from whylabel.features import as_analyses

    again = as_analyses(list(batch))
    assert again.texts == batch.texts and (again.arr == batch.arr).all() and (again.offsets == batch.offsets).all()


def test_fast_cue_path_equals_spacys_phrase_matcher_on_support_tickets(matcher):
    import csv

    with open(sample_dir() / "support_tickets.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    col = next(c for c in rows[0] if c.lower() in ("message", "text", "body", "description"))
    texts = [r[col] for r in rows] + ["the shipping costs, shipping cost and delivery times", "I do not trust it"]
    analyses = analyse(texts, None, keep_docs=True)
    t = Features([], [], [], len(matcher.reasons), 1.0, matcher).tokens(analyses)
    total = 0
    for d, a in enumerate(analyses):
        fast = sorted(set(t.cues_of(d)), key=lambda m: (m.start, m.end, m.cue))
        assert fast == matcher.match_reference(a.doc, a.lang), a.text
        total += sum(m.end - m.start > 2 for m in fast)
    assert total > 5  # cue phrases of three or more words occur: the pre-filter is exercised


@pytest.mark.parametrize("lang, text", [
    ("nl", "Retour kost €6,95 - zie https://winkel.nl/retour of mail klantenservice@winkel.nl"),
    ("en", "Shipping was $12 - see https://shop.example.com/terms or mail help@shop.example.com"),
])
def test_the_pipeline_keeps_every_lexeme_attribute_the_features_read(lang, text):
    """spaCy computes only LEXEME_ATTRS for new words: the ones features.py reads must be right."""
    # "§", "⁂" and a run of tabs are words spaCy's own tables do not hold: new lexemes
    doc = pipeline(lang)(text + " § ⁂ \t\t " + text.upper())
    seen = {t.text: t for t in doc}
    assert seen["€" if lang == "nl" else "$"].is_currency
    assert seen["§"].is_punct and seen["⁂"].is_punct and not seen["§"].is_currency
    assert [t.text for t in doc if t.like_url][0].startswith("https://")
    assert sum(t.like_email for t in doc) == 2
    assert [t.text for t in doc if t.is_space] == ["\t\t "]
    upper = [t for t in doc if t.text in ("RETOUR", "SHIPPING")][0]
    assert upper.lower_ == upper.text.lower()
