"""The shared decoder: pydicom's display pipeline as one integer LUT, raster formats, and named failures."""

from __future__ import annotations

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.uid import JPEG2000Lossless, JPEGLosslessSV1, RLELossless

from breast_density.imaging.decode import ImageReadError, display_lut, read_pixels
from ingest_fixtures import make_dicom, phantom


def _pydicom_reference(path, y_range: tuple[float, float]) -> np.ndarray:
    """What pydicom's float pipeline gives, rescaled from the VOI output range onto 0..65535."""
    ds = pydicom.dcmread(path)
    out = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    lo, hi = y_range
    ref = np.rint(np.clip((out - lo) / (hi - lo), 0, 1) * 65535)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        ref = 65535 - ref
    return ref


@pytest.mark.parametrize(
    ("kwargs", "y_range"),
    [
        ({"window": (2000, 1500)}, (0, 4095)),
        ({"window": (2000, 1500), "voi_function": "LINEAR_EXACT"}, (0, 4095)),
        ({"window": (1800, 900), "voi_function": "SIGMOID"}, (0, 4095)),
        ({"window": (2000, 3000), "rescale": (2.0, -100.0)}, (-100, 4095 * 2 - 100)),
        ({"window": (1500, 1200), "photometric": "MONOCHROME1"}, (0, 4095)),
        ({"window": (200, 1000), "signed": True, "bits_stored": 12}, (-2048, 2047)),
    ],
)
def test_matches_pydicom_voi_pipeline(tmp_path, kwargs, y_range):
    bits = kwargs.get("bits_stored", 12)
    pixels = phantom(bits=bits).astype(np.int32)
    if kwargs.get("signed"):
        pixels -= 2 ** (bits - 1)
    path = make_dicom(tmp_path / "a.dcm", pixels, **kwargs)
    got = read_pixels(path)
    assert got.dtype == np.uint16 and got.shape == pixels.shape
    ref = _pydicom_reference(path, y_range)
    assert np.abs(got.astype(np.int64) - ref).max() <= 1
    # the window must actually act: a narrow window saturates part of the image at both ends
    if kwargs.get("voi_function") != "SIGMOID" and not kwargs.get("signed") and "rescale" not in kwargs:
        assert (got == 0).any() and (got == 65535).any()


def test_window_changes_contrast(tmp_path):
    pixels = phantom()
    plain = read_pixels(make_dicom(tmp_path / "plain.dcm", pixels))
    windowed = read_pixels(make_dicom(tmp_path / "win.dcm", pixels, window=(2048, 1024)))
    # without a window the stored range 0..4095 maps linearly; with it the middle quarter fills the range
    assert np.abs(plain.astype(int) - np.rint(pixels / 4095 * 65535)).max() <= 1
    assert windowed.std() > plain.std()


def test_voi_lut_sequence_is_used(tmp_path):
    pixels = phantom()
    path = make_dicom(tmp_path / "lut.dcm", pixels, window=(2000, 1000))
    ds = pydicom.dcmread(path)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    # a gamma-like curve that fills only 12 of its declared 16 bits, as some vendors do
    item.LUTData = np.rint((np.arange(4096) / 4095) ** 0.5 * 4095).astype("<u2").tobytes()
    item["LUTData"].VR = "OW"
    ds.VOILUTSequence = [item]
    ds.save_as(path)
    got = read_pixels(path)
    ref = _pydicom_reference(path, (0, 4095))
    assert np.abs(got.astype(np.int64) - ref).max() <= 1


def test_monochrome1_and_monochrome2_agree(tmp_path):
    """The same phantom stored both ways decodes to the same picture, dense tissue bright."""
    pixels = phantom()
    mono2 = read_pixels(make_dicom(tmp_path / "m2.dcm", pixels, photometric="MONOCHROME2"))
    mono1 = read_pixels(make_dicom(tmp_path / "m1.dcm", 4095 - pixels, photometric="MONOCHROME1"))
    assert np.abs(mono1.astype(int) - mono2.astype(int)).max() <= 1
    centre, corner = mono1[24, 6:10].mean(), mono1[-3:, -3:].mean()
    assert centre > corner + 20000


def test_display_lut_clips_garbage_high_bits():
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = 12, 0
    lut = display_lut(ds, np.array([0, 4095, 5000, 65535]))
    assert lut.tolist() == [0, 65535, 65535, 65535]


def test_bits_above_bits_stored_are_ignored(tmp_path):
    """Unused high bits may carry overlays: they must not change the picture."""
    pixels = phantom()
    clean = read_pixels(make_dicom(tmp_path / "clean.dcm", pixels, window=(2000, 3000)))
    dirty = read_pixels(make_dicom(tmp_path / "dirty.dcm", pixels | 0xF000, window=(2000, 3000)))
    np.testing.assert_array_equal(dirty, clean)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_syntaxes_decode(tmp_path, syntax):
    pixels = phantom()
    path = make_dicom(tmp_path / "c.dcm", pixels, window=(2000, 3000))
    ds = pydicom.dcmread(path)
    ds.compress(syntax)
    ds.save_as(path)
    expected = read_pixels(make_dicom(tmp_path / "n.dcm", pixels, window=(2000, 3000)))
    np.testing.assert_array_equal(read_pixels(path), expected)


def test_undecodable_syntax_names_missing_plugin(tmp_path):
    path = make_dicom(tmp_path / "j.dcm")
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path)
    with pytest.raises(ImageReadError, match=r"JPEG Lossless.*(pylibjpeg-libjpeg|gdcm)"):
        read_pixels(path)


def test_dicom_without_preamble_or_file_meta(tmp_path):
    """Old exports write the bare dataset; it still decodes, with the encoding pydicom detects."""
    pixels = phantom()
    path = make_dicom(tmp_path / "full.dcm", pixels, window=(2000, 3000))
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    bare = tmp_path / "bare.dcm"
    ds.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    np.testing.assert_array_equal(read_pixels(bare), read_pixels(path))


def test_not_dicom(tmp_path):
    path = tmp_path / "x.dcm"
    path.write_text("patient list, not an image")
    with pytest.raises(ImageReadError, match="not a DICOM file"):
        read_pixels(path)


def test_truncated_dicom(tmp_path):
    path = make_dicom(tmp_path / "t.dcm")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 700])
    with pytest.raises(ImageReadError, match="truncated file or pixel data of the wrong length"):
        read_pixels(path)


def test_no_pixel_data(tmp_path):
    path = make_dicom(tmp_path / "np.dcm")
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="no pixel data"):
        read_pixels(path)


def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match="missing"):
        read_pixels(tmp_path / "gone.dcm")


def test_raster_formats(tmp_path):
    img8 = (phantom(bits=8)).astype(np.uint8)
    img16 = phantom(bits=16)
    cv2.imwrite(str(tmp_path / "a.png"), img8)
    cv2.imwrite(str(tmp_path / "b.png"), img16)
    cv2.imwrite(str(tmp_path / "c.pgm"), img8)
    cv2.imwrite(str(tmp_path / "d.tif"), img16)
    cv2.imwrite(
        str(tmp_path / "e.jpg"), cv2.cvtColor(img8, cv2.COLOR_GRAY2BGR), [cv2.IMWRITE_JPEG_QUALITY, 100]
    )
    np.testing.assert_array_equal(read_pixels(tmp_path / "a.png"), img8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_pixels(tmp_path / "b.png"), img16)
    np.testing.assert_array_equal(read_pixels(tmp_path / "c.pgm"), img8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_pixels(tmp_path / "d.tif"), img16)
    jpg = read_pixels(tmp_path / "e.jpg")
    assert jpg.ndim == 2 and np.abs(jpg.astype(int) - img8.astype(int) * 257).max() <= 3 * 257


def test_unreadable_raster(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    with pytest.raises(ImageReadError, match="unreadable image file"):
        read_pixels(path)
