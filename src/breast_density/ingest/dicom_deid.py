"""De-identified image copies, built from an allow-list at every depth and verified after writing.

DICOM follows the Basic Application Level Confidentiality Profile of PS3.15 Annex E by construction: the copy
is a new dataset holding only the technical attributes the pipeline needs, so names, dates, UIDs,
institution, free text and private tags of the source never reach it. Sequences are rebuilt item by item
from their own allow-list (a VOI LUT item keeps its descriptor and data, not its free-text explanation);
private elements are dropped at every depth. Two profile options are params: Retain Device Identity (keep
the device serial number, station name, detector id) and Clean Descriptors (keep study/series/protocol
descriptions after report-style scrubbing). Pixel data (native or encapsulated) is copied without decoding,
so the copy decodes to exactly the pixels of the original. New UIDs derive from the pseudonymous image id.

`verify_dicom` re-reads every written copy and rejects it when any text-valued element outside the
allow-list, or any private element, remains at any depth: a rule added to the writer by mistake fails
closed, per file. Raster copies (PNG/JPEG/TIFF/...) are re-encoded from their pixels as PNG, which drops
text chunks, EXIF and TIFF tags; `verify_png` checks that only pixel chunks remain.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from breast_density import reproducible
from breast_density.imaging.decode import is_raster, open_dicom
from breast_density.ingest.deid import scrub_report
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
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "LossyImageCompressionMethod",
)
# Sequences the display chain reads, with the item attributes kept (no LUTExplanation: free text).
SEQUENCE_ITEMS = {
    "ModalityLUTSequence": ("LUTDescriptor", "ModalityLUTType", "LUTData"),
    "VOILUTSequence": ("LUTDescriptor", "LUTData"),
}
# PS3.15 Retain Device Identity Option
DEVICE_KEYWORDS = ("DeviceSerialNumber", "StationName", "DetectorID", "DeviceUID", "DetectorDescription")
# PS3.15 Clean Descriptors Option: kept only after scrubbing
DESCRIPTOR_KEYWORDS = ("StudyDescription", "SeriesDescription", "ProtocolName")
# Attributes the copy writes itself; their values are pseudonyms, constants or new UIDs.
WRITTEN_KEYWORDS = (
    "ImageLaterality",
    "ViewPosition",
    "PatientID",
    "PatientName",
    "AccessionNumber",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "CodeValue",
    "CodingSchemeDesignator",
    "CodeMeaning",
)
# PS3.16 CID 7050 codes naming the profile and its options
_PROFILE_CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "device": ("113109", "Retain Device Identity Option"),
    "descriptors": ("113105", "Clean Descriptors Option"),
}
_TEXT_VRS = {
    "AE",
    "AS",
    "CS",
    "DA",
    "DS",
    "DT",
    "IS",
    "LO",
    "LT",
    "PN",
    "SH",
    "ST",
    "TM",
    "UC",
    "UI",
    "UR",
    "UT",
}
_NATIVE_LE = {ExplicitVRLittleEndian, ImplicitVRLittleEndian}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"sBIT", b"gAMA", b"pHYs"}


class _RejectedCopyError(Exception):
    pass


@dataclass(frozen=True)
class CopyTask:
    source: str
    target: str
    image_id: str
    exam_id: str  # pseudonymous
    patient_id: str  # pseudonymous
    laterality: str
    view: str
    retain_device_identity: bool = False
    clean_descriptors: bool = False
    names: tuple[str, ...] = field(default=(), repr=False)  # PHI: scrubs descriptors, never written


def copy_target(out_dir: Path, image_id: str, source: str | Path) -> Path:
    suffix = ".png" if is_raster(source) else ".dcm"
    return Path(out_dir) / f"{image_id}{suffix}"


def write_copy(task: CopyTask) -> str | None:
    """Write and verify one de-identified copy; None, or the reason it failed (the caller quarantines)."""
    try:
        src = None if is_raster(task.source) else open_dicom(task.source)
        if src is not None and looks_transposed(src):
            return (
                f"bad geometry: Rows x Columns {src.Rows}x{src.Columns} looks swapped "
                "(the pixels are smooth only when read the other way round)"
            )
        with atomic_path(task.target) as tmp:
            if src is None:
                _write_png(task.source, tmp)
                problems = verify_png(tmp)
            else:
                deidentified_dataset(src, task).save_as(tmp, enforce_file_format=True)
                problems = verify_dicom(tmp, task)
            if problems:  # raised inside atomic_path, so the rejected file is never published
                raise _RejectedCopyError(f"de-identified copy failed verification: {', '.join(problems[:5])}")
    except _RejectedCopyError as rejected:
        return str(rejected)
    except Exception as err:  # reported per file; one odd file must not stop the stage
        return f"could not write de-identified copy: {type(err).__name__}: {str(err)[:160]}"
    return None


def deidentified_dataset(src: Dataset, task: CopyTask) -> Dataset:
    out = Dataset()
    for keyword in TECHNICAL_KEYWORDS + (DEVICE_KEYWORDS if task.retain_device_identity else ()):
        if keyword in src and not isinstance(src[keyword].value, Sequence):
            out[keyword] = src[keyword]
    for keyword, allowed in SEQUENCE_ITEMS.items():
        if src.get(keyword):
            out[keyword] = src[keyword]  # keeps VR and tag; the value is replaced below
            out[keyword].value = Sequence([_rebuild_item(item, allowed) for item in src[keyword].value])
    if task.clean_descriptors:
        for keyword in DESCRIPTOR_KEYWORDS:
            if src.get(keyword):
                out[keyword] = src[keyword]
                out[keyword].value = scrub_report(str(src[keyword].value), task.names)[:64]
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
    out.DeidentificationMethodCodeSequence = Sequence([_code(c) for c in _profile(task)])
    out["PixelData"] = src["PixelData"]
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = src.file_meta.TransferSyntaxUID
    meta.MediaStorageSOPClassUID = src.get("SOPClassUID", src.file_meta.get("MediaStorageSOPClassUID", ""))
    meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    meta.ImplementationVersionName = reproducible.DICOM_IMPLEMENTATION_VERSION  # not pydicom's version
    out.file_meta = meta
    return out


def looks_transposed(ds: Dataset, band: int = 256) -> bool:
    """Native grey pixel data whose Rows and Columns were swapped in the header.

    The byte count cannot tell (R x C == C x R), but the image can: read with the wrong row length, each row
    is shifted against the next, so differences between vertical neighbours dwarf those between horizontal
    ones; read the right way both are alike. Checked on a band of rows, both ways round.
    """
    rows, cols = int(ds.Rows), int(ds.Columns)
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    bits = int(ds.get("BitsAllocated", 0))
    if (
        rows == cols
        or tsyntax not in _NATIVE_LE
        or bits not in (8, 16)
        or int(ds.get("SamplesPerPixel", 1)) != 1
    ):
        return False
    flat = np.frombuffer(ds.PixelData, dtype="<u2" if bits == 16 else np.uint8, count=rows * cols)
    as_given = _roughness(flat.reshape(rows, cols)[:band])
    other_way = _roughness(flat.reshape(cols, rows)[:band])
    return as_given > 4.0 and other_way < 1.5


def _roughness(img: np.ndarray) -> float:
    """Mean vertical over mean horizontal neighbour difference."""
    img = img.astype(np.float32)
    vertical = float(np.abs(np.diff(img, axis=0)).mean())
    horizontal = float(np.abs(np.diff(img, axis=1)).mean())
    return vertical / max(horizontal, 1e-6)


def _rebuild_item(item: Dataset, allowed: tuple[str, ...]) -> Dataset:
    new = Dataset()
    for keyword in allowed:
        if keyword in item:
            new[keyword] = item[keyword]
    return new


def _profile(task: CopyTask) -> list[str]:
    return (
        ["basic"]
        + (["device"] if task.retain_device_identity else [])
        + (["descriptors"] if task.clean_descriptors else [])
    )


def _code(name: str) -> Dataset:
    value, meaning = _PROFILE_CODES[name]
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
    return item


def allowed_keywords(task: CopyTask) -> set[str]:
    """Every keyword a copy may hold, at any depth, under the task's profile options."""
    allowed = set(TECHNICAL_KEYWORDS) | set(SEQUENCE_ITEMS) | set(WRITTEN_KEYWORDS) | {"PixelData"}
    allowed |= {k for items in SEQUENCE_ITEMS.values() for k in items}
    if task.retain_device_identity:
        allowed |= set(DEVICE_KEYWORDS)
    if task.clean_descriptors:
        allowed |= set(DESCRIPTOR_KEYWORDS)
    return allowed


def verify_dicom(path: str | Path, task: CopyTask) -> list[str]:
    """Keywords (or tags) of elements in the written file outside the allow-list; empty when clean."""
    ds = open_dicom(path, defer_size=4096)  # pixel data is not inspected: leave it on disk
    allowed = allowed_keywords(task)
    problems = []
    for elem in ds.iterall():
        if elem.tag.is_private:
            problems.append(f"private tag {elem.tag}")
        elif elem.keyword not in allowed and (elem.VR in _TEXT_VRS or elem.VR in ("SQ", "UN", "OB")):
            problems.append(elem.keyword or str(elem.tag))
    return problems


def _write_png(source: str | Path, target: Path) -> None:
    data = np.fromfile(source, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise ValueError(f"cannot decode this {Path(source).suffix} file")
    if img.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"unsupported pixel type {img.dtype} (expected 8 or 16 bit)")
    ok, encoded = cv2.imencode(".png", img, reproducible.PNG_PARAMS)
    if not ok:
        raise ValueError("PNG encoder failed")
    target.write_bytes(encoded.tobytes())


def verify_png(path: str | Path) -> list[str]:
    """Chunks other than pixel data and its geometry (text, EXIF, ICC, time) in a written PNG."""
    data = Path(path).read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        return ["not a PNG"]
    problems, pos = [], len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind not in _PNG_PIXEL_CHUNKS:
            problems.append(f"PNG chunk {kind.decode('latin-1')}")
        pos += 12 + length
    return problems
