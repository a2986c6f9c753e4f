"""Honest metrics for multi-label reason suggestions.

Contract: `evaluate_probabilities(P, Y, codebook, threshold)` returns a JSON-ready dict: per-reason
precision / recall / F1 / support and confusion counts (TP, FP, FN, TN), macro-F1 (the unweighted
mean over reasons), micro-F1, driver accuracy (emotional / rational / mixed / none of the predicted
set against the gold set), exact-set accuracy and the expected calibration error (ECE: the
|confidence - frequency| gap over 10 equal-width probability bins, weighted by bin size, pooled
over every item x reason decision). The counts and scores are scikit-learn's
(`precision_recall_fscore_support`, `multilabel_confusion_matrix`), imported when called.
"""

from __future__ import annotations


import numpy as np

ECE_BINS = 10


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> float:
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if not len(p):
        return 0.0
    which = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - y[sel].mean())
    return float(total / len(p))


def calibration_table(p: np.ndarray, y: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per probability bin: how many decisions, mean predicted probability, observed frequency."""
    p = np.asarray(p, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        sel = which == b
        if sel.any():
            out.append({"bin": [b / bins, (b + 1) / bins], "n": int(sel.sum()),
                        "mean_p": round(float(p[sel].mean()), 4), "frequency": round(float(y[sel].mean()), 4)})
    return out


def evaluate_probabilities(P: np.ndarray, Y: np.ndarray, codebook, threshold: float = 0.5) -> dict:
    from sklearn.metrics import f1_score, multilabel_confusion_matrix, precision_recall_fscore_support

    P = np.asarray(P, dtype=float)
    Y = np.asarray(Y, dtype=int)
    reasons = list(codebook.reason_names)
    pred = (P >= threshold).astype(int)
    per = {}
    if len(Y):
        precision, recall, f1, support = precision_recall_fscore_support(
            Y, pred, average=None, labels=range(len(reasons)), zero_division=0)
        confusion = multilabel_confusion_matrix(Y, pred, labels=range(len(reasons)))
        micro = float(f1_score(Y, pred, average="micro", zero_division=0))
    else:
        precision = recall = f1 = support = np.zeros(len(reasons))
        confusion = np.zeros((len(reasons), 2, 2), dtype=int)
        micro = 0.0
    for j, r in enumerate(reasons):
        (tn, fp), (fn, tp) = confusion[j].tolist()
        per[r] = {"precision": round(float(precision[j]), 4), "recall": round(float(recall[j]), 4),
                  "f1": round(float(f1[j]), 4), "support": int(support[j]), "tp": tp, "fp": fp, "fn": fn,
                  "tn": tn, "ece": round(expected_calibration_error(P[:, j], Y[:, j]), 4)}
    f1s = list(f1)
    drivers_ok = 0
    for i in range(len(Y)):
        gold = [r for j, r in enumerate(reasons) if Y[i, j]]
        got = [r for j, r in enumerate(reasons) if pred[i, j]]
        drivers_ok += codebook.driver_of(gold) == codebook.driver_of(got)
    return {
        "n": int(len(Y)),
        "threshold": float(threshold),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "micro_f1": round(micro, 4),
        "driver_accuracy": round(drivers_ok / len(Y), 4) if len(Y) else 0.0,
        "exact_match": round(float((pred == Y).all(axis=1).mean()), 4) if len(Y) else 0.0,
        "ece": round(expected_calibration_error(P, Y), 4),
        "per_reason": per,
        "calibration": calibration_table(P, Y),
    }
