"""Evaluate: metrics against hand-computed confusion matrices, bootstrap behaviour, McNemar, the stage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breast_density.evaluation.aggregate import exam_level
from breast_density.evaluation.bootstrap import (
    batch_scores,
    cluster_bootstrap_ci,
    cluster_draws,
    encode,
    paired_bootstrap,
    per_cluster_counts,
    stratifiable,
)
from breast_density.evaluation.calibration import brier_score, expected_calibration_error
from breast_density.evaluation.metrics import (
    classification_metrics,
    confusion_counts,
    dense_vs_nondense,
    prevalence_weighted_accuracy,
)
from breast_density.evaluation.predictions import load_predictions
from breast_density.evaluation.significance import exact_mcnemar, holm, mcnemar_table
from breast_density.io import write_skipped
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


def test_holm_adjustment_on_known_p_values():
    # sorted 0.01, 0.02, 0.04 -> 3*0.01, max(0.03, 2*0.02), max(0.04, 1*0.04)
    assert holm({"a": 0.04, "b": 0.01, "c": 0.02}) == pytest.approx({"a": 0.04, "b": 0.03, "c": 0.04})
    assert holm({"a": 0.6, "b": 0.5}) == pytest.approx({"a": 1.0, "b": 1.0})  # capped at 1


# ---- exam level, calibration, dense vs non-dense ----


def _views(exam: str, patient: str, actual: str, probs: list[list[float]], classes: list[str]) -> list[dict]:
    rows = []
    for i, p in enumerate(probs):
        row = {"image_id": f"{exam}_{i}", "exam_id": exam, "patient_id": patient, "actual": actual}
        row["predicted"] = classes[int(np.argmax(p))]
        row.update({f"p_{c}": v for c, v in zip(classes, p, strict=True)})
        rows.append(row)
    return rows


def test_exam_level_averages_view_probabilities():
    classes = ["A", "B"]
    # two views say A weakly, one says B strongly: the mean (0.4, 0.6) says B although most views say A
    frame = pd.DataFrame(
        _views("e1", "p1", "B", [[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]], classes)
        + _views("e2", "p1", "A", [[0.9, 0.1]], classes)
    )
    exams = exam_level(frame, classes)
    assert list(exams["exam_id"]) == ["e1", "e2"]
    assert exams["p_A"].tolist() == pytest.approx([0.4, 0.9])
    assert list(exams["predicted"]) == ["B", "A"] and list(exams["n_views"]) == [3, 1]


def test_exam_with_views_of_different_classes_is_an_error():
    frame = pd.DataFrame(
        _views("e1", "p1", "A", [[1, 0]], ["A", "B"]) + _views("e1", "p1", "B", [[1, 0]], ["A", "B"])
    )
    frame["image_id"] = ["x", "y"]
    with pytest.raises(ValueError, match="different actual classes"):
        exam_level(frame, ["A", "B"])


def test_brier_and_ece_match_hand_computation():
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    actual = np.array([0, 1, 1, 0])
    # Brier: (0.04+0.04) + (0.36+0.36) + (0.09+0.09) + (0.25+0.25) = 1.48, / 4
    assert brier_score(probs, actual) == pytest.approx(0.37)
    # 2 bins: [0, .5) empty; [.5, 1]: confidences .8 .6 .7 .5 (mean .65), correct 1,0,1,1 (0.75)
    assert expected_calibration_error(probs, actual, bins=2) == pytest.approx(0.10)
    # 10 bins: .5 (right, gap .5), .6 (wrong, .6), .7 (right, .3), .8 (right, .2), each 1/4
    assert expected_calibration_error(probs, actual, bins=10) == pytest.approx((0.5 + 0.6 + 0.3 + 0.2) / 4)


def test_dense_vs_nondense_from_four_class_predictions():
    actual = ["A", "B", "C", "D", "C", "B"]
    predicted = ["B", "C", "D", "C", "A", "A"]
    # dense truth: C, D, C (3) -> found dense: D, C -> 2/3; non-dense: A, B, B -> kept non-dense: B, A -> 2/3
    d = dense_vs_nondense(actual, predicted)
    assert (d["n"], d["n_dense"]) == (6, 3)
    assert d["sensitivity"] == pytest.approx(2 / 3) and d["specificity"] == pytest.approx(2 / 3)
    assert d["accuracy"] == pytest.approx(4 / 6)


def test_prevalence_weighted_accuracy_weights_recalls_by_the_prior():
    m = classification_metrics(["A", "A", "B", "B"], ["A", "A", "B", "A"], ["A", "B"])
    assert prevalence_weighted_accuracy(m["per_class"], {"A": 0.9, "B": 0.1}) == pytest.approx(0.9 + 0.05)


def test_stratified_bootstrap_keeps_every_class_in_every_resample():
    # 5 patients per class: plain resampling often misses a class, stratified never does
    classes = ["A", "B", "C", "D"]
    actual = [c for c in classes for _ in range(5)]
    _, cluster_of = np.unique(np.arange(20).astype(str), return_inverse=True)
    per = per_cluster_counts(encode(actual, classes), encode(actual, classes), cluster_of, 4)
    for stratified, expect_all in ((True, True), (False, False)):
        draws = cluster_draws(per, resamples=1000, seed=0, stratified=stratified)
        present = np.einsum("bc,ckl->bk", draws, per) > 0
        assert present.all() == expect_all
        assert (draws.sum(axis=1) == 20).all()


def test_classes_with_too_few_patients_are_not_stratified():
    # one patient per class would make every resample identical: fall back to plain resampling
    classes = ["A", "B", "C", "D"]
    actual = classes * 5
    assert stratifiable(actual, [str(i) for i in range(20)], classes)
    assert not stratifiable(actual[:16], [str(i) for i in range(16)], classes)  # 4 per class
    per = per_cluster_counts(encode(actual[:4], classes), encode(actual[:4], classes), np.arange(4), 4)
    draws = cluster_draws(per, resamples=200, seed=0, stratified=True)
    assert len({tuple(d) for d in draws}) > 1


def test_paired_bootstrap_of_an_arm_against_itself_is_zero():
    df = _cohort(30, 0.6)
    ci = paired_bootstrap(
        df["actual"], df["predicted"], df["predicted"], df["patient_id"], ["A", "B", "C", "D"],
        resamples=50, confidence=0.95, seed=0,
    )  # fmt: skip
    assert ci["accuracy"] == {"low": 0.0, "high": 0.0}


# ---- prediction files and the stage ----

VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
ACCURACY = {"zeroshot": 0.3, "probe": 0.6, "finetune": 0.9}


def _split_table(classes: list[str], n_patients: int = 24, repeats: int = 1) -> pd.DataFrame:
    """One exam of 4 views per patient; vendors alternate; split r rotates which patients are tested."""
    rows = []
    for p in range(n_patients):
        for lat, view in VIEWS:
            row = {
                "image_id": f"img{p}{lat}{view}",
                "exam_id": f"ex{p}",
                "patient_id": f"pt{p}",
                "laterality": lat,
                "view": view,
                "vendor": "Lumora" if p % 3 else "Vireo",
                "label": classes[p % len(classes)],
            }
            for r in range(repeats):
                k = (p // len(classes) + r) % 4
                name = "partition" if r == 0 else f"partition_{r}"
                row[name] = "test" if k == 0 else ("val" if k == 1 else "train")
            rows.append(row)
    return pd.DataFrame(rows)


def _predict(
    rows: pd.DataFrame, classes: list[str], accuracy: float, rng: np.random.Generator
) -> pd.DataFrame:
    df = rows[["image_id", "exam_id", "patient_id", "partition", "label"]].rename(columns={"label": "actual"})
    df = df.reset_index(drop=True)
    right = rng.random(len(df)) < accuracy
    chosen = [
        classes.index(a) if r else (classes.index(a) + 1) % len(classes)
        for a, r in zip(df["actual"], right, strict=True)
    ]
    probs = rng.dirichlet(np.ones(len(classes)), len(df)) * 0.5
    probs[np.arange(len(df)), chosen] += 0.5
    df["predicted"] = [classes[i] for i in probs.argmax(axis=1)]
    for i, c in enumerate(classes):
        df[f"p_{c}"] = probs[:, i].round(6)
    return df


def _write_predictions(
    root: Path, classes: list[str], n_patients: int = 24, seed: int = 0, repeats: int = 1
) -> tuple[dict[str, Path], Path]:
    """zeroshot over every image of split 0; probe/finetune per split over its test images, as the stages
    write them; plus the split table."""
    rng = np.random.default_rng(seed)
    split = _split_table(classes, n_patients, repeats)
    root.mkdir(parents=True, exist_ok=True)
    split_csv = root / "split.csv"
    split.to_csv(split_csv, index=False)
    out = {}
    for model, accuracy in ACCURACY.items():
        if model == "zeroshot":
            df = _predict(split, classes, accuracy, rng)
        else:
            parts = []
            for r in range(repeats):
                column = "partition" if r == 0 else f"partition_{r}"
                rows = split[split[column] == "test"].assign(partition=lambda f, c=column: f[c])
                parts.append(_predict(rows, classes, accuracy, rng).assign(split=str(r)))
            df = pd.concat(parts)
            if repeats == 1:
                df = df.drop(columns="split")
        path = root / model / "predictions.csv"
        path.parent.mkdir(parents=True)
        df.to_csv(path, index=False)
        out[model] = path
    return out, split_csv


def _outputs(root: Path) -> EvaluateOutputs:
    return EvaluateOutputs(
        root / "metrics/evaluate.json",
        root / "plots/predictions",
        root / "plots/confusion",
        root / "results.md",
        root / "plots/calibration",
        root / "metrics/predictions",
        root / "metrics/arms",
    )


def _params(classes: list[str] | None = None, resamples: int = 40):
    raw: dict = {"evaluate": {"bootstrap_resamples": resamples, "confidence": 0.95}}
    if classes:
        raw["classes"] = [{"name": c, "description": c, "prompt": c} for c in classes]
    return parse_params(raw)


PNG = b"\x89PNG\r\n\x1a\n"
LEVEL_KEYS = {"accuracy", "macro_f1", "balanced_accuracy", "kappa_linear", "kappa_quadratic", "ece", "brier"}


def test_stage_writes_every_output(tmp_path):
    classes = ["A", "B", "C", "D"]
    preds, split_csv = _write_predictions(tmp_path / "in", classes)
    out = _outputs(tmp_path / "out")
    report = run(_params(), preds, out, split_csv)

    saved = json.loads(out.metrics.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert saved == report
    arms = {"zeroshot", "zeroshot_all", "probe", "finetune"}
    assert set(saved) == arms | {"comparisons", "bootstrap", "skipped"}
    assert saved["zeroshot_all"]["n_images"] == 24 * 4 and saved["finetune"]["n_images"] == 8 * 4
    assert saved["finetune"]["n_clusters"] == 8  # resampled by patient
    for key in arms:
        section = saved[key]
        assert set(section) >= LEVEL_KEYS and set(section["exam"]) >= LEVEL_KEYS
        assert section["ci"]["accuracy"]["low"] <= section["accuracy"] <= section["ci"]["accuracy"]["high"]
        assert set(section["per_class"]) == set(classes)
        assert section["exam"]["n"] == section["n_exams"] == section["n_images"] // 4
        assert section["breast"]["n"] == section["n_images"] // 2
        assert set(section["vendor"]) == {"Lumora", "Vireo"} and set(section["view"]) == {"CC", "MLO"}
        assert sum(v["n_images"] for v in section["vendor"].values()) == section["n_images"]
        assert {"sensitivity", "specificity", "accuracy"} <= set(section["exam"]["dense"])
        assert section["prevalence_accuracy"] is not None
        assert (out.calibration_dir / f"{key}.png").read_bytes()[:8] == PNG
    for key in ("zeroshot", "probe", "finetune"):
        csv = pd.read_csv(out.predictions_dir / f"{key}.csv", dtype=str)
        assert list(csv.columns) == ["actual", "predicted"] and len(csv) == 32
        table = pd.read_csv(out.tables_dir / f"{key}.csv", dtype=str)
        assert {"image_id", "exam_id", "patient_id", "split", "vendor", "p_A", "p_D"} <= set(table.columns)
    pairs = {"zeroshot_vs_probe", "zeroshot_vs_finetune", "probe_vs_finetune"}
    assert set(saved["comparisons"]) == pairs
    for c in saved["comparisons"].values():
        assert c["n_exams"] == 8 and c["mcnemar_exam"]["n"] == 8 and c["mcnemar_image"]["n"] == 32
        assert c["mcnemar_exam"]["p_value"] <= c["p_holm"] <= 1.0
    pngs = sorted(p.name for p in out.confusion_dir.iterdir())
    assert pngs == ["finetune.png", "probe.png", "zeroshot.png", "zeroshot_all.png"]
    assert all((out.confusion_dir / p).read_bytes()[:8] == PNG for p in pngs)
    md = out.results.read_text()
    assert "synthetic" in md and "0.47" in md and "0.73" in md  # demo notice and the study's figures
    assert "Study F1 (type unreported)" in md and "does not say which F1" in md
    assert f"{saved['finetune']['exam']['accuracy']:.2f}" in md and "32 / 8 / 8" in md


def _exams_from_table(path: Path, classes: list[str]) -> pd.DataFrame:
    """Exam-level predictions redone with plain pandas from a metrics/predictions/<arm>.csv."""
    df = pd.read_csv(path, dtype={"image_id": str, "exam_id": str, "patient_id": str})
    df = df[df["partition"] == "test"]
    groups = df.groupby("exam_id")
    mean = groups[[f"p_{c}" for c in classes]].mean()
    return pd.DataFrame(
        {
            "actual": groups["actual"].first(),
            "predicted": [classes[i] for i in mean.to_numpy().argmax(axis=1)],
            "patient_id": groups["patient_id"].first(),
        }
    )


def test_exam_figures_and_paired_bootstrap_recomputed_from_the_prediction_files(tmp_path):
    classes = ["A", "B", "C", "D"]
    preds, split_csv = _write_predictions(tmp_path / "in", classes, n_patients=80)  # 5 test patients a class
    out = _outputs(tmp_path / "out")
    resamples = 60
    report = run(_params(resamples=resamples), preds, out, split_csv)

    probe = _exams_from_table(out.tables_dir / "probe.csv", classes)
    finetune = _exams_from_table(out.tables_dir / "finetune.csv", classes)
    for arm, frame in (("probe", probe), ("finetune", finetune)):
        assert report[arm]["exam"]["accuracy"] == pytest.approx(
            (frame["actual"] == frame["predicted"]).mean()
        )
        assert report[arm]["exam"]["n_patients"] == frame["patient_id"].nunique()
        assert report[arm]["exam"]["ci_stratified"]
    # Paired, stratified patient bootstrap of the exam-level accuracy difference, redone draw by draw with
    # the documented scheme: patients in sorted order, strata = the patient's class in class order, one
    # multinomial per stratum from the base seed.
    patients = sorted(probe["patient_id"].unique())
    stratum = {p: classes.index(probe.loc[probe["patient_id"] == p, "actual"].iloc[0]) for p in patients}
    rng = np.random.default_rng(42)
    weights = np.zeros((resamples, len(patients)))
    for s in sorted(set(stratum.values())):
        members = [i for i, p in enumerate(patients) if stratum[p] == s]
        weights[:, members] = rng.multinomial(len(members), [1 / len(members)] * len(members), resamples)

    def right_per_patient(frame: pd.DataFrame) -> np.ndarray:
        right = frame["actual"] == frame["predicted"]
        return np.array([right[frame["patient_id"] == p].sum() for p in patients])

    sizes = np.array([(probe["patient_id"] == p).sum() for p in patients])
    diffs = (weights @ right_per_patient(finetune) - weights @ right_per_patient(probe)) / (weights @ sizes)
    figure = report["comparisons"]["probe_vs_finetune"]["accuracy"]
    assert [figure["ci"]["low"], figure["ci"]["high"]] == pytest.approx(
        list(np.quantile(diffs, [0.025, 0.975]))
    )
    point = (finetune["actual"] == finetune["predicted"]).mean() - (
        probe["actual"] == probe["predicted"]
    ).mean()
    assert figure["difference"] == pytest.approx(point)


def test_repeated_splits_report_mean_and_sd(tmp_path):
    classes = ["A", "B", "C", "D"]
    preds, split_csv = _write_predictions(tmp_path / "in", classes, n_patients=40, repeats=3)
    report = run(_params(), preds, _outputs(tmp_path / "out"), split_csv)
    for arm in ("zeroshot", "probe", "finetune"):
        splits = report[arm]["splits"]
        assert list(splits) == ["0", "1", "2"]
        accuracies = [s["accuracy"] for s in splits.values()]
        assert report[arm]["mean"]["accuracy"] == pytest.approx(np.mean(accuracies))
        assert report[arm]["sd"]["accuracy"] == pytest.approx(np.std(accuracies, ddof=1))
        assert splits["0"]["accuracy"] == pytest.approx(report[arm]["accuracy"])  # split 0 is the main figure
    assert "Across repeated splits" in (tmp_path / "out/results.md").read_text()


def test_kfold_splits_pool_out_of_fold_predictions(tmp_path):
    classes = ["A", "B", "C", "D"]
    # repeats=4 with the fixture's rotation: every patient is tested in exactly one of the 4 splits
    preds, split_csv = _write_predictions(tmp_path / "in", classes, n_patients=32, repeats=4)
    report = run(_params(), preds, _outputs(tmp_path / "out"), split_csv)
    pooled = report["finetune"]["pooled"]
    assert pooled["n_images"] == 32 * 4 and pooled["exam"]["n"] == 32
    tables = pd.read_csv(tmp_path / "out/metrics/predictions/finetune.csv", dtype=str)
    assert pooled["accuracy"] == pytest.approx((tables["actual"] == tables["predicted"]).mean())


def test_stage_follows_the_configured_class_set(tmp_path):
    classes = ["fatty", "dense"]
    preds, split_csv = _write_predictions(tmp_path / "in", classes)
    report = run(_params(classes), preds, _outputs(tmp_path / "out"), split_csv)
    assert set(report["probe"]["per_class"]) == {"fatty", "dense"}
    assert "dense" not in report["probe"]["exam"] and "prevalence_accuracy" not in report["probe"]
    md = (tmp_path / "out/results.md").read_text()
    assert "| fatty | dense |" in md
    assert "Study accuracy" not in md and "study's figures are not shown" in md


def test_unknown_class_is_an_error_naming_the_file(tmp_path):
    preds, split_csv = _write_predictions(tmp_path / "in", ["A", "B", "C", "D", "E"])
    with pytest.raises(ValueError, match=r"zeroshot/predictions\.csv.*'actual'.*\['E'\].*params\.classes"):
        run(_params(), preds, _outputs(tmp_path / "out"), split_csv)
    assert not (tmp_path / "out/metrics").exists()


def test_skipped_or_missing_arms_are_left_out_and_named(tmp_path):
    preds, split_csv = _write_predictions(tmp_path / "in", ["A", "B", "C", "D"])
    preds["finetune"].unlink()
    write_skipped(preds["probe"].parent, "source has no report text")
    preds["adapted_probe"] = tmp_path / "in/adapted_probe/predictions.csv"
    report = run(_params(), preds, _outputs(tmp_path / "out"), split_csv)
    assert set(report["skipped"]) == {"finetune", "probe", "adapted_probe"}
    assert "finetune" not in report and "probe" not in report and report["comparisons"] == {}
    md = (tmp_path / "out/results.md").read_text()
    assert "Arms left out" in md and "source has no report text" in md and "`finetune`" in md


def test_prediction_file_problems_are_named(tmp_path):
    path = tmp_path / "probe.csv"
    path.write_text("image_id,partition,actual\n1,test,A\n")
    with pytest.raises(ValueError, match=r"probe\.csv: missing column\(s\) \['predicted'\]"):
        load_predictions(path, ["A", "B"], "probe")
    path.write_text("image_id,partition,actual,predicted,p_A,p_B\n1,test,A,B,.2,.8\n1,test,A,A,.9,.1\n")
    with pytest.raises(ValueError, match="more than once"):
        load_predictions(path, ["A", "B"], "probe")
    path.write_text("image_id,partition,actual,predicted,p_A,p_B\n1,test,,B,.2,.8\n")
    with pytest.raises(ValueError, match="1 row\\(s\\) with an empty 'actual'"):
        load_predictions(path, ["A", "B"], "probe")
    path.write_text("image_id,partition,actual,predicted,p_A\n1,test,A,A,.9\n")
    with pytest.raises(ValueError, match=r"probe\.csv: missing class probability column\(s\) \['p_B'\]"):
        load_predictions(path, ["A", "B"], "probe")


def test_models_scored_against_different_truth_is_an_error(tmp_path):
    preds, split_csv = _write_predictions(tmp_path / "in", ["A", "B", "C", "D"])
    df = pd.read_csv(preds["probe"], dtype=str)
    df.loc[0, "actual"] = "D" if df.loc[0, "actual"] != "D" else "A"
    df.to_csv(preds["probe"], index=False)
    with pytest.raises(ValueError, match="disagree on the actual class"):
        run(_params(), preds, _outputs(tmp_path / "out"), split_csv)
