"""Stage evaluate: metrics with bootstrap intervals, McNemar tests, confusion matrices and results.md."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from breast_density import paths
from breast_density.evaluation.arm_metrics import write_arm_metrics
from breast_density.evaluation.metrics import confusion_counts
from breast_density.evaluation.plots import plot_confusion
from breast_density.evaluation.predictions import (
    check_same_truth,
    cluster_column,
    load_predictions,
    partition_rows,
)
from breast_density.evaluation.results_table import Row, backbone_name, render_results, run_context
from breast_density.evaluation.significance import pairwise_mcnemar
from breast_density.evaluation.summary import evaluate_predictions, json_safe
from breast_density.io import reset_dir, write_csv, write_json, write_text
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

# Prediction stages evaluated, in table order, with the method shown in tables and plots.
MODELS = {"zeroshot": "Zero-shot", "probe": "Linear probe", "finetune": "Fine-tuned"}
TEST = "test"
WHOLE = "zeroshot_all"  # zero-shot needs no training data, so the study also scores it on every image


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path
    predictions_dir: Path  # <model>.csv with actual,predicted for DVC's confusion template
    confusion_dir: Path  # <model>.png heatmaps
    results: Path
    arms: Path  # <arm>.json: the few headline keys per arm, the metrics dvc.yaml declares


def default_outputs() -> EvaluateOutputs:
    return EvaluateOutputs(
        metrics=paths.metrics_file("evaluate"),
        predictions_dir=paths.PLOTS / "predictions",
        confusion_dir=paths.PLOTS / "confusion",
        results=paths.RESULTS,
        arms=paths.METRICS / "arms",
    )


def run(params: Params, predictions: dict[str, Path], outputs: EvaluateOutputs) -> dict:
    """Evaluate every model in `predictions` (stage name -> predictions.csv); returns the metrics written."""
    classes = params.class_names
    cfg = params.evaluate
    frames = {m: load_predictions(p, classes, m) for m, p in predictions.items()}
    check_same_truth(frames, predictions)
    sections: dict[str, pd.DataFrame] = {
        m: partition_rows(df, TEST, predictions[m]) for m, df in frames.items()
    }
    clip, convnext = backbone_name(params.embed.model), backbone_name(params.finetune.arch)
    backbones = {"zeroshot": clip, "probe": clip, "finetune": convnext}
    rows = [Row(m, MODELS.get(m, m), backbones.get(m, "?"), "test split") for m in sections]
    if "zeroshot" in frames:
        sections[WHOLE] = frames["zeroshot"]
        rows.insert(1, Row(WHOLE, MODELS["zeroshot"], clip, "whole dataset"))
    ids = {m: set(df["image_id"]) for m, df in sections.items() if m != WHOLE}
    if len({frozenset(s) for s in ids.values()}) > 1:
        log.warning(
            "models were tested on different images (%s); McNemar uses the shared ones",
            {m: len(s) for m, s in ids.items()},
        )
    unit = cluster_column(list(sections.values()))
    log.info("bootstrap: %d resamples of %s clusters", cfg.bootstrap_resamples, unit)

    report: dict = {}
    reset_dir(outputs.predictions_dir)
    reset_dir(outputs.confusion_dir)
    for row in rows:
        df = sections[row.key]
        section = evaluate_predictions(
            df["actual"],
            df["predicted"],
            df[unit],
            classes,
            resamples=cfg.bootstrap_resamples,
            confidence=cfg.confidence,
            seed=params.base.seed,
        )
        report[row.key] = section
        log.info(
            "%s (%s): n=%d accuracy=%.3f macro-F1=%.3f",
            row.key,
            row.evaluated_on,
            section["n"],
            section["accuracy"],
            section["macro_f1"],
        )
        counts = confusion_counts(df["actual"], df["predicted"], classes)
        title = (
            f"{row.model} ({row.backbone}), {row.evaluated_on}: "
            f"n={section['n']}, accuracy {section['accuracy']:.2f}"
        )
        plot_confusion(counts, classes, title, outputs.confusion_dir / f"{row.key}.png")
        if row.key != WHOLE:
            write_csv(outputs.predictions_dir / f"{row.key}.csv", df[["actual", "predicted"]])
    report["mcnemar"] = pairwise_mcnemar({m: sections[m] for m in frames})
    report["bootstrap"] = {"resamples": cfg.bootstrap_resamples, "confidence": cfg.confidence}

    context = run_context(
        data_source=params.data.source,
        embed_model=params.embed.model,
        embed_pretrained=params.embed.pretrained,
        finetune_arch=params.finetune.arch,
        finetune_pretrained=params.finetune.pretrained,
        finetune_checkpoint=params.finetune.checkpoint,
    )
    markdown = render_results(
        report,
        rows,
        classes,
        context=context,
        confidence=cfg.confidence,
        cluster_unit=unit,
        resamples=cfg.bootstrap_resamples,
    )
    report = json_safe(report)
    write_text(outputs.results, markdown)
    write_json(outputs.metrics, report)
    write_arm_metrics(outputs.arms, report)
    return report


def main() -> None:
    params = stage_setup("evaluate")
    predictions = {m: paths.stage_dir(m) / "predictions.csv" for m in MODELS}
    run(params, predictions, default_outputs())


if __name__ == "__main__":
    main()
