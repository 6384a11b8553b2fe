"""The markdown results document (results.md): every figure named with its level and its case counts.

Tables: image level, exam level (the unit labels are given in), dense vs non-dense, slices by vendor and view,
paired comparisons, spread across repeated splits, per-class F1, and the study's published figures only when
this run's classes are the study's four BI-RADS classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from breast_density.evaluation.bootstrap import MIN_STRATUM
from breast_density.evaluation.metrics import is_study_class_set

# The reproduced study's figures (accuracy, F1) on its private, balanced hospital data (~1,800 images,
# 85/15 split). It reports zero-shot on the whole dataset and the two trained models on its test split.
PUBLISHED: dict[str, tuple[float, float]] = {
    "zeroshot_all": (0.47, 0.31),
    "probe": (0.64, 0.63),
    "finetune": (0.73, 0.78),
}

F1_NOTE = (
    "The study does not say which F1 it reports. On a balanced test set macro-F1 cannot exceed about 0.75 "
    "at accuracy 0.73, so its 0.78 for ConvNeXt is not a balanced macro-F1; its F1 column is not "
    "comparable with this run's macro-F1."
)


@dataclass(frozen=True)
class Row:
    key: str  # section of metrics/evaluate.json
    model: str  # method shown in the table, e.g. "Linear probe"
    backbone: str  # the network actually used, e.g. "BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    evaluated_on: str  # e.g. "test split"


def backbone_name(model: str) -> str:
    """Short display name of a model id: 'hf-hub:org/name' and folder paths show their last part."""
    return model.removeprefix("hf-hub:").rstrip("/").rsplit("/", 1)[-1]


def _num(x: float | None, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _with_ci(section: dict, metric: str) -> str:
    ci = section.get("ci", {}).get(metric)
    point = _num(section[metric])
    if not ci:
        return point
    return f"{point} [{_num(ci['low'])}, {_num(ci['high'])}]"


def _diff(figure: dict) -> str:
    return f"{figure['difference']:+.2f} [{figure['ci']['low']:+.2f}, {figure['ci']['high']:+.2f}]"


def _cases(section: dict) -> str:
    return f"{section['n_images']} / {section.get('n_exams', '–')} / {section.get('n_patients', '–')}"


def _level_table(metrics: dict, rows: Sequence[Row], level: str | None, pct: str) -> list[str]:
    lines = [
        f"| Model | Backbone | Evaluated on | images / exams / patients | n cases | Accuracy [{pct} CI] "
        f"| Macro-F1 [{pct} CI] | Balanced acc. | κ linear [{pct} CI] | κ quadratic [{pct} CI] | ECE | Brier "
        "| Prevalence-weighted acc. |",
        "|---|---|---|---|---:|---|---|---:|---|---|---:|---:|---:|",
    ]
    for row in rows:
        s = metrics[row.key] if level is None else metrics[row.key][level]
        lines.append(
            f"| {row.model} | `{row.backbone}` | {row.evaluated_on} | {_cases(s)} | {s['n']} "
            f"| {_with_ci(s, 'accuracy')} | {_with_ci(s, 'macro_f1')} | {_num(s['balanced_accuracy'])} "
            f"| {_with_ci(s, 'kappa_linear')} | {_with_ci(s, 'kappa_quadratic')} | {_num(s['ece'], 3)} "
            f"| {_num(s['brier'], 3)} | {_num(s.get('prevalence_accuracy'))} |"
        )
    return lines


def render_results(
    metrics: dict,
    rows: Sequence[Row],
    classes: Sequence[str],
    *,
    context: Sequence[str],
    confidence: float,
    cluster_unit: str,
    resamples: int,
    stratified: bool = True,
    prior: dict[str, float] | None = None,
    skipped: dict[str, str] | None = None,
) -> str:
    """Markdown document: provenance, level tables, dense vs non-dense, slices, comparisons, notes."""
    pct = f"{confidence:.0%}"
    labels = {row.key: f"{row.model} ({row.evaluated_on})" for row in rows}
    study = is_study_class_set(classes)
    lines = ["# Results", "", *context, ""]
    if skipped:
        lines += ["Arms left out of this evaluation:", ""]
        lines += [f"- `{arm}`: {why}" for arm, why in skipped.items()]
        lines.append("")
    lines += ["## Image level (each view scored on its own; not independent cases)", ""]
    lines += _level_table(metrics, rows, None, pct)
    lines += [
        "",
        "## Exam level (probabilities averaged over an exam's views; labels are given per exam)",
        "",
    ]
    lines += _level_table(metrics, rows, "exam", pct)
    if all("breast" in metrics[row.key] for row in rows):
        lines += ["", "Breast level (views of one side of one exam averaged): accuracy [CI], n breasts.", ""]
        lines += ["| Model | Evaluated on | n breasts | Accuracy | κ quadratic |", "|---|---|---:|---|---|"]
        for row in rows:
            b = metrics[row.key]["breast"]
            lines.append(
                f"| {row.model} | {row.evaluated_on} | {b['n']} | {_with_ci(b, 'accuracy')} "
                f"| {_with_ci(b, 'kappa_quadratic')} |"
            )
    if study:
        lines += [
            "",
            "## Dense (C+D) vs non-dense (A+B), exam level, from the 4-class predictions",
            "",
            "| Model | Evaluated on | n exams | dense exams | Sensitivity | Specificity | Accuracy |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for row in rows:
            d = metrics[row.key]["exam"]["dense"]
            lines.append(
                f"| {row.model} | {row.evaluated_on} | {d['n']} | {d['n_dense']} | {_num(d['sensitivity'])} "
                f"| {_num(d['specificity'])} | {_num(d['accuracy'])} |"
            )
    lines += _slice_lines(metrics, rows, pct)
    lines += _comparison_lines(metrics.get("comparisons", {}), labels, pct)
    lines += _repeat_lines(metrics, rows)
    lines += ["", "## Per-class F1, image level (precision / recall in metrics/evaluate.json)", ""]
    lines += [f"| Model | Evaluated on | {' | '.join(classes)} |", "|---|---|" + "---:|" * len(classes)]
    for row in rows:
        per_class = metrics[row.key]["per_class"]
        cells = " | ".join(_num(per_class[c]["f1"]) for c in classes)
        lines.append(f"| {row.model} | {row.evaluated_on} | {cells} |")
    if study:
        lines += [
            "",
            "## The study's published figures (private hospital data; for orientation only)",
            "",
            "| Model | Evaluated on | Study accuracy | Study F1 (type unreported) |",
            "|---|---|---:|---:|",
        ]
        for row in rows:
            if row.key in PUBLISHED:
                acc, f1 = PUBLISHED[row.key]
                lines.append(f"| {row.model} | {row.evaluated_on} | {_num(acc)} | {_num(f1)} |")
        lines += ["", F1_NOTE]
    else:
        lines += [
            "",
            f"The study's figures are not shown: they are for the four BI-RADS classes A–D, this run uses "
            f"{list(classes)}.",
        ]
    lines += _notes(cluster_unit, resamples, stratified, prior, classes)
    return "\n".join(lines)


def _slice_lines(metrics: dict, rows: Sequence[Row], pct: str) -> list[str]:
    lines: list[str] = []
    for key, what in (("vendor", "vendor"), ("view", "view")):
        if not all(key in metrics[row.key] for row in rows):
            continue
        lines += [
            "",
            f"## By {what}, image level",
            "",
            f"| Model | Evaluated on | {what} | images / exams / patients | Accuracy [{pct} CI] "
            f"| κ quadratic [{pct} CI] |",
            "|---|---|---|---|---|---|",
        ]
        for row in rows:
            for value, s in metrics[row.key][key].items():
                lines.append(
                    f"| {row.model} | {row.evaluated_on} | {value} | {_cases(s)} | {_with_ci(s, 'accuracy')} "
                    f"| {_with_ci(s, 'kappa_quadratic')} |"
                )
    return lines


def _comparison_lines(comparisons: dict, labels: dict[str, str], pct: str) -> list[str]:
    if not comparisons:
        return []
    lines = [
        "",
        "## Paired comparisons (second minus first, exam level, on the exams both arms predicted)",
        "",
        f"| First | Second | exams / patients | Δ accuracy [{pct} CI] | Δ κ quadratic [{pct} CI] "
        "| exact McNemar p (exams) | p Holm | secondary: McNemar p (images) |",
        "|---|---|---|---|---|---:|---:|---:|",
    ]
    for key, c in comparisons.items():
        first, second = key.split("_vs_")
        lines.append(
            f"| {labels.get(first, first)} | {labels.get(second, second)} "
            f"| {c['n_exams']} / {c['n_patients']} "
            f"| {_diff(c['accuracy'])} | {_diff(c['kappa_quadratic'])} | {c['mcnemar_exam']['p_value']:.3g} "
            f"| {c['p_holm']:.3g} | {c['mcnemar_image']['p_value']:.3g} |"
        )
    return lines


def _repeat_lines(metrics: dict, rows: Sequence[Row]) -> list[str]:
    with_splits = [row for row in rows if len(metrics[row.key].get("splits", {})) > 1]
    if not with_splits:
        return []
    lines = [
        "",
        "## Across repeated splits (mean ± sd; one figure per split in metrics/evaluate.json)",
        "",
        "| Model | Evaluated on | splits | Accuracy, image | Accuracy, exam | κ quadratic, exam "
        "| Macro-F1, exam |",
        "|---|---|---:|---|---|---|---|",
    ]
    for row in with_splits:
        s = metrics[row.key]
        cells = " | ".join(
            f"{_num(s['mean'][m])} ± {_num(s['sd'][m])}"
            for m in ("accuracy", "exam_accuracy", "exam_kappa_quadratic", "exam_macro_f1")
        )
        lines.append(f"| {row.model} | {row.evaluated_on} | {len(s['splits'])} | {cells} |")
    return lines


def _notes(
    cluster_unit: str,
    resamples: int,
    stratified: bool,
    prior: dict[str, float] | None,
    classes: Sequence[str],
) -> list[str]:
    unit = cluster_unit.removesuffix("_id")
    lines = [
        "",
        "Notes:",
        "- Counts: *images / exams / patients* behind each figure; *n cases* is what the row scores (images "
        "at image level, exams at exam level).",
        f"- Confidence intervals: percentile bootstrap, {resamples} seeded resamples of whole {unit}s (views "
        "of one exam and exams of one patient are correlated, so they are resampled together)"
        + (
            f"; stratified where every class has at least {MIN_STRATUM} {unit}s (`ci_stratified` in "
            f"metrics/evaluate.json): each resample then draws, per class, as many {unit}s as that class "
            "has, so no resample loses a class. Otherwise resampling is plain and resamples in which a "
            "metric is "
            "undefined are left out of its interval."
            if stratified
            else "; resamples in which a metric is undefined are left out of its interval."
        ),
        "- Exam level: the class probabilities of an exam's views are averaged and the largest wins.",
        "- Weighted kappas treat the class order as ordinal: a two-category miss costs more than a "
        "one-category miss.",
        "- ECE: expected calibration error of the top-class probability over equal-width bins; Brier: "
        "multi-class Brier score (0 is perfect). Reliability diagrams: plots/calibration/<arm>.png.",
    ]
    if prior is not None and set(prior) == set(classes):
        shares = ", ".join(f"{c} {w:g}" for c, w in prior.items())
        lines.append(
            f"- Prevalence-weighted accuracy: per-class recall weighted by the prior ({shares}) instead of "
            "the balanced test mix; the models were trained on balanced classes, so this is what to expect "
            "where classes occur at that prior."
        )
    lines += [
        "- Paired comparisons: the same patient-level resamples score both arms; McNemar pairs exams; Holm "
        "adjusts the exam-level p-values over all pairs. The per-image McNemar p treats correlated views as "
        "independent and is optimistic; it is shown as a secondary figure only.",
        "- Confusion matrices: plots/confusion/<model>.png; `dvc plots show` renders "
        "plots/predictions/*.csv. Per-image predictions with ids and class probabilities: "
        "metrics/predictions/<arm>.csv.",
        "",
    ]
    return lines


def run_context(
    *,
    data_source: str,
    embed_model: str,
    embed_pretrained: str | None,
    finetune_arch: str,
    finetune_pretrained: bool,
    finetune_checkpoint: str | None,
) -> list[str]:
    """Provenance lines at the top of results.md, so a table never travels without what produced it."""
    lines = []
    if data_source == "synthetic":
        lines += [
            "> **Demo numbers.** Everything below comes from the embedded *synthetic* cohort "
            "(`data.source: synthetic`), not from patients. It shows that the pipeline runs end to end; it "
            "says nothing about how the models perform on mammograms and is not comparable with the study's "
            "figures.",
            "",
        ]
    else:
        lines += [f"Data: `data.source: {data_source}`.", ""]
    if embed_model.startswith("demo-"):
        clip = (
            f"`{embed_model}`, a small built-in image-text model with random weights: zero-shot is at chance "
            "level by construction and the probe learns from untrained features"
        )
    else:
        clip = f"`{embed_model}`" + (f" (weights `{embed_pretrained}`)" if embed_pretrained else "")
    if finetune_checkpoint:
        convnext = f"timm `{finetune_arch}` initialised from `{finetune_checkpoint}`"
    elif finetune_pretrained:
        convnext = f"timm `{finetune_arch}`, ImageNet-pretrained"
    else:
        convnext = f"timm `{finetune_arch}` trained from random initialisation (no pretrained weights)"
    lines += [f"- Zero-shot and linear probe: {clip}.", f"- Fine-tuned model: {convnext}."]
    return lines
