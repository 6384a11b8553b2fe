"""Stage split: train/val/test by patient, stratified by class, plus extra seeded splits for CIs."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.data.split import PARTITIONS, partition_summary, split_partitions
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(params: Params, dataset_csv: Path, out_dir: Path, metrics_path: Path) -> dict:
    classes = params.class_names
    sp = params.split
    data = read_csv(dataset_csv)
    out = data.copy()
    seeds = {"partition": params.base.seed}
    # repeats get consecutive seeds after the base seed: reproducible and distinct
    seeds.update({f"partition_{r}": params.base.seed + r for r in range(1, sp.repeats + 1)})
    summaries = {}
    for column, seed in seeds.items():
        partition = split_partitions(data, classes, sp.test_fraction, sp.val_fraction, seed)
        out[column] = partition
        summaries[column] = partition_summary(data, partition, classes)
    reset_dir(out_dir)
    write_csv(out_dir / "split.csv", out)

    main_summary = summaries.pop("partition")
    metrics = {
        "method": "StratifiedGroupKFold folds by patient: test, then val out of the rest",
        "seed": params.base.seed,
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
    log.info("split %s", {name: main_summary[name]["images"] for name in PARTITIONS})
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
