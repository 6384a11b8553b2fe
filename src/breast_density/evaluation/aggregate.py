"""Exam- and breast-level predictions from per-image ones.

Labels are per exam, so an exam's views are one case, not four: its class probabilities are the mean of its
views' probabilities and its prediction is their argmax (ties to the first class, like the image level).
Breast level does the same per (exam, laterality) where laterality is known.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

# Columns carried from the first view of a group (they are constant within an exam).
_CARRIED = ("patient_id", "partition", "split", "vendor")


def probability_columns(classes: Sequence[str]) -> list[str]:
    return [f"p_{c}" for c in classes]


def aggregate_views(frame: pd.DataFrame, classes: Sequence[str], keys: Sequence[str]) -> pd.DataFrame:
    """One row per group of `keys`: mean probabilities, argmax prediction, the group's actual class, n_views.

    A group whose views disagree on the actual class is an error naming it (labels come from the exam).
    """
    columns = probability_columns(classes)
    missing = [c for c in (*keys, "actual", *columns) if c not in frame.columns]
    if missing:
        raise ValueError(f"predictions lack column(s) {missing} needed for {'/'.join(keys)}-level figures")
    groups = frame.groupby(list(keys), sort=True)
    labels = groups["actual"].nunique()
    mixed = labels[labels > 1]
    if len(mixed):
        raise ValueError(
            f"{len(mixed)} {'/'.join(keys)} group(s) hold views with different actual classes, "
            f"e.g. {mixed.index[0]!r}; labels must be per exam"
        )
    probs = groups[columns].mean()
    out = probs.reset_index()
    first = groups.first()
    out["actual"] = first["actual"].to_numpy()
    out["predicted"] = np.asarray(classes, dtype=object)[probs.to_numpy().argmax(axis=1)]
    out["n_views"] = groups.size().to_numpy()
    for column in _CARRIED:
        if column in frame.columns and column not in keys:
            out[column] = first[column].to_numpy()
    return out


def exam_level(frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    return aggregate_views(frame, classes, ["exam_id"])


def breast_level(frame: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame | None:
    """Per (exam, laterality); None when laterality is unknown for some image."""
    if "laterality" not in frame.columns or not frame["laterality"].isin(["L", "R"]).all():
        return None
    return aggregate_views(frame, classes, ["exam_id", "laterality"])
