"""Attach exam-level labels to images and downsample every class to the same image count.

Whole exams are kept or dropped together wherever possible, so that patient grouping in the split stays
meaningful; only the last exam drawn for a class may lose some views to reach the exact count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)


class BalanceError(ValueError):
    """The labelled images cannot be balanced (a class is empty, labels are inconsistent)."""


def attach_labels(images: pd.DataFrame, labels: pd.DataFrame, classes: Sequence[str]) -> pd.DataFrame:
    """Image rows with their exam's label; images of unlabelled exams are dropped."""
    for name, frame, needed in (
        ("images", images, {"image_id", "exam_id"}),
        ("labels", labels, {"exam_id", "label"}),
    ):
        missing = sorted(needed - set(frame.columns))
        if missing:
            raise BalanceError(f"{name} table lacks columns {missing}")
    repeated = labels["exam_id"][labels["exam_id"].duplicated()]
    if len(repeated):
        raise BalanceError(f"labels.csv has more than one label for exam {repeated.iloc[0]!r}")
    unknown = sorted(set(labels["label"]) - set(classes))
    if unknown:
        raise BalanceError(f"labels.csv uses labels {unknown} that are not in params classes {list(classes)}")
    merged = images.merge(labels[["exam_id", "label"]], on="exam_id", how="inner", validate="many_to_one")
    return merged.reset_index(drop=True)


def balance_classes(
    data: pd.DataFrame, classes: Sequence[str], seed: int, cap: int | None = None
) -> pd.DataFrame:
    """Seeded random downsampling to the same number of images per class (smallest class, or `cap`).

    Rows keep their input order, so the result depends only on the data and the seed.
    """
    counts = data["label"].value_counts().reindex(list(classes), fill_value=0)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise BalanceError(f"class(es) {empty} have no labelled images; cannot balance {dict(counts)}")
    target = int(counts.min())
    if cap is not None:
        if cap < 1:
            raise BalanceError(f"balance.cap must be a positive number of images, got {cap}")
        if cap > target:
            log.warning(
                "balance.cap=%d exceeds the smallest class (%d images); using %d", cap, target, target
            )
        target = min(target, cap)
    rng = np.random.default_rng(seed)
    keep: list[np.ndarray] = []
    for cls in classes:
        rows = data.index[data["label"] == cls]
        exam_sizes = data.loc[rows].groupby("exam_id", sort=True).size()
        order = rng.permutation(exam_sizes.index.to_numpy())
        cumulative = exam_sizes.loc[order].cumsum().to_numpy()
        n_exams = int(np.searchsorted(cumulative, target)) + 1  # fewest whole exams reaching the target
        chosen_exams = order[:n_exams]
        excess = int(cumulative[n_exams - 1]) - target
        chosen = rows[data.loc[rows, "exam_id"].isin(chosen_exams)].to_numpy()
        if excess:
            last = rows[data.loc[rows, "exam_id"] == chosen_exams[-1]].to_numpy()
            dropped = rng.choice(last, size=excess, replace=False)
            chosen = np.setdiff1d(chosen, dropped)
        keep.append(chosen)
    return data.loc[np.sort(np.concatenate(keep))].reset_index(drop=True)


def class_counts(data: pd.DataFrame, classes: Sequence[str]) -> dict[str, dict[str, int]]:
    """{class: {"images": n, "exams": n, "patients": n}}."""
    out = {}
    for cls in classes:
        rows = data[data["label"] == cls]
        out[cls] = {
            "images": len(rows),
            "exams": rows["exam_id"].nunique(),
            "patients": rows["patient_id"].nunique() if "patient_id" in rows else 0,
        }
    return out
