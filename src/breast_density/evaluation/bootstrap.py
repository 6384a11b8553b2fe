"""Seeded percentile-bootstrap confidence intervals that resample clusters, not images.

The four views of an exam (and the exams of a returning patient) are strongly correlated, so resampling single
images would treat them as independent evidence and give intervals that are too narrow. Each resample draws
clusters with replacement.

Stratified resampling: clusters are grouped by their class (the most frequent actual class among their rows)
and each resample draws, per class, as many clusters as that class has. On a balanced test set every resample
then keeps every class, so no resample scores F1 = 0 for a class it merely failed to draw. A class with fewer
than MIN_STRATUM clusters would make that class's contribution almost constant (one patient per class: no
variation at all), so then the resampling is plain, and resamples in which a metric is undefined are left out
of its interval.

Speed: scikit-learn's per-call input checks cost about 1 ms, i.e. ~20 s for 1000 resamples of four metrics
and four models. A resample only changes the confusion matrix, so all resampled matrices are built in one
tensor product and the metrics are evaluated on them at once with scikit-learn's definitions (same
zero-division and weighting rules; a test checks agreement with scikit-learn to 1e-12). Point estimates still
come from scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from breast_density.evaluation.metrics import SUMMARY_METRICS

MIN_STRATUM = 5  # clusters every class needs before resampling is stratified


def batch_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """SUMMARY_METRICS for a stack of confusion matrices ``(B, K, K)`` (rows actual, columns predicted)."""
    cm = np.asarray(cm, dtype=float)
    n = cm.sum(axis=(1, 2))
    tp = np.diagonal(cm, axis1=1, axis2=2)
    actual_totals = cm.sum(axis=2)
    predicted_totals = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        # F1 = 2tp / (2tp + fp + fn); sklearn's zero_division=0 makes a class absent from both sides 0.
        f1_denominator = actual_totals + predicted_totals
        f1 = np.where(f1_denominator > 0, 2 * tp / f1_denominator, 0.0)
        out = {"accuracy": tp.sum(axis=1) / n, "macro_f1": f1.mean(axis=1)}
        expected = actual_totals[:, :, None] * predicted_totals[:, None, :] / n[:, None, None]
        k = cm.shape[1]
        distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))).astype(float)
        for name, weights in (("kappa_linear", distance), ("kappa_quadratic", distance**2)):
            # Undefined (0/0) when chance agreement is perfect: NaN, as sklearn reports it.
            out[name] = 1.0 - (weights * cm).sum(axis=(1, 2)) / (weights * expected).sum(axis=(1, 2))
    return {name: out[name] for name in SUMMARY_METRICS}


def encode(values: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Class names -> indices in the configured order."""
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[c] for c in values], dtype=int)


def per_cluster_counts(
    actual: np.ndarray, predicted: np.ndarray, cluster_of: np.ndarray, k: int
) -> np.ndarray:
    """``(n_clusters, K, K)`` confusion counts of each cluster (class indices in, cluster indices in)."""
    counts = np.zeros((int(cluster_of.max()) + 1, k, k))
    np.add.at(counts, (cluster_of, actual, predicted), 1.0)
    return counts


def cluster_strata(per_cluster: np.ndarray) -> np.ndarray:
    """Each cluster's most frequent actual class (ties to the first class)."""
    return per_cluster.sum(axis=2).argmax(axis=1)


def can_stratify(per_cluster: np.ndarray) -> bool:
    """Every class present among the clusters has at least MIN_STRATUM of them."""
    sizes = np.bincount(cluster_strata(per_cluster))
    return bool(sizes[sizes > 0].min() >= MIN_STRATUM)


def stratifiable(actual: Sequence[str], clusters: Sequence[str], classes: Sequence[str]) -> bool:
    """Whether cluster_bootstrap_ci(..., stratified=True) stratifies these data (see MIN_STRATUM)."""
    _, cluster_of = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    a = encode(actual, classes)
    return can_stratify(per_cluster_counts(a, a, cluster_of, len(classes)))


def cluster_draws(per_cluster: np.ndarray, *, resamples: int, seed: int, stratified: bool) -> np.ndarray:
    """``(resamples, n_clusters)``: how often each cluster is drawn in each resample."""
    if resamples < 1:
        raise ValueError(f"bootstrap_resamples must be at least 1, got {resamples}")
    n_clusters = len(per_cluster)
    rng = np.random.default_rng(seed)
    if not (stratified and can_stratify(per_cluster)):
        return rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples)
    stratum = cluster_strata(per_cluster)
    draws = np.zeros((resamples, n_clusters), dtype=np.int64)
    for s in np.unique(stratum):
        members = np.flatnonzero(stratum == s)
        draws[:, members] = rng.multinomial(
            len(members), np.full(len(members), 1.0 / len(members)), resamples
        )
    return draws


def percentile_interval(values: np.ndarray, confidence: float) -> dict[str, float]:
    """Percentile bounds over the finite values (NaN bounds when none is finite)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    alpha = (1.0 - confidence) / 2.0
    finite = values[np.isfinite(values)]
    low, high = np.quantile(finite, [alpha, 1.0 - alpha]) if len(finite) else (np.nan, np.nan)
    return {"low": float(low), "high": float(high)}


def cluster_bootstrap_ci(
    actual: Sequence[str],
    predicted: Sequence[str],
    clusters: Sequence[str],
    classes: Sequence[str],
    *,
    resamples: int,
    confidence: float,
    seed: int,
    stratified: bool = False,
) -> dict[str, dict[str, float]]:
    """Percentile interval per metric: ``{metric: {"low": ..., "high": ...}}``.

    Resamples in which a metric is undefined (a kappa with one class only) are left out of its percentiles;
    a metric undefined in every resample gets NaN bounds.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    _, cluster_of = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    per_cluster = per_cluster_counts(
        encode(actual, classes), encode(predicted, classes), cluster_of, len(classes)
    )
    draws = cluster_draws(per_cluster, resamples=resamples, seed=seed, stratified=stratified)
    scores = batch_scores(np.einsum("bc,ckl->bkl", draws, per_cluster))
    return {name: percentile_interval(values, confidence) for name, values in scores.items()}


def paired_bootstrap(
    actual: Sequence[str],
    first: Sequence[str],
    second: Sequence[str],
    clusters: Sequence[str],
    classes: Sequence[str],
    *,
    resamples: int,
    confidence: float,
    seed: int,
    stratified: bool = False,
) -> dict[str, dict[str, float]]:
    """Interval of ``second - first`` per metric, both arms scored on the *same* resampled clusters.

    Sharing the draws keeps the pairing: a patient who is hard for both arms moves both scores together, so
    the difference's interval is narrower than two separate intervals suggest (and honest about clusters).
    Returns ``{metric: {"low": ..., "high": ...}}``.
    """
    _, cluster_of = np.unique(np.asarray(clusters, dtype=str), return_inverse=True)
    a = encode(actual, classes)
    k = len(classes)
    per_first = per_cluster_counts(a, encode(first, classes), cluster_of, k)
    per_second = per_cluster_counts(a, encode(second, classes), cluster_of, k)
    draws = cluster_draws(per_first, resamples=resamples, seed=seed, stratified=stratified)
    s1 = batch_scores(np.einsum("bc,ckl->bkl", draws, per_first))
    s2 = batch_scores(np.einsum("bc,ckl->bkl", draws, per_second))
    return {name: percentile_interval(s2[name] - s1[name], confidence) for name in SUMMARY_METRICS}
