"""The markdown results table (results.md): this run's models beside the study's published figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# The reproduced study's figures (accuracy, macro-F1) on its private, balanced hospital data (~1,800 images,
# 85/15 split). It reports zero-shot on the whole dataset and the two trained models on its test split.
PUBLISHED: dict[str, tuple[float, float]] = {
    "zeroshot_all": (0.47, 0.31),
    "probe": (0.64, 0.63),
    "finetune": (0.73, 0.78),
}


@dataclass(frozen=True)
class Row:
    key: str  # section of metrics/evaluate.json
    model: str  # method shown in the table, e.g. "Linear probe"
    backbone: str  # the network actually used, e.g. "BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    evaluated_on: str  # e.g. "test split"


def backbone_name(model: str) -> str:
    """Short display name of a model id: 'hf-hub:org/name' and folder paths show their last part."""
    return model.removeprefix("hf-hub:").rstrip("/").rsplit("/", 1)[-1]


def _num(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _with_ci(section: dict, metric: str) -> str:
    ci = section.get("ci", {}).get(metric)
    point = _num(section[metric])
    if not ci:
        return point
    return f"{point} [{_num(ci['low'])}, {_num(ci['high'])}]"


def render_results(
    metrics: dict,
    rows: Sequence[Row],
    classes: Sequence[str],
    *,
    context: Sequence[str],
    confidence: float,
    cluster_unit: str,
    resamples: int,
) -> str:
    """Markdown document: provenance notes, the main table, per-class F1 and the McNemar comparisons."""
    pct = f"{confidence:.0%}"
    lines = ["# Results", "", *context, ""]
    lines += [
        f"| Model | Backbone | Evaluated on | n images | Accuracy [{pct} CI] | Macro-F1 [{pct} CI] "
        f"| Balanced acc. | κ linear [{pct} CI] | κ quadratic [{pct} CI] | Study accuracy | Study macro-F1 |",
        "|---|---|---|---:|---|---|---:|---|---|---:|---:|",
    ]
    for row in rows:
        s = metrics[row.key]
        study_acc, study_f1 = PUBLISHED.get(row.key, (None, None))
        lines.append(
            f"| {row.model} | `{row.backbone}` | {row.evaluated_on} | {s['n']} | {_with_ci(s, 'accuracy')} "
            f"| {_with_ci(s, 'macro_f1')} | {_num(s['balanced_accuracy'])} | {_with_ci(s, 'kappa_linear')} "
            f"| {_with_ci(s, 'kappa_quadratic')} | {_num(study_acc)} | {_num(study_f1)} |"
        )
    lines += ["", "Per-class F1 (precision / recall in metrics/evaluate.json):", ""]
    lines += [f"| Model | Evaluated on | {' | '.join(classes)} |", "|---|---|" + "---:|" * len(classes)]
    for row in rows:
        per_class = metrics[row.key]["per_class"]
        cells = " | ".join(_num(per_class[c]["f1"]) for c in classes)
        lines.append(f"| {row.model} | {row.evaluated_on} | {cells} |")
    labels = {row.key: row.model for row in rows}
    pairs = metrics.get("mcnemar", {})
    if pairs:
        lines += [
            "",
            "Exact McNemar tests on the test images all models share:",
            "",
            "| First | Second | n | only first correct | only second correct | p (exact, two-sided) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for key, t in pairs.items():
            first, second = key.split("_vs_")
            lines.append(
                f"| {labels.get(first, first)} | {labels.get(second, second)} | {t['n']} "
                f"| {t['only_first_correct']} | {t['only_second_correct']} | {t['p_value']:.3g} |"
            )
    lines += [
        "",
        "Notes:",
        f"- Confidence intervals: percentile bootstrap, {resamples} seeded resamples of whole "
        f"{cluster_unit.removesuffix('_id')}s (the views of one exam are correlated, so images are not "
        "resampled one by one).",
        "- Weighted kappas treat the class order as ordinal: a two-category miss costs more than a "
        "one-category miss.",
        "- McNemar treats paired images as independent; with several views per exam its p-values are "
        "optimistic.",
        "- The study reports zero-shot on its whole dataset and the linear probe and ConvNeXt on its test "
        "split; its figures come from private hospital data and are shown for orientation only.",
        "- Confusion matrices: plots/confusion/<model>.png; `dvc plots show` renders "
        "plots/predictions/*.csv.",
        "",
    ]
    return "\n".join(lines)


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
