"""No-op `dvc repro` of an up-to-date workspace next to DVC's bare start-up, measured in the same run.

Needs a workspace where the pipeline has run (`make demo`) and `dvc status` is clean; otherwise it says so and
measures nothing (a repro with work to do would change the workspace). Prints:
  * the median and min wall time of `--runs` no-op `dvc repro` runs and of as many `dvc status` runs in an
    empty DVC repository (DVC's start-up: Python, its imports, finding a repository), and their ratio;
  * per tracked folder (or file) of the pipeline: how often one no-op repro builds its hash tree, the time
    spent there, and its files and folders (DVC's walk costs per file and more per folder).
The workspace is left as it was: dvc.lock is compared before and after.

    .venv/bin/python benchmarks/bench_noop_repro.py [--runs 7] [--repo .]
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DVC = str(Path(sys.executable).parent / "dvc")
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def _wall(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def _is_clean(repo: Path) -> bool:
    out = subprocess.run(
        [DVC, "status", "--json"], cwd=repo, check=True, capture_output=True, text=True, env=ENV
    ).stdout
    return not json.loads(out or "{}")


def _lock_digest(repo: Path) -> str:
    return hashlib.sha256((repo / "dvc.lock").read_bytes()).hexdigest()


def _walks() -> None:
    """In this process: one no-op repro with DVC's per-output tree build timed; prints JSON rows."""
    from dvc import output
    from dvc.cli import main as dvc_main

    build = output.Output._build
    spent: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return build(self, *args, **kwargs)
        finally:
            spent[str(self)][0] += 1
            spent[str(self)][1] += time.perf_counter() - start

    output.Output._build = timed
    start = time.perf_counter()
    rc = dvc_main(["repro", "-q"])
    total = time.perf_counter() - start
    print(json.dumps({"rc": rc, "total": total, "outputs": {k: v for k, v in spent.items()}}))


def _tree_size(path: Path) -> tuple[int, int]:
    if not path.is_dir():
        return (1, 0) if path.exists() else (0, 0)
    files = dirs = 0
    for _, _, names in os.walk(path):
        dirs += 1
        files += len(names)
    return files, dirs


def _walk_table(repo: Path, top: int) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--walks"], cwd=repo, check=True, capture_output=True, text=True, env=ENV
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    rows = sorted(result["outputs"].items(), key=lambda kv: -kv[1][1])
    spent = sum(t for _, t in result["outputs"].values())
    print(
        f"\nhash-tree builds in one no-op repro (in-process: {result['total']:.2f} s, builds {spent:.2f} s)"
    )
    print(f"  {'seconds':>8} {'builds':>6} {'ms/build':>8} {'files':>6} {'folders':>7}  path")
    for path, (builds, seconds) in rows[:top]:
        files, dirs = _tree_size(repo / path)
        print(f"  {seconds:8.3f} {builds:6d} {1000 * seconds / builds:8.1f} {files:6d} {dirs:7d}  {path}")
    if len(rows) > top:
        rest = sum(t for _, (_, t) in rows[top:])
        print(f"  {rest:8.3f}  ... {len(rows) - top} more paths")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--top", type=int, default=12, help="rows of the per-path table")
    parser.add_argument("--walks", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.walks:
        _walks()
        return 0
    repo = args.repo.resolve()
    if not (repo / "dvc.lock").is_file() or not _is_clean(repo):
        print(f"{repo}: no up-to-date pipeline (run `make demo` first); nothing measured")
        return 0
    lock = _lock_digest(repo)
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp)
        subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=empty, check=True, env=ENV)
        _wall([DVC, "status"], empty)  # the first start-up reads the files from disk
        repro, startup = [], []
        for _ in range(args.runs):  # interleaved, so a busy spell of the machine hits both alike
            repro.append(_wall([DVC, "repro", "-q"], repo))
            startup.append(_wall([DVC, "status"], empty))
    if _lock_digest(repo) != lock:
        print("dvc.lock changed during the no-op runs: the workspace was not up to date", file=sys.stderr)
        return 1
    med_repro, med_startup = statistics.median(repro), statistics.median(startup)
    print(f"no-op dvc repro in {repo.name}, {args.runs} runs")
    print(f"  dvc repro (nothing to do)     median {med_repro:.2f} s   min {min(repro):.2f} s")
    print(f"  dvc status, empty repository  median {med_startup:.2f} s   min {min(startup):.2f} s")
    print(
        f"  ratio repro / start-up        {med_repro / med_startup:.2f}x (median)   "
        f"repro beyond start-up {med_repro - med_startup:.2f} s"
    )
    _walk_table(repo, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
