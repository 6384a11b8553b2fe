"""What the harmonize stage reports: per-vendor histograms before/after, quarantine, mask quality vs truth."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from breast_density.imaging.batch import ImageResult, ImageTask
from breast_density.imaging.harmonize import BINS, vendor_disagreement

MASK_REASON = "MaskError"  # quarantine reasons of the segmentation start with it (decode errors do not)


def _zeros() -> np.ndarray:
    return np.zeros(BINS, dtype=np.int64)


@dataclass
class HarmonizeSummary:
    """Streams the harmonisation results (in input order) into the stage's tables and metrics."""

    raw: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    out: dict[str, np.ndarray] = field(default_factory=lambda: defaultdict(_zeros))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    quarantined: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    quarantine_rows: list[dict] = field(default_factory=list)
    done: dict[str, tuple[str, str]] = field(default_factory=dict)  # image_id -> (harmonised PNG, md5 of it)
    iou: dict[str, list[tuple[float, ImageTask]]] = field(default_factory=lambda: defaultdict(list))
    pectoral_iou: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    artefact_pixels: int = 0
    mask_quarantined: int = 0
    flipped: int = 0
    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    removed: list[tuple[int, ImageTask]] = field(default_factory=list)  # components removed per image

    def add(self, r: ImageResult) -> None:
        self.seconds += r.seconds
        self.peak_rss_mib = max(self.peak_rss_mib, r.peak_rss_mib)
        vendor = r.task.vendor
        if r.error is not None:
            self.quarantined[vendor] += 1
            self.mask_quarantined += r.error.startswith(MASK_REASON)
            self.quarantine_rows.append({"file": r.task.path, "image_id": r.task.image_id, "reason": r.error})
            return
        self.done[r.task.image_id] = (r.out_path, r.md5)
        self.raw[vendor] += r.raw_hist
        self.out[vendor] += r.out_hist
        self.counts[vendor] += 1
        self.flipped += r.flipped
        self.removed.append((r.components_removed, r.task))
        if r.score is not None:
            self.iou[vendor].append((r.score.iou, r.task))
            self.artefact_pixels += r.score.artefact_pixels
            if r.score.pectoral_iou is not None:
                self.pectoral_iou[vendor].append(r.score.pectoral_iou)

    def hardest(self, n: int) -> tuple[str, list[ImageTask]]:
        """The vendor whose masks are worst (lowest mean IoU; without truth, most components removed) and
        its `n` hardest images."""
        if self.iou:
            vendor = min(sorted(self.iou), key=lambda v: np.mean([s for s, _ in self.iou[v]]))
            worst = sorted(self.iou[vendor], key=lambda st: (st[0], st[1].image_id))[:n]
            return vendor, [t for _, t in worst]
        by_vendor: dict[str, list[tuple[int, ImageTask]]] = defaultdict(list)
        for k, task in self.removed:
            by_vendor[task.vendor].append((k, task))
        if not by_vendor:
            return "", []
        vendor = max(sorted(by_vendor), key=lambda v: np.mean([k for k, _ in by_vendor[v]]))
        worst = sorted(by_vendor[vendor], key=lambda kt: (-kt[0], kt[1].image_id))[:n]
        return vendor, [t for _, t in worst]

    def mask_iou(self) -> dict[str, dict[str, float]]:
        return _iou_table({v: [s for s, _ in scores] for v, scores in self.iou.items()})

    def metrics(self, match: str, reference_choice: str, reference: np.ndarray, n_sample: int) -> dict:
        raw, out = dict(self.raw), dict(self.out)
        before, after = vendor_disagreement(raw), vendor_disagreement(out)
        metrics = {
            "images": sum(self.counts.values()) + sum(self.quarantined.values()),
            "harmonized": sum(self.counts.values()),
            "quarantined": sum(self.quarantined.values()),
            "quarantined_mask_quality": self.mask_quarantined,
            "flipped": self.flipped,
            "match": match,
            "reference": reference_choice,
            "reference_images": n_sample,
            "vendor_disagreement_before": round(before, 6),
            "vendor_disagreement_after": round(after, 6),
            "disagreement_reduction": round(1 - after / before, 4) if before > 0 else None,
            "vendors": {
                v: {
                    "images": self.counts.get(v, 0),
                    "quarantined": self.quarantined.get(v, 0),
                    "wasserstein_to_reference_before": round(_to_reference(raw[v], reference), 6),
                    "wasserstein_to_reference_after": round(_to_reference(out[v], reference), 6),
                }
                for v in sorted(raw)
            },
        }
        if self.iou:
            metrics["mask_iou"] = self.mask_iou()
            metrics["mask_artefact_pixels"] = self.artefact_pixels
        if self.pectoral_iou:  # MLO views with the pectoral muscle removed
            metrics["pectoral_iou"] = _iou_table(self.pectoral_iou)
        return metrics


def _iou_table(scores: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        v: {
            "mean": round(float(np.mean(scores[v])), 4),
            "p05": round(float(np.percentile(scores[v], 5)), 4),
            "images": len(scores[v]),
        }
        for v in sorted(scores)
    }


def _to_reference(hist: np.ndarray, reference: np.ndarray) -> float:
    return vendor_disagreement({"vendor": hist, "reference": np.diff(reference)})
