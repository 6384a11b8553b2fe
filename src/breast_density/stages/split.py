"""Stage split: train/val/test by patient, stratified by class; `split.repeats` > 1 adds more splits."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.data.split import (
    PARTITIONS,
    kfold_partitions,
    partition_column,
    partition_summary,
    split_partitions,
)
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

METHODS = {
    "holdout": "StratifiedGroupKFold folds by patient: test, then val out of the rest; one seed per split",
    "kfold": "StratifiedGroupKFold by patient: fold r is split r's test part, val out of the rest",
}


def run(params: Params, dataset_csv: Path, out_dir: Path, metrics_path: Path) -> dict:
    classes = params.class_names
    sp = params.split
    data = read_csv(dataset_csv)
    if sp.method == "kfold":
        partitions = kfold_partitions(data, classes, sp.repeats, sp.val_fraction, params.base.seed)
    else:
        # splits get consecutive seeds from the base seed: reproducible and distinct
        partitions = [
            split_partitions(data, classes, sp.test_fraction, sp.val_fraction, params.base.seed + r)
            for r in range(sp.repeats)
        ]
    out = data.copy()
    summaries = {}
    for r, partition in enumerate(partitions):
        out[partition_column(r)] = partition
        summaries[partition_column(r)] = partition_summary(data, partition, classes)
    reset_dir(out_dir)
    write_csv(out_dir / "split.csv", out)

    main_summary = summaries.pop("partition")
    metrics = {
        "method": METHODS[sp.method],
        "seed": params.base.seed,
        "splits": sp.repeats,
        "images": len(data),
        "patients": data["patient_id"].nunique(),
        "patients_in_two_partitions": 0,  # split_partitions raises otherwise
        **main_summary,
        "repeats": {
            column: {
                name: {"images": s[name]["images"], "classes": s[name]["classes"]} for name in PARTITIONS
            }
            for column, s in summaries.items()
        },
    }
    write_json(metrics_path, metrics)
    log.info(
        "split %s (%d split(s), %s)",
        {n: main_summary[n]["images"] for n in PARTITIONS},
        sp.repeats,
        sp.method,
    )
    return metrics


def main() -> None:
    params = stage_setup("split")
    run(
        params,
        dataset_csv=paths.stage_dir("balance") / "dataset.csv",
        out_dir=paths.stage_dir("split"),
        metrics_path=paths.metrics_file("split"),
    )


if __name__ == "__main__":
    main()
