"""Harmonisation: vendors with different transfer curves and MONOCHROME1/2 end up alike; geometry; stage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from breast_density.imaging.decode import ImageReadError, read_dataset, read_pixels
from breast_density.imaging.harmonize import (
    BINS,
    check_reference,
    harmonize_details,
    harmonize_image,
    histogram_cdf,
    level_counts,
    output_unit,
    prepare,
    reference_from_levels,
    unit_histogram,
    vendor_disagreement,
)
from breast_density.imaging.mask import downsample
from breast_density.imaging.reduced import mapped_pixels, read_reduced
from breast_density.imaging.spec import HarmonizeSpec, build_spec, harmonize_file, load_spec
from breast_density.io import read_csv, read_json
from breast_density.params import parse_params
from breast_density.stages import harmonize as stage
from imaging_fixtures import curve_mono1, curve_mono2, phantom, stored_for, write_dicom

DENSITIES = [0.1, 0.3, 0.5, 0.7, 0.9]


def _vendor_levels(size: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(cohort-mean reference, vendor -> mean breast pmf), as the stage's reference pass builds them."""
    levels = {}
    for name, curve in (("mono2", curve_mono2), ("mono1", curve_mono1)):
        pmfs = []
        for i, d in enumerate(DENSITIES):
            counts = level_counts(prepare(curve(phantom(density=d, seed=i)[0]), "L", size))
            pmfs.append(counts / counts.sum())
        levels[name] = np.mean(pmfs, axis=0)
    return reference_from_levels(np.mean(list(levels.values()), axis=0)), levels


@pytest.mark.parametrize("match", ["vendor", "image"])
def test_two_vendors_end_up_with_near_identical_histograms(match):
    size = 128
    reference, levels = _vendor_levels(size)
    raw, out = {}, {}
    for name, curve in (("mono2", curve_mono2), ("mono1", curve_mono1)):
        raw[name] = np.zeros(BINS, dtype=np.int64)
        out[name] = np.zeros(BINS, dtype=np.int64)
        for i, d in enumerate(DENSITIES):
            source = levels[name] if match == "vendor" else None
            res = harmonize_details(curve(phantom(density=d, seed=i)[0]), "L", reference, size, 8, source)
            prep = res.prepared
            raw[name] += unit_histogram(prep.image[prep.mask] / 65535)
            out[name] += unit_histogram(output_unit(res.image))
    before, after = vendor_disagreement(raw), vendor_disagreement(out)
    assert before > 0.05
    assert after < 0.1 * before and after < 0.01


def test_vendor_match_keeps_density_differences_image_match_removes_them():
    size = 128
    reference, levels = _vendor_levels(size)
    fatty, dense = phantom(density=0.1, seed=0)[0], phantom(density=0.9, seed=4)[0]
    for curve, name in ((curve_mono2, "mono2"), (curve_mono1, "mono1")):
        by_vendor = [
            output_unit(harmonize_image(curve(p), "L", reference, size, 8, levels[name])).mean()
            for p in (fatty, dense)
        ]
        assert by_vendor[1] - by_vendor[0] > 0.2
        by_image = [
            output_unit(harmonize_image(curve(p), "L", reference, size, 8)).mean() for p in (fatty, dense)
        ]
        assert abs(by_image[1] - by_image[0]) < 0.02


def test_same_phantom_two_vendors_gives_same_pixels():
    size = 128
    reference, levels = _vendor_levels(size)
    image = phantom(density=0.4, seed=2)[0]
    a = harmonize_image(curve_mono2(image), "L", reference, size, 8, levels["mono2"]).astype(int)
    b = harmonize_image(curve_mono1(image), "L", reference, size, 8, levels["mono1"]).astype(int)
    assert a.shape == b.shape
    assert np.abs(a - b)[(a > 0) & (b > 0)].mean() < 6  # of 255
    assert ((a > 0) != (b > 0)).mean() < 0.01


@pytest.mark.parametrize("bit_depth,dtype", [(8, np.uint8), (16, np.uint16)])
def test_output_geometry_background_and_dtype(bit_depth, dtype):
    image, _, _ = phantom(shape=(400, 300), density=0.3, seed=1)
    reference = histogram_cdf(np.ones(BINS))
    out = harmonize_image(curve_mono2(image), "L", reference, 96, bit_depth)
    assert out.dtype == dtype and max(out.shape) == 96
    assert (out == 0).any() and out.max() > np.iinfo(dtype).max // 2
    # the marker (bright, top right) is outside the breast and must not survive as a bright blob
    assert out[: out.shape[0] // 8, -out.shape[1] // 6 :].max() < np.iinfo(dtype).max * 0.9


@pytest.mark.parametrize("match", ["vendor", "image"])
def test_pixels_outside_the_breast_mask_are_exactly_zero(match):
    reference, levels = _vendor_levels(96)
    for seed, density in enumerate(DENSITIES):
        image = curve_mono1(phantom(density=density, seed=seed)[0])
        source = levels["mono1"] if match == "vendor" else None
        result = harmonize_details(image, "L", reference, 96, 8, source)
        mask = result.prepared.mask
        assert (result.image[~mask] == 0).all() and (result.image[mask] >= 1).all()


def test_chest_wall_ends_up_on_the_left():
    reference = histogram_cdf(np.ones(BINS))
    left, _, _ = phantom(density=0.3, seed=1, chest_wall="left")
    right, _, _ = phantom(density=0.3, seed=1, chest_wall="right")
    a = harmonize_details(curve_mono2(left), "L", reference, 128, 8)
    b = harmonize_details(curve_mono2(right), "R", reference, 128, 8)
    assert not a.prepared.flipped and b.prepared.flipped
    for res in (a, b):
        mask = res.prepared.mask
        assert mask[:, :10].sum() > 2 * mask[:, -10:].sum()
    # mirror images of each other up to the edge rows/columns the integer-factor downsample trims
    assert a.image.shape == b.image.shape
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() < 8


def test_bad_reference_and_bad_input_fail_clearly():
    with pytest.raises(ValueError, match="reference"):
        check_reference(np.linspace(1, 0, BINS + 1))
    with pytest.raises(ValueError, match="uint16"):
        prepare(np.zeros((64, 64), dtype=np.float64), "L", 32)


def _write_cohort(tmp_path, per_vendor: int = 4):
    rows = []
    for vendor in ("mono2", "mono1"):
        for i in range(per_vendor):
            side = "R" if i % 2 else "L"
            image, _, _ = phantom(
                density=DENSITIES[i % len(DENSITIES)], seed=i, chest_wall="right" if side == "R" else "left"
            )
            stored, photometric = stored_for(image, vendor)
            path = write_dicom(tmp_path / "raw" / f"{vendor}_{i}.dcm", stored, photometric, vendor, side)
            rows.append(
                {
                    "image_id": f"{vendor}{i}",
                    "exam_id": f"e{vendor}{i // 2}",
                    "patient_id": f"p{i}",
                    "laterality": side,
                    "view": "CC",
                    "vendor": vendor,
                    "path": str(path),
                }
            )
    broken = tmp_path / "raw" / "broken.dcm"
    broken.write_bytes(b"not a dicom at all")
    rows.append(
        {
            "image_id": "bad",
            "exam_id": "ebad",
            "patient_id": "p9",
            "laterality": "L",
            "view": "CC",
            "vendor": "mono2",
            "path": str(broken),
        }
    )
    images_csv = tmp_path / "images.csv"
    pd.DataFrame(rows).to_csv(images_csv, index=False)
    return images_csv


@pytest.mark.parametrize("workers", [1, 2])
def test_stage_harmonizes_quarantines_and_reports(tmp_path, workers):
    images_csv = _write_cohort(tmp_path)
    params = parse_params({"harmonize": {"size": 64, "workers": workers, "reference_sample": 10}})
    out_dir = tmp_path / "harmonize"
    metrics = stage.run(params, images_csv, out_dir, tmp_path / "m.json", tmp_path / "plot.png")

    index = read_csv(out_dir / "index.csv")
    assert list(index.columns) == stage.INDEX_COLUMNS and len(index) == 8
    quarantine = read_csv(out_dir / "quarantine.csv")
    assert quarantine["exam_id"].tolist() == ["ebad"] and "DICOM" in quarantine["reason"].iloc[0]
    for path, md5 in zip(index["path"], index["md5"], strict=True):
        png = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert png.dtype == np.uint8 and max(png.shape) == 64
        # the training stages depend on these hashes (via split.csv) instead of on the image folder
        assert md5 == hashlib.md5(Path(path).read_bytes()).hexdigest()
    assert metrics == read_json(tmp_path / "m.json")
    assert metrics["quarantined"] == 1 and metrics["flipped"] == 4
    assert metrics["disagreement_reduction"] >= 0.5
    spec = load_spec(out_dir / "spec.json")
    assert set(spec.vendor_luts) == {"mono1", "mono2"} and spec.size == 64 and spec.bit_depth == 8
    assert sorted(p.name for p in out_dir.iterdir()) == ["images", "index.csv", "quarantine.csv", "spec.json"]
    assert (tmp_path / "plot.png").stat().st_size > 10_000


def test_stage_rejects_unknown_reference_vendor(tmp_path):
    images_csv = _write_cohort(tmp_path, per_vendor=2)
    params = parse_params({"harmonize": {"size": 64, "workers": 1, "reference": "nobody"}})
    with pytest.raises(ValueError, match=r"nobody.*vendors: \['mono1', 'mono2'\]"):
        stage.run(params, images_csv, tmp_path / "h", tmp_path / "m.json", tmp_path / "p.png")


@pytest.mark.parametrize("vendor", ["mono2", "mono1"])
def test_reduced_decode_matches_full_decode_then_downsample(tmp_path, vendor):
    image, _, _ = phantom(shape=(600, 480), density=0.4, seed=2)
    stored, photometric = stored_for(image, vendor)
    path = write_dicom(tmp_path / "a.dcm", stored, photometric, vendor)
    fast = read_reduced(path, 128).astype(float)
    slow = downsample(read_pixels(path), 128).astype(float)
    assert fast.shape == slow.shape
    assert np.abs(fast - slow).mean() < 0.005 * 65535


def test_reduced_decode_clears_garbage_in_unused_high_bits(tmp_path):
    image, _, _ = phantom(shape=(400, 320), density=0.4, seed=2)
    stored = (curve_mono2(image) >> 4).astype(np.uint16)  # 12-bit values
    dirty = stored | np.uint16(0xA000)  # vendors sometimes leave overlay/garbage bits above BitsStored
    clean_path = write_dicom(tmp_path / "clean.dcm", stored, "MONOCHROME2", "v", bits_stored=12)
    dirty_path = write_dicom(tmp_path / "dirty.dcm", dirty, "MONOCHROME2", "v", bits_stored=12)
    np.testing.assert_array_equal(read_reduced(dirty_path, 128), read_reduced(clean_path, 128))


def test_reduced_decode_maps_native_pixel_data_and_names_a_truncated_file(tmp_path):
    image, _, _ = phantom(shape=(600, 480), density=0.4, seed=2)
    stored, photometric = stored_for(image, "mono2")
    path = write_dicom(tmp_path / "a.dcm", stored, photometric, "mono2")
    mapped = mapped_pixels(read_dataset(path, defer_size=1024), path)
    assert mapped is not None and not mapped.flags.writeable  # a view on the file, not a copy
    np.testing.assert_array_equal(mapped, stored)
    assert mapped_pixels(read_dataset(path), path) is None  # pixel data already read: nothing to map
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(ImageReadError, match=r"cut\.dcm: truncated"):
        read_reduced(cut, 128)


def test_reduced_decode_raises_named_errors(tmp_path):
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(b"\0" * 10)
    with pytest.raises(ImageReadError, match=r"bad\.dcm"):
        read_reduced(bad, 64)
    with pytest.raises(ImageReadError, match="missing"):
        read_reduced(tmp_path / "none.dcm", 64)


@pytest.mark.parametrize("match", ["vendor", "image"])
def test_saved_spec_and_file_api_reproduce_the_stage(tmp_path, match):
    images_csv = _write_cohort(tmp_path)
    params = parse_params({"harmonize": {"size": 64, "workers": 1, "match": match}})
    out_dir = tmp_path / "harmonize"
    stage.run(params, images_csv, out_dir, tmp_path / "m.json", tmp_path / "plot.png")
    spec = load_spec(out_dir / "spec.json")
    sources = read_csv(images_csv).set_index("image_id")
    for row in read_csv(out_dir / "index.csv").itertuples():
        again = harmonize_file(sources.loc[row.image_id, "path"], row.laterality, row.vendor, spec).image
        np.testing.assert_array_equal(again, cv2.imread(row.path, cv2.IMREAD_UNCHANGED))
    with pytest.raises(FileNotFoundError, match="harmonize"):
        load_spec(tmp_path / "spec.json")


def test_spec_round_trips_through_json_exactly():
    reference, levels = _vendor_levels(64)
    for bit_depth in (8, 16):
        spec = build_spec(64, bit_depth, "vendor", reference, levels)
        again = HarmonizeSpec.from_json(json.loads(json.dumps(spec.to_json())))
        np.testing.assert_array_equal(again.reference, spec.reference)
        assert again.vendor_luts.keys() == spec.vendor_luts.keys() and again.mask == spec.mask
        for vendor, lut in spec.vendor_luts.items():
            assert again.vendor_luts[vendor].dtype == lut.dtype and np.all(np.diff(lut.astype(int)) >= 0)
            np.testing.assert_array_equal(again.vendor_luts[vendor], lut)
    with pytest.raises(ValueError, match="version"):
        HarmonizeSpec.from_json({**spec.to_json(), "version": 99})


def test_stage_accepts_png_sources_without_vendor(tmp_path):
    rows = []
    for i, d in enumerate(DENSITIES[:3]):
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), (curve_mono2(phantom(density=d, seed=i)[0]) // 257).astype(np.uint8))
        rows.append({"image_id": f"i{i}", "exam_id": f"e{i}", "patient_id": f"p{i}", "laterality": "",
                     "view": "CC", "vendor": "", "path": str(path)})  # fmt: skip
    pd.DataFrame(rows).to_csv(tmp_path / "images.csv", index=False)
    params = parse_params({"harmonize": {"size": 64, "workers": 1, "bit_depth": 16}})
    metrics = stage.run(
        params, tmp_path / "images.csv", tmp_path / "h", tmp_path / "m.json", tmp_path / "p.png"
    )
    assert metrics["harmonized"] == 3 and list(metrics["vendors"]) == ["unknown"]
    index = read_csv(tmp_path / "h" / "index.csv")
    assert index["vendor"].tolist() == ["", "", ""]  # the index keeps what ingest said
    assert cv2.imread(index["path"].iloc[0], cv2.IMREAD_UNCHANGED).dtype == np.uint16
