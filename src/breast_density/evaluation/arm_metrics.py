"""One small metrics file per evaluated arm, all with the same keys.

DVC prints one column per distinct key of its declared metrics files, so the full evaluation report
(metrics/evaluate.json, hundreds of nested keys) makes `dvc metrics show` unreadably wide. Declaring these
per-arm summaries instead gives one row per arm and a handful of columns; the full report stays an output
that `dvc metrics show metrics/evaluate.json` reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from breast_density.io import reset_dir, write_json

# Summary key -> where it sits in an arm's section of the evaluation report.
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "accuracy_low": ("ci", "accuracy", "low"),
    "accuracy_high": ("ci", "accuracy", "high"),
    "macro_f1": ("macro_f1",),
    "kappa": ("kappa_quadratic",),
    "exam_accuracy": ("exam", "accuracy"),
    "n_images": ("n_images",),
    "n_exams": ("n_exams",),
}


def _lookup(section: Mapping, keys: tuple[str, ...]) -> object:
    node: object = section
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def arm_summaries(report: Mapping) -> dict[str, dict[str, object]]:
    """The evaluation report's arms (sections scored like a model: they carry an accuracy), each cut down
    to SUMMARY_KEYS; a value the report lacks is None, so every file keeps the same columns."""
    arms = {name: s for name, s in report.items() if isinstance(s, Mapping) and "accuracy" in s}
    return {name: {key: _lookup(s, path) for key, path in SUMMARY_KEYS.items()} for name, s in arms.items()}


def write_arm_metrics(folder: Path, report: Mapping) -> dict[str, dict[str, object]]:
    """Replace `folder` with one <arm>.json per arm of `report`; return the summaries written."""
    summaries = arm_summaries(report)
    reset_dir(folder)
    for name, summary in summaries.items():
        write_json(folder / f"{name}.json", summary)
    return summaries
