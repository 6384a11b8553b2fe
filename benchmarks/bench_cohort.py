"""Cohort generation speed: the demo cohort against its one-minute budget, and true vendor resolution.

Usage: .venv/bin/python benchmarks/bench_cohort.py [--exams 160] [--full-exams 3] [--workers 2]
Prints seconds, exams/s and s/image for each setting, and ratios measured in this one run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from breast_density.cohort.generate import generate_cohort
from breast_density.params import CohortParams

DEMO_BUDGET_S = 60.0


def _time(cfg: CohortParams, workers: int, root: Path, name: str) -> float:
    start = time.perf_counter()
    generate_cohort(cfg, 42, root / name, root / f"{name}-truth", workers=workers)
    return time.perf_counter() - start


def _report(label: str, seconds: float, exams: int) -> None:
    print(
        f"{label:<34} {seconds:7.1f} s  {exams / seconds:6.2f} exams/s  {seconds / (4 * exams):7.3f} s/image"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exams", type=int, default=160, help="demo cohort size")
    parser.add_argument("--full-exams", type=int, default=3, help="exams at scale 1")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    demo = CohortParams(exams=args.exams)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t_demo = _time(demo, args.workers, root, "demo")
        _report(f"demo scale {demo.scale}, {args.workers} workers", t_demo, args.exams)
        part = max(args.exams // 4, 4)
        t_one = _time(demo.model_copy(update={"exams": part}), 1, root, "single")
        _report(f"demo scale {demo.scale}, 1 worker", t_one, part)
        full = demo.model_copy(update={"exams": args.full_exams, "scale": 1.0})
        t_full = _time(full, args.workers, root, "full")
        _report(f"scale 1.0, {args.workers} workers", t_full, args.full_exams)
    print(f"demo time / {DEMO_BUDGET_S:.0f} s budget: {t_demo / DEMO_BUDGET_S:.2f}")
    print(f"speed-up of {args.workers} workers over 1: {(t_one / part) / (t_demo / args.exams):.2f}x")
    print(f"s/image at scale 1 / at demo scale: {(t_full / args.full_exams) / (t_demo / args.exams):.0f}x")


if __name__ == "__main__":
    main()
