"""The meaning side of the reason model: one calibrated decision per reason over sentence vectors.

Contract: `MeaningClassifier` is a scikit-learn estimator over an (n, DIM) array of sentence
vectors (`whylabel.encoder`) and an (n, reasons) indicator matrix. Each reason is a logistic
regression, Platt-calibrated on out-of-fold scores (`calibration.fit_calibrated_linear`: scikit-
learn's `CalibratedClassifierCV`), then kept as plain arrays so that predicting is one matrix
product and a model file holds nothing but numbers. A reason with
too few labels to learn from is inactive: the blend then leaves it to the words.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


class MeaningClassifier(ClassifierMixin, BaseEstimator):
    """Per reason: P = sigmoid(slope * (w . v + b) + offset), over a sentence vector v."""

    def __init__(self, C=0.3, class_weight="balanced", calibration_folds=3, min_positives=10, random_state=0):
        self.C = C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.min_positives = min_positives
        self.random_state = random_state

    def fit(self, E, Y, sample_weight=None):
        from sklearn.linear_model import LogisticRegression

        from .calibration import fit_calibrated_linear

        E = np.asarray(E, dtype=np.float64)
        Y = np.asarray(Y, dtype=int)
        if Y.ndim == 1:
            Y = Y[:, None]
        n, R = Y.shape
        self.coef_ = np.zeros((R, E.shape[1] if E.ndim == 2 else 0))
        self.intercept_ = np.zeros(R)
        self.calibration_ = np.tile([1.0, 0.0], (R, 1))
        self.active_ = np.zeros(R, dtype=bool)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        for r in range(R):
            pos = int(Y[:, r].sum())
            if pos < int(self.min_positives) or min(int(self.calibration_folds), pos, n - pos) < 2:
                continue
            lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
            self.coef_[r], self.intercept_[r], self.calibration_[r] = fit_calibrated_linear(
                lr, E, Y[:, r], folds=int(self.calibration_folds), seed=int(self.random_state or 0), sample_weight=w)
            self.active_[r] = True
        self.n_features_in_ = self.coef_.shape[1]
        return self

    def predict_proba(self, E) -> np.ndarray:
        E = np.asarray(E, dtype=np.float32)
        scores = E @ self.coef_.T.astype(np.float32) + self.intercept_.astype(np.float32)
        return sigmoid(scores * self.calibration_[:, 0] + self.calibration_[:, 1])

    def predict(self, E) -> np.ndarray:
        return (self.predict_proba(E) >= 0.5).astype(int)
