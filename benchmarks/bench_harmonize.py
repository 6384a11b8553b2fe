"""Harmonize throughput and memory on full-resolution synthetic vendor images (cohort scale 1).

Prints, measured in one run on this machine:
  * per vendor: bare `pydicom.dcmread(f).pixel_array` time per image vs harmonize time per image (decode +
    mask + crop/flip/resize + LUT match + PNG write, one process, as a pool worker does), and their ratio
    (target <= 1.25 on the uncompressed vendor);
  * pool speed-up of 2 workers over 1 on the uncompressed vendor, per extra image (target >= 1.7);
  * peak resident memory of the harmonise pass (parent + largest worker) for N and 3N images, each in a fresh
    process (target < 1.5 GiB and flat in N).

    .venv/bin/python benchmarks/bench_harmonize.py [--images 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom

from breast_density.cohort.generate import plan_cohort, render_images
from breast_density.cohort.vendors import VENDORS
from breast_density.imaging.batch import (
    HarmonizeConfig,
    ImageTask,
    harmonize_files,
)
from breast_density.imaging.harmonize import BINS, histogram_cdf
from breast_density.imaging.spec import build_spec
from breast_density.params import CohortParams

SIZE, BIT_DEPTH = 256, 8


def make_images(root: Path, per_vendor: int, seed: int = 0) -> dict[str, list[ImageTask]]:
    """`per_vendor` scale-1 DICOMs of every vendor, rendered by the cohort code (reused if in root)."""
    listing = root / f"bench_tasks_{per_vendor}.json"
    if listing.is_file():
        saved = json.loads(listing.read_text())
        return {vendor: [ImageTask(**t) for t in items] for vendor, items in saved.items()}
    exams = plan_cohort(CohortParams(exams=len(VENDORS) * max(1, per_vendor // 4)), seed)
    exams = [dataclasses.replace(e, vendor=VENDORS[i % len(VENDORS)].name) for i, e in enumerate(exams)]
    rows = render_images(exams, seed, 1.0, root, workers=2)
    tasks: dict[str, list[ImageTask]] = {v.name: [] for v in VENDORS}
    for i, row in enumerate(rows):
        path, lat, vendor = str(root / row["path"]), row["laterality"], row["vendor"]
        tasks[vendor].append(ImageTask(image_id=f"img{i:04d}", path=path, laterality=lat, vendor=vendor))
    listing.write_text(json.dumps({v: [dataclasses.asdict(t) for t in ts] for v, ts in tasks.items()}))
    return tasks


def _config(out_dir: Path) -> HarmonizeConfig:
    # match=image: every image builds its own lookup table, the costlier of the two recipes
    return HarmonizeConfig(build_spec(SIZE, BIT_DEPTH, "image", histogram_cdf(np.ones(BINS)), {}), out_dir)


def time_bare(tasks: list[ImageTask]) -> float:
    start = time.perf_counter()
    for task in tasks:
        pydicom.dcmread(task.path).pixel_array  # noqa: B018  (the decode is the point)
    return (time.perf_counter() - start) / len(tasks)


def time_harmonize(tasks: list[ImageTask], out_dir: Path, workers: int) -> float:
    start = time.perf_counter()
    results = list(harmonize_files(tasks, _config(out_dir), workers))
    elapsed = time.perf_counter() - start
    failed = [r.error for r in results if r.error]
    if failed:
        raise RuntimeError(f"benchmark images failed to harmonise: {failed[:3]}")
    return elapsed / len(tasks)


def rss_probe(task_file: Path, out_dir: Path, workers: int) -> dict:
    """Run in a fresh process: harmonise the listed images, report peak RSS of self and of the workers."""
    tasks = [ImageTask(**t) for t in json.loads(task_file.read_text())]
    worker_peak = max(r.peak_rss_mib for r in harmonize_files(tasks, _config(out_dir), workers))
    return {
        "images": len(tasks),
        "parent_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "largest_worker_mib": worker_peak,
    }


def measure_rss(tasks: list[ImageTask], tmp: Path, workers: int) -> dict:
    task_file = tmp / f"tasks_{len(tasks)}.json"
    task_file.write_text(json.dumps([dataclasses.asdict(t) for t in tasks]))
    cmd = [sys.executable, __file__, "--rss-probe", str(task_file), str(tmp / "rss_out"), str(workers)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=8, help="images per vendor (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (median is kept)")
    parser.add_argument("--keep", type=Path, help="render the images into this folder and keep them")
    parser.add_argument("--rss-probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_probe:
        print(json.dumps(rss_probe(Path(args.rss_probe[0]), Path(args.rss_probe[1]), int(args.rss_probe[2]))))
        return

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        root = args.keep or tmp / "cohort"
        t0 = time.perf_counter()
        tasks = make_images(root, args.images)
        print(f"{sum(map(len, tasks.values()))} scale-1 images ready in {time.perf_counter() - t0:.0f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
        cv2.setNumThreads(1)  # single-process timings: one core, like each pool worker
        report: dict = {"size": SIZE, "bit_depth": BIT_DEPTH, "vendors": {}}
        print(f"\n{'vendor':<18} {'matrix':>10} {'syntax':<22} {'bare ms':>8} {'harm. ms':>9} {'ratio':>6}")
        for vendor in VENDORS:
            vt = tasks[vendor.name]
            time_bare(vt), time_harmonize(vt, tmp / "out", workers=1)  # warm page cache and decoders
            # whole passes over the vendor's files, alternating which goes first; the fastest pass of each
            # kind is kept, so load spikes from other processes on the machine are not counted
            bare, harm = [], []
            for r in range(args.rounds):
                if r % 2:
                    harm.append(time_harmonize(vt, tmp / "out", workers=1))
                    bare.append(time_bare(vt))
                else:
                    bare.append(time_bare(vt))
                    harm.append(time_harmonize(vt, tmp / "out", workers=1))
            b, h = min(bare), min(harm)
            ds = pydicom.dcmread(vt[0].path, stop_before_pixels=True)
            syntax = ds.file_meta.TransferSyntaxUID.name
            matrix = f"{ds.Rows}x{ds.Columns}"
            report["vendors"][vendor.name] = {
                "bare_ms": 1e3 * b,
                "harmonize_ms": 1e3 * h,
                "ratio": h / b,
                "matrix": matrix,
                "syntax": syntax,
            }
            print(
                f"{vendor.name:<18} {matrix:>10} {syntax[:22]:<22} {1e3 * b:8.1f} {1e3 * h:9.1f} {h / b:6.2f}"
            )

        # Pool scaling from the marginal cost of 2N extra images (T(3N) - T(N)), which cancels the pool's
        # start-up (a forkserver that imports the imaging stack once); start-up is reported separately.
        base = tasks[VENDORS[0].name]
        marginal, startup = {}, {}
        for workers in (1, 2):
            small = min(time_harmonize(base, tmp / "out", workers) for _ in range(2)) * len(base)
            large = min(time_harmonize(base * 3, tmp / "out", workers) for _ in range(2)) * 3 * len(base)
            marginal[workers] = (large - small) / (2 * len(base))
            startup[workers] = max(0.0, small - marginal[workers] * len(base))
        speedup = marginal[1] / marginal[2]
        report["pool"] = {
            "images": 3 * len(base), "ms_per_image_1_worker": 1e3 * marginal[1],
            "ms_per_image_2_workers": 1e3 * marginal[2], "speedup": speedup, "pool_startup_s": startup[2],
        }  # fmt: skip
        one, two = 1e3 * marginal[1], 1e3 * marginal[2]
        print(f"\npool, uncompressed vendor: 1 worker {one:.1f} ms/img, 2 workers {two:.1f} ms/img -> "
              f"speed-up {speedup:.2f}x (pool start-up {startup[2]:.1f} s)")  # fmt: skip

        mixed = [t for v in VENDORS for t in tasks[v.name]]
        small, large = measure_rss(mixed, tmp, 2), measure_rss(mixed * 3, tmp, 2)
        report["rss"] = {"small": small, "large": large}
        for p in (small, large):
            parent, worker = p["parent_mib"], p["largest_worker_mib"]
            print(f"peak RSS, {p['images']:>3} images (all vendors, 2 workers): parent {parent:.0f} MiB, "
                  f"largest worker {worker:.0f} MiB")  # fmt: skip
        print("\n" + json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
