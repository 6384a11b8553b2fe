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
The hires profile: --img-size 1024x832 --geometry keep_aspect --png-size 2048 --png-bits 16 --precision bf16
--channels-last true --grad-checkpointing (benchmarks/gpu_figures.sh runs both). `--json FILE` also writes the
figures as JSON. Weights are random: throughput does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from breast_density.data.datasets import GEOMETRIES, HarmonizedImages, input_hw
from breast_density.models.augment import eval_transform, train_transform
from breast_density.models.convnext import create_convnext, model_data_config
from breast_density.models.devices import (
    PRECISIONS,
    autocast,
    channels_last_on,
    pick_device,
    to_channels_last,
)
from breast_density.models.training import EpochSampler, SeededSamples, TrainSettings, fit, make_loader
from breast_density.params import AugmentParams

CLASSES = ["A", "B", "C", "D"]


def make_pngs(
    root: Path, n: int, size: tuple[int, int] = (256, 208), seed: int = 0, bits: int = 8
) -> pd.DataFrame:
    """`n` harmonised-looking PNGs (by default 8-bit at the demo's harmonize size) with labels and paths.

    Smooth texture inside a half-ellipse breast and 0 outside, rather than pixel noise, so PNG sizes and
    decode times are close to real harmonised images'. Written by a thread pool (OpenCV releases the GIL):
    2048 px 16-bit images take most of a second each to encode."""
    top = 255 if bits == 8 else 65535
    rows_, cols = size
    yy, xx = np.mgrid[:rows_, :cols]
    breast = ((yy - rows_ / 2) / (0.48 * rows_)) ** 2 + (xx / (0.95 * cols)) ** 2 < 1

    def write(i: int) -> dict[str, str]:
        rng = np.random.default_rng([seed, i])
        coarse = rng.uniform(0.2 * top, top, (max(2, rows_ // 16), max(2, cols // 16))).astype(np.float32)
        pixels = cv2.resize(coarse, (cols, rows_), interpolation=cv2.INTER_CUBIC).clip(1, top)
        pixels = np.where(breast, pixels, 0).astype(np.uint8 if bits == 8 else np.uint16)
        path = root / f"img{i:05d}.png"
        cv2.imwrite(str(path), pixels)
        return {"image_id": f"img{i:05d}", "path": str(path), "label": CLASSES[i % len(CLASSES)]}

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return pd.DataFrame(list(pool.map(write, range(n))))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_steps(
    model: torch.nn.Module,
    n: int,
    batch_size: int,
    img_size: tuple[int, int],
    device: torch.device,
    precision: str = "auto",
    channels_last: bool | str = "auto",
) -> float:
    """Images/s of forward + backward + AdamW on one random device batch (no I/O, no augmentation)."""
    model = to_channels_last(model.to(device), device, channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.randn(batch_size, 3, *img_size, device=device)
    if channels_last_on(device, channels_last):
        images = images.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, len(CLASSES), (batch_size,), device=device)

    def step() -> None:
        with autocast(device, precision):
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


def _hw(text: str) -> tuple[int, int]:
    """'224' or '1024x832' (height x width)."""
    parts = [int(p) for p in text.lower().split("x")]
    return input_hw(parts[0] if len(parts) == 1 else parts)


def _channels_last(text: str) -> bool | str:
    return text if text == "auto" else text == "true"


def _model(args: argparse.Namespace) -> torch.nn.Module:
    model = create_convnext(args.arch, len(CLASSES))
    if args.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="convnext_atto")
    parser.add_argument("--img-size", type=_hw, default=(128, 128), help="224 or HEIGHTxWIDTH, e.g. 1024x832")
    parser.add_argument("--geometry", choices=GEOMETRIES, default="letterbox")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--png-size", type=_hw, default=(256, 208), help="synthetic PNG HEIGHTxWIDTH")
    parser.add_argument("--png-bits", type=int, choices=[8, 16], default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--channels-last", type=_channels_last, default="auto", help="auto | true | false")
    parser.add_argument("--grad-checkpointing", action="store_true")
    parser.add_argument(
        "--split", type=Path, help="train on these images (split.csv) instead of synthetic PNGs"
    )
    parser.add_argument("--device", default=None, help="cpu | cuda (default: cuda when present)")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    device = pick_device(args.device)
    torch.manual_seed(0)
    model = _model(args)
    cfg = model_data_config(model, args.img_size)
    norm = (args.img_size, cfg["mean"], cfg["std"], cfg["interpolation"])
    shape = (args.geometry, args.img_size)
    with tempfile.TemporaryDirectory() as tmp:
        if args.split:
            frame = pd.read_csv(args.split, dtype=str).head(args.images)
        else:
            frame = make_pngs(Path(tmp), args.images, args.png_size, bits=args.png_bits)
        n = len(frame)
        train_set = HarmonizedImages(frame, train_transform(AugmentParams(), *norm), CLASSES, *shape)
        val_set = HarmonizedImages(frame.head(args.batch_size), eval_transform(*norm), CLASSES, *shape)
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
            precision=args.precision,
            channels_last=args.channels_last,
        )
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        result = fit(model, train_set, val_set, settings, device=device)
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    result.model = model = None  # free the stage's model and optimiser before the bare measurement
    if device.type == "cuda":
        torch.cuda.empty_cache()
    # Separate model instance for the bare path, so neither measurement inherits the other's state.
    bare = bare_steps(
        _model(args), n, args.batch_size, args.img_size, device, args.precision, args.channels_last
    )

    seconds = result.epoch_seconds
    stage = n * len(seconds) / sum(seconds)
    steady = n * (len(seconds) - 1) / sum(seconds[1:]) if len(seconds) > 1 else stage
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"
    size = "x".join(map(str, args.img_size))
    print(
        f"{args.arch} at {size} px ({args.geometry}), {n} images, batch {args.batch_size}, {args.epochs} "
        f"epochs, workers {args.workers}, precision {args.precision}, channels_last {args.channels_last}, "
        f"grad checkpointing {args.grad_checkpointing}, device {name}"
    )
    print(f"  epoch times (training part)     {', '.join(f'{s:.1f}' for s in seconds)} s")
    print(f"  bare train step (random batch)  {bare:9.1f} images/s")
    print(f"  stage, all epochs               {stage:9.1f} images/s")
    print(f"  stage, epochs 2+ (warm workers) {steady:9.1f} images/s")
    print(f"  training loader alone           {loader_rate:9.1f} images/s")
    target = " (target >= 0.80 on GPU)" if device.type == "cuda" else ""
    print(f"  ratio stage / bare              {stage / bare:9.2f}{target}")
    if peak is not None:
        print(f"  peak GPU memory (stage)         {peak:9.1f} GiB")
    if args.json:
        figures = {
            "arch": args.arch,
            "img_size": list(args.img_size),
            "geometry": args.geometry,
            "images": n,
            "batch_size": args.batch_size,
            "epochs": args.epochs,
            "workers": args.workers,
            "precision": args.precision,
            "channels_last": args.channels_last,
            "grad_checkpointing": args.grad_checkpointing,
            "device": name,
            "epoch_seconds": seconds,
            "bare_images_per_s": bare,
            "stage_images_per_s": stage,
            "stage_steady_images_per_s": steady,
            "loader_images_per_s": loader_rate,
            "ratio_stage_bare": stage / bare,
            "peak_gpu_memory_gib": peak,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
