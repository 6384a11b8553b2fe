"""Vendor profiles of the synthetic cohort and DICOM writing.

The three fictitious digital vendors differ the way real mammography systems do: detector matrix and pixel
pitch, bits stored, the curve from exposure to stored value, noise and sharpness, photometric interpretation,
the VOI (display) transform and the transfer syntax. A harmonisation stage has real work to do on them.
The fourth is a film digitiser: scanned screen-film mammograms stored as 12-bit secondary-capture DICOM with
no VOI, zero padding around the film and the film's labels, rulers and scanner lines (see film.py).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from breast_density import reproducible as rp

# The JPEG 2000 encoder logs every tile at INFO: one line per image would drown the stage's log.
logging.getLogger("openjpeg").setLevel(logging.WARNING)

MAMMO_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.2")  # Digital Mammography X-Ray Image Storage
SECONDARY_CAPTURE = UID("1.2.840.10008.5.1.4.1.1.7")  # how film digitisers store scanned films
# SNOMED view codes used in ViewCodeSequence by real modalities.
_VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
# Row/column directions of the stored image (DICOM PatientOrientation) for chest wall left (L) / right (R).
_ORIENTATION = {("L", "CC"): "A\\R", ("R", "CC"): "P\\L", ("L", "MLO"): "A\\F", ("R", "MLO"): "P\\F"}


@dataclass(frozen=True)
class VendorProfile:
    name: str  # Manufacturer
    model: str  # ManufacturerModelName
    rows: int  # detector matrix at scale 1
    cols: int
    pixel_mm: float  # detector pitch at scale 1
    bits_stored: int
    transfer: str  # exposure -> stored value curve: linear | log | gamma | film (a scanned film)
    noise: float  # quantum-noise std at full signal (presentation units)
    blur_mm: float  # detector/processing unsharpness
    photometric: str  # MONOCHROME1 stores dense tissue dark
    voi: str  # window (linear WC/WW) | sigmoid (VOILUTFunction) | lut (VOI LUT Sequence) | none
    transfer_syntax: UID

    def shape(self, scale: float) -> tuple[int, int]:
        return max(32, round(self.rows * scale)), max(32, round(self.cols * scale))

    def spacing(self, scale: float) -> float:
        return self.pixel_mm * self.rows / self.shape(scale)[0]


_VENDOR_SPECS = (
    # name, model, rows, cols, pixel mm, bits stored, transfer, noise, blur mm, photometric, VOI, syntax
    ("Lumora Imaging", "Lumora DR 3D", 4096, 3328, 0.065, 14, "linear", 0.012, 0.08, "MONOCHROME2", "lut",
     ExplicitVRLittleEndian),
    ("Vireo Medical", "Vireo Mammo S", 3328, 2560, 0.085, 12, "log", 0.020, 0.12, "MONOCHROME1", "sigmoid",
     RLELossless),
    ("Norrsken Systems", "Norrsken MX-5", 2294, 1914, 0.10, 16, "gamma", 0.016, 0.15, "MONOCHROME2", "window",
     JPEG2000Lossless),
    ("Skanfilm Digitizers", "Skanfilm FD-12", 3600, 2800, 0.07, 12, "film", 0.0, 0.0, "MONOCHROME2", "none",
     ExplicitVRLittleEndian),
)  # fmt: skip
VENDORS: tuple[VendorProfile, ...] = tuple(VendorProfile(*spec) for spec in _VENDOR_SPECS)
VENDOR_NAMES = tuple(v.name for v in VENDORS)
# How often each vendor images an exam: film archives are a minority of a screening export.
VENDOR_WEIGHTS = (0.29, 0.29, 0.29, 0.13)


def vendor_by_name(name: str) -> VendorProfile:
    for vendor in VENDORS:
        if vendor.name == name:
            return vendor
    raise ValueError(f"unknown vendor {name!r}; known: {list(VENDOR_NAMES)}")


def to_stored(
    rng: np.random.Generator,
    image: np.ndarray,
    vendor: VendorProfile,
    scale: float,
    marker: np.ndarray | None = None,
) -> np.ndarray:
    """Presentation image (dense bright, 0..1) -> the vendor's stored pixel values (uint16).

    `marker` pixels (burned-in text) get the brightest displayable value, noise-free, as modalities do.
    """
    spacing = vendor.spacing(scale)
    sigma_px = vendor.blur_mm / spacing
    if sigma_px > 0.3:
        image = rp.rounded(cv2.GaussianBlur, image, (0, 0), sigma_px)  # CPU-independent (reproducible.py)
    # Quantum noise grows with the signal's square root; a floor keeps air from being noiseless.
    noisy = image + vendor.noise * np.sqrt(image + 0.02) * rng.standard_normal(image.shape, dtype=np.float32)
    stored = _transfer(np.clip(noisy, 0.0, 1.0), vendor)
    top = 2**vendor.bits_stored - 1
    stored = np.clip(np.rint(stored), 0, top).astype(np.uint16)
    if marker is not None:
        stored[marker] = top
    if vendor.photometric == "MONOCHROME1":
        stored = (top - stored).astype(np.uint16)
    return stored


def _transfer(p: np.ndarray, vendor: VendorProfile) -> np.ndarray:
    # log1p and power through reproducible.py: their SIMD kernels differ by CPU in the last bit, which would
    # flip the rounding of some stored values.
    top = 2**vendor.bits_stored - 1
    if vendor.transfer == "linear":
        return 0.03 * top + 0.9 * top * p
    if vendor.transfer == "log":
        return top * rp.log1p(25 * p) / math.log1p(25)
    return top * rp.power(p, 0.6)


def vendor_window(rng: np.random.Generator, vendor: VendorProfile) -> tuple[float, float]:
    """Window centre/width in stored values: the vendor's fat-to-gland range with a little per-image jitter.

    Fixed per vendor (not stretched per image) so that a fatty breast stays grey and a dense one white, as on
    a reading workstation.
    """
    lo, hi = _transfer(np.array([0.12 + rng.normal(0, 0.02), 0.95 + rng.normal(0, 0.02)]), vendor)
    if vendor.photometric == "MONOCHROME1":
        top = 2**vendor.bits_stored - 1
        lo, hi = top - hi, top - lo
    return round(float(lo + hi) / 2, 1), round(float(hi - lo), 1)


def _voi_lut(center: float, width: float, bits_stored: int) -> Dataset:
    """A 12-bit output sigmoid-like VOI LUT covering every stored value (first mapped value 0)."""
    n = 2**bits_stored
    x = np.arange(n, dtype=np.float64)
    lut = 4095 / (1 + np.exp(-4 * (x - center) / width))
    item = Dataset()
    item.LUTDescriptor = [n if n < 65536 else 0, 0, 12]
    item.LUTExplanation = "LUMORA SOFT"
    # OW in explicit VR little endian: raw 16-bit words.
    item.add_new(0x00283006, "OW", np.rint(lut).astype("<u2").tobytes())
    return item


@dataclass(frozen=True)
class DicomHeader:
    """Per-image identifying values written into the DICOM header (PHI included, as in a hospital export)."""

    patient_id: str
    patient_name: str  # DICOM PN: FAMILY^GIVEN
    birth_date: str  # YYYYMMDD
    study_date: str  # YYYYMMDD
    study_time: str  # HHMMSS
    accession: str  # the RIS exam id: what links the image to its report
    study_uid: str
    series_uid: str
    sop_uid: str
    laterality: str
    view: str
    instance: int
    age_years: int
    thickness_mm: float  # compressed breast thickness
    force_n: float  # compression force
    kvp: float
    study_id: str = ""  # the modality's own study number (type 2: may be empty)


def make_uid(*parts: object) -> str:
    """Deterministic DICOM UID from the given values: 2.25.<128-bit integer>, the UUID-derived form."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()[:16]
    return f"2.25.{int.from_bytes(digest, 'big')}"


def write_dicom(
    path: Path,
    stored: np.ndarray,
    window: tuple[float, float],
    vendor: VendorProfile,
    header: DicomHeader,
    scale: float,
) -> None:
    """Write one MG 'FOR PRESENTATION' image with the vendor's encoding."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    film = vendor.transfer == "film"
    sop_class = SECONDARY_CAPTURE if film else MAMMO_FOR_PRESENTATION
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = header.sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = rp.DICOM_IMPLEMENTATION_VERSION  # not pydicom's version

    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY", "", ""] if film else ["ORIGINAL", "PRIMARY", "", ""]
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = header.sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = header.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = header.study_time
    ds.AccessionNumber = header.accession
    ds.Modality = "MG"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = vendor.name
    ds.ManufacturerModelName = vendor.model
    ds.InstitutionName = "Hospital Universitario de Ejemplo"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "MAMOGRAFIA BILATERAL DE CRIBADO"
    ds.PatientName = header.patient_name
    ds.PatientID = header.patient_id
    ds.PatientBirthDate = header.birth_date
    ds.PatientSex = "F"
    ds.BodyPartExamined = "BREAST"
    ds.ViewPosition = header.view
    ds.ImageLaterality = header.laterality
    ds.PatientOrientation = _ORIENTATION[(header.laterality, header.view)]
    code_value, meaning = _VIEW_CODES[header.view]
    view_code = Dataset()
    view_code.CodeValue, view_code.CodingSchemeDesignator, view_code.CodeMeaning = code_value, "SCT", meaning
    ds.ViewCodeSequence = Sequence([view_code])
    ds.PatientAge = f"{header.age_years:03d}Y"
    ds.BreastImplantPresent = "NO"
    ds.BodyPartThickness = round(header.thickness_mm, 1)
    ds.CompressionForce = round(header.force_n, 1)
    ds.KVP = round(header.kvp, 1)
    if film:
        ds.ConversionType = "DF"  # digitised film
    else:
        ds.DetectorType = "DIRECT"
    ds.BurnedInAnnotation = "YES"  # the laterality marker is part of the pixels
    ds.StudyInstanceUID = header.study_uid
    ds.SeriesInstanceUID = header.series_uid
    ds.StudyID = header.study_id
    ds.SeriesNumber = 1
    ds.InstanceNumber = header.instance

    spacing = round(vendor.spacing(scale), 6)
    ds.PixelSpacing = ds.ImagerPixelSpacing = [spacing, spacing]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = vendor.photometric
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = vendor.bits_stored
    ds.HighBit = vendor.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG" if vendor.transfer == "log" else "LIN"
    ds.PixelIntensityRelationshipSign = -1 if vendor.photometric == "MONOCHROME1" else 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"

    center, width = window
    if vendor.voi != "none":
        ds.WindowCenter, ds.WindowWidth = center, width
        ds.WindowCenterWidthExplanation = "NORMAL"
    if vendor.voi == "sigmoid":
        ds.VOILUTFunction = "SIGMOID"
    elif vendor.voi == "lut":
        ds.VOILUTSequence = Sequence([_voi_lut(center, width, vendor.bits_stored)])
    elif vendor.voi == "window":
        ds.VOILUTFunction = "LINEAR"

    if vendor.transfer_syntax == ExplicitVRLittleEndian:
        ds.PixelData = stored.tobytes()
    else:
        ds.compress(vendor.transfer_syntax, stored, generate_instance_uid=False)
        if vendor.transfer_syntax == JPEG2000Lossless:  # drop the encoder's version comment
            ds.PixelData = rp.without_j2k_comments(ds.PixelData)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
