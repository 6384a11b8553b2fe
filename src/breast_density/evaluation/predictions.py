"""Reading and checking the prediction files of the arms (zeroshot, probe, finetune, adapted variants).

An arm is a name and the path of its predictions.csv; an arm whose stage did not run for this data (a
``skipped.json`` note in its folder, or no file) is left out of the evaluation and reported as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from breast_density.io import read_csv, skipped_reason

REQUIRED_COLUMNS = ("image_id", "partition", "actual", "predicted")
# Per-image context joined from the split table for slices and breast-level figures.
IMAGE_INFO_COLUMNS = ("laterality", "view", "vendor")
# Bootstrap clusters, most conservative first: a patient's exams and an exam's views are correlated.
CLUSTER_COLUMNS = ("patient_id", "exam_id", "image_id")


def load_predictions(path: str | Path, classes: Sequence[str], stage: str) -> pd.DataFrame:
    """Validated predictions.csv of `stage`; errors name the file and, when missing, the stage to run."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: predictions of stage '{stage}' are missing; run `dvc repro {stage}` "
            f"(or `python -m breast_density.stages.{stage}`) first"
        )
    df = read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected at least {list(REQUIRED_COLUMNS)}")
    if df.empty:
        raise ValueError(f"{path}: no prediction rows")
    probability = [f"p_{c}" for c in classes]
    absent = [c for c in probability if c not in df.columns]
    if absent:
        raise ValueError(
            f"{path}: missing class probability column(s) {absent}; exam-level figures and calibration "
            f"need one p_<class> column per class in params.classes; rerun '{stage}'"
        )
    try:
        df[probability] = df[probability].astype(float)
    except ValueError as err:
        raise ValueError(f"{path}: a p_<class> column holds a non-number ({err})") from None
    if "split" not in df.columns:
        df["split"] = "0"  # one split: the stages' `partition` column
    dupes = df["image_id"][df.duplicated(["image_id", "split"])].unique()
    if len(dupes):
        raise ValueError(f"{path}: {len(dupes)} image_id(s) predicted more than once, e.g. {dupes[0]!r}")
    for column in ("actual", "predicted"):
        empty = int((df[column] == "").sum())
        if empty:
            raise ValueError(f"{path}: {empty} row(s) with an empty '{column}' class")
        unknown = sorted(set(df[column]) - set(classes))
        if unknown:
            raise ValueError(
                f"{path}: column '{column}' holds class(es) {unknown} that are not in params.classes "
                f"{list(classes)}; rerun '{stage}' after changing the classes"
            )
    return df


def cluster_column(frames: Sequence[pd.DataFrame]) -> str:
    """The coarsest grouping column filled in every frame (patient_id, else exam_id, else image_id)."""
    for column in CLUSTER_COLUMNS:
        if all(column in df.columns and (df[column] != "").all() for df in frames):
            return column
    return "image_id"


def partition_rows(df: pd.DataFrame, partition: str, path: str | Path) -> pd.DataFrame:
    rows = df[df["partition"] == partition]
    if rows.empty:
        found = sorted(set(df["partition"]))
        raise ValueError(f"{path}: no rows in partition '{partition}' (partitions present: {found})")
    return rows.reset_index(drop=True)


def check_same_truth(frames: dict[str, pd.DataFrame], sources: dict[str, str | Path]) -> None:
    """Models must have been scored against the same reference label for every shared image."""
    names = list(frames)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            merged = (
                frames[a][["image_id", "actual"]]
                .drop_duplicates("image_id")
                .merge(
                    frames[b][["image_id", "actual"]].drop_duplicates("image_id"),
                    on="image_id",
                    suffixes=("_a", "_b"),
                )
            )
            clash = merged[merged["actual_a"] != merged["actual_b"]]
            if not clash.empty:
                raise ValueError(
                    f"{sources[a]} and {sources[b]} disagree on the actual class of {len(clash)} image(s), "
                    f"e.g. {clash['image_id'].iloc[0]!r}; rerun both stages on the same split"
                )


def arm_absence(path: str | Path) -> str | None:
    """Why an arm has nothing to evaluate (its skipped.json note, or a missing file), or None when it has."""
    path = Path(path)
    reason = skipped_reason(path.parent)
    if reason is not None:
        return f"skipped by its stage: {reason}"
    if not path.is_file():
        return f"no predictions file ({path}); run its stage first"
    return None


def attach_image_info(df: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """`df` with laterality, view and vendor of each image from the split table ('' where unknown)."""
    wanted = [c for c in IMAGE_INFO_COLUMNS if c in split.columns and c not in df.columns]
    if not wanted:
        return df
    info = split[["image_id", *wanted]].drop_duplicates("image_id")
    out = df.merge(info, on="image_id", how="left", validate="many_to_one")
    out[wanted] = out[wanted].fillna("")
    return out
