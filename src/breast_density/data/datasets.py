"""Torch dataset over harmonised PNGs, shared by the embed and finetune stages.

One image geometry for every model (params `geometry`): the harmonised breast crop is not square (roughly
4:5), and open_clip's preprocessing resizes the short side and centre-crops, which cuts off the top and
bottom of the breast, while a plain resize to a square squashes it. `letterbox` pads the crop to a square
with background (0 = outside the breast) first, so any later resize or centre crop keeps every breast pixel;
`squash` resizes it to a square, so both model families see the same squashed image. `keep_aspect` pads the
crop only to the H:W ratio of the model's input (e.g. 1024 x 832 for a ConvNeXt), so a non-square input
spends its pixels on breast instead of padding; for a square input (every CLIP tower) it is `letterbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset


def load_grayscale_png(path: str | Path) -> np.ndarray:
    """Read an 8- or 16-bit harmonised PNG as uint8 (16-bit scaled down, so models see one range)."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: harmonised image missing or unreadable (rerun the harmonize stage)")
    if img.ndim == 3:  # a user-supplied colour PNG: keep luminance only
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    return img


GEOMETRIES = ("letterbox", "squash", "keep_aspect")


def input_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """A model input size given as an int (square) or [height, width], as (height, width)."""
    if isinstance(size, int):
        return size, size
    if len(size) != 2:
        raise ValueError(f"an input size is an int or [height, width], got {list(size)}")
    return int(size[0]), int(size[1])


def _pad_centred(gray: np.ndarray, rows: int, cols: int) -> np.ndarray:
    h, w = gray.shape[:2]
    out = np.zeros((rows, cols), dtype=gray.dtype)
    top, left = (rows - h) // 2, (cols - w) // 2
    out[top : top + h, left : left + w] = gray
    return out


def fit_geometry(
    gray: np.ndarray, geometry: str = "letterbox", input_size: tuple[int, int] | None = None
) -> np.ndarray:
    """The image shaped for a model input of `input_size` (height, width) before the model's resize.

    letterbox: padded (centred) to a square; squash: resized to a square; keep_aspect: padded on the short
    remainder only, to the input's height:width ratio (needs `input_size`).
    """
    h, w = gray.shape[:2]
    side = max(h, w)
    if geometry == "letterbox":
        return _pad_centred(gray, side, side)
    if geometry == "squash":
        return cv2.resize(gray, (side, side), interpolation=cv2.INTER_LINEAR)
    if geometry == "keep_aspect":
        if input_size is None:
            raise ValueError("geometry keep_aspect needs the model's input size (height, width)")
        ratio = input_size[0] / input_size[1]
        if h >= w * ratio:  # taller than the input: pad the width
            return _pad_centred(gray, h, max(w, round(h / ratio)))
        return _pad_centred(gray, max(h, round(w * ratio)), w)
    raise ValueError(f"unknown image geometry {geometry!r}; choose from {GEOMETRIES}")


def to_rgb_image(
    gray: np.ndarray, geometry: str = "letterbox", input_size: tuple[int, int] | None = None
) -> Image.Image:
    """Grayscale in the given geometry, replicated to 3 channels: both BiomedCLIP and ImageNet ConvNeXt
    expect RGB input."""
    return Image.fromarray(fit_geometry(gray, geometry, input_size), mode="L").convert("RGB")


class HarmonizedImages(Dataset):
    """Rows of a split/dataset frame (needs `path`; `label` optional) -> (image tensor, class index).

    The class index is -1 when the frame has no label column (e.g. prediction on new images).
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        transform: Callable[[Image.Image], torch.Tensor],
        class_names: Sequence[str] | None = None,
        geometry: str = "letterbox",
        input_size: tuple[int, int] | None = None,  # (height, width) the transform resizes to
    ) -> None:
        if geometry not in GEOMETRIES:
            raise ValueError(f"unknown image geometry {geometry!r}; choose from {GEOMETRIES}")
        if geometry == "keep_aspect" and input_size is None:
            raise ValueError("geometry keep_aspect needs the model's input size (height, width)")
        self.paths = frame["path"].tolist()
        self.transform = transform
        self.geometry = geometry
        self.input_size = input_size
        if class_names is not None and "label" in frame:
            index = {name: i for i, name in enumerate(class_names)}
            unknown = sorted(set(frame["label"]) - set(index))
            if unknown:
                raise ValueError(f"labels {unknown} are not in the configured classes {list(class_names)}")
            self.targets = [index[label] for label in frame["label"]]
        else:
            self.targets = [-1] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = to_rgb_image(load_grayscale_png(self.paths[i]), self.geometry, self.input_size)
        return self.transform(image), self.targets[i]
