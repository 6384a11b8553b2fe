"""Paired comparisons of every pair of arms on the test cases they share.

Primary figures are at the exam level (an exam is one case): the difference in accuracy and the weighted
kappas with a paired, patient-level cluster bootstrap interval, and an exact McNemar test on exams, with
Holm-adjusted p-values over all pairs. The per-image McNemar test is kept as a secondary figure only.
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from breast_density.evaluation.aggregate import exam_level
from breast_density.evaluation.bootstrap import paired_bootstrap
from breast_density.evaluation.metrics import SUMMARY_METRICS, summary_metric
from breast_density.evaluation.significance import exact_mcnemar, holm
from breast_density.evaluation.summary import EvalSettings


def _shared(first: pd.DataFrame, second: pd.DataFrame, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = sorted(set(first[key]) & set(second[key]))
    return (
        first.set_index(key).loc[ids].reset_index(),
        second.set_index(key).loc[ids].reset_index(),
    )


def compare_pair(first: pd.DataFrame, second: pd.DataFrame, s: EvalSettings) -> dict:
    """Figures for ``second - first`` on their shared images (each frame image-level, one arm)."""
    classes = list(s.classes)
    img_a, img_b = _shared(first, second, "image_id")
    if img_a.empty:
        raise ValueError("the arms share no test images; a paired comparison needs the same cases")
    ex_a, ex_b = _shared(exam_level(img_a, classes), exam_level(img_b, classes), "exam_id")
    clusters = ex_a[s.cluster] if s.cluster in ex_a else ex_a["exam_id"]
    intervals = paired_bootstrap(
        ex_a["actual"],
        ex_a["predicted"],
        ex_b["predicted"],
        clusters,
        classes,
        resamples=s.resamples,
        confidence=s.confidence,
        seed=s.seed,
        stratified=s.stratified,
    )
    out: dict = {
        "level": "exam",
        "n_images": len(img_a),
        "n_exams": len(ex_a),
        "n_patients": int(clusters.nunique()),
    }
    for metric in SUMMARY_METRICS:
        a = summary_metric(metric, ex_a["actual"].to_numpy(), ex_a["predicted"].to_numpy(), classes)
        b = summary_metric(metric, ex_b["actual"].to_numpy(), ex_b["predicted"].to_numpy(), classes)
        out[metric] = {"first": a, "second": b, "difference": b - a, "ci": intervals[metric]}
    out["mcnemar_exam"] = exact_mcnemar(
        (ex_a["actual"] == ex_a["predicted"]).to_numpy(), (ex_b["actual"] == ex_b["predicted"]).to_numpy()
    )
    out["mcnemar_image"] = exact_mcnemar(
        (img_a["actual"] == img_a["predicted"]).to_numpy(),
        (img_b["actual"] == img_b["predicted"]).to_numpy(),
    )
    return out


def pairwise_comparisons(arms: dict[str, pd.DataFrame], s: EvalSettings) -> dict[str, dict]:
    """``{"<a>_vs_<b>": compare_pair(...)}`` for every pair in arm order, with ``p_holm`` over all pairs."""
    out = {f"{a}_vs_{b}": compare_pair(arms[a], arms[b], s) for a, b in combinations(arms, 2)}
    adjusted = holm({key: c["mcnemar_exam"]["p_value"] for key, c in out.items()})
    for key, c in out.items():
        c["p_holm"] = adjusted[key]
    return out
