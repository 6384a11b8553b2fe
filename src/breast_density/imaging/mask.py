"""Breast mask of a (downsampled) mammogram, robust to digitised film and other exports.

Steps, all OpenCV primitives on a few-hundred-pixel copy:
1. The *film*: scanned film is padded with exact zeros around the film rectangle. The air threshold is
   taken inside that rectangle, so the zero peak of the padding does not pull it below the film base fog.
2. Bright artefacts (adhesive labels, burned-in markers, ruler and step-wedge strips) are near the top of
   the range and flat; they are taken out of the foreground before the components are formed, so a label
   that touches the skin line does not become part of the breast.
3. The breast is the largest component touching the chest-wall side of the film (left or right edge).
4. Holes are filled back in: enclosed dark fat pockets, and bright regions that contain no air (an implant
   or saturated dense tissue removed in step 2), even where they reach the chest wall; a bright region with
   breast nearly all around it is tissue too, even where its edge reaches the skin line.
5. Quality figures (area fraction, border contact, components removed) decide whether the mask is usable;
   failures raise MaskError with a named reason, so the image is quarantined instead of silently kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Above this share of the non-air pixels, "bright" pixels are the breast itself (flat or saturated export).
_MAX_BRIGHT_SHARE = 0.3
# Share of a removed bright region's outline that must be breast for it to count as dense tissue.
_ENCLOSED = 0.75
# Kept for callers that import it: the default minimum breast area (fraction of the film).
MIN_BREAST_FRACTION = 0.02


class MaskError(ValueError):
    """No plausible breast region in the image; the message names the reason."""


@dataclass(frozen=True)
class MaskOptions:
    """Segmentation settings recorded in the harmonisation spec (so predict masks as training did)."""

    min_area: float = MIN_BREAST_FRACTION  # of the film: smaller means no breast found
    max_area: float = 0.97  # of the film: larger means the film background was kept
    bright_level: float = 0.94  # of the film's range: labels, markers and strips sit above it
    max_box_fill: float = 0.985  # a mask filling its bounding box this well is a test object
    blank_range: float = 0.01  # of the full scale: less contrast than this is a blank image
    remove_pectoral: bool = False  # MLO views: the pectoral muscle is taken out (imaging.pectoral)


@dataclass(frozen=True)
class BreastMask:
    mask: np.ndarray  # bool, the whole (downsampled) frame
    area_fraction: float  # of the film rectangle
    border_contact: float  # fraction of the film's outline the mask runs along
    components_removed: int  # bright artefacts and separate foreground components left out
    film_box: tuple[int, int, int, int]  # (row0, row1, col0, col1) inside the zero padding


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


def film_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """The film rectangle inside exact-minimum padding, or the whole frame when there is no such padding.

    A rectangle counts as padded film only if nearly all of it is above the minimum (film base fog); an
    image whose air itself decodes to the minimum (a clipping window) keeps the whole frame.
    """
    above = image > image.min()
    rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
    whole = (0, image.shape[0], 0, image.shape[1])
    if rows.size == 0:
        return whole
    box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
    inner = above[box[0] : box[1], box[2] : box[3]]
    return box if inner.mean() >= 0.95 else whole


def air_threshold(scaled: np.ndarray) -> float:
    """Grey level separating air (or film base) from breast in an 8-bit image.

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


def _check_not_blank(image: np.ndarray, options: MaskOptions) -> None:
    if _clearly_has_contrast(image, options.blank_range * 65535):
        return
    lo, hi = (float(v) for v in np.percentile(image, [0.1, 99.9]))
    if hi - lo >= options.blank_range * 65535:
        return
    level = (lo + hi) / 2 / 65535
    if level < 0.1:
        raise MaskError("all-black image: no contrast above the minimum")
    if level > 0.9:
        raise MaskError("all-white image: no contrast below the maximum")
    raise MaskError("blank image: a single grey level")


def _clearly_has_contrast(image: np.ndarray, spread: float) -> bool:
    """True when the 0.1-99.9 percentile range surely exceeds `spread`, from a 256-bin histogram.

    Nearly every image passes here, without the sort behind np.percentile; the percentiles are computed
    only when the bins cannot decide. Each percentile lies between two neighbouring order statistics; the
    bound uses the ones one place further out, so float rounding of the percentile's index cannot matter.
    """
    cumulative = np.cumsum(np.bincount((image >> 8).ravel(), minlength=256))
    n = image.size
    low_rank = min(n - 1, int(np.ceil(0.001 * (n - 1))) + 1)  # the 0.1 percentile is at most this value
    high_rank = max(0, int(np.floor(0.999 * (n - 1))) - 1)  # the 99.9 percentile is at least this value
    low_bin, high_bin = np.searchsorted(cumulative, [low_rank, high_rank], side="right")
    return int(high_bin) * 256 - (int(low_bin) * 256 + 255) >= spread


def segment_breast(image: np.ndarray, options: MaskOptions | None = None) -> BreastMask:
    """Breast mask and its quality figures for a small (a few hundred px) dense-bright uint16 image.

    Raises MaskError with a named reason when no usable breast mask is found.
    """
    options = options or MaskOptions()
    if image.ndim != 2 or min(image.shape) < 8:
        raise MaskError(f"image of shape {image.shape} is too small to find a breast in")
    _check_not_blank(image, options)
    r0, r1, c0, c1 = box = film_box(image)
    # A scanned film's outermost rows and columns carry the scanner's edge lines: segment inside them and
    # extend the result outwards, so a breast that reaches the film edge still does.
    margin = 0 if box == (0, image.shape[0], 0, image.shape[1]) else max(2, min(image.shape) // 150)
    if min(r1 - r0, c1 - c0) <= 4 * margin + 8:
        raise MaskError("no breast found: the film area is too small")
    film = image[r0 + margin : r1 - margin, c0 + margin : c1 - margin]
    # 8-bit rescale over the film (256 levels separate air from tissue), smoothed so detector or scanner
    # noise in the background stays below the threshold.
    lo, hi = int(film.min()), int(film.max())
    scaled = np.clip((film.astype(np.int64) - lo) * 255 // max(hi - lo, 1), 0, 255).astype(np.uint8)
    sigma = max(1.0, min(film.shape) / 150)
    smooth = cv2.GaussianBlur(scaled, (0, 0), sigma)
    # The threshold comes from the smoothed histogram; the edge from a median filter (noise out, the skin line
    # kept where it is) and a light blur (so the outline, hence the crop, is the same whatever the vendor).
    median = _edge_image(scaled, sigma)
    threshold = air_threshold(smooth)
    air = median <= threshold
    # Film fog and uneven exposure tilt the background, so that part of it may lie above the threshold: fit a
    # plane to everything up to a third of the way to the Otsu level (still below the thinnest fat at the
    # skin line), take the tilt out and threshold again.
    otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    flat = _detrend(scaled, median <= min(threshold + (otsu - threshold) // 3, 2 * threshold + 4))
    if flat is not None:
        scaled = flat
        smooth = cv2.GaussianBlur(scaled, (0, 0), sigma)
        air = _edge_image(scaled, sigma) <= air_threshold(smooth)
    # Bright artefacts, widened by the blur radius so their halo does not bridge them to the skin.
    # A label's printed letters are holes in it: close and fill them first. Then an opening: isolated noisy
    # pixels of dense tissue reach the level too, flat artefacts survive it.
    square = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    bright = (scaled >= round(255 * options.bright_level)).astype(np.uint8)
    bright = fill_holes(cv2.morphologyEx(bright, cv2.MORPH_CLOSE, square).astype(bool)).astype(np.uint8)
    bright = cv2.morphologyEx(bright, cv2.MORPH_OPEN, square)
    grow = 2 * int(np.ceil(sigma)) + 1
    bright = cv2.dilate(bright, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))).astype(bool)
    if bright.sum() > _MAX_BRIGHT_SHARE * (~air).sum():
        bright[:] = False  # a flat or saturated breast, not artefacts beside one
    foreground = (~air & ~bright).astype(np.uint8)
    # Wide enough to cut scratches, scanner lines and marker strokes off the skin line.
    side = max(3, (min(film.shape) // 60) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    foreground = cv2.morphologyEx(foreground, cv2.MORPH_OPEN, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(foreground, connectivity=8)
    if count < 2:
        raise MaskError("no breast found: nothing brighter than the background")
    breast = _chest_wall_component(stats, film.shape)
    if breast is None:
        raise MaskError("no breast found: no region reaches the chest-wall edge (phantom or test object)")
    mask = _restore_bright_tissue(_fill(labels == breast, air), bright)
    n_bright, _ = cv2.connectedComponents((bright & ~mask).astype(np.uint8), connectivity=8)
    removed = (count - 2) + (n_bright - 1)
    mask = np.pad(mask, margin, mode="edge")
    frame = np.zeros(image.shape, dtype=bool)
    frame[r0:r1, c0:c1] = mask
    result = BreastMask(frame, float(mask.mean()), _border_contact(mask), int(removed), box)
    check_quality(result, options)
    return result


def _edge_image(scaled: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(cv2.medianBlur(scaled, 5), (0, 0), sigma / 2)


def _detrend(scaled: np.ndarray, air: np.ndarray) -> np.ndarray | None:
    """`scaled` minus the plane fitted to its background pixels, or None when the background is flat.

    The fit uses exact integer moments (on every other pixel), so the result does not depend on the
    summation order of the machine; the plane is rounded to whole grey levels before it is subtracted.
    """
    sub = air[::2, ::2]
    if sub.sum() < 0.05 * sub.size:
        return None  # too little background to fit
    ys, xs = np.nonzero(sub)
    ys, xs = 2 * ys.astype(np.int64), 2 * xs.astype(np.int64)
    v = scaled[::2, ::2][sub].astype(np.int64)
    ones = np.ones_like(xs)
    cols = (ones, xs, ys)
    normal = np.array([[int((a * b).sum()) for b in cols] for a in cols], dtype=np.float64)
    rhs = np.array([int((a * v).sum()) for a in cols], dtype=np.float64)
    try:
        _, bx, by = np.linalg.solve(normal, rhs)
    except np.linalg.LinAlgError:
        return None
    rows, width = scaled.shape
    yy = np.arange(rows, dtype=np.float64)[:, None] - (rows - 1) / 2
    xx = np.arange(width, dtype=np.float64)[None, :] - (width - 1) / 2
    tilt = np.rint(bx * xx + by * yy).astype(np.int64)
    if int(tilt.max()) - int(tilt.min()) < 3:
        return None  # flat enough: leave the image as it is
    return np.clip(scaled.astype(np.int64) - tilt, 0, 255).astype(np.uint8)


def _chest_wall_component(stats: np.ndarray, shape: tuple[int, int]) -> int | None:
    """Label of the largest component touching the left or right edge of the film (the chest wall)."""
    left = stats[:, cv2.CC_STAT_LEFT]
    right = left + stats[:, cv2.CC_STAT_WIDTH]
    touching = [k for k in range(1, len(stats)) if left[k] == 0 or right[k] == shape[1]]
    if not touching:
        return None
    return max(touching, key=lambda k: (stats[k, cv2.CC_STAT_AREA], -k))


def _fill(breast: np.ndarray, air: np.ndarray) -> np.ndarray:
    """The breast plus every region outside it that is enclosed, or that holds no air (implant, saturated
    dense tissue or anything bright removed earlier that is surrounded by breast and film edge)."""
    outside = (~breast).astype(np.uint8)
    count, labels = cv2.connectedComponents(outside, connectivity=4)
    if count < 2:
        return breast
    has_air = np.bincount(labels[air], minlength=count) > 0
    edge = np.zeros(count, dtype=bool)
    for line in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        edge[line] = True
    background = has_air & edge
    background[0] = False  # label 0 is the breast itself
    return ~background[labels]


def _restore_bright_tissue(mask: np.ndarray, bright: np.ndarray) -> np.ndarray:
    """The mask plus each removed bright region that the breast surrounds on most of its outline.

    Saturated dense tissue just inside the skin line is bright and flat like a label, and its widened halo
    can reach the air, so the hole filling leaves it out. A label pushed against the skin line touches the
    breast on one side only; dense tissue has breast nearly all around it.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (bright & ~mask).astype(np.uint8), connectivity=8
    )
    out = mask.copy()
    for k in range(1, count):
        x, y, w, h = (int(v) for v in stats[k, :4])
        r0, r1, c0, c1 = (
            max(0, y - 1),
            min(mask.shape[0], y + h + 1),
            max(0, x - 1),
            min(mask.shape[1], x + w + 1),
        )
        region = (labels[r0:r1, c0:c1] == k).astype(np.uint8)
        ring = cv2.dilate(region, np.ones((3, 3), np.uint8)).astype(bool) & ~region.astype(bool)
        if ring.any() and mask[r0:r1, c0:c1][ring].mean() >= _ENCLOSED:
            out[r0:r1, c0:c1] |= region.astype(bool)
    return out


def _border_contact(mask: np.ndarray) -> float:
    """Fraction of the film's outline (all four sides) that the mask runs along."""
    edges = (mask[0], mask[-1], mask[:, 0], mask[:, -1])
    return float(sum(int(e.sum()) for e in edges) / sum(e.size for e in edges))


def check_quality(result: BreastMask, options: MaskOptions) -> None:
    """Raise MaskError naming the failed check; a usable mask passes silently."""
    if result.area_fraction < options.min_area:
        raise MaskError(
            f"no breast found: the breast region covers {result.area_fraction:.1%} of the film "
            f"(< {options.min_area:.0%})"
        )
    if result.area_fraction > options.max_area:
        raise MaskError(
            f"mask covers {result.area_fraction:.1%} of the film (> {options.max_area:.0%}): "
            "background kept or no air around the breast"
        )
    r0, r1, c0, c1 = bounding_box(result.mask)
    fill = result.mask[r0:r1, c0:c1].mean()
    if fill > options.max_box_fill:
        raise MaskError(
            f"no breast found: the region fills {fill:.1%} of its bounding box (a rectangle: test pattern "
            "or phantom, not a breast)"
        )


def breast_mask(image: np.ndarray, options: MaskOptions | None = None) -> np.ndarray:
    """Boolean mask of the breast in a small (a few hundred px) dense-bright image. Raises MaskError."""
    return segment_breast(image, options).mask


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
