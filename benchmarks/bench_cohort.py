"""Cohort generation speed: the demo cohort against its one-minute budget, and true vendor resolution.

Usage: .venv/bin/python benchmarks/bench_cohort.py [--exams 160] [--full-exams 3] [--workers 2]
Prints seconds, exams/s and s/image for each setting, and ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from breast_density.cohort.generate import generate_cohort
from breast_density.params import CohortParams

DEMO_BUDGET_S = 60.0


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _time(cfg: CohortParams, workers: int, root: Path, name: str) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process (meaningful for workers=1, where all work is here)."""
    start, cpu = time.perf_counter(), _cpu()
    generate_cohort(cfg, 42, root / name, root / f"{name}-truth", workers=workers)
    return time.perf_counter() - start, _cpu() - cpu


def _report(label: str, timing: tuple[float, float], exams: int, cpu: bool) -> None:
    wall, cpu_s = timing
    line = f"{label:<36} {wall:7.1f} s  {exams / wall:6.2f} exams/s  {wall / (4 * exams):7.3f} s/image"
    if cpu:
        line += f"  ({cpu_s / (4 * exams):.3f} cpu s/image)"
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=160, help="demo cohort size")
    parser.add_argument("--full-exams", type=int, default=3, help="exams at scale 1")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    demo = CohortParams(exams=args.exams)
    part = max(args.exams // 4, 4)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t_demo = _time(demo, args.workers, root, "demo")
        _report(f"demo scale {demo.scale}, {args.workers} workers", t_demo, args.exams, cpu=False)
        t_one = _time(demo.model_copy(update={"exams": part}), 1, root, "single")
        _report(f"demo scale {demo.scale}, 1 process", t_one, part, cpu=True)
        full = demo.model_copy(update={"exams": args.full_exams, "scale": 1.0})
        t_full = _time(full, 1, root, "full")
        _report("scale 1.0, 1 process", t_full, args.full_exams, cpu=True)
    cpu_per_image = t_one[1] / (4 * part)
    idle_estimate = cpu_per_image * 4 * args.exams / args.workers
    load = os.getloadavg()[0]
    print(f"load average now: {load:.1f} on {os.cpu_count()} cores (wall times include contention)")
    print(f"demo wall time / {DEMO_BUDGET_S:.0f} s budget: {t_demo[0] / DEMO_BUDGET_S:.2f}")
    budget = f"{args.workers} cores x {DEMO_BUDGET_S:.0f} s budget"
    print(
        f"demo cpu work / ({budget}): {idle_estimate / DEMO_BUDGET_S:.2f}"
        f"  (about {idle_estimate:.0f} s on {args.workers} idle cores, plus worker start-up)"
    )
    speedup = (t_one[0] / part) / (t_demo[0] / args.exams)
    print(f"speed-up of {args.workers} workers over 1 process: {speedup:.2f}x")
    print(f"cpu s/image at scale 1 / at demo scale: {t_full[1] / (4 * args.full_exams) / cpu_per_image:.0f}x")


if __name__ == "__main__":
    main()
