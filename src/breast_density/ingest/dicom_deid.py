"""De-identified image copies: pixel data byte for byte, only the technical header the pipeline needs.

An allow-list, not a block-list: private tags, dates, names, UIDs, institution and device serials are dropped
by construction. Pixel data (native or encapsulated) is copied without decoding, so the copy decodes to
exactly the same pixels as the original. New instance UIDs derive from the pseudonymous image id.
Raster files carry no DICOM header and are copied unchanged (strip text metadata before export if your
PNG/TIFF writer stores patient data in it).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid

from breast_density import reproducible
from breast_density.imaging.decode import is_raster, open_dicom
from breast_density.io import atomic_path

TECHNICAL_KEYWORDS = (
    "SOPClassUID",
    "Modality",
    "PresentationIntentType",
    "Manufacturer",
    "ManufacturerModelName",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "PixelIntensityRelationship",
    "PixelIntensityRelationshipSign",
    "RescaleIntercept",
    "RescaleSlope",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)


@dataclass(frozen=True)
class CopyTask:
    source: str
    target: str
    image_id: str
    exam_id: str  # pseudonymous
    patient_id: str  # pseudonymous
    laterality: str
    view: str


def copy_target(out_dir: Path, image_id: str, source: str | Path) -> Path:
    suffix = Path(source).suffix.lower() if is_raster(source) else ".dcm"
    return Path(out_dir) / f"{image_id}{suffix}"


def write_copy(task: CopyTask) -> str | None:
    """Write one de-identified copy; returns None, or the reason it failed (the caller quarantines)."""
    try:
        with atomic_path(task.target) as tmp:
            if is_raster(task.source):
                shutil.copyfile(task.source, tmp)
            else:
                deidentified_dataset(open_dicom(task.source), task).save_as(tmp, enforce_file_format=True)
    except Exception as err:  # reported per file; one odd file must not stop the stage
        return f"could not write de-identified copy: {type(err).__name__}: {str(err)[:160]}"
    return None


def deidentified_dataset(src: Dataset, task: CopyTask) -> Dataset:
    out = Dataset()
    for keyword in TECHNICAL_KEYWORDS:
        if keyword in src:
            out[keyword] = src[keyword]
    out.ImageLaterality = task.laterality
    out.ViewPosition = task.view
    out.PatientID = task.patient_id
    out.PatientName = ""
    out.AccessionNumber = task.exam_id
    out.StudyInstanceUID = generate_uid(prefix="2.25.", entropy_srcs=["study", task.exam_id])
    out.SeriesInstanceUID = generate_uid(prefix="2.25.", entropy_srcs=["series", task.exam_id])
    out.SOPInstanceUID = generate_uid(prefix="2.25.", entropy_srcs=["image", task.image_id])
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = "allow-list of technical attributes; keyed pseudonymous ids"
    out["PixelData"] = src["PixelData"]
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = src.file_meta.TransferSyntaxUID
    meta.MediaStorageSOPClassUID = src.get("SOPClassUID", src.file_meta.get("MediaStorageSOPClassUID", ""))
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.ImplementationVersionName = reproducible.DICOM_IMPLEMENTATION_VERSION  # not pydicom's version
    out.file_meta = meta
    return out
