"""Header-only indexing of image files, in parallel and streaming.

A DICOM is read with its large elements deferred: pydicom records where the pixel data starts and how long
it claims to be, but never reads it. That is as cheap as ``stop_before_pixels`` and still tells a truncated
file (pixel data running past the end of the file), pixel data of the wrong length for Rows x Columns x
BitsAllocated, a missing pixel element and an undecodable transfer syntax apart from a good file — without
decoding a single full-resolution image. Raster files get Pillow's header parse plus its integrity check.

Workers return small picklable records; identifying values (PatientName, ids) stay in memory for linking and
text scrubbing and are never written out by this module.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from breast_density.imaging.decode import error_summary, is_raster, open_dicom, transfer_syntax_problem
from breast_density.imaging.parallel import imap_files

log = logging.getLogger(__name__)

_PIXEL_TAG = 0x7FE00010
_DEFER = 1024  # bytes: anything larger (pixel data, ICC profiles, private blobs) is skipped, not read
_UNDEFINED = 0xFFFFFFFF
_NOT_IMAGES = {"dicomdir"}
_LAT_FROM_NAME = re.compile(r"(?<![A-Za-z])(L|R|LEFT|RIGHT)(?![A-Za-z])", re.IGNORECASE)
_VIEW_FROM_NAME = re.compile(r"(?<![A-Za-z])(CC|MLO)(?![A-Za-z])", re.IGNORECASE)
_VIEW_MEANINGS = {"cranio-caudal": "CC", "medio-lateral oblique": "MLO"}
# Geometry a mammogram can have: smaller is a thumbnail or a broken header, larger an allocation no
# detector needs (the largest FFDM matrices are ~4k x 6k).
MIN_SIDE = 32
MAX_SIDE = 16384
MAX_DECODED_BYTES = 1 << 30
# zlib cannot shrink data more than this, so a smaller PNG cannot hold the pixels its header claims
_DEFLATE_MAX_RATIO = 1032


@dataclass
class ImageHeader:
    """What ingest needs from one image file. `problem` is set when the file is unusable."""

    path: str
    kind: str  # "dicom" or "raster"
    problem: str | None = None
    sop_uid: str = ""
    patient_id: str = ""
    patient_names: list[str] = field(default_factory=list)  # PHI: for scrubbing report text only
    exam_keys: dict[str, str] = field(default_factory=dict)  # candidate exam ids: folder, accession, ...
    laterality: str = ""
    view: str = ""
    vendor: str = ""
    photometric: str = ""
    transfer_syntax: str = ""
    rows: int = 0
    cols: int = 0
    modality: str = ""
    intent: str = ""


def find_dicom_files(root: str | Path) -> list[Path]:
    """Candidate DICOM files under `root` at any depth (sorted, so runs are reproducible).

    Files with a DICOM-like suffix or none are candidates; tables, text and raster images are not.
    """
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            suffix = Path(name).suffix.lower()
            if name.startswith(".") or name.lower() in _NOT_IMAGES:
                continue
            if suffix in {".dcm", ".dicom", ".ima", ""}:
                found.append(Path(dirpath) / name)
    return sorted(found)


def scan_header(path: str | Path) -> ImageHeader:
    """Index one file; never raises (a bad file comes back with `problem` set)."""
    path = Path(path)
    kind = "raster" if is_raster(path) else "dicom"
    folder = {"folder": path.parent.name}  # links even an unreadable file to its exam for the quarantine row
    if not path.is_file():
        return ImageHeader(str(path), kind, problem="image file missing", exam_keys=folder)
    try:
        head = _scan_raster(path) if kind == "raster" else _scan_dicom(path)
    except Exception as err:  # a worker must report, not crash the pool, whatever the file holds
        head = ImageHeader(str(path), kind, problem=f"unreadable file: {type(err).__name__}: {err}"[:300])
    head.exam_keys = {**folder, **head.exam_keys}
    return head


def scan_headers(paths: Iterable[str | Path], pool: Pool | None = None) -> Iterator[ImageHeader]:
    """Scan many files (in `pool` when given), yielding results in input order as they arrive."""
    yield from imap_files(scan_header, [str(p) for p in paths], pool, "ingest headers")


def _scan_dicom(path: Path) -> ImageHeader:
    head = ImageHeader(str(path), "dicom")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = open_dicom(path, defer_size=_DEFER)
        except InvalidDicomError:
            head.problem = "not a DICOM file (no DICM preamble)"
            return head
        except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            head.problem = f"truncated or corrupt DICOM: {error_summary(err)}"
            return head
    if any("End of file reached" in str(w.message) for w in caught):
        head.problem = "truncated file or pixel data of the wrong length: file ends inside the pixel data"
        return head
    _fill_identity(head, ds, path)
    _fill_technical(head, ds)
    head.problem = _pixel_problem(ds, path)
    return head


def _fill_identity(head: ImageHeader, ds: pydicom.Dataset, path: Path) -> None:
    head.sop_uid = str(ds.get("SOPInstanceUID", "") or "")
    head.patient_id = str(ds.get("PatientID", "") or "").strip()
    names = [str(ds.get(tag, "") or "") for tag in ("PatientName", "OtherPatientNames", "PatientBirthName")]
    head.patient_names = [n for n in names if n]
    head.exam_keys = {
        "folder": path.parent.name,
        "AccessionNumber": str(ds.get("AccessionNumber", "") or "").strip(),
        "StudyID": str(ds.get("StudyID", "") or "").strip(),
        "StudyInstanceUID": str(ds.get("StudyInstanceUID", "") or "").strip(),
    }
    head.laterality = _laterality(ds, path)
    head.view = _view(ds, path)


def _fill_technical(head: ImageHeader, ds: pydicom.Dataset) -> None:
    meta = getattr(ds, "file_meta", None)
    head.transfer_syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    head.vendor = str(ds.get("Manufacturer", "") or "").strip()
    head.photometric = str(ds.get("PhotometricInterpretation", "") or "").strip()
    head.rows = int(ds.get("Rows", 0) or 0)
    head.cols = int(ds.get("Columns", 0) or 0)
    head.modality = str(ds.get("Modality", "") or "").strip().upper()
    head.intent = str(ds.get("PresentationIntentType", "") or "").strip().upper()


def _pixel_problem(ds: pydicom.Dataset, path: Path) -> str | None:
    if _PIXEL_TAG not in ds:
        return "no pixel data"
    if not head_has_geometry(ds):
        return "truncated or corrupt DICOM: Rows/Columns/BitsAllocated missing"
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        return f"multi-frame image: {frames} frames, not a single 2-D view"
    bad = geometry_problem(
        int(ds.Rows),
        int(ds.Columns),
        int(ds.BitsAllocated),
        int(ds.get("BitsStored", ds.BitsAllocated) or 0),
        int(ds.get("SamplesPerPixel", 1) or 1),
    )
    if bad:
        return bad
    if ds.file_meta.get("TransferSyntaxUID") is not None:
        reason = transfer_syntax_problem(ds.file_meta.TransferSyntaxUID)
        if reason:
            return reason
    raw = ds.get_item(_PIXEL_TAG, keep_deferred=True)
    length, offset = getattr(raw, "length", None), getattr(raw, "value_tell", None)
    if length is None or length == _UNDEFINED:
        return None  # encapsulated: fragments were walked while reading; truncation already caught
    if offset is not None and offset + length > path.stat().st_size:
        return (
            f"truncated file or pixel data of the wrong length: pixel data claims {length} bytes, "
            f"the file ends {offset + length - path.stat().st_size} bytes early"
        )
    expected = _native_length(ds, frames)
    if length not in (expected, expected + 1):  # +1: the even-length padding byte
        return (
            f"truncated file or pixel data of the wrong length: {length} bytes of pixel data, "
            f"{ds.Rows}x{ds.Columns}x{ds.BitsAllocated}-bit needs {expected}"
        )
    return None


def geometry_problem(
    rows: int, cols: int, bits_allocated: int, bits_stored: int, samples: int = 1
) -> str | None:
    """Why a header's image geometry cannot be a mammogram (checked before any pixel is decoded), or None."""
    if rows <= 0 or cols <= 0:
        return f"bad geometry: Rows x Columns is {rows}x{cols}"
    if bits_allocated not in (1, 8, 16, 32) or not 0 < bits_stored <= bits_allocated:
        return f"bad geometry: BitsStored {bits_stored} with BitsAllocated {bits_allocated}"
    if min(rows, cols) < MIN_SIDE:
        return f"image too small: {rows}x{cols} pixels (minimum {MIN_SIDE} per side)"
    decoded = rows * cols * samples * max(bits_allocated // 8, 1)
    if max(rows, cols) > MAX_SIDE or decoded > MAX_DECODED_BYTES:
        return (
            f"image too large: {rows}x{cols} pixels, {decoded / 2**30:.1f} GiB decoded "
            f"(caps: {MAX_SIDE} per side, {MAX_DECODED_BYTES >> 30} GiB)"
        )
    return None


def head_has_geometry(ds: pydicom.Dataset) -> bool:
    return all(ds.get(tag) not in (None, "") for tag in ("Rows", "Columns", "BitsAllocated"))


def _native_length(ds: pydicom.Dataset, frames: int) -> int:
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.BitsAllocated) * int(ds.Rows) * int(ds.Columns) * samples * frames
    return (bits + 7) // 8


def _laterality(ds: pydicom.Dataset, path: Path) -> str:
    for tag in ("ImageLaterality", "Laterality", "FrameLaterality"):
        value = str(ds.get(tag, "") or "").strip().upper()
        if value:
            return normalise_laterality(value)
    match = _LAT_FROM_NAME.search(path.stem.replace("_", " "))
    return normalise_laterality(match.group(1)) if match else ""


def _view(ds: pydicom.Dataset, path: Path) -> str:
    value = str(ds.get("ViewPosition", "") or "").strip().upper()
    if value:
        return value
    for item in ds.get("ViewCodeSequence", []) or []:
        meaning = str(item.get("CodeMeaning", "")).lower()
        if meaning in _VIEW_MEANINGS:
            return _VIEW_MEANINGS[meaning]
    match = _VIEW_FROM_NAME.search(path.stem.replace("_", " "))
    return match.group(1).upper() if match else ""


def normalise_laterality(value: str) -> str:
    value = str(value).strip().upper()
    return {"LEFT": "L", "RIGHT": "R", "IZQUIERDA": "L", "DERECHA": "R"}.get(value, value)


def _scan_raster(path: Path) -> ImageHeader:
    from PIL import Image, UnidentifiedImageError

    head = ImageHeader(str(path), "raster", transfer_syntax=path.suffix.lower().lstrip("."))
    try:
        with Image.open(path) as img:
            head.cols, head.rows = img.size
            mode, bands = img.mode, len(img.getbands())
            head.photometric = (
                "MONOCHROME2" if img.mode in {"1", "L", "I", "I;16", "I;16B", "F"} else img.mode
            )
            img.verify()  # chunk CRCs for PNG, structure for TIFF; cheap next to a full decode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        head.problem = f"unreadable image file: {error_summary(err)}"
        return head
    if path.suffix.lower() in {".jpg", ".jpeg"} and not _jpeg_complete(path):
        head.problem = "unreadable image file: JPEG data ends before its end-of-image marker (truncated)"
        return head
    bits = 16 if mode in {"I", "I;16", "I;16B", "F"} else 8
    head.problem = geometry_problem(head.rows, head.cols, bits, bits, bands)
    raw = head.rows * head.cols * bands * bits // 8
    too_small = path.suffix.lower() == ".png" and path.stat().st_size * _DEFLATE_MAX_RATIO < raw
    if head.problem is None and too_small:
        head.problem = (
            f"truncated image file: the header claims {head.cols}x{head.rows} pixels, "
            f"the file ({path.stat().st_size} bytes) is too small to hold them"
        )
    return head


def _jpeg_complete(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 64))
        return b"\xff\xd9" in fh.read()
