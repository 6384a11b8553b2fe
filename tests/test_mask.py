"""Breast mask: covers the breast, excludes air, markers, film padding, labels and strips, keeps implants,
meets the IoU targets against the demo cohort's true masks, and refuses bad input with a named reason."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from breast_density.cohort.generate import generate_cohort
from breast_density.cohort.vendors import VENDOR_NAMES
from breast_density.imaging.harmonize import prepare
from breast_density.imaging.mask import (
    MaskError,
    bounding_box,
    breast_mask,
    downsample,
    fill_holes,
    segment_breast,
)
from breast_density.imaging.reduced import read_reduced
from breast_density.imaging.truth import ARTEFACT, BREAST_VALUES, read_truth, score_mask
from breast_density.io import read_csv
from breast_density.params import CohortParams
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


# ---- acceptance on the demo cohort and on bad input ----------------------------------------------------

DEMO_SEED, DEMO_SCALE = 42, 0.125  # params.yaml's base.seed and cohort.scale
DEMO_EXAMS = 40  # the first exams of the demo cohort: planning and rendering are per exam, in order


@pytest.fixture(scope="module")
def demo_scores(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """Every image of the first demo exams: vendor, mask IoU vs truth, artefact pixels inside the mask,
    whether a label or strip touches the breast, and the quarantine reason (if any)."""
    root = tmp_path_factory.mktemp("demo")
    cfg = CohortParams(exams=DEMO_EXAMS, scale=DEMO_SCALE)
    generate_cohort(cfg, DEMO_SEED, root / "cohort", root / "truth", workers=2)
    rows = []
    for r in read_csv(root / "truth" / "images.csv").itertuples():
        labels = read_truth(root / "truth" / r.mask)
        breast = np.isin(labels, BREAST_VALUES).astype(np.uint8)
        touching = bool(
            (cv2.dilate(breast, np.ones((3, 3), np.uint8)).astype(bool) & (labels == ARTEFACT)).any()
        )
        row = {"vendor": r.vendor, "touching": touching, "implant": r.implant, "magnified": r.magnified}
        try:
            prepared = prepare(read_reduced(r.path, 512), r.laterality, 256)
            score = score_mask(prepared.segmentation.mask, root / "truth" / r.mask)
            rows.append({**row, "iou": score.iou, "artefact": score.artefact_pixels, "reason": ""})
        except MaskError as err:
            rows.append({**row, "iou": 0.0, "artefact": 0, "reason": str(err)})
    return pd.DataFrame(rows)


def test_demo_masks_meet_the_iou_targets_for_every_vendor(demo_scores: pd.DataFrame) -> None:
    assert set(demo_scores["vendor"]) == set(VENDOR_NAMES)
    for vendor, group in demo_scores.groupby("vendor"):
        iou = group["iou"].to_numpy()
        assert iou.mean() >= 0.95 and np.percentile(iou, 5) >= 0.90, (vendor, iou.mean())
    assert (demo_scores["reason"] != "").mean() <= 0.01, demo_scores["reason"].value_counts()


def test_no_label_marker_or_strip_pixel_inside_any_demo_mask(demo_scores: pd.DataFrame) -> None:
    assert demo_scores["touching"].any(), "no image with a label against the breast: the case is untested"
    assert demo_scores["implant"].any() and demo_scores["magnified"].any()
    assert demo_scores["artefact"].sum() == 0


def _film_frame(breast_value: float = 0.5) -> np.ndarray:
    """A padded scanned film (fog 3000, padding 0) with a half-disc breast on the left film edge."""
    image = np.zeros((300, 240), dtype=np.uint16)
    image[10:290, 12:228] = 3000  # film base fog, well above the zero padding
    yy, xx = np.mgrid[10:290, 12:228]
    image[10:290, 12:228][((yy - 150) / 120) ** 2 + ((xx - 12) / 150) ** 2 < 1] = int(breast_value * 65535)
    return image


def test_film_padding_is_not_taken_for_air():
    image = _film_frame()
    seg = segment_breast(image)
    truth = np.zeros_like(seg.mask)
    yy, xx = np.mgrid[10:290, 12:228]
    truth[10:290, 12:228] = ((yy - 150) / 120) ** 2 + ((xx - 12) / 150) ** 2 < 1
    assert (seg.mask & truth).sum() / (seg.mask | truth).sum() > 0.97
    assert seg.film_box == (10, 290, 12, 228)


def test_label_touching_the_breast_is_removed_and_implant_kept():
    image = _film_frame()
    image[200:225, 150:200] = 65535  # a paper label pushed against the skin line (x = 12 + ~150 * 0.66)
    image[140:160, 40:70] = 64000  # an implant: brighter than tissue, inside the breast
    mask = segment_breast(image).mask
    assert not mask[203:222, 165:200].any(), "label kept in the mask"
    assert mask[140:160, 40:70].all(), "implant dropped from the mask"


def _block_phantom() -> np.ndarray:
    image = np.full((200, 160), 800, np.uint16)
    image[20:180, :120] = 30000
    return image + np.random.default_rng(0).integers(0, 300, image.shape).astype(np.uint16)


@pytest.mark.parametrize(
    "image,reason",
    [
        (np.zeros((200, 160), dtype=np.uint16), "all-black"),
        (np.full((200, 160), 65535, dtype=np.uint16), "all-white"),
        (np.full((200, 160), 30000, dtype=np.uint16), "blank"),
        # a test pattern: grey bars over the whole frame
        (
            np.repeat((np.arange(160) // 20 % 2 * 40000 + 5000).astype(np.uint16)[None, :], 200, axis=0),
            "no breast",
        ),
        # a round phantom in the middle of the detector
        (
            np.where(
                (np.mgrid[:200, :160][0] - 100) ** 2 + (np.mgrid[:200, :160][1] - 80) ** 2 < 50**2, 40000, 800
            ).astype(np.uint16),
            "no breast",
        ),
        # a rectangular acrylic block against the detector edge, with detector noise
        (_block_phantom(), "rectangle"),
    ],
)
def test_bad_input_is_refused_with_a_named_reason(image: np.ndarray, reason: str):
    with pytest.raises(MaskError, match=reason):
        segment_breast(image)


def test_saturated_dense_tissue_at_the_skin_line_stays_in_the_mask():
    image, breast, _ = phantom(density=0.3, seed=2, marker=False)
    h, w = image.shape
    rim = int(np.flatnonzero(breast[h // 3])[-1])  # the skin line on a row of the upper half
    yy, xx = np.mgrid[0:h, 0:w]
    blob = ((yy - h // 3) ** 2 + (xx - (rim - 16)) ** 2 < 12**2) & breast  # its halo reaches the air
    image[blob] = 1.0
    mask = breast_mask(curve_mono2(image))
    assert mask[blob].mean() > 0.98, "saturated tissue by the skin line left out of the mask"
    assert not mask[:, -10:].any()
