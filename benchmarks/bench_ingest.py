"""Ingest throughput: the stage's header scan next to bare `pydicom.dcmread` on the same files, same run.

Two file sets: the demo cohort (data/raw/cohort when present, else generated at the demo scale) and a few
full-resolution vendor images (cohort scale 1, one exam per vendor). Files are read once first so every
timing sees a warm page cache; each timing is the best of `--repeats`. Prints images/s and ratios:

  * dcmread           bare `pydicom.dcmread(f)` (reads every byte, decodes nothing), one process
  * dcmread+pixels    bare `pydicom.dcmread(f).pixel_array`, one process (context: what a decode costs)
  * scan, 1 process   `scan_header` (header, deferred pixel element, length/plugin checks)
  * stage             the whole ingest (scan + checks + pseudonyms + report scrubbing + de-identified copies)
                      with `ingest.workers` (a pool only from 500 files per worker on)
  * copy only / copy + verify   the de-identified DICOM copy written without / with its re-read verification
  * scrub             report scrubbing (reports per second; names from the header and the text itself)
  and the header scan of ~4000 files in one process vs a pool of `ingest.workers` (start-up included).

    .venv/bin/python benchmarks/bench_ingest.py [--demo-root data/raw/cohort] [--full-exams 3]
        [--workers 2] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pydicom

from breast_density.cohort.generate import generate_cohort, plan_cohort, render_images, write_reports
from breast_density.cohort.vendors import VENDORS
from breast_density.imaging.decode import open_dicom
from breast_density.imaging.dicom_header import find_dicom_files, scan_header, scan_headers
from breast_density.imaging.parallel import worker_pool
from breast_density.ingest.assemble import IngestOptions, ingest_source
from breast_density.ingest.deid import scrub_report
from breast_density.ingest.dicom_deid import CopyTask, deidentified_dataset, write_copy
from breast_density.ingest.registry import load_source
from breast_density.io import atomic_path, write_csv
from breast_density.params import CohortParams, IngestParams, Params


def best_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Images per second, best of `repeats` runs (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n / best


def demo_cohort(root: Path | None, scratch: Path) -> Path:
    if root is not None and (root / "reports.csv").is_file():
        return root
    out = scratch / "demo"
    if not (out / "reports.csv").is_file():
        print("generating the demo cohort (160 exams, demo scale) ...", flush=True)
        generate_cohort(CohortParams(), Params().base.seed, out, scratch / "demo-truth", workers=2)
    return out


def full_resolution_cohort(scratch: Path, exams: int) -> Path:
    """`exams` scale-1 exams, vendors taken in turn so every vendor's encoding is measured."""
    out = scratch / f"full{exams}"
    if not (out / "reports.csv").is_file():
        print(f"generating {exams} full-resolution exams (cohort scale 1) ...", flush=True)
        cfg = CohortParams(exams=exams, scale=1.0)
        planned = plan_cohort(cfg, 0)
        planned = [
            dataclasses.replace(e, vendor=VENDORS[i % len(VENDORS)].name) for i, e in enumerate(planned)
        ]
        reports = write_reports(planned, cfg, 0)
        render_images(planned, 0, 1.0, out, workers=2)
        rows = [
            {"exam_id": e.exam_id, "patient_id": e.patient.patient_id, "report": r.text}
            for e, r in zip(planned, reports, strict=True)
        ]
        write_csv(out / "reports.csv", pd.DataFrame(rows))
    return out


def measure(name: str, root: Path, workers: int, repeats: int, scratch: Path) -> None:
    files = find_dicom_files(root)
    n = len(files)
    size_mb = sum(f.stat().st_size for f in files) / n / 2**20
    for f in files:  # warm the page cache for every contender alike
        f.read_bytes()

    def stage() -> None:
        opts = IngestOptions(
            key="bench", class_names=Params().class_names, workers=workers, copies_dir=scratch / "copies"
        )
        ingest_source(load_source("reports", root), opts)

    rates = {
        "dcmread": best_rate(lambda: [pydicom.dcmread(f) for f in files], n, repeats),
        "dcmread+pixels": best_rate(lambda: [pydicom.dcmread(f).pixel_array for f in files], n, repeats),
        "scan, 1 process": best_rate(lambda: [scan_header(f) for f in files], n, repeats),
        f"stage, workers={workers}": best_rate(stage, n, repeats),
    }
    print(f"\n{name}: {n} images, {size_mb:.2f} MiB per file on average")
    base = rates["dcmread"]
    for label, rate in rates.items():
        print(f"  {label:<22} {rate:9.1f} images/s   x{rate / base:6.2f} vs dcmread")
    measure_copies(files, repeats, scratch / "copy-bench")
    reports = pd.read_csv(root / "reports.csv", dtype=str, keep_default_na=False)["report"].tolist()
    scrub = best_rate(
        lambda: [scrub_report(r, ["GARCÍA LÓPEZ^MARÍA JOSÉ"]) for r in reports], len(reports), repeats
    )
    print(f"  {'scrub':<22} {scrub:9.1f} reports/s")


def measure_copies(files: list[Path], repeats: int, out: Path) -> None:
    """What the verifier (re-reading every written copy) adds to writing it."""
    tasks = [
        CopyTask(str(f), str(out / f"{i}.dcm"), f"i{i}", "e", "p", "L", "CC") for i, f in enumerate(files)
    ]

    def copy_only() -> None:
        for t in tasks:
            with atomic_path(t.target) as tmp:
                deidentified_dataset(open_dicom(t.source), t).save_as(tmp, enforce_file_format=True)

    def copy_verify() -> None:
        assert not [p for p in map(write_copy, tasks) if p]

    plain = best_rate(copy_only, len(tasks), repeats)
    verified = best_rate(copy_verify, len(tasks), repeats)
    print(f"  {'copy only':<22} {plain:9.1f} images/s")
    print(f"  {'copy + verify':<22} {verified:9.1f} images/s   x{verified / plain:6.2f} vs copy only")


def measure_pool(files: list[Path], workers: int, repeats: int) -> None:
    """Pool vs one process on a list long enough for the pool to matter (start-up included)."""
    many = files * max(1, 4000 // len(files))

    def pool_scan() -> None:
        with worker_pool(workers, len(many), min_per_worker=0) as pool:
            list(scan_headers(many, pool))

    serial = best_rate(lambda: [scan_header(f) for f in many], len(many), repeats)
    pooled = best_rate(pool_scan, len(many), repeats)
    print(f"\nheader scan of {len(many)} files (the demo list repeated; pool start-up included)")
    print(f"  1 process {serial:9.1f} images/s")
    print(f"  {workers} workers {pooled:9.1f} images/s   x{pooled / serial:5.2f} vs 1 process")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--demo-root", type=Path, default=Path("data/raw/cohort"))
    parser.add_argument("--full-exams", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--workers", type=int, default=IngestParams().workers, help="pool size (ingest.workers)"
    )
    parser.add_argument("--keep", type=Path, default=None, help="reuse/keep generated files in this folder")
    args = parser.parse_args()
    workers = args.workers
    with tempfile.TemporaryDirectory() as tmp:
        scratch = args.keep or Path(tmp)
        scratch.mkdir(parents=True, exist_ok=True)
        demo = demo_cohort(args.demo_root, scratch)
        measure("demo cohort", demo, workers, args.repeats, scratch)
        measure_pool(find_dicom_files(demo), workers, args.repeats)
        full = full_resolution_cohort(scratch, args.full_exams)
        measure("full resolution (scale 1)", full, workers, args.repeats, scratch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
