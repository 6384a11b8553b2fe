"""Stage ingest: read the configured source, index and check every image, de-identify, quarantine the rest.

Writes data/interim/ingest/{images,reports,quarantine}.csv (+ images/ with de-identified copies) and
metrics/ingest.json. See docs/pipeline-files.md for the columns and breast_density.ingest.sources /
breast_density.ingest.adapters for the input layouts.

A run that cannot go on (no exam or no image left, a table without its required columns) stops with one line
naming the cause; its quarantine rows go to data/interim/ingest.failed/quarantine.csv, outside the stage's
outputs, and the previous outputs stay as they were (dvc.yaml declares them `persist`, so DVC does not delete
them before the command runs either).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from breast_density import paths
from breast_density.ingest.assemble import IngestOptions, IngestStopError, ingest_source
from breast_density.ingest.deid import check_hash_key
from breast_density.ingest.registry import load_source
from breast_density.io import reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def failed_dir(out_dir: Path) -> Path:
    """Where a stopped run leaves its diagnostics: a sibling of the outputs, never one of them."""
    return Path(out_dir).with_name(f"{Path(out_dir).name}.failed")


def run(params: Params, root: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Ingest `root` (data.source layout) into `out_dir`; returns the metrics.

    Everything is written to a sibling staging folder that replaces `out_dir` only when the run succeeds,
    so a failed or killed run leaves the previous outputs as they were.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    ing = params.ingest
    synthetic = params.data.source == "synthetic"
    key = check_hash_key(ing.hash_key, ing.hash_key_file, ing.key_fingerprint, synthetic)
    source = load_source(params.data.source, root, params.data.label_column)
    staging = reset_dir(out_dir.with_name(f".{out_dir.name}.partial"))
    try:
        opts = IngestOptions(
            key=key,
            class_names=params.class_names,
            label_map=dict(params.data.label_map),
            keep_for_processing=ing.keep_for_processing,
            workers=ing.workers,
            copies_dir=staging / "images" if ing.deidentified_copies else None,
            copies_published=out_dir / "images",
            retain_device_identity=ing.retain_device_identity,
            clean_descriptors=ing.clean_descriptors,
        )
        try:
            outcome = ingest_source(source, opts)
        except IngestStopError as stop:
            failed = failed_dir(out_dir)
            write_csv(failed / "quarantine.csv", stop.quarantine)
            raise ValueError(
                f"{stop} — {len(stop.quarantine)} quarantine rows in {failed / 'quarantine.csv'}; "
                "the previous outputs are untouched"
            ) from None
        write_csv(staging / "images.csv", outcome.images)
        write_csv(staging / "reports.csv", outcome.reports)
        write_csv(staging / "quarantine.csv", outcome.quarantine)
        _publish(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    shutil.rmtree(failed_dir(out_dir), ignore_errors=True)  # diagnostics of an earlier stopped run
    write_json(metrics_path, outcome.metrics)
    log.info(
        "ingest: %d exams, %d images, %d quarantined in %.1f s",
        outcome.metrics["exams"],
        outcome.metrics["images"],
        outcome.metrics["quarantined"],
        time.perf_counter() - start,
    )
    return outcome.metrics


def _publish(staging: Path, out_dir: Path) -> None:
    old = out_dir.with_name(f".{out_dir.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    if old.exists():
        shutil.rmtree(old)


def main() -> None:
    params = stage_setup("ingest")
    try:
        run(params, Path(params.data.root), paths.stage_dir("ingest"), paths.metrics_file("ingest"))
    except (ValueError, OSError) as err:  # a bad input or an unwritable folder: one line, no traceback
        raise SystemExit(f"ingest: {err}") from None


if __name__ == "__main__":
    main()
