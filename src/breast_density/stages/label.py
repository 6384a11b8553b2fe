"""Stage label: the density class of every report from its findings (English regexes, Spanish cross-check);
reports without one clear statement are excluded with the reason."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup
from breast_density.text.labeling import (
    check_reports,
    excluded_frame,
    label_metrics,
    label_reports,
    labels_frame,
)

log = logging.getLogger(__name__)


def run(params: Params, reports_csv: Path, corrections_csv: Path, out_dir: Path, metrics_path: Path) -> dict:
    reports = read_csv(reports_csv)
    check_reports(reports, str(reports_csv))
    corrections = read_csv(corrections_csv)
    if "exam_id" not in corrections.columns:
        raise ValueError(f"{corrections_csv}: missing column 'exam_id'")
    decisions = label_reports(
        reports, params.class_names, params.data.label_map, params.label.on_disagreement
    )
    metrics = label_metrics(decisions, params.class_names, corrections)
    reset_dir(out_dir)
    write_csv(out_dir / "labels.csv", labels_frame(decisions))
    write_csv(out_dir / "excluded.csv", excluded_frame(decisions))
    write_json(metrics_path, metrics)
    log.info(
        "labelled %d of %d reports %s; excluded %s",
        metrics["labelled"],
        metrics["reports"],
        metrics["labelled_per_class"],
        metrics["excluded_per_reason"],
    )
    return metrics


def main() -> None:
    params = stage_setup("label")
    run(
        params,
        paths.stage_dir("translate") / "reports.csv",
        paths.stage_dir("normalize") / "corrections.csv",
        paths.stage_dir("label"),
        paths.metrics_file("label"),
    )


if __name__ == "__main__":
    main()
