"""Stage zeroshot (one per CLIP variant): the stage that owns the class prompts.

It embeds `classes[].prompt` and every `zeroshot.templates` entry with the variant's CLIP, classifies every
labelled image by cosine similarity to the class prompts, and saves the class embeddings as a bundle for
`breast-density predict`. Editing a prompt reruns only this stage and evaluate.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from breast_density import paths
from breast_density.io import reset_dir, write_csv
from breast_density.models.bundle import write_bundle
from breast_density.models.devices import pick_device
from breast_density.models.embedding import class_text_embeddings
from breast_density.models.embedding_files import load_embeddings, read_split, rows_for
from breast_density.models.prediction_frame import prediction_frame
from breast_density.models.variants import BASE, clip_source, load_variant, skipped_reason, write_skipped
from breast_density.models.zeroshot import (
    CLASS_EMBEDDINGS,
    WEIGHTS_FILE,
    class_prompts,
    zero_shot_probabilities,
)
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(
    params: Params,
    embed_dir: str | Path,
    split_csv: str | Path,
    out_dir: str | Path,
    model_dir: str | Path | None = None,
    *,
    variant: str = BASE,
    adapted_dir: str | Path | None = None,  # the adapt stage's bundle (default: models/adapt)
    spec_file: str | Path | None = None,  # harmonize's recipe, copied into the bundle for predict
    device: str | None = None,
) -> pd.DataFrame | None:
    """Zero-shot predictions for every labelled image (all partitions), written to predictions.csv; the
    prompts' class embeddings (and `spec_file`) go to `model_dir`. None when the variant was skipped."""
    skipped = skipped_reason(embed_dir)
    if skipped:
        log.warning("zero-shot with the %s CLIP skipped: %s", variant, skipped)
        for folder in (out_dir, model_dir):
            if folder is not None:
                write_skipped(folder, skipped)
        return None
    cfg = params.embed
    adapted_dir = Path(adapted_dir or paths.model_dir("adapt"))
    source = clip_source(variant, cfg.model, cfg.pretrained, cfg.revision, adapted_dir)
    split = read_split(split_csv, ("image_id", "label", "partition"))
    split = split[split["label"] != ""].reset_index(drop=True)
    index, images, meta = load_embeddings(embed_dir)
    if meta.get("model") != source.model:
        raise ValueError(
            f"{embed_dir}: embedded with {meta.get('model')!r} but the {variant} CLIP is {source.model!r}; "
            f"rerun `dvc repro embed@{variant}`"
        )
    x = rows_for(split, index, images, Path(embed_dir))
    device = pick_device(device)
    seed_everything(params.base.seed)  # the demo base model draws the same random weights as embed did
    bundle = load_variant(source, device)
    prompts = class_prompts(params.classes, params.zeroshot.templates)
    texts = class_text_embeddings(bundle, prompts, device)
    if not np.isfinite(texts).all():
        raise FloatingPointError(f"{source.model}: non-finite prompt embeddings (broken weights)")
    probs = zero_shot_probabilities(x, texts, bundle.logit_scale)
    table = prediction_frame(split, probs, params.class_names)
    out = reset_dir(out_dir)
    write_csv(out / "predictions.csv", table)
    if model_dir is not None:
        write_bundle(
            reset_dir(model_dir),
            {
                "kind": "zeroshot",
                "variant": variant,
                "classes": params.class_names,
                "prompts": prompts,
                "logit_scale": bundle.logit_scale,
                "clip_model": source.model,
                "clip_pretrained": source.pretrained,
                "clip_revision": source.revision,
                "seed": params.base.seed,
                "untrained": bundle.untrained,
                "harmonize_spec": paths.BUNDLE_SPEC_FILE if spec_file is not None else None,
            },
            weights={CLASS_EMBEDDINGS: torch.from_numpy(texts)},
            weights_file=WEIGHTS_FILE,
            copies={paths.BUNDLE_SPEC_FILE: Path(spec_file)} if spec_file is not None else None,
        )
    correct = table["actual"] == table["predicted"]
    for part, acc in correct.groupby(table["partition"]).mean().items():
        log.info(
            "%s zero-shot accuracy on %s: %.3f (%d images)",
            variant,
            part,
            acc,
            int((table["partition"] == part).sum()),
        )
    if bundle.untrained:
        log.warning("the %s CLIP is an untrained demo model: these accuracies are meaningless", variant)
    return table


def main() -> None:
    params = stage_setup("zeroshot")
    variant = sys.argv[1] if len(sys.argv) > 1 else BASE
    run(
        params,
        paths.stage_dir("embed") / variant,
        paths.stage_dir("split") / "split.csv",
        paths.stage_dir("zeroshot") / variant,
        paths.model_dir("zeroshot") / variant,
        variant=variant,
        adapted_dir=paths.model_dir("adapt") if variant != BASE else None,  # only the adapted CLIP reads it
        spec_file=paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
    )


if __name__ == "__main__":
    main()
