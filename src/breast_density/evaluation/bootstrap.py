"""Seeded percentile-bootstrap confidence intervals that resample clusters, not images.

The four views of an exam (and the exams of a returning patient) are strongly correlated, so resampling single
images would treat them as independent evidence and give intervals that are too narrow. Each resample draws
clusters with replacement; an image enters with the multiplicity of its cluster, passed to scikit-learn as a
sample weight.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from breast_density.evaluation.metrics import SUMMARY_METRICS, summary_metric

log = logging.getLogger(__name__)


def cluster_bootstrap_ci(
    actual: Sequence[str],
    predicted: Sequence[str],
    clusters: Sequence[str],
    classes: Sequence[str],
    *,
    resamples: int,
    confidence: float,
    seed: int,
    metrics: Sequence[str] = SUMMARY_METRICS,
    desc: str = "bootstrap",
) -> dict[str, dict[str, float]]:
    """Percentile interval per metric: ``{metric: {"low": ..., "high": ...}}``.

    Resamples in which a metric is undefined (a kappa with one class only) are left out of its percentiles;
    a metric undefined in every resample gets NaN bounds.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    if resamples < 1:
        raise ValueError(f"bootstrap_resamples must be at least 1, got {resamples}")
    actual = np.asarray(actual, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    _, cluster_index = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    n_clusters = int(cluster_index.max()) + 1
    rng = np.random.default_rng(seed)
    # Row b holds how often each cluster was drawn in resample b (n_clusters draws with replacement).
    draws = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples)
    values = np.empty((resamples, len(metrics)))
    for b in tqdm(range(resamples), desc=desc, leave=False, mininterval=1.0):
        weight = draws[b, cluster_index].astype(float)
        for j, name in enumerate(metrics):
            values[b, j] = summary_metric(name, actual, predicted, classes, sample_weight=weight)
    alpha = (1.0 - confidence) / 2.0
    out = {}
    for j, name in enumerate(metrics):
        finite = values[np.isfinite(values[:, j]), j]
        if len(finite) < resamples:
            log.info("%s: %s undefined in %d of %d resamples", desc, name, resamples - len(finite), resamples)
        if len(finite) == 0:
            out[name] = {"low": float("nan"), "high": float("nan")}
        else:
            low, high = np.quantile(finite, [alpha, 1.0 - alpha])
            out[name] = {"low": float(low), "high": float(high)}
    return out
