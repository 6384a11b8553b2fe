"""Before/after figure of the harmonisation: one row per vendor."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from breast_density import reproducible
from breast_density.imaging.harmonize import (
    BINS,
    Harmonized,
    breast_histogram,
    output_unit,
    unit_histogram,
)
from breast_density.io import atomic_path

_PLOT_BINS = 64  # coarser than BINS so per-image histograms are readable


@dataclass(frozen=True)
class Example:
    vendor: str
    raw: np.ndarray  # decoded image downsampled for display (uint16, whole detector)
    result: Harmonized


def _coarse(hist: np.ndarray) -> np.ndarray:
    coarse = hist.reshape(_PLOT_BINS, BINS // _PLOT_BINS).sum(axis=1).astype(np.float64)
    return coarse / max(coarse.sum(), 1.0) * _PLOT_BINS  # density on [0, 1]


def harmonize_examples_figure(
    examples: list[Example],
    reference: np.ndarray,
    vendor_raw: dict[str, np.ndarray],
    vendor_out: dict[str, np.ndarray],
    note: str,
    path: str | Path,
) -> None:
    """Per vendor: raw image | harmonised image | its breast-pixel histograms; last row: all breast pixels of
    each vendor before and after (what the disagreement metric compares)."""
    rows = len(examples) + 1
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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90, metadata=reproducible.PNG_METADATA)  # no library version
    plt.close(fig)


def _style(ax: plt.Axes, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("intensity (0-1)", fontsize=8)
    ax.set_ylabel("density", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
