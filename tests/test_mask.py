"""Breast mask: covers the breast, excludes air and burned-in markers, fails clearly on blank images."""

from __future__ import annotations

import numpy as np
import pytest

from breast_density.imaging.mask import MaskError, bounding_box, breast_mask, downsample, fill_holes
from imaging_fixtures import curve_mono1, curve_mono2, phantom


@pytest.mark.parametrize("curve", [curve_mono2, curve_mono1])
@pytest.mark.parametrize("density", [0.05, 0.5, 0.9])
def test_mask_covers_breast_and_excludes_marker(curve, density):
    image, breast, marker = phantom(density=density, seed=3)
    mask = breast_mask(curve(image))
    iou = (mask & breast).sum() / (mask | breast).sum()
    assert iou > 0.95
    assert not (mask & marker).any(), "burned-in marker leaked into the breast mask"
    assert mask[:, -10:].sum() == 0, "air on the far side must be background"


def test_mask_fills_dark_pocket_inside_breast():
    image, _breast, _ = phantom(density=0.6, seed=1)
    h, _w = image.shape
    image[h // 2 - 8 : h // 2 + 8, 20:36] = 0.0  # an air-dark pocket enclosed by tissue
    mask = breast_mask(curve_mono2(image))
    assert mask[h // 2 - 8 : h // 2 + 8, 20:36].all()


def test_mask_bounding_box_matches_the_breast():
    image, breast, _marker = phantom(shape=(200, 160), density=0.2, seed=5)
    mask = breast_mask(curve_mono2(image))
    r0, r1, c0, c1 = bounding_box(mask)
    tr0, tr1, tc0, tc1 = bounding_box(breast)
    assert abs(r0 - tr0) <= 3 and abs(r1 - tr1) <= 3 and c0 == tc0 and abs(c1 - tc1) <= 3


def test_blank_and_marker_only_images_fail_clearly():
    with pytest.raises(MaskError, match="all-black"):
        breast_mask(np.full((64, 64), 1000, dtype=np.uint16))
    only_marker = np.zeros((128, 128), dtype=np.uint16)
    only_marker[5:12, 110:120] = 60000
    with pytest.raises(MaskError, match="no breast"):
        breast_mask(only_marker)


def test_fill_holes_keeps_outside_background():
    ring = np.zeros((20, 20), dtype=bool)
    ring[5:15, 5:15] = True
    ring[8:12, 8:12] = False
    filled = fill_holes(ring)
    assert filled[5:15, 5:15].all() and filled.sum() == 100


def test_downsample_uses_integer_factor_and_keeps_mean():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 65535, size=(1030, 830), dtype=np.uint16)
    small = downsample(img, 256)
    assert small.dtype == np.uint16
    assert max(small.shape) >= 256 and small.shape == (1030 // 4, 830 // 4)
    assert abs(float(small.mean()) - float(img[:1028, :828].mean())) < 5
    assert downsample(img, 2000) is img
