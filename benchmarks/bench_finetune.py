"""Fine-tuning throughput: the finetune stage's training images/s next to a bare training step, in one run.

The stage path is `models.training.fit` exactly as the stage calls it: harmonised PNG read, grayscale to RGB,
the seeded augmentation, DataLoader batching (workers, pinned memory on CUDA), forward + backward + AdamW step
(bf16 autocast + channels_last on CUDA), timed over whole training epochs (validation excluded). The bare
path is the same model and optimiser stepping on one random batch already on the device. Their ratio is the
share of model speed the stage keeps (target >= 0.8 on a GPU; on a small CPU, decoding and augmentation share
the cores with the model, so the loader-only rate is printed too).

    .venv/bin/python benchmarks/bench_finetune.py [--arch convnext_atto] [--img-size 128] [--images 256]
        [--batch-size 64] [--epochs 3] [--workers 2] [--split data/processed/split/split.csv] [--device cuda]

The study's configuration (timing per epoch on a GPU): --arch convnext_base.fb_in22k_ft_in1k --img-size 224.
Weights are random: throughput does not depend on their values.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from breast_density.data.datasets import HarmonizedImages
from breast_density.models.augment import eval_transform, train_transform
from breast_density.models.convnext import create_convnext, model_data_config
from breast_density.models.devices import autocast, pick_device, to_channels_last
from breast_density.models.training import EpochSampler, SeededSamples, TrainSettings, fit, make_loader
from breast_density.params import AugmentParams

CLASSES = ["A", "B", "C", "D"]


def make_pngs(root: Path, n: int, size: tuple[int, int] = (256, 208), seed: int = 0) -> pd.DataFrame:
    """`n` harmonised-looking 8-bit PNGs (the demo's harmonize size) with labels and paths."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pixels = rng.integers(0, 256, size, dtype=np.uint8)
        path = root / f"img{i:05d}.png"
        cv2.imwrite(str(path), pixels)
        rows.append({"image_id": f"img{i:05d}", "path": str(path), "label": CLASSES[i % len(CLASSES)]})
    return pd.DataFrame(rows)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_steps(model: torch.nn.Module, n: int, batch_size: int, img_size: int, device: torch.device) -> float:
    """Images/s of forward + backward + AdamW on one random device batch (no I/O, no augmentation)."""
    model = to_channels_last(model.to(device), device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.randn(batch_size, 3, img_size, img_size, device=device)
    if device.type == "cuda":
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, len(CLASSES), (batch_size,), device=device)

    def step() -> None:
        with autocast(device):
            logits = model(images)
        loss = torch.nn.functional.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up: lazy init, cudnn autotune
    _sync(device)
    steps = max(2, n // batch_size)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return steps * batch_size / (time.perf_counter() - start)


def loader_only(dataset: HarmonizedImages, batch_size: int, workers: int, device: torch.device) -> float:
    """Images/s of the training DataLoader alone (decode + augmentation + batching)."""
    sampler = EpochSampler(len(dataset), seed=0)
    loader = make_loader(SeededSamples(dataset), batch_size, workers, device, sampler)
    start = time.perf_counter()
    seen = sum(len(targets) for _, targets in loader)
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="convnext_atto")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--split", type=Path, help="train on these images (split.csv) instead of synthetic PNGs"
    )
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    device = pick_device(args.device)
    torch.manual_seed(0)
    model = create_convnext(args.arch, len(CLASSES))
    cfg = model_data_config(model, args.img_size)
    norm = (args.img_size, cfg["mean"], cfg["std"], cfg["interpolation"])
    with tempfile.TemporaryDirectory() as tmp:
        if args.split:
            frame = pd.read_csv(args.split, dtype=str).head(args.images)
        else:
            frame = make_pngs(Path(tmp), args.images)
        n = len(frame)
        train_set = HarmonizedImages(frame, train_transform(AugmentParams(), *norm), CLASSES)
        val_set = HarmonizedImages(frame.head(args.batch_size), eval_transform(*norm), CLASSES)
        loader_rate = loader_only(train_set, args.batch_size, args.workers, device)
        settings = TrainSettings(
            lr=1e-4,
            weight_decay=0.05,
            batch_size=args.batch_size,
            max_epochs=args.epochs,
            patience=args.epochs + 1,
            lr_schedule="constant",
            workers=args.workers,
            seed=0,
        )
        result = fit(model, train_set, val_set, settings, device=device)
    # Separate model instance for the bare path, so neither measurement inherits the other's state.
    bare = bare_steps(create_convnext(args.arch, len(CLASSES)), n, args.batch_size, args.img_size, device)

    seconds = result.epoch_seconds
    stage = n * len(seconds) / sum(seconds)
    steady = n * (len(seconds) - 1) / sum(seconds[1:]) if len(seconds) > 1 else stage
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    print(
        f"{args.arch} at {args.img_size} px, {n} images, batch {args.batch_size}, {args.epochs} epochs, "
        f"workers {args.workers}, device {name}"
    )
    print(f"  epoch times (training part)     {', '.join(f'{s:.1f}' for s in seconds)} s")
    print(f"  bare train step (random batch)  {bare:9.1f} images/s")
    print(f"  stage, all epochs               {stage:9.1f} images/s")
    print(f"  stage, epochs 2+ (warm workers) {steady:9.1f} images/s")
    print(f"  training loader alone           {loader_rate:9.1f} images/s")
    target = " (target >= 0.80 on GPU)" if device.type == "cuda" else ""
    print(f"  ratio stage / bare              {stage / bare:9.2f}{target}")


if __name__ == "__main__":
    main()
