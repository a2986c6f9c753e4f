"""The reason model: train, suggest, explain, save and load safely.

Contract (others code against these names):

    CueSuggester(codebook) -> Suggester                 cue phrases only; works with no labels
    load_suggester(codebook, model=None, *, models_dir=None) -> Suggester
    train_from_store(store, codebook, *, annotator=None, name=None, models_dir=None, cv_folds=5,
                     save=True, seed=0) -> TrainResult(.suggester, .metrics, .path, .needs)
    fill_suggestions(store, suggester, *, item_ids=None, batch_size=512) -> int

`ReasonClassifier` is a scikit-learn estimator (params-only `__init__`, `fit` returns self,
`predict_proba` gives an (n, reasons) matrix): one linear decision per reason over the features of
`whylabel.features`, Platt-calibrated on out-of-fold scores so that 0.8 means about 80 %. A reason
with fewer than `min_positives` labels keeps a fixed cue-phrase decision (the same one
`CueSuggester` uses), so the codebook carries the cold start. Evidence is exact: the score of a
reason is a sum over features, and each feature belongs to a token, a bigram or a cue span.

Model files are skops files loaded with an explicit list of trusted types; the JSON card beside it
records versions, the codebook hash, label counts and metrics. Anything unexpected raises
`ModelError` with one line that says what to do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .errors import ModelError
from .evaluation import evaluate_probabilities, kfold_indices
from .features import Batch, Features, cue_feature_name, text_pair_keys
from .nlp import LANGS, Analysis, CueMatcher, analyse, cue_table, fast_kernels
from .suggestion import DEFAULT_THRESHOLD, Evidence, EvidenceUnits, Suggestion, SuggestionBatch

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
TRUSTED_TYPES = ["whylabel.model.ReasonClassifier"]
MIN_POSITIVES = 10
# Cue-only decision: P(reason) = sigmoid(CUE_PRIOR[0] + CUE_PRIOR[1] * log1p(cue matches)).
# Fitted (logistic regression, pooled over reasons) on the cue counts of the labeled sample
# feedback (base rate ~0.19 per reason): no match -> 0.12, one -> 0.65, two -> 0.90.
CUE_PRIOR = (-2.0, 3.8)
# Trained models pre-select reasons from this calibrated probability: the best macro-F1 in 5-fold
# cross-validation on the sample labels (0.3-0.4 were all within 0.01); below 0.5 because a
# researcher confirms a pre-selected reason faster than they spot a missing one.
MODEL_THRESHOLD = 0.35
REPO_MODELS = Path(__file__).resolve().parents[2] / "models"


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _split_input(X) -> tuple[list[str], list[str | None] | None]:
    """Texts, or (text, lang) pairs: the two shapes `fit` and `predict_proba` accept."""
    texts, langs, any_lang = [], [], False
    for x in X:
        if isinstance(x, (tuple, list)):
            texts.append("" if x[0] is None else str(x[0]))
            langs.append(x[1] if len(x) > 1 else None)
            any_lang = True
        else:
            texts.append("" if x is None else str(x))
            langs.append(None)
    return texts, (langs if any_lang else None)


class ReasonClassifier(ClassifierMixin, BaseEstimator):
    """One calibrated linear decision per reason over words, stems, negations, bigrams and cues.

    X: texts, or (text, lang) pairs. y: an indicator matrix (n, reasons) in the order of `cues`,
    or a list of reason-name lists.
    """

    def __init__(self, cues=None, C=4.0, cue_weight=1.0, min_df=2, bigrams=True, char_ngrams=0, nb_alpha=0.0,
                 class_weight="balanced",
                 calibration_folds=3, min_positives=MIN_POSITIVES, cue_prior=CUE_PRIOR, threshold=MODEL_THRESHOLD,
                 codebook_hash=None, random_state=0):
        self.cues = cues
        self.C = C
        self.cue_weight = cue_weight
        self.min_df = min_df
        self.bigrams = bigrams
        self.char_ngrams = char_ngrams
        self.nb_alpha = nb_alpha
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.min_positives = min_positives
        self.cue_prior = cue_prior
        self.threshold = threshold
        self.codebook_hash = codebook_hash
        self.random_state = random_state

    # -- runtime state (rebuilt after loading; never saved) -----------------------------------

    _RUNTIME = ("_matcher", "_features")

    def __getstate__(self):
        state = super().__getstate__()
        for k in self._RUNTIME:
            state.pop(k, None)
        return state

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

    # -- learning ------------------------------------------------------------------------------

    def _targets(self, y, reasons: Sequence[str]) -> np.ndarray:
        if hasattr(y, "shape") and len(getattr(y, "shape", ())) == 2:
            Y = np.asarray(y, dtype=int)
        else:
            y = list(y)
            if y and isinstance(y[0], (list, tuple, set, frozenset)):
                index = {r: i for i, r in enumerate(reasons)}
                Y = np.zeros((len(y), len(reasons)), dtype=int)
                for i, labels in enumerate(y):
                    for r in labels:
                        if r not in index:
                            raise ValueError(f"unknown reason {r!r}")
                        Y[i, index[r]] = 1
            else:
                Y = np.asarray(y, dtype=int)
                if Y.ndim == 1:
                    Y = Y[:, None]
        if Y.shape[1] != len(reasons):
            raise ValueError(f"y has {Y.shape[1]} columns, the cues define {len(reasons)} reasons")
        return Y

    def fit(self, X, y, sample_weight=None):

        cues = self._cue_param()
        reasons = list(cues)
        self.__dict__.pop("_features", None)
        analyses = self.analyse(X)
        Y = self._targets(y, reasons)
        if len(analyses) != len(Y):
            raise ValueError(f"X has {len(analyses)} texts, y has {len(Y)} rows")
        self.classes_ = np.array(reasons)
        self.vocabulary_, self.bigram_keys_, self.idf_ = _learn_vocabulary(
            analyses, Features([], [], [], len(reasons), self.cue_weight, self.matcher, int(self.char_ngrams or 0),
                               keep_names=True), int(self.min_df), bool(self.bigrams))
        feats = self._make_features()
        X_ = feats.matrix(analyses)
        n_feat = feats.n_features
        R = len(reasons)
        coef = np.zeros((R, n_feat))
        intercept = np.zeros(R)
        calib = np.tile([1.0, 0.0], (R, 1))
        mode = []
        rng_seed = int(self.random_state or 0)
        self.n_positives_ = Y.sum(axis=0).astype(int)
        for r in range(R):
            pos = int(Y[:, r].sum())
            neg = len(Y) - pos
            if pos < int(self.min_positives) or neg < 2:
                coef[r, feats.n_text + r] = self.cue_prior[1] / self.cue_weight
                intercept[r] = self.cue_prior[0]
                mode.append("cues")
                continue
            fit_one = _LinearFit(self.C, self.class_weight, float(self.nb_alpha or 0), feats.n_text, rng_seed)
            coef[r], intercept[r] = fit_one(X_, Y[:, r], sample_weight)
            calib[r] = _platt(X_, Y[:, r], fit_one, int(self.calibration_folds), rng_seed, sample_weight)
            mode.append("model")
        self.__dict__.pop("_features", None)
        self.coef_ = coef
        self.intercept_ = intercept
        self.calibration_ = calib
        self.mode_ = mode
        return self

    # -- prediction ----------------------------------------------------------------------------

    def _check(self) -> None:
        if not hasattr(self, "coef_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("ReasonClassifier is not fitted yet: call fit first")

    def batch(self, analyses: list[Analysis]) -> Batch:
        return self.features.batch(analyses, self.intercept_)

    def proba_of(self, batch: Batch) -> np.ndarray:
        return _sigmoid(batch.scores * self.calibration_[:, 0] + self.calibration_[:, 1])

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated log-odds (n, reasons)."""
        self._check()
        return self.batch(self.analyse(X)).scores

    def predict_proba(self, X) -> np.ndarray:
        self._check()
        return self.proba_of(self.batch(self.analyse(X)))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.threshold).astype(int)

    def score(self, X, y, sample_weight=None) -> float:
        """Macro-F1 over reasons (what `whylabel train` reports)."""
        from sklearn.metrics import f1_score

        Y = self._targets(y, list(self.classes_))
        return float(f1_score(Y, self.predict(X), average="macro", zero_division=0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags

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
        the evidence. Punctuation and quiet words (`features.quiet_words`: "the", "op") are never
        units: they count in the score but tell a researcher nothing. Weights are calibrated
        log-odds: the reason's score would drop by that much without the unit.
        """
        P = len(docs)
        if not P:
            return EvidenceUnits.empty()
        t = batch.tokens
        feats = self.features
        pd = np.asarray(docs, dtype=np.int64)
        pr = np.asarray(reasons, dtype=np.int64)
        off = t.offsets
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
            u0 = kernels.evidence_units(c(off), c(pd), c(pr), ts, c(inv_norm), feats._quiet.view(np.uint8), c(t.gid))
        else:
            owner, pos = ragged(off[pd], off[pd + 1] - off[pd])
            w = ts[pos, pr[owner]] * inv_norm[pd[owner]]
            idx = np.flatnonzero((w > 0) & ~feats._quiet[t.gid[pos]])
            u0 = owner[idx], pos[idx], w[idx]
        u_pair, u_s, u_w = [u0[0]], [u0[1]], [u0[2]]
        u_e = [u_s[0] + 1]

        mlens = t.m_offsets[pd + 1] - t.m_offsets[pd]
        n_cue = 0
        if mlens.sum():
            m_owner, mi = ragged(t.m_offsets[pd], mlens)
            r_m, d_m = pr[m_owner], pd[m_owner]
            s_g = off[d_m] + t.m_start[mi]
            e_g = off[d_m] + t.m_end[mi]
            wm = np.zeros(len(mi))
            for j in range(int((e_g - s_g).max())):
                p = s_g + j
                inside = p < e_g
                wm[inside] += batch.token_scores[p[inside], r_m[inside]]
            wm *= inv_norm[d_m]
            f = feats.cue_feat[t.m_cue[mi]]
            if (f >= 0).any():
                fc = np.maximum(f, 0)
                wm += np.where(f >= 0, self.coef_[r_m, fc] * feats.idf[fc] * inv_norm[d_m], 0.0)
            rr = feats.cue_reason[t.m_cue[mi]]
            c = t.cue_counts[d_m, rr]
            wm += self.coef_[r_m, feats.n_text + rr] * self.cue_weight * np.log1p(c) / np.maximum(c, 1)
            keep = np.flatnonzero(wm > 0)
            if len(keep):
                # A token inside one of its pair's cue phrases is evidence through the phrase only
                # (a pair is a text and a reason, and a position belongs to one text).
                cp, cs, ce = m_owner[keep], s_g[keep], e_g[keep]
                covered = np.zeros((total, len(self.classes_)), dtype=bool)
                cr = pr[cp]
                for j in range(int((ce - cs).max())):
                    inside = cs + j < ce
                    covered[cs[inside] + j, cr[inside]] = True
                free = np.flatnonzero(~covered[u_s[0], pr[u_pair[0]]])
                u_pair[0], u_w[0], u_s[0], u_e[0] = u_pair[0][free], u_w[0][free], u_s[0][free], u_e[0][free]
                u_pair.append(cp)
                u_w.append(wm[keep])
                u_s.append(cs)
                u_e.append(ce)
                n_cue = len(keep)
        pair = np.concatenate(u_pair)
        w = np.concatenate(u_w)
        s_ = np.concatenate(u_s)
        e_ = np.concatenate(u_e)
        if not len(pair):
            return EvidenceUnits.empty()
        is_cue = np.zeros(len(pair), dtype=bool)
        if n_cue:
            is_cue[-n_cue:] = True
        # Only units within a tenth of their pair's strongest can make the top few: sort those.
        best = np.zeros(P)
        np.maximum.at(best, pair, w)
        keep = np.flatnonzero(w >= 0.1 * best[pair])
        # By pair, then weight; on a tie (cue phrases alone) the longer phrase says more.
        key = pair[keep] * (2.0 * float(w.max()) + 1.0) - w[keep] - 1e-9 * (e_[keep] - s_[keep])
        order = keep[np.argsort(key, kind="stable")]
        pair, w, s_, e_, is_cue = pair[order], w[order], s_[order], e_[order], is_cue[order]
        first = np.searchsorted(pair, np.arange(P + 1))
        rank = np.arange(len(pair)) - first[pair]
        sel = np.flatnonzero(rank <= top_k)  # +1: overlapping cue phrases
        pair, w, s_, e_, is_cue, rank = pair[sel], w[sel], s_[sel], e_[sel], is_cue[sel], rank[sel]
        # Token units never overlap another unit of their pair (tokens inside its phrases were
        # dropped), so only pairs with two overlapping phrases need the greedy walk below.
        clash = np.zeros(len(pair), dtype=bool)
        cue_at = np.flatnonzero(is_cue)
        for j in range(1, top_k + 1):
            a_, b_ = cue_at[j:], cue_at[:-j]
            hit = (pair[a_] == pair[b_]) & (s_[a_] < e_[b_]) & (s_[b_] < e_[a_])
            clash[a_[hit]] = True
        slow = np.zeros(P, dtype=bool)
        slow[pair[clash]] = True
        fast = ~slow[pair] & (rank < top_k)
        slope = self.calibration_[pr, 0]
        all_texts = t.analyses.texts
        texts = [all_texts[d] for d in pd.tolist()]
        starts = t.arr[s_, 1].astype(np.int64)
        # A unit ends where its last token does (its type's length), never past the next token.
        ends = t.arr[e_ - 1, 1].astype(np.int64) + feats._len[t.gid[e_ - 1]]
        text_len = np.fromiter(map(len, texts), dtype=np.int64, count=P)[pair]
        nxt = np.where(e_ < off[pd[pair] + 1], t.arr[np.minimum(e_, total - 1), 1].astype(np.int64), text_len)
        ends = np.minimum(ends, nxt)
        take = fast  # the top units of each pair; pairs with overlapping phrases walk greedily
        for k in np.flatnonzero(slow).tolist():
            got: list = []
            for i in np.flatnonzero(pair == k).tolist():
                if len(got) >= top_k:
                    break
                a, b = int(s_[i]), int(e_[i])
                if any(a < y and x < b for x, y in got):
                    continue
                got.append((a, b))
                take[i] = True
        sel = np.flatnonzero(take)
        up, c0, c1 = pair[sel].tolist(), starts[sel].tolist(), ends[sel].tolist()
        return EvidenceUnits(up, c0, c1, [texts[k][a:b] for k, a, b in zip(up, c0, c1)],
                             (w[sel] * slope[pair[sel]]).tolist())


class _LinearFit:
    """One reason's linear decision: logistic regression, optionally on naive-Bayes-scaled text
    features (NB-SVM, Wang & Manning 2012: strong on small text sets). The scaling folds into the
    coefficients, so prediction and evidence stay a plain dot product."""

    def __init__(self, C: float, class_weight, nb_alpha: float, n_text: int, seed: int):
        self.C, self.class_weight, self.nb_alpha, self.n_text, self.seed = C, class_weight, nb_alpha, n_text, seed

    def __call__(self, X, y, sample_weight=None) -> tuple[np.ndarray, float]:
        from sklearn.linear_model import LogisticRegression

        scale = np.ones(X.shape[1])
        if self.nb_alpha > 0 and self.n_text:
            A = X[:, : self.n_text]
            p = self.nb_alpha + np.asarray(A[y == 1].sum(axis=0)).ravel()
            q = self.nb_alpha + np.asarray(A[y == 0].sum(axis=0)).ravel()
            scale[: self.n_text] = np.abs(np.log((p / p.sum()) / (q / q.sum()))) + 1e-3
            X = X @ sp_diags(scale)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                random_state=self.seed, max_iter=1000)
        lr.fit(X, y, sample_weight=sample_weight)
        return lr.coef_[0] * scale, float(lr.intercept_[0])


def sp_diags(v: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(v, format="csr")


def _platt(X, y, fit_one, folds: int, seed: int, sample_weight=None) -> tuple[float, float]:
    """Platt scaling on out-of-fold scores: what makes "0.8" mean about 80 %."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    pos = int(y.sum())
    k = min(folds, pos, len(y) - pos)
    if k < 2:
        return 1.0, 0.0
    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        w, b = fit_one(X[train], y[train], None if sample_weight is None else np.asarray(sample_weight)[train])
        oof[test] = X[test] @ w + b
    cal = LogisticRegression(C=1.0, solver="lbfgs")
    cal.fit(oof[:, None], y)
    a, b = float(cal.coef_[0, 0]), float(cal.intercept_[0])
    if a <= 0:  # a calibration that reverses the ranking means no signal: keep the model's order
        return 1.0, 0.0
    return a, b


def _learn_vocabulary(analyses: list[Analysis], feats: Features, min_df: int, bigrams: bool):
    """Feature names with document frequency >= min_df (cue phrases: >= 1), bigram keys, idf.

    `feats` is a vocabulary-less Features that remembers type names: the same tokens, negation
    scopes and cue matches that training and prediction will see.
    """
    t = feats.tokens(analyses)
    matcher = feats.matcher
    df: dict[str, int] = {}
    for d, a in enumerate(analyses):
        s, e = int(t.offsets[d]), int(t.offsets[d + 1])
        seen: set[str] = set()
        for g in set(t.gid[s:e].tolist()):
            seen.update(feats.type_names(g))
        a0, a1 = np.searchsorted(t.scoped, [s, e])
        for g in t.gid[t.scoped[a0:a1]].tolist():
            seen.add("n:" + feats.lower_of(g))
        for m in t.cues_of(d):
            seen.add(cue_feature_name(matcher.cues[m.cue]))
        for f in seen:
            df[f] = df.get(f, 0) + 1
    vocab = sorted(f for f, n in df.items() if n >= min_df or f.startswith("c:"))
    n_docs = len(analyses)
    type_df = np.array([df[f] for f in vocab], dtype=np.float64)
    keys = np.zeros(0, dtype=np.uint64)
    key_df = np.zeros(0)
    if bigrams:
        per_doc = [np.unique(text_pair_keys(a.lower, a.lang)) for a in analyses if len(a.lower) > 1]
        if per_doc:
            allk, cnt = np.unique(np.concatenate(per_doc), return_counts=True)
            keep = cnt >= max(min_df, 2)
            keys, key_df = allk[keep], cnt[keep].astype(np.float64)
    all_df = np.concatenate([type_df, key_df])
    idf = np.log((1.0 + n_docs) / (1.0 + all_df)) + 1.0
    return vocab, keys, idf


# ------------------------------------------------------------------------------------------------
# Suggesters


class ModelSuggester:
    """A `Suggester` over a fitted ReasonClassifier: probabilities, pre-selected reasons, evidence."""

    def __init__(self, estimator: ReasonClassifier, model_id: str, threshold: float | None = None,
                 top_k: int = 3, card: dict | None = None, path: Path | None = None):
        self.estimator = estimator
        self.model_id = model_id
        self.threshold = float(estimator.threshold if threshold is None else threshold)
        self.top_k = top_k
        self.card = card or {}
        self.path = path
        self.reasons = tuple(str(r) for r in estimator.classes_)

    def suggest(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> list[Suggestion]:
        return self.suggest_batch(texts, langs).suggestions()

    def suggest_batch(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> SuggestionBatch:
        """The suggestions as arrays (what `whylabel predict` reads): no object per text."""
        est = self.estimator
        analyses = analyse(texts, langs)
        R = len(self.reasons)
        if not analyses:
            return SuggestionBatch(self.reasons, np.zeros((0, R)), np.zeros((0, R), dtype=bool), self.threshold,
                                   [], [], EvidenceUnits.empty())
        batch = est.batch(analyses)
        P = est.proba_of(batch)
        chosen = P >= self.threshold
        pd, pr = np.nonzero(chosen)
        units = est.evidence_units(batch, pd, pr, self.top_k)
        return SuggestionBatch(self.reasons, P, chosen, self.threshold, pd.tolist(), pr.tolist(), units)

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str | None] | None = None) -> np.ndarray:
        """Probabilities only (no evidence): what evaluation needs."""
        est = self.estimator
        analyses = analyse(texts, langs)
        if not analyses:
            return np.zeros((0, len(self.reasons)))
        return est.proba_of(est.batch(analyses))


def cue_only_estimator(codebook) -> ReasonClassifier:
    """A ReasonClassifier whose every reason is its cue-phrase decision (no training data needed)."""
    est = ReasonClassifier(cues=cue_table(codebook), codebook_hash=codebook.hash)
    est.fit([], np.zeros((0, len(codebook.reasons)), dtype=int))
    return est


class CueSuggester(ModelSuggester):
    """Suggestions from the codebook's cue phrases alone: the cold start."""

    def __init__(self, codebook, threshold: float | None = None, top_k: int = 3):
        super().__init__(cue_only_estimator(codebook), f"cues-{codebook.hash}",
                         DEFAULT_THRESHOLD if threshold is None else threshold, top_k,
                         card={"name": "cues", "codebook_hash": codebook.hash})


# ------------------------------------------------------------------------------------------------
# Files: save, load (safely), find


def _versions() -> dict[str, str]:
    import scipy
    import sklearn
    import skops
    import spacy

    from . import __version__ as whylabel_version

    return {"whylabel": whylabel_version, "scikit-learn": sklearn.__version__, "spacy": spacy.__version__,
            "skops": skops.__version__, "numpy": np.__version__, "scipy": scipy.__version__}


def model_digest(est: ReasonClassifier) -> str:
    h = hashlib.sha256()
    for arr in (est.coef_, est.intercept_, est.calibration_):
        h.update(np.ascontiguousarray(arr, dtype=np.float64).round(10).tobytes())
    h.update("\n".join(est.vocabulary_).encode("utf-8"))
    return h.hexdigest()[:10]


def _atomic_write(path: Path, write) -> None:
    """`write(a path)` so that `path` appears complete or not at all (a device is written directly)."""
    from .safefile import write_file

    write_file(path, write)


def save_model(est: ReasonClassifier, directory: str | Path, card: dict) -> Path:
    """Write model.skops, then card.json with the model file's SHA-256 (each complete or absent);
    returns the model file path. The card dict gains `model_sha256`."""
    import skops.io as sio

    from .modelfile import file_sha256

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    target = d / MODEL_FILE
    _atomic_write(target, lambda tmp: sio.dump(est, tmp, compression=8))
    card["model_sha256"] = file_sha256(target)
    text = json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    _atomic_write(d / CARD_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return target


def _minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def read_card(directory: Path) -> dict:
    from .modelfile import read_card_file

    if not (directory / CARD_FILE).exists():
        raise ModelError(f"{directory}: no {CARD_FILE} beside the model; retrain with `whylabel train`")
    return read_card_file(directory / CARD_FILE)


def load_model(path: str | Path, codebook) -> ModelSuggester:
    """Load a model directory (or its model.skops) for `codebook`; refuse anything untrusted."""
    import sklearn
    import skops.io as sio

    p = Path(path)
    directory = p.parent if p.is_file() or p.suffix == ".skops" else p
    file = p if p.suffix == ".skops" else p / MODEL_FILE
    if not file.exists():
        raise ModelError(f"{file}: model file not found; train one with `whylabel train`")
    from .modelfile import check_card, check_model_bytes, model_id_for

    card = read_card(directory)
    check_card(card, directory / CARD_FILE, codebook.reason_names)
    made_with = card.get("versions", {}).get("scikit-learn", "?")
    if _minor(made_with) != _minor(sklearn.__version__):
        raise ModelError(f"{file}: made with scikit-learn {made_with}, this is {sklearn.__version__}; "
                         "retrain with `whylabel train`")
    if card.get("codebook_hash") != codebook.hash:
        raise ModelError(f"{file}: made for another codebook ({card.get('codebook_hash')}, yours is "
                         f"{codebook.hash}); retrain with `whylabel train` or use the matching --codebook")
    check_model_bytes(file, card, directory / CARD_FILE)
    try:
        untrusted = sio.get_untrusted_types(file=file)
    except Exception as exc:  # noqa: BLE001 - any parse failure means: not a model we wrote
        raise ModelError(f"{file}: not a readable skops model file ({type(exc).__name__}); "
                         "retrain with `whylabel train`") from None
    foreign = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if foreign:
        raise ModelError(f"{file}: refusing to load untrusted types ({', '.join(foreign[:3])}); "
                         "only load models made by `whylabel train`, or retrain")
    try:
        est = sio.load(file, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{file}: cannot load model ({type(exc).__name__}: {exc}); retrain with `whylabel train`") from None
    if not isinstance(est, ReasonClassifier) or not hasattr(est, "coef_"):
        raise ModelError(f"{file}: not a whylabel reason model; retrain with `whylabel train`")
    if est.codebook_hash != codebook.hash or list(est.classes_) != list(codebook.reason_names) \
            or est.cues != cue_table(codebook):
        raise ModelError(f"{file}: made for another codebook than its card says; retrain with `whylabel train`")
    if est.coef_.shape != (len(est.classes_), len(est.vocabulary_) + len(est.bigram_keys_) + len(est.classes_) + len(LANGS)):
        raise ModelError(f"{file}: model arrays do not fit together (damaged file); retrain with `whylabel train`")
    return ModelSuggester(est, card.get("model_id") or model_id_for(directory.name, model_digest(est)),
                          threshold=card.get("threshold"), card=card, path=file)


def model_dirs(models_dir: str | Path | None = None) -> list[Path]:
    if models_dir is not None:
        return [Path(models_dir)]
    out = [Path("models")]
    if REPO_MODELS.resolve() != Path("models").resolve():
        out.append(REPO_MODELS)
    return out


def _candidates(models_dir) -> list[tuple[str, Path, dict]]:
    found = []
    for base in model_dirs(models_dir):
        if not base.is_dir():
            continue
        for d in sorted(base.iterdir()):
            if (d / MODEL_FILE).exists() and (d / CARD_FILE).exists():
                try:
                    card = read_card(d)
                except ModelError:  # load_model names the problem if this model is asked for
                    continue
                found.append((card.get("created_at", ""), d, card))
    return found


def find_model(model: str | Path, models_dir=None) -> Path:
    p = Path(model)
    if p.exists() and (p.suffix == ".skops" or (p / MODEL_FILE).exists()):
        return p
    for base in model_dirs(models_dir):
        if (base / str(model) / MODEL_FILE).exists():
            return base / str(model)
    where = ", ".join(str(b) for b in model_dirs(models_dir))
    raise ModelError(f"model {str(model)!r} not found (looked in {where}); list models with `ls models/` "
                     "or train one with `whylabel train --name NAME`")


def load_suggester(codebook, model: str | Path | None = None, *, models_dir: str | Path | None = None):
    """A named model ("cues" = the cue phrases), else the newest compatible one, else
    models/default, else the cue phrases."""
    if model is not None and str(model) == "cues" and not Path("cues").exists():
        return CueSuggester(codebook)
    if model is not None:
        return load_model(find_model(model, models_dir), codebook)
    import sklearn

    compatible = [
        (created, d) for created, d, card in _candidates(models_dir)
        if card.get("codebook_hash") == codebook.hash
        and _minor(card.get("versions", {}).get("scikit-learn", "")) == _minor(sklearn.__version__)
    ]
    if compatible:
        compatible.sort(key=lambda c: (c[1].name != "default", c[0]))
        # Newest trained model first; the shipped default only when there is nothing newer.
        newest = max((c for c in compatible if c[1].name != "default"), default=None, key=lambda c: c[0])
        return load_model(newest[1] if newest else compatible[0][1], codebook)
    return CueSuggester(codebook)


# ------------------------------------------------------------------------------------------------
# Training from the store, and filling suggestions


@dataclass
class TrainResult:
    suggester: ModelSuggester
    metrics: dict | None
    path: Path | None
    needs: dict[str, int] = field(default_factory=dict)
    card: dict = field(default_factory=dict)


def training_data(store, codebook, annotator: str | None = None):
    rows = store.labeled(annotator)
    known = set(codebook.reason_names)
    texts, langs, labels = [], [], []
    for r in rows:
        reasons = [x for x in (r["reasons"] or []) if x in known]
        texts.append(r["text"])
        langs.append(r["lang"])
        labels.append(reasons)
    return texts, langs, labels


def indicator(labels: Sequence[Sequence[str]], reasons: Sequence[str]) -> np.ndarray:
    index = {r: i for i, r in enumerate(reasons)}
    Y = np.zeros((len(labels), len(reasons)), dtype=int)
    for i, ls in enumerate(labels):
        for r in ls:
            if r in index:
                Y[i, index[r]] = 1
    return Y


def cross_validate(est: ReasonClassifier, X: list, Y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities (n, reasons) from k-fold cross-validation."""
    from sklearn.base import clone

    P = np.zeros(Y.shape, dtype=float)
    for train, test in kfold_indices(Y, folds, seed):
        m = clone(est).fit([X[i] for i in train], Y[train])
        P[test] = m.predict_proba([X[i] for i in test])
    return P


def default_params(codebook, seed: int = 0) -> dict:
    return {"cues": cue_table(codebook), "codebook_hash": codebook.hash, "random_state": seed}


def train_from_store(store, codebook, *, annotator: str | None = None, name: str | None = None,
                     models_dir: str | Path | None = None, cv_folds: int = 5, save: bool = True, seed: int = 0,
                     params: dict | None = None) -> TrainResult:
    texts, langs, labels = training_data(store, codebook, annotator)
    who = f" by {annotator}" if annotator else ""
    if not texts:
        raise ModelError(f"no labeled items{who} in {store.path}; label some with `whylabel label` "
                         "or import labels with --reasons-column")
    from .modelfile import check_model_name, check_models_dir, model_id_for

    if save:
        check_models_dir(models_dir or "models")
    name = check_model_name(name) if name is not None else "model-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    result = train(texts, langs, labels, codebook, cv_folds=cv_folds, seed=seed, params=params)
    result.card.update({"name": name, "annotator": annotator, "db": str(store.path)})
    if save:
        directory = Path(models_dir or "models") / name
        result.card["model_id"] = model_id_for(name, model_digest(result.suggester.estimator))
        result.suggester.model_id = result.card["model_id"]
        result.path = save_model(result.suggester.estimator, directory, result.card)
        result.suggester.path = result.path
        store.register_model(model_id=result.card["model_id"], name=name, path=str(result.path),
                             codebook_hash=codebook.hash, card=result.card)
    return result


def train(texts: Sequence[str], langs: Sequence[str | None] | None, labels: Sequence[Sequence[str]], codebook, *,
          cv_folds: int = 5, seed: int = 0, params: dict | None = None) -> TrainResult:
    """Fit on all labels, cross-validate for honest metrics, and build the card."""
    reasons = codebook.reason_names
    Y = indicator(labels, reasons)
    X = list(zip(texts, langs)) if langs is not None else list(texts)
    est = ReasonClassifier(**{**default_params(codebook, seed), **(params or {})})
    metrics = None
    k = min(cv_folds, len(X))
    if cv_folds >= 2 and k >= 2 and len(X) >= 2 * k:
        P = cross_validate(est, X, Y, k, seed)
        metrics = evaluate_probabilities(P, Y, codebook, threshold=est.threshold)
        metrics["cv_folds"] = k
    est.fit(X, Y)
    counts = {r: int(n) for r, n in zip(reasons, Y.sum(axis=0))}
    counts["none"] = int((Y.sum(axis=1) == 0).sum())
    needs = {r: int(est.min_positives) - counts[r] for r in reasons if counts[r] < int(est.min_positives)}
    lang_counts: dict[str, int] = {}
    for a in est.analyse(X):
        lang_counts[a.lang] = lang_counts.get(a.lang, 0) + 1
    card = {
        "model_id": None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "codebook_hash": codebook.hash,
        "codebook": codebook.name,
        "reasons": list(reasons),
        "languages": lang_counts,
        "n_items": len(X),
        "label_counts": counts,
        "cue_only_reasons": [r for r, m in zip(reasons, est.mode_) if m == "cues"],
        "needs": needs,
        "threshold": est.threshold,
        "params": {k: v for k, v in est.get_params().items() if k not in ("cues", "codebook_hash")},
        "n_features": int(est.features.n_features),
        "metrics": metrics,
    }
    suggester = ModelSuggester(est, f"unsaved-{model_digest(est)}", card=card)
    return TrainResult(suggester, metrics, None, needs, card)


def fill_suggestions(store, suggester, *, item_ids: Iterable[int] | None = None, batch_size: int = 512,
                     progress=None) -> int:
    """Suggest for unlabeled items (or the given ones) and store them; returns how many were written."""
    if item_ids is not None:
        ids = list(item_ids)
        rows = (store.item(i) for i in ids)
        items = ({"id": r["id"], "text": r["text"], "lang": r["lang"]} for r in rows if r is not None)
    else:
        items = list(store.items_without_labels())  # read first: writing while a cursor reads is fragile
    n = 0
    chunk: list[dict] = []

    def flush() -> int:
        sugg = suggester.suggest([c["text"] for c in chunk], [c["lang"] for c in chunk])
        return store.save_suggestions(s.to_row(c["id"], suggester.model_id) for c, s in zip(chunk, sugg))

    for item in items:
        chunk.append(item)
        if len(chunk) >= batch_size:
            n += flush()
            if progress:
                progress(n)
            chunk = []
    if chunk:
        n += flush()
        if progress:
            progress(n)
    return n
