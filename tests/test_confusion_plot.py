"""Confusion heatmaps keep every class name readable: long names wrap or tilt instead of overlapping."""

from __future__ import annotations

from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from breast_density.evaluation.plots import confusion_figure, plot_confusion, tick_labels

CLASS_SETS = {
    "letters": ["A", "B", "C", "D"],
    "descriptions": [
        "almost entirely fatty",
        "scattered areas of fibroglandular density",
        "heterogeneously dense",
        "extremely dense",
    ],
    "long single words": ["nondense_scattered_fibroglandular", "dense_heterogeneous_or_extreme"],
}


def _overlaps(boxes: list) -> list[tuple[int, int]]:
    return [(i, j) for (i, a), (j, b) in combinations(enumerate(boxes), 2) if a.overlaps(b)]


@pytest.mark.parametrize("name", CLASS_SETS)
def test_tick_labels_of_any_length_do_not_overlap(name: str) -> None:
    classes = CLASS_SETS[name]
    counts = np.arange(len(classes) ** 2).reshape(len(classes), -1)
    fig = confusion_figure(counts, classes, "title")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    heatmaps = [ax for ax in fig.axes if ax.get_title()]  # colour bars have no title
    assert len(heatmaps) == 2
    for ax in heatmaps:
        for ticks in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in ticks]
            assert len(boxes) == len(classes)
            assert not _overlaps(boxes), f"{name}: tick labels overlap on {ax.get_title()!r}"
            for box in boxes:  # nothing cut off at the figure's edge
                assert box.x0 >= figure_box.x0 and box.x1 <= figure_box.x1
                assert box.y0 >= figure_box.y0 and box.y1 <= figure_box.y1
    plt.close(fig)


def test_long_names_wrap_onto_lines_and_short_names_stay_whole() -> None:
    assert tick_labels(["A", "B"]) == ["A", "B"]
    wrapped = tick_labels(["scattered areas of fibroglandular density"])[0]
    assert wrapped.replace("\n", " ") == "scattered areas of fibroglandular density"
    assert max(len(line) for line in wrapped.split("\n")) <= 16


def test_plot_confusion_writes_a_png(tmp_path) -> None:
    path = tmp_path / "c.png"
    plot_confusion(np.eye(3, dtype=int) * 5, ["fatty", "scattered density", "dense"], "t", path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > image.height
