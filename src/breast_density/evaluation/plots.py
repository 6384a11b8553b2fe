"""Confusion-matrix heatmaps: raw counts beside row-normalised rates (recall on the diagonal)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from breast_density.io import atomic_path


def plot_confusion(
    counts: np.ndarray,
    classes: Sequence[str],
    title: str,
    path: str | Path,
) -> None:
    """Write a PNG with two heatmaps of `counts` (rows = actual, columns = predicted)."""
    counts = np.asarray(counts)
    row_sums = counts.sum(axis=1, keepdims=True)
    # A class absent from the split has an all-zero row; show it empty rather than dividing by zero.
    rates = np.divide(counts, row_sums, out=np.full(counts.shape, np.nan), where=row_sums > 0)
    labels = list(classes)
    side = 2.2 + 0.9 * len(labels)
    fig, axes = plt.subplots(1, 2, figsize=(2 * side + 1.2, side), constrained_layout=True)
    sns.heatmap(
        counts, ax=axes[0], annot=True, fmt="d", cmap="Blues", vmin=0, cbar=True, square=True,
        xticklabels=labels, yticklabels=labels, linewidths=0.5, linecolor="white",
    )  # fmt: skip
    axes[0].set_title("counts")
    sns.heatmap(
        rates, ax=axes[1], annot=True, fmt=".2f", cmap="Blues", vmin=0.0, vmax=1.0, cbar=True, square=True,
        xticklabels=labels, yticklabels=labels, linewidths=0.5, linecolor="white",
    )  # fmt: skip
    axes[1].set_title("row-normalised (recall on the diagonal)")
    for ax in axes:
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        ax.tick_params(axis="y", rotation=0)
    fig.suptitle(title)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
