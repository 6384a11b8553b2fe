"""Stage probe: a linear classifier on the frozen image embeddings, early-stopped on the validation split."""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from breast_density import paths
from breast_density.io import atomic_path, reset_dir, write_csv
from breast_density.models.embedding_files import load_embeddings, read_split, rows_for
from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.probe import ProbeConfig, predict_proba, save_probe, train_probe
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

TRAIN, VAL, TEST = "train", "val", "test"
CURVES = ("train/loss", "train/accuracy", "val/loss", "val/accuracy")


def run(
    params: Params,
    embed_dir: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
    model_dir: str | Path,
    live_dir: str | Path,
    spec_file: str | Path,
) -> pd.DataFrame:
    """Train the probe on train, early-stop on val, predict test; returns the test predictions.

    `spec_file`: the harmonize stage's recipe, copied into the bundle so predict is self-contained."""
    seed_everything(params.base.seed)
    names = params.class_names
    split = read_split(split_csv, ("image_id", "label", "partition"))
    unknown = sorted(set(split["label"]) - set(names))
    if unknown:
        raise ValueError(f"{split_csv}: labels {unknown} are not in params.classes {names}")
    index, images, _, meta = load_embeddings(embed_dir, names)
    parts = {p: split[split["partition"] == p].reset_index(drop=True) for p in (TRAIN, VAL, TEST)}
    if parts[TEST].empty:
        raise ValueError(f"{split_csv}: no '{TEST}' rows to predict")
    x = {p: rows_for(rows, index, images, embed_dir) for p, rows in parts.items()}
    y = {p: rows["label"].map({n: i for i, n in enumerate(names)}).to_numpy() for p, rows in parts.items()}
    config = ProbeConfig(**params.probe.model_dump(), seed=params.base.seed)
    from dvclive import Live  # deferred: importing dvclive pulls in dvc

    # dvcyaml=False: the loss plots are declared once at the top of the project's dvc.yaml.

    with Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False) as live:
        live.log_params({f"probe.{k}": v for k, v in asdict(config).items()})

        def log_epoch(row: dict[str, float]) -> None:
            for name in CURVES:
                live.log_metric(name, row[name])
            live.next_step()

        result = train_probe(x[TRAIN], y[TRAIN], x[VAL], y[VAL], len(names), config, on_epoch=log_epoch)
        live.summary["best_epoch"] = result.best_epoch
        live.summary["best_val_loss"] = result.best_val_loss

    probs = predict_proba(result.model, x[TEST])
    table = prediction_frame(parts[TEST], probs, names)
    out = reset_dir(out_dir)
    write_csv(out / "predictions.csv", table)
    with atomic_path(reset_dir(model_dir) / paths.BUNDLE_SPEC_FILE) as tmp:
        shutil.copyfile(spec_file, tmp)
    save_probe(
        Path(model_dir),
        result.model,
        {
            "classes": names,
            "in_features": int(x[TRAIN].shape[1]),
            "embedding_model": meta["model"],
            "embedding_pretrained": meta.get("pretrained"),
            "embedding_revision": meta.get("revision"),
            "untrained_embeddings": bool(meta.get("untrained")),
            "training": asdict(config),
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "stopped_early": result.stopped_early,
            "best_val_loss": result.best_val_loss,
            "n_train": len(parts[TRAIN]),
            "n_val": len(parts[VAL]),
            "n_test": len(parts[TEST]),
        },
    )
    accuracy = float(np.mean(table["actual"] == table["predicted"]))
    log.info(
        "probe: test accuracy %.3f on %d images (best epoch %d of %d)",
        accuracy,
        len(table),
        result.best_epoch,
        result.epochs_run,
    )
    if meta.get("untrained"):
        log.warning("embeddings come from an untrained demo model: this accuracy is meaningless")
    return table


def main() -> None:
    params = stage_setup("probe")
    run(
        params,
        embed_dir=paths.stage_dir("embed"),
        split_csv=paths.stage_dir("split") / "split.csv",
        out_dir=paths.stage_dir("probe"),
        model_dir=paths.model_dir("probe"),
        live_dir=paths.live_dir("probe"),
        spec_file=paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
    )


if __name__ == "__main__":
    main()
