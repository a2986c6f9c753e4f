"""Feature extraction for the reason model: analysed texts in, scores or a sparse matrix out.

Contract: `Features(vocabulary, bigram_keys, idf, n_reasons, cue_weight, matcher, char_ngrams)`
defines the model's features; `matrix(analyses)` gives the sparse design matrix for training and
`batch(analyses, coef, intercept)` gives the same linear scores without building it, plus the
per-token contributions that evidence reads. The two agree to rounding (a test checks).

Speed is the point of the layout. Python runs once per token *type* per process (a type table
keyed by the LOWER hash, with each type's feature weights precomputed per reason) and once per
cue match; everything per token is numpy over the whole batch: a sorted-array lookup from hash to
type, a gather of type weights, cumulative sums per text.

Features of a text:

    type features   w:<lower> (not numbers), s:<crude stem>, #num #money #email #url shapes,
                    optional g:<char n-gram>; n:<lower> for a token 1..NEGATION_SCOPE after a
                    negation (negations themselves stay features too: "don't trust" is not "trust")
    bigrams         consecutive LOWER hashes, looked up in bigram_keys
    cue phrases     c:<lang>:<cue> for each codebook cue match
      -> value idf_f * count_f / norm, norm = sqrt(sum_f idf_f^2 * count_f): the l2 norm of the
         idf-weighted occurrences, which a token-by-token sum can compute
    cue counts      cue_weight * log1p(matches) per reason (not normalised: the codebook's voice)
    language        one-hot en / nl

spaCy's lookup lemmatizer is not used: it costs more than half the tokenizer's speed; the crude
suffix stem joins the forms that matter ("charged"/"charges", "bestelling"/"bestellingen").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .nlp import (LANGS, NEGATION_SCOPE, NEGATIONS, SCOPE_BREAKS, Analyses, Analysis, CueMatch, CueMatcher,
                  fast_kernels, pipeline)

BIGRAM_MUL = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: mixes the first hash of a pair
_LANG_SALT = {"en": np.uint64(0), "nl": np.uint64(0x5BD1E9955BD1E995)}
_SALTS = np.array([_LANG_SALT[lang] for lang in LANGS], dtype=np.uint64)  # by LANGS index
_CURRENCY_WORDS = frozenset({"euro", "euros", "eur", "dollar", "dollars", "usd", "pound", "pounds", "gbp",
                             "cent", "cents", "eurocent", "bucks", "quid", "€", "$", "£"})
_EN_SUFFIXES = ("ingly", "edly", "ness", "ment", "ings", "ing", "ies", "ied", "ers", "ed", "es", "er", "ly", "s")
_NL_SUFFIXES = ("heden", "heid", "ingen", "ing", "tjes", "tje", "elijk", "lijk", "ende", "end", "den",
                "ten", "en", "de", "te", "er", "e", "s", "t")
MAX_TYPES = 400_000  # the type table starts afresh beyond this (streaming millions of texts)
_CURRENCY_CHARS = frozenset("€$£¥")


@lru_cache(maxsize=None)
def quiet_words(lang: str) -> frozenset[str]:
    """Words never shown as evidence: the language's stop words, negations included.

    They still count in the scores (a negation turns "trust" into "n:trust"); as evidence they
    say nothing to a researcher ("the", "op", "not", half of a bigram), and on real feedback they
    were half of all evidence spans.
    """
    if lang == "nl":
        from spacy.lang.nl.stop_words import STOP_WORDS
    else:
        from spacy.lang.en.stop_words import STOP_WORDS
    return frozenset(STOP_WORDS) | NEGATIONS.get(lang, frozenset())


def is_fragment(lower: str) -> bool:
    """Not a word a researcher can read as a reason: a bare number or symbol, or a scrap such as
    "nt", "s" or "ll" left by a tokenised contraction. Amounts with a currency sign are words here."""
    if any(ch in _CURRENCY_CHARS for ch in lower):
        return False
    letters = sum(ch.isalpha() for ch in lower)
    return letters == 0 or (letters <= 2 and len(lower) <= 3)


def stem(lower: str, lang: str) -> str:
    """A crude, cheap suffix stem."""
    if len(lower) < 5 or not lower.isalpha():
        return lower
    for suf in (_NL_SUFFIXES if lang == "nl" else _EN_SUFFIXES):
        if lower.endswith(suf) and len(lower) - len(suf) >= 3:
            return lower[: -len(suf)]
    return lower


def type_features(lower: str, lang: str, lex, char_ngrams: int = 0) -> list[str]:
    """Names of the features a token type carries (before the vocabulary filter)."""
    if lex.like_email:
        return ["#email"]
    if lex.like_url:
        return ["#url"]
    feats: list[str] = []
    if lex.is_currency or lower in _CURRENCY_WORDS:
        feats.append("#money")
    if any(ch.isdigit() for ch in lower):
        feats.append("#num")
        if any(ch in "€$£" for ch in lower):
            feats.append("#money")
        return feats
    if lex.is_space:
        return feats
    feats.append("w:" + lower)
    s = stem(lower, lang)
    if s != lower:
        feats.append("s:" + s)
    if char_ngrams >= 3 and len(lower) >= 4 and lower.isalpha():
        padded = f"<{lower}>"
        grams = {padded[i:i + n] for n in range(3, char_ngrams + 1) for i in range(len(padded) - n + 1)}
        feats.extend("g:" + g for g in sorted(grams))
    return feats


def pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A 64-bit key for each (token, next token) pair of LOWER hashes; stable across processes."""
    with np.errstate(over="ignore"):
        return (first.astype(np.uint64) * BIGRAM_MUL) ^ second.astype(np.uint64)


def text_pair_keys(hashes: np.ndarray, lang: str) -> np.ndarray:
    """Pair keys of one text's tokens, salted by language (bigrams are language-specific)."""
    return pair_keys(hashes[:-1], hashes[1:]) ^ _LANG_SALT[lang]


def as_analyses(analyses) -> Analyses:
    """The batch form of analysed texts (a list of `Analysis` is joined once)."""
    if isinstance(analyses, Analyses):
        return analyses
    items = list(analyses)
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(a.arr) for a in items], out=offsets[1:])
    arr = np.concatenate([a.arr for a in items]) if items else np.zeros((0, 2), dtype=np.uint64)
    docs = [a.doc for a in items] if any(a.doc is not None for a in items) else None
    return Analyses([a.text for a in items], [a.lang for a in items], arr, offsets, docs)


def _add_rows(out: np.ndarray, rows: np.ndarray, values: np.ndarray) -> None:
    """out[rows[i]] += values[i] for repeated rows (bincount per column: np.add.at is slow)."""
    for r in range(out.shape[1]):
        out[:, r] += np.bincount(rows, weights=values[:, r], minlength=len(out))


def cue_feature_name(cue) -> str:
    return f"c:{cue.lang}:{cue.phrase}"


class HashIndex:
    """uint64 key -> int value, open addressing with linear probing; lookups vectorised in numpy.

    The keys are spaCy's murmur hashes (already uniform), so the low bits are the slot. A Python
    dict would cost ~50 ns per token; this is a few numpy passes over the whole batch.
    """

    def __init__(self, expected: int = 1024, spread: int = 4):
        self.spread = spread  # slots per key: most lookups of absent keys then stop at an empty slot
        cap = 1 << max(10, int(expected * spread - 1).bit_length())
        self._alloc(cap)
        self.n = 0

    def _alloc(self, cap: int) -> None:
        self.mask = np.uint64(cap - 1)
        self.keys = np.zeros(cap, dtype=np.uint64)
        self.vals = np.full(cap, -1, dtype=np.int64)

    def get(self, q: np.ndarray) -> np.ndarray:
        """Values for keys `q`; -1 where a key is absent."""
        fast = fast_kernels()
        if fast is not None:
            return fast.probe(np.ascontiguousarray(q, dtype=np.uint64), self.keys, self.vals, self.mask)
        return self.get_numpy(q)

    def get_numpy(self, q: np.ndarray) -> np.ndarray:
        """`get` without the compiled kernel: a few numpy passes, then Python for long probe chains."""
        slot = (q & self.mask).astype(np.int64)
        vals = self.vals[slot]
        hit = self.keys[slot] == q
        if hit.all():  # the common case once the type table is warm
            return vals
        out = np.where(hit, vals, -1)
        pending = np.nonzero(~hit & (vals >= 0))[0]  # slot taken by another key: probe on
        ps = slot[pending]
        mask = int(self.mask)
        rounds = 0
        while len(pending) > 64 and rounds < 8:
            rounds += 1
            ps = (ps + 1) & mask
            vals = self.vals[ps]
            hit = self.keys[ps] == q[pending]
            out[pending[hit]] = vals[hit]
            keep = ~hit & (vals >= 0)
            pending, ps = pending[keep], ps[keep]
        K, V = self.keys, self.vals
        for i, k, sl in zip(pending.tolist(), q[pending].tolist(), ps.tolist()):
            sl = (sl + 1) & mask
            while V[sl] >= 0:
                if K[sl] == k:
                    out[i] = V[sl]
                    break
                sl = (sl + 1) & mask
        return out

    def add(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert new keys (not already present)."""
        if (self.n + len(keys)) * self.spread > len(self.keys):
            old_k, old_v = self.keys[self.vals >= 0], self.vals[self.vals >= 0]
            cap = len(self.keys)
            while (self.n + len(keys)) * self.spread > cap:
                cap *= 2
            self._alloc(cap)
            self.n = 0
            self._insert(old_k, old_v)
        self._insert(np.asarray(keys, dtype=np.uint64), np.asarray(values, dtype=np.int64))

    def _insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        mask = int(self.mask)
        K, V = self.keys, self.vals
        for k, v in zip(keys.tolist(), values.tolist()):
            s = k & mask
            while V[s] >= 0:
                s = (s + 1) & mask
            K[s] = k
            V[s] = v
        self.n += len(keys)


NEG, BREAK, PUNCT, SINGLE, STEM2, STEM2B = 1, 2, 4, 8, 16, 32  # type flags


@dataclass
class Tokens:
    """The tokens of a batch, concatenated: what both the matrix and the scores are built from."""

    analyses: Analyses
    offsets: np.ndarray  # (n + 1) token offsets of each text
    doc_of: np.ndarray  # per token: its text
    gid: np.ndarray  # per token: row in the type table
    scoped: np.ndarray  # positions of tokens inside a negation scope
    pair_pos: np.ndarray  # positions p whose bigram (p, p+1) is a feature
    pair_feat: np.ndarray  # ... and that feature
    m_doc: np.ndarray  # cue matches, sorted by text: text, cue id, token start/end within the text
    m_cue: np.ndarray
    m_start: np.ndarray
    m_end: np.ndarray
    m_offsets: np.ndarray  # (n + 1) offsets of each text's matches
    cue_counts: np.ndarray  # (n, reasons)
    arr: np.ndarray  # (tokens, 2): LOWER hash, character offset
    flags: np.ndarray  # per token: its type's flags (NEG, BREAK, PUNCT, SINGLE, STEM2)

    def cues_of(self, d: int) -> list[CueMatch]:
        a, b = int(self.m_offsets[d]), int(self.m_offsets[d + 1])
        return [CueMatch(c, s, e) for c, s, e in zip(self.m_cue[a:b].tolist(), self.m_start[a:b].tolist(),
                                                       self.m_end[a:b].tolist())]


@dataclass
class Batch:
    """Scores of a batch and what evidence needs."""

    tokens: Tokens
    scores: np.ndarray  # (n, reasons) uncalibrated log-odds
    token_scores: np.ndarray  # (tokens, reasons): each token's contribution (words, stem, negation, bigrams)
    norms: np.ndarray  # (n,) the text part's norm


class Features:
    """The model's features; keeps a per-process type table (hash -> features, weights)."""

    def __init__(self, vocabulary: Sequence[str], bigram_keys: np.ndarray, idf: np.ndarray,
                 n_reasons: int, cue_weight: float, matcher: CueMatcher, char_ngrams: int = 0,
                 coef: np.ndarray | None = None, keep_names: bool = False):
        self.vocabulary = list(vocabulary)
        self.index = {f: i for i, f in enumerate(self.vocabulary)}
        self.bigram_keys = np.asarray(bigram_keys, dtype=np.uint64)
        self.n_types = len(self.vocabulary)
        self.n_text = self.n_types + len(self.bigram_keys)
        self.idf = np.asarray(idf, dtype=np.float64) if len(idf) else np.ones(self.n_text)
        self.idf2 = self.idf ** 2
        self.n_reasons = n_reasons
        self.n_features = self.n_text + n_reasons + len(LANGS)
        self.cue_weight = float(cue_weight)
        self.matcher = matcher
        self.char_ngrams = int(char_ngrams or 0)
        self.keep_names = keep_names  # remember every type's feature names (vocabulary learning)
        self.cue_feat = np.array([self.index.get(cue_feature_name(c), -1) for c in matcher.cues], dtype=np.int64)
        self.cue_reason = np.asarray(matcher.cue_reason, dtype=np.int64)
        self._max_cue = matcher.max_len()
        # One table for every word pair that matters: bigram features and multi-word cue starts.
        info: dict[int, list] = {}
        for j, k in enumerate(self.bigram_keys.tolist()):
            info.setdefault(k, [-1, -1, False])[0] = self.n_types + j
        # A pair that starts longer cues is checked word by word only where its third word can
        # continue one (`_triples`), unless one of its cues ends there or in a stem (`always`).
        always: set[int] = set()
        triples: set[int] = set()
        strings = {lang: pipeline(lang).vocab.strings for lang in LANGS}
        for lang, h0, h1, cid, complete in matcher.pairs:
            k = int(pair_keys(np.array([h0], dtype=np.uint64), np.array([h1], dtype=np.uint64))[0] ^ _LANG_SALT[lang])
            entry = info.setdefault(k, [-1, -1, False])
            if complete and entry[1] < 0 and not entry[2]:
                entry[1] = cid
            else:  # longer cues or several cues on one pair: checked word by word
                if entry[1] >= 0 or complete:
                    always.add(k)
                entry[1] = -1
                entry[2] = True
            toks = matcher.cues[cid].tokens
            if len(toks) >= 3 and not (matcher.cues[cid].stem and len(toks) == 3):
                h2 = strings[lang].add(toks[2])
                triples.add(int(pair_keys(np.array([k], dtype=np.uint64), np.array([h2], dtype=np.uint64))[0]))
            elif len(toks) >= 3:
                always.add(k)
        keys = np.fromiter(info.keys(), dtype=np.uint64, count=len(info))
        vals = list(info.values())
        self._pair_bigram = np.array([v[0] for v in vals], dtype=np.int64)
        self._pair_cue = np.array([v[1] for v in vals], dtype=np.int64)
        self._pair_more = np.array([v[2] for v in vals], dtype=bool)
        self._pair_always = np.array([k in always for k in info], dtype=bool)
        self._pairs = HashIndex(max(1, len(keys)), spread=16)
        self._pairs.add(keys, np.arange(len(keys), dtype=np.int64))
        self._triples = HashIndex(max(1, len(triples)), spread=16)
        self._triples.add(np.fromiter(triples, dtype=np.uint64, count=len(triples)),
                          np.zeros(len(triples), dtype=np.int64))
        self.coef = None if coef is None else np.asarray(coef, dtype=np.float64)
        if self.coef is not None:
            wc = self.coef[:, : self.n_text] * self.idf[None, :]
            self._wtext = np.ascontiguousarray(wc.T)  # (n_text, reasons)
        self._lock = threading.Lock()
        self._reset_types()

    # -- the type table ------------------------------------------------------------------------

    def _reset_types(self) -> None:
        R = self.n_reasons
        self._index = HashIndex()
        self._n = 0
        cap = 1024
        self._feats: list[np.ndarray] = []
        self._names: list[list[str]] = []
        self._lower: list[str] = []
        self._single: dict[int, tuple[int, ...]] = {}
        self._flags = np.zeros(cap, dtype=np.uint8)
        self._neg_feat = np.full(cap, -1, dtype=np.int64)
        self._single1 = np.full(cap, -1, dtype=np.int64)
        self._single_more = np.zeros(cap, dtype=bool)
        self._len = np.zeros(cap, dtype=np.int64)  # characters of the type (for evidence spans)
        self._quiet = np.zeros(cap, dtype=bool)  # punctuation, space, quiet words: never evidence
        self._q = np.zeros(cap)
        self._qn = np.zeros(cap)
        # float32: half the memory traffic of the per-token gather; sums stay well within 1e-5
        self._w = np.zeros((cap, R), dtype=np.float32) if self.coef is not None else None
        self._wn = np.zeros((cap, R), dtype=np.float32) if self.coef is not None else None

    _ARRAYS = ("_flags", "_neg_feat", "_single1", "_single_more", "_len", "_quiet", "_q", "_qn", "_w", "_wn")

    def _grow(self, need: int) -> None:
        cap = len(self._q)
        if need <= cap:
            return
        new = max(need, cap * 2)
        for name in self._ARRAYS:
            a = getattr(self, name)
            if a is None:
                continue
            out = np.full((new,) + a.shape[1:], -1 if name in ("_neg_feat", "_single1") else 0, dtype=a.dtype)
            out[:cap] = a
            setattr(self, name, out)

    def _add_types(self, keys: np.ndarray, hashes: np.ndarray, langs: list[str]) -> None:
        """Describe new token types (one Python step each) and add them to the table."""
        start = self._n
        self._grow(start + len(keys))
        index = self.index
        matcher = self.matcher
        vocabs = {lang: pipeline(lang).vocab for lang in set(langs)}
        for j, (h, lang) in enumerate(zip(hashes.tolist(), langs)):
            g = start + j
            lex = vocabs[lang][h]
            lower = lex.orth_
            names = type_features(lower, lang, lex, self.char_ngrams)
            feats = np.asarray([index[f] for f in names if f in index], dtype=np.int64)
            self._feats.append(feats)
            if self.keep_names:
                self._names.append(names)
            self._lower.append(lower)
            self._len[g] = len(lower)
            self._quiet[g] = lex.is_punct or lex.is_space or lower in quiet_words(lang) or is_fragment(lower)
            nf = index.get("n:" + lower, -1)
            self._neg_feat[g] = nf
            single, stem2 = matcher.type_cues(lang, lower)
            flags = (NEG if lower in NEGATIONS[lang] else 0) | (PUNCT if lex.is_punct else 0) \
                | (BREAK if lex.is_punct or lower in SCOPE_BREAKS else 0) | (STEM2 if stem2 else 0) \
                | (STEM2B if matcher.second_stem(lang, lower) else 0)
            if single:
                flags |= SINGLE
                self._single[g] = single
                self._single1[g] = single[0]
                self._single_more[g] = len(single) > 1
            self._flags[g] = flags
            if len(feats):
                self._q[g] = self.idf2[feats].sum()
                if self._w is not None:
                    self._w[g] = self._wtext[feats].sum(axis=0)
            if nf >= 0:
                self._qn[g] = self.idf2[nf]
                if self._wn is not None:
                    self._wn[g] = self._wtext[nf]
        self._n = start + len(keys)
        self._index.add(keys, np.arange(start, self._n, dtype=np.int64))

    def _lookup(self, keys: np.ndarray, hashes: np.ndarray, offsets: np.ndarray, analyses: Analyses) -> np.ndarray:
        gid = self._index.get(keys)
        miss = np.nonzero(gid < 0)[0]
        if len(miss):
            owners = np.searchsorted(offsets, miss, side="right") - 1
            got = self._add_missing(keys[miss], hashes[miss], owners, analyses.langs)
            if got is None:
                # Start afresh (streaming millions of texts); this batch's types come back first.
                with self._lock:
                    self._reset_types()
                owners = np.searchsorted(offsets, np.arange(len(keys)), side="right") - 1
                return self._add_missing(keys, hashes, owners, analyses.langs, full_ok=True)
            gid[miss] = got
        return gid

    def _add_missing(self, keys: np.ndarray, hashes: np.ndarray, owners: np.ndarray, langs: list[str],
                     full_ok: bool = False) -> np.ndarray | None:
        """Type ids of tokens the table lacked (owners: each token's text), adding the new types;
        None when they would overflow MAX_TYPES (unless `full_ok`)."""
        with self._lock:  # one suggester may serve several threads (UI workers)
            gid = self._index.get(keys)
            new = np.flatnonzero(gid < 0)
            if len(new):
                if not full_ok and self._n + len(new) > MAX_TYPES:
                    return None
                new_keys, first = np.unique(keys[new], return_index=True)
                where = new[first]
                self._add_types(new_keys, hashes[where], [langs[o] for o in owners[where].tolist()])
                gid = self._index.get(keys)
        return gid

    def _scan(self, fast, analyses: Analyses, salt: np.ndarray):
        """(gid, flags, doc_of, pair positions, pair values) from the compiled pass, new types
        added as in `_lookup`. None when the type table must start afresh (the numpy path then
        redoes the batch)."""
        idx, pairs = self._index, self._pairs
        arr = np.ascontiguousarray(analyses.arr)
        gid, flags, doc_of, hp, hv = fast.scan(arr, analyses.offsets, salt, idx.keys, idx.vals, idx.mask, self._flags,
                                               pairs.keys, pairs.vals, pairs.mask, BIGRAM_MUL)
        miss = np.flatnonzero(gid < 0)
        if len(miss):
            hashes = arr[:, 0][miss]
            got = self._add_missing(hashes ^ salt[doc_of[miss]], hashes, doc_of[miss], analyses.langs)
            if got is None:
                return None
            gid[miss] = got
            flags[miss] = self._flags[got]
        return gid, flags, doc_of, hp, hv

    def type_names(self, g: int) -> list[str]:
        return self._names[g]

    def lower_of(self, g: int) -> str:
        return self._lower[g]

    # -- tokens of a batch ---------------------------------------------------------------------

    def tokens(self, analyses: Analyses | Sequence[Analysis]) -> Tokens:
        analyses = as_analyses(analyses)
        n = len(analyses)
        offsets = analyses.offsets
        lens = np.diff(offsets)
        total = int(offsets[-1])
        R = self.n_reasons
        empty = np.zeros(0, dtype=np.int64)
        if not total:
            return Tokens(analyses, offsets, empty, empty, empty, empty, empty, empty, empty, empty, empty,
                          np.zeros(n + 1, dtype=np.int64), np.zeros((n, R)), np.zeros((0, 2), dtype=np.uint64),
                          np.zeros(0, dtype=np.uint8))
        arr = analyses.arr
        hashes = arr[:, 0]
        salt = _SALTS[analyses.lang_code]
        fast = fast_kernels()
        scanned = self._scan(fast, analyses, salt) if fast is not None else None
        if scanned is not None:
            gid, flags, doc_of, hp, hv = scanned
        else:
            tok_salt = np.repeat(salt, lens) if salt.any() else None
            keys = hashes ^ tok_salt if tok_salt is not None else np.ascontiguousarray(hashes)
            doc_of = np.repeat(np.arange(n, dtype=np.int64), lens)
            gid = self._lookup(keys, hashes, offsets, analyses)
            flags = self._flags[gid]
        flagged = np.nonzero(flags)[0]  # most tokens carry no flag: work on the few that do
        fl = flags[flagged]

        # Negation scope: the NEGATION_SCOPE tokens after a negation, stopped by punctuation,
        # "but", or the end of the text; walked from the (few) negations, not over every token.
        negpos = flagged[(fl & NEG) != 0]
        scoped_parts = []
        if len(negpos):
            cur = negpos
            alive = np.ones(len(negpos), dtype=bool)
            home = doc_of[negpos]
            for _ in range(NEGATION_SCOPE):
                cur = np.minimum(cur + 1, total - 1)
                f = flags[cur]
                alive &= (doc_of[cur] == home) & ((f & BREAK) == 0) & (cur > negpos)
                scoped_parts.append(cur[alive & ((f & NEG) == 0)])
        scoped = np.unique(np.concatenate(scoped_parts)) if scoped_parts else empty

        # Word pairs: bigram features and the starts of multi-word cues, one lookup.
        md, mc, ms, me = [], [], [], []
        pair_pos = pair_feat = empty
        if total > 1:
            if scanned is None:
                pk = pair_keys(hashes[:-1], hashes[1:])
                if tok_salt is not None:
                    pk ^= tok_salt[:-1]
                val = self._pairs.get(pk)
                hp = np.nonzero(val >= 0)[0]
                hp = hp[doc_of[hp] == doc_of[hp + 1]]
                hv = val[hp]
            if len(hp):
                bf = self._pair_bigram[hv]
                keep = bf >= 0
                pair_pos, pair_feat = hp[keep], bf[keep]
                cue = self._pair_cue[hv]
                two = cue >= 0
                if two.any():
                    md.append(doc_of[hp[two]])
                    mc.append(cue[two])
                    ms.append(hp[two])
                    me.append(hp[two] + 2)
                more = self._pair_more[hv]
                check = hp[more]
                if len(check):
                    # Keep a pair-start whose third word can continue a cue (or that always needs a look).
                    c3 = np.minimum(check + 2, total - 1)
                    k3 = pair_keys(pair_keys(hashes[check], hashes[check + 1]) ^ salt[doc_of[check]], hashes[c3])
                    ok = self._pair_always[hv[more]] | ((self._triples.get(k3) >= 0) & (check + 2 < total)
                                                        & (doc_of[c3] == doc_of[check]))
                    check = check[ok]
            else:
                check = empty
            stem2 = flagged[(fl & STEM2) != 0]
            stem2 = stem2[stem2 < total - 1]
            if len(stem2):
                # A two-word cue ending in a stem needs a next word that starts with such a stem.
                stem2 = stem2[(doc_of[stem2] == doc_of[stem2 + 1]) & ((flags[stem2 + 1] & STEM2B) != 0)]
                check = np.union1d(check, stem2)
            if len(check):
                extra = []
                lowers = self._lower
                langs = analyses.langs
                for p, d in zip(check.tolist(), doc_of[check].tolist()):
                    end = min(int(offsets[d + 1]), p + self._max_cue)
                    rest = [lowers[x] for x in gid[p + 1:end].tolist()]
                    for cid, length in self.matcher.continues(langs[d], lowers[int(gid[p])], rest):
                        extra.append((d, cid, p, p + length))
                if extra:
                    e = np.array(extra, dtype=np.int64)
                    md.append(e[:, 0])
                    mc.append(e[:, 1])
                    ms.append(e[:, 2])
                    me.append(e[:, 3])

        # Single-word cues come with the type.
        sp_ = flagged[(fl & SINGLE) != 0]
        if len(sp_):
            g1 = gid[sp_]
            md.append(doc_of[sp_])
            mc.append(self._single1[g1])
            ms.append(sp_)
            me.append(sp_ + 1)
            for k in np.nonzero(self._single_more[g1])[0].tolist():
                for cid in self._single[int(g1[k])][1:]:
                    md.append(doc_of[sp_[k:k + 1]])
                    mc.append(np.array([cid]))
                    ms.append(sp_[k:k + 1])
                    me.append(sp_[k:k + 1] + 1)
        if md:
            m_doc = np.concatenate(md)
            order = np.argsort(m_doc, kind="stable")
            m_doc = m_doc[order]
            base = offsets[m_doc]
            m_cue = np.concatenate(mc)[order]
            m_start = np.concatenate(ms)[order] - base
            m_end = np.concatenate(me)[order] - base
        else:
            m_doc = m_cue = m_start = m_end = empty
        m_offsets = np.searchsorted(m_doc, np.arange(n + 1))
        cue_counts = np.bincount(m_doc * R + self.cue_reason[m_cue], minlength=n * R).reshape(n, R).astype(float)
        return Tokens(analyses, offsets, doc_of, gid, scoped, pair_pos, pair_feat, m_doc, m_cue, m_start, m_end,
                      m_offsets, cue_counts, arr, flags)

    def _cue_entries(self, t: Tokens) -> tuple[np.ndarray, np.ndarray]:
        f = self.cue_feat[t.m_cue]
        sel = f >= 0
        return t.m_doc[sel], f[sel]

    def _dense_part(self, t: Tokens) -> np.ndarray:
        n = len(t.analyses)
        dense = np.zeros((n, self.n_reasons + len(LANGS)))
        dense[:, : self.n_reasons] = self.cue_weight * np.log1p(t.cue_counts)
        dense[np.arange(n), self.n_reasons + t.analyses.lang_code] = 1.0
        return dense

    # -- training: the design matrix -----------------------------------------------------------

    def matrix(self, analyses: Analyses | Sequence[Analysis]):
        import scipy.sparse as sp  # training only: ~0.4 s that `predict --fast` does without

        t = self.tokens(analyses)
        n = len(analyses)
        g = t.gid
        lens = np.fromiter((len(self._feats[x]) for x in g.tolist()), dtype=np.int64, count=len(g))
        rows = [np.repeat(t.doc_of, lens)]
        cols = [np.concatenate([self._feats[x] for x in g.tolist()]) if lens.sum() else np.zeros(0, dtype=np.int64)]
        nf = self._neg_feat[g[t.scoped]]
        rows.append(t.doc_of[t.scoped][nf >= 0])
        cols.append(nf[nf >= 0])
        rows.append(t.doc_of[t.pair_pos])
        cols.append(t.pair_feat)
        cr, cc = self._cue_entries(t)
        rows.append(cr)
        cols.append(cc)
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        A = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(n, self.n_text))
        A.sum_duplicates()
        sq = np.asarray(A.multiply(self.idf2[None, :]).sum(axis=1)).ravel()
        norms = np.sqrt(sq)
        norms[norms == 0] = 1.0
        A = sp.csr_matrix(sp.diags(1.0 / norms) @ A.multiply(self.idf[None, :]))
        return sp.hstack([A, sp.csr_matrix(self._dense_part(t))], format="csr")

    # -- prediction: scores without the matrix -------------------------------------------------

    def batch(self, analyses: Analyses | Sequence[Analysis], intercept: np.ndarray) -> Batch:
        """Linear scores (n, reasons) = X @ coef.T + intercept, computed token by token: each
        token's type weights and their per-text sums (compiled, or numpy), then the few
        negation-scope and word-pair contributions on top."""

        t = self.tokens(analyses)
        n = len(t.analyses)
        g = t.gid
        fast = fast_kernels()
        if fast is not None and len(g):
            tok, text_sum, sq = fast.gather_sum(g, t.offsets, self._w, self._q)
        else:
            tok, text_sum, sq = self._gather_sum(g, t.offsets)
        if len(t.scoped):
            s = t.scoped
            wn = self._wn[g[s]]
            tok[s] += wn
            _add_rows(text_sum, t.doc_of[s], wn)
            sq += np.bincount(t.doc_of[s], weights=self._qn[g[s]], minlength=n)
        if len(t.pair_pos):
            w = self._wtext[t.pair_feat] * 0.5
            tok[t.pair_pos] += w
            tok[t.pair_pos + 1] += w
            _add_rows(text_sum, t.doc_of[t.pair_pos], 2 * w)
            sq += np.bincount(t.doc_of[t.pair_pos], weights=self.idf2[t.pair_feat], minlength=n)
        return self._finish(t, tok, text_sum, sq, intercept)

    def _gather_sum(self, g: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What `_fast.gather_sum` gives, in numpy: per-token weights, per-text sums of weights and q."""
        n = len(offsets) - 1
        tok = self._w[g]
        text_sum = np.zeros((n, self.n_reasons))
        sq = np.zeros(n)
        if len(g):
            # reduceat gives an empty text its next token, so those are zeroed.
            starts = offsets[:-1]
            k = int(np.searchsorted(starts, len(g)))  # texts after this one are empty and at the end
            text_sum[:k] = np.add.reduceat(tok, starts[:k], axis=0, dtype=np.float64)
            sq[:k] = np.add.reduceat(self._q[g], starts[:k])
            empty = starts == offsets[1:]
            if empty.any():
                text_sum[empty] = 0.0
                sq[empty] = 0.0
        return tok, text_sum, sq

    def _finish(self, t: Tokens, tok: np.ndarray, text_sum: np.ndarray, sq: np.ndarray, intercept) -> Batch:
        """Cue features, the norm and the dense part: scores from the per-text sums."""
        n = len(t.analyses)
        coef = self.coef
        cr, cc = self._cue_entries(t)
        if len(cr):
            _add_rows(text_sum, cr, self._wtext[cc])
            sq += np.bincount(cr, weights=self.idf2[cc], minlength=n)
        norms = np.sqrt(sq)
        norms[norms == 0] = 1.0
        scores = text_sum / norms[:, None] + self._dense_part(t) @ coef[:, self.n_text:].T + intercept
        return Batch(t, scores, tok, norms)
