"""Honest metrics for multi-label reason suggestions.

Contract: `evaluate_probabilities(P, Y, codebook, threshold)` returns a JSON-ready dict: per-reason
precision / recall / F1 / support and confusion counts (TP, FP, FN, TN), macro-F1 (the unweighted
mean over reasons), micro-F1, driver accuracy (emotional / rational / mixed / none of the predicted
set against the gold set), exact-set accuracy and the expected calibration error (ECE: the
|confidence - frequency| gap over 10 equal-width probability bins, weighted by bin size, pooled
over every item x reason decision). `kfold_indices` gives the deterministic folds `train` uses.
numpy only, so it is cheap to import.
"""

from __future__ import annotations

from collections.abc import Iterator

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


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate_probabilities(P: np.ndarray, Y: np.ndarray, codebook, threshold: float = 0.5) -> dict:
    P = np.asarray(P, dtype=float)
    Y = np.asarray(Y, dtype=int)
    reasons = list(codebook.reason_names)
    pred = (P >= threshold).astype(int)
    per = {}
    f1s = []
    TP = FP = FN = 0
    for j, r in enumerate(reasons):
        tp = int(((pred[:, j] == 1) & (Y[:, j] == 1)).sum())
        fp = int(((pred[:, j] == 1) & (Y[:, j] == 0)).sum())
        fn = int(((pred[:, j] == 0) & (Y[:, j] == 1)).sum())
        tn = int(len(Y) - tp - fp - fn)
        p, rc, f = _prf(tp, fp, fn)
        per[r] = {"precision": round(p, 4), "recall": round(rc, 4), "f1": round(f, 4),
                  "support": int(Y[:, j].sum()), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                  "ece": round(expected_calibration_error(P[:, j], Y[:, j]), 4)}
        f1s.append(f)
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    drivers_ok = 0
    for i in range(len(Y)):
        gold = [r for j, r in enumerate(reasons) if Y[i, j]]
        got = [r for j, r in enumerate(reasons) if pred[i, j]]
        drivers_ok += codebook.driver_of(gold) == codebook.driver_of(got)
    return {
        "n": int(len(Y)),
        "threshold": float(threshold),
        "macro_f1": round(float(np.mean(f1s)) if f1s else 0.0, 4),
        "micro_f1": round(_prf(TP, FP, FN)[2], 4),
        "driver_accuracy": round(drivers_ok / len(Y), 4) if len(Y) else 0.0,
        "exact_match": round(float((pred == Y).all(axis=1).mean()), 4) if len(Y) else 0.0,
        "ece": round(expected_calibration_error(P, Y), 4),
        "per_reason": per,
        "calibration": calibration_table(P, Y),
    }


def kfold_indices(Y: np.ndarray, folds: int, seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Deterministic folds that spread each reason's positives evenly (rarest reason first)."""
    Y = np.asarray(Y, dtype=int)
    n = len(Y)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    # Sort items by their rarest reason so a round-robin deal stratifies the rare ones.
    freq = Y.sum(axis=0) if Y.ndim == 2 and Y.shape[1] else np.zeros(0)
    def rarity(i: int) -> float:
        labels = np.nonzero(Y[i])[0] if Y.ndim == 2 else []
        return float(min(freq[labels])) if len(labels) else float(n + 1)
    order = sorted(order, key=lambda i: rarity(int(i)))
    fold_of = np.empty(n, dtype=int)
    for k, i in enumerate(order):
        fold_of[i] = k % folds
    for k in range(folds):
        test = np.nonzero(fold_of == k)[0]
        train = np.nonzero(fold_of != k)[0]
        yield train, test
