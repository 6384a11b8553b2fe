"""Arithmetic and file settings that give the data stages the same bytes on every x86-64 machine.

numpy's transcendental ufuncs (exp, cos, arctan2, log1p, power on float32; exp/log on float64 with AVX-512)
and OpenCV's float filters (blur, resize, remap) choose SIMD kernels when the process starts, by the CPU.
The kernels agree to a few units in the last place, not bit for bit, and a stage that then rounds to
integers (stored DICOM values, PNG levels) writes different bytes on another CPU. The cure used here: such
an operation runs in float64 and its result is rounded to float32 at once. A few-ulp float64 disagreement
survives that rounding only when the exact value lies within those ulps of a float32 rounding boundary
(about one value in 10^8 differs at all, and far fewer of those then change an integer output).
Exact operations (+, -, *, /, sqrt, comparisons, integer code) need no care.

The renderer's results change once with this rounding; afterwards they no longer depend on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from pydicom.encaps import encapsulate, generate_frames

# Matplotlib writes its version into every PNG ("Software" text chunk): a library upgrade alone would change
# the bytes of an unchanged figure. Pass as savefig(..., metadata=PNG_METADATA).
PNG_METADATA: dict[str, None] = {"Software": None}
# pydicom writes its own version as a file's ImplementationVersionName ("PYDICOM 3.0.2") unless one is set:
# a pydicom upgrade alone would change every DICOM the pipeline writes.
DICOM_IMPLEMENTATION_VERSION = "BREAST_DENSITY"
_J2K_SOC, _J2K_SOT, _J2K_COM = b"\xff\x4f", b"\xff\x90", b"\xff\x64"  # JPEG 2000 codestream markers
# cv2.imencode(".png", image, PNG_PARAMS): zlib level and strategy pinned instead of OpenCV's build default.
PNG_PARAMS: list[int] = [
    cv2.IMWRITE_PNG_COMPRESSION, 6, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_DEFAULT
]  # fmt: skip


def without_j2k_comments(pixel_data: bytes) -> bytes:
    """Encapsulated single-frame JPEG 2000 *Pixel Data* without the codestream's COM segments.

    OpenJPEG writes "Created by OpenJPEG version X" into every codestream it makes; the pixels do not need it.
    """
    frame = next(generate_frames(pixel_data, number_of_frames=1))
    if frame[:2] != _J2K_SOC:
        raise ValueError("not a JPEG 2000 codestream (no SOC marker)")
    kept, pos = [frame[:2]], 2
    # Main-header segments: marker (2 bytes), length (2 bytes, counting itself), body; up to the first SOT.
    while pos + 4 <= len(frame) and frame[pos : pos + 2] != _J2K_SOT:
        end = pos + 2 + int.from_bytes(frame[pos + 2 : pos + 4], "big")
        if frame[pos : pos + 2] != _J2K_COM:
            kept.append(frame[pos:end])
        pos = end
    kept.append(frame[pos:])
    return encapsulate([b"".join(kept)])


def rounded(func: Callable[..., Any], *args: Any, **kwargs: Any) -> np.ndarray:
    """`func` evaluated on float64 copies of the positional array arguments, result rounded to float32.

    Keyword arguments are passed unchanged (e.g. cv2.remap's float32 maps).

    Works for numpy ufuncs (`rounded(np.exp, x)`) and OpenCV filters that accept float64 images
    (`rounded(cv2.GaussianBlur, image, (0, 0), sigma)`).
    """
    wide = [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args]
    return np.asarray(func(*wide, **kwargs)).astype(np.float32)


def exp(x: np.ndarray) -> np.ndarray:
    return rounded(np.exp, x)


def cos(x: np.ndarray) -> np.ndarray:
    return rounded(np.cos, x)


def log1p(x: np.ndarray) -> np.ndarray:
    return rounded(np.log1p, x)


def arctan2(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return rounded(np.arctan2, y, x)


def power(x: np.ndarray, p: float) -> np.ndarray:
    return rounded(np.power, x, p)
