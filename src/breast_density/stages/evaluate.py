"""Stage evaluate: image-, exam- and breast-level figures per arm, paired comparisons, calibration, slices.

Arms are data: a mapping arm name -> predictions.csv (ARMS below). An arm whose stage was skipped or did not
run is left out, and results.md says so. With repeated splits (`split.repeats` > 1) every arm also gets its
figures per split and their mean and sd.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from breast_density import paths
from breast_density.evaluation.aggregate import exam_level, probability_columns
from breast_density.evaluation.arm_metrics import write_arm_metrics
from breast_density.evaluation.calibration import calibration_summary
from breast_density.evaluation.comparisons import pairwise_comparisons
from breast_density.evaluation.metrics import confusion_counts
from breast_density.evaluation.plots import plot_confusion, plot_reliability
from breast_density.evaluation.predictions import (
    arm_absence,
    attach_image_info,
    check_same_truth,
    cluster_column,
    load_predictions,
)
from breast_density.evaluation.results_table import Row, backbone_name, render_results, run_context
from breast_density.evaluation.summary import (
    EvalSettings,
    across_splits,
    arm_section,
    json_safe,
    level_section,
    split_figures,
)
from breast_density.io import read_csv, reset_dir, write_csv, write_json, write_text
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

# Arms in table order: name -> (method shown in tables and plots, its predictions.csv). Adding an arm is one
# line here (and its predictions file in the stage's deps in dvc.yaml). The CLIP arms come per variant
# (base, adapted); an arm whose stage was skipped (no report text to adapt on) is left out of the report.
ARMS: dict[str, tuple[str, Path]] = {
    "zeroshot": ("Zero-shot", paths.stage_dir("zeroshot") / "base" / "predictions.csv"),
    "probe": ("Linear probe", paths.stage_dir("probe") / "base" / "predictions.csv"),
    "adapted_zeroshot": ("Adapted zero-shot", paths.stage_dir("zeroshot") / "adapted" / "predictions.csv"),
    "adapted_probe": ("Adapted linear probe", paths.stage_dir("probe") / "adapted" / "predictions.csv"),
    "finetune": ("Fine-tuned", paths.stage_dir("finetune") / "predictions.csv"),
}
ADAPTED_NOTE = (
    "- Adapted zero-shot and adapted linear probe: the same CLIP after contrastive adaptation on the train "
    "split's image-report pairs (stage adapt). Weakly supervised by the site's reports, so 'adapted "
    "zero-shot' is not zero-shot in the study's sense; it is scored on the test split only."
)
TEST = "test"
WHOLE = "zeroshot_all"  # zero-shot needs no training data, so the study also scores it on every image
FIRST_SPLIT = "0"


@dataclass(frozen=True)
class EvaluateOutputs:
    metrics: Path
    predictions_dir: Path  # <arm>.csv with actual,predicted for DVC's confusion template
    confusion_dir: Path  # <arm>.png heatmaps
    results: Path
    calibration_dir: Path | None = None  # <arm>.png reliability diagrams
    tables_dir: Path | None = None  # <arm>.csv: every prediction with ids and probabilities, kept in git
    arms: Path | None = None  # <arm>.json: the few headline keys per arm, the metrics dvc.yaml declares


def default_outputs() -> EvaluateOutputs:
    return EvaluateOutputs(
        metrics=paths.metrics_file("evaluate"),
        predictions_dir=paths.PLOTS / "predictions",
        confusion_dir=paths.PLOTS / "confusion",
        results=paths.RESULTS,
        calibration_dir=paths.PLOTS / "calibration",
        tables_dir=paths.METRICS / "predictions",
        arms=paths.METRICS / "arms",
    )


def default_arms() -> dict[str, Path]:
    return {arm: path for arm, (_, path) in ARMS.items()}


def partition_column(split: str) -> str:
    """Column of split.csv holding split `split`'s partitions (split 0 is the stages' `partition`)."""
    return "partition" if split == FIRST_SPLIT else f"partition_{split}"


def split_names(split_table: pd.DataFrame | None, frames: dict[str, pd.DataFrame]) -> list[str]:
    names = {FIRST_SPLIT} | {s for df in frames.values() for s in df["split"]}
    if split_table is not None:
        names |= {c.removeprefix("partition_") for c in split_table.columns if c.startswith("partition_")}
    return sorted(names, key=int)


def test_rows(df: pd.DataFrame, split: str, split_table: pd.DataFrame | None) -> pd.DataFrame | None:
    """The arm's test predictions for one split, or None when the arm has none for it.

    A trained arm writes rows per split (its `partition` is that split's). An arm that predicts every image
    without training (zero-shot) is scored on each split's test images as split.csv assigns them.
    """
    own = df[df["split"] == split]
    if not own.empty:
        return own[own["partition"] == TEST].reset_index(drop=True)
    base = df[df["split"] == FIRST_SPLIT]
    column = partition_column(split)
    if split_table is None or column not in split_table or not (base["partition"] != TEST).any():
        return None
    ids = set(split_table.loc[split_table[column] == TEST, "image_id"])
    return base[base["image_id"].isin(ids)].reset_index(drop=True)


def _rows(params: Params, arms: list[str], has_zeroshot: bool) -> list[Row]:
    clip, convnext = backbone_name(params.embed.model), backbone_name(params.finetune.arch)

    def backbone(arm: str) -> str:
        if "finetune" in arm:
            return convnext
        return f"{clip}, adapted" if arm.startswith("adapted") else clip

    def label(arm: str) -> str:
        if arm in ARMS:
            return ARMS[arm][0]
        return arm.replace("_", " ").capitalize().replace("Adapted zeroshot", "Adapted zero-shot")

    rows = [Row(a, label(a), backbone(a), "test split") for a in arms]
    if has_zeroshot:
        rows.insert(1, Row(WHOLE, label("zeroshot"), clip, "whole dataset"))
    return rows


def run(
    params: Params,
    predictions: dict[str, Path],
    outputs: EvaluateOutputs,
    split_csv: Path | None = None,
) -> dict:
    """Evaluate every arm in `predictions` (arm name -> predictions.csv); returns the metrics written."""
    classes = params.class_names
    cfg = params.evaluate
    skipped = {arm: why for arm, path in predictions.items() if (why := arm_absence(path))}
    for arm, why in skipped.items():
        log.warning("arm %s left out: %s", arm, why)
    present = {arm: path for arm, path in predictions.items() if arm not in skipped}
    if not present:
        raise FileNotFoundError(f"no arm has predictions to evaluate: {skipped}")
    split_table = read_csv(split_csv) if split_csv is not None else None
    frames = {arm: load_predictions(path, classes, arm) for arm, path in present.items()}
    check_same_truth(frames, present)
    if split_table is not None:
        frames = {arm: attach_image_info(df, split_table) for arm, df in frames.items()}

    splits = split_names(split_table, frames)
    tests = {arm: test_rows(df, FIRST_SPLIT, split_table) for arm, df in frames.items()}
    for arm, df in tests.items():
        if df is None or df.empty:
            raise ValueError(f"{present[arm]}: no '{TEST}' rows in the first split")
    sections: dict[str, pd.DataFrame] = dict(tests)
    rows = _rows(params, list(frames), "zeroshot" in frames)
    if "zeroshot" in frames:
        sections[WHOLE] = frames["zeroshot"][frames["zeroshot"]["split"] == FIRST_SPLIT]
    unit = cluster_column(list(sections.values()))
    settings = EvalSettings(
        classes=tuple(classes),
        resamples=cfg.bootstrap_resamples,
        confidence=cfg.confidence,
        seed=params.base.seed,
        stratified=cfg.bootstrap_stratified,
        calibration_bins=cfg.calibration_bins,
        prior=dict(cfg.prior) or None,
        cluster=unit,
    )
    log.info("bootstrap: %d resamples of %s clusters", cfg.bootstrap_resamples, unit)

    report: dict = {}
    for folder in (
        outputs.predictions_dir,
        outputs.confusion_dir,
        outputs.calibration_dir,
        outputs.tables_dir,
    ):
        if folder is not None:
            reset_dir(folder)
    for row in rows:
        df = sections[row.key]
        section = arm_section(df, settings)
        if row.key != WHOLE and len(splits) > 1:
            section.update(_repeated(frames[row.key], splits, split_table, settings))
        report[row.key] = section
        log.info(
            "%s (%s): %d images / %d exams: accuracy %.3f (exam %.3f), macro-F1 %.3f",
            row.key,
            row.evaluated_on,
            section["n_images"],
            section["exam"]["n"],
            section["accuracy"],
            section["exam"]["accuracy"],
            section["macro_f1"],
        )
        _figures(row, df, section, classes, settings, outputs)
    for arm, df in frames.items():
        if outputs.tables_dir is not None:
            write_csv(outputs.tables_dir / f"{arm}.csv", _table(df, classes))
    report["comparisons"] = pairwise_comparisons(tests, settings) if len(tests) > 1 else {}
    report["bootstrap"] = {
        "resamples": cfg.bootstrap_resamples,
        "confidence": cfg.confidence,
        "stratified": cfg.bootstrap_stratified,
        "cluster": unit,
    }
    report["skipped"] = skipped

    context = run_context(
        data_source=params.data.source,
        embed_model=params.embed.model,
        embed_pretrained=params.embed.pretrained,
        finetune_arch=params.finetune.arch,
        finetune_pretrained=params.finetune.pretrained,
        finetune_checkpoint=params.finetune.checkpoint,
    )
    if any(m.startswith("adapted_") for m in frames):
        context = [*context, ADAPTED_NOTE]
    markdown = render_results(
        report,
        rows,
        classes,
        context=context,
        confidence=cfg.confidence,
        cluster_unit=unit,
        resamples=cfg.bootstrap_resamples,
        stratified=cfg.bootstrap_stratified,
        prior=settings.prior,
        skipped=skipped,
    )
    report = json_safe(report)
    write_text(outputs.results, markdown)
    write_json(outputs.metrics, report)
    if outputs.arms is not None:
        write_arm_metrics(outputs.arms, report)
    return report


def _repeated(df: pd.DataFrame, splits: list[str], split_table: pd.DataFrame | None, s: EvalSettings) -> dict:
    """Per-split figures with their mean and sd; with disjoint test parts covering several splits (k-fold)
    also ``pooled``: the out-of-fold predictions scored together, at image and exam level."""
    tested = {}
    for split in splits:
        rows = test_rows(df, split, split_table)
        if rows is not None and not rows.empty:
            tested[split] = rows
    out = across_splits({split: split_figures(rows, s) for split, rows in tested.items()})
    ids = [set(rows["image_id"]) for rows in tested.values()]
    if len(ids) > 1 and sum(map(len, ids)) == len(set().union(*ids)):
        pooled = pd.concat(tested.values(), ignore_index=True)
        out["pooled"] = level_section(pooled, s)
        out["pooled"]["exam"] = level_section(exam_level(pooled, s.classes), s)
    return out


def _figures(
    row: Row, df: pd.DataFrame, section: dict, classes: list[str], s: EvalSettings, outputs: EvaluateOutputs
) -> None:
    """Confusion heatmap, reliability diagram and the confusion CSV of one table row."""
    counts = confusion_counts(df["actual"], df["predicted"], classes)
    title = (
        f"{row.model} ({row.backbone}), {row.evaluated_on}: {section['n_images']} images, "
        f"{section['exam']['n']} exams, accuracy {section['accuracy']:.2f}"
    )
    plot_confusion(counts, classes, title, outputs.confusion_dir / f"{row.key}.png")
    if outputs.calibration_dir is not None:
        exams = exam_level(df, classes)
        levels = {
            name: calibration_summary(
                f[probability_columns(classes)].to_numpy(float), f["actual"], classes, s.calibration_bins
            )
            for name, f in (("image", df), ("exam", exams))
        }
        title = f"{row.model} ({row.backbone}), {row.evaluated_on}"
        plot_reliability(levels, title, outputs.calibration_dir / f"{row.key}.png")
    if row.key != WHOLE:
        write_csv(outputs.predictions_dir / f"{row.key}.csv", df[["actual", "predicted"]])


def _table(df: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    """Every prediction of an arm with ids, split, partition, image context and class probabilities."""
    first = ["image_id", "exam_id", "patient_id", "split", "partition", "laterality", "view", "vendor"]
    columns = [c for c in first if c in df] + ["actual", "predicted", *probability_columns(classes)]
    return df[columns]


def main() -> None:
    params = stage_setup("evaluate")
    run(params, default_arms(), default_outputs(), split_csv=paths.stage_dir("split") / "split.csv")


if __name__ == "__main__":
    main()
