"""Pectoral muscle removal on MLO views (harmonize.remove_pectoral)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from breast_density.cohort import phantom as cohort_phantom
from breast_density.imaging.harmonize import harmonize_details, prepare, reference_edges
from breast_density.imaging.mask import MaskOptions, segment_breast
from breast_density.imaging.pectoral import pectoral_region
from breast_density.imaging.spec import HarmonizeSpec, build_spec
from breast_density.imaging.truth import ARTEFACT, BREAST, PECTORAL, score_mask
from imaging_fixtures import curve_mono2, phantom

SIZE = 128
ON = MaskOptions(remove_pectoral=True)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def mlo_with_muscle(chest_wall: str = "left", seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(decoded uint16 image, true breast, true muscle): a breast with a bright triangle in its upper
    chest-wall corner, bounded by a straight edge from the top of the breast to the chest wall."""
    image, breast, _ = phantom(shape=(320, 256), density=0.05, seed=seed, marker=False)
    top = int(np.flatnonzero(breast.any(axis=1))[0])
    yy, xx = np.mgrid[0:320, 0:256].astype(np.float32)
    muscle = (xx / 110 + (yy - top) / 130 < 1) & (yy >= top) & breast
    noise = np.random.default_rng(seed).standard_normal(muscle.sum()).astype(np.float32)
    image[muscle] = 0.75 + 0.02 * noise
    if chest_wall == "right":
        image, breast, muscle = image[:, ::-1], breast[:, ::-1], muscle[:, ::-1]
    return curve_mono2(np.clip(image, 0, 1)), np.ascontiguousarray(breast), np.ascontiguousarray(muscle)


def _on_working_grid(truth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return cv2.resize(truth.astype(np.float32), shape[::-1], interpolation=cv2.INTER_AREA) >= 0.5


@pytest.mark.parametrize("chest_wall", ["left", "right"])
def test_mlo_mask_excludes_the_muscle_when_on_and_keeps_it_when_off(chest_wall):
    pixels, _, muscle = mlo_with_muscle(chest_wall)
    side = "L" if chest_wall == "left" else "R"
    on = prepare(pixels, side, SIZE, ON, view="MLO")
    off = prepare(pixels, side, SIZE, MaskOptions(), view="MLO")
    truth = _on_working_grid(muscle, on.segmentation.mask.shape)
    assert on.pectoral is not None and _iou(on.pectoral, truth) > 0.85
    assert not (on.segmentation.mask & on.pectoral).any()
    assert off.pectoral is None
    assert (off.segmentation.mask & truth).sum() > 0.95 * truth.sum()  # off: the muscle stays in the mask
    # what remains of the muscle inside the mask when on is only its blurred rim
    assert (on.segmentation.mask & truth).sum() < 0.1 * truth.sum()


def test_removed_muscle_is_zero_in_the_harmonised_image():
    pixels, _, _ = mlo_with_muscle()
    reference = np.linspace(0, 1, reference_edges().size)
    on = harmonize_details(pixels, "L", reference, SIZE, 8, mask_options=ON, view="MLO")
    off = harmonize_details(pixels, "L", reference, SIZE, 8, view="MLO")
    assert ((on.image > 0) == on.prepared.mask).all()  # 0 exactly outside the (muscle-free) mask
    # the top chest-wall corner of the crop holds muscle: harmonised when off, 0 when on
    corner = (slice(0, 8), slice(0, 8))
    assert (off.image[corner] > 0).all() and (on.image[corner] == 0).all()


@pytest.mark.parametrize("view", ["CC", "", "ML"])
def test_other_views_are_untouched(view):
    pixels, _, _ = mlo_with_muscle()
    on = prepare(pixels, "L", SIZE, ON, view=view)
    off = prepare(pixels, "L", SIZE, MaskOptions(), view=view)
    assert on.pectoral is None
    np.testing.assert_array_equal(on.image, off.image)
    np.testing.assert_array_equal(on.mask, off.mask)


def test_a_breast_without_a_muscle_loses_nothing():
    image, _, _ = phantom(shape=(320, 256), density=0.15, seed=1, marker=False)
    pixels = curve_mono2(image)
    on = prepare(pixels, "L", SIZE, ON, view="MLO")
    assert on.pectoral is not None and not on.pectoral.any()


@pytest.mark.parametrize("seed", range(6))
def test_finds_the_cohort_phantoms_pectoral_muscle(seed):
    rng = np.random.default_rng(seed)
    lat, density = "LR"[seed % 2], "ABC"[seed % 3]
    anatomy = cohort_phantom.Anatomy(size=0.5, shape_seed=seed)
    view = cohort_phantom.render_view(rng, (300, 240), "MLO", lat, density, 0.2, anatomy, 0.8)
    pixels = (view.image * 60000).astype(np.uint16)
    mask = segment_breast(pixels).mask
    found = pectoral_region(pixels, mask, lat == "R")
    assert view.pectoral.any() and _iou(found, view.pectoral) > 0.8
    cc = cohort_phantom.render_view(rng, (300, 240), "CC", lat, density, 0.2, anatomy, 0.8)
    assert not cc.pectoral.any()


def test_score_counts_the_muscle_as_breast_unless_it_was_removed(tmp_path):
    labels = np.zeros((40, 40), dtype=np.uint8)
    labels[:, :20] = BREAST
    labels[:10, :10] = PECTORAL
    labels[30:, 30:] = ARTEFACT
    path = tmp_path / "truth.png"
    cv2.imwrite(str(path), labels)
    whole = labels[:, :] > 0
    whole[30:, 30:] = False
    kept = score_mask(whole, path)
    assert kept.iou == 1.0 and kept.pectoral_iou is None
    removed = np.zeros_like(whole)
    removed[:10, :10] = True
    scored = score_mask(whole & ~removed, path, removed)
    assert scored.iou == 1.0 and scored.pectoral_iou == 1.0
    assert score_mask(whole, path, np.zeros_like(whole)).iou < 1.0  # muscle left in although removal was on


def test_the_spec_records_the_setting():
    spec = build_spec(SIZE, 8, "image", np.linspace(0, 1, reference_edges().size), {}, ON)
    again = HarmonizeSpec.from_json(spec.to_json())
    assert again.mask.remove_pectoral is True
    old = spec.to_json()
    del old["mask"]["remove_pectoral"]  # a spec written before the option existed
    assert HarmonizeSpec.from_json(old).mask.remove_pectoral is False
