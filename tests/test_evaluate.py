"""Evaluate: metrics against hand-computed confusion matrices, bootstrap behaviour, McNemar, the stage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breast_density.evaluation.bootstrap import batch_scores, cluster_bootstrap_ci
from breast_density.evaluation.metrics import classification_metrics, confusion_counts
from breast_density.evaluation.predictions import load_predictions
from breast_density.evaluation.significance import exact_mcnemar, mcnemar_table, pairwise_mcnemar
from breast_density.params import parse_params
from breast_density.stages.evaluate import EvaluateOutputs, run

CLASSES3 = ["x", "y", "z"]
# Hand-built confusion matrix (rows actual, columns predicted):
#        x  y  z   | row
#   x    4  1  0   | 5
#   y    2  2  1   | 5
#   z    0  1  1   | 2
#   col  6  4  2   | n = 12
CM3 = np.array([[4, 1, 0], [2, 2, 1], [0, 1, 1]])


def _pairs_from_cm(cm: np.ndarray, classes: list[str]) -> tuple[list[str], list[str]]:
    actual, predicted = [], []
    for i, a in enumerate(classes):
        for j, p in enumerate(classes):
            actual += [a] * int(cm[i, j])
            predicted += [p] * int(cm[i, j])
    return actual, predicted


def test_metrics_match_hand_computed_confusion_matrix():
    actual, predicted = _pairs_from_cm(CM3, CLASSES3)
    m = classification_metrics(actual, predicted, CLASSES3)
    assert (confusion_counts(actual, predicted, CLASSES3) == CM3).all()
    assert m["n"] == 12
    assert m["accuracy"] == pytest.approx(7 / 12)
    # per class: precision = tp / column sum, recall = tp / row sum, F1 = 2tp / (2tp + fp + fn)
    expected = {"x": (4 / 6, 4 / 5, 8 / 11), "y": (2 / 4, 2 / 5, 4 / 9), "z": (1 / 2, 1 / 2, 1 / 2)}
    for c, (p, r, f) in expected.items():
        assert m["per_class"][c]["precision"] == pytest.approx(p)
        assert m["per_class"][c]["recall"] == pytest.approx(r)
        assert m["per_class"][c]["f1"] == pytest.approx(f)
    assert [m["per_class"][c]["support"] for c in CLASSES3] == [5, 5, 2]
    assert m["macro_f1"] == pytest.approx((8 / 11 + 4 / 9 + 1 / 2) / 3)
    assert m["balanced_accuracy"] == pytest.approx((0.8 + 0.4 + 0.5) / 3)


def test_weighted_kappas_match_hand_computation():
    # kappa_w = 1 - sum(w * observed) / sum(w * expected), expected_ij = row_i * col_j / n.
    # Quadratic weights (i-j)^2: observed 1+2+1+1 = 5; expected (20+40+30+10+48+8)/12 = 13 -> 1 - 5/13.
    # Linear weights |i-j|:      observed 5;         expected (20+20+30+10+24+8)/12 = 28/3 -> 1 - 15/28.
    actual, predicted = _pairs_from_cm(CM3, CLASSES3)
    m = classification_metrics(actual, predicted, CLASSES3)
    assert m["kappa_quadratic"] == pytest.approx(8 / 13)
    assert m["kappa_linear"] == pytest.approx(13 / 28)


def test_kappa_uses_the_configured_class_order_as_the_ordinal_scale():
    # Mistaking A for D is worse than A for B only if A..D are in order; a shuffled order changes kappa.
    actual = ["A", "B", "C", "D"] * 3
    predicted = ["B", "A", "D", "C"] * 3
    in_order = classification_metrics(actual, predicted, ["A", "B", "C", "D"])["kappa_quadratic"]
    shuffled = classification_metrics(actual, predicted, ["A", "C", "B", "D"])["kappa_quadratic"]
    assert in_order > shuffled


def test_class_never_predicted_counts_as_zero_f1():
    m = classification_metrics(["x", "y", "z"], ["x", "y", "y"], CLASSES3)
    assert m["per_class"]["z"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)


def _cohort(n_patients: int, accuracy: float, seed: int = 0) -> pd.DataFrame:
    """Patients with 4 views each; a patient's views are all right or all wrong (perfect correlation)."""
    rng = np.random.default_rng(seed)
    classes = ["A", "B", "C", "D"]
    rows = []
    for p in range(n_patients):
        truth = classes[p % 4]
        right = rng.random() < accuracy
        pred = truth if right else classes[(p + 1) % 4]
        rows += [
            {"patient_id": f"p{p}", "image_id": f"p{p}_{v}", "actual": truth, "predicted": pred}
            for v in range(4)
        ]
    return pd.DataFrame(rows)


def _ci(df: pd.DataFrame, clusters: str, resamples: int = 1000, seed: int = 1) -> dict:
    return cluster_bootstrap_ci(
        df["actual"],
        df["predicted"],
        df[clusters],
        ["A", "B", "C", "D"],
        resamples=resamples,
        confidence=0.95,
        seed=seed,
    )


@pytest.mark.parametrize("seed", range(8))
def test_batch_scores_agree_with_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    classes = ["A", "B", "C", "D"]
    cm = rng.integers(0, 6, size=(4, 4)) * (rng.random((4, 4)) < 0.7)  # zeros exercise the 0/0 rules
    cm[0, 0] += 1
    if seed == 0:
        cm[3, :] = cm[:, 3] = 0  # a class absent from both actual and predicted
    actual, predicted = _pairs_from_cm(cm, classes)
    reference = classification_metrics(actual, predicted, classes)
    batch = batch_scores(cm[None])
    for metric in ("accuracy", "macro_f1", "kappa_linear", "kappa_quadratic"):
        assert batch[metric][0] == pytest.approx(reference[metric], abs=1e-12, nan_ok=True), metric


def test_bootstrap_interval_contains_point_estimate():
    df = _cohort(40, 0.6)
    point = classification_metrics(df["actual"], df["predicted"], ["A", "B", "C", "D"])
    ci = _ci(df, "patient_id")
    for metric in ("accuracy", "macro_f1", "kappa_linear", "kappa_quadratic"):
        assert ci[metric]["low"] <= point[metric] <= ci[metric]["high"], metric
        assert ci[metric]["low"] < ci[metric]["high"], metric


def test_bootstrap_interval_narrows_with_more_patients():
    small = _ci(_cohort(20, 0.6), "patient_id")["accuracy"]
    large = _ci(_cohort(320, 0.6), "patient_id")["accuracy"]
    # width shrinks like 1/sqrt(n): 16x the patients -> about a quarter of the width
    assert (large["high"] - large["low"]) < 0.5 * (small["high"] - small["low"])


def test_resampling_patients_is_wider_than_resampling_correlated_views():
    df = _cohort(40, 0.6)
    by_patient = _ci(df, "patient_id")["accuracy"]
    by_image = _ci(df, "image_id")["accuracy"]
    # four perfectly correlated views are one piece of evidence, not four: about twice the width
    assert (by_patient["high"] - by_patient["low"]) > 1.5 * (by_image["high"] - by_image["low"])


def test_bootstrap_is_seeded():
    df = _cohort(30, 0.5)
    assert _ci(df, "patient_id", seed=7) == _ci(df, "patient_id", seed=7)
    assert _ci(df, "patient_id", seed=7) != _ci(df, "patient_id", seed=8)


def test_bootstrap_rejects_bad_confidence():
    df = _cohort(8, 0.5)
    with pytest.raises(ValueError, match="confidence"):
        cluster_bootstrap_ci(
            df["actual"], df["predicted"], df["patient_id"], ["A", "B"], resamples=5, confidence=95, seed=0
        )


def test_exact_mcnemar_on_known_table():
    # both right 10, only first right 7, only second right 1, both wrong 5: discordant pairs 7 vs 1.
    # Exact two-sided p = 2 * P(Binomial(8, 0.5) <= 1) = 2 * (1 + 8) / 2**8.
    first = np.array([1] * 10 + [1] * 7 + [0] * 1 + [0] * 5, dtype=bool)
    second = np.array([1] * 10 + [0] * 7 + [1] * 1 + [0] * 5, dtype=bool)
    assert (mcnemar_table(first, second) == [[10, 7], [1, 5]]).all()
    result = exact_mcnemar(first, second)
    assert result["p_value"] == pytest.approx(2 * (math.comb(8, 0) + math.comb(8, 1)) / 2**8)
    assert (result["only_first_correct"], result["only_second_correct"], result["n"]) == (7, 1, 23)


def test_pairwise_mcnemar_uses_only_shared_images():
    a = pd.DataFrame({"image_id": ["1", "2", "3"], "actual": ["x", "y", "z"], "predicted": ["x", "y", "x"]})
    b = pd.DataFrame({"image_id": ["2", "3", "4"], "actual": ["y", "z", "x"], "predicted": ["x", "z", "x"]})
    out = pairwise_mcnemar({"a": a, "b": b})
    assert list(out) == ["a_vs_b"]
    assert out["a_vs_b"]["n"] == 2
    assert (out["a_vs_b"]["only_first_correct"], out["a_vs_b"]["only_second_correct"]) == (1, 1)


# ---- prediction files and the stage ----


def _write_predictions(
    root: Path, classes: list[str], n_patients: int = 24, seed: int = 0
) -> dict[str, Path]:
    """zeroshot over every partition, probe/finetune over test only, as the stages write them."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        partition = "test" if p % 4 == 0 else ("val" if p % 4 == 1 else "train")
        truth = classes[p % len(classes)]
        for v in ("L_CC", "L_MLO", "R_CC", "R_MLO"):
            rows.append(
                {
                    "image_id": f"img{p}{v}",
                    "exam_id": f"ex{p}",
                    "patient_id": f"pt{p}",
                    "partition": partition,
                    "actual": truth,
                }
            )
    base = pd.DataFrame(rows)
    out = {}
    for model, accuracy in (("zeroshot", 0.3), ("probe", 0.6), ("finetune", 0.9)):
        df = base if model == "zeroshot" else base[base["partition"] == "test"]
        df = df.copy()
        right = rng.random(len(df)) < accuracy
        df["predicted"] = [
            a if r else classes[(classes.index(a) + 1) % len(classes)]
            for a, r in zip(df["actual"], right, strict=True)
        ]
        for c in classes:
            df[f"p_{c}"] = 1.0 / len(classes)
        path = root / model / "predictions.csv"
        path.parent.mkdir(parents=True)
        df.to_csv(path, index=False)
        out[model] = path
    return out


def _outputs(root: Path) -> EvaluateOutputs:
    return EvaluateOutputs(
        root / "metrics/evaluate.json",
        root / "plots/predictions",
        root / "plots/confusion",
        root / "results.md",
        root / "metrics/arms",
    )


def _params(classes: list[str] | None = None, resamples: int = 40):
    raw: dict = {"evaluate": {"bootstrap_resamples": resamples, "confidence": 0.95}}
    if classes:
        raw["classes"] = [{"name": c, "description": c, "prompt": c} for c in classes]
    return parse_params(raw)


def test_stage_writes_every_output(tmp_path):
    classes = ["A", "B", "C", "D"]
    preds = _write_predictions(tmp_path / "in", classes)
    out = _outputs(tmp_path / "out")
    report = run(_params(), preds, out)

    saved = json.loads(out.metrics.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert saved == report
    assert set(saved) == {"zeroshot", "zeroshot_all", "probe", "finetune", "mcnemar", "bootstrap"}
    assert saved["zeroshot_all"]["n"] == 24 * 4 and saved["finetune"]["n"] == 6 * 4
    assert saved["finetune"]["n_clusters"] == 6  # resampled by patient
    for key in ("zeroshot", "probe", "finetune"):
        section = saved[key]
        assert {"accuracy", "macro_f1", "balanced_accuracy", "kappa_linear", "kappa_quadratic"} <= set(
            section
        )
        assert set(section["per_class"]) == set(classes)
        assert section["ci"]["accuracy"]["low"] <= section["accuracy"] <= section["ci"]["accuracy"]["high"]
        csv = pd.read_csv(out.predictions_dir / f"{key}.csv", dtype=str)
        assert list(csv.columns) == ["actual", "predicted"] and len(csv) == 24
    assert set(saved["mcnemar"]) == {"zeroshot_vs_probe", "zeroshot_vs_finetune", "probe_vs_finetune"}
    pngs = sorted(p.name for p in out.confusion_dir.iterdir())
    assert pngs == ["finetune.png", "probe.png", "zeroshot.png", "zeroshot_all.png"]
    assert all((out.confusion_dir / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    md = out.results.read_text()
    assert "synthetic" in md and "0.47" in md and "0.73" in md  # demo notice and the study's figures
    assert f"{saved['finetune']['accuracy']:.2f}" in md


def test_stage_follows_the_configured_class_set(tmp_path):
    classes = ["fatty", "dense"]
    preds = _write_predictions(tmp_path / "in", classes)
    report = run(_params(classes), preds, _outputs(tmp_path / "out"))
    assert set(report["probe"]["per_class"]) == {"fatty", "dense"}
    assert "| fatty | dense |" in (tmp_path / "out/results.md").read_text()


def test_unknown_class_is_an_error_naming_the_file(tmp_path):
    preds = _write_predictions(tmp_path / "in", ["A", "B", "C", "D", "E"])
    with pytest.raises(ValueError, match=r"zeroshot/predictions\.csv.*'actual'.*\['E'\].*params\.classes"):
        run(_params(), preds, _outputs(tmp_path / "out"))
    assert not (tmp_path / "out/metrics").exists()


def test_missing_predictions_name_the_stage_to_run(tmp_path):
    preds = _write_predictions(tmp_path / "in", ["A", "B", "C", "D"])
    preds["finetune"].unlink()
    with pytest.raises(FileNotFoundError, match=r"stage 'finetune'.*dvc repro finetune"):
        run(_params(), preds, _outputs(tmp_path / "out"))


def test_prediction_file_problems_are_named(tmp_path):
    path = tmp_path / "probe.csv"
    path.write_text("image_id,partition,actual\n1,test,A\n")
    with pytest.raises(ValueError, match=r"probe\.csv: missing column\(s\) \['predicted'\]"):
        load_predictions(path, ["A", "B"], "probe")
    path.write_text("image_id,partition,actual,predicted\n1,test,A,B\n1,test,A,A\n")
    with pytest.raises(ValueError, match="more than once"):
        load_predictions(path, ["A", "B"], "probe")
    path.write_text("image_id,partition,actual,predicted\n1,test,,B\n")
    with pytest.raises(ValueError, match="1 row\\(s\\) with an empty 'actual'"):
        load_predictions(path, ["A", "B"], "probe")


def test_models_scored_against_different_truth_is_an_error(tmp_path):
    preds = _write_predictions(tmp_path / "in", ["A", "B", "C", "D"])
    df = pd.read_csv(preds["probe"], dtype=str)
    df.loc[0, "actual"] = "D" if df.loc[0, "actual"] != "D" else "A"
    df.to_csv(preds["probe"], index=False)
    with pytest.raises(ValueError, match="disagree on the actual class"):
        run(_params(), preds, _outputs(tmp_path / "out"))
