"""One model's section of metrics/evaluate.json: point estimates and cluster-bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Sequence

from breast_density.evaluation.bootstrap import cluster_bootstrap_ci
from breast_density.evaluation.metrics import classification_metrics


def evaluate_predictions(
    actual: Sequence[str],
    predicted: Sequence[str],
    clusters: Sequence[str],
    classes: Sequence[str],
    *,
    resamples: int,
    confidence: float,
    seed: int,
) -> dict:
    """classification_metrics + n_clusters + ``ci.<metric>.{low,high}``."""
    section = classification_metrics(actual, predicted, classes)
    section["n_clusters"] = len(set(clusters))
    section["ci"] = cluster_bootstrap_ci(
        actual, predicted, clusters, classes, resamples=resamples, confidence=confidence, seed=seed
    )
    return section


def json_safe(obj: object) -> object:
    """JSON has no NaN: undefined values (a kappa with a single class) become null."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
