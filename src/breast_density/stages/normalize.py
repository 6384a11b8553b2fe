"""Stage normalize: clean the de-identified Spanish reports (spacing, accents, spelling); log every change."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.io import read_csv, reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup
from breast_density.text.lexicon import default_lexicon
from breast_density.text.normalize import normalize_reports
from breast_density.text.normalize_metrics import correction_summary

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["exam_id", "patient_id", "text", "given_label"]


def run(params: Params, reports_csv: Path, out_dir: Path, metrics_path: Path) -> dict:
    reports = read_csv(reports_csv)
    missing = [c for c in REPORT_COLUMNS if c not in reports.columns]
    if missing:
        raise ValueError(f"{reports_csv}: missing column(s) {missing}; expected {REPORT_COLUMNS}")
    lexicon = default_lexicon()
    normalized, corrections = normalize_reports(
        reports[REPORT_COLUMNS],
        lexicon,
        max_edit_distance=params.normalize.max_edit_distance,
        min_similarity=params.normalize.min_similarity,
    )
    reset_dir(out_dir)
    write_csv(out_dir / "reports.csv", normalized)
    write_csv(out_dir / "corrections.csv", corrections)
    metrics = {"lexicon_words": len(lexicon), **correction_summary(normalized, corrections)}
    write_json(metrics_path, metrics)
    log.info(
        "normalised %d reports: %d corrections (%.2f per report)",
        metrics["reports_with_text"],
        metrics["corrections"],
        metrics["corrections_per_report"],
    )
    return metrics


def main() -> None:
    params = stage_setup("normalize")
    run(
        params,
        reports_csv=paths.stage_dir("ingest") / "reports.csv",
        out_dir=paths.stage_dir("normalize"),
        metrics_path=paths.metrics_file("normalize"),
    )


if __name__ == "__main__":
    main()
