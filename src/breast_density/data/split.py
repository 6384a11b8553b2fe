"""Patient-grouped, class-stratified train/val/test partitions.

A held-out fraction f is approximated by a rational m/k (k <= 20 folds) and taken as m folds of
scikit-learn's StratifiedGroupKFold(k): every patient lands in exactly one fold and the folds' class mixes
are balanced, so the union of m folds is a patient-disjoint, stratified f-sized part. Of all m-fold
combinations the one whose class counts come closest to f times the class totals is kept.

Several splits (``split.repeats`` = K): `holdout` draws K such splits with consecutive seeds; `kfold` makes
the K folds of one StratifiedGroupKFold the K test parts, so every image is tested exactly once (pooled
out-of-fold predictions). Split 0 is the `partition` column, split r the `partition_r` column. DVC's
`foreach` cannot expand an integer, so the training stages loop over the splits themselves
(`repeat_splits` below) and tag each prediction with its split.
"""

from __future__ import annotations

import itertools
import math
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold

from breast_density.io import read_csv, write_csv

PARTITIONS = ("train", "val", "test")
MAX_FOLDS = 20
_MAX_COMBINATIONS = 20_000


class SplitError(ValueError):
    """The data cannot be split as asked (a class too small, too few patients)."""


def _fold_plan(fraction: float, n_groups: int) -> tuple[int, int]:
    if not 0 < fraction < 1:
        raise SplitError(f"split fraction must be between 0 and 1, got {fraction}")
    frac = Fraction(fraction).limit_denominator(max(2, min(MAX_FOLDS, n_groups)))
    if frac.numerator == 0 or frac.numerator >= frac.denominator:
        raise SplitError(f"cannot hold out {fraction:.0%} of only {n_groups} patients")
    return frac.numerator, frac.denominator


def held_out(labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of a patient-grouped, class-stratified part of about `fraction` of the rows."""
    n_groups = len(np.unique(groups))
    take, folds = _fold_plan(fraction, n_groups)
    if n_groups < folds:
        raise SplitError(f"only {n_groups} patients: too few to hold out {fraction:.0%} by patient")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # small classes get a per-partition presence check, with a clearer message
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        fold_rows = [fold for _, fold in splitter.split(np.zeros(len(labels)), labels, groups)]
    classes, y = np.unique(labels, return_inverse=True)
    counts = np.stack([np.bincount(y[rows], minlength=len(classes)) for rows in fold_rows])
    chosen = _best_folds(counts, take, fraction * np.bincount(y, minlength=len(classes)), seed)
    mask = np.zeros(len(labels), dtype=bool)
    for i in chosen:
        mask[fold_rows[i]] = True
    return mask


def _best_folds(counts: np.ndarray, take: int, target: np.ndarray, seed: int) -> tuple[int, ...]:
    """The `take` folds whose summed class counts are closest to `target` (every class present if possible).

    With few patients per fold the folds' class mixes vary a lot, so the choice of folds matters; all
    combinations are scored when there are not too many, else a seeded sample of them.
    """
    n_folds = len(counts)
    if math.comb(n_folds, take) <= _MAX_COMBINATIONS:
        combos = np.array(list(itertools.combinations(range(n_folds), take)))
    else:
        rng = np.random.default_rng(seed)
        combos = np.sort(
            np.stack([rng.choice(n_folds, take, replace=False) for _ in range(_MAX_COMBINATIONS)]), 1
        )
    summed = counts[combos].sum(axis=1)
    score = ((summed - target) ** 2).sum(axis=1) + 1e9 * (summed == 0).sum(axis=1)
    return tuple(combos[int(np.argmin(score))])


def split_partitions(
    data: pd.DataFrame, classes: Sequence[str], test_fraction: float, val_fraction: float, seed: int
) -> np.ndarray:
    """Partition name per row: test first, then val out of the rest (both by patient, stratified by label)."""
    _check_class_sizes(data, classes)
    labels, groups = data["label"].to_numpy(), data["patient_id"].to_numpy()
    test = held_out(labels, groups, test_fraction, seed)
    rest = np.flatnonzero(~test)
    val = np.zeros(len(data), dtype=bool)
    val[rest[held_out(labels[rest], groups[rest], val_fraction, seed)]] = True
    partition = np.where(test, "test", np.where(val, "val", "train")).astype(object)
    check_patient_disjoint(data["patient_id"], partition)
    _check_every_class_everywhere(data, partition, classes)
    return partition


def kfold_partitions(
    data: pd.DataFrame, classes: Sequence[str], folds: int, val_fraction: float, seed: int
) -> list[np.ndarray]:
    """`folds` partitions: fold r of one patient-grouped, stratified K-fold is split r's test part, and val
    is held out of the rest as in split_partitions. The test parts are disjoint and cover every row."""
    if folds < 2:
        raise SplitError(f"k-fold needs at least 2 folds (split.repeats), got {folds}")
    _check_class_sizes(data, classes)
    labels, groups = data["label"].to_numpy(), data["patient_id"].to_numpy()
    if len(np.unique(groups)) < folds:
        raise SplitError(f"only {len(np.unique(groups))} patients: too few for {folds} folds")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        test_parts = [fold for _, fold in splitter.split(np.zeros(len(labels)), labels, groups)]
    out = []
    for r, test_rows in enumerate(test_parts):
        test = np.zeros(len(data), dtype=bool)
        test[test_rows] = True
        rest = np.flatnonzero(~test)
        val = np.zeros(len(data), dtype=bool)
        val[rest[held_out(labels[rest], groups[rest], val_fraction, seed + r)]] = True
        partition = np.where(test, "test", np.where(val, "val", "train")).astype(object)
        check_patient_disjoint(data["patient_id"], partition)
        _check_every_class_everywhere(data, partition, classes)
        out.append(partition)
    return out


def partition_column(split: int) -> str:
    """split.csv column of split `split` (0 is the `partition` column every stage reads)."""
    return "partition" if split == 0 else f"partition_{split}"


def split_count(frame: pd.DataFrame) -> int:
    """Number of splits in a split table (partition, partition_1, ...)."""
    count = 1
    while partition_column(count) in frame.columns:
        count += 1
    return count


@contextmanager
def repeat_splits(split_csv: str | Path) -> Iterator[list[tuple[str, Path, Path]]]:
    """For splits 1..K-1: (name, a split.csv whose `partition` is that split's, a scratch folder).

    A training stage runs its unchanged one-split code on each and tags the predictions with the split name;
    the scratch folders (models, curves of the extra splits) are removed afterwards.
    """
    frame = read_csv(split_csv)
    with tempfile.TemporaryDirectory(prefix="splits-") as tmp:
        out = []
        for r in range(1, split_count(frame)):
            folder = Path(tmp) / str(r)
            folder.mkdir()
            path = folder / "split.csv"
            write_csv(path, frame.assign(partition=frame[partition_column(r)]))
            out.append((str(r), path, folder))
        yield out


def add_split_predictions(predictions_csv: str | Path, extra_csv: str | Path, split: str) -> None:
    """Append one extra split's predictions to a stage's predictions.csv, tagging every row with its split
    (split 0 = the rows already there)."""
    main = read_csv(predictions_csv)
    if "split" not in main.columns:
        main["split"] = "0"
    extra = read_csv(extra_csv).assign(split=split)
    write_csv(predictions_csv, pd.concat([main, extra[main.columns]], ignore_index=True))


def _check_class_sizes(data: pd.DataFrame, classes: Sequence[str]) -> None:
    for cls in classes:
        rows = data[data["label"] == cls]
        patients = rows["patient_id"].nunique()
        if patients < len(PARTITIONS):
            raise SplitError(
                f"class {cls!r} has only {patients} patient(s) ({len(rows)} images): at least "
                f"{len(PARTITIONS)} are needed so that train, val and test each get one"
            )


def _check_every_class_everywhere(data: pd.DataFrame, partition: np.ndarray, classes: Sequence[str]) -> None:
    for cls in classes:
        in_class = (data["label"] == cls).to_numpy()
        for name in PARTITIONS:
            if not (in_class & (partition == name)).any():
                patients = data["patient_id"][in_class].nunique()
                raise SplitError(
                    f"class {cls!r} ({in_class.sum()} images, {patients} patients) is too small to split: "
                    f"no image of it fell into '{name}'; add data or lower the fractions"
                )


def check_patient_disjoint(patients: pd.Series, partition: np.ndarray) -> None:
    """Raise if any patient has images in two partitions (leakage)."""
    per_patient = pd.Series(partition, index=patients.to_numpy()).groupby(level=0).nunique()
    shared = per_patient[per_patient > 1]
    if len(shared):
        raise SplitError(
            f"{len(shared)} patients appear in more than one partition (e.g. {shared.index[0]!r})"
        )


def partition_summary(data: pd.DataFrame, partition: np.ndarray, classes: Sequence[str]) -> dict[str, dict]:
    """Sizes and class counts of each partition, and the largest class-share deviation from the whole."""
    overall = data["label"].value_counts(normalize=True).reindex(list(classes), fill_value=0)
    out = {}
    for name in PARTITIONS:
        part = data[partition == name]
        share = part["label"].value_counts(normalize=True).reindex(list(classes), fill_value=0)
        out[name] = {
            "images": len(part),
            "exams": part["exam_id"].nunique(),
            "patients": part["patient_id"].nunique(),
            "fraction": round(len(part) / len(data), 4),
            "classes": {c: int((part["label"] == c).sum()) for c in classes},
            "max_class_share_deviation": round(float((share - overall).abs().max()), 4),
        }
    return out
