"""Decode to a reduced working copy: area-downsample the *stored* values, then apply the display chain.

``read_pixels`` followed by a downsample runs the display lookup (modality, VOI, MONOCHROME1) over every
full-resolution pixel (~15 ms on a 4096x3328 image, half a bare decode). The lookup is monotone and the
harmonisation re-maps intensities through a histogram match anyway, so applying it after the area average
gives the same image up to the curvature of the VOI curve within one averaged block (tested against
``read_pixels`` + ``downsample``: mean difference ~0.03% of the range on the demo vendors), for the cost of
one full-resolution pass instead of two. Native pixel data is read as a view on the file's bytes (no copy).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError

from breast_density.imaging.decode import (
    ImageReadError,
    check_pixel_header,
    is_raster,
    read_raster,
    to_display,
)
from breast_density.imaging.mask import downsample


def _dataset(path: Path) -> pydicom.Dataset:
    if not path.is_file():
        raise ImageReadError(path, "image file missing")
    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        raise ImageReadError(path, "not a DICOM file (no DICM preamble)") from None
    except (EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ImageReadError(path, f"truncated or corrupt DICOM: {_short(err)}") from None


def _short(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:200]


def _stored_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """Stored values; for native unsigned little-endian data a view on the file's bytes.

    pydicom's default copies the whole image to clear the unused high bits (about two thirds of a bare
    decode of a 4096x3328 image). Those bits are almost always already zero, so this checks and clears them
    only when some are set, which gives the same values.
    """
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    native = (
        syntax is not None
        and not syntax.is_compressed
        and syntax.is_little_endian
        and int(ds.get("BitsAllocated", 0)) == 16
        and int(ds.get("PixelRepresentation", 1)) == 0
        and int(ds.get("SamplesPerPixel", 1)) == 1
    )
    if not native:
        return ds.pixel_array
    ds.pixel_array_options(view_only=True, correct_unused_bits=False)
    stored = ds.pixel_array
    top = 2 ** int(ds.get("BitsStored", 16)) - 1
    if top < 65535 and stored.size and int(stored.max()) > top:
        stored = np.bitwise_and(stored, np.uint16(top))
    return stored


def read_reduced(path: str | Path, max_side: int) -> np.ndarray:
    """The decoder's image (2-D uint16, dense bright) area-downsampled to a longest side >= `max_side`.

    Raises ImageReadError like ``read_pixels``.
    """
    path = Path(path)
    if is_raster(path):
        return downsample(read_raster(path), max_side)
    ds = _dataset(path)
    check_pixel_header(ds, path)
    try:
        stored = _stored_pixels(ds)
    except Exception as err:  # pydicom raises many types for corrupt/short pixel data
        raise ImageReadError(path, f"pixel data cannot be decoded: {_short(err)}") from None
    if stored.ndim != 2 or stored.dtype.kind not in "iu" or stored.dtype.itemsize > 2:
        # colour or 32-bit stored values: the decoder's general path, then reduce
        return downsample(to_display(stored, ds, path), max_side)
    return to_display(np.ascontiguousarray(downsample(stored, max_side)), ds, path)
