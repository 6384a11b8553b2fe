"""Stage probe (one per CLIP variant): a linear classifier on the frozen image embeddings, early-stopped on
the validation split. `python -m breast_density.stages.probe [base|adapted]`; it reads only the image
embeddings, never the prompts."""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from breast_density import paths
from breast_density.data.split import add_split_predictions, repeat_splits
from breast_density.io import reset_dir, write_csv
from breast_density.models.curves import Curves
from breast_density.models.embedding_files import load_embeddings, read_split, rows_for
from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.probe import ProbeConfig, predict_proba, save_probe, train_probe
from breast_density.models.variants import BASE, skipped_reason, write_skipped
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

TRAIN, VAL, TEST = "train", "val", "test"


def run(
    params: Params,
    embed_dir: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
    model_dir: str | Path,
    live_dir: str | Path,
    spec_file: str | Path,
    *,
    variant: str = BASE,
) -> pd.DataFrame | None:
    """Train the probe on train, early-stop on val, predict test; returns the test predictions (None when
    the variant was skipped upstream). `spec_file`: the harmonize stage's recipe, copied into the bundle so
    predict is self-contained."""
    skipped = skipped_reason(embed_dir)
    if skipped:
        log.warning("linear probe on the %s CLIP skipped: %s", variant, skipped)
        for folder in (out_dir, model_dir, live_dir):
            write_skipped(folder, skipped)
        return None
    seed_everything(params.base.seed)
    names = params.class_names
    split = read_split(split_csv, ("image_id", "label", "partition"))
    unknown = sorted(set(split["label"]) - set(names))
    if unknown:
        raise ValueError(f"{split_csv}: labels {unknown} are not in params.classes {names}")
    index, images, meta = load_embeddings(embed_dir)
    parts = {p: split[split["partition"] == p].reset_index(drop=True) for p in (TRAIN, VAL, TEST)}
    if parts[TEST].empty:
        raise ValueError(f"{split_csv}: no '{TEST}' rows to predict")
    x = {p: rows_for(rows, index, images, embed_dir) for p, rows in parts.items()}
    y = {p: rows["label"].map({n: i for i, n in enumerate(names)}).to_numpy() for p, rows in parts.items()}
    config = ProbeConfig(**params.probe.model_dump(), seed=params.base.seed)
    curves = Curves(live_dir, params={f"probe.{k}": v for k, v in asdict(config).items()})
    result = train_probe(x[TRAIN], y[TRAIN], x[VAL], y[VAL], len(names), config, on_epoch=curves.log)
    curves.close({"best_epoch": result.best_epoch, "best_val_loss": result.best_val_loss})

    probs = predict_proba(result.model, x[TEST])
    table = prediction_frame(parts[TEST], probs, names)
    out = reset_dir(out_dir)
    write_csv(out / "predictions.csv", table)
    save_probe(
        reset_dir(model_dir),
        result.model,
        {
            "classes": names,
            "in_features": int(x[TRAIN].shape[1]),
            "variant": variant,
            "embedding_model": meta["model"],
            "embedding_pretrained": meta.get("pretrained"),
            "embedding_revision": meta.get("revision"),
            "untrained_embeddings": bool(meta.get("untrained")),
            "training": asdict(config),
            **result.summary(),
            "n_train": len(parts[TRAIN]),
            "n_val": len(parts[VAL]),
            "n_test": len(parts[TEST]),
            "harmonize_spec": paths.BUNDLE_SPEC_FILE,
        },
        copies={paths.BUNDLE_SPEC_FILE: Path(spec_file)},
    )
    accuracy = float(np.mean(table["actual"] == table["predicted"]))
    log.info(
        "%s probe: test accuracy %.3f on %d images (best epoch %d of %d)",
        variant,
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
    variant = sys.argv[1] if len(sys.argv) > 1 else BASE
    split_csv = paths.stage_dir("split") / "split.csv"
    out_dir = paths.stage_dir("probe") / variant
    spec_file = paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE
    run(
        params,
        embed_dir=paths.stage_dir("embed") / variant,
        split_csv=split_csv,
        out_dir=out_dir,
        model_dir=paths.model_dir("probe") / variant,
        live_dir=paths.live_dir("probe") / variant,
        variant=variant,
        spec_file=spec_file,
    )
    # Repeated splits (split.repeats > 1): the same training per extra split, predictions tagged with the
    # split; the model and curves kept are split 0's.
    with repeat_splits(split_csv) as extra:
        for name, split_r, scratch in extra:
            run(
                params,
                paths.stage_dir("embed") / variant,
                split_r,
                scratch / "out",
                scratch / "model",
                scratch / "live",
                spec_file,
                variant=variant,
            )
            if (scratch / "out/predictions.csv").is_file():  # absent when the variant was skipped
                add_split_predictions(out_dir / "predictions.csv", scratch / "out/predictions.csv", name)


if __name__ == "__main__":
    main()
