"""True breast masks of the synthetic cohort, and how a computed mask scores against them.

The cohort writes one small label PNG per image (``masks/<exam>_<side>_<view>.png`` in its truth folder, one
flat folder, which DVC hashes faster than a folder per exam; same frame as the image): 0 background, 1 breast,
2 implant (counts as breast), 3 artefact (labels, markers, ruler and step-wedge strips), 4 pectoral muscle
(MLO views; breast unless the muscle is removed). A computed mask is scored at its own resolution, the
harmonised working size, with the truth area-averaged onto that grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from breast_density.io import read_csv

BACKGROUND, BREAST, IMPLANT, ARTEFACT, PECTORAL = 0, 1, 2, 3, 4
BREAST_VALUES = (BREAST, IMPLANT, PECTORAL)  # what a breast mask covers unless the muscle is removed
MASKS_DIR = "masks"


def mask_relpath(exam_id: str, laterality: str, view: str) -> str:
    return f"{MASKS_DIR}/{exam_id}_{laterality}_{view}.png"


@dataclass(frozen=True)
class MaskScore:
    iou: float  # computed mask vs true breast (implants included; the pectoral muscle unless it is removed)
    artefact_pixels: int  # working-size pixels that are mostly artefact yet inside the computed mask
    pectoral_iou: float | None = None  # removed muscle vs true muscle, when the muscle was looked for


def _on_grid(labels: np.ndarray, shape: tuple[int, int], value_set: tuple[int, ...]) -> np.ndarray:
    """Area fraction of the given label values on a grid of `shape` (the decoder's integer-factor trim)."""
    rows, cols = shape
    hit = np.isin(labels, value_set).astype(np.float32)
    factor = labels.shape[0] // rows
    if factor >= 1 and labels.shape[1] // cols == factor:
        hit = hit[: rows * factor, : cols * factor]
    return cv2.resize(hit, (cols, rows), interpolation=cv2.INTER_AREA)


def read_truth(path: str | Path) -> np.ndarray:
    labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if labels is None or labels.ndim != 2:
        raise ValueError(f"{path}: not a single-channel truth mask PNG")
    return labels


def score_mask(mask: np.ndarray, truth_path: str | Path, pectoral: np.ndarray | None = None) -> MaskScore:
    """IoU of a whole-frame computed mask with the true breast, and artefact pixels it wrongly includes.

    `pectoral`: the muscle region taken out of `mask` (MLO view with removal on): the true muscle is then not
    breast, and the removed region is scored against it.
    """
    labels = read_truth(truth_path)
    breast_values = (BREAST, IMPLANT) if pectoral is not None else BREAST_VALUES
    breast = _on_grid(labels, mask.shape, breast_values) >= 0.5
    artefact = _on_grid(labels, mask.shape, (ARTEFACT,)) >= 0.5
    pectoral_iou = None
    if pectoral is not None:
        pectoral_iou = _iou(_on_grid(labels, mask.shape, (PECTORAL,)) >= 0.5, pectoral)
    return MaskScore(
        iou=_iou(breast, mask), artefact_pixels=int((artefact & mask).sum()), pectoral_iou=pectoral_iou
    )


def _iou(truth: np.ndarray, found: np.ndarray) -> float:
    union = int((truth | found).sum())
    return int((truth & found).sum()) / union if union else 1.0


def truth_index(truth_dir: str | Path, exam_pseudonym: Callable[[str], str]) -> dict[str, str]:
    """image_id (as ingest names it: <exam pseudonym>_<side>_<view>) -> true mask path, for every image of
    the truth folder that has one; empty when the folder has no masks.

    The paths come from the `mask` column of the truth's images.csv (relative to the truth folder), so a
    truth folder written with another mask layout still resolves.
    """
    truth_dir = Path(truth_dir)
    table = truth_dir / "images.csv"
    if not table.is_file():
        return {}
    images = read_csv(table)
    if "mask" not in images.columns:
        return {}
    return {
        f"{exam_pseudonym(r.exam_id)}_{r.laterality}_{r.view}": (truth_dir / r.mask).as_posix()
        for r in images.itertuples(index=False)
    }
