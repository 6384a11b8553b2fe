"""The harmonisation recipe as one file, and the one function that applies it to an image file.

The harmonize stage writes its complete recipe (reference, per-vendor output lookup tables, size, bit depth,
decode and mask options) to ``spec.json``; training bundles carry a copy, and ``breast-density predict``
harmonises through ``harmonize_file`` exactly as the stage did, so serving sees the training pixels.

Vendor lookup tables are stored already quantised to the output bit depth (uint level -> output value), so
applying them is an integer lookup and no float arithmetic separates the stage from predict. They are
monotone, so they are stored as zlib-compressed little-endian arrays in base64 (a few KiB each).
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from breast_density import paths
from breast_density.imaging.harmonize import (
    LEVELS,
    Harmonized,
    check_reference,
    harmonize_details,
    match_lut,
    quantize_lut,
)
from breast_density.imaging.mask import MaskOptions
from breast_density.imaging.reduced import read_reduced
from breast_density.io import read_json, write_json

SPEC_VERSION = 1
SPEC_FILE = paths.HARMONIZE_SPEC_FILE


@dataclass(frozen=True)
class HarmonizeSpec:
    size: int  # longest side of the output, pixels
    bit_depth: int  # 8 | 16
    match: str  # vendor: one lookup table per vendor | image: each image matched on its own histogram
    reference: np.ndarray  # CDF over the BINS + 1 intensity edges (harmonize.reference_edges)
    vendor_luts: dict[str, np.ndarray] = field(default_factory=dict)  # vendor -> 65536 output values
    mask: MaskOptions = field(default_factory=MaskOptions)

    @property
    def decode_side(self) -> int:
        """Longest side of the reduced decode (twice the output, so a crop still has the output size)."""
        return 2 * self.size

    def lut_for(self, vendor: str) -> np.ndarray | None:
        """The vendor's output lookup table; None when images are matched on their own histogram."""
        return self.vendor_luts.get(vendor) if self.match == "vendor" else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SPEC_VERSION,
            "size": self.size,
            "bit_depth": self.bit_depth,
            "match": self.match,
            "decode": {"reduced_side": self.decode_side, "display_chain": "after area downsample"},
            "mask": asdict(self.mask),
            "reference": [float(v) for v in self.reference],
            "vendor_luts": {v: _encode(lut) for v, lut in sorted(self.vendor_luts.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "<spec>") -> HarmonizeSpec:
        if data.get("version") != SPEC_VERSION:
            raise ValueError(f"{source}: harmonisation spec version {data.get('version')!r}, expected 1")
        dtype = np.uint8 if int(data["bit_depth"]) == 8 else np.uint16
        return cls(
            size=int(data["size"]),
            bit_depth=int(data["bit_depth"]),
            match=str(data["match"]),
            reference=check_reference(np.asarray(data["reference"], dtype=np.float64)),
            vendor_luts={v: _decode(text, dtype) for v, text in data["vendor_luts"].items()},
            mask=MaskOptions(**data["mask"]),
        )


def build_spec(
    size: int,
    bit_depth: int,
    match: str,
    reference: np.ndarray,
    vendor_levels: dict[str, np.ndarray],
    mask: MaskOptions | None = None,
) -> HarmonizeSpec:
    """The recipe from the reference pass: one quantised lookup table per vendor when matching per vendor."""
    reference = check_reference(reference)
    luts = {}
    if match == "vendor":
        no_pixels = np.empty(0, dtype=np.uint16)  # the vendor histogram replaces the image's own
        for vendor, levels in vendor_levels.items():
            luts[vendor] = quantize_lut(match_lut(no_pixels, reference, levels), bit_depth)
    return HarmonizeSpec(size, bit_depth, match, reference, luts, mask or MaskOptions())


def write_spec(path: str | Path, spec: HarmonizeSpec) -> None:
    write_json(path, spec.to_json())


def load_spec(path: str | Path) -> HarmonizeSpec:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: harmonisation spec missing (run `dvc repro harmonize`)")
    return HarmonizeSpec.from_json(read_json(path), str(path))


def harmonize_pixels(
    pixels: np.ndarray, laterality: str, vendor: str, spec: HarmonizeSpec, view: str = ""
) -> Harmonized:
    """Harmonise decoded (reduced) pixels with the recipe. Raises MaskError."""
    return harmonize_details(
        pixels,
        laterality,
        spec.reference,
        spec.size,
        spec.bit_depth,
        output_lut=spec.lut_for(vendor),
        mask_options=spec.mask,
        view=view,
    )


def harmonize_file(
    path: str | Path, laterality: str, vendor: str, spec: HarmonizeSpec, view: str = ""
) -> Harmonized:
    """Decode and harmonise one file exactly as the harmonize stage does (the stage calls this too).

    `view` (CC / MLO) is needed only when the spec removes the pectoral muscle of MLO views.
    Raises ImageReadError (unreadable file) or MaskError (no usable breast mask).
    """
    return harmonize_pixels(read_reduced(path, spec.decode_side), laterality, vendor, spec, view)


def _encode(lut: np.ndarray) -> str:
    if lut.shape != (LEVELS,):
        raise ValueError(f"vendor lookup table must have {LEVELS} entries, got {lut.shape}")
    raw = lut.astype(lut.dtype.newbyteorder("<"), copy=False).tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def _decode(text: str, dtype: type) -> np.ndarray:
    lut = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.dtype(dtype).newbyteorder("<"))
    if lut.shape != (LEVELS,):
        raise ValueError(f"vendor lookup table has {lut.size} entries, expected {LEVELS}")
    return lut.astype(dtype)
