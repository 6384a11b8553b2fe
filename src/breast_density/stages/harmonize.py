"""Stage harmonize: crop, canonical side, resize and histogram-match every ingested image to one reference.

Two streaming passes over a process pool: (1) breast CDFs of a seeded per-vendor sample give the label-free
reference and the vendor CDFs; (2) every image is harmonised and written as PNG. Images that cannot be
decoded or masked are quarantined with the reason.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from breast_density import paths
from breast_density.imaging.batch import (
    HarmonizeConfig,
    ImageResult,
    ImageTask,
    harmonize_files,
    reference_pass,
)
from breast_density.imaging.decode import ImageReadError, read_pixels
from breast_density.imaging.harmonize import (
    BINS,
    harmonize_details,
    reference_from_levels,
    vendor_disagreement,
)
from breast_density.imaging.mask import MaskError, downsample
from breast_density.imaging.plots import Example, harmonize_examples_figure
from breast_density.io import atomic_path, read_csv, reset_dir, write_csv, write_json, write_npy
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["image_id", "exam_id", "patient_id", "laterality", "view", "vendor", "path"]
QUARANTINE_COLUMNS = ["file", "exam_id", "reason"]
UNKNOWN_VENDOR = "unknown"


def _tasks(images: pd.DataFrame) -> list[ImageTask]:
    missing = sorted(set(INDEX_COLUMNS) - set(images.columns))
    if missing:
        raise ValueError(f"ingest images.csv lacks columns {missing}")
    duplicated = images["image_id"][images["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"ingest images.csv repeats image_id {duplicated.iloc[0]!r}")
    return [
        # sources without a Manufacturer (plain PNG exports) form one "unknown" vendor group
        ImageTask(
            image_id=r.image_id, path=r.path, laterality=r.laterality, vendor=r.vendor or UNKNOWN_VENDOR
        )
        for r in images.itertuples(index=False)
    ]


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


def _wasserstein_to_reference(hist: np.ndarray, reference: np.ndarray) -> float:
    return vendor_disagreement({"vendor": hist, "reference": np.diff(reference)})


def _metrics(
    params: Params,
    n_images: int,
    quarantined: dict[str, int],
    counts: dict[str, int],
    raw: dict[str, np.ndarray],
    out: dict[str, np.ndarray],
    reference: np.ndarray,
    n_sample: int,
    flipped: int,
) -> dict:
    before, after = vendor_disagreement(raw), vendor_disagreement(out)
    return {
        "images": n_images,
        "harmonized": sum(counts.values()),
        "quarantined": sum(quarantined.values()),
        "flipped": flipped,
        "match": params.harmonize.match,
        "reference": params.harmonize.reference,
        "reference_images": n_sample,
        "vendor_disagreement_before": round(before, 6),
        "vendor_disagreement_after": round(after, 6),
        "disagreement_reduction": round(1 - after / before, 4) if before > 0 else None,
        "vendors": {
            v: {
                "images": counts.get(v, 0),
                "quarantined": quarantined.get(v, 0),
                "wasserstein_to_reference_before": round(_wasserstein_to_reference(raw[v], reference), 6),
                "wasserstein_to_reference_after": round(_wasserstein_to_reference(out[v], reference), 6),
            }
            for v in sorted(raw)
        },
    }


def _examples(
    index: pd.DataFrame,
    reference: np.ndarray,
    vendor_levels: dict[str, np.ndarray] | None,
    params: Params,
) -> list[Example]:
    rng = np.random.default_rng(params.base.seed)
    examples = []
    for vendor, rows in index.assign(vendor=index["vendor"].replace("", UNKNOWN_VENDOR)).groupby("vendor"):
        row = rows.iloc[int(rng.integers(len(rows)))]
        source_path = row["source_path"]
        try:
            pixels = read_pixels(source_path)
            source = None if vendor_levels is None else vendor_levels.get(vendor)
            result = harmonize_details(
                pixels,
                row["laterality"],
                reference,
                params.harmonize.size,
                params.harmonize.bit_depth,
                source,
            )
        except (ImageReadError, MaskError) as err:  # it worked in the pool; only a changed file gets here
            log.warning("example image for %s skipped: %s", vendor, err)
            continue
        examples.append(Example(vendor=str(vendor), raw=downsample(pixels, 256), result=result))
    return examples


def run(params: Params, images_csv: Path, out_dir: Path, metrics_path: Path, plot_path: Path) -> dict:
    hp = params.harmonize
    images = read_csv(images_csv)
    tasks = _tasks(images)
    if not tasks:
        raise ValueError(f"{images_csv}: no images to harmonise")
    reset_dir(out_dir)

    sample = sample_per_vendor(tasks, hp.reference_sample, params.base.seed)
    accumulator = ReferenceAccumulator()
    for result in tqdm(reference_pass(sample, hp.size, hp.workers), total=len(sample), desc="reference"):
        accumulator.add(result)
    reference = accumulator.reference(hp.reference)
    vendor_levels = accumulator.vendor_levels()
    write_npy(out_dir / "reference.npy", reference)
    with atomic_path(out_dir / "vendor_levels.npz") as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **vendor_levels)
    source_levels = vendor_levels if hp.match == "vendor" else None

    config = HarmonizeConfig(
        size=hp.size,
        bit_depth=hp.bit_depth,
        reference=reference,
        out_dir=out_dir / "images",
        source_levels=source_levels,
    )
    raw_hists: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(BINS, dtype=np.int64))
    out_hists: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(BINS, dtype=np.int64))
    counts: dict[str, int] = defaultdict(int)
    quarantined: dict[str, int] = defaultdict(int)
    done: dict[str, str] = {}
    quarantine_rows = []
    seconds, flipped, peak_rss = 0.0, 0, 0.0
    results = harmonize_files(tasks, config, hp.workers)
    for r in tqdm(results, total=len(tasks), desc="harmonize", unit="img"):
        seconds += r.seconds
        peak_rss = max(peak_rss, r.peak_rss_mib)
        if r.error is not None:
            quarantined[r.task.vendor] += 1
            quarantine_rows.append({"file": r.task.path, "image_id": r.task.image_id, "reason": r.error})
            continue
        done[r.task.image_id] = r.out_path
        raw_hists[r.task.vendor] += r.raw_hist
        out_hists[r.task.vendor] += r.out_hist
        counts[r.task.vendor] += 1
        flipped += r.flipped
    if not done:
        raise RuntimeError(f"harmonize: none of the {len(tasks)} images could be decoded and masked")
    log.info(
        "harmonised %d images, %.1f ms per image per worker, worker peak RSS %.0f MiB",
        len(done),
        1e3 * seconds / len(tasks),
        peak_rss,
    )

    ok = images[images["image_id"].isin(done)].copy()
    ok["source_path"] = ok["path"]
    ok["path"] = ok["image_id"].map(done)
    write_csv(out_dir / "index.csv", ok[INDEX_COLUMNS])
    exam_of = dict(zip(images["image_id"], images["exam_id"], strict=True))
    quarantine = pd.DataFrame(
        [
            {"file": q["file"], "exam_id": exam_of[q["image_id"]], "reason": q["reason"]}
            for q in quarantine_rows
        ],
        columns=QUARANTINE_COLUMNS,
    )
    write_csv(out_dir / "quarantine.csv", quarantine)
    if len(quarantine):
        log.warning("quarantined %d images (see %s)", len(quarantine), out_dir / "quarantine.csv")

    metrics = _metrics(
        params,
        len(tasks),
        quarantined,
        counts,
        dict(raw_hists),
        dict(out_hists),
        reference,
        sum(accumulator.images.values()),
        flipped,
    )
    write_json(metrics_path, metrics)
    log.info(
        "inter-vendor disagreement %.4f -> %.4f (%s reduction)",
        metrics["vendor_disagreement_before"],
        metrics["vendor_disagreement_after"],
        metrics["disagreement_reduction"],
    )
    examples = _examples(ok, reference, source_levels, params)
    note = (
        f"{params.harmonize.match} matching; inter-vendor disagreement (mean pairwise Wasserstein) "
        f"{metrics['vendor_disagreement_before']:.4f} -> {metrics['vendor_disagreement_after']:.4f}. "
    ) + (
        "One map per vendor: single images keep their own density, vendor totals align with the reference."
        if params.harmonize.match == "vendor"
        else "One map per image: every image takes the reference histogram."
    )
    harmonize_examples_figure(examples, reference, dict(raw_hists), dict(out_hists), note, plot_path)
    return metrics


def main() -> None:
    params = stage_setup("harmonize")
    run(
        params,
        images_csv=paths.stage_dir("ingest") / "images.csv",
        out_dir=paths.stage_dir("harmonize"),
        metrics_path=paths.metrics_file("harmonize"),
        plot_path=paths.PLOTS / "harmonize_examples.png",
    )


if __name__ == "__main__":
    main()
