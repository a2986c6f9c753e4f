"""How far annotators agree, and which labels the model most confidently contradicts.

Contract: `agreement(coders, codebook)` takes each annotator's current label per item
(`{annotator: {item_id: reasons}}`) and gives, per reason (binary: present or not) and for the
driver (emotional / rational / mixed / none, nominal), over the items at least two of them
labeled: Krippendorff's alpha (the `krippendorff` package: nominal, any number of coders,
missing labels allowed) with a bootstrap 95 % interval (items resampled, fixed seed), Cohen's
kappa (scikit-learn) when there are exactly two coders, percent agreement (items on which every
coder who labeled them gives the same value) and n. An undefined figure (everyone gave the same
value, so there is no variation to agree on) is None, never NaN.

`suspicious_labels(...)` ranks labels by cleanlab's self-confidence on out-of-fold
probabilities: per reason p where the label says no, 1 - p where it says yes; an item scores its
worst reason. The model is reached through `out_of_fold_probabilities` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .codebook import Codebook
from .errors import WhylabelError

DRIVER_VALUES = ("emotional", "rational", "mixed", "none")
BOOTSTRAP_SAMPLES = 1000


class AgreementError(WhylabelError):
    """Not enough shared labels, or an unknown annotator: the CLI shows one line."""


# ---------------------------------------------------------------------------------------------
# Bands


def kappa_band(kappa: float | None) -> str:
    """Landis & Koch (1977)."""
    if kappa is None:
        return "undefined"
    if kappa < 0:
        return "poor"
    for upper, name in ((0.20, "slight"), (0.40, "fair"), (0.60, "moderate"), (0.80, "substantial")):
        if kappa <= upper:
            return name
    return "almost perfect"


def alpha_band(alpha: float | None) -> str:
    """Krippendorff (2004): >= 0.8 reliable, 0.667-0.8 tentative conclusions only, below: unreliable."""
    if alpha is None:
        return "undefined"
    if alpha >= 0.8:
        return "reliable"
    if alpha >= 0.667:
        return "tentative"
    return "unreliable"


# ---------------------------------------------------------------------------------------------
# Agreement


@dataclass
class CodeAgreement:
    """Agreement on one code (a reason, or the driver)."""

    alpha: float | None
    alpha_ci: tuple[float, float] | None
    kappa: float | None
    agreement: float | None
    n: int
    values: tuple[str, ...] = ()
    confusion: list[list[int]] | None = None  # two coders: rows = first coder, columns = second

    def to_json(self) -> dict:
        return {"alpha": self.alpha, "alpha_ci": list(self.alpha_ci) if self.alpha_ci else None,
                "kappa": self.kappa, "agreement": self.agreement, "n": self.n}


@dataclass
class AgreementReport:
    annotators: list[str]
    n_items: int
    reasons: dict[str, CodeAgreement] = field(default_factory=dict)
    driver: CodeAgreement | None = None

    def to_json(self) -> dict:
        return {"annotators": self.annotators, "n_items": self.n_items,
                "reasons": {name: code.to_json() for name, code in self.reasons.items()},
                "driver": self.driver.to_json() if self.driver else None}


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def krippendorff_alpha(value_counts: np.ndarray) -> float | None:
    """Nominal alpha from an (items, values) count matrix; None when there is no variation."""
    import krippendorff

    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    if len(pairable) == 0 or np.count_nonzero(pairable.sum(axis=0)) < 2:
        return None
    return _finite(krippendorff.alpha(value_counts=pairable, level_of_measurement="nominal"))


def bootstrap_alpha(value_counts: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES,
                    seed: int = 0) -> tuple[float, float] | None:
    """Percentile 95 % interval of alpha over items drawn with replacement (undefined draws left out)."""
    pairable = value_counts[value_counts.sum(axis=1) >= 2]
    if len(pairable) < 2:
        return None
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(samples):
        value = krippendorff_alpha(pairable[rng.integers(0, len(pairable), len(pairable))])
        if value is not None:
            draws.append(value)
    if not draws:
        return None
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def cohen_kappa(first: Sequence[int], second: Sequence[int]) -> float | None:
    """Cohen's kappa (scikit-learn); None when both coders gave one and the same value throughout."""
    from sklearn.metrics import cohen_kappa_score

    if len(first) == 0 or len(set(first) | set(second)) < 2:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return _finite(cohen_kappa_score(first, second))


def code_agreement(matrix: np.ndarray, n_values: int, *, samples: int = BOOTSTRAP_SAMPLES,
                   seed: int = 0, values: Sequence[str] = ()) -> CodeAgreement:
    """Agreement on one code from a (coders, items) matrix of value indices, -1 where missing."""
    present = matrix >= 0
    keep = present.sum(axis=0) >= 2
    matrix, present = matrix[:, keep], present[:, keep]
    n_items = matrix.shape[1]
    counts = np.zeros((n_items, n_values), dtype=int)
    for coder_values, coder_present in zip(matrix, present):
        np.add.at(counts, (np.nonzero(coder_present)[0], coder_values[coder_present]), 1)
    agree = float(np.mean(counts.max(axis=1) == counts.sum(axis=1))) if n_items else None
    kappa = confusion = None
    if matrix.shape[0] == 2:
        first, second = matrix[0], matrix[1]
        kappa = cohen_kappa(first.tolist(), second.tolist())
        confusion = np.zeros((n_values, n_values), dtype=int)
        np.add.at(confusion, (first, second), 1)
        confusion = confusion.tolist()
    return CodeAgreement(alpha=krippendorff_alpha(counts), alpha_ci=bootstrap_alpha(counts, samples=samples, seed=seed),
                         kappa=kappa, agreement=agree, n=n_items, values=tuple(values), confusion=confusion)


def agreement(coders: Mapping[str, Mapping[int, Sequence[str]]], codebook: Codebook, *,
              samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> AgreementReport:
    """Agreement of the given annotators per reason and for the driver (see the module docstring)."""
    names = list(coders)
    shared = sorted(i for i, n in _coded_by(coders).items() if n >= 2)
    known = set(codebook.reason_names)
    report = AgreementReport(annotators=names, n_items=len(shared))
    column = {item: c for c, item in enumerate(shared)}
    shape = (len(names), len(shared))
    reason_index = {r: k for k, r in enumerate(codebook.reason_names)}
    present = np.zeros((len(names), len(shared), len(reason_index)), dtype=int)
    labeled = np.zeros(shape, dtype=bool)
    driver = np.full(shape, -1, dtype=int)
    for row, name in enumerate(names):
        for item, reasons in coders[name].items():
            if item not in column:
                continue
            col = column[item]
            labeled[row, col] = True
            chosen = [r for r in reasons if r in known]
            for r in chosen:
                present[row, col, reason_index[r]] = 1
            driver[row, col] = DRIVER_VALUES.index(codebook.driver_of(chosen))
    for reason, k in reason_index.items():
        matrix = np.where(labeled, present[:, :, k], -1)
        report.reasons[reason] = code_agreement(matrix, 2, samples=samples, seed=seed, values=("no", "yes"))
    report.driver = code_agreement(driver, len(DRIVER_VALUES), samples=samples, seed=seed, values=DRIVER_VALUES)
    return report


def _coded_by(coders: Mapping[str, Mapping[int, Sequence[str]]]) -> dict[int, int]:
    """How many of the annotators labeled each item."""
    counts: dict[int, int] = {}
    for labels in coders.values():
        for item in labels:
            counts[item] = counts.get(item, 0) + 1
    return counts


def check_shared(coders: Mapping[str, Mapping[int, Sequence[str]]]) -> None:
    """Raise the one-line error when no item was labeled by two of the annotators."""
    if any(n >= 2 for n in _coded_by(coders).values()):
        return
    ordered = sorted(coders, key=lambda a: (-len(coders[a]), a))
    if not ordered:
        detail = "nobody has labeled yet"
    else:
        parts = [f"{ordered[0]}: {len(coders[ordered[0]])} items"]
        parts += [f"{a}: 0 in common" for a in ordered[1:]] or ["nobody else has labeled"]
        detail = ", ".join(parts)
    raise AgreementError(f"agreement needs two annotators who labeled the same items ({detail})")


def team_agreement(coders: Mapping[str, Mapping[int, Sequence[str]]], codebook: Codebook, *,
                   samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> AgreementReport:
    """`agreement` over the annotators who share items with another one (the error if nobody does)."""
    check_shared(coders)
    coded_by = _coded_by(coders)
    sharing = {name: labels for name, labels in coders.items() if any(coded_by[i] >= 2 for i in labels)}
    return agreement(sharing, codebook, samples=samples, seed=seed)


# ---------------------------------------------------------------------------------------------
# Suspicious labels


def out_of_fold_probabilities(texts: Sequence[str], langs: Sequence[str | None] | None,
                              labels: Sequence[Sequence[str]], codebook: Codebook, folds: int = 5,
                              seed: int = 0, *, vectors=None, from_scratch: bool = False) -> tuple[np.ndarray, float]:
    """(probabilities (items, reasons) from k-fold models that never saw the item's label, threshold).

    The one place agreement reaches the model: it trains with the recipe `whylabel train` uses
    (words + meaning, on top of the shipped default's labels unless `from_scratch`). `vectors`:
    the items' sentence vectors if known (None: encoded here).
    """
    from .model import BlendedReasonClassifier, cross_validate, default_params, indicator, load_prior

    est = BlendedReasonClassifier(**default_params(codebook, seed))
    langs = list(langs) if langs is not None else [None] * len(texts)
    if vectors is None:
        vectors = [None] * len(texts)
    X = list(zip(texts, langs, vectors))
    prior = None if from_scratch else load_prior(codebook)
    Y = indicator(labels, codebook.reason_names)
    return cross_validate(est, X, Y, folds, seed, prior=prior), float(est.threshold)


def min_items_for_folds(folds: int) -> int:
    """Each fold needs a test part and a larger training part: two items per fold at least."""
    return 2 * folds


def self_confidence(probabilities: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Per item: the worst reason's p (label says no) or 1 - p (label says yes)."""
    per_reason = np.where(given.astype(bool), 1.0 - probabilities, probabilities)
    return per_reason.max(axis=1) if per_reason.size else np.zeros(len(probabilities))


@dataclass
class SuspiciousLabel:
    item_id: int
    external_id: str | None
    text: str
    labels: list[str]
    suggested: list[str]
    score: float

    def to_json(self) -> dict:
        return {"item_id": self.item_id, "external_id": self.external_id, "text": self.text,
                "labels": self.labels, "suggested": self.suggested, "score": self.score}


def rank_suspicious(rows: Sequence[dict], codebook: Codebook, *, folds: int = 5, seed: int = 0, vectors=None,
                    from_scratch: bool = False) -> list[SuspiciousLabel]:
    """Rank labeled rows (id, external_id, text, lang, reasons) most suspicious first."""
    need = min_items_for_folds(folds)
    if len(rows) < need:
        raise AgreementError(f"suspicious needs {need} labeled items for {folds}-fold cross-validation; "
                             f"{len(rows)} labeled, label {need - len(rows)} more")
    names = codebook.reason_names
    labels = [[r for r in row["reasons"] if r in names] for row in rows]
    probabilities, threshold = out_of_fold_probabilities([r["text"] for r in rows], [r.get("lang") for r in rows],
                                                         labels, codebook, folds=folds, seed=seed, vectors=vectors,
                                                         from_scratch=from_scratch)
    given = np.array([[name in chosen for name in names] for chosen in labels], dtype=bool).reshape(len(rows), len(names))
    scores = self_confidence(probabilities, given)
    order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i]["id"]))
    return [SuspiciousLabel(item_id=rows[i]["id"], external_id=rows[i].get("external_id"), text=rows[i]["text"],
                            labels=labels[i],
                            suggested=[n for n, p in zip(names, probabilities[i]) if p >= threshold],
                            score=round(float(scores[i]), 4))
            for i in order]
