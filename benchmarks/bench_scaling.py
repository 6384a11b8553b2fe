"""Data-stage scaling: ingest and harmonize with 1, 2, 4 workers on full-resolution images; DVC at 10k files.

Prints, measured in one run on this machine:
  * ingest (header scan + checks + de-identified copies) and harmonize (decode, mask, resize, match, PNG)
    throughput in images/s with 1, 2 and 4 worker processes, each run in a fresh process; wall time
    includes the pool's start-up, as the stage sees it. Ingest runs with its pool forced on: the stage itself
    starts a pool only from 500 files per worker (imaging/parallel.py), which every 100k-image run reaches;
  * the peak resident memory of each run's whole process tree (parent + workers, sampled from /proc every
    0.1 s), for N/4 and N images: streaming keeps it flat in N;
  * the marginal cost per image, T(N) - T(N/4) over the extra images (pool start-up cancels out), in
    core-seconds, and the hours 100k images would take on 1, 2, 8, 16 and 32 cores with linear scaling and
    with the parallel efficiency measured with 2 workers (linear is optimistic once storage is the limit);
  * `dvc status` on a 10k-file tracked folder (warm: hashes known; cold: DVC's hash state removed, files
    still in the page cache) extrapolated linearly to 100k files, and `dvc checkout` of that folder per cache
    link type (hardlink, symlink, copy), with whether this filesystem supports reflinks.

The images: `--unique-exams` exams rendered by the cohort code at scale 1 (vendors in turn), then cloned with
fresh patient, exam and UIDs up to `--images` (a full-resolution image takes ~1 s to render; the clones cost a
file copy). Cached in `--keep DIR` for reruns.

    .venv/bin/python benchmarks/bench_scaling.py [--images 400] [--unique-exams 4] [--keep DIR]
        [--files 10000]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pydicom
from pydicom.uid import generate_uid

from bench_harmonize import _config
from bench_ingest import full_resolution_cohort
from breast_density.cohort.generate import VIEWS, dicom_relpath
from breast_density.imaging.batch import ImageTask, harmonize_files
from breast_density.io import write_csv
from breast_density.params import Params

WORKERS = (1, 2, 4)
CORES = (1, 2, 8, 16, 32)
TARGET_IMAGES = 100_000
DVC = str(Path(sys.executable).parent / "dvc")


def cloned_cohort(scratch: Path, images: int, unique_exams: int) -> Path:
    """A reports-layout folder of `images` full-resolution DICOMs: rendered exams and re-identified clones."""
    out = scratch / f"clones{images}"
    if (out / "reports.csv").is_file():
        return out
    source = full_resolution_cohort(scratch, unique_exams)
    reports = pd.read_csv(source / "reports.csv", dtype=str, keep_default_na=False)
    rows, n, copy = [], 0, 0
    (out / "dicom").mkdir(parents=True, exist_ok=True)
    while n < images:
        for r in reports.itertuples(index=False):
            exam, patient = f"{r.exam_id}C{copy:03d}", f"{r.patient_id}C{copy:03d}"
            study = generate_uid()
            for lat, view in VIEWS:  # the cohort's flat layout, linked by AccessionNumber
                ds = pydicom.dcmread(source / dicom_relpath(r.exam_id, lat, view))
                ds.PatientID, ds.AccessionNumber, ds.StudyID = patient, exam, exam[-6:]
                ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
                ds.save_as(out / dicom_relpath(exam, lat, view), enforce_file_format=True)
                n += 1
            rows.append({"exam_id": exam, "patient_id": patient, "report": r.report})
            if n >= images:
                break
        copy += 1
    write_csv(out / "reports.csv", pd.DataFrame(rows))
    return out


def subset(root: Path, exams: int) -> Path:
    """The first `exams` exams of `root` as their own folder (hard links, no copies)."""
    out = root.parent / f"{root.name}-first{exams}"
    if (out / "reports.csv").is_file():
        return out
    reports = pd.read_csv(root / "reports.csv", dtype=str, keep_default_na=False).head(exams)
    (out / "dicom").mkdir(parents=True, exist_ok=True)
    for r in reports.itertuples(index=False):
        for path in (root / "dicom").glob(f"{r.exam_id}_*.dcm"):
            os.link(path, out / "dicom" / path.name)
    write_csv(out / "reports.csv", reports)
    return out


# ---- one measured run, in a fresh child process ----


def probe_ingest(root: Path, out: Path, workers: int) -> dict:
    import breast_density.ingest.assemble as assemble
    from breast_density.imaging.parallel import worker_pool
    from breast_density.ingest.registry import load_source

    # the pool from the first file on, as a 100k-image run would have it
    assemble.worker_pool = functools.partial(worker_pool, min_per_worker=0)
    opts = assemble.IngestOptions(
        key="bench", class_names=Params().class_names, workers=workers, copies_dir=out / "copies"
    )
    start = time.perf_counter()
    outcome = assemble.ingest_source(load_source("reports", root), opts)
    elapsed = time.perf_counter() - start
    write_csv(out / "images.csv", outcome.images)
    return {"images": len(outcome.images), "quarantined": len(outcome.quarantine), "seconds": elapsed}


def probe_harmonize(images_csv: Path, out: Path, workers: int, limit: int) -> dict:
    table = pd.read_csv(images_csv, dtype=str, keep_default_na=False).head(limit)
    tasks = [ImageTask(r.image_id, r.path, r.laterality, r.vendor) for r in table.itertuples(index=False)]
    start = time.perf_counter()
    results = list(harmonize_files(tasks, _config(out / "harmonized"), workers))
    elapsed = time.perf_counter() - start
    failed = [r.error for r in results if r.error]
    return {"images": len(tasks), "quarantined": len(failed), "seconds": elapsed}


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree_rss_mib(pid: int) -> float:
    tree, todo, total = _children(), [pid], 0.0
    while todo:
        p = todo.pop()
        todo += tree.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            continue
    return total


def measured(*probe_args: str) -> dict:
    """Run this script's probe in a child; add the peak RSS of its process tree."""
    cmd = [sys.executable, __file__, "--probe", *probe_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mib(proc.pid))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, _ = proc.communicate()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(probe_args)} failed ({proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    return {**result, "peak_rss_mib": peak[0]}


def run_probe(args: list[str]) -> dict:
    kind, *rest = args
    if kind == "ingest":
        return probe_ingest(Path(rest[0]), Path(rest[1]), int(rest[2]))
    return probe_harmonize(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]))


# ---- reporting ----


def report_stage(name: str, full: dict[int, dict], quarter: dict[int, dict]) -> dict:
    """Per worker count: throughput as the stage sees it, and the marginal cost per image of the images the
    quarter run did not have (T(N) - T(N/4)), which cancels the pool's start-up as 100k images would."""
    marginal = {
        w: (full[w]["seconds"] - quarter[w]["seconds"]) / (full[w]["images"] - quarter[w]["images"])
        for w in full
    }
    if min(marginal.values()) <= 0:
        print(f"\n{name}: T(N) - T(N/4) is not positive: too few images to outweigh the noise (--images)")
        return {"full": full, "quarter": quarter}
    cores = os.cpu_count() or 1
    print(f"\n{name}: {full[1]['images']} full-resolution images (marginal: T(N) - T(N/4), no start-up)")
    print(f"  {'workers':>7} {'images/s':>9} {'marginal img/s':>15} {'speed-up':>9} {'core-s/img':>11} "
          f"{'peak RSS MiB N/4 -> N':>22}")  # fmt: skip
    for w, r in full.items():
        print(f"  {w:>7} {r['images'] / r['seconds']:9.2f} {1 / marginal[w]:15.2f} "
              f"{marginal[1] / marginal[w]:9.2f} {marginal[w] * min(w, cores):11.3f} "
              f"{quarter[w]['peak_rss_mib']:11.0f} -> {r['peak_rss_mib']:6.0f}")  # fmt: skip
    efficiency = min(1.0, marginal[1] / marginal[2] / 2)
    ideal = {c: TARGET_IMAGES * marginal[1] / c / 3600 for c in CORES}
    hours = {c: ideal[c] / (efficiency if c > 1 else 1.0) for c in CORES}
    print(f"  hours for {TARGET_IMAGES:,} images  " + "".join(f"{c:>4} cores" for c in CORES))
    print(f"    {'linear scaling':<26}" + "".join(f"{h:10.1f}" for h in ideal.values()))
    print(
        f"    {f'2-worker efficiency {efficiency:.2f}':<26}" + "".join(f"{h:10.1f}" for h in hours.values())
    )
    return {
        "full": full,
        "quarter": quarter,
        "marginal_s": marginal,
        "efficiency_2": efficiency,
        "hours": hours,
        "hours_linear": ideal,
    }


# ---- DVC at 10k files ----


def _dvc(repo: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run(
        [DVC, *args], cwd=repo, check=True, capture_output=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"}
    )
    return time.perf_counter() - start


def reflink_supported(folder: Path) -> bool:
    (folder / "reflink-a").write_bytes(b"x" * 4096)
    ok = subprocess.run(
        ["cp", "--reflink=always", str(folder / "reflink-a"), str(folder / "reflink-b")], capture_output=True
    ).returncode == 0  # fmt: skip
    for name in ("reflink-a", "reflink-b"):
        (folder / name).unlink(missing_ok=True)
    return ok


def dvc_at_scale(tmp: Path, files: int) -> dict:
    repo = tmp / "dvc-scale"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    _dvc(repo, "init", "-q")
    startup = min(_dvc(repo, "status") for _ in range(3))  # an empty repository: DVC's own start-up
    # DVC's hash state in the repo, so "cold" can remove it
    _dvc(repo, "config", "core.site_cache_dir", str(repo / ".site-cache"))
    many = repo / "data" / "many"
    many.mkdir(parents=True)
    for i in range(files):
        (many / f"f{i:06d}.txt").write_text(f"file {i}\n" * 8)
    add = _dvc(repo, "add", "data/many")
    warm = min(_dvc(repo, "status") for _ in range(3))
    cold = []
    for _ in range(2):
        shutil.rmtree(repo / ".site-cache", ignore_errors=True)
        cold.append(_dvc(repo, "status"))
    checkout = {}
    for link in ("hardlink", "symlink", "copy"):
        _dvc(repo, "config", "cache.type", link)
        shutil.rmtree(many)
        checkout[link] = _dvc(repo, "checkout", "data/many.dvc")
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(repo)], capture_output=True, text=True).stdout.strip()
    result = {
        "files": files,
        "startup_s": startup,
        "add_s": add,
        "status_warm_s": warm,
        "status_cold_s": min(cold),
        "checkout_s": checkout,
        "filesystem": fs,
        "reflink": reflink_supported(repo),
    }
    scale = 100_000 / files  # the per-file part scales; start-up does not
    warm_100k, cold_100k = (startup + (t - startup) * scale for t in (warm, min(cold)))
    reflink = "supported" if result["reflink"] else "not supported"
    print(f"\nDVC with a {files:,}-file tracked folder ({fs}; reflink {reflink})")
    print(f"  dvc add {add:.1f} s; dvc status: empty repository {startup:.2f} s, warm {warm:.2f} s "
          f"(100k files ~{warm_100k:.0f} s), cold {min(cold):.1f} s (~{cold_100k:.0f} s)")  # fmt: skip
    print("  dvc checkout: " + ", ".join(f"{k} {v:.1f} s" for k, v in checkout.items()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=400, help="full-resolution images (default 400)")
    parser.add_argument(
        "--unique-exams", type=int, default=4, help="exams rendered before cloning (default 4)"
    )
    parser.add_argument("--files", type=int, default=10_000, help="files in the DVC folder (default 10000)")
    parser.add_argument("--keep", type=Path, help="render/clone the images into this folder and keep them")
    parser.add_argument("--skip-dvc", action="store_true", help="only the data stages")
    parser.add_argument("--probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(run_probe(args.probe)))
        return

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        scratch = args.keep or tmp / "images"
        scratch.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        root = cloned_cohort(scratch, args.images, args.unique_exams)
        small = subset(root, max(1, args.images // 16))  # N/4 images
        print(f"{args.images} full-resolution images ready in {time.perf_counter() - t0:.0f} s; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (workers = 4 oversubscribes "
              "a 2-core machine on purpose: it shows what oversubscription costs)")  # fmt: skip
        out = tmp / "out"
        report: dict = {"cores": os.cpu_count(), "load_start": os.getloadavg()[0]}
        ingest = {w: measured("ingest", str(root), str(out), str(w)) for w in WORKERS}
        quarter = {w: measured("ingest", str(small), str(tmp / "out-small"), str(w)) for w in WORKERS}
        report["ingest"] = report_stage("ingest", ingest, quarter)
        images_csv = out / "images.csv"  # written by the last ingest run over all images
        harm = {
            w: measured("harmonize", str(images_csv), str(out), str(w), str(args.images)) for w in WORKERS
        }
        quarter = {
            w: measured("harmonize", str(images_csv), str(out), str(w), str(args.images // 4))
            for w in WORKERS
        }
        report["harmonize"] = report_stage("harmonize", harm, quarter)
        report["load_end"] = os.getloadavg()[0]
        print(f"\nload average {report['load_start']:.1f} at the start, {report['load_end']:.1f} at the end")
        if not args.skip_dvc:
            report["dvc"] = dvc_at_scale(tmp, args.files)
        print("\n" + json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
