"""Stage adapt: contrastive adaptation of the base CLIP on the train split's (image, English findings) pairs.

Only the train partition trains and only the validation partition early-stops: no test image or report is
read. Writes models/adapt/ as an open_clip folder (config with preprocessing, safetensors weights, tokenizer
files of a Hugging Face text tower) plus adapt.json, and the dvclive curves. A killed run resumes from
models/adapt-resume/ when configuration and data are unchanged. A data source without report text (labels
layout, public datasets) has nothing to adapt on: the stage writes a skipped note and the adapted arms are
skipped downstream. Started by torchrun with `adapt.nproc` processes (models.distributed): with several,
they adapt one model data-parallel and rank 0 alone writes the outputs (docs/scaling-ddp.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from breast_density import paths
from breast_density.io import read_csv, reset_dir, write_json, write_text
from breast_density.models import distributed
from breast_density.models.adapt import AdaptSettings, adapt_clip
from breast_density.models.adapt_text import findings_text
from breast_density.models.clip import load_clip, save_clip_folder, with_image_size
from breast_density.models.devices import pick_device
from breast_density.models.embedding_files import read_split
from breast_density.models.training import fingerprint
from breast_density.models.variants import write_skipped
from breast_density.models.zeroshot import class_prompts
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

TRAIN, VAL = "train", "val"
SUMMARY_FILE = "adapt.json"
CHECKPOINT_FILE = "checkpoint.pt"


def adaptation_pairs(
    split: pd.DataFrame, reports: pd.DataFrame, class_names: list[str], *, drop_density_sentence: bool
) -> dict[str, pd.DataFrame]:
    """Train and val rows of `split` with the findings text of their exam's English report (`text`) and the
    class index (`label_index`); rows without text are dropped. Test rows are never selected."""
    rows = split[split["partition"].isin([TRAIN, VAL])]
    text = reports.drop_duplicates("exam_id").set_index("exam_id")["text_en"]
    rows = rows.assign(
        text=[
            findings_text(text.get(exam, ""), drop_density_sentence=drop_density_sentence)
            for exam in rows["exam_id"]
        ],
        label_index=rows["label"].map({n: i for i, n in enumerate(class_names)}),
    )
    rows = rows[(rows["text"] != "") & rows["label_index"].notna()]
    rows = rows.assign(label_index=rows["label_index"].astype(int))
    return {p: rows[rows["partition"] == p].reset_index(drop=True) for p in (TRAIN, VAL)}


def adapt_settings(params: Params) -> AdaptSettings:
    """The training settings of params' `adapt` section; `adapt.seed` orders the pairs (null: base.seed)."""
    cfg = params.adapt
    return AdaptSettings(
        **cfg.model_dump(exclude={"drop_density_sentence", "image_size", "nproc", "seed"}),
        seed=params.base.seed if cfg.seed is None else cfg.seed,
        geometry=params.geometry,
    )


def run(
    params: Params,
    split_csv: Path,
    reports_csv: Path,
    model_dir: Path,
    live_dir: Path | None,
    resume_dir: Path,
    *,
    device: str | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    cfg = params.adapt
    distributed.local_batch_size(cfg.batch_size, "adapt.batch_size")  # fail before any work
    split = read_split(split_csv, ("image_id", "exam_id", "path", "label", "partition"))
    reports = read_csv(reports_csv)
    missing = sorted({"exam_id", "text_en"} - set(reports.columns))
    if missing:
        raise ValueError(f"{reports_csv}: missing column(s) {missing}")
    pairs = adaptation_pairs(
        split, reports, params.class_names, drop_density_sentence=cfg.drop_density_sentence
    )
    if len(pairs[TRAIN]) < 2 or len(pairs[VAL]) < 2:
        reason = (
            f"data source '{params.data.source}' has no report text for the train/val images "
            f"({len(pairs[TRAIN])} train, {len(pairs[VAL])} val pairs): nothing to adapt on"
        )
        log.warning("adapt skipped: %s", reason)
        if distributed.is_main():
            for folder in (model_dir, live_dir):
                if folder is not None:
                    write_skipped(folder, reason)
            write_text(reset_dir(resume_dir) / "STATUS", "skipped; no checkpoint to resume\n")
        return {"skipped": reason}

    device_ = pick_device(device)
    seed_everything(params.base.seed)  # the demo CLIP starts from the base variant's random weights
    embed = params.embed
    bundle = load_clip(embed.model, pretrained=embed.pretrained, revision=embed.revision, device=device_)
    if cfg.image_size is not None:
        bundle = with_image_size(bundle, cfg.image_size)
    settings = adapt_settings(params)
    # The class prompts without zeroshot.templates: editing a template must not rerun adaptation.
    prompts = class_prompts(params.classes, [])
    used = pd.concat([pairs[TRAIN], pairs[VAL]])
    key = fingerprint(
        {
            "adapt": cfg.model_dump(exclude={"workers"}),
            "clip": [embed.model, embed.pretrained, embed.revision],
            "seed": params.base.seed,
            "geometry": params.geometry,
            "prompts": prompts,
        },
        (((r.image_id, r.partition, r.text), Path(r.path)) for r in used.itertuples(index=False)),
    )
    result = adapt_clip(
        bundle,
        pairs[TRAIN],
        pairs[VAL],
        prompts,
        settings,
        device=device_,
        checkpoint_path=resume_dir / CHECKPOINT_FILE,
        run_key=key,
        live_dir=live_dir,
        after_epoch=after_epoch,
    )
    if not distributed.is_main():  # the same adapted weights are in every process: rank 0 writes
        distributed.barrier()
        return {"resumed_at_epoch": result.resumed_at_epoch}
    save_clip_folder(bundle, result.model, reset_dir(model_dir))
    best = result.history[result.best_epoch - 1] if result.best_epoch else {}
    summary = {
        "base_model": embed.model,
        "base_pretrained": embed.pretrained,
        "base_revision": embed.revision,
        "training": {**asdict(settings), **result.summary(), "device": str(device_)},
        "text": {"section": "findings", "drop_density_sentence": cfg.drop_density_sentence},
        "image_size": list(bundle.image_size),
        "n_train": len(pairs[TRAIN]),
        "n_val": len(pairs[VAL]),
        "best_val_zeroshot_accuracy": best.get("val/zeroshot_accuracy"),
    }
    write_json(model_dir / SUMMARY_FILE, summary)
    # Outputs are complete: the checkpoint must never resume a later run.
    write_text(reset_dir(resume_dir) / "STATUS", "last run finished; no checkpoint to resume\n")
    log.info("adapt done: %s", {k: summary[k] for k in ("n_train", "n_val", "best_val_zeroshot_accuracy")})
    distributed.barrier()
    return {**summary, "resumed_at_epoch": result.resumed_at_epoch}


def main() -> None:
    params = stage_setup("adapt")
    with distributed.session():
        run(
            params,
            split_csv=paths.stage_dir("split") / "split.csv",
            reports_csv=paths.stage_dir("translate") / "reports.csv",
            model_dir=paths.model_dir("adapt"),
            live_dir=paths.live_dir("adapt"),
            resume_dir=paths.resume_dir("adapt"),
        )


if __name__ == "__main__":
    main()
