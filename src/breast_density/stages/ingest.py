"""Stage ingest: read the configured source, index and check every image, de-identify, quarantine the rest.

Writes data/interim/ingest/{images,reports,quarantine}.csv (+ images/ with de-identified copies) and
metrics/ingest.json. See docs/pipeline-files.md for the columns and breast_density.ingest.sources /
breast_density.ingest.adapters for the input layouts.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from breast_density import paths
from breast_density.ingest.assemble import IngestOptions, ingest_source
from breast_density.ingest.deid import resolve_hash_key
from breast_density.ingest.registry import load_source
from breast_density.io import reset_dir, write_csv, write_json
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(params: Params, root: Path, out_dir: Path, metrics_path: Path) -> dict:
    """Ingest `root` (data.source layout) into `out_dir`; returns the metrics.

    Everything is written to a sibling staging folder that replaces `out_dir` only when the run succeeds,
    so a failed or killed run leaves the previous outputs as they were.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    source = load_source(params.data.source, root, params.data.label_column)
    staging = reset_dir(out_dir.with_name(f".{out_dir.name}.partial"))
    try:
        opts = IngestOptions(
            key=resolve_hash_key(params.ingest.hash_key),
            class_names=params.class_names,
            label_map=dict(params.data.label_map),
            keep_for_processing=params.ingest.keep_for_processing,
            workers=params.ingest.workers,
            copies_dir=staging / "images" if params.ingest.deidentified_copies else None,
            copies_published=out_dir / "images",
        )
        outcome = ingest_source(source, opts)
        write_csv(staging / "images.csv", outcome.images)
        write_csv(staging / "reports.csv", outcome.reports)
        write_csv(staging / "quarantine.csv", outcome.quarantine)
        _publish(staging, out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
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
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"ingest: {err}") from None


if __name__ == "__main__":
    main()
