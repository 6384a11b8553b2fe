"""Stage harmonize: crop, canonical side, resize and histogram-match every ingested image to one reference.

Two streaming passes over a process pool: (1) breast histograms of a seeded per-vendor sample give the
label-free reference and the vendor lookup tables, written as one recipe (spec.json); (2) every image is
harmonised through that recipe and written as PNG. Images that cannot be decoded, or whose breast mask fails
its quality checks, are quarantined with the reason. On the synthetic cohort the masks are scored against the
cohort's true masks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from breast_density import paths
from breast_density.data.image_index import IMAGE_COLUMNS, INDEX_COLUMNS
from breast_density.imaging.batch import HarmonizeConfig, ImageTask, harmonize_files, reference_pass
from breast_density.imaging.mask import MaskOptions
from breast_density.imaging.plots import harmonize_examples_figure, mask_examples, vendor_examples
from breast_density.imaging.reference import ReferenceAccumulator, sample_per_vendor
from breast_density.imaging.spec import SPEC_FILE, build_spec, write_spec
from breast_density.imaging.summary import HarmonizeSummary
from breast_density.imaging.truth import truth_index
from breast_density.ingest.deid import pseudonymize, resolve_hash_key
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

QUARANTINE_COLUMNS = ["file", "exam_id", "reason"]
UNKNOWN_VENDOR = "unknown"
HARD_EXAMPLES = 3


def _tasks(images: pd.DataFrame, truth: dict[str, str]) -> list[ImageTask]:
    missing = sorted(set(IMAGE_COLUMNS) - set(images.columns))
    if missing:
        raise ValueError(f"ingest images.csv lacks columns {missing}")
    duplicated = images["image_id"][images["image_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"ingest images.csv repeats image_id {duplicated.iloc[0]!r}")
    return [
        # sources without a Manufacturer (plain PNG exports) form one "unknown" vendor group
        ImageTask(
            image_id=r.image_id,
            path=r.path,
            laterality=r.laterality,
            vendor=r.vendor or UNKNOWN_VENDOR,
            truth_mask=truth.get(r.image_id),
            view=r.view,
        )
        for r in images.itertuples(index=False)
    ]


def run(
    params: Params,
    images_csv: Path,
    out_dir: Path,
    metrics_path: Path,
    plot_path: Path,
    truth: dict[str, str] | None = None,
) -> dict:
    """`truth`: image_id -> true mask PNG (synthetic cohort only), to score the masks."""
    hp = params.harmonize
    images = read_csv(images_csv)
    tasks = _tasks(images, truth or {})
    if not tasks:
        raise ValueError(f"{images_csv}: no images to harmonise")
    reset_dir(out_dir)

    mask_options = MaskOptions(remove_pectoral=hp.remove_pectoral)
    sample = sample_per_vendor(tasks, hp.reference_sample, params.base.seed)
    accumulator = ReferenceAccumulator()
    for result in tqdm(
        reference_pass(sample, hp.size, hp.workers, mask_options), total=len(sample), desc="reference"
    ):
        accumulator.add(result)
    reference = accumulator.reference(hp.reference)
    spec = build_spec(hp.size, hp.bit_depth, hp.match, reference, accumulator.vendor_levels(), mask_options)
    write_spec(out_dir / SPEC_FILE, spec)

    summary = HarmonizeSummary()
    results = harmonize_files(tasks, HarmonizeConfig(spec, out_dir / "images"), hp.workers)
    for r in tqdm(results, total=len(tasks), desc="harmonize", unit="img"):
        summary.add(r)
    if not summary.done:
        raise RuntimeError(f"harmonize: none of the {len(tasks)} images could be decoded and masked")
    log.info(
        "harmonised %d images, %.1f ms per image per worker, worker peak RSS %.0f MiB",
        len(summary.done),
        1e3 * summary.seconds / len(tasks),
        summary.peak_rss_mib,
    )

    ok = images[images["image_id"].isin(summary.done)].copy()
    ok["path"] = [summary.done[i][0] for i in ok["image_id"]]
    ok["md5"] = [summary.done[i][1] for i in ok["image_id"]]
    write_csv(out_dir / "index.csv", ok[INDEX_COLUMNS])
    exam_of = dict(zip(images["image_id"], images["exam_id"], strict=True))
    quarantine = pd.DataFrame(
        [
            {"file": q["file"], "exam_id": exam_of[q["image_id"]], "reason": q["reason"]}
            for q in summary.quarantine_rows
        ],
        columns=QUARANTINE_COLUMNS,
    )
    write_csv(out_dir / "quarantine.csv", quarantine)
    if len(quarantine):
        log.warning("quarantined %d images (see %s)", len(quarantine), out_dir / "quarantine.csv")

    n_sample = sum(accumulator.images.values())
    metrics = summary.metrics(hp.match, hp.reference, reference, n_sample)
    write_json(metrics_path, metrics)
    log.info(
        "inter-vendor disagreement %.4f -> %.4f (%s reduction); mask IoU %s",
        metrics["vendor_disagreement_before"],
        metrics["vendor_disagreement_after"],
        metrics["disagreement_reduction"],
        metrics.get("mask_iou", "not measured (no truth)"),
    )
    harmonised = [t for t in tasks if t.image_id in summary.done]
    hard_vendor, hard_tasks = summary.hardest(HARD_EXAMPLES)
    scores = {t.image_id: s for v in summary.iou.values() for s, t in v}
    note = (
        f"{hp.match} matching; inter-vendor disagreement (mean pairwise Wasserstein) "
        f"{metrics['vendor_disagreement_before']:.4f} -> {metrics['vendor_disagreement_after']:.4f}. "
    ) + (
        "One map per vendor: single images keep their own density, vendor totals align with the reference."
        if hp.match == "vendor"
        else "One map per image: every image takes the reference histogram."
    )
    harmonize_examples_figure(
        vendor_examples(harmonised, spec, params.base.seed),
        (hard_vendor, mask_examples(hard_tasks, scores, spec)),
        reference,
        dict(summary.raw),
        dict(summary.out),
        note,
        plot_path,
    )
    return metrics


def synthetic_truth(params: Params, truth_dir: Path) -> dict[str, str]:
    """The cohort's true masks by ingest's image ids; empty unless the source is the synthetic cohort."""
    if params.data.source != "synthetic":
        return {}
    key = resolve_hash_key(params.ingest.hash_key)
    return truth_index(truth_dir, lambda exam_id: pseudonymize(exam_id, key))


def main() -> None:
    params = stage_setup("harmonize")
    run(
        params,
        images_csv=paths.stage_dir("ingest") / "images.csv",
        out_dir=paths.stage_dir("harmonize"),
        metrics_path=paths.metrics_file("harmonize"),
        plot_path=paths.PLOTS / "harmonize_examples.png",
        truth=synthetic_truth(params, paths.COHORT_TRUTH),
    )


if __name__ == "__main__":
    main()
