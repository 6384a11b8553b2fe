"""Breast mask of a (downsampled) mammogram: air threshold, largest component, holes filled.

Burned-in laterality markers and text labels are bright but small and separate from the breast, so keeping
only the largest connected component drops them; a small opening first cuts thin bridges between a marker
and the skin line.
"""

from __future__ import annotations

import cv2
import numpy as np

# Below this fraction of the image the "breast" is almost surely a marker or noise (blank or failed exposure).
MIN_BREAST_FRACTION = 0.02


class MaskError(ValueError):
    """No plausible breast region in the image."""


def reduction_factor(shape: tuple[int, ...], max_side: int) -> int:
    """The integer factor `downsample` divides both sides by."""
    return max(1, max(shape) // max_side)


def downsample(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Area-average `pixels` so its longest side is about `max_side`, in one pass over the full image.

    An integer reduction factor is used, after trimming at most factor-1 edge rows/columns, because OpenCV's
    INTER_AREA has a much faster path for integer factors; the result's longest side is >= max_side.
    """
    factor = reduction_factor(pixels.shape, max_side)
    if factor == 1:
        return pixels
    rows, cols = (pixels.shape[0] // factor), (pixels.shape[1] // factor)
    trimmed = pixels[: rows * factor, : cols * factor]
    return cv2.resize(trimmed, (cols, rows), interpolation=cv2.INTER_AREA)


def air_threshold(scaled: np.ndarray) -> float:
    """Grey level separating air from breast in an 8-bit image.

    Otsu alone fails on windowed images of fatty breasts: fat sits just above air, and Otsu splits fat from
    gland instead. So Otsu only bounds the dark side (air, plus fat when the breast is fatty), and the
    triangle method on that dark side cuts at the foot of its dominant peak, the air.
    """
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = scaled[scaled <= otsu]
    if dark.size == 0 or dark.min() == dark.max():
        return otsu
    triangle, _ = cv2.threshold(dark.reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_TRIANGLE)
    return min(triangle, otsu)


def breast_mask(image: np.ndarray) -> np.ndarray:
    """Boolean mask of the breast in a small (a few hundred px) dense-bright image.

    Raises MaskError when nothing breast-like is found (blank image, or only a marker-sized object).
    """
    if image.ndim != 2 or min(image.shape) < 8:
        raise MaskError(f"image of shape {image.shape} is too small to find a breast in")
    if image.max() == image.min():
        raise MaskError("image is blank (a single intensity)")
    # 8-bit min-max rescale (256 levels separate air from tissue), smoothed so detector noise in the air
    # (strong after gamma-like vendor curves) stays below the threshold.
    scaled = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX, dtype=cv2.CV_8U)
    scaled = cv2.GaussianBlur(scaled, (0, 0), max(1.0, min(image.shape) / 150))
    foreground = (scaled > air_threshold(scaled)).astype(np.uint8)
    side = max(3, (min(image.shape) // 100) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count < 2:
        raise MaskError("nothing brighter than the air background")
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[largest, cv2.CC_STAT_AREA] < MIN_BREAST_FRACTION * image.size:
        raise MaskError(
            f"largest bright region covers {stats[largest, cv2.CC_STAT_AREA] / image.size:.1%} of the image "
            f"(< {MIN_BREAST_FRACTION:.0%}): no breast found"
        )
    return fill_holes(labels == largest)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill enclosed background (dark fatty pockets inside the breast) by flooding the outside."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1] + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask
    flood_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(padded, flood_mask, (0, 0), 2)
    return padded[1:-1, 1:-1] != 2


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1), half-open, of the True pixels of a non-empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
