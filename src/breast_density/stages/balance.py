"""Stage balance: exam labels onto harmonised images, then seeded downsampling to equal class counts."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.data.balance import attach_labels, balance_classes, class_counts
from breast_density.data.image_index import INDEX_COLUMNS
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

DATASET_COLUMNS = [*INDEX_COLUMNS, "label"]


def run(
    params: Params, index_csv: Path, labels_csv: Path, quarantine_csv: Path, out_dir: Path, metrics_path: Path
) -> dict:
    classes = params.class_names
    images = read_csv(index_csv)
    missing = [c for c in INDEX_COLUMNS if c not in images.columns]
    if missing:
        raise ValueError(f"{index_csv}: missing column(s) {missing} (rerun the harmonize stage)")
    labels = read_csv(labels_csv)
    quarantined = read_csv(quarantine_csv) if quarantine_csv.is_file() else None
    labelled = attach_labels(images, labels, classes)
    balanced = balance_classes(labelled, classes, params.base.seed, params.balance.cap)
    reset_dir(out_dir)
    write_csv(out_dir / "dataset.csv", balanced[DATASET_COLUMNS])

    labelled_exams = set(labels["exam_id"])
    metrics = {
        "images_harmonized": len(images),
        "images_quarantined_in_harmonize": 0 if quarantined is None else len(quarantined),
        "images_unlabelled_dropped": int((~images["exam_id"].isin(labelled_exams)).sum()),
        "exams_unlabelled_dropped": int(
            images.loc[~images["exam_id"].isin(labelled_exams), "exam_id"].nunique()
        ),
        "labelled_exams_without_images": len(labelled_exams - set(images["exam_id"])),
        "images_per_class": len(balanced) // len(classes),
        "before": class_counts(labelled, classes),
        "after": class_counts(balanced, classes),
    }
    write_json(metrics_path, metrics)
    log.info(
        "balanced %d labelled images to %d per class (%d in total)",
        len(labelled),
        metrics["images_per_class"],
        len(balanced),
    )
    return metrics


def main() -> None:
    params = stage_setup("balance")
    harmonize = paths.stage_dir("harmonize")
    run(
        params,
        index_csv=harmonize / "index.csv",
        labels_csv=paths.stage_dir("label") / "labels.csv",
        quarantine_csv=harmonize / "quarantine.csv",
        out_dir=paths.stage_dir("balance"),
        metrics_path=paths.metrics_file("balance"),
    )


if __name__ == "__main__":
    main()
