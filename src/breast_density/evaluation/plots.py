"""Evaluation figures: confusion heatmaps (counts beside row-normalised rates) and reliability diagrams."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # stages run headless

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from breast_density.io import atomic_path

WRAP = 16  # characters per tick-label line: a class name like "heterogeneously dense" takes two lines


def tick_labels(classes: Sequence[str]) -> list[str]:
    """Class names wrapped onto short lines, so long names never run into their neighbours."""
    return [textwrap.fill(str(c), WRAP, break_long_words=False) for c in classes]


def confusion_figure(counts: np.ndarray, classes: Sequence[str], title: str) -> plt.Figure:
    """Two heatmaps of `counts` (rows = actual, columns = predicted): raw counts and row-normalised rates."""
    counts = np.asarray(counts)
    row_sums = counts.sum(axis=1, keepdims=True)
    # A class absent from the split has an all-zero row; show it empty rather than dividing by zero.
    rates = np.divide(counts, row_sums, out=np.full(counts.shape, np.nan), where=row_sums > 0)
    labels = tick_labels(classes)
    lines = max(label.count("\n") + 1 for label in labels)
    widest = max(len(line) for label in labels for line in label.split("\n"))
    tilt = widest > WRAP  # a single word longer than a line cannot wrap: tilt the x labels instead
    # Wider cells for longer names; the figure grows by the labels' own size (about 0.08 inch a character
    # at the default font) so that constrained layout never has to squeeze the heatmaps or cut a name.
    cell = 0.9 if max(len(c) for c in map(str, classes)) <= 3 else 1.3
    label_in = 0.08 * widest
    side = 2.2 + cell * len(labels)
    below = 0.2 * (lines - 1) + (label_in if tilt else 0.0)
    fig, axes = plt.subplots(
        1, 2, figsize=(2 * (side + label_in) + 1.2, side + below), constrained_layout=True
    )
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
        if tilt:
            plt.setp(ax.get_xticklabels(), rotation=90)
        else:
            ax.tick_params(axis="x", rotation=0)
    fig.suptitle(title)
    return fig


def plot_confusion(
    counts: np.ndarray,
    classes: Sequence[str],
    title: str,
    path: str | Path,
) -> None:
    """Write a PNG with two heatmaps of `counts` (rows = actual, columns = predicted)."""
    fig = confusion_figure(counts, classes, title)
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
