"""Calibration of predicted class probabilities: expected calibration error, Brier score, reliability bins.

ECE uses the top-label confidence (the probability of the predicted class) in equal-width bins over [0, 1]:
the bin-size-weighted mean gap between the bin's accuracy and its mean confidence. The Brier score is the
multi-class one: the mean over cases of the squared distance between the probability vector and the one-hot
truth (0 is perfect; a uniform guess over K classes scores 1 - 1/K).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _one_hot(actual: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[actual]


def brier_score(probabilities: np.ndarray, actual: np.ndarray) -> float:
    """Multi-class Brier score; `actual` holds class indices."""
    p = np.asarray(probabilities, dtype=float)
    return float(((p - _one_hot(actual, p.shape[1])) ** 2).sum(axis=1).mean())


def reliability_bins(probabilities: np.ndarray, actual: np.ndarray, bins: int) -> dict[str, list]:
    """Per equal-width confidence bin: lower edge, count, mean confidence, accuracy (None for empty bins)."""
    p = np.asarray(probabilities, dtype=float)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == actual
    # bin i holds confidences in [i/bins, (i+1)/bins); a confidence of exactly 1 goes into the last bin
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    out: dict[str, list] = {"lower": [], "count": [], "confidence": [], "accuracy": []}
    for i in range(bins):
        members = which == i
        out["lower"].append(i / bins)
        out["count"].append(int(members.sum()))
        out["confidence"].append(float(confidence[members].mean()) if members.any() else None)
        out["accuracy"].append(float(correct[members].mean()) if members.any() else None)
    return out


def expected_calibration_error(probabilities: np.ndarray, actual: np.ndarray, bins: int) -> float:
    table = reliability_bins(probabilities, actual, bins)
    n = sum(table["count"])
    return float(
        sum(
            count / n * abs(acc - conf)
            for count, acc, conf in zip(table["count"], table["accuracy"], table["confidence"], strict=True)
            if count
        )
    )


def calibration_summary(
    probabilities: np.ndarray, actual: Sequence[str], classes: Sequence[str], bins: int
) -> dict:
    """``{"ece", "brier", "bins"}`` for one set of predictions."""
    if bins < 1:
        raise ValueError(f"calibration bins must be at least 1, got {bins}")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in actual], dtype=int)
    return {
        "ece": expected_calibration_error(probabilities, y, bins),
        "brier": brier_score(probabilities, y),
        "bins": reliability_bins(probabilities, y, bins),
    }
