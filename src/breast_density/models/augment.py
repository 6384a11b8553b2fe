"""Image transforms for ConvNeXt training and inference (torchvision.transforms.v2).

Mammogram-suited augmentation: flips (density does not depend on laterality), a small rotation/zoom
(positioning varies between exams), and mild brightness/contrast jitter (residual exposure differences
after harmonisation). No colour, crop or strong geometric changes: they would remove breast tissue or
invent appearances that do not occur in the modality.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

from breast_density.data.datasets import input_hw
from breast_density.params import AugmentParams


def _resize(img_size: int | Sequence[int], interpolation: str) -> v2.Resize:
    # The image already has the input's shape (data.datasets.fit_geometry); a plain resize keeps the breast.
    return v2.Resize(input_hw(img_size), interpolation=v2.InterpolationMode(interpolation), antialias=True)


def _to_model_input(mean: Sequence[float], std: Sequence[float]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]


def eval_transform(
    img_size: int | Sequence[int], mean: Sequence[float], std: Sequence[float], interpolation: str = "bicubic"
) -> v2.Compose:
    """Deterministic transform for validation, test and predict."""
    return v2.Compose([v2.ToImage(), _resize(img_size, interpolation), *_to_model_input(mean, std)])


def train_transform(
    aug: AugmentParams,
    img_size: int | Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    interpolation: str = "bicubic",
) -> v2.Compose:
    """Random augmentation, applied after the resize so it costs little at any harmonised size."""
    steps: list[v2.Transform] = [v2.ToImage(), _resize(img_size, interpolation)]
    if aug.hflip:
        steps.append(v2.RandomHorizontalFlip(p=0.5))
    if aug.vflip:
        steps.append(v2.RandomVerticalFlip(p=0.5))
    if aug.rotate_degrees > 0 or aug.scale > 0 or aug.translate > 0:
        steps.append(
            v2.RandomAffine(
                degrees=aug.rotate_degrees,
                translate=(aug.translate, aug.translate) if aug.translate > 0 else None,
                scale=(1 - aug.scale, 1 + aug.scale) if aug.scale > 0 else None,
                interpolation=v2.InterpolationMode.BILINEAR,
                fill=0,  # background outside the breast is black after harmonisation
            )
        )
    if aug.brightness > 0 or aug.contrast > 0:
        steps.append(v2.ColorJitter(brightness=aug.brightness, contrast=aug.contrast))
    return v2.Compose([*steps, *_to_model_input(mean, std)])
