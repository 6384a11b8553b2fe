"""Arms are data: each arm with predictions gets a top-level section of its own; skipped ones are absent."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from breast_density.models.prediction_frame import prediction_frame
from breast_density.params import parse_params
from breast_density.stages.evaluate import EvaluateOutputs, default_arms, run

CLASSES = ["A", "B", "C", "D"]


def _predictions(path, rng, partitions=("test",), hit=0.6):
    rows = pd.DataFrame(
        [
            {"image_id": f"{p}{i}", "exam_id": f"e{p}{i // 2}", "patient_id": f"p{p}{i // 4}", "partition": p,
             "label": CLASSES[(i // 2) % 4]}
            for p in partitions for i in range(24)
        ]
    )  # fmt: skip
    probs = rng.random((len(rows), 4))
    right = rng.random(len(rows)) < hit
    truth = rows["label"].map(CLASSES.index).to_numpy()
    probs[right, truth[right]] += 2  # the true class wins on a fraction of the rows
    path.parent.mkdir(parents=True, exist_ok=True)
    prediction_frame(rows, probs / probs.sum(1, keepdims=True), CLASSES).to_csv(path, index=False)
    return path


def _outputs(root):
    return EvaluateOutputs(root / "m.json", root / "pred", root / "conf", root / "results.md")


def test_every_arm_has_its_own_section_and_skipped_arms_are_left_out(tmp_path):
    rng = np.random.default_rng(0)
    params = parse_params({"evaluate": {"bootstrap_resamples": 30, "confidence": 0.95}})
    everything = ("train", "val", "test")
    preds = {
        arm: _predictions(
            tmp_path / arm / "predictions.csv", rng, everything if "zeroshot" in arm else ("test",)
        )
        for arm in default_arms()
    }
    report = run(params, preds, _outputs(tmp_path / "all"))
    arms = {"zeroshot", "zeroshot_all", "probe", "finetune", "adapted_zeroshot", "adapted_probe"}
    assert arms <= set(report)
    for arm in arms:
        section = report[arm]
        assert 0 <= section["accuracy"] <= 1 and 0 <= section["macro_f1"] <= 1
        assert section["ci"]["accuracy"]["low"] <= section["ci"]["accuracy"]["high"]
    assert report["adapted_zeroshot"]["n"] == 24  # the test split only: adapt trained on the rest
    assert report["zeroshot_all"]["n"] == 72
    results = (tmp_path / "all" / "results.md").read_text()
    assert "Adapted zero-shot" in results and "Adapted linear probe" in results and "not zero-shot" in results

    for arm in ("adapted_zeroshot", "adapted_probe"):
        preds[arm].unlink()  # what a source without report text leaves
    report = run(params, preds, _outputs(tmp_path / "base"))
    assert not {"adapted_zeroshot", "adapted_probe"} & set(report)
    assert "Adapted" not in (tmp_path / "base" / "results.md").read_text()
    assert json.loads((tmp_path / "base" / "m.json").read_text())["finetune"]["n"] == 24
