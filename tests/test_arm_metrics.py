"""Per-arm metrics files: one row per arm with identical keys, so `dvc metrics show` stays narrow."""

from __future__ import annotations

import json

import pytest

from breast_density.evaluation.arm_metrics import SUMMARY_KEYS, arm_summaries, write_arm_metrics


def _section(accuracy: float, n: int) -> dict:
    return {
        "n": n,
        "n_images": n,
        "n_exams": n // 4,
        "exam": {"accuracy": accuracy + 0.05},
        "accuracy": accuracy,
        "macro_f1": accuracy - 0.1,
        "kappa_linear": 0.2,
        "kappa_quadratic": 0.3,
        "per_class": {"A": {"precision": 1.0}},
        "ci": {"accuracy": {"low": accuracy - 0.05, "high": accuracy + 0.05}},
    }


REPORT = {
    "zeroshot": _section(0.25, 80),
    "probe": _section(0.6, 80),
    "adapted_probe": {"n": 80, "accuracy": 0.7},  # an arm whose report has fewer keys
    "mcnemar": {"probe_vs_zeroshot": {"n": 80, "p_value": 0.01}},
    "bootstrap": {"resamples": 10, "confidence": 0.95},
}


def test_every_arm_and_nothing_else_gets_the_same_keys() -> None:
    summaries = arm_summaries(REPORT)
    assert set(summaries) == {"zeroshot", "probe", "adapted_probe"}
    assert all(list(s) == list(SUMMARY_KEYS) for s in summaries.values())
    assert summaries["probe"] == pytest.approx(
        {
            "accuracy": 0.6,
            "accuracy_low": 0.55,
            "accuracy_high": 0.65,
            "macro_f1": 0.5,
            "kappa": 0.3,
            "exam_accuracy": 0.65,
            "n_images": 80,
            "n_exams": 20,
        }
    )
    assert summaries["adapted_probe"]["kappa"] is None


def test_writer_replaces_the_folder_with_one_flat_file_per_arm(tmp_path) -> None:
    folder = tmp_path / "arms"
    folder.mkdir()
    (folder / "stale_arm.json").write_text("{}")
    write_arm_metrics(folder, REPORT)
    assert sorted(p.name for p in folder.iterdir()) == ["adapted_probe.json", "probe.json", "zeroshot.json"]
    zeroshot = json.loads((folder / "zeroshot.json").read_text())
    assert all(not isinstance(v, dict) for v in zeroshot.values())  # flat: one DVC column per key
    assert zeroshot["accuracy"] == 0.25 and zeroshot["n_images"] == 80
