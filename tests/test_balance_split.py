"""Balance (equal class counts, deterministic) and split (patient-disjoint, stratified, clear failures)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breast_density.data.balance import BalanceError, attach_labels, balance_classes
from breast_density.data.split import (
    SplitError,
    add_split_predictions,
    check_patient_disjoint,
    kfold_partitions,
    repeat_splits,
    split_count,
    split_partitions,
)
from breast_density.io import read_csv, read_json
from breast_density.params import ParamsError, parse_params
from breast_density.stages import balance as balance_stage
from breast_density.stages import split as split_stage

CLASSES = ["A", "B", "C", "D"]


def _cohort(n_exams: int = 300, prior=(0.12, 0.21, 0.46, 0.21), seed: int = 0):
    """(images, labels): exams of 4 views (some with a view missing), 20% of exams from returning patients."""
    rng = np.random.default_rng(seed)
    images, labels, patients = [], [], []
    for e in range(n_exams):
        if patients and rng.random() < 0.2:
            patient = patients[int(rng.integers(len(patients)))]
        else:
            patient = f"p{len(patients):04d}"
            patients.append(patient)
        exam = f"e{e:04d}"
        labels.append({"exam_id": exam, "patient_id": patient, "label": CLASSES[rng.choice(4, p=prior)]})
        views = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")][: 3 if rng.random() < 0.1 else 4]
        for lat, view in views:
            images.append(
                {
                    "image_id": f"{exam}-{lat}{view}",
                    "exam_id": exam,
                    "patient_id": patient,
                    "laterality": lat,
                    "view": view,
                    "vendor": "v1",
                    "path": f"x/{exam}-{lat}{view}.png",
                    "md5": f"{len(images):032x}",
                }
            )
    return pd.DataFrame(images), pd.DataFrame(labels)


def test_balance_gives_equal_counts_deterministically_and_keeps_exams_whole():
    images, labels = _cohort()
    labelled = attach_labels(images, labels, CLASSES)
    a = balance_classes(labelled, CLASSES, seed=7)
    b = balance_classes(labelled, CLASSES, seed=7)
    c = balance_classes(labelled, CLASSES, seed=8)
    counts = a["label"].value_counts()
    assert counts.nunique() == 1 and counts.iloc[0] == labelled["label"].value_counts().min()
    pd.testing.assert_frame_equal(a, b)
    assert set(a["image_id"]) != set(c["image_id"])
    # at most one exam per class lost views to reach the exact count
    kept = a.groupby("exam_id").size()
    full = labelled.groupby("exam_id").size()
    assert (kept < full.loc[kept.index]).sum() <= len(CLASSES)


def test_balance_cap_and_unlabelled_exams():
    images, labels = _cohort()
    labels = labels.iloc[10:]  # exams without a usable report
    labelled = attach_labels(images, labels, CLASSES)
    assert not labelled["exam_id"].isin(set(_cohort()[1]["exam_id"].iloc[:10])).any()
    capped = balance_classes(labelled, CLASSES, seed=1, cap=25)
    assert capped["label"].value_counts().to_dict() == dict.fromkeys(CLASSES, 25)


def test_balance_fails_clearly():
    images, labels = _cohort(n_exams=40)
    labelled = attach_labels(images, labels, CLASSES)
    with pytest.raises(BalanceError, match="'E'"):
        balance_classes(labelled, [*CLASSES, "E"], seed=1)
    bad = labels.copy()
    bad.loc[0, "label"] = "X"
    with pytest.raises(BalanceError, match="X"):
        attach_labels(images, bad, CLASSES)


def _balanced(seed: int = 0) -> pd.DataFrame:
    images, labels = _cohort(n_exams=400, seed=seed)
    return balance_classes(attach_labels(images, labels, CLASSES), CLASSES, seed=seed)


def test_split_is_patient_disjoint_stratified_and_deterministic():
    data = _balanced()
    partition = split_partitions(data, CLASSES, 0.15, 0.15, seed=3)
    again = split_partitions(data, CLASSES, 0.15, 0.15, seed=3)
    other = split_partitions(data, CLASSES, 0.15, 0.15, seed=4)
    np.testing.assert_array_equal(partition, again)
    assert (partition != other).any()
    for part in ("train", "val", "test"):
        assert not set(data["patient_id"][partition == part]) & set(data["patient_id"][partition != part])
    fractions = pd.Series(partition).value_counts(normalize=True)
    assert abs(fractions["test"] - 0.15) < 0.04
    assert abs(fractions["val"] - 0.85 * 0.15) < 0.04
    for part in ("train", "val", "test"):
        share = data["label"][partition == part].value_counts(normalize=True)
        assert (share.reindex(CLASSES) - 0.25).abs().max() < 0.08, (part, share.to_dict())


def test_patient_overlap_is_detected():
    patients = pd.Series(["p1", "p1", "p2"])
    with pytest.raises(SplitError, match="p1"):
        check_patient_disjoint(patients, np.array(["train", "test", "test"]))


def test_split_fails_clearly_when_a_class_is_too_small():
    data = _balanced()
    few = data[data["label"] != "A"]
    a_rows = data[data["label"] == "A"]
    two_patients = a_rows[a_rows["patient_id"].isin(a_rows["patient_id"].unique()[:2])]
    with pytest.raises(SplitError, match=r"class 'A' has only 2 patient\(s\)"):
        split_partitions(pd.concat([few, two_patients]), CLASSES, 0.15, 0.15, seed=0)


def test_balance_and_split_stages(tmp_path):
    images, labels = _cohort(n_exams=300)
    labels = labels.iloc[5:]
    h = tmp_path / "harmonize"
    h.mkdir()
    images.to_csv(h / "index.csv", index=False)
    pd.DataFrame({"file": ["a.dcm"], "exam_id": ["e0000"], "reason": ["bad"]}).to_csv(
        h / "q.csv", index=False
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    params = parse_params({"split": {"repeats": 3}})
    bal = balance_stage.run(
        params,
        h / "index.csv",
        tmp_path / "labels.csv",
        h / "q.csv",
        tmp_path / "balance",
        tmp_path / "b.json",
    )
    dataset = read_csv(tmp_path / "balance" / "dataset.csv")
    assert list(dataset.columns) == balance_stage.DATASET_COLUMNS
    assert bal["images_quarantined_in_harmonize"] == 1 and bal["exams_unlabelled_dropped"] == 5
    assert {c["images"] for c in bal["after"].values()} == {bal["images_per_class"]}

    metrics = split_stage.run(
        params, tmp_path / "balance" / "dataset.csv", tmp_path / "split", tmp_path / "s.json"
    )
    split = read_csv(tmp_path / "split" / "split.csv")
    assert list(split.columns) == [*balance_stage.DATASET_COLUMNS, "partition", "partition_1", "partition_2"]
    assert metrics == read_json(tmp_path / "s.json")
    assert sum(metrics[p]["images"] for p in ("train", "val", "test")) == len(dataset)
    assert (split["partition"] != split["partition_1"]).any()
    assert metrics["splits"] == 3 and set(metrics["repeats"]) == {"partition_1", "partition_2"}


def _balanced_160() -> pd.DataFrame:
    """A 160-exam cohort, balanced to equal image counts per class as the balance stage does."""
    images, labels = _cohort(n_exams=160, seed=1)
    return balance_classes(attach_labels(images, labels, CLASSES), CLASSES, seed=0)


def test_kfold_tests_every_image_exactly_once_on_a_160_exam_cohort():
    data = _balanced_160()
    partitions = kfold_partitions(data, CLASSES, 3, 0.15, seed=0)
    tested = np.stack([p == "test" for p in partitions])
    assert (tested.sum(axis=0) == 1).all()  # pooled out-of-fold: each image in exactly one test part
    for partition in partitions:
        check_patient_disjoint(data["patient_id"], partition)
        assert set(partition) == {"train", "val", "test"}


def test_three_holdout_splits_on_a_160_exam_cohort_and_the_repeat_helpers(tmp_path):
    data = _balanced_160()
    data.to_csv(tmp_path / "dataset.csv", index=False)
    params = parse_params({"split": {"repeats": 3}})
    split_stage.run(params, tmp_path / "dataset.csv", tmp_path / "split", tmp_path / "s.json")
    split_csv = tmp_path / "split" / "split.csv"
    frame = read_csv(split_csv)
    assert split_count(frame) == 3
    # a stage's one-split code runs on each extra split; its predictions are appended with the split tag
    predictions = tmp_path / "predictions.csv"
    test0 = frame[frame["partition"] == "test"]
    test0[["image_id", "partition"]].to_csv(predictions, index=False)
    with repeat_splits(split_csv) as extra:
        assert [name for name, _, _ in extra] == ["1", "2"]
        for name, path, scratch in extra:
            one = read_csv(path)
            assert (one["partition"] == frame[f"partition_{name}"]).all()
            rows = one[one["partition"] == "test"][["image_id", "partition"]]
            rows.to_csv(scratch / "p.csv", index=False)
            add_split_predictions(predictions, scratch / "p.csv", name)
    assert not scratch.exists()
    merged = read_csv(predictions)
    assert merged.groupby("split").size().to_dict() == {
        str(r): int((frame[c] == "test").sum())
        for r, c in enumerate(["partition", "partition_1", "partition_2"])
    }


def test_kfold_needs_two_folds():
    with pytest.raises(ParamsError, match=r"kfold needs split\.repeats >= 2"):
        parse_params({"split": {"method": "kfold", "repeats": 1}})


def test_balance_names_an_index_without_image_hashes(tmp_path):
    images, labels = _cohort(n_exams=40)
    images.drop(columns="md5").to_csv(tmp_path / "index.csv", index=False)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"index.csv: missing column\(s\) \['md5'\] \(rerun the harmonize"):
        balance_stage.run(
            parse_params({}), tmp_path / "index.csv", tmp_path / "labels.csv", tmp_path / "q.csv",
            tmp_path / "balance", tmp_path / "b.json",
        )  # fmt: skip
