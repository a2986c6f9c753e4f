"""The words side of the reason model at run time: no scikit-learn, no skops.

Contract: `WordsInference` is what the words model does once fitted (features, scores,
calibrated probabilities, evidence); `ReasonClassifier` (whylabel.model, the scikit-learn
estimator that learns) and `WordsModel` (its arrays, read back from `words.npz`) share it, so both
compute the same numbers by the same code. `ModelSuggester` suggests over either.
`save_words(words, directory)` writes the arrays beside model.skops (one `.npz`, no pickles);
`load_words_suggester(directory, codebook)` reads them back after the card's checks and the
file's SHA-256, or returns None when the folder has no words form (a model saved by an older
whylabel: the caller loads model.skops instead). `whylabel predict --fast` starts here, without
importing scikit-learn, skops or scipy.stats (about 2 s of start-up).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ModelError
from .features import Batch, Features
from .nlp import LANGS, Analysis, CueMatcher, analyse, cue_table, fast_kernels
from .suggestion import Evidence, EvidenceUnits, Suggestion, SuggestionBatch

WORDS_FILE = "words.npz"
WORDS_FORMAT = 1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _split_input(X) -> tuple[list[str], list[str | None] | None]:
    """Texts, or (text, lang) pairs: the two shapes `fit` and `predict_proba` accept."""
    texts, langs, _ = split_items(X)
    return texts, langs


def split_items(X) -> tuple[list[str], list[str | None] | None, list | None]:
    """Texts, (text, lang) pairs or (text, lang, vector) triples -> texts, langs, vectors.

    A vector is an item's sentence embedding computed earlier (the store keeps them), so training
    and suggesting never encode a text twice; None where it is not known yet.
    """
    texts, langs, vectors, any_lang, any_vector = [], [], [], False, False
    for x in X:
        if isinstance(x, (tuple, list)):
            texts.append("" if x[0] is None else str(x[0]))
            langs.append(x[1] if len(x) > 1 else None)
            vectors.append(x[2] if len(x) > 2 else None)
            any_lang = True
            any_vector = any_vector or len(x) > 2
        else:
            texts.append("" if x is None else str(x))
            langs.append(None)
            vectors.append(None)
    return texts, (langs if any_lang else None), (vectors if any_vector else None)


def complete_vectors(texts: Sequence[str], vectors: Sequence | None) -> np.ndarray:
    """An (n, DIM) float32 array: the given vectors, the missing ones encoded now in one batch."""
    from .encoder import DIM, encoder

    out = np.zeros((len(texts), DIM), dtype=np.float32)
    missing = list(range(len(texts)))
    if vectors is not None:
        missing = []
        for i, v in enumerate(vectors):
            if v is None:
                missing.append(i)
            else:
                out[i] = np.asarray(v, dtype=np.float32)
    if missing:
        out[missing] = encoder().encode([texts[i] for i in missing])
    return out


class WordsInference:
    """A fitted words model's run-time behaviour over its arrays: `vocabulary_`, `bigram_keys_`,
    `idf_`, `classes_`, `coef_`, `intercept_`, `calibration_`, `cue_weight`, `char_ngrams`, `cues`."""

    def _cue_param(self) -> dict:
        if self.cues is None:
            from .codebook import load_codebook

            return cue_table(load_codebook())
        return self.cues

    @property
    def matcher(self) -> CueMatcher:
        m = self.__dict__.get("_matcher")
        if m is None:
            m = self._matcher = CueMatcher(self._cue_param())
        return m

    def _make_features(self, coef=None) -> Features:
        return Features(self.vocabulary_, self.bigram_keys_, self.idf_, len(self.classes_), self.cue_weight,
                        self.matcher, int(self.char_ngrams or 0), coef=coef)

    @property
    def features(self) -> Features:
        """The fitted model's features, with its weights folded into the per-process type table."""
        f = self.__dict__.get("_features")
        if f is None:
            self._check()
            f = self._features = self._make_features(self.coef_)
        return f

    def analyse(self, X) -> list[Analysis]:
        texts, langs = _split_input(X)
        return analyse(texts, langs)

    def _check(self) -> None:
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("ReasonClassifier is not fitted yet: call fit first")

    def batch(self, analyses: list[Analysis]) -> Batch:
        return self.features.batch(analyses, self.intercept_)

    def proba_of(self, batch: Batch) -> np.ndarray:
        return _sigmoid(batch.scores * self.calibration_[:, 0] + self.calibration_[:, 1])

    # -- evidence ------------------------------------------------------------------------------

    def evidence(self, batch: Batch, d: int, r: int, top_k: int = 3) -> tuple[Evidence, ...]:
        """The few tokens or cue phrases that pushed reason `r` up most in text `d`."""
        return self.batch_evidence(batch, [d], [r], top_k)[0]

    def batch_evidence(self, batch: Batch, docs: Sequence[int], reasons: Sequence[int],
                       top_k: int = 3) -> list[tuple[Evidence, ...]]:
        """Evidence for many (text, reason) pairs at once: per pair, its spans strongest first."""
        return self.evidence_units(batch, docs, reasons, top_k).spans(len(docs))

    def evidence_units(self, batch: Batch, docs: Sequence[int], reasons: Sequence[int],
                       top_k: int = 3) -> EvidenceUnits:
        """Evidence for many (text, reason) pairs at once, vectorised over the batch.

        A unit is a token (its words, stem, negation and half of each bigram it is in) or a cue
        phrase (its tokens plus the cue features); the top units by weight that do not overlap are
        the evidence. Punctuation, stop words and scraps (`features.quiet_words`: "the", "op", "not";
        `features.is_fragment`: "nt", "123") are never units: they count in the score but tell a researcher nothing. Weights are calibrated
        log-odds: the reason's score would drop by that much without the unit.
        """
        n_pairs = len(docs)
        if not n_pairs:
            return EvidenceUnits.empty()
        tok = batch.tokens
        feats = self.features
        pair_doc = np.asarray(docs, dtype=np.int64)
        pair_reason = np.asarray(reasons, dtype=np.int64)
        off = tok.offsets
        total = int(off[-1])
        inv_norm = 1.0 / batch.norms

        def ragged(starts: np.ndarray, lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            owner = np.repeat(np.arange(len(lens)), lens)
            firsts = np.cumsum(lens) - lens
            return owner, np.arange(int(lens.sum())) - firsts[owner] + starts[owner]

        kernels = fast_kernels()
        ts = batch.token_scores
        if kernels is not None and ts.dtype == np.float32 and ts.flags.c_contiguous:
            c = np.ascontiguousarray
            token_units = kernels.evidence_units(c(off), c(pair_doc), c(pair_reason), ts, c(inv_norm), feats._quiet.view(np.uint8), c(tok.gid))
        else:
            owner, pos = ragged(off[pair_doc], off[pair_doc + 1] - off[pair_doc])
            w = ts[pos, pair_reason[owner]] * inv_norm[pair_doc[owner]]
            idx = np.flatnonzero((w > 0) & ~feats._quiet[tok.gid[pos]])
            token_units = owner[idx], pos[idx], w[idx]
        unit_pair, unit_start, unit_weight = [token_units[0]], [token_units[1]], [token_units[2]]
        unit_end = [unit_start[0] + 1]

        mlens = tok.m_offsets[pair_doc + 1] - tok.m_offsets[pair_doc]
        n_cue = 0
        if mlens.sum():
            match_pair, match = ragged(tok.m_offsets[pair_doc], mlens)
            match_reason, match_doc = pair_reason[match_pair], pair_doc[match_pair]
            match_start = off[match_doc] + tok.m_start[match]
            match_end = off[match_doc] + tok.m_end[match]
            cue_weight = np.zeros(len(match))
            for j in range(int((match_end - match_start).max())):
                p = match_start + j
                inside = p < match_end
                cue_weight[inside] += batch.token_scores[p[inside], match_reason[inside]]
            cue_weight *= inv_norm[match_doc]
            f = feats.cue_feat[tok.m_cue[match]]
            if (f >= 0).any():
                cue_feat = np.maximum(f, 0)
                cue_weight += np.where(f >= 0, self.coef_[match_reason, cue_feat] * feats.idf[cue_feat] * inv_norm[match_doc], 0.0)
            match_cue_reason = feats.cue_reason[tok.m_cue[match]]
            c = tok.cue_counts[match_doc, match_cue_reason]
            cue_weight += self.coef_[match_reason, feats.n_text + match_cue_reason] * self.cue_weight * np.log1p(c) / np.maximum(c, 1)
            # A one-word cue phrase that is a stop word or a scrap is no more telling than the word.
            lone_quiet = ((match_end - match_start) == 1) & feats._quiet[tok.gid[match_start]]
            keep = np.flatnonzero((cue_weight > 0) & ~lone_quiet)
            if len(keep):
                # A token inside one of its pair's cue phrases is evidence through the phrase only
                # (a pair is a text and a reason, and a position belongs to one text).
                cue_pair, cue_start, cue_end = match_pair[keep], match_start[keep], match_end[keep]
                covered = np.zeros((total, len(self.classes_)), dtype=bool)
                cue_reason = pair_reason[cue_pair]
                for j in range(int((cue_end - cue_start).max())):
                    inside = cue_start + j < cue_end
                    covered[cue_start[inside] + j, cue_reason[inside]] = True
                free = np.flatnonzero(~covered[unit_start[0], pair_reason[unit_pair[0]]])
                unit_pair[0], unit_weight[0], unit_start[0], unit_end[0] = unit_pair[0][free], unit_weight[0][free], unit_start[0][free], unit_end[0][free]
                unit_pair.append(cue_pair)
                unit_weight.append(cue_weight[keep])
                unit_start.append(cue_start)
                unit_end.append(cue_end)
                n_cue = len(keep)
        pair = np.concatenate(unit_pair)
        w = np.concatenate(unit_weight)
        unit_from = np.concatenate(unit_start)
        unit_to = np.concatenate(unit_end)
        if not len(pair):
            return EvidenceUnits.empty()
        is_cue = np.zeros(len(pair), dtype=bool)
        if n_cue:
            is_cue[-n_cue:] = True
        # Only units within a tenth of their pair's strongest can make the top few: sort those.
        best = np.zeros(n_pairs)
        np.maximum.at(best, pair, w)
        keep = np.flatnonzero(w >= 0.1 * best[pair])
        # By pair, then weight; on a tie (cue phrases alone) the longer phrase says more.
        key = pair[keep] * (2.0 * float(w.max()) + 1.0) - w[keep] - 1e-9 * (unit_to[keep] - unit_from[keep])
        order = keep[np.argsort(key, kind="stable")]
        pair, w, unit_from, unit_to, is_cue = pair[order], w[order], unit_from[order], unit_to[order], is_cue[order]
        first = np.searchsorted(pair, np.arange(n_pairs + 1))
        rank = np.arange(len(pair)) - first[pair]
        sel = np.flatnonzero(rank <= top_k)  # +1: overlapping cue phrases
        pair, w, unit_from, unit_to, is_cue, rank = pair[sel], w[sel], unit_from[sel], unit_to[sel], is_cue[sel], rank[sel]
        # Token units never overlap another unit of their pair (tokens inside its phrases were
        # dropped), so only pairs with two overlapping phrases need the greedy walk below.
        clash = np.zeros(len(pair), dtype=bool)
        cue_at = np.flatnonzero(is_cue)
        for j in range(1, top_k + 1):
            later, earlier = cue_at[j:], cue_at[:-j]
            hit = (pair[later] == pair[earlier]) & (unit_from[later] < unit_to[earlier]) & (unit_from[earlier] < unit_to[later])
            clash[later[hit]] = True
        slow = np.zeros(n_pairs, dtype=bool)
        slow[pair[clash]] = True
        fast = ~slow[pair] & (rank < top_k)
        slope = self.calibration_[pair_reason, 0]
        all_texts = tok.analyses.texts
        texts = [all_texts[d] for d in pair_doc.tolist()]
        starts = tok.arr[unit_from, 1].astype(np.int64)
        # A unit ends where its last token does (its type's length), never past the next token.
        ends = tok.arr[unit_to - 1, 1].astype(np.int64) + feats._len[tok.gid[unit_to - 1]]
        text_len = np.fromiter(map(len, texts), dtype=np.int64, count=n_pairs)[pair]
        nxt = np.where(unit_to < off[pair_doc[pair] + 1], tok.arr[np.minimum(unit_to, total - 1), 1].astype(np.int64), text_len)
        ends = np.minimum(ends, nxt)
        take = fast  # the top units of each pair; pairs with overlapping phrases walk greedily
        for k in np.flatnonzero(slow).tolist():
            got: list = []
            for i in np.flatnonzero(pair == k).tolist():
                if len(got) >= top_k:
                    break
                a, b = int(unit_from[i]), int(unit_to[i])
                if any(a < y and x < b for x, y in got):
                    continue
                got.append((a, b))
                take[i] = True
        sel = np.flatnonzero(take)
        up, c0, c1 = pair[sel].tolist(), starts[sel].tolist(), ends[sel].tolist()
        return EvidenceUnits(up, c0, c1, [texts[k][a:b] for k, a, b in zip(up, c0, c1)],
                             (w[sel] * slope[pair[sel]]).tolist())


class ModelSuggester:
    """A `Suggester` over a fitted model: probabilities, pre-selected reasons, evidence.

    Over a `BlendedReasonClassifier` it suggests from words and meaning, unless `fast`: then from
    its words alone, at the words' own threshold (what `--fast` means: no sentence encoder).
    `vectors` (optional, per text, None where unknown) are sentence vectors computed earlier.
    """

    def __init__(self, estimator, model_id: str, threshold: float | None = None,
                 top_k: int = 3, card: dict | None = None, path: Path | None = None, fast: bool = False):
        self.estimator = estimator
        blended = hasattr(estimator, "words_")
        self.words: WordsInference = estimator.words_ if blended else estimator
        self.blend = estimator if blended and not fast else None
        own = self.blend.threshold if self.blend is not None else self.words.threshold
        self.threshold = float(own if threshold is None else threshold)
        self.model_id = model_id
        self.top_k = top_k
        self.card = card or {}
        self.path = path
        self.reasons = tuple(str(r) for r in estimator.classes_)

    @property
    def encoder_id(self) -> str | None:
        """The sentence encoder this suggester reads vectors of; None for words only."""
        return self.blend.encoder if self.blend is not None else None

    def _proba(self, batch: Batch, texts: Sequence[str], vectors) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities, and the sentence vectors read (None for words only)."""
        P = self.words.proba_of(batch)
        if self.blend is None:
            return P, None
        V = complete_vectors(texts, vectors)
        return self.blend.blend(P, self.blend.meaning_.predict_proba(V)), V

    def suggest(self, texts: Sequence[str], langs: Sequence[str | None] | None = None,
                vectors: Sequence | None = None) -> list[Suggestion]:
        return self.suggest_batch(texts, langs, vectors).suggestions()

    def suggest_batch(self, texts: Sequence[str], langs: Sequence[str | None] | None = None,
                      vectors: Sequence | None = None) -> SuggestionBatch:
        """The suggestions as arrays (what `whylabel predict` reads): no object per text."""
        words = self.words
        analyses = analyse(texts, langs)
        R = len(self.reasons)
        if not analyses:
            return SuggestionBatch(self.reasons, np.zeros((0, R)), np.zeros((0, R), dtype=bool), self.threshold,
                                   [], [], EvidenceUnits.empty())
        batch = words.batch(analyses)
        P, V = self._proba(batch, texts, vectors)
        chosen = P >= self.threshold
        docs, reasons = np.nonzero(chosen)
        units = words.evidence_units(batch, docs, reasons, self.top_k)
        return SuggestionBatch(self.reasons, P, chosen, self.threshold, docs.tolist(), reasons.tolist(), units,
                               vectors=V)

    def evidence_for(self, texts: Sequence[str], langs: Sequence[str | None] | None,
                     reasons: Sequence[str]) -> list[tuple[Evidence, ...]]:
        """The words behind one given reason per text, chosen or not (the why report highlights
        them in quotes a person labeled); a reason this model does not know has none."""
        index = {r: i for i, r in enumerate(self.reasons)}
        known = [k for k, r in enumerate(reasons) if r in index]
        out: list[tuple[Evidence, ...]] = [()] * len(texts)
        if not known:
            return out
        analyses = analyse([texts[k] for k in known], None if langs is None else [langs[k] for k in known])
        units = self.words.evidence_units(self.words.batch(analyses), np.arange(len(known)),
                                          np.array([index[reasons[k]] for k in known]), self.top_k)
        for k, spans in zip(known, units.spans(len(known))):
            out[k] = spans
        return out

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str | None] | None = None,
                      vectors: Sequence | None = None) -> np.ndarray:
        """Probabilities only (no evidence): what evaluation needs."""
        analyses = analyse(texts, langs)
        if not analyses:
            return np.zeros((0, len(self.reasons)))
        return self._proba(self.words.batch(analyses), texts, vectors)[0]


# ------------------------------------------------------------------------------------------------
# The words-only form on disk: arrays in one .npz (no pickles), read without scikit-learn


_ARRAYS = {"coef": 2, "intercept": 1, "calibration": 2, "idf": 1, "bigram_keys": 1, "meta": 1}


def words_arrays(words) -> dict[str, np.ndarray]:
    """The arrays of a fitted words model that prediction reads; names, cues and scalars go in
    `meta` as UTF-8 JSON bytes (a NumPy string array would drop trailing NULs)."""
    meta = {"format": WORDS_FORMAT, "vocabulary": list(words.vocabulary_), "classes": [str(r) for r in words.classes_],
            "cues": words._cue_param(), "cue_weight": float(words.cue_weight),
            "char_ngrams": int(words.char_ngrams or 0), "threshold": float(words.threshold),
            "codebook_hash": words.codebook_hash}
    return {"coef": np.asarray(words.coef_, dtype=np.float64), "intercept": np.asarray(words.intercept_, dtype=np.float64),
            "calibration": np.asarray(words.calibration_, dtype=np.float64),
            "idf": np.asarray(words.idf_, dtype=np.float64), "bigram_keys": np.asarray(words.bigram_keys_, dtype=np.uint64),
            "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)}


def save_words(words, directory: str | Path) -> str:
    """Write `words.npz` (complete or absent) into `directory`; returns its SHA-256 for the card."""
    from .modelfile import file_sha256
    from .safefile import write_file

    arrays = words_arrays(words)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append ".npz" to a temp name
            np.savez(f, **arrays)

    target = Path(directory) / WORDS_FILE
    write_file(target, write)
    return file_sha256(target)


class WordsModel(WordsInference):
    """A fitted words model read back from its arrays: predicts, scores and explains exactly as the
    `ReasonClassifier` it was written from (the same `WordsInference` code over the same arrays)."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict):
        self.coef_ = arrays["coef"]
        self.intercept_ = arrays["intercept"]
        self.calibration_ = arrays["calibration"]
        self.idf_ = arrays["idf"]
        self.bigram_keys_ = arrays["bigram_keys"]
        self.vocabulary_ = list(meta["vocabulary"])
        self.classes_ = np.array(meta["classes"])
        self.cues = meta["cues"]
        self.cue_weight = float(meta["cue_weight"])
        self.char_ngrams = int(meta["char_ngrams"])
        self.threshold = float(meta["threshold"])
        self.codebook_hash = meta["codebook_hash"]


def read_words(file: Path, codebook) -> WordsModel:
    """The words model in `file` (already checked against the card's SHA-256); one line if its
    arrays do not fit together or were made for another codebook."""
    damaged = f"{file}: model arrays do not fit together (damaged file); retrain with `whylabel train`"
    try:
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _ARRAYS}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any parse failure means: not a file we wrote
        raise ModelError(f"{file}: not a readable words file ({type(exc).__name__}); "
                         "retrain with `whylabel train`") from None
    keys = ("format", "vocabulary", "classes", "cues", "cue_weight", "char_ngrams", "threshold", "codebook_hash")
    if not isinstance(meta, dict) or any(k not in meta for k in keys) or meta["format"] != WORDS_FORMAT \
            or any(arrays[k].ndim != n for k, n in _ARRAYS.items() if k != "meta"):
        raise ModelError(damaged)
    if meta["codebook_hash"] != codebook.hash or meta["classes"] != list(codebook.reason_names) \
            or meta["cues"] != cue_table(codebook):
        raise ModelError(f"{file}: made for another codebook than its card says; retrain with `whylabel train`")
    R = len(meta["classes"])
    n_text = len(meta["vocabulary"]) + len(arrays["bigram_keys"])
    thr = meta["threshold"]
    if arrays["coef"].shape != (R, n_text + R + len(LANGS)) or arrays["intercept"].shape != (R,) \
            or arrays["calibration"].shape != (R, 2) or arrays["idf"].shape != (n_text,) \
            or not isinstance(thr, (int, float)) or not 0 < thr < 1:
        raise ModelError(damaged)
    return WordsModel(arrays, meta)


def load_words_suggester(path: str | Path, codebook) -> ModelSuggester | None:
    """The `--fast` suggester from a model folder's `words.npz`, after the checks `load_model`
    makes (card, codebook, scikit-learn version, model.skops's SHA-256) and the words file's own
    SHA-256 against the card. None when the folder has no words form (saved by an older whylabel,
    or the file is missing): then model.skops is loaded instead. A changed words file is refused."""
    from .modelfile import check_model_bytes, checked_card

    directory, model_file, card = checked_card(Path(path), codebook)
    file = directory / WORDS_FILE
    if not card.get("words_sha256") or not card.get("model_id") or not file.exists():
        return None
    from .modelfile import CARD_FILE

    check_model_bytes(file, card, directory / CARD_FILE, field="words_sha256")
    return ModelSuggester(read_words(file, codebook), card["model_id"], card=card, path=model_file,
                          fast=True)


def load_suggester(codebook, model: str | Path | None = None, *, models_dir: str | Path | None = None,
                   fast: bool = False):
    """A named model ("cues" = the cue phrases), else the model in use in the models folder, else
    the shipped default, else the cue phrases (`whylabel.modelfile.resolve_model`). `fast`: words
    only, from the words form when the folder has one (no scikit-learn import)."""
    from .modelfile import resolve_model

    target = resolve_model(codebook, model, models_dir)
    if fast and target is not None:
        suggester = load_words_suggester(target, codebook)
        if suggester is not None:
            return suggester
    from .model import CueSuggester, load_model

    return CueSuggester(codebook) if target is None else load_model(target, codebook, fast=fast)
