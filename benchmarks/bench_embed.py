"""Embed throughput: the embed stage's images/s next to a bare forward of the same model, in one run.

The stage path is what `embed` does per image: read the harmonised PNG, grayscale to RGB, the model's own
preprocessing, DataLoader batching, forward (bf16 autocast + channels_last on CUDA), L2 normalisation and the
copy back to the host. The bare path is `encode_image` on a random tensor already on the device. Their ratio
is the share of model speed the stage keeps (target >= 0.8 on a GPU, where DataLoader workers overlap decoding
with the forward; on a small CPU decoding and the model share the same cores, so the decode rate is printed
too). Both are measured in interleaved rounds and the best round of each is kept, so a busy machine biases
neither side.

    .venv/bin/python benchmarks/bench_embed.py [--model demo-tiny-clip] [--images 256] [--batch-size 32]
        [--workers 0] [--split data/processed/split/split.csv] [--device cuda]

`--model hf-hub:microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224` times the study's architecture; with
`--random-weights` it needs no downloaded weights (throughput does not depend on the weight values).
`--json FILE` also writes the figures as JSON (benchmarks/gpu_figures.sh).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from breast_density.models.clip import architecture_bundle, load_clip
from breast_density.models.devices import autocast, pick_device, to_channels_last
from breast_density.models.embedding import embed_images


def make_pngs(root: Path, n: int, size: tuple[int, int] = (256, 208), seed: int = 0) -> pd.DataFrame:
    """`n` harmonised-looking 8-bit PNGs (the demo's harmonize size) with their paths."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pixels = rng.integers(0, 256, size, dtype=np.uint8)
        path = root / f"img{i:05d}.png"
        cv2.imwrite(str(path), pixels)
        rows.append({"image_id": f"img{i:05d}", "path": str(path)})
    return pd.DataFrame(rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def bare_forward(bundle, n: int, batch_size: int, device: torch.device) -> float:
    """Images/s of encode_image on random device tensors (no I/O, no preprocessing)."""
    h, w = bundle.image_size
    batch = torch.randn(batch_size, 3, h, w, device=device)
    if device.type == "cuda":
        batch = batch.contiguous(memory_format=torch.channels_last)
    with autocast(device):
        bundle.model.encode_image(batch)  # warm-up (cudnn autotune, lazy init)
    _sync(device)
    batches = max(1, n // batch_size)
    start = time.perf_counter()
    for _ in range(batches):
        with autocast(device):
            features = bundle.model.encode_image(batch)
        torch.nn.functional.normalize(features.float(), dim=-1).cpu()
    _sync(device)
    return batches * batch_size / (time.perf_counter() - start)


def stage_path(bundle, frame: pd.DataFrame, batch_size: int, workers: int, device: torch.device) -> float:
    embed_images(
        bundle, frame.head(batch_size), batch_size=batch_size, workers=0, device=device, progress=False
    )
    _sync(device)
    start = time.perf_counter()
    embed_images(bundle, frame, batch_size=batch_size, workers=workers, device=device, progress=False)
    _sync(device)
    return len(frame) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="demo-tiny-clip")
    parser.add_argument("--random-weights", action="store_true", help="time the architecture, no weights")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--split", type=Path, help="embed these images (split.csv) instead of synthetic PNGs")
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()

    device = pick_device(args.device)
    torch.manual_seed(0)
    if args.random_weights or args.model.startswith("demo-"):
        bundle = architecture_bundle(args.model, device)
    else:
        bundle = load_clip(args.model, device=device)
    to_channels_last(bundle.model, device)

    with tempfile.TemporaryDirectory() as tmp:
        if args.split:
            frame = pd.read_csv(args.split, dtype=str).head(args.images)
        else:
            frame = make_pngs(Path(tmp), args.images)
        n = len(frame)
        stage, bare = 0.0, 0.0
        for _ in range(args.rounds):
            stage = max(stage, stage_path(bundle, frame, args.batch_size, args.workers, device))
            bare = max(bare, bare_forward(bundle, n, args.batch_size, device))

        # where the stage's time goes besides the model: PNG decode + preprocessing, one process
        from breast_density.data.datasets import HarmonizedImages

        dataset = HarmonizedImages(frame, transform=bundle.preprocess)
        start = time.perf_counter()
        for i in range(n):
            dataset[i]
        load = n / (time.perf_counter() - start)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    print(f"model {args.model} ({'random weights' if bundle.untrained else 'pretrained'}), input "
          f"{bundle.image_size[0]}x{bundle.image_size[1]}, {n} images, batch {args.batch_size}, "
          f"workers {args.workers}, device {name}, best of {args.rounds} rounds")  # fmt: skip
    print(f"  bare forward (random tensors)  {bare:9.1f} images/s")
    print(f"  embed stage path               {stage:9.1f} images/s")
    print(f"  PNG read + preprocess only     {load:9.1f} images/s")
    target = " (target >= 0.80 on GPU)" if device.type == "cuda" else ""
    print(f"  ratio stage / bare             {stage / bare:9.2f}{target}")
    if args.json:
        figures = {
            "model": args.model,
            "random_weights": bundle.untrained,
            "image_size": list(bundle.image_size),
            "images": n,
            "batch_size": args.batch_size,
            "workers": args.workers,
            "device": name,
            "bare_images_per_s": bare,
            "stage_images_per_s": stage,
            "load_images_per_s": load,
            "ratio_stage_bare": stage / bare,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
