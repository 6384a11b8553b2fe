"""Tiny constructed mammograms for the imaging tests: a breast, dense tissue, a burned-in marker."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid


def phantom(
    shape: tuple[int, int] = (320, 256),
    density: float = 0.3,
    seed: int = 0,
    chest_wall: str = "left",
    marker: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(presentation image in [0, 1] with air 0, true breast mask, marker mask).

    The breast is a half-ellipse on the chest-wall side; dense tissue covers about `density` of it;
    a bright 'R' marker is burned into the opposite top corner.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    breast = ((yy - h / 2) / (0.42 * h)) ** 2 + (xx / (0.7 * w)) ** 2 < 1
    field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=max(2.0, w / 40))
    cut = np.quantile(field[breast], 1 - density)
    dense = (field > cut) & breast
    image = np.where(breast, 0.35, 0.0).astype(np.float32)
    image[dense] = 0.8
    image += np.where(breast, 0.03, 0.01) * rng.standard_normal(shape).astype(np.float32)
    marker_mask = np.zeros(shape, dtype=bool)
    if marker:
        canvas = np.zeros(shape, dtype=np.uint8)
        cv2.putText(
            canvas, "R", (w - w // 6, h // 10), cv2.FONT_HERSHEY_SIMPLEX, w / 300, 255, max(1, w // 100)
        )
        marker_mask = canvas > 0
        image[marker_mask] = 1.0
    image = np.clip(image, 0.0, 1.0)
    if chest_wall == "right":
        return image[:, ::-1].copy(), breast[:, ::-1].copy(), marker_mask[:, ::-1].copy()
    return image, breast, marker_mask


def curve_mono2(image: np.ndarray) -> np.ndarray:
    """Vendor 1 as decoded: a gamma curve stretched over the full 16-bit range."""
    return np.rint(image**0.6 * 65535).astype(np.uint16)


def curve_mono1(image: np.ndarray) -> np.ndarray:
    """Vendor 2 as decoded: a log-like curve compressed into the lower half of the range."""
    return np.rint(np.log1p(9 * image) / np.log(10) * 30000 + 2000).astype(np.uint16)


def write_dicom(
    path: Path,
    stored: np.ndarray,
    photometric: str,
    vendor: str,
    laterality: str = "L",
    bits_stored: int = 16,
) -> Path:
    """Uncompressed single-frame 16-bit DICOM (MONOCHROME1 stores air bright)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.Manufacturer = vendor
    ds.ImageLaterality = laterality
    ds.PhotometricInterpretation = photometric
    ds.SamplesPerPixel = 1
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    ds.PixelData = np.ascontiguousarray(stored, dtype=np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def stored_for(image: np.ndarray, vendor: str) -> tuple[np.ndarray, str]:
    """Stored pixel values and photometric interpretation of the two test vendors."""
    if vendor == "mono1":
        return 65535 - curve_mono1(image), "MONOCHROME1"
    return curve_mono2(image), "MONOCHROME2"
