"""Stage embed: frozen CLIP image embeddings of every split image, and the class-prompt text embeddings."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import open_clip
import torch

from breast_density import paths
from breast_density.models.clip import load_clip
from breast_density.models.devices import pick_device, to_channels_last
from breast_density.models.embedding import class_text_embeddings, embed_images
from breast_density.models.embedding_files import read_split, write_embeddings
from breast_density.models.zeroshot import class_prompts
from breast_density.params import Params
from breast_density.seeding import seed_everything
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)

UNTRAINED_NOTE = (
    "untrained demo model (random seeded weights): embeddings, zero-shot and probe results are meaningless "
    "as absolute numbers; they only show that the pipeline runs"
)


def run(
    params: Params,
    split_csv: str | Path,
    out_dir: str | Path,
    device: str | None = None,
) -> dict:
    """Embed every image of `split_csv` and the class prompts; write them into `out_dir`. Returns meta."""
    frame = read_split(split_csv)
    device = pick_device(device)
    seed_everything(params.base.seed)  # fixes the demo model's random weights
    cfg = params.embed
    bundle = load_clip(cfg.model, pretrained=cfg.pretrained, revision=cfg.revision, device=device)
    to_channels_last(bundle.model, device)
    start = time.perf_counter()
    images = embed_images(
        bundle, frame, batch_size=cfg.batch_size, workers=cfg.workers, device=device, geometry=params.geometry
    )
    seconds = time.perf_counter() - start
    prompts = class_prompts(params.classes, params.zeroshot.templates)
    texts = class_text_embeddings(bundle, prompts, device)
    if not (np.isfinite(images).all() and np.isfinite(texts).all()):
        raise FloatingPointError(f"{cfg.model}: non-finite embeddings (broken weights or input images)")
    meta = {
        "model": cfg.model,
        "pretrained": cfg.pretrained,
        "revision": cfg.revision,
        "untrained": bundle.untrained,
        "note": UNTRAINED_NOTE if bundle.untrained else "",
        "logit_scale": bundle.logit_scale,
        "embed_dim": bundle.embed_dim,
        "image_size": list(bundle.image_size),
        "n_images": len(frame),
        "classes": params.class_names,
        "prompts": prompts,
        "device": str(device),  # bf16 on CUDA vs fp32 on CPU changes the last digits
        "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__},
    }
    # no timings in meta.json: the folder must hash the same when the stage is rerun on the same inputs
    write_embeddings(out_dir, frame["image_id"], images, texts, meta)
    log.info(
        "embedded %d images (%d dims) in %.1f s (%.1f images/s on %s); %d class prompts x %d each",
        len(frame),
        bundle.embed_dim,
        seconds,
        len(frame) / max(seconds, 1e-9),
        device,
        len(prompts),
        len(prompts[0]),
    )
    if bundle.untrained:
        log.warning("%s: %s", cfg.model, UNTRAINED_NOTE)
    return meta


def main() -> None:
    params = stage_setup("embed")
    run(params, paths.stage_dir("split") / "split.csv", paths.stage_dir("embed"))


if __name__ == "__main__":
    main()
