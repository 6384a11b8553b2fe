"""Evaluation figures: confusion heatmaps (counts beside row-normalised rates) and reliability diagrams."""

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


def plot_reliability(levels: dict[str, dict], title: str, path: str | Path) -> None:
    """Reliability diagram: per confidence bin, accuracy against mean confidence, one line per level.

    `levels` maps a level name ("image", "exam") to calibration_summary's ``bins`` plus its ``ece``/``brier``;
    bar heights below show how many cases each bin holds.
    """
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5.2, 6.2), height_ratios=(3, 1), sharex=True, constrained_layout=True
    )
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    width = None
    for i, (name, cal) in enumerate(levels.items()):
        bins = cal["bins"]
        width = width or 1.0 / len(bins["lower"])
        filled = [j for j, c in enumerate(bins["count"]) if c]
        conf = [bins["confidence"][j] for j in filled]
        acc = [bins["accuracy"][j] for j in filled]
        top.plot(conf, acc, marker="o", label=f"{name}: ECE {cal['ece']:.3f}, Brier {cal['brier']:.3f}")
        offset = (i - (len(levels) - 1) / 2) * width / (len(levels) + 1)
        lefts = np.asarray(bins["lower"]) + width / 2 + offset
        bottom.bar(lefts, bins["count"], width=width / (len(levels) + 1), label=name)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy in bin")
    top.legend(loc="lower right", fontsize=8)
    top.set_title(title, fontsize=10)
    bottom.set_xlabel("confidence (probability of the predicted class)")
    bottom.set_ylabel("cases")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
