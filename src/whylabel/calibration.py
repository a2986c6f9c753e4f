"""Calibrated linear decisions kept as plain numbers.

Contract: `fit_calibrated_linear(estimator, X, y, folds=3, seed=0, sample_weight=None)` fits a
linear scikit-learn classifier with `CalibratedClassifierCV(method="sigmoid", ensemble=False)`:
one model on all the data, Platt's sigmoid fitted on out-of-fold decision scores. It returns the
weights, the intercept and (slope, offset) with P = sigmoid(slope * (w . x + b) + offset), so both
sides of the reason model predict with one matrix product and a model file holds only arrays.
With fewer than two of either class per fold there is nothing to calibrate on: (1, 0).
"""

from __future__ import annotations

import numpy as np


def fit_calibrated_linear(estimator, X, y, *, folds: int = 3, seed: int = 0,
                          sample_weight=None) -> tuple[np.ndarray, float, tuple[float, float]]:
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y, dtype=int)
    pos = int(y.sum())
    k = min(int(folds), pos, len(y) - pos)
    if k < 2:
        fitted = clone(estimator).fit(X, y, sample_weight=sample_weight)
        return np.ravel(fitted.coef_), float(np.ravel(fitted.intercept_)[0]), (1.0, 0.0)
    cal = CalibratedClassifierCV(estimator, method="sigmoid", ensemble=False,
                                 cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    cal.fit(X, y, sample_weight=sample_weight)
    inner = cal.calibrated_classifiers_[0]
    sigmoid = inner.calibrators[0]  # P = expit(-(a * score + b))
    slope, offset = -float(sigmoid.a_), -float(sigmoid.b_)
    if slope <= 0:  # a calibration that reverses the ranking means no signal: keep the model's order
        slope, offset = 1.0, 0.0
    return np.ravel(inner.estimator.coef_), float(np.ravel(inner.estimator.intercept_)[0]), (slope, offset)
