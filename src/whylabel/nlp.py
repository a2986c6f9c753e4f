"""Language work: language detection, spaCy pipelines, token analysis and cue-phrase matching.

Contract: everything here is offline. `pipeline(lang)` builds `spacy.blank("nl")` /
`spacy.blank("en")` once per process (only the tokenizer is used: it is the floor cost, and a
lookup lemmatizer would cost more than it earns); nothing is ever downloaded. `detect_language`
is cheap enough to run per text. `analyse(texts, langs)` tokenises a batch once and returns, per
text, the spaCy `Doc`, its lower-case token hashes (numpy) and the codebook cue phrases found in
it; the cue matcher and the model features (`whylabel.features`) both read that one analysis, so a
text is tokenised exactly once however many consumers it has.

Cue syntax (the codebook's): lower case, matched token by token with the same tokenizer; a
trailing `*` on the last word matches any token starting with that stem.
"""

from __future__ import annotations

import re
from operator import itemgetter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

LANGS = ("en", "nl")
DEFAULT_LANG = "en"
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_SPLIT_TABLE = str.maketrans({c: " " for c in ".,;:!?()[]{}\"/\\|<>*+=~#@&%$€£…“”‘’-_\t\n\r"})

# Frequent words of customer feedback that are not stop words but belong to one language only:
# they carry the decision on short texts ("te duur", "slow delivery") where no stop word occurs.
_EXTRA = {
    "en": "delivery shipping order ordered price prices expensive cheap refund return returns quality "
          "size fits fit great good bad love nice thanks thank please never still again don't didn't "
          "can't won't isn't doesn't wasn't i'm it's delivered arrived customer service item product "
          "money worth size small large broken app website card payment charged waiting",
    "nl": "bestelling besteld levering bezorging bezorgd verzending verzendkosten prijs prijzen duur "
          "goedkoop retour retourneren terugbetaling kwaliteit maat past passen goed slecht mooi fijn "
          "bedankt dank graag nooit nog steeds weer ontvangen geleverd klantenservice product geld "
          "waard kapot kaart betaling betaald wachten ik je jij we wij het een de niet geen wel "
          "heb heeft hebben ben zijn mijn onze jullie maar ook dat dit die wat waarom hoe echt "
          "erg heel veel beetje gewoon even al alleen toch dus want omdat pakket winkel webshop",
}
# Letter patterns that are frequent in one language and rare in the other: the last resort for a
# text with no known word at all (a product name, "Top!!", "Supersnel").
_CHAR_HINTS = {
    "en": re.compile(r"th|wh|sh|ck|ing\b|ly\b|ea|ou\b|w[aeio]"),
    "nl": re.compile(r"ij|oe|aa|uu|ui|sch|cht|\bge|ee[^\W\d_]|lijk|je\b|tje"),
}


@lru_cache(maxsize=1)
def _lang_words() -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per language: (its exclusive stop words, its exclusive feedback words)."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.nl.stop_words import STOP_WORDS as NL

    en_extra, nl_extra = set(_EXTRA["en"].split()), set(_EXTRA["nl"].split())
    en_all, nl_all = set(EN) | en_extra, set(NL) | nl_extra
    # Words common to both languages ("is", "in", "was", "over", "product"...) tell nothing.
    return {
        "en": (frozenset(set(EN) - nl_all), frozenset(en_extra - nl_all)),
        "nl": (frozenset(set(NL) - en_all), frozenset(nl_extra - en_all)),
    }


def detect_language(text: str, default: str | None = None) -> str | None:
    """"nl" or "en" from language-exclusive words (feedback words count double, letter patterns
    break a tie); `default` when there is no signal."""
    if not text:
        return default
    words = _lang_words()
    tokens = set(text.lower().translate(_SPLIT_TABLE).split())
    en = len(tokens & words["en"][0]) + 2 * len(tokens & words["en"][1])
    nl = len(tokens & words["nl"][0]) + 2 * len(tokens & words["nl"][1])
    if en == nl:
        low = text.lower()
        hint_en = len(_CHAR_HINTS["en"].findall(low))
        hint_nl = len(_CHAR_HINTS["nl"].findall(low))
        # Letter patterns are a weak signal: demand a clear lead before overruling the default.
        if abs(hint_en - hint_nl) < 2:
            return default
        return "en" if hint_en > hint_nl else "nl"
    return "en" if en > nl else "nl"


# How exports write the two languages: codes, locale tags ("nl-BE", "en_GB") and names.
_LANG_NAMES = {"en": ("en", "eng", "english", "engels"),
               "nl": ("nl", "nld", "dut", "dutch", "nederlands", "vlaams", "flemish")}
_LANG_BY_NAME = {name: lang for lang, names in _LANG_NAMES.items() for name in names}


def normalise_lang(value: object) -> str | None:
    """One of LANGS from a language cell ("NL", "nl-BE", "en_GB", "Dutch", "Nederlands", "eng"), or
    None for an empty cell or a language whylabel does not know ("de"): its text's language is
    then detected where a language is needed, instead of a code the models cannot use."""
    if not value:
        return None
    code = str(value).strip().lower().replace("_", "-").split("-")[0]
    return _LANG_BY_NAME.get(code)


_KNOWN = {lg: lg for lg in LANGS}
_LANG_CODE = {lg: i for i, lg in enumerate(LANGS)}


def resolve_languages(texts: Sequence[str], langs: Sequence[str | None] | None) -> list[str]:
    """The language of each text: the given one when known, else detected, else English."""
    if langs is None:
        return [detect_language(t, DEFAULT_LANG) for t in texts]
    out = list(map(_KNOWN.get, langs))  # type: ignore[arg-type]
    if None in out:
        for i, lang in enumerate(out):
            if lang is None:
                out[i] = normalise_lang(langs[i]) or detect_language(texts[i], DEFAULT_LANG)
    return out


@lru_cache(maxsize=1)
def fast_kernels():
    """The compiled kernels (`whylabel._fast`), or None: not built, switched off with
    WHYLABEL_NO_FAST=1, or built against a spaCy whose Doc layout differs from this one (checked
    here on a real Doc, so a mismatch means the numpy paths, never wrong tokens)."""
    import os

    if os.environ.get("WHYLABEL_NO_FAST"):
        return None
    try:
        from . import _fast
    except ImportError:
        return None
    from spacy.attrs import IDX, LOWER

    doc = pipeline("en").make_doc("Check: the Ünïcode café, don't   we?\n€12,50 https://x.nl")
    arr, lens = _fast.doc_arrays([doc, doc])
    ref = doc.to_array([LOWER, IDX])
    if lens.tolist() != [len(doc)] * 2 or not (arr[: len(doc)] == ref).all() or not (arr[len(doc):] == ref).all():
        return None
    return _fast


# The lexeme attributes whylabel reads (features.py: like_email, like_url, is_currency, is_space,
# is_punct; lower for cues). spaCy computes every getter in Python for each word it has not seen
# yet, and each worker process meets its own new words: the other fifteen (shape, prefix, suffix,
# is_stop...) cost 6-7 % of tokenising short texts and nothing reads them.
LEXEME_ATTRS = ("LOWER", "NORM", "IS_SPACE", "IS_PUNCT", "LIKE_URL", "LIKE_EMAIL", "IS_CURRENCY")


@lru_cache(maxsize=None)
def pipeline(lang: str):
    """The one blank pipeline per language and process (tokenizer only, offline)."""
    import spacy
    from spacy.attrs import IDS

    nlp = spacy.blank(lang if lang in LANGS else DEFAULT_LANG)
    keep = {IDS[name] for name in LEXEME_ATTRS}
    getters = nlp.vocab.lex_attr_getters
    nlp.vocab.lex_attr_getters = {attr: get for attr, get in getters.items() if attr in keep}
    return nlp


def lower_hash(lang: str, text: str) -> int:
    """The hash spaCy gives a lower-case token string (stable across processes)."""
    return pipeline(lang).vocab.strings.add(text)


# Negations are kept as features and mark the scope that follows them: "don't trust" is not "trust".
NEGATIONS = {
    "en": frozenset({"not", "no", "n't", "never", "nothing", "none", "nobody", "nowhere", "without",
                     "cannot", "nor", "neither", "dont", "didnt", "cant", "wont", "isnt", "doesnt", "nt"}),
    "nl": frozenset({"niet", "geen", "nooit", "niets", "niks", "nergens", "niemand", "zonder", "noch",
                     "nimmer"}),
}
SCOPE_BREAKS = frozenset({"but", "however", "although", "though", "maar", "echter", "hoewel", "alhoewel", "want"})
NEGATION_SCOPE = 3  # tokens after a negation that are marked negated


# ------------------------------------------------------------------------------------------------
# Cue phrases


@dataclass(frozen=True)
class Cue:
    id: int
    reason: str
    lang: str
    phrase: str
    tokens: tuple[str, ...]  # lower-case token texts; the last one is a stem when `stem`
    stem: bool


class CueMatch(NamedTuple):
    cue: int  # Cue.id
    start: int  # token indices [start, end)
    end: int


def cue_table(codebook) -> dict[str, dict[str, list[str]]]:
    """reason -> lang -> cue phrases, as plain data (picklable, deep-copyable: estimator parameter)."""
    return {r.name: {lang: list(cues) for lang, cues in r.cues.items()} for r in codebook.reasons}


class CueMatcher:
    """The codebook's cue phrases for both languages, in two equivalent matchers.

    `match_reference(doc, lang)` is spaCy's PhraseMatcher on the LOWER attribute (plus a type check
    for stems): the definition of a match. The fast path used for suggestions asks `type_cues` once
    per token *type* (cached by the feature type table) which single-word cues the type is and
    whether it can start or continue a multi-word cue; only the rare candidate positions are then
    checked with `continues`. A test holds the two to the same matches.
    """

    def __init__(self, cues: Mapping[str, Mapping[str, Sequence[str]]]):
        self.reasons = tuple(cues)
        self.cues: list[Cue] = []
        self._single: dict[str, dict[str, list[int]]] = {}
        self._stems: dict[str, dict[str, list[tuple[str, int]]]] = {}  # lang -> first 2 chars -> [(stem, cue)]
        self._first: dict[str, dict[str, list[int]]] = {}
        self._second: dict[str, set[str]] = {}
        self._second_stems: dict[str, list[str]] = {}
        # Multi-word cues whose second word is exact: (lang, hash of word 1, hash of word 2, cue, is
        # the cue exactly these two words). Two-word cues ending in a stem start at `type_cues`.
        self.pairs: list[tuple[str, int, int, int, bool]] = []
        self._stem2_first: dict[str, set[str]] = {}
        self._phrase = None
        for lang in LANGS:
            nlp = pipeline(lang)
            single: dict[str, list[int]] = {}
            stems: dict[str, list[tuple[str, int]]] = {}
            first: dict[str, list[int]] = {}
            second: set[str] = set()
            second_stems: list[str] = []
            for reason, per_lang in cues.items():
                for phrase in per_lang.get(lang, ()):
                    phrase = phrase.strip().lower()
                    stem = phrase.endswith("*")
                    body = phrase.rstrip("*").strip()
                    if not body:
                        continue
                    toks = tuple(t.lower_ for t in nlp.make_doc(body))
                    cue = Cue(len(self.cues), reason, lang, phrase, toks, stem)
                    self.cues.append(cue)
                    if len(toks) == 1:
                        if stem:
                            stems.setdefault(toks[0][:2], []).append((toks[0], cue.id))
                        else:
                            single.setdefault(toks[0], []).append(cue.id)
                        continue
                    first.setdefault(toks[0], []).append(cue.id)
                    if stem and len(toks) == 2:
                        second_stems.append(toks[1])
                        self._stem2_first.setdefault(lang, set()).add(toks[0])
                    else:
                        second.add(toks[1])
                        self.pairs.append((lang, nlp.vocab.strings.add(toks[0]), nlp.vocab.strings.add(toks[1]),
                                           cue.id, len(toks) == 2 and not stem))
            self._single[lang] = single
            self._stems[lang] = stems
            self._first[lang] = first
            self._second[lang] = second
            self._second_stems[lang] = second_stems
        self.reason_index = {r: i for i, r in enumerate(self.reasons)}
        self.cue_reason = [self.reason_index[c.reason] for c in self.cues]

    def stem_cues(self, lang: str, lower: str) -> tuple[int, ...]:
        """Single-word stem cues a token type matches."""
        return tuple(cid for stem, cid in self._stems[lang].get(lower[:2], ()) if lower.startswith(stem))

    def type_cues(self, lang: str, lower: str) -> tuple[tuple[int, ...], bool]:
        """(single-word cues the type is, does it start a two-word cue that ends in a stem).
        Multi-word cues with an exact second word are found by their first two words (`pairs`)."""
        single = tuple(self._single[lang].get(lower, ())) + self.stem_cues(lang, lower)
        return single, lower in self._stem2_first.get(lang, ())

    def second_stem(self, lang: str, lower: str) -> bool:
        """Can the type be the second word of a two-word cue that ends in a stem?"""
        return any(lower.startswith(st) for st in self._second_stems[lang])

    def continues(self, lang: str, first: str, lowers: Sequence[str]) -> list[tuple[int, int]]:
        """Multi-word cues starting with `first` whose next words are `lowers`: [(cue, length)]."""
        out = []
        for cid in self._first[lang].get(first, ()):
            cue = self.cues[cid]
            rest = cue.tokens[1:]
            if len(lowers) < len(rest):
                continue
            last = len(rest) - 1
            ok = True
            for k, tok in enumerate(rest):
                if not (lowers[k].startswith(tok) if cue.stem and k == last else lowers[k] == tok):
                    ok = False
                    break
            if ok:
                out.append((cid, len(cue.tokens)))
        return out

    def max_len(self) -> int:
        return max((len(c.tokens) for c in self.cues), default=1)

    def match_reference(self, doc, lang: str) -> list[CueMatch]:
        """Every cue match in one Doc with spaCy's PhraseMatcher (overlaps kept), sorted."""
        from spacy.matcher import PhraseMatcher

        if self._phrase is None:
            self._phrase = {}
            for lg in LANGS:
                nlp = pipeline(lg)
                m = PhraseMatcher(nlp.vocab, attr="LOWER")
                for cue in self.cues:
                    if cue.lang != lg or (cue.stem and len(cue.tokens) == 1):
                        continue
                    pattern = cue.tokens[:-1] if cue.stem else cue.tokens
                    m.add(str(cue.id), [nlp.make_doc(" ".join(pattern))])
                self._phrase[lg] = m
        strings = doc.vocab.strings
        out = []
        for key, start, end in self._phrase[lang](doc):
            cue = self.cues[int(strings[key])]
            if cue.stem:
                if end >= len(doc) or not doc[end].lower_.startswith(cue.tokens[-1]):
                    continue
                end += 1
            out.append(CueMatch(cue.id, start, end))
        for i, tok in enumerate(doc):
            for cid in self.stem_cues(lang, tok.lower_):
                out.append(CueMatch(cid, i, i + 1))
        return sorted(set(out), key=lambda m: (m.start, m.end, m.cue))


class Analysis:
    """One text, tokenised once."""

    __slots__ = ("text", "lang", "doc", "arr")

    def __init__(self, text: str, lang: str, doc, arr):
        self.text = text
        self.lang = lang
        self.doc = doc  # spacy.tokens.Doc, or None: keeping a batch of Docs alive costs ~10 % speed
        self.arr = arr  # numpy uint64 (tokens, 2): LOWER hash and character offset of each token

    @property
    def lower(self):
        return self.arr[:, 0]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Character offsets of tokens [start, end) (the tokens are not whitespace tokens)."""
        return int(self.arr[start, 1]), token_end(self.text, self.arr[:, 1], end - 1)


def token_end(text: str, starts, p: int) -> int:
    """Where token `p` ends: the next token's start (or the text's end) less the one space a
    token may carry. Exact for every token but whitespace tokens, which are never evidence."""
    e = int(starts[p + 1]) if p + 1 < len(starts) else len(text)
    return e - 1 if e > int(starts[p]) + 1 and text[e - 1] == " " else e


class Analyses(Sequence):
    """The texts of a batch, tokenised once: the token arrays of all texts concatenated (what the
    features read, with no per-text Python step), and an `Analysis` per text on demand."""

    def __init__(self, texts: list[str], langs: list[str], arr, offsets, docs: list | None = None,
                 lang_code=None):
        import numpy as np

        self.texts = texts
        self.langs = langs
        self.arr = arr  # (tokens, 2) uint64: LOWER hash, character offset
        self.offsets = offsets  # (n + 1) int64: each text's first token
        self.docs = docs
        if lang_code is None:
            lang_code = np.fromiter(map(_LANG_CODE.__getitem__, langs), dtype=np.int64, count=len(langs))
        self.lang_code = lang_code  # index into LANGS

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self.texts)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return Analysis(self.texts[i], self.langs[i], self.docs[i] if self.docs else None,
                        self.arr[self.offsets[i]:self.offsets[i + 1]])

    def __iter__(self):
        return (self[i] for i in range(len(self.texts)))


def analyse(texts: Sequence[str], langs: Sequence[str | None] | None = None, *,
            batch_size: int = 256, keep_docs: bool = False) -> Analyses:
    """Tokenise each text once with its language's pipeline (the Docs only with `keep_docs`:
    everything downstream reads the token array)."""
    import numpy as np
    from spacy.attrs import IDX, LOWER

    attrs = [LOWER, IDX]
    texts = list(texts)
    if set(map(type, texts)) - {str}:
        texts = [t if type(t) is str else ("" if t is None else str(t)) for t in texts]
    resolved = resolve_languages(texts, langs)
    n = len(texts)
    fast = fast_kernels()
    if fast is not None:
        return _analyse_fast(fast, texts, resolved, batch_size, keep_docs)
    arrs: list = [None] * n
    docs: list | None = [None] * n if keep_docs else None
    code = np.fromiter(map(_LANG_CODE.__getitem__, resolved), dtype=np.int64, count=n)
    for k, lang in enumerate(LANGS):
        if n and code.min() == code.max() == k:
            idx = range(n)
        else:
            idx = np.flatnonzero(code == k).tolist()
            if not idx:
                continue
        tokenizer = pipeline(lang).tokenizer
        if type(idx) is range:
            group = texts
        else:
            group = list(itemgetter(*idx)(texts)) if len(idx) > 1 else [texts[idx[0]]]
        stream = tokenizer.pipe(group, batch_size=batch_size)
        if docs is None:
            if type(idx) is range:
                arrs = [doc.to_array(attrs) for doc in stream]
                break
            for i, doc in zip(idx, stream):
                arrs[i] = doc.to_array(attrs)
        else:
            for i, doc in zip(idx, stream):
                arrs[i] = doc.to_array(attrs)
                docs[i] = doc
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n:
        np.cumsum(np.fromiter(map(len, arrs), dtype=np.int64, count=n), out=offsets[1:])
    arr = np.concatenate(arrs).reshape(-1, 2) if n else np.zeros((0, 2), dtype=np.uint64)
    return Analyses(texts, resolved, arr, offsets, docs, code)


def _analyse_fast(fast, texts: list[str], resolved: list[str], batch_size: int, keep_docs: bool) -> Analyses:
    """`analyse` with the tokens read from the Docs by the compiled kernel (same arrays). Each text
    is tokenised, read and dropped in turn (`_fast.tokenize`): a Doc read while it is still in the
    CPU's cache, its memory reused by the next. Kept Docs are read 64 at a time."""
    import numpy as np

    n = len(texts)
    code = np.fromiter(map(_LANG_CODE.__getitem__, resolved), dtype=np.int64, count=n)
    tokenizers = [pipeline(lang).tokenizer for lang in LANGS]
    if not keep_docs:
        arr, lens = fast.tokenize(tokenizers, code, texts)
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lens, out=offsets[1:])
        return Analyses(texts, resolved, arr, offsets, None, code)
    one = tokenizers[int(code[0])] if n and code.min() == code.max() else None
    parts, counts, kept = [], [], []
    for s in range(0, n, 64):
        chunk = texts[s:s + 64]
        if one is not None:
            docs = [one(t) for t in chunk]
        else:
            docs = [tokenizers[c](t) for c, t in zip(code[s:s + 64].tolist(), chunk)]
        a, ln = fast.doc_arrays(docs)
        parts.append(a)
        counts.append(ln)
        kept += docs
    offsets = np.zeros(n + 1, dtype=np.int64)
    if n:
        np.cumsum(np.concatenate(counts), out=offsets[1:])
    arr = np.concatenate(parts) if len(parts) > 1 else (parts[0] if parts else np.zeros((0, 2), dtype=np.uint64))
    return Analyses(texts, resolved, arr, offsets, kept, code)
