"""The one image decoder of the pipeline: DICOM or raster file -> 2-D uint16, dense tissue bright.

DICOM follows pydicom 3's display pipeline — modality LUT (rescale or LUT sequence), then VOI LUT or window
(LINEAR / LINEAR_EXACT / SIGMOID), then MONOCHROME1 inversion — but the whole chain is evaluated once over the
range of possible stored values and applied as a single integer lookup table (``cv2.LUT`` on the 16-bit stored
values). A full-resolution mammogram therefore never gets a float64 copy, and the result equals pydicom's
``apply_voi_lut(apply_modality_lut(arr, ds), ds)`` rescaled from the VOI output range onto 0..65535.

PNG / JPEG / TIFF / PGM are read with OpenCV; 8-bit images are scaled by 257 so that every image shares the
0..65535 range.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut, get_decoder

_NATIVE_LE = {pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian}
RASTER_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".pnm", ".ppm", ".bmp"})
OUT_MAX = 65535


class ImageReadError(ValueError):
    """An image file that cannot be turned into pixels; ``reason`` names the problem."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def is_raster(path: str | Path) -> bool:
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def read_pixels(path: str | Path) -> np.ndarray:
    """Decode one image to a 2-D uint16 array (0..65535, dense tissue bright)."""
    path = Path(path)
    if is_raster(path):
        return read_raster(path)
    return read_dicom(path)


def read_dicom(path: str | Path) -> np.ndarray:
    path = Path(path)
    ds = read_dataset(path)
    check_pixel_header(ds, path)
    native = native_view(ds, path)
    if native is not None:
        return to_display(native, ds, path)
    return to_display(stored_pixels(ds, path), ds, path)


def stored_pixels(ds: Dataset, path: str | Path) -> np.ndarray:
    """pydicom's decoded stored values, with its many error types turned into one ImageReadError."""
    try:
        return ds.pixel_array
    except Exception as err:  # pydicom raises many types for corrupt/short pixel data
        if "number of bytes of pixel data" in str(err) or "length of the pixel data" in str(err):
            reason = f"truncated file or pixel data of the wrong length: {error_summary(err)}"
        else:
            reason = f"pixel data cannot be decoded: {error_summary(err)}"
        raise ImageReadError(path, reason) from None


def native_view(ds: Dataset, path: str | Path) -> np.ndarray | None:
    """Zero-copy view of uncompressed little-endian 16-bit grey pixel data, else None (pydicom decodes).

    The display LUT is indexed by the raw bit pattern and masks/sign-extends it itself, so the bytes can go
    straight into the lookup: one pass over the image instead of pydicom's copy plus ours.
    """
    shape = native_shape(ds)
    if shape is None:
        return None
    data = ds.PixelData
    check_native_length(len(data), shape, path)
    return np.frombuffer(data, dtype="<u2", count=shape[0] * shape[1]).reshape(shape)


def native_shape(ds: Dataset) -> tuple[int, int] | None:
    """(rows, columns) when the pixel data is uncompressed little-endian 16-bit grey, else None."""
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if tsyntax not in _NATIVE_LE or int(ds.get("SamplesPerPixel", 1)) != 1 or int(ds.BitsAllocated) != 16:
        return None
    return int(ds.Rows), int(ds.Columns)


def check_native_length(available: int, shape: tuple[int, int], path: str | Path) -> None:
    """Raise when fewer bytes of native 16-bit pixel data are present than the header's matrix needs."""
    rows, cols = shape
    if available < rows * cols * 2:
        raise ImageReadError(
            path,
            f"truncated file or pixel data of the wrong length: {available} bytes for {rows}x{cols}x16-bit",
        )


def read_dataset(path: Path, defer_size: int | None = None) -> Dataset:
    """The whole dataset, or an ImageReadError naming what is wrong with the file.

    With `defer_size`, elements at least that long (the pixel data) stay on disk until they are used.
    """
    if not path.is_file():
        raise ImageReadError(path, "image file missing")
    try:
        return open_dicom(path, defer_size=defer_size)
    except InvalidDicomError:
        raise ImageReadError(path, "not a DICOM file (no DICM preamble)") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ImageReadError(path, f"truncated or corrupt DICOM: {error_summary(err)}") from None


def open_dicom(path: str | Path, **kwargs) -> Dataset:
    """pydicom.dcmread that also accepts datasets written without the 128-byte preamble and file meta.

    Older PACS exports do that. Such a file is taken as DICOM only if it parses to an image header
    (Rows present); its transfer syntax is then the encoding pydicom detected while reading.
    """
    try:
        return pydicom.dcmread(path, **kwargs)
    except InvalidDicomError:
        ds = pydicom.dcmread(path, force=True, **kwargs)
        if "Rows" not in ds or ds.original_encoding[0] is None:
            raise
        implicit, little = ds.original_encoding
        ds.file_meta = getattr(ds, "file_meta", None) or pydicom.dataset.FileMetaDataset()
        if "TransferSyntaxUID" not in ds.file_meta:
            ds.file_meta.TransferSyntaxUID = (
                pydicom.uid.ImplicitVRLittleEndian
                if implicit
                else pydicom.uid.ExplicitVRLittleEndian
                if little
                else pydicom.uid.ExplicitVRBigEndian
            )
        return ds


def check_pixel_header(ds: Dataset, path: str | Path) -> None:
    """Raise when the dataset has no image or its pixel encoding cannot be decoded here."""
    if "PixelData" not in ds and "FloatPixelData" not in ds:
        raise ImageReadError(path, "no pixel data")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise ImageReadError(path, f"multi-frame image: {frames} frames, not a single 2-D view")
    tsyntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if tsyntax is not None:
        reason = transfer_syntax_problem(tsyntax)
        if reason:
            raise ImageReadError(path, reason)


def transfer_syntax_problem(uid: str) -> str | None:
    """None when the installed pydicom plugins decode this transfer syntax, else a reason naming the fix."""
    return _transfer_syntax_problem(str(uid))


@functools.cache
def _transfer_syntax_problem(uid: str) -> str | None:
    name = pydicom.uid.UID(uid).name
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"undecodable transfer syntax: pydicom has no decoder for {name}"
    if decoder.is_available:
        return None
    needs = [dep.split(" - requires ", 1)[-1] for dep in decoder.missing_dependencies]
    return f"undecodable transfer syntax: {name} needs one of " + "; ".join(needs)


def to_display(stored: np.ndarray, ds: Dataset, path: str | Path = "<dataset>") -> np.ndarray:
    """Apply the modality -> VOI -> MONOCHROME1 chain to stored values as one integer lookup."""
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if stored.ndim == 3 and stored.shape[-1] in (3, 4):
        return _colour_to_gray(stored, path)
    if stored.ndim != 2:
        raise ImageReadError(path, f"unsupported image shape: {stored.shape}")
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise ImageReadError(path, f"unsupported photometric interpretation: {photometric}")
    if stored.dtype.kind not in "iu":
        raise ImageReadError(path, f"unsupported pixel type: {stored.dtype}")
    if stored.dtype.itemsize > 2:
        # 32-bit stored values are rare; look up over the values actually present instead of 2**32.
        lo = int(stored.min())
        lut = display_lut(ds, np.arange(lo, int(stored.max()) + 1, dtype=np.int64))
        return lut[stored - lo]
    lut = _lut_for(ds, stored.dtype)
    return cv2.LUT(np.ascontiguousarray(stored), lut)


def _lut_for(ds: Dataset, dtype: np.dtype) -> np.ndarray:
    key = _lut_key(ds, dtype)
    if key is None:  # LUT sequences: cheap to rebuild, awkward to hash
        return _bit_pattern_lut(ds, dtype)
    return _cached_lut(key, ds, dtype)


_LUT_CACHE: dict[tuple, np.ndarray] = {}


def _cached_lut(key: tuple, ds: Dataset, dtype: np.dtype) -> np.ndarray:
    lut = _LUT_CACHE.get(key)
    if lut is None:
        if len(_LUT_CACHE) > 64:
            _LUT_CACHE.clear()
        lut = _LUT_CACHE[key] = _bit_pattern_lut(ds, dtype)
    return lut


def _lut_key(ds: Dataset, dtype: np.dtype) -> tuple | None:
    if ds.get("ModalityLUTSequence") or ds.get("VOILUTSequence"):
        return None
    fields = (
        "PhotometricInterpretation",
        "BitsStored",
        "PixelRepresentation",
        "RescaleSlope",
        "RescaleIntercept",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
    )
    return (np.dtype(dtype).str, *(str(ds.get(f, "")) for f in fields))


def _bit_pattern_lut(ds: Dataset, dtype: np.dtype) -> np.ndarray:
    """LUT indexed by the unsigned bit pattern of an 8/16-bit stored value (what cv2.LUT looks up).

    Bits above BitsStored are masked off (they may hold overlays) and signed values are sign-extended
    from BitsStored, so raw file bytes and pydicom's decoded arrays index the same table. The display
    chain itself is evaluated once per possible stored value, not once per pattern.
    """
    itemsize = np.dtype(dtype).itemsize
    bits = min(int(ds.get("BitsStored", 8 * itemsize)), 8 * itemsize)
    patterns = np.arange(2 ** (8 * itemsize), dtype=np.int64) & (2**bits - 1)
    if int(ds.get("PixelRepresentation", 0)) == 1:
        patterns = np.where(patterns >= 2 ** (bits - 1), patterns - 2**bits, patterns)
    lo, hi = stored_range(ds)
    per_value = display_lut(ds, np.arange(lo, hi + 1, dtype=np.int64))
    return per_value[patterns - lo]


def stored_range(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def display_lut(ds: Dataset, values: np.ndarray) -> np.ndarray:
    """Display value (uint16, dense bright) of each stored value in `values`, via pydicom's own LUT functions.

    Values outside the BitsStored range (garbage high bits) are clipped into it first.
    """
    lo, hi = stored_range(ds)
    values = np.clip(values, lo, hi)
    modality = apply_modality_lut(values, ds)
    if modality.dtype.kind == "f" and np.all(modality == np.round(modality)):
        # a VOI LUT sequence is indexed by integers; rescale with integral slope/intercept stays exact
        modality = modality.astype(np.int64)
    voi = apply_voi_lut(modality, ds)
    y_min, y_max = _voi_output_range(ds, modality)
    scaled = (np.asarray(voi, dtype=np.float64) - y_min) / max(y_max - y_min, 1e-12)
    out = np.rint(np.clip(scaled, 0.0, 1.0) * OUT_MAX).astype(np.uint16)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = OUT_MAX - out
    return out


def _voi_output_range(ds: Dataset, modality: np.ndarray) -> tuple[float, float]:
    """The range the VOI step maps into (PS3.3 C.11.2), the same one pydicom uses."""
    voi_seq = ds.get("VOILUTSequence")
    if voi_seq and voi_seq[0].get("LUTDescriptor") is not None and voi_seq[0].get("LUTData") is not None:
        declared = int(voi_seq[0].LUTDescriptor[2])
        data_max = int(np.max(np.asarray(apply_voi_lut(modality, ds))))
        # Several vendors declare 16 bits per entry but fill only 12: use the smallest power of two that
        # holds the data (never above the declared depth) so such images are not crushed to black.
        bits = min(declared, max(8, data_max.bit_length()))
        return 0.0, float(2**bits - 1)
    if ds.get("WindowCenter") is not None and ds.get("WindowWidth") is not None:
        if ds.get("ModalityLUTSequence"):
            return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
        lo, hi = stored_range(ds)
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        if slope is not None and intercept is not None:
            lo, hi = lo * float(slope) + float(intercept), hi * float(slope) + float(intercept)
        return float(lo), float(hi)
    return float(np.min(modality)), float(np.max(modality))


def _colour_to_gray(arr: np.ndarray, path: str | Path) -> np.ndarray:
    if arr.dtype == np.uint8:
        return cv2.cvtColor(np.ascontiguousarray(arr[..., :3]), cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257
    if arr.dtype == np.uint16:
        return cv2.cvtColor(np.ascontiguousarray(arr[..., :3]), cv2.COLOR_RGB2GRAY)
    raise ImageReadError(path, f"unsupported pixel type: colour {arr.dtype}")


def read_raster(path: str | Path) -> np.ndarray:
    """PNG / JPEG / TIFF / PGM -> 2-D uint16; 8-bit scaled by 257, colour converted to luminance."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(path, "image file missing")
    # imdecode from bytes: works for non-ASCII paths and tells "missing" apart from "undecodable".
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise ImageReadError(path, f"unreadable image file: OpenCV cannot decode this {path.suffix} file")
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code)
    if img.dtype == np.uint8:
        return img.astype(np.uint16) * 257
    if img.dtype == np.uint16:
        return img
    raise ImageReadError(path, f"unsupported pixel type: {img.dtype} (expected 8 or 16 bit)")


def error_summary(err: BaseException) -> str:
    """First line of an exception's message (or its type), short enough for a quarantine reason."""
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]
