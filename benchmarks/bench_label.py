"""Label stage speed on generated reports, and the translation work the Marian backend's sentence cache saves.

Usage: .venv/bin/python benchmarks/bench_label.py [--reports 160] [--scale 10]
Prints seconds and reports/s of the label stage (English + Spanish extraction) for the demo size and a larger
batch, their time ratio measured in this run (near `scale` when the cost is linear), the share of the demo
budget used, and how many sentences the Marian backend translates with and without its per-run sentence cache.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from breast_density.cohort.reports import make_phi, make_report
from breast_density.io import write_csv
from breast_density.params import Params
from breast_density.stages import label
from breast_density.text.marian import split_segments

DEMO_BUDGET_S = 3.0  # the label stage's share of the demo


def _reports(n: int, seed: int = 0) -> pd.DataFrame:
    """Translate-stage shaped rows; the reference English stands in for the translation."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        r = make_report(
            rng, "ABCD"[i % 4], make_phi(rng), "20230415", text_noise=0.15, has_statement=rng.random() > 0.17
        )
        ids = {"exam_id": f"E{i:06d}", "patient_id": f"P{i:06d}"}
        rows.append({**ids, "text_es": r.clean_es, "text_en": r.reference_en, "given_label": ""})
    return pd.DataFrame(rows)


def _time(reports: pd.DataFrame, root: Path) -> float:
    n = len(reports)
    src, corrections = root / f"tr-{n}.csv", root / f"corr-{n}.csv"
    write_csv(src, reports)
    write_csv(corrections, pd.DataFrame(columns=["exam_id", "original", "corrected", "rule"]))
    start = time.perf_counter()
    label.run(Params(), src, corrections, root / f"label-{n}", root / f"label-{n}.json")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=160, help="demo size")
    parser.add_argument("--scale", type=int, default=10, help="the larger batch is this many times the demo")
    args = parser.parse_args()
    sizes = (args.reports, args.reports * args.scale)
    batches = {n: _reports(n) for n in sizes}
    with tempfile.TemporaryDirectory() as tmp:
        times = {n: _time(batches[n], Path(tmp)) for n in sizes}
    for n, t in times.items():
        print(f"{n:>6} reports  label {t:6.2f} s ({n / t:6.0f} reports/s, {1000 * t / n:5.2f} ms/report)")
    print(f"time ratio large/small: {times[sizes[1]] / times[sizes[0]]:.1f} (batch ratio {args.scale})")
    print(f"demo share of the {DEMO_BUDGET_S:.0f} s budget: {times[sizes[0]] / DEMO_BUDGET_S:.2f}")
    for n in sizes:
        sentences = [s for t in batches[n]["text_es"] for line in split_segments(t) for s in line]
        unique = len(set(sentences))
        print(
            f"{n:>6} reports  Marian sentences: {len(sentences)} in the reports, {unique} distinct "
            f"(cache saves {1 - unique / len(sentences):.0%} of the translation work)"
        )


if __name__ == "__main__":
    main()
