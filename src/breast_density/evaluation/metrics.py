"""Point estimates of classification quality, all computed by scikit-learn.

The order of ``classes`` matters twice: it fixes the rows/columns of confusion matrices and it is the ordinal
scale of the weighted kappas (BI-RADS A < B < C < D), so a disagreement of two categories costs more than one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

# Metrics that get bootstrap confidence intervals.
SUMMARY_METRICS = ("accuracy", "macro_f1", "kappa_linear", "kappa_quadratic")


def summary_metric(
    name: str,
    actual: np.ndarray,
    predicted: np.ndarray,
    classes: Sequence[str],
) -> float:
    """One of SUMMARY_METRICS."""
    labels = list(classes)
    if name == "accuracy":
        value = accuracy_score(actual, predicted)
    elif name == "macro_f1":
        # Macro over *all* configured classes: a class the model never predicts counts as F1 = 0.
        value = f1_score(actual, predicted, labels=labels, average="macro", zero_division=0)
    elif name in ("kappa_linear", "kappa_quadratic"):
        value = _kappa(actual, predicted, labels, name.removeprefix("kappa_"))
    else:
        raise ValueError(f"unknown metric {name!r}; choose from {SUMMARY_METRICS}")
    return float(value)


def _kappa(
    actual: np.ndarray,
    predicted: np.ndarray,
    labels: list[str],
    weights: str,
) -> float:
    # Kappa is undefined (0/0) when chance agreement is perfect, e.g. both raters use one class only:
    # report NaN (null in the JSON) without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        value = cohen_kappa_score(actual, predicted, labels=labels, weights=weights)
    return float(value) if math.isfinite(value) else float("nan")


def classification_metrics(actual: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict:
    """Accuracy, macro-F1, balanced accuracy, weighted kappas and per-class precision/recall/F1/support."""
    actual = np.asarray(actual, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    if len(actual) == 0:
        raise ValueError("no predictions to evaluate")
    labels = list(classes)
    out: dict = {"n": len(actual)}
    for name in SUMMARY_METRICS:
        out[name] = summary_metric(name, actual, predicted, labels)
    # sklearn's balanced accuracy averages recall over the classes *present* in `actual`, which is what a
    # reader expects when a class is absent from a small test split.
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true" is expected for small splits, not a problem.
        warnings.simplefilter("ignore", UserWarning)
        out["balanced_accuracy"] = float(balanced_accuracy_score(actual, predicted))
    precision, recall, f1, support = precision_recall_fscore_support(
        actual, predicted, labels=labels, zero_division=0
    )
    out["per_class"] = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    return out


def confusion_counts(actual: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Counts with actual classes as rows and predictions as columns, in the configured class order."""
    return confusion_matrix(actual, predicted, labels=list(classes))


# Density notification rules split BI-RADS into dense (C, D) and non-dense (A, B); only meaningful when the
# configured classes are exactly the study's four.
STUDY_CLASSES = ("A", "B", "C", "D")
DENSE_CLASSES = ("C", "D")


def is_study_class_set(classes: Sequence[str]) -> bool:
    return tuple(classes) == STUDY_CLASSES


def dense_vs_nondense(actual: Sequence[str], predicted: Sequence[str]) -> dict:
    """Sensitivity (dense found dense), specificity (non-dense kept non-dense) and accuracy of C+D vs A+B,
    derived from 4-class predictions. Undefined rates (no case of a side) are NaN."""
    a = np.isin(np.asarray(actual, dtype=object), DENSE_CLASSES)
    p = np.isin(np.asarray(predicted, dtype=object), DENSE_CLASSES)
    tp, tn = int((a & p).sum()), int((~a & ~p).sum())
    n_dense, n_nondense = int(a.sum()), int((~a).sum())
    return {
        "n": len(a),
        "n_dense": n_dense,
        "sensitivity": tp / n_dense if n_dense else float("nan"),
        "specificity": tn / n_nondense if n_nondense else float("nan"),
        "accuracy": (tp + tn) / len(a) if len(a) else float("nan"),
    }


def prevalence_weighted_accuracy(per_class: dict, prior: dict[str, float]) -> float:
    """Accuracy expected where classes occur with `prior` (not the test set's balanced mix): the
    prior-weighted mean of the per-class recalls. NaN when a prior class has no test case."""
    total = sum(prior.values())
    if any(per_class[c]["support"] == 0 for c, w in prior.items() if w > 0):
        return float("nan")
    return float(sum(w * per_class[c]["recall"] for c, w in prior.items()) / total)
