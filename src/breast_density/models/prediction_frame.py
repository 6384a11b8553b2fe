"""The predictions.csv table shared by the zeroshot, probe and finetune stages."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

ID_COLUMNS = ("image_id", "exam_id", "patient_id", "partition")


def prediction_frame(
    rows: pd.DataFrame, probabilities: np.ndarray, class_names: Sequence[str]
) -> pd.DataFrame:
    """image_id, exam_id, patient_id, partition, actual, predicted, p_<class> (one row per image).

    `rows` is the split frame of the predicted images (in the order of `probabilities`); `actual` is its
    `label` column. Ties go to the first class, as numpy's argmax does.
    """
    if len(rows) != len(probabilities):
        raise ValueError(f"{len(rows)} images but {len(probabilities)} probability rows")
    if probabilities.ndim != 2 or probabilities.shape[1] != len(class_names):
        raise ValueError(f"probabilities have shape {probabilities.shape}, expected (N, {len(class_names)})")
    out = pd.DataFrame({c: rows[c].to_numpy() if c in rows else "" for c in ID_COLUMNS})
    out["actual"] = rows["label"].to_numpy() if "label" in rows else ""
    out["predicted"] = np.asarray(class_names, dtype=object)[probabilities.argmax(axis=1)]
    for i, name in enumerate(class_names):
        out[f"p_{name}"] = np.round(probabilities[:, i], 6)
    return out
