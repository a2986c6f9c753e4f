# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled per-token loops: what numpy and spaCy's Python API cannot do at the tokenizer's pace.

Optional: `whylabel.nlp` and `whylabel.features` fall back to numpy when this module is not built
(no compiler at install time), with identical results (tests/test_fast.py holds them equal).

- `doc_arrays(docs)`: each token's LOWER hash and character offset, read from the Docs' C arrays
  in one pass (`Doc.to_array` costs ~100 ns a token through its Python layer; this ~1 ns).
- `tokenize(tokenizers, code, texts)`: the same arrays, tokenising and reading one text at a time.
- `probe(q, keys, vals, mask)`: lookups in a `features.HashIndex` table (linear probing).
- `scan(...)` and `gather_sum(...)`: the per-token passes of `Features.tokens` and `Features.batch`.
- `evidence_units(...)`: the per-token scan of each (text, reason) pair in `batch_evidence`.
"""

from libc.stdint cimport int64_t, uint64_t
from spacy.tokens.doc cimport Doc

import numpy as np


def doc_arrays(list docs):
    """(arr, lens): uint64 (tokens, 2) LOWER hash and IDX of every token of every Doc, in order,
    and int64 (docs,) token counts: what `Doc.to_array([LOWER, IDX])` gives, concatenated."""
    cdef Doc doc
    cdef Py_ssize_t n = len(docs), total = 0, j, k = 0, d = 0
    for doc in docs:
        total += doc.length
    arr = np.empty((total, 2), dtype=np.uint64)
    lens = np.empty(n, dtype=np.int64)
    cdef uint64_t[:, ::1] out = arr
    cdef int64_t[::1] ln = lens
    for doc in docs:
        for j in range(doc.length):
            out[k, 0] = doc.c[j].lex.lower
            out[k, 1] = doc.c[j].idx
            k += 1
        ln[d] = doc.length
        d += 1
    return arr, lens


def tokenize(list tokenizers, const int64_t[::1] code, list texts):
    """`doc_arrays` of the texts tokenised one by one, each Doc read and dropped at once: a Doc
    read while it is still in the CPU's cache, and its memory reused by the next (keeping batches
    of Docs alive cost ~5 % of the tokenizer's speed on 250-character texts)."""
    cdef Doc doc
    cdef Py_ssize_t n = len(texts), i, j, k = 0, cap = 64 * n + 64
    arr = np.empty((cap, 2), dtype=np.uint64)
    lens = np.empty(n, dtype=np.int64)
    cdef uint64_t[:, ::1] out = arr
    cdef int64_t[::1] ln = lens
    for i in range(n):
        doc = tokenizers[code[i]](texts[i])
        if k + doc.length > cap:
            cap = 2 * (k + doc.length)
            arr = np.concatenate([arr[:k], np.empty((cap - k, 2), dtype=np.uint64)])
            out = arr
        for j in range(doc.length):
            out[k, 0] = doc.c[j].lex.lower
            out[k, 1] = doc.c[j].idx
            k += 1
        ln[i] = doc.length
    return arr[:k], lens


def probe(const uint64_t[::1] q, const uint64_t[::1] keys, const int64_t[::1] vals, uint64_t mask):
    """Values of keys `q` in an open-addressing table (-1 marks an empty slot and an absent key)."""
    cdef Py_ssize_t i, n = q.shape[0]
    cdef uint64_t s, key
    cdef int64_t v
    res = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] out = res
    with nogil:
        for i in range(n):
            key = q[i]
            s = key & mask
            while True:
                v = vals[s]
                if v < 0:
                    out[i] = -1
                    break
                if keys[s] == key:
                    out[i] = v
                    break
                s = (s + 1) & mask
    return res


cdef inline int64_t _probe(uint64_t key, const uint64_t[::1] keys, const int64_t[::1] vals,
                           uint64_t mask) noexcept nogil:
    cdef uint64_t s = key & mask
    cdef int64_t v
    while True:
        v = vals[s]
        if v < 0 or keys[s] == key:
            return v
        s = (s + 1) & mask


def scan(const uint64_t[:, ::1] arr, const int64_t[::1] offsets, const uint64_t[::1] salts,
         const uint64_t[::1] tkeys, const int64_t[::1] tvals, uint64_t tmask, const unsigned char[::1] tflags,
         const uint64_t[::1] pkeys, const int64_t[::1] pvals, uint64_t pmask, uint64_t mul):
    """One pass over a batch's tokens (`features.Features.tokens`): each token's text, its type
    (-1: not in the table yet) and the type's flags (0 when unknown); and each position p whose
    word pair (p, p+1) inside one text is in the pair table, with the pair's value.

    arr: (tokens, 2) LOWER hash, IDX; offsets: (texts + 1); salts: per text, its language's salt.
    A token's type key is hash ^ salt; a pair's key is (hash_p * mul) ^ hash_p+1 ^ salt.
    """
    cdef Py_ssize_t n = offsets.shape[0] - 1, total = arr.shape[0], d, p, npairs = 0
    cdef uint64_t salt, h, nxt
    cdef int64_t g, v
    gid_a = np.empty(total, dtype=np.int64)
    flags_a = np.empty(total, dtype=np.uint8)
    doc_a = np.empty(total, dtype=np.int64)
    hp_a = np.empty(max(total, 1), dtype=np.int64)
    hv_a = np.empty(max(total, 1), dtype=np.int64)
    cdef int64_t[::1] gid = gid_a, doc_of = doc_a, hp = hp_a, hv = hv_a
    cdef unsigned char[::1] flags = flags_a
    with nogil:
        for d in range(n):
            salt = salts[d]
            for p in range(offsets[d], offsets[d + 1]):
                h = arr[p, 0]
                g = _probe(h ^ salt, tkeys, tvals, tmask)
                gid[p] = g
                flags[p] = tflags[g] if g >= 0 else 0
                doc_of[p] = d
                if p + 1 < offsets[d + 1]:
                    nxt = arr[p + 1, 0]
                    v = _probe(((h * mul) ^ nxt) ^ salt, pkeys, pvals, pmask)
                    if v >= 0:
                        hp[npairs] = p
                        hv[npairs] = v
                        npairs += 1
    return gid_a, flags_a, doc_a, hp_a[:npairs], hv_a[:npairs]


def gather_sum(const int64_t[::1] gid, const int64_t[::1] offsets, const float[:, ::1] W, const double[::1] Q):
    """Per token its type's weights (tokens, reasons) float32, and per text the sums of those
    weights (texts, reasons) and of the types' squared idf (texts,), in float64."""
    cdef Py_ssize_t n = offsets.shape[0] - 1, total = gid.shape[0], R = W.shape[1], d, p, r
    cdef int64_t g
    cdef double acc
    tok_a = np.empty((total, R), dtype=np.float32)
    sums_a = np.zeros((n, R), dtype=np.float64)
    sq_a = np.zeros(n, dtype=np.float64)
    cdef float[:, ::1] tok = tok_a
    cdef double[:, ::1] sums = sums_a
    cdef double[::1] sq = sq_a
    with nogil:
        for d in range(n):
            acc = 0.0
            for p in range(offsets[d], offsets[d + 1]):
                g = gid[p]
                for r in range(R):
                    tok[p, r] = W[g, r]
                    sums[d, r] += W[g, r]
                acc += Q[g]
            sq[d] = acc
    return tok_a, sums_a, sq_a


def evidence_units(const int64_t[::1] off, const int64_t[::1] pd, const int64_t[::1] pr, const float[:, ::1] ts,
                   const double[::1] inv_norm, const unsigned char[::1] quiet, const int64_t[::1] gid):
    """The token units of `ReasonClassifier.batch_evidence`: for each (text pd[i], reason pr[i])
    pair, in order, the positions of its text's tokens that pushed the reason up (ts * inv_norm > 0)
    and are not quiet, with that weight: (pair, position, weight) arrays."""
    cdef Py_ssize_t P = pd.shape[0], i, p, k = 0, total = 0
    cdef int64_t d, r
    cdef double w, scale
    for i in range(P):
        total += off[pd[i] + 1] - off[pd[i]]
    pair_a = np.empty(total, dtype=np.int64)
    pos_a = np.empty(total, dtype=np.int64)
    w_a = np.empty(total, dtype=np.float64)
    cdef int64_t[::1] pair = pair_a, pos = pos_a
    cdef double[::1] wo = w_a
    with nogil:
        for i in range(P):
            d = pd[i]
            r = pr[i]
            scale = inv_norm[d]
            for p in range(off[d], off[d + 1]):
                w = <double>ts[p, r] * scale
                if w > 0 and not quiet[gid[p]]:
                    pair[k] = i
                    pos[k] = p
                    wo[k] = w
                    k += 1
    return pair_a[:k], pos_a[:k], w_a[:k]
