"""Stage finetune: train a timm ConvNeXt end to end on the harmonised images, predict the test split.

Writes models/finetune/ (weights, resolved config, a copy of the harmonisation spec, so that
`breast-density predict` is self-contained), data/processed/finetune/predictions.csv and the dvclive curves.
A killed run resumes from models/finetune-resume/ when the configuration and the training images are
unchanged; a finished run empties that folder, so a later change never resumes a stale run.
Started by torchrun with `finetune.nproc` processes (models.distributed): with several, they train one
model data-parallel and rank 0 alone writes the outputs (docs/scaling-ddp.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from breast_density import paths
from breast_density.data.datasets import HarmonizedImages
from breast_density.data.split import add_split_predictions, repeat_splits
from breast_density.io import read_csv, reset_dir, write_csv, write_text
from breast_density.models import distributed
from breast_density.models.augment import eval_transform, train_transform
from breast_density.models.convnext import create_convnext, model_data_config, save_bundle
from breast_density.models.devices import pick_device
from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.training import TrainSettings, fingerprint, fit, make_loader, predict_logits
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
_ID_COLUMNS = ["image_id", "exam_id", "patient_id"]


def _load_split(split_csv: Path, root: Path, class_names: list[str]) -> pd.DataFrame:
    frame = read_csv(split_csv)
    missing = sorted({*_ID_COLUMNS, "path", "label", "partition"} - set(frame.columns))
    if missing:
        raise ValueError(f"{split_csv}: missing columns {missing}")
    unknown = sorted(set(frame["label"]) - set(class_names))
    if unknown:
        raise ValueError(f"{split_csv}: labels {unknown} are not in params.classes {class_names}")
    frame["path"] = [str(root / p) for p in frame["path"]]
    for part in ("train", "val", "test"):
        if not (frame["partition"] == part).any():
            raise ValueError(f"{split_csv}: the '{part}' partition is empty")
    return frame


# Settings that change speed and memory but not what the model learns: left out of the resume key and of
# the bundle's training record (so turning them on keeps both as they were).
_SPEED_ONLY = {"workers", "grad_checkpointing", "channels_last"}


def _training_record(params: Params) -> dict[str, Any]:
    record = params.finetune.model_dump(exclude=_SPEED_ONLY)
    # auto is what bundles did before the option existed (bf16 on CUDA: the recorded device says which)
    if record["precision"] == "auto":
        del record["precision"]
    return record


def run_key(params: Params, frame: pd.DataFrame) -> str:
    """Fingerprint of everything that shapes the trained weights: the finetune settings (except the
    speed-only ones), seed, classes, geometry, and the train/val rows and image bytes."""
    settings = _training_record(params)
    used = frame[frame["partition"].isin(["train", "val"])]
    rows = used[["image_id", "label", "partition", "path"]].itertuples(index=False)
    return fingerprint(
        {
            "finetune": settings,
            "seed": params.base.seed,
            "classes": params.class_names,
            "geometry": params.geometry,
        },
        ((row[:3], Path(row.path)) for row in rows),
    )


def run(
    params: Params,
    split_csv: Path,
    spec_file: Path,  # harmonize's spec.json
    model_dir: Path,
    predictions_csv: Path,
    live_dir: Path | None,
    resume_dir: Path,
    *,
    root: Path = Path("."),
    after_epoch: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    cfg = params.finetune
    class_names = params.class_names
    distributed.local_batch_size(cfg.batch_size, "finetune.batch_size")  # fail before any work
    seed_everything(params.base.seed)
    frame = _load_split(split_csv, root, class_names)
    # Copied into the model bundle so predict harmonises new images exactly like the training images.
    if not spec_file.is_file():
        raise FileNotFoundError(f"{spec_file}: harmonisation spec missing (run the harmonize stage)")
    parts = {p: frame[frame["partition"] == p].reset_index(drop=True) for p in ("train", "val", "test")}
    log.info("images: %s", {p: len(f) for p, f in parts.items()})

    model = create_convnext(cfg.arch, len(class_names), pretrained=cfg.pretrained, checkpoint=cfg.checkpoint)
    if cfg.grad_checkpointing:
        model.set_grad_checkpointing(True)
    data_config = model_data_config(model, cfg.img_size)
    norm = (cfg.img_size, data_config["mean"], data_config["std"], data_config["interpolation"])
    shape = (params.geometry, cfg.input_hw)
    train_set = HarmonizedImages(parts["train"], train_transform(cfg.augment, *norm), class_names, *shape)
    val_set = HarmonizedImages(parts["val"], eval_transform(*norm), class_names, *shape)
    test_set = HarmonizedImages(parts["test"], eval_transform(*norm), class_names, *shape)

    settings = TrainSettings(
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        max_epochs=cfg.max_epochs,
        patience=cfg.patience,
        lr_schedule=cfg.lr_schedule,
        workers=cfg.workers,
        seed=params.base.seed,
        precision=cfg.precision,
        channels_last=cfg.channels_last,
    )
    device = pick_device()
    log.info("training %s at %s px (%s) on %s", cfg.arch, cfg.img_size, params.geometry, device)
    result = fit(
        model,
        train_set,
        val_set,
        settings,
        device=device,
        checkpoint_path=resume_dir / CHECKPOINT_FILE,
        run_key=run_key(params, frame),
        live_dir=live_dir,
        after_epoch=after_epoch,
    )
    if not distributed.is_main():  # the same trained weights are in every process: rank 0 writes
        distributed.barrier()
        return {}
    loader = make_loader(test_set, cfg.batch_size, 0, device)
    logits, _ = predict_logits(model, loader, device, cfg.precision, cfg.channels_last)
    predictions = prediction_frame(parts["test"], torch.softmax(logits, dim=1).numpy(), class_names)
    write_csv(predictions_csv, predictions)
    test_acc = float((predictions["actual"] == predictions["predicted"]).mean())

    config = {
        "kind": "finetune",
        "arch": cfg.arch,
        "img_size": cfg.img_size,
        "geometry": params.geometry,
        "class_names": class_names,
        "data_config": data_config,
        "harmonize_spec": paths.BUNDLE_SPEC_FILE,
        "training": {
            **_training_record(params),
            "seed": params.base.seed,
            **result.summary(),
            "device": str(device),
        },
    }
    save_bundle(reset_dir(model_dir), model, config, copies={paths.BUNDLE_SPEC_FILE: spec_file})
    # Outputs are complete: the checkpoint has served its purpose and must never resume a later run.
    # A note instead of an empty folder, which DVC reports with a warning on every run.
    write_text(reset_dir(resume_dir) / "STATUS", "last run finished; no checkpoint to resume\n")
    summary = {
        "epochs": result.epochs_run,
        "resumed_at_epoch": result.resumed_at_epoch,
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "test_accuracy": test_acc,
        "train_images_per_s": result.train_images_per_s,
    }
    log.info("finetune done: %s", summary)
    distributed.barrier()
    return summary


def main() -> None:
    params = stage_setup("finetune")
    with distributed.session():
        _run_all_splits(params)


def _run_all_splits(params: Params) -> None:
    split_csv = paths.stage_dir("split") / "split.csv"
    predictions_csv = paths.stage_dir("finetune") / "predictions.csv"
    run(
        params,
        split_csv=split_csv,
        spec_file=paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
        model_dir=paths.model_dir("finetune"),
        predictions_csv=predictions_csv,
        live_dir=paths.live_dir("finetune"),
        resume_dir=paths.resume_dir("finetune"),
    )
    # Repeated splits (split.repeats > 1): the same training per extra split, predictions tagged with the
    # split; the model bundle and curves kept are split 0's.
    with repeat_splits(split_csv) as extra:
        for name, split_r, scratch in extra:
            extra_csv = scratch / "predictions.csv"
            run(
                params,
                split_r,
                paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
                scratch / "model",
                extra_csv,
                None,
                scratch / "resume",
            )
            if distributed.is_main():
                add_split_predictions(predictions_csv, extra_csv, name)


if __name__ == "__main__":
    main()
