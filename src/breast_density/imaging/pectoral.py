"""The pectoral muscle of a medio-lateral oblique (MLO) view, found on the small working copy.

On an MLO view the muscle is a bright, roughly triangular region in the upper chest-wall corner of the breast
mask, bounded towards the breast by a near-straight edge that runs from the top of the mask down to the chest
wall. It is found in three steps, with the chest wall put on the left first:
1. Inside the upper chest-wall part of the breast, an Otsu level on the smoothed breast pixels separates the
   muscle from the tissue beside it; each row's run of bright pixels starting at the chest wall is a candidate
   position of the muscle's edge.
2. A straight line x = a + b*y is fitted to those edge positions, refitted twice without the rows that stray
   from it (glandular tissue touching the muscle extends a run; a fat gap shortens one). The fit uses exact
   integer sums, so the line, hence the mask, is the same on every machine.
3. The line must look like a pectoral edge (leaning towards the chest wall going down, reaching it inside the
   breast, enclosing a plausible share of the breast); otherwise no muscle is reported.
"""

from __future__ import annotations

import cv2
import numpy as np

from breast_density.imaging.mask import bounding_box

# Share of the breast's height and width (from the top and from the chest wall) searched for the muscle.
_SEARCH = 0.7
# Plausible muscle area, as a share of the breast mask.
_MIN_SHARE, _MAX_SHARE = 0.01, 0.45
_MIN_ROWS = 5  # edge positions needed for a line fit
_MIN_SPREAD = 20  # grey levels (of 256) around the muscle's level that still count as muscle


def pectoral_region(image: np.ndarray, mask: np.ndarray, chest_wall_right: bool) -> np.ndarray:
    """Bool mask (same frame as `mask`) of the pectoral muscle of an MLO view; all False when none is found.

    `image`: the (small) dense-bright uint16 image the breast `mask` was computed on.
    """
    found = np.zeros(mask.shape, dtype=bool)
    if not mask.any():
        return found
    if chest_wall_right:  # work with the chest wall on the left
        image, mask = image[:, ::-1], mask[:, ::-1]
    r0, r1, c0, c1 = bounding_box(mask)
    crop, inside = image[r0:r1, c0:c1], mask[r0:r1, c0:c1]
    rows, cols = inside.shape
    if min(rows, cols) < 16:
        return found
    search = np.zeros_like(inside)
    search[: int(np.ceil(_SEARCH * rows)), : int(np.ceil(_SEARCH * cols))] = True
    search &= inside
    edges = _edge_positions(crop, inside, search)
    if edges is None:
        return found
    line = _robust_line(*edges)
    if line is None:
        return found
    a, b = line
    yy = np.arange(rows, dtype=np.float64)[:, None]
    xx = np.arange(cols, dtype=np.float64)[None, :]
    muscle = (xx < a + b * yy) & inside
    share = muscle.sum() / inside.sum()
    # The edge leans towards the chest wall going down and meets it inside the breast.
    if not (b < 0 and a > 0 and -a / b < rows and _MIN_SHARE <= share <= _MAX_SHARE):
        return found
    found[r0:r1, c0:c1] = muscle
    return found[:, ::-1] if chest_wall_right else found


def _edge_positions(
    crop: np.ndarray, inside: np.ndarray, search: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, columns) where each searched row's bright run from the chest wall ends."""
    values = crop[search]
    if values.size < 64:
        return None
    lo, hi = int(values.min()), int(values.max())
    if hi <= lo:
        return None
    # 8-bit over the searched breast pixels; integer rescale and OpenCV's 8-bit fixed-point blur are exact.
    scaled = np.clip((crop.astype(np.int64) - lo) * 255 // (hi - lo), 0, 255).astype(np.uint8)
    smooth = cv2.GaussianBlur(scaled, (0, 0), max(1.0, min(crop.shape) / 100))
    level, _ = cv2.threshold(smooth[search].reshape(1, -1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # The muscle's own grey level, from the top chest-wall corner (muscle on every MLO view): dense glandular
    # tissue is as bright as muscle or brighter, so only pixels near the muscle's level count.
    corner = smooth[: max(2, crop.shape[0] // 20), : max(2, crop.shape[1] // 10)][
        search[: max(2, crop.shape[0] // 20), : max(2, crop.shape[1] // 10)]
    ]
    if corner.size == 0 or np.median(corner) <= level:
        return None  # the corner is not brighter than the tissue: no muscle to find
    centre = int(np.median(corner))
    spread = max(_MIN_SPREAD, 3 * int(np.median(np.abs(corner.astype(np.int64) - centre))))
    bright = (smooth > level) & (np.abs(smooth.astype(np.int64) - centre) <= spread) & search
    # Length of the run of bright pixels that starts at the chest wall (column 0), per row. A run that goes
    # on to the skin line or the end of the searched part says nothing about where the muscle ends.
    run, room = _run_from_chest_wall(bright), _run_from_chest_wall(search)
    ys = np.flatnonzero((run > 0) & (run < room))
    if ys.size < _MIN_ROWS:
        return None
    return ys.astype(np.int64), run[ys].astype(np.int64)


def _run_from_chest_wall(region: np.ndarray) -> np.ndarray:
    """Per row, how many pixels from column 0 on are in `region` without a gap."""
    return np.where(region.all(axis=1), region.shape[1], np.argmin(region, axis=1))


def _robust_line(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float] | None:
    """(a, b) of x = a + b*y: the Theil-Sen line (median of the pairwise slopes, median intercept), which
    ignores up to about a quarter of stray rows, then a least-squares refit on the rows close to it."""
    if np.unique(ys).size < 2:
        return None
    i, j = np.triu_indices(ys.size, k=1)
    dy = ys[j] - ys[i]
    slopes = (xs[j] - xs[i])[dy != 0] / dy[dy != 0]  # exact quotients of integers: machine-independent
    b = float(np.median(slopes))
    a = float(np.median(xs - b * ys))
    residual = np.abs(xs - (a + b * ys))
    keep = residual <= max(2.0, 2.5 * float(np.median(residual)))
    return _fit(ys[keep], xs[keep]) if keep.sum() >= _MIN_ROWS else (a, b)


def _fit(ys: np.ndarray, xs: np.ndarray) -> tuple[float, float] | None:
    """Least-squares line through integer points from exact integer sums (no summation-order effects)."""
    n, sy, sx = int(ys.size), int(ys.sum()), int(xs.sum())
    syy, sxy = int((ys * ys).sum()), int((xs * ys).sum())
    det = n * syy - sy * sy
    if det == 0:
        return None
    b = (n * sxy - sy * sx) / det
    a = (sx * syy - sy * sxy) / det
    return a, b
