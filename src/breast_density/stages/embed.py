"""Stage embed (one per CLIP variant): frozen CLIP image embeddings of every split image.

`python -m breast_density.stages.embed [base|adapted]`. Prompts are the zeroshot stage's business: editing
one never re-embeds the images.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import open_clip
import torch

from breast_density import paths
from breast_density.models.devices import pick_device, to_channels_last
from breast_density.models.embedding import embed_images
from breast_density.models.embedding_files import read_split, write_embeddings
from breast_density.models.variants import BASE, clip_source, load_variant, skipped_reason, write_skipped
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
    *,
    variant: str = BASE,
    adapted_dir: str | Path | None = None,  # the adapt stage's bundle (default: models/adapt)
) -> dict:
    """Embed every image of `split_csv` with the variant's CLIP into `out_dir`. Returns meta."""
    cfg = params.embed
    adapted_dir = Path(adapted_dir or paths.model_dir("adapt"))
    source = clip_source(variant, cfg.model, cfg.pretrained, cfg.revision, adapted_dir)
    skipped = skipped_reason(adapted_dir) if variant != BASE else None
    if skipped:
        log.warning("CLIP variant %s skipped: %s", variant, skipped)
        write_skipped(out_dir, skipped)
        return {"variant": variant, "skipped": skipped}
    frame = read_split(split_csv)
    device = pick_device(device)
    seed_everything(params.base.seed)  # fixes the demo model's random weights
    bundle = load_variant(source, device)
    to_channels_last(bundle.model, device)
    start = time.perf_counter()
    images = embed_images(
        bundle, frame, batch_size=cfg.batch_size, workers=cfg.workers, device=device, geometry=params.geometry
    )
    seconds = time.perf_counter() - start
    if not np.isfinite(images).all():
        raise FloatingPointError(f"{source.model}: non-finite embeddings (broken weights or input images)")
    meta = {
        "variant": variant,
        "model": source.model,
        "pretrained": source.pretrained,
        "revision": source.revision,
        "untrained": bundle.untrained,
        "note": UNTRAINED_NOTE if bundle.untrained else "",
        "embed_dim": bundle.embed_dim,
        "image_size": list(bundle.image_size),
        "n_images": len(frame),
        "device": str(device),  # bf16 on CUDA vs fp32 on CPU changes the last digits
        "versions": {"torch": torch.__version__, "open_clip": open_clip.__version__},
    }
    # no timings in meta.json: the folder must hash the same when the stage is rerun on the same inputs
    write_embeddings(out_dir, frame["image_id"], images, meta)
    log.info(
        "embedded %d images (%d dims) with the %s CLIP in %.1f s (%.1f images/s on %s)",
        len(frame),
        bundle.embed_dim,
        variant,
        seconds,
        len(frame) / max(seconds, 1e-9),
        device,
    )
    if bundle.untrained:
        log.warning("%s: %s", source.model, UNTRAINED_NOTE)
    return meta


def main() -> None:
    params = stage_setup("embed")
    variant = sys.argv[1] if len(sys.argv) > 1 else BASE
    run(
        params,
        paths.stage_dir("split") / "split.csv",
        paths.stage_dir("embed") / variant,
        variant=variant,
        adapted_dir=paths.model_dir("adapt") if variant != BASE else None,  # only the adapted CLIP reads it
    )


if __name__ == "__main__":
    main()
