"""Text stage speed: normalize and translate (lexicon backend) on generated reports, against the demo budget.

Usage: .venv/bin/python benchmarks/bench_text.py [--reports 160] [--scale 10]
Prints seconds and reports/s for the demo size and a larger batch, the ratio between them measured in this
run (near `scale` when the cost is linear), and the share of the few-second demo budget used.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from breast_density.cohort.reports import make_phi, make_report
from breast_density.params import Params
from breast_density.stages import normalize, translate

DEMO_BUDGET_S = 5.0  # both stages together on the 160-exam demo


def _reports(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        phi = make_phi(rng)
        r = make_report(
            rng, "ABCD"[i % 4], phi, "20230415", text_noise=0.15, has_statement=rng.random() > 0.17
        )
        rows.append({"exam_id": f"E{i:06d}", "patient_id": f"P{i:06d}", "text": r.text, "given_label": ""})
    return pd.DataFrame(rows)


def _time(n: int, root: Path) -> tuple[float, float]:
    src = root / f"ingest-{n}.csv"
    _reports(n).to_csv(src, index=False)
    params = Params()
    start = time.perf_counter()
    normalize.run(params, src, root / f"norm-{n}", root / f"norm-{n}.json")
    middle = time.perf_counter()
    translate.run(params, root / f"norm-{n}" / "reports.csv", root / f"tr-{n}")
    return middle - start, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=160, help="demo size")
    parser.add_argument("--scale", type=int, default=10, help="the larger batch is this many times the demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {n: _time(n, root) for n in (args.reports, args.reports * args.scale)}
    for n, (t_norm, t_tr) in results.items():
        print(
            f"{n:>6} reports  normalize {t_norm:6.2f} s ({n / t_norm:7.0f}/s)  "
            f"translate {t_tr:6.2f} s ({n / t_tr:7.0f}/s)"
        )
    small, large = (sum(results[n]) for n in (args.reports, args.reports * args.scale))
    print(f"time ratio large/small: {large / small:.1f} (batch ratio {args.scale})")
    print(f"demo share of the {DEMO_BUDGET_S:.0f} s budget: {small / DEMO_BUDGET_S:.2f}")


if __name__ == "__main__":
    main()
