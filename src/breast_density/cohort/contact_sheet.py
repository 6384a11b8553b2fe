"""Contact sheet of the synthetic cohort: one exam per density class and vendor, all four views.

Images are shown as a DICOM viewer displays them (pydicom's VOI transform, MONOCHROME1 inverted), so the sheet
shows the vendors' differences the harmonisation stage has to remove. Decoding with pydicom rather than the
pipeline's reader keeps the cohort stage independent of edits to the imaging code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pydicom
from pydicom.pixels import apply_voi_lut

from breast_density import reproducible
from breast_density.cohort.generate import DENSITIES, DENSITY_LABELS, VIEWS
from breast_density.cohort.vendors import VENDOR_NAMES
from breast_density.io import atomic_path, read_csv

_THUMB_ROWS = 220  # thumbnails are downsampled before plotting: smaller file, no aliasing from matplotlib


def cohort_contact_sheet(truth_dir: Path, out_png: Path) -> None:
    """The sheet of a generated cohort, from its ground-truth tables."""
    contact_sheet(
        read_csv(Path(truth_dir) / "exams.csv"),
        read_csv(Path(truth_dir) / "images.csv"),
        Path(out_png),
        list(DENSITIES),
        list(VENDOR_NAMES),
        list(VIEWS),
        DENSITY_LABELS,
    )


def pick_examples(
    exams: pd.DataFrame, densities: list[str], vendors: list[str]
) -> dict[tuple[str, str], str]:
    """First exam (in id order) of every (density, vendor) pair that exists."""
    picks = {}
    for d in densities:
        for v in vendors:
            ids = sorted(exams.loc[(exams["density"] == d) & (exams["vendor"] == v), "exam_id"])
            if ids:
                picks[(d, v)] = ids[0]
    return picks


def contact_sheet(
    exams: pd.DataFrame,
    images: pd.DataFrame,
    out_png: Path,
    densities: list[str],
    vendors: list[str],
    views: list[tuple[str, str]],
    labels: dict[str, str] | None = None,
) -> None:
    """Grid: rows = density classes, column groups = vendors, four views per group (hanging order)."""
    picks = pick_examples(exams, densities, vendors)
    fraction = images.set_index(["exam_id", "laterality", "view"])["fibroglandular_fraction"].astype(float)
    paths = images.set_index(["exam_id", "laterality", "view"])["path"]
    n_cols = len(vendors) * len(views)
    fig, axes = plt.subplots(
        len(densities), n_cols, figsize=(1.35 * n_cols, 2.0 * len(densities) + 0.8), squeeze=False
    )
    for r, d in enumerate(densities):
        for g, vendor in enumerate(vendors):
            exam_id = picks.get((d, vendor))
            for k, (lat, view) in enumerate(views):
                ax = axes[r, g * len(views) + k]
                ax.set_xticks([])
                ax.set_yticks([])
                for side in ax.spines.values():
                    side.set_visible(False)
                if r == 0:
                    ax.set_title(f"{lat}{view}", fontsize=9)
                if exam_id is None:
                    continue
                key = (exam_id, lat, view)
                ax.imshow(_thumbnail(Path(paths[key])), cmap="gray", vmin=0, vmax=1)
                ax.set_xlabel(f"{exam_id}  fgf {fraction[key]:.2f}", fontsize=6.5)
            if g == 0:
                axes[r, 0].set_ylabel(
                    f"{d}\n" + (labels or {}).get(d, "").replace(" ", "\n", 1),
                    fontsize=9,
                    rotation=0,
                    ha="right",
                    va="center",
                )
    for g, vendor in enumerate(vendors):
        left = axes[0, g * len(views)].get_position()
        right = axes[0, (g + 1) * len(views) - 1].get_position()
        fig.text((left.x0 + right.x1) / 2, 0.985, vendor, ha="center", va="top", fontsize=11, weight="bold")
    fig.suptitle(
        "Synthetic cohort: one exam per BI-RADS density (rows) and vendor, as a DICOM viewer shows them "
        "(fgf = fibroglandular area fraction)",
        y=0.005,
        va="bottom",
        fontsize=9,
    )
    fig.subplots_adjust(left=0.075, right=0.995, top=0.90, bottom=0.06, wspace=0.04, hspace=0.22)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=110, format="png", metadata=reproducible.PNG_METADATA)  # no library version
    plt.close(fig)


def display(ds: pydicom.Dataset) -> np.ndarray:
    """Standard display of a grey-scale image in [0, 1]: VOI LUT or window, then MONOCHROME1 inverted."""
    shown = apply_voi_lut(ds.pixel_array, ds).astype(np.float32)
    if "VOILUTSequence" in ds:
        top = 2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1
    else:
        top = 2 ** int(ds.BitsStored) - 1
    shown /= np.float32(top)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        shown = 1 - shown
    return np.clip(shown, 0, 1)


def _thumbnail(path: Path) -> np.ndarray:
    pixels = display(pydicom.dcmread(path))
    h, w = pixels.shape
    if h > _THUMB_ROWS:
        pixels = cv2.resize(pixels, (round(w * _THUMB_ROWS / h), _THUMB_ROWS), interpolation=cv2.INTER_AREA)
    return pixels
