"""Bootstrap speed: the vectorised cluster bootstrap against one scikit-learn call per metric and resample.

Usage: .venv/bin/python benchmarks/bench_evaluate.py [--images 640] [--resamples 1000] [--loop-resamples 100]
Prints seconds for both ways on the same data, the ratio measured in this one run, and the largest difference
between the two ways' bootstrap scores on the same resamples (they must agree to rounding); then the seconds
one arm's full section takes (image, exam and breast level, vendor/view slices, all with intervals) and the
paired comparison of two arms, i.e. what evaluate spends per arm and per pair.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from breast_density.evaluation.bootstrap import batch_scores, cluster_bootstrap_ci
from breast_density.evaluation.comparisons import compare_pair
from breast_density.evaluation.summary import EvalSettings, arm_section


def _data(images: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    classes = ["A", "B", "C", "D"]
    exams = images // 4
    truth = rng.integers(0, 4, exams).repeat(4)
    noise = rng.integers(-1, 2, images) * (rng.random(images) < 0.4)
    predicted = np.clip(truth + noise, 0, 3)
    names = np.array(classes, dtype=object)
    return names[truth], names[predicted], np.arange(exams).repeat(4).astype(str), classes


def _sklearn_scores(actual, predicted, weight, classes) -> list[float]:
    return [
        accuracy_score(actual, predicted, sample_weight=weight),
        f1_score(actual, predicted, labels=classes, average="macro", sample_weight=weight, zero_division=0),
        cohen_kappa_score(actual, predicted, labels=classes, weights="linear", sample_weight=weight),
        cohen_kappa_score(actual, predicted, labels=classes, weights="quadratic", sample_weight=weight),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=640)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--loop-resamples", type=int, default=100, help="resamples timed for the sklearn loop")
    args = ap.parse_args()
    actual, predicted, clusters, classes = _data(args.images)

    start = time.perf_counter()
    cluster_bootstrap_ci(
        actual, predicted, clusters, classes, resamples=args.resamples, confidence=0.95, seed=1
    )
    vectorised = time.perf_counter() - start

    rng = np.random.default_rng(1)
    _, cluster_of = np.unique(clusters, return_inverse=True)
    n = cluster_of.max() + 1
    draws = rng.multinomial(n, np.full(n, 1.0 / n), size=args.loop_resamples)
    index = {c: i for i, c in enumerate(classes)}
    a = np.array([index[c] for c in actual])
    p = np.array([index[c] for c in predicted])
    start = time.perf_counter()
    loop = np.array([_sklearn_scores(actual, predicted, d[cluster_of].astype(float), classes) for d in draws])
    per_resample = (time.perf_counter() - start) / args.loop_resamples
    cms = np.zeros((args.loop_resamples, 4, 4))
    for b, d in enumerate(draws):
        np.add.at(cms[b], (a, p), d[cluster_of])
    batch = np.column_stack(list(batch_scores(cms).values()))
    print(f"{args.images} images, {n} exam clusters, 4 metrics")
    print(f"vectorised bootstrap, {args.resamples} resamples: {vectorised:8.3f} s")
    print(f"sklearn loop, {args.resamples} resamples (from {args.loop_resamples}): "
          f"{per_resample * args.resamples:8.3f} s")  # fmt: skip
    print(f"ratio sklearn loop / vectorised: {per_resample * args.resamples / vectorised:8.1f}x")
    print(f"largest score difference on identical resamples: {np.abs(loop - batch).max():.2e}")

    arms = [_arm_frame(actual, predicted, clusters, classes, seed) for seed in (1, 2)]
    settings = EvalSettings(classes=tuple(classes), resamples=args.resamples, confidence=0.95, seed=1)
    start = time.perf_counter()
    arm_section(arms[0], settings)
    section = time.perf_counter() - start
    start = time.perf_counter()
    compare_pair(arms[0], arms[1], settings)
    pair = time.perf_counter() - start
    print(f"one arm's full section (3 levels + 5 slices, {args.resamples} resamples each): {section:8.3f} s")
    print(f"one paired comparison ({args.resamples} resamples): {pair:8.3f} s")


def _arm_frame(actual, predicted, clusters, classes: list[str], seed: int) -> pd.DataFrame:
    """Image-level predictions with ids, views, vendors and probabilities peaked at `predicted`."""
    rng = np.random.default_rng(seed)
    n = len(actual)
    probs = rng.dirichlet(np.ones(len(classes)), n) * 0.4
    probs[np.arange(n), [classes.index(p) for p in predicted]] += 0.6
    views = np.tile(["CC", "MLO", "CC", "MLO"], n // 4 + 1)[:n]
    frame = pd.DataFrame(
        {
            "image_id": [f"i{i}" for i in range(n)],
            "exam_id": clusters,
            "patient_id": clusters,
            "laterality": np.tile(["L", "L", "R", "R"], n // 4 + 1)[:n],
            "view": views,
            "vendor": [f"v{int(c) % 3}" for c in clusters],
            "actual": actual,
            "predicted": [classes[i] for i in probs.argmax(axis=1)],
        }
    )
    for i, c in enumerate(classes):
        frame[f"p_{c}"] = probs[:, i]
    return frame


if __name__ == "__main__":
    main()
