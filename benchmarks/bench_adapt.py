"""Adapt stage cost on the demo data: wall time, seconds per epoch and the share spent outside the epochs.

Runs the adapt stage's `run` on an existing split (after `dvc repro split translate`) into a temporary folder,
with the current params.yaml, and prints the figures measured in that one run next to the demo target (the
whole stage <= 90 s on 2 CPU cores). The CPU time printed beside the wall time shows how much of the machine
the run actually had (a busy machine stretches the wall time, not the CPU time).

    .venv/bin/python benchmarks/bench_adapt.py [--max-epochs N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from breast_density import paths
from breast_density.params import load_params
from breast_density.stages import adapt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, help="override adapt.max_epochs")
    args = parser.parse_args()
    params = load_params(paths.PARAMS)
    if args.max_epochs:
        params = params.model_copy(
            update={"adapt": params.adapt.model_copy(update={"max_epochs": args.max_epochs})}
        )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        wall, cpu = time.perf_counter(), time.process_time()
        summary = adapt.run(
            params,
            paths.stage_dir("split") / "split.csv",
            paths.stage_dir("translate") / "reports.csv",
            out / "adapt",
            None,
            out / "resume",
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    training = summary["training"]
    epochs, best = training["epochs_run"], training["best_epoch"]
    print(f"adapt: {epochs} epochs (best {best}) on {summary['n_train']} pairs")
    print(f"  wall time                 {wall:.1f} s  (target <= 90 s on 2 cores)")
    print(f"  CPU time of this process  {cpu:.1f} s  (wall/CPU {wall / max(cpu, 1e-9):.2f})")
    print(f"  per epoch                 {wall / max(training['epochs_run'], 1):.2f} s")
    print(f"  best val zero-shot acc.   {summary['best_val_zeroshot_accuracy']:.3f}")


if __name__ == "__main__":
    main()
