"""The harmonisation reference: a seeded per-vendor sample, and the mean breast histograms it gives."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from breast_density.imaging.batch import ImageResult, ImageTask
from breast_density.imaging.harmonize import reference_from_levels


def sample_per_vendor(tasks: list[ImageTask], total: int, seed: int) -> list[ImageTask]:
    """Seeded sample of about `total` images shared evenly among vendors (all of a small vendor), input order.

    Even shares keep a large vendor from dominating the cohort-mean reference and give every vendor's CDF
    enough images.
    """
    rng = np.random.default_rng(seed)
    by_vendor: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        by_vendor[task.vendor].append(i)
    share = math.ceil(total / len(by_vendor))
    chosen: list[int] = []
    for vendor in sorted(by_vendor):
        idx = by_vendor[vendor]
        chosen.extend(rng.choice(idx, size=min(share, len(idx)), replace=False).tolist())
    return [tasks[i] for i in sorted(chosen)]


class ReferenceAccumulator:
    """Streams the reference pass: per vendor, the sum of per-image breast pmfs over the uint16 levels."""

    def __init__(self) -> None:
        self.sums: dict[str, np.ndarray] = {}
        self.images: dict[str, int] = defaultdict(int)

    def add(self, result: ImageResult) -> None:
        if result.levels is None:
            return
        vendor = result.task.vendor
        pmf = result.levels / result.levels.sum()  # every image weighs the same, whatever its breast size
        self.sums[vendor] = self.sums[vendor] + pmf if vendor in self.sums else pmf
        self.images[vendor] += 1

    def vendor_levels(self) -> dict[str, np.ndarray]:
        return {v: self.sums[v] / self.images[v] for v in sorted(self.sums)}

    def reference(self, choice: str) -> np.ndarray:
        """The reference CDF: mean over all sampled images ('cohort_mean') or over one vendor's."""
        if not self.sums:
            raise RuntimeError(
                "harmonize: no sampled image could be decoded and masked; no reference possible"
            )
        if choice == "cohort_mean":
            return reference_from_levels(sum(self.sums.values()) / sum(self.images.values()))
        if choice in self.sums:
            return reference_from_levels(self.sums[choice] / self.images[choice])
        raise ValueError(
            f"params harmonize.reference={choice!r} is neither 'cohort_mean' nor a vendor of the cohort "
            f"(vendors: {sorted(self.sums)})"
        )
