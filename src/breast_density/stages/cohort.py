"""DVC stage `cohort`: the embedded synthetic cohort (DICOM + Spanish reports) and its ground truth."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.cohort.contact_sheet import cohort_contact_sheet
from breast_density.cohort.generate import generate_cohort
from breast_density.io import write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(params: Params, out_dir: Path, truth_dir: Path, metrics_path: Path, plot_path: Path) -> dict:
    """Write the cohort export, its truth, the contact sheet and the cohort metrics; return the metrics."""
    if params.data.source != "synthetic":
        raise ValueError(
            f"data.source is {params.data.source}, so the synthetic demo cohort is not needed: set "
            "cohort.generate: [] in params.yaml and dvc.yaml has no cohort stage to run"
        )
    summary = generate_cohort(params.cohort, params.base.seed, out_dir, truth_dir)
    cohort_contact_sheet(truth_dir, plot_path)
    write_json(metrics_path, summary.metrics)
    return summary.metrics


def main() -> None:
    params = stage_setup("cohort")
    run(
        params,
        paths.COHORT,
        paths.COHORT_TRUTH,
        paths.metrics_file("cohort"),
        paths.PLOTS / "cohort_examples.png",
    )


if __name__ == "__main__":
    main()
