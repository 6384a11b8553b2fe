"""Single-image harmonisation: crop to the breast, canonical side, resize, histogram-match to a reference.

Order matters for speed: the full-resolution image is touched once (one integer-factor area downsample);
masking, cropping, flipping and matching all run on the small copy, and the match is a lookup table over the
65536 uint16 levels, so there is no float copy of a full-resolution image and no per-pixel Python.

A *reference* is the CDF of breast-pixel intensities (normalised to [0, 1]) at the ``BINS + 1`` equally
spaced edges 0, 1/BINS, ..., 1: a float64 vector rising from 0 to 1 (see ``reference_edges``).
Harmonised images use 0 for everything outside the breast and 1..max for breast pixels.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

from breast_density.imaging.mask import (
    BreastMask,
    MaskOptions,
    bounding_box,
    downsample,
    reduction_factor,
    segment_breast,
)
from breast_density.imaging.pectoral import pectoral_region

BINS = 1024  # intensity resolution of references and of the before/after histograms
LEVELS = 65536  # uint16 input levels (the decoder's range)
# Fraction of the crop's width compared on each side to find the chest wall (the wider side of the mask).
_SIDE_BAND = 0.25
# Mask-area ratio between the two sides below which the mask cannot tell the chest wall; laterality decides.
_SIDE_CONFIDENCE = 1.3


@dataclass(frozen=True)
class Prepared:
    """A breast cropped to its mask, chest wall on the left, longest side resized to the working size."""

    image: np.ndarray  # uint16, dense bright, raw intensities (not yet matched)
    mask: np.ndarray  # bool, same shape: breast pixels
    flipped: bool  # mirrored horizontally to put the chest wall on the left
    segmentation: BreastMask  # the whole-frame mask at the working size, with its quality figures
    # Whole-frame pectoral muscle taken out of segmentation.mask (working size); None when not looked for
    # (MaskOptions.remove_pectoral off, or not an MLO view).
    pectoral: np.ndarray | None = None


def reference_edges() -> np.ndarray:
    """Intensity grid of a reference: BINS + 1 edges over [0, 1]."""
    return np.linspace(0.0, 1.0, BINS + 1)


def _resize_longest(image: np.ndarray, size: int, interpolation: int) -> np.ndarray:
    rows, cols = image.shape
    scale = size / max(rows, cols)
    shape = (max(1, round(cols * scale)), max(1, round(rows * scale)))  # cv2 wants (width, height)
    return cv2.resize(image, shape, interpolation=interpolation)


def _chest_wall_on_right(mask: np.ndarray, laterality: str) -> bool:
    band = max(1, int(mask.shape[1] * _SIDE_BAND))
    left, right = int(mask[:, :band].sum()), int(mask[:, -band:].sum())
    if right > _SIDE_CONFIDENCE * left:
        return True
    if left > _SIDE_CONFIDENCE * right:
        return False
    # Nearly symmetric mask (e.g. a breast filling the detector): fall back on the stored laterality,
    # with the usual display convention that a right breast has its chest wall on the image's right.
    return laterality.upper().startswith("R")


def working_copy(pixels: np.ndarray, size: int) -> np.ndarray:
    """The whole-frame copy the breast mask is computed on (longest side about `size`)."""
    return downsample(downsample(pixels, 2 * size), size)


def prepare(
    pixels: np.ndarray,
    laterality: str,
    size: int,
    mask_options: MaskOptions | None = None,
    view: str = "",
) -> Prepared:
    """Mask, crop, flip and resize a decoded image (2-D uint16, dense bright). Raises MaskError.

    `view` (CC, MLO, ...) matters only with mask_options.remove_pectoral: MLO views lose the pectoral muscle.
    """
    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {pixels.shape}")
    if pixels.dtype != np.uint16:
        raise ValueError(f"expected uint16 pixels (the decoder's convention), got {pixels.dtype}")
    # The only full-resolution pass: an area downsample to twice the working size, so the crop (usually
    # 60-90% of the image) still has at least the working size. The mask runs on a further 2x smaller copy.
    work = downsample(pixels, 2 * size)
    coarse = downsample(work, size)  # = working_copy(pixels, size)
    factor = reduction_factor(work.shape, size)
    mask_options = mask_options or MaskOptions()
    segmentation = segment_breast(coarse, mask_options)
    pectoral, chest_wall_right = None, None
    if mask_options.remove_pectoral and view.strip().upper() == "MLO":
        # the side is decided on the whole breast: without the muscle its chest-wall band is narrower
        whole = segmentation.mask
        b0, b1, d0, d1 = bounding_box(whole)
        chest_wall_right = _chest_wall_on_right(whole[b0:b1, d0:d1], laterality)
        pectoral = pectoral_region(coarse, whole, chest_wall_right)
        segmentation = dataclasses.replace(segmentation, mask=whole & ~pectoral)
    mask = segmentation.mask
    r0, r1, c0, c1 = bounding_box(mask)
    crop = work[r0 * factor : r1 * factor, c0 * factor : c1 * factor]
    image = _resize_longest(crop, size, cv2.INTER_AREA)
    crop_mask = mask[r0:r1, c0:c1].astype(np.uint8)
    small_mask = cv2.resize(crop_mask, image.shape[::-1], interpolation=cv2.INTER_NEAREST).astype(bool)
    flipped = _chest_wall_on_right(small_mask, laterality) if chest_wall_right is None else chest_wall_right
    if flipped:
        image, small_mask = np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(small_mask[:, ::-1])
    return Prepared(
        image=image, mask=small_mask, flipped=flipped, segmentation=segmentation, pectoral=pectoral
    )


def breast_histogram(values: np.ndarray) -> np.ndarray:
    """Counts of uint16 intensities in BINS equal bins over [0, 65535]."""
    return np.bincount(values.astype(np.int64) * BINS // LEVELS, minlength=BINS)


def histogram_cdf(hist: np.ndarray) -> np.ndarray:
    """CDF at the BINS + 1 reference edges from a BINS-bin histogram."""
    total = hist.sum()
    if total <= 0:
        raise ValueError("empty histogram has no CDF")
    return np.concatenate([[0.0], np.cumsum(hist, dtype=np.float64) / total])


def reference_from_levels(levels: np.ndarray) -> np.ndarray:
    """Reference CDF from a breast-pixel histogram over the 65536 uint16 levels (e.g. mean image pmf)."""
    levels = check_levels(levels)
    return histogram_cdf(levels.reshape(BINS, LEVELS // BINS).sum(axis=1))


def check_levels(levels: np.ndarray) -> np.ndarray:
    levels = np.asarray(levels, dtype=np.float64)
    if levels.shape != (LEVELS,) or np.any(levels < 0) or levels.sum() <= 0:
        raise ValueError(
            f"source histogram must be non-negative counts over the {LEVELS} uint16 levels with a positive "
            f"total (a vendor's mean breast histogram from the reference pass); got shape {levels.shape}"
        )
    return levels


def check_reference(reference: np.ndarray) -> np.ndarray:
    reference = np.asarray(reference, dtype=np.float64)
    ok = (
        reference.shape == (BINS + 1,)
        and np.all(np.diff(reference) >= 0)
        and abs(reference[0]) < 1e-9
        and abs(reference[-1] - 1) < 1e-9
    )
    if not ok:
        raise ValueError(
            f"reference must be a non-decreasing CDF of shape ({BINS + 1},) from 0 to 1 "
            f"(as in the harmonize stage's spec.json); got shape {reference.shape}"
        )
    return reference


def match_lut(
    values: np.ndarray, reference: np.ndarray, source_levels: np.ndarray | None = None
) -> np.ndarray:
    """Lookup table uint16 level -> matched intensity in [0, 1].

    With `source_levels` (a histogram over the 65536 levels, e.g. the mean breast histogram of the image's
    vendor) every image of that source gets the same monotone map, so differences between images (how much
    dense tissue) survive while the device's transfer curve is undone. Without it the image is matched on its
    own breast pixels `values`, which gives every image the reference's histogram. Mid-rank CDF (half of a
    level's own mass) keeps saturated or flat levels centred instead of pushed to one end.
    """
    if source_levels is None:
        counts = np.bincount(values.ravel(), minlength=LEVELS).astype(np.float64)
    else:
        counts = check_levels(source_levels)
    cdf = (np.cumsum(counts) - counts / 2) / counts.sum()
    # Flat stretches of the reference CDF make its inverse ambiguous; a negligible ramp makes it strict.
    strict = reference + np.arange(reference.size) * 1e-12
    return np.interp(cdf, strict, reference_edges())


def quantize(matched: np.ndarray, bit_depth: int) -> np.ndarray:
    """[0, 1] intensities -> output values 1..max (0 is reserved for everything outside the breast)."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = np.iinfo(dtype).max
    return (1 + np.rint(np.asarray(matched, dtype=np.float64) * (top - 1))).astype(dtype)


def quantize_lut(lut: np.ndarray, bit_depth: int) -> np.ndarray:
    """A match_lut over the uint16 levels as output values: applying it is one integer lookup."""
    return quantize(lut, bit_depth)


def to_output(matched: np.ndarray, mask: np.ndarray, bit_depth: int) -> np.ndarray:
    """Quantise [0, 1] intensities: breast pixels to 1..max, background to 0."""
    values = quantize(matched, bit_depth)
    out = np.zeros(mask.shape, dtype=values.dtype)
    out[mask] = values
    return out


def level_counts(prepared: Prepared) -> np.ndarray:
    """Histogram of the raw breast pixels of a prepared image over the 65536 uint16 levels."""
    return np.bincount(prepared.image[prepared.mask], minlength=LEVELS)


def unit_histogram(values: np.ndarray) -> np.ndarray:
    """Counts of [0, 1] intensities in BINS equal bins."""
    index = np.minimum((np.asarray(values) * BINS).astype(np.int64), BINS - 1)
    return np.bincount(index, minlength=BINS)


def output_unit(image: np.ndarray) -> np.ndarray:
    """Breast pixels of a harmonised image as [0, 1] intensities (inverse of to_output's scale)."""
    top = np.iinfo(image.dtype).max
    values = image[image > 0].astype(np.float64)
    return (values - 1) / (top - 1)


@dataclass(frozen=True)
class Harmonized:
    image: np.ndarray  # uint8/uint16 output, 0 outside the breast
    prepared: Prepared  # the raw crop before matching, and the mask


def harmonize_details(
    pixels: np.ndarray,
    laterality: str,
    reference: np.ndarray,
    size: int,
    bit_depth: int,
    source_levels: np.ndarray | None = None,
    output_lut: np.ndarray | None = None,
    mask_options: MaskOptions | None = None,
    view: str = "",
) -> Harmonized:
    """harmonize_image plus the intermediate crop and mask (for plots and before/after statistics).

    `output_lut`: a quantize_lut result (uint16 level -> output value, the same for every image of a vendor
    when matching per vendor); without it the match is built from `source_levels` or the image's own pixels.
    """
    prepared = prepare(pixels, laterality, size, mask_options, view)
    breast = prepared.image[prepared.mask]
    if output_lut is None:
        output_lut = quantize_lut(match_lut(breast, check_reference(reference), source_levels), bit_depth)
    image = np.zeros(prepared.mask.shape, dtype=output_lut.dtype)
    image[prepared.mask] = output_lut[breast]
    return Harmonized(image=image, prepared=prepared)


def harmonize_image(
    pixels: np.ndarray,
    laterality: str,
    reference: np.ndarray,
    size: int,
    bit_depth: int,
    source_levels: np.ndarray | None = None,
) -> np.ndarray:
    """Harmonise one decoded image (2-D uint16, dense bright; see imaging.decode.read_pixels).

    Crops to the breast, puts the chest wall on the left, resizes so the longest side is `size`, and maps
    breast pixels through the histogram match onto `reference` (the reference of the harmonize spec):
    through `source_levels` when given (a vendor's mean breast histogram over the 65536 levels), else through
    the image's own breast histogram. New files are best harmonised with imaging.spec.harmonize_file and the
    stage's spec.json, which is exactly what the stage did.
    Returns uint8 (bit_depth 8) or uint16 (16), 0 outside the breast. Raises MaskError if no breast is found.
    """
    return harmonize_details(pixels, laterality, reference, size, bit_depth, source_levels).image


def vendor_disagreement(hists: dict[str, np.ndarray]) -> float:
    """Mean pairwise 1-D Wasserstein distance between vendors' BINS-bin histograms over [0, 1]."""
    centers = (reference_edges()[:-1] + reference_edges()[1:]) / 2
    pairs = list(itertools.combinations(sorted(hists), 2))
    if not pairs:
        return 0.0
    distances = [wasserstein_distance(centers, centers, hists[a], hists[b]) for a, b in pairs]
    return float(np.mean(distances))
