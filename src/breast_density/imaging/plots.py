"""Before/after figure of the harmonisation: one row per vendor, the hardest masks, the vendor histograms."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import cv2
import matplotlib.pyplot as plt
import numpy as np

from breast_density import reproducible
from breast_density.imaging.batch import ImageTask
from breast_density.imaging.decode import ImageReadError, read_pixels
from breast_density.imaging.harmonize import (
    BINS,
    Harmonized,
    breast_histogram,
    output_unit,
    unit_histogram,
    working_copy,
)
from breast_density.imaging.mask import MaskError, downsample
from breast_density.imaging.reduced import read_reduced
from breast_density.imaging.spec import HarmonizeSpec, harmonize_file, harmonize_pixels
from breast_density.imaging.truth import ARTEFACT, BREAST, BREAST_VALUES, IMPLANT, read_truth
from breast_density.io import atomic_path

log = logging.getLogger(__name__)

_PLOT_BINS = 64  # coarser than BINS so per-image histograms are readable


@dataclass(frozen=True)
class Example:
    vendor: str
    raw: np.ndarray  # decoded image downsampled for display (uint16, whole detector)
    result: Harmonized


@dataclass(frozen=True)
class MaskExample:
    """A hard image for the mask row: the working-size image, the computed mask and, if known, the truth."""

    title: str
    image: np.ndarray  # uint16 working copy (whole frame)
    mask: np.ndarray  # bool, same shape
    truth: np.ndarray | None  # bool true breast on the same grid
    artefact: np.ndarray | None  # bool true labels/markers/strips on the same grid


def vendor_examples(tasks: list[ImageTask], spec: HarmonizeSpec, seed: int) -> list[Example]:
    """One seeded example per vendor among harmonised images, through the stage's own function."""
    rng = np.random.default_rng(seed)
    examples = []
    for vendor in sorted({t.vendor for t in tasks}):
        rows = [t for t in tasks if t.vendor == vendor]
        task = rows[int(rng.integers(len(rows)))]
        try:
            result = harmonize_file(task.path, task.laterality, task.vendor, spec, task.view)
            raw = downsample(read_pixels(task.path), 256)
        except (ImageReadError, MaskError) as err:  # it worked in the pool; only a changed file gets here
            log.warning("example image for %s skipped: %s", vendor, err)
            continue
        examples.append(Example(vendor=vendor, raw=raw, result=result))
    return examples


def mask_examples(tasks: list[ImageTask], scores: dict[str, float], spec: HarmonizeSpec) -> list[MaskExample]:
    """The given images at the working size with their computed (and true) masks."""
    examples = []
    for task in tasks:
        try:
            pixels = read_reduced(task.path, spec.decode_side)
            result = harmonize_pixels(pixels, task.laterality, task.vendor, spec, task.view)
        except (ImageReadError, MaskError) as err:
            log.warning("mask example %s skipped: %s", task.image_id, err)
            continue
        seg = result.prepared.segmentation
        image = working_copy(pixels, spec.size)
        truth = artefact = None
        if task.truth_mask is not None:
            labels = read_truth(task.truth_mask)
            labels = cv2.resize(labels, image.shape[::-1], interpolation=cv2.INTER_NEAREST)
            breast = (BREAST, IMPLANT) if result.prepared.pectoral is not None else BREAST_VALUES
            truth, artefact = np.isin(labels, breast), labels == ARTEFACT
        iou = scores.get(task.image_id)
        title = f"{task.image_id[:8]} {task.laterality}" + ("" if iou is None else f"  IoU {iou:.3f}")
        examples.append(MaskExample(title, image, seg.mask, truth, artefact))
    return examples


def _coarse(hist: np.ndarray) -> np.ndarray:
    coarse = hist.reshape(_PLOT_BINS, BINS // _PLOT_BINS).sum(axis=1).astype(np.float64)
    return coarse / max(coarse.sum(), 1.0) * _PLOT_BINS  # density on [0, 1]


def harmonize_examples_figure(
    examples: list[Example],
    hard: tuple[str, list[MaskExample]],
    reference: np.ndarray,
    vendor_raw: dict[str, np.ndarray],
    vendor_out: dict[str, np.ndarray],
    note: str,
    path: str | Path,
) -> None:
    """Per vendor: raw image | harmonised image | its breast-pixel histograms; then the hardest masks of the
    hardest vendor (outline red, truth green, artefacts shaded); last row: all breast pixels of each vendor
    before and after (what the disagreement metric compares)."""
    hard_vendor, hard_examples = hard
    rows = len(examples) + 1 + bool(hard_examples)
    fig, axes = plt.subplots(rows, 3, figsize=(11, 3.4 * rows), squeeze=False)
    centers = (np.arange(_PLOT_BINS) + 0.5) / _PLOT_BINS
    ref_pdf = _coarse(np.diff(reference))
    for ax_row, ex in zip(axes, examples, strict=False):
        raw_ax, out_ax, hist_ax = ax_row
        raw_ax.imshow(ex.raw, cmap="gray", vmin=0, vmax=65535)
        raw_ax.set_title(f"{ex.vendor}: decoded (full range)", fontsize=9)
        out = ex.result.image
        out_ax.imshow(out, cmap="gray", vmin=0, vmax=np.iinfo(out.dtype).max)
        flip = ", mirrored" if ex.result.prepared.flipped else ""
        out_ax.set_title(f"harmonised {out.shape[1]}x{out.shape[0]}{flip}", fontsize=9)
        for ax in (raw_ax, out_ax):
            ax.set_xticks([])
            ax.set_yticks([])
        prepared = ex.result.prepared
        hist_ax.step(centers, _coarse(breast_histogram(prepared.image[prepared.mask])), where="mid",
                     label="raw breast pixels", color="tab:gray")  # fmt: skip
        hist_ax.step(centers, _coarse(unit_histogram(output_unit(out))), where="mid", label="harmonised",
                     color="tab:blue")  # fmt: skip
        hist_ax.plot(centers, ref_pdf, label="reference", color="tab:orange", linestyle="--")
        _style(hist_ax, "this image")
    if hard_examples:
        for i, ax in enumerate(axes[-2]):
            if i < len(hard_examples):
                _mask_panel(ax, hard_examples[i], f"hardest masks, {hard_vendor}" if i == 0 else "")
            else:
                ax.axis("off")
    before_ax, after_ax, note_ax = axes[-1]
    for ax, hists, title in (
        (before_ax, vendor_raw, "all images, raw"),
        (after_ax, vendor_out, "harmonised"),
    ):
        for vendor in sorted(hists):
            ax.step(centers, _coarse(hists[vendor]), where="mid", label=vendor)
        ax.plot(centers, ref_pdf, label="reference", color="black", linestyle="--", linewidth=0.8)
        _style(ax, f"breast pixels per vendor: {title}")
    note_ax.axis("off")
    note_ax.text(0, 0.5, textwrap.fill(note, 42), fontsize=9, va="center")
    fig.suptitle("Inter-vendor harmonisation: breast crop, canonical side, histogram match", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (3.4 * rows)))  # keep the title clear of the first row
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata=reproducible.PNG_METADATA)  # no library version
    plt.close(fig)


def _mask_panel(ax: plt.Axes, ex: MaskExample, heading: str) -> None:
    ax.imshow(ex.image, cmap="gray", vmin=0, vmax=max(int(ex.image.max()), 1))
    if ex.artefact is not None and ex.artefact.any():
        ax.imshow(np.ma.masked_where(~ex.artefact, ex.artefact), cmap="autumn", alpha=0.35)
    if ex.truth is not None:
        ax.contour(ex.truth.astype(np.float32), levels=[0.5], colors="lime", linewidths=0.8)
    ax.contour(ex.mask.astype(np.float32), levels=[0.5], colors="red", linewidths=0.8)
    ax.set_title(f"{heading}\n{ex.title}" if heading else f"\n{ex.title}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _style(ax: plt.Axes, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("intensity (0-1)", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
