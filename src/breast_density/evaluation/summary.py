"""One arm's section of metrics/evaluate.json: image, exam and breast level, calibration and slices.

Every level block carries the same figures (point estimates, cluster-bootstrap intervals, calibration,
prevalence-weighted accuracy, dense vs non-dense when the classes are the study's) and counts images, exams
and patients, so no figure travels without the number of independent cases behind it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from breast_density.evaluation.aggregate import breast_level, exam_level, probability_columns
from breast_density.evaluation.bootstrap import cluster_bootstrap_ci, stratifiable
from breast_density.evaluation.calibration import calibration_summary
from breast_density.evaluation.metrics import (
    classification_metrics,
    dense_vs_nondense,
    is_study_class_set,
    prevalence_weighted_accuracy,
)

# Slices compare subgroups: a few headline figures each, not the full block.
SLICE_METRICS = ("accuracy", "macro_f1", "kappa_linear", "kappa_quadratic")
SLICE_COLUMNS = {"vendor": "vendor", "view": "view"}


@dataclass(frozen=True)
class EvalSettings:
    classes: tuple[str, ...]
    resamples: int
    confidence: float
    seed: int
    stratified: bool = True
    calibration_bins: int = 10
    prior: dict[str, float] | None = None  # class -> prevalence; None or another class set: not computed
    cluster: str = "patient_id"  # bootstrap resampling unit


def counts(frame: pd.DataFrame) -> dict[str, int]:
    """Images, exams and patients behind a frame (image-level or aggregated)."""
    n_images = int(frame["n_views"].sum()) if "n_views" in frame else len(frame)
    out = {"n_images": n_images}
    for column, key in (("exam_id", "n_exams"), ("patient_id", "n_patients")):
        if column in frame and (frame[column] != "").all():
            out[key] = int(frame[column].nunique())
    return out


def level_section(frame: pd.DataFrame, s: EvalSettings) -> dict:
    """Full figures of one level (rows = images, exams or breasts)."""
    classes = list(s.classes)
    section = classification_metrics(frame["actual"], frame["predicted"], classes)
    section.update(counts(frame))
    clusters = frame[s.cluster] if s.cluster in frame else frame.index.astype(str)
    section["n_clusters"] = int(pd.Series(clusters).nunique())
    section["ci_stratified"] = s.stratified and stratifiable(frame["actual"], clusters, classes)
    section["ci"] = cluster_bootstrap_ci(
        frame["actual"],
        frame["predicted"],
        clusters,
        classes,
        resamples=s.resamples,
        confidence=s.confidence,
        seed=s.seed,
        stratified=s.stratified,
    )
    probs = frame[probability_columns(classes)].to_numpy(dtype=float)
    calibration = calibration_summary(probs, frame["actual"], classes, s.calibration_bins)
    section["ece"], section["brier"] = calibration["ece"], calibration["brier"]
    if s.prior is not None and set(s.prior) == set(classes):
        section["prevalence_accuracy"] = prevalence_weighted_accuracy(section["per_class"], s.prior)
    if is_study_class_set(classes):
        section["dense"] = dense_vs_nondense(frame["actual"], frame["predicted"])
    return section


def slice_section(frame: pd.DataFrame, s: EvalSettings) -> dict:
    full = level_section(frame, s)
    return {
        **counts(frame),
        **{m: full[m] for m in SLICE_METRICS},
        "ci": {m: full["ci"][m] for m in ("accuracy", "kappa_quadratic")},
    }


def arm_section(images: pd.DataFrame, s: EvalSettings) -> dict:
    """Image-level figures at the top (the keys other tools read), then ``exam``, ``breast``, slices."""
    section = level_section(images, s)
    section["n"] = section["n_images"]  # the name earlier versions used
    section["exam"] = level_section(exam_level(images, s.classes), s)
    breasts = breast_level(images, s.classes)
    if breasts is not None:
        section["breast"] = level_section(breasts, s)
    for key, column in SLICE_COLUMNS.items():
        if column in images and (images[column] != "").all():
            section[key] = {
                str(value): slice_section(rows, s) for value, rows in images.groupby(column, sort=True)
            }
    return section


def spread(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation across splits (sd NaN for a single split)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    return {
        "mean": float(v.mean()) if len(v) else float("nan"),
        "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
    }


def json_safe(obj: object) -> object:
    """JSON has no NaN: undefined values (a kappa with a single class) become null."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.floating):
        return json_safe(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def split_figures(images: pd.DataFrame, s: EvalSettings) -> dict[str, float]:
    """Point figures of one split's test predictions (image and exam level), for the spread across splits."""
    classes = list(s.classes)
    exams = exam_level(images, classes)
    image = classification_metrics(images["actual"], images["predicted"], classes)
    exam = classification_metrics(exams["actual"], exams["predicted"], classes)
    return {
        **counts(images),
        "accuracy": image["accuracy"],
        "macro_f1": image["macro_f1"],
        "kappa_quadratic": image["kappa_quadratic"],
        "exam_accuracy": exam["accuracy"],
        "exam_macro_f1": exam["macro_f1"],
        "exam_kappa_quadratic": exam["kappa_quadratic"],
    }


def across_splits(per_split: dict[str, dict[str, float]]) -> dict[str, dict]:
    """``{"splits": per_split, "mean": {...}, "sd": {...}}`` over the figures every split has."""
    names = [k for k in next(iter(per_split.values())) if not k.startswith("n_")]
    summary = {name: spread([figures[name] for figures in per_split.values()]) for name in names}
    return {
        "splits": per_split,
        "mean": {name: v["mean"] for name, v in summary.items()},
        "sd": {name: v["sd"] for name, v in summary.items()},
    }
