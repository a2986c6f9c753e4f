"""The reason model: train, suggest, explain, save and load safely.

Contract (others code against these names):

    CueSuggester(codebook) -> Suggester                 cue phrases only; works with no labels
    load_suggester(codebook, model=None, *, models_dir=None, fast=False) -> Suggester
        a named model, else the model in use (in-use.json), else the shipped default, else cues
    train_from_store(store, codebook, *, annotator=None, name=None, models_dir=None, cv_folds=5,
                     save=True, seed=0, from_scratch=False)
        -> TrainResult(.suggester, .metrics, .path, .needs, .card, .decision)
    list_models(codebook, models_dir=None), use_model(name, codebook, models_dir=None)
    fill_suggestions(store, suggester, *, item_ids=None, batch_size=512) -> int

`ReasonClassifier` (the words) and `BlendedReasonClassifier` (words + meaning) are scikit-learn
estimators (params-only `__init__`, `fit` returns self, `predict_proba` gives an (n, reasons)
matrix). The words side is one linear decision per reason over the features of
`whylabel.features`, Platt-calibrated on out-of-fold scores so that 0.8 means about 80 %; a reason
with fewer than `min_positives` labels keeps a fixed cue-phrase decision (the same one
`CueSuggester` uses), so the codebook carries the cold start. The blend averages it with
`whylabel.meaning.MeaningClassifier` over each text's sentence vector. Evidence is exact and comes
from the words: the score of a reason is a sum over features, and each feature belongs to a token,
a bigram or a cue span.

A team's model learns on top of the shipped default's labels (`prior.npz`, `load_prior`) and is
put in use only when it beats the model in use on the team's labels (`compare_with_in_use`).
Model files are skops files loaded with an explicit list of trusted types, with the words side's
arrays beside them in words.npz (`whylabel.words_runtime`: what `--fast` loads, without
scikit-learn); the JSON card records versions, the codebook hash, what it was trained on, label
counts, metrics and both files' checksums. Finding the model to load is `whylabel.modelfile`'s. Anything unexpected raises `ModelError` with one line that says what to do.
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
from .calibration import fit_calibrated_linear
from .encoder import ENCODER_ID
from .evaluation import evaluate_probabilities
from .features import Features, cue_feature_name, text_pair_keys
from .nlp import LANGS, Analysis, cue_table
from .suggestion import DEFAULT_THRESHOLD
from .modelfile import (CARD_FILE, IN_USE_FILE, MODEL_FILE, _compatible, _in_use_file, _minor,  # noqa: F401
                        find_model, in_use, model_dirs, read_card, resolve_model, shipped_default)
from .words_runtime import (WORDS_FILE, ModelSuggester, WordsInference, _sigmoid, _split_input,  # noqa: F401
                            complete_vectors, load_suggester, save_words, split_items)

TRUSTED_TYPES = ["whylabel.model.ReasonClassifier", "whylabel.model.BlendedReasonClassifier",
                 "whylabel.meaning.MeaningClassifier"]
MIN_POSITIVES = 10
# Cue-only decision: P(reason) = sigmoid(CUE_PRIOR[0] + CUE_PRIOR[1] * log1p(cue matches)).
# Fitted (logistic regression, pooled over reasons) on the cue counts of the labeled sample
# feedback (base rate ~0.19 per reason): no match -> 0.12, one -> 0.65, two -> 0.90.
CUE_PRIOR = (-2.0, 3.8)
# Trained models pre-select reasons from this calibrated probability: the best macro-F1 in 5-fold
# cross-validation on the sample labels (0.3-0.4 were all within 0.01); below 0.5 because a
# researcher confirms a pre-selected reason faster than they spot a missing one.
MODEL_THRESHOLD = 0.35
# The blend: the meaning side's weight and the threshold it pre-selects from, and the meaning
# side's regularisation; chosen on our dev set of real texts (README: Suggestion quality).
MEANING_WEIGHT = 0.5
BLEND_THRESHOLD = 0.3
MEANING_C = 0.3



def reason_targets(y, reasons: Sequence[str]) -> np.ndarray:
    """An indicator matrix (n, reasons) from an indicator matrix or lists of reason names."""
    if hasattr(y, "shape") and len(getattr(y, "shape", ())) == 2:
        Y = np.asarray(y, dtype=int)
    else:
        y = list(y)
        if y and isinstance(y[0], (list, tuple, set, frozenset)):
            unknown = {r for labels in y for r in labels} - set(reasons)
            if unknown:
                raise ValueError(f"unknown reason {sorted(unknown)[0]!r}")
            from sklearn.preprocessing import MultiLabelBinarizer

            Y = MultiLabelBinarizer(classes=list(reasons)).fit_transform(y).astype(int)
        else:
            Y = np.asarray(y, dtype=int)
            if Y.ndim == 1:
                Y = Y[:, None]
    if Y.shape[1] != len(reasons):
        raise ValueError(f"y has {Y.shape[1]} columns, the cues define {len(reasons)} reasons")
    return Y


def indicator(labels: Sequence[Sequence[str]], reasons: Sequence[str]) -> np.ndarray:
    """Labels as an indicator matrix; names outside `reasons` are dropped (an old codebook's)."""
    known = set(reasons)
    if not len(labels):
        return np.zeros((0, len(reasons)), dtype=int)
    return reason_targets([[r for r in ls if r in known] for ls in labels], reasons)


class _ReasonEstimator(ClassifierMixin, BaseEstimator):
    """What both reason models share: texts in, an indicator matrix of reasons out."""

    def score(self, X, y, sample_weight=None) -> float:
        """Macro-F1 over reasons (what `whylabel train` reports)."""
        from sklearn.metrics import f1_score

        Y = reason_targets(y, list(self.classes_))
        return float(f1_score(Y, self.predict(X), average="macro", zero_division=0))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.multi_output = True
        tags.classifier_tags.multi_label = True
        return tags


class ReasonClassifier(WordsInference, _ReasonEstimator):
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

    # -- learning ------------------------------------------------------------------------------

    def _targets(self, y, reasons: Sequence[str]) -> np.ndarray:
        return reason_targets(y, reasons)

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
            linear = ReasonLinear(self.C, self.class_weight, float(self.nb_alpha or 0), feats.n_text, rng_seed)
            coef[r], intercept[r], calib[r] = fit_calibrated_linear(
                linear, X_, Y[:, r], folds=int(self.calibration_folds), seed=rng_seed, sample_weight=sample_weight)
            mode.append("model")
        self.__dict__.pop("_features", None)
        self.coef_ = coef
        self.intercept_ = intercept
        self.calibration_ = calib
        self.mode_ = mode
        return self

    # -- prediction ----------------------------------------------------------------------------

    def decision_function(self, X) -> np.ndarray:
        """Uncalibrated log-odds (n, reasons)."""
        self._check()
        return self.batch(self.analyse(X)).scores

    def predict_proba(self, X) -> np.ndarray:
        self._check()
        return self.proba_of(self.batch(self.analyse(X)))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.threshold).astype(int)



class BlendedReasonClassifier(_ReasonEstimator):
    """Words and meaning in one calibrated multi-label model.

    `words_` is a `ReasonClassifier` (tokens, stems, negations, bigrams, cue phrases: fast, and the
    source of every evidence span); `meaning_` a `MeaningClassifier` over each text's sentence
    vector, which recognises a reason phrased in words the labels never used ("I'm not sure it
    fits" is uncertainty whatever the wording). Per reason the probability is the weighted mean of
    the two calibrated probabilities; a reason the meaning side could not learn is left to the words.
    Averaging two calibrated probabilities pulls both towards the middle, so the blend pre-selects
    from a lower threshold than the words alone (chosen on the dev set: benchmarks/README.md).

    X: texts, (text, lang) pairs or (text, lang, vector) triples. y: as for ReasonClassifier.
    """

    def __init__(self, cues=None, C=4.0, meaning_C=MEANING_C, meaning_weight=MEANING_WEIGHT,
                 threshold=BLEND_THRESHOLD, words_threshold=MODEL_THRESHOLD, min_positives=MIN_POSITIVES,
                 calibration_folds=3, encoder=ENCODER_ID, codebook_hash=None, random_state=0):
        self.cues = cues
        self.C = C
        self.meaning_C = meaning_C
        self.meaning_weight = meaning_weight
        self.threshold = threshold
        self.words_threshold = words_threshold
        self.min_positives = min_positives
        self.calibration_folds = calibration_folds
        self.encoder = encoder
        self.codebook_hash = codebook_hash
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        from .meaning import MeaningClassifier

        texts, langs, vectors = split_items(X)
        pairs = list(zip(texts, langs)) if langs is not None else texts
        self.words_ = ReasonClassifier(cues=self.cues, C=self.C, min_positives=self.min_positives,
                                       calibration_folds=self.calibration_folds, threshold=self.words_threshold,
                                       codebook_hash=self.codebook_hash, random_state=self.random_state)
        self.words_.fit(pairs, y, sample_weight)
        Y = reason_targets(y, list(self.words_.classes_))
        self.meaning_ = MeaningClassifier(C=self.meaning_C, calibration_folds=self.calibration_folds,
                                          min_positives=self.min_positives, random_state=self.random_state)
        self.meaning_.fit(complete_vectors(texts, vectors), Y, sample_weight)
        self.classes_ = self.words_.classes_
        return self

    def meaning_weights(self) -> np.ndarray:
        """Per reason, the meaning side's share of the blend (0 where it learned nothing)."""
        return float(self.meaning_weight) * self.meaning_.active_

    def blend(self, p_words: np.ndarray, p_meaning: np.ndarray) -> np.ndarray:
        w = self.meaning_weights()
        return (1.0 - w) * p_words + w * p_meaning

    def predict_proba(self, X) -> np.ndarray:
        if not hasattr(self, "words_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("BlendedReasonClassifier is not fitted yet: call fit first")
        texts, langs, vectors = split_items(X)
        p_words = self.words_.predict_proba(list(zip(texts, langs)) if langs is not None else texts)
        return self.blend(p_words, self.meaning_.predict_proba(complete_vectors(texts, vectors)))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X) >= self.threshold).astype(int)



class ReasonLinear(ClassifierMixin, BaseEstimator):
    """One reason's linear decision over the words: logistic regression, optionally on
    naive-Bayes-scaled text features (NB-SVM, Wang & Manning 2012: strong on small text sets). The
    scaling folds into the coefficients, so prediction and evidence stay a plain dot product."""

    def __init__(self, C=4.0, class_weight="balanced", nb_alpha=0.0, n_text=0, random_state=0):
        self.C = C
        self.class_weight = class_weight
        self.nb_alpha = nb_alpha
        self.n_text = n_text
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None):
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(y, dtype=int)
        scale = np.ones(X.shape[1])
        if self.nb_alpha > 0 and self.n_text:
            A = X[:, : self.n_text]
            p = self.nb_alpha + np.asarray(A[y == 1].sum(axis=0)).ravel()
            q = self.nb_alpha + np.asarray(A[y == 0].sum(axis=0)).ravel()
            scale[: self.n_text] = np.abs(np.log((p / p.sum()) / (q / q.sum()))) + 1e-3
            X = X @ sp_diags(scale)
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, solver="liblinear",
                                random_state=self.random_state, max_iter=1000)
        lr.fit(X, y, sample_weight=sample_weight)
        self.coef_ = lr.coef_ * scale
        self.intercept_ = lr.intercept_
        self.classes_ = lr.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.asarray(X @ self.coef_[0]).ravel() + self.intercept_[0]

    def predict(self, X) -> np.ndarray:
        return self.classes_[(self.decision_function(X) > 0).astype(int)]


def sp_diags(v: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(v, format="csr")


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


def model_digest(est) -> str:
    h = hashlib.sha256()
    words = est.words_ if isinstance(est, BlendedReasonClassifier) else est
    arrays = [words.coef_, words.intercept_, words.calibration_]
    if words is not est:
        arrays += [est.meaning_.coef_, est.meaning_.intercept_, est.meaning_.calibration_,
                   np.asarray([est.meaning_weight, est.threshold])]
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype=np.float64).round(10).tobytes())
    h.update("\n".join(words.vocabulary_).encode("utf-8"))
    return h.hexdigest()[:10]


def _atomic_write(path: Path, write) -> None:
    """`write(a path)` so that `path` appears complete or not at all (a device is written directly)."""
    from .safefile import write_file

    write_file(path, write)


def save_model(est: ReasonClassifier, directory: str | Path, card: dict) -> Path:
    """Write model.skops and its words-only form words.npz (what `--fast` loads, without
    scikit-learn), then card.json with both files' SHA-256 (each complete or absent); returns the
    model file path. The card dict gains `model_sha256` and `words_sha256`."""
    import skops.io as sio

    from .modelfile import file_sha256

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    target = d / MODEL_FILE
    _atomic_write(target, lambda tmp: sio.dump(est, tmp, compression=8))
    card["model_sha256"] = file_sha256(target)
    card["words_sha256"] = save_words(est.words_ if hasattr(est, "words_") else est, d)
    text = json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    _atomic_write(d / CARD_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return target


def add_words_form(directory: str | Path, codebook) -> str:
    """Give a model folder saved before words.npz existed its words-only form, derived from the
    loaded model.skops (checked as every load is; nothing retrained): writes words.npz, then the
    card with its SHA-256. Returns the SHA-256."""
    d = Path(directory)
    suggester = load_model(d, codebook)
    digest = save_words(suggester.words, d)
    card = read_card(d)
    card["words_sha256"] = digest
    text = json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    _atomic_write(d / CARD_FILE, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return digest


def load_model(path: str | Path, codebook, *, fast: bool = False) -> ModelSuggester:
    """Load a model directory (or its model.skops) for `codebook`; refuse anything untrusted."""
    import skops.io as sio

    from .modelfile import checked_card, model_id_for

    directory, file, card = checked_card(Path(path), codebook)
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
    blended = isinstance(est, BlendedReasonClassifier)
    words = getattr(est, "words_", None) if blended else est
    if not isinstance(words, ReasonClassifier) or not hasattr(words, "coef_"):
        raise ModelError(f"{file}: not a whylabel reason model; retrain with `whylabel train`")
    if est.codebook_hash != codebook.hash or words.codebook_hash != codebook.hash \
            or list(est.classes_) != list(codebook.reason_names) or words.cues != cue_table(codebook):
        raise ModelError(f"{file}: made for another codebook than its card says; retrain with `whylabel train`")
    R = len(words.classes_)
    fits = words.coef_.shape == (R, len(words.vocabulary_) + len(words.bigram_keys_) + R + len(LANGS))
    if blended:
        from .encoder import DIM
        from .meaning import MeaningClassifier

        m = getattr(est, "meaning_", None)
        fits = fits and isinstance(m, MeaningClassifier) and m.coef_.shape == (R, DIM) \
            and m.calibration_.shape == (R, 2) and m.active_.shape == (R,)
        if est.encoder != ENCODER_ID:
            raise ModelError(f"{file}: made with the sentence encoder {est.encoder!r}, this whylabel has "
                             f"{ENCODER_ID!r}; retrain with `whylabel train`")
    if not fits:
        raise ModelError(f"{file}: model arrays do not fit together (damaged file); retrain with `whylabel train`")
    return ModelSuggester(est, card.get("model_id") or model_id_for(directory.name, model_digest(est)),
                          threshold=None if fast else card.get("threshold"), card=card, path=file, fast=fast)


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




def set_in_use(models_dir: str | Path | None, name: str, model_id: str, why: str) -> None:
    record = {"name": name, "model_id": model_id, "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "why": why}
    text = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    _atomic_write(_in_use_file(models_dir), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _trained_on_line(card: dict) -> str:
    trained = card.get("trained_on") or {}
    team, prior = trained.get("team"), trained.get("prior")
    parts = []
    if team:
        who = f" by {team['annotator']}" if team.get("annotator") else ""
        parts.append(f"{team.get('n_items', '?')} team labels{who} ({team.get('db')})")
    if prior:
        parts.append(f"{prior.get('n_items', '?')} sample labels at weight {prior.get('weight')}")
    if not parts:
        parts.append(f"{card.get('n_items', '?')} labels ({card.get('db', '?')})")
    return " + ".join(parts)


def list_models(codebook, models_dir: str | Path | None = None) -> list[dict]:
    """Every model found, with what it learned from, its cross-validated score, and which is in use."""
    current = load_suggester(codebook, models_dir=models_dir)
    record = in_use(models_dir) or {}
    rows, seen = [], set()
    found = _candidates(models_dir)
    default = shipped_default()
    if (default / MODEL_FILE).exists() and all(d.resolve() != default.resolve() for _, d, _ in found):
        try:
            found.append(("", default, read_card(default)))
        except ModelError:
            pass
    for _, d, card in sorted(found, key=lambda c: (c[1].resolve() != default.resolve(), c[0])):
        if d.resolve() in seen:
            continue
        seen.add(d.resolve())
        metrics = card.get("metrics") or {}
        in_use_now = getattr(current, "path", None) is not None and Path(current.path).parent.resolve() == d.resolve()
        rows.append({
            "name": d.name, "path": str(d), "model_id": card.get("model_id"), "created_at": card.get("created_at"),
            "kind": card.get("kind", "words"), "cv_macro_f1": metrics.get("macro_f1"),
            "n_items": card.get("n_items"), "trained_on": _trained_on_line(card),
            "compatible": _compatible(card, codebook), "in_use": in_use_now,
            "why": (record.get("why") if record.get("name") == d.name else
                    "the shipped default (no trained model has beaten it yet)") if in_use_now else None,
        })
    return rows


def use_model(name: str, codebook, models_dir: str | Path | None = None) -> None:
    """Put a model in use by hand (`whylabel models --use NAME`)."""
    directory = find_model(name, models_dir)
    suggester = load_model(directory, codebook)  # refuses what cannot be used
    set_in_use(models_dir, Path(directory).name, suggester.model_id, "put in use by hand (whylabel models --use)")


# ------------------------------------------------------------------------------------------------
# Training from the store, and filling suggestions

PRIOR_FILE = "prior.npz"
# What the shipped default learned from (the sample feedback) counts this much per item beside
# the team's own labels (weight 1): enough that 25 labels cannot make suggestions worse than out
# of the box, little enough that a few hundred labels move the model. Chosen on the dev set
# (benchmarks/learning_curve.py).
PRIOR_WEIGHT = 0.3
PRIOR_FULL_UNTIL = 75  # up to this many team labels the sample counts fully (weight 1)
# A team's real labels teach the meaning side what the written sample cannot: once they carry
# TEAM_SHARE_FULL of the training weight it is regularised less (C 1.0) than on the sample alone
# (MEANING_C, the better choice out of the box); in between C moves geometrically.
TEAM_MEANING_C = 1.0
TEAM_SHARE_FULL = 0.4


def prior_weight_for(n_team: int) -> float:
    """The sample's weight under n team labels: 1 for the first few dozen labels (a handful of
    labels must not swing the model), falling to PRIOR_WEIGHT as they grow (learning curve)."""
    return float(min(1.0, max(PRIOR_WEIGHT, PRIOR_FULL_UNTIL / max(n_team, 1))))


def meaning_c_for(n_team: int, n_prior: int, prior_weight: float) -> float:
    """The meaning side's C for a team's model: the default's while the team's labels are a small
    share of the training weight, TEAM_MEANING_C once they carry TEAM_SHARE_FULL of it."""
    share = n_team / max(n_team + prior_weight * n_prior, 1e-9)
    return float(MEANING_C * (TEAM_MEANING_C / MEANING_C) ** min(1.0, share / TEAM_SHARE_FULL))


@dataclass
class TrainingSet:
    """Texts with labels (and, for the meaning side, their sentence vectors)."""

    texts: list[str]
    langs: list[str | None]
    Y: np.ndarray
    vectors: np.ndarray | None = None
    ids: list[int] = field(default_factory=list)
    annotation_ids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def without(self, texts: Iterable[str]) -> TrainingSet:
        """This set less the items whose text is among `texts` (a team that imported the sample
        itself must not find its own labels again in the prior: they would leak into every fold)."""
        drop = set(texts)
        keep = [i for i, t in enumerate(self.texts) if t not in drop]
        if len(keep) == len(self.texts):
            return self
        return TrainingSet([self.texts[i] for i in keep], [self.langs[i] for i in keep], self.Y[keep],
                           None if self.vectors is None else self.vectors[keep])

    def items(self, idx=None) -> list:
        idx = range(len(self)) if idx is None else idx
        if self.vectors is None:
            return [(self.texts[i], self.langs[i]) for i in idx]
        return [(self.texts[i], self.langs[i], self.vectors[i]) for i in idx]


def save_prior(directory: Path, data: TrainingSet) -> None:
    """Ship what the default model learned from beside it, so a team's model can build on it."""
    vectors = data.vectors if data.vectors is not None else complete_vectors(data.texts, None)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, texts=np.array(data.texts, dtype=str),
                                langs=np.array([x or "" for x in data.langs], dtype=str),
                                Y=data.Y.astype(np.int8), vectors=vectors.astype(np.float16))

    _atomic_write(directory / PRIOR_FILE, write)


def load_prior(codebook) -> TrainingSet | None:
    """The shipped default's training labels, when they were made for this codebook."""
    d = shipped_default()
    try:
        card = read_card(d)
        if card.get("codebook_hash") != codebook.hash:
            return None
        with np.load(d / PRIOR_FILE, allow_pickle=False) as z:
            texts, langs = z["texts"].tolist(), [x or None for x in z["langs"].tolist()]
            Y, vectors = z["Y"].astype(int), z["vectors"].astype(np.float32)
    except (ModelError, OSError, KeyError, ValueError):
        return None
    if Y.shape != (len(texts), len(codebook.reason_names)) or vectors.shape[0] != len(texts):
        return None
    return TrainingSet(texts, langs, Y, vectors)


@dataclass
class TrainResult:
    suggester: ModelSuggester
    metrics: dict | None
    path: Path | None
    needs: dict[str, int] = field(default_factory=dict)
    card: dict = field(default_factory=dict)
    oof: np.ndarray | None = None  # out-of-fold probabilities on the team's labels
    decision: dict = field(default_factory=dict)  # in use or not, and why (train_from_store)


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


def team_data(store, codebook, annotator: str | None = None, *, encoder_id: str | None = ENCODER_ID) -> TrainingSet:
    """The team's current labels, with each item's sentence vector (computed once, kept in the store)."""
    rows = store.labeled(annotator)
    data = TrainingSet([r["text"] for r in rows], [r["lang"] for r in rows],
                       indicator([r["reasons"] or [] for r in rows], codebook.reason_names),
                       ids=[r["id"] for r in rows], annotation_ids=[r["annotation_id"] for r in rows])
    if encoder_id is not None:
        data.vectors = stored_vectors(store, data.ids, data.texts, encoder_id)
    return data


def stored_vectors(store, item_ids: Sequence[int], texts: Sequence[str], encoder_id: str = ENCODER_ID) -> np.ndarray:
    """Sentence vectors of stored items: read from the store, the missing ones encoded and kept."""
    from .encoder import DIM

    known = store.embeddings(item_ids, encoder_id)
    out = np.zeros((len(item_ids), DIM), dtype=np.float32)
    missing = []
    for k, item_id in enumerate(item_ids):
        blob = known.get(item_id)
        if blob is None or len(blob) != DIM * 2:
            missing.append(k)
        else:
            out[k] = np.frombuffer(blob, dtype=np.float16)
    if missing:
        fresh = complete_vectors([texts[k] for k in missing], None)
        out[missing] = fresh
        store.save_embeddings(encoder_id, ((item_ids[k], v.astype(np.float16).tobytes())
                                           for k, v in zip(missing, fresh)))
    return out


def fold_indices(Y: np.ndarray, folds: int, seed: int = 0):
    """k folds stratified on each item's rarest reason, so every fold sees the rare ones."""
    import warnings

    from sklearn.model_selection import StratifiedKFold

    Y = np.asarray(Y, dtype=int)
    freq = Y.sum(axis=0)
    rarest = np.where(Y.any(axis=1), np.argmin(np.where(Y > 0, freq, np.inf), axis=1), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a reason rarer than the folds: spread as far as it goes
        yield from StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(Y)), rarest)


def cross_validate(est, X: list, Y: np.ndarray, folds: int = 5, seed: int = 0,
                   prior: TrainingSet | None = None, prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """Out-of-fold probabilities (n, reasons): each fold's model learns from the other folds (and
    the prior, which is never scored). Not `cross_val_predict`: it needs the test folds to
    partition everything it is given (the prior must sit in every training fold instead), and it
    expects one probability column per class of every output, where ours gives one per reason."""
    from sklearn.base import clone

    P = np.zeros(Y.shape, dtype=float)
    for train_idx, test_idx in fold_indices(Y, folds, seed):
        X_fit, Y_fit, w = [X[i] for i in train_idx], Y[train_idx], None
        if prior is not None:
            X_fit = prior.items() + X_fit
            Y_fit = np.vstack([prior.Y, Y_fit])
            w = np.concatenate([np.full(len(prior), prior_weight), np.ones(len(train_idx))])
        m = clone(est).fit(X_fit, Y_fit, sample_weight=w)
        P[test_idx] = m.predict_proba([X[i] for i in test_idx])
    return P


def default_params(codebook, seed: int = 0) -> dict:
    return {"cues": cue_table(codebook), "codebook_hash": codebook.hash, "random_state": seed}


def _macro_f1(Y: np.ndarray, P: np.ndarray, threshold: float) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(Y, (P >= threshold).astype(int), average="macro", zero_division=0))


def compare_with_in_use(result: TrainResult, data: TrainingSet, codebook, current, *, db: str,
                        annotator: str | None, learned_texts: Iterable[str] = ()) -> dict:
    """Score the candidate and the model in use on the same team labels: the ones the model in use
    never learned from (neither labeled since it was trained nor among `learned_texts`, the
    shipped default's training texts). The candidate is scored out of fold (no model scores a
    label it saw)."""
    if result.oof is None:
        return {"use": False, "why": f"too few labels to cross-validate ({len(data)}); the model in use stays"}
    team = (current.card.get("trained_on") or {}).get("team") or {}
    seen_until = -1
    if team.get("db") == db and team.get("annotator") == annotator:
        seen_until = int(team.get("last_annotation_id") or -1)
    learned = set(learned_texts)
    unseen = [k for k, a in enumerate(data.annotation_ids) if a > seen_until] if data.annotation_ids \
        else list(range(len(data)))
    unseen = [k for k in unseen if data.texts[k] not in learned]
    if not unseen:
        return {"use": False, "why": f"no labels that {current.model_id} has not learned from; it stays in use"}
    vectors = None if data.vectors is None else [data.vectors[k] for k in unseen]
    p_current = current.predict_proba([data.texts[k] for k in unseen], [data.langs[k] for k in unseen], vectors)
    Y = data.Y[unseen]
    now = round(_macro_f1(Y, p_current, current.threshold), 4)
    new = round(_macro_f1(Y, result.oof[unseen], result.suggester.threshold), 4)
    use = new > now
    verdict = "replaces" if use else "does not beat"
    return {"use": use, "candidate_macro_f1": new, "in_use_macro_f1": now, "in_use": current.model_id,
            "n": len(unseen),
            "why": f"macro-F1 {new:.3f} (cross-validated) against {now:.3f} for {current.model_id} on "
                   f"{len(unseen)} of your labels: the new model {verdict} it"}


def train_from_store(store, codebook, *, annotator: str | None = None, name: str | None = None,
                     models_dir: str | Path | None = None, cv_folds: int = 5, save: bool = True, seed: int = 0,
                     params: dict | None = None, from_scratch: bool = False, words_only: bool = False,
                     prior: TrainingSet | None = None) -> TrainResult:
    """Train on the team's labels (on top of the default's, unless `from_scratch`), save, and put
    the model in use only when it beats the model in use on the team's labels."""
    from .modelfile import check_model_name, check_models_dir, model_id_for

    if save:
        check_models_dir(models_dir or "models")
    name = check_model_name(name) if name is not None else "model-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    who = f" by {annotator}" if annotator else ""
    data = team_data(store, codebook, annotator, encoder_id=None if words_only else ENCODER_ID)
    if not len(data):
        raise ModelError(f"no labeled items{who} in {store.path}; label some with `whylabel label` "
                         "or import labels with --reasons-column")
    if prior is None and not from_scratch:
        prior = load_prior(codebook)
    result = fit_model(data, codebook, cv_folds=cv_folds, seed=seed, params=params, prior=prior,
                       words_only=words_only)
    result.card["trained_on"]["team"] = {
        "db": str(store.path), "annotator": annotator, "n_items": len(data),
        "last_annotation_id": max(data.annotation_ids, default=-1)}
    result.card.update({"name": name, "annotator": annotator, "db": str(store.path)})
    if save:
        current = load_suggester(codebook, models_dir=models_dir)
        shipped = prior if prior is not None else load_prior(codebook)
        result.decision = compare_with_in_use(result, data, codebook, current, db=str(store.path),
                                              annotator=annotator, learned_texts=shipped.texts if shipped else ())
        result.card["decision"] = result.decision
        record = in_use(models_dir)
        if not result.decision["use"] and record is not None and record["name"] == name:
            # The model in use has this name: keep it rather than overwrite it with a worse one.
            return result
        directory = Path(models_dir or "models") / name
        result.card["model_id"] = model_id_for(name, model_digest(result.suggester.estimator))
        result.suggester.model_id = result.card["model_id"]
        result.path = save_model(result.suggester.estimator, directory, result.card)
        result.suggester.path = result.path
        store.register_model(model_id=result.card["model_id"], name=name, path=str(result.path),
                             codebook_hash=codebook.hash, card=result.card)
        if result.decision["use"]:
            set_in_use(models_dir, name, result.card["model_id"], result.decision["why"])
    return result


def train(texts: Sequence[str], langs: Sequence[str | None] | None, labels: Sequence[Sequence[str]], codebook, *,
          cv_folds: int = 5, seed: int = 0, params: dict | None = None, prior: TrainingSet | None = None,
          words_only: bool = False, vectors=None) -> TrainResult:
    """Fit on these labels (and the prior's), cross-validate for honest metrics, build the card."""
    data = TrainingSet(list(texts), list(langs) if langs is not None else [None] * len(texts),
                       indicator(labels, codebook.reason_names))
    if not words_only:
        data.vectors = complete_vectors(data.texts, vectors)
    return fit_model(data, codebook, cv_folds=cv_folds, seed=seed, params=params, prior=prior, words_only=words_only)


def fit_model(data: TrainingSet, codebook, *, cv_folds: int = 5, seed: int = 0, params: dict | None = None,
              prior: TrainingSet | None = None, prior_weight: float | None = None,
              words_only: bool = False) -> TrainResult:
    """Fit on `data` (and the prior's labels, weighted by `prior_weight`, default
    `prior_weight_for(len(data))`), with cross-validated metrics on `data` alone."""
    reasons = codebook.reason_names
    Y = data.Y
    kind = ReasonClassifier if words_only else BlendedReasonClassifier
    if prior is not None:
        prior = prior.without(data.texts)
        if not len(prior):
            prior = None
    if prior_weight is None:
        prior_weight = prior_weight_for(len(data))
    team_defaults = {}
    if prior is not None and not words_only:
        team_defaults["meaning_C"] = round(meaning_c_for(len(data), len(prior), prior_weight), 4)
    est = kind(**{**default_params(codebook, seed), **team_defaults, **(params or {})})
    if prior is not None and words_only:
        prior = TrainingSet(prior.texts, prior.langs, prior.Y)
    X = data.items()
    metrics, oof = None, None
    k = min(cv_folds, len(X))
    if cv_folds >= 2 and k >= 2 and len(X) >= 2 * k:
        oof = cross_validate(est, X, Y, k, seed, prior=prior, prior_weight=prior_weight)
        metrics = evaluate_probabilities(oof, Y, codebook, threshold=est.threshold)
        metrics["cv_folds"] = k
    X_fit, Y_fit, w = X, Y, None
    if prior is not None:
        X_fit, Y_fit = prior.items() + X, np.vstack([prior.Y, Y])
        w = np.concatenate([np.full(len(prior), prior_weight), np.ones(len(X))])
    est.fit(X_fit, Y_fit, sample_weight=w)
    words = est.words_ if isinstance(est, BlendedReasonClassifier) else est
    counts = {r: int(n) for r, n in zip(reasons, Y.sum(axis=0))}
    counts["none"] = int((Y.sum(axis=1) == 0).sum())
    needs = {} if prior is not None else {
        r: int(words.min_positives) - counts[r] for r in reasons if counts[r] < int(words.min_positives)}
    lang_counts: dict[str, int] = {}
    for a in words.analyse([(t, lang) for t, lang in zip(data.texts, data.langs)]):
        lang_counts[a.lang] = lang_counts.get(a.lang, 0) + 1
    card = {
        "model_id": None,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "codebook_hash": codebook.hash,
        "codebook": codebook.name,
        "reasons": list(reasons),
        "kind": "words" if words_only else "words+meaning",
        "encoder": None if words_only else est.encoder,
        "languages": lang_counts,
        "n_items": len(X),
        "trained_on": {"team": None, "prior": None if prior is None else {
            "what": "the shipped default's training labels (the sample feedback)", "n_items": len(prior),
            "weight": prior_weight}},
        "label_counts": counts,
        "cue_only_reasons": [r for r, m in zip(reasons, words.mode_) if m == "cues"],
        "needs": needs,
        "threshold": est.threshold,
        "params": {k: v for k, v in est.get_params().items() if k not in ("cues", "codebook_hash")},
        "n_features": int(words.features.n_features),
        "metrics": metrics,
    }
    suggester = ModelSuggester(est, f"unsaved-{model_digest(est)}", card=card)
    return TrainResult(suggester, metrics, None, needs, card, oof)


def fill_suggestions(store, suggester, *, item_ids: Iterable[int] | None = None, batch_size: int = 512,
                     progress=None) -> int:
    """Suggest for unlabeled items (or the given ones) and store them; returns how many were written."""
    from .suggest import suggest_and_store

    if item_ids is not None:
        ids = list(item_ids)
    else:
        ids = [r["id"] for r in store.items_without_labels()]  # read first: writing while a cursor reads is fragile
    n = 0
    for start in range(0, len(ids), batch_size):
        got = suggest_and_store(store, suggester, ids[start:start + batch_size], reuse=False)
        n += len(got)
        if progress:
            progress(n)
    return n
