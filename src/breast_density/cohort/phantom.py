"""Synthetic mammogram views: breast outline, skin, nipple, pectoral muscle and fibroglandular tissue.

Images are rendered in a vendor-neutral *presentation* space (float32 in [0, 1], dense tissue bright, air 0);
vendors.py turns them into stored DICOM values. Everything is vectorised numpy/OpenCV; textures are power-law
(1/f^beta) fields, the standard model of mammographic anatomical noise (beta ~ 3). Transcendental functions
and OpenCV filters go through breast_density.reproducible (float64, then rounded to float32), so the stored
pixels do not depend on which SIMD kernels the CPU selects.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from breast_density import reproducible as rp

# BI-RADS density A..D: fibroglandular area fraction (mean, sd) of a truncated normal. Adjacent classes
# overlap by design, as in real reading, so the task is learnable but not trivial.
DENSITY_FRACTION: dict[str, tuple[float, float]] = {
    "A": (0.08, 0.045),
    "B": (0.25, 0.07),
    "C": (0.48, 0.08),
    "D": (0.72, 0.08),
}
# Spectral slope and blob cut-off per class: fatty breasts show fine scattered strands, dense ones coalescent
# sheets of tissue.
_TEXTURE: dict[str, tuple[float, float]] = {
    "A": (3.2, 0.020),
    "B": (3.4, 0.014),
    "C": (3.6, 0.010),
    "D": (3.8, 0.008),
}
_NOISE_SIDE = (
    512  # textures are synthesised at most this size, then resized: full-resolution FFTs add nothing
)

FAT, GLAND, MUSCLE, SKIN_BOOST, IMPLANT = 0.34, 0.80, 0.74, 0.10, 0.93


@dataclass(frozen=True)
class Anatomy:
    """Per-breast shape, stable across a patient's exams."""

    size: float  # 0 (small) .. 1 (large): breast extent relative to the detector; rare breasts beyond
    shape_seed: int  # outline wobble and pectoral geometry
    implant: bool = False  # a breast implant: a bright homogeneous region inside the breast


@dataclass(frozen=True)
class View:
    image: np.ndarray  # float32 presentation values, dense tissue bright, air 0
    breast: np.ndarray  # bool mask of breast tissue (pectoral muscle excluded)
    marker: np.ndarray  # bool mask of the burned-in label (written at full display brightness by the vendor)
    fibroglandular_fraction: float  # measured area fraction of dense tissue inside `breast`
    outline: np.ndarray  # bool: everything a breast mask should cover (pectoral muscle and implant included)
    implant: np.ndarray  # bool: the implant, if any
    pectoral: np.ndarray  # bool: the pectoral muscle (MLO views; inside `outline`)


def sample_fraction(rng: np.random.Generator, density: str) -> float:
    """Target fibroglandular fraction for an exam of the given BI-RADS density."""
    mean, sd = DENSITY_FRACTION[density]
    return float(np.clip(rng.normal(mean, sd), 0.01, 0.95))


def power_law_noise(
    rng: np.random.Generator, shape: tuple[int, int], beta: float, f0: float = 0.0
) -> np.ndarray:
    """Zero-mean, unit-variance field with power spectrum ~ (f^2 + f0^2)^(-beta/2), f in cycles/pixel."""
    amp = _amplitude(shape, beta, f0)
    re_im = rng.standard_normal((2, *amp.shape), dtype=np.float32)
    field = np.fft.irfft2(amp * (re_im[0] + 1j * re_im[1]), s=shape).astype(np.float32)
    field -= field.mean()
    field /= field.std() + 1e-12
    return field


@lru_cache(maxsize=64)
def _amplitude(shape: tuple[int, int], beta: float, f0: float) -> np.ndarray:
    h, w = shape
    fy = np.fft.fftfreq(h).astype(np.float32)[:, None]
    fx = np.fft.rfftfreq(w).astype(np.float32)[None, :]
    f2 = fx * fx + fy * fy + np.float32(f0 * f0)
    f2[0, 0] = np.inf  # no DC: the mean is set by the caller
    amp = rp.power(f2, -beta / 4)
    amp.flags.writeable = False  # shared between calls
    return amp


def _noise(rng: np.random.Generator, shape: tuple[int, int], beta: float, f0: float = 0.0) -> np.ndarray:
    """power_law_noise at a capped working size, resized to `shape` (f0 is per working pixel)."""
    h, w = shape
    k = min(1.0, _NOISE_SIDE / max(h, w))
    small = (max(8, round(h * k)), max(8, round(w * k)))
    field = power_law_noise(rng, small, beta, f0)
    if small != shape:
        field = rp.rounded(cv2.resize, field, (w, h), interpolation=cv2.INTER_CUBIC)
    return field


def _radial_strands(
    rng: np.random.Generator, shape: tuple[int, int], nipple: tuple[float, float]
) -> np.ndarray:
    """Streaks converging on the nipple (ducts, Cooper's ligaments): noise stretched along the radius."""
    h, w = shape
    polar = power_law_noise(rng, (64, 256), beta=2.2)  # rows: radius, cols: angle
    polar = rp.rounded(cv2.resize, polar, (256, 256), interpolation=cv2.INTER_CUBIC)
    dy = np.arange(h, dtype=np.float32)[:, None] - np.float32(nipple[0])
    dx = np.arange(w, dtype=np.float32)[None, :] - np.float32(nipple[1])
    r = np.sqrt(dx * dx + dy * dy) * np.float32(255 / np.hypot(h, w))
    theta = (rp.arctan2(dy, dx) + np.float32(np.pi)) * np.float32(255 / (2 * np.pi))
    # Maps as keywords stay float32 (OpenCV requires it; it quantises them to 1/32 pixel the same everywhere).
    return rp.rounded(
        cv2.remap, polar, map1=theta, map2=r, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def render_view(
    rng: np.random.Generator,
    shape: tuple[int, int],
    view: str,
    laterality: str,
    density: str,
    fraction: float,
    anatomy: Anatomy,
    pixel_mm: float,
    zoom: float = 1.0,
) -> View:
    """One mammographic view with the chest wall on the left for 'L' and on the right for 'R'.

    `fraction` is the target fibroglandular area fraction; `density` (A..D) sets the texture; `pixel_mm` keeps
    skin thickness and edge roll-off in physical units whatever the matrix size. `zoom` > 1 is a
    magnification view: the breast rendered `zoom` times larger, the frame showing its anterior part.
    """
    if zoom != 1.0:
        return _magnified(rng, shape, view, laterality, density, fraction, anatomy, pixel_mm, zoom)
    h, w = shape
    shape_rng = np.random.default_rng([anatomy.shape_seed, view == "MLO", laterality == "R"])
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]

    # Outline in the chest-wall-left frame, as the breast's extent from the chest wall per row. CC: a half
    # ellipse. MLO: a quarter ellipse from the axilla (top edge) down to the nipple, then a tighter curve to
    # the inframammary fold.
    s = anatomy.size
    a = w * (0.50 + 0.33 * s) if view == "CC" else w * (0.50 + 0.30 * s)
    if view == "CC":
        cy, b = h * shape_rng.uniform(0.47, 0.53), h * (0.28 + 0.15 * s)
        extent = a * np.sqrt(np.clip(1 - ((yy - np.float32(cy)) / np.float32(b)) ** 2, 0, None))
    else:
        cy, b = h * shape_rng.uniform(0.50, 0.58), h * (0.30 + 0.10 * s)
        axilla = w * shape_rng.uniform(0.28, 0.40)
        upper = axilla + (a - axilla) * np.sqrt(
            np.clip(1 - ((np.float32(cy) - yy) / np.float32(cy)) ** 2, 0, None)
        )
        lower = a * np.sqrt(np.clip(1 - ((yy - np.float32(cy)) / np.float32(b)) ** 2, 0, None))
        extent = np.where(yy < cy, upper, lower)
    u, v = xx / np.float32(a), (yy - np.float32(cy)) / np.float32(b)
    theta = rp.arctan2(v, u)
    wobble = np.zeros_like(theta)
    for k in range(2, 6):
        wobble += np.float32(shape_rng.normal(0, 0.03 / k**0.5)) * rp.cos(
            k * theta + shape_rng.uniform(0, 6.3)
        )
    mask = xx < extent * (1 + wobble)

    # Nipple: a small bump at the most anterior point of the rim.
    nipple_y = cy + shape_rng.normal(0, 0.02) * h
    row = mask[int(np.clip(nipple_y, 0, h - 1))]
    nipple_x = float(np.flatnonzero(row)[-1]) if row.any() else a
    r_nip = max(1.5, 4.0 / pixel_mm)
    mask |= (xx - np.float32(nipple_x)) ** 2 + (yy - np.float32(nipple_y)) ** 2 < np.float32(r_nip**2)

    mask_u8 = mask.astype(np.uint8)
    # Distance to the skin; OpenCV treats the image border as foreground, so the chest wall is not skin.
    depth_mm = cv2.distanceTransform(mask_u8, cv2.DIST_L2, 5) * np.float32(pixel_mm)

    # Pectoral muscle (MLO only): a slightly convex triangle in the upper chest-wall corner.
    pectoral = np.zeros((h, w), dtype=bool)
    if view == "MLO":
        pw = axilla * shape_rng.uniform(0.75, 1.0)
        ph = h * shape_rng.uniform(0.35, 0.55)
        pectoral = (xx / np.float32(pw)) + rp.power(yy / np.float32(ph), 1.3) < 1
        pectoral &= mask

    # Fibroglandular tissue: power-law field + a prior centred behind the nipple, away from the subcutaneous
    # and retromammary fat; thresholded inside the breast so that the dense area fraction is `fraction`.
    beta, f0 = _TEXTURE[density]
    blobs = _noise(rng, shape, beta, f0)
    strands = _radial_strands(rng, shape, (nipple_y, nipple_x))
    prior = rp.exp(-(v**2) / 0.45 - ((u - 0.45) ** 2) / 0.22)
    fat_layer = rp.exp(-depth_mm / 6.0)
    field = blobs + 0.35 * strands + 2.2 * prior - 2.0 * fat_layer
    implant = _implant(shape_rng, mask, depth_mm, a, cy, b) if anatomy.implant else np.zeros((h, w), bool)
    breast = mask & ~pectoral & ~implant
    if not breast.any():
        raise ValueError(f"empty breast outline for shape {shape}; scale too small")
    gland = _soft_threshold(field, breast, fraction)
    measured = float(gland[breast].mean())

    # Tissue values: fat with faint ligament texture, gland with its own heterogeneity, a brighter skin line,
    # and a roll-off towards the rim where the compressed breast thins.
    background = _noise(rng, shape, 3.0)
    tissue = FAT + 0.035 * background + 0.02 * strands
    tissue += gland * (GLAND - FAT + 0.05 * blobs + 0.05 * background)
    if view == "MLO":
        muscle = MUSCLE + 0.03 * _noise(rng, shape, 2.5)
        edge = rp.rounded(cv2.GaussianBlur, pectoral.astype(np.float32), (0, 0), max(0.7, 1.0 / pixel_mm))
        tissue = tissue * (1 - edge) + muscle * edge
    thickness = 0.45 + 0.55 * (1 - rp.exp(-depth_mm / 9.0))
    skin = rp.exp(-depth_mm / 0.8) * np.float32(SKIN_BOOST)
    image = np.where(mask, tissue * thickness + skin, 0.0).astype(np.float32)
    if anatomy.implant:  # silicone: nearly uniform and denser than any tissue
        image = np.where(implant, IMPLANT + 0.01 * background, image)
    image = np.clip(image, 0.0, 1.0)

    if laterality == "R":  # real exports show the right breast with the chest wall on the right
        image, breast, mask, implant = image[:, ::-1], breast[:, ::-1], mask[:, ::-1], implant[:, ::-1]
        pectoral = pectoral[:, ::-1]
    marker = marker_mask(shape, f"{laterality} {view}", chest_wall_left=laterality == "L")
    return View(
        np.ascontiguousarray(image),
        np.ascontiguousarray(breast),
        marker,
        measured,
        np.ascontiguousarray(mask),
        np.ascontiguousarray(implant),
        np.ascontiguousarray(pectoral),
    )


def _implant(
    rng: np.random.Generator, mask: np.ndarray, depth_mm: np.ndarray, a: float, cy: float, b: float
) -> np.ndarray:
    """An implant behind the gland: an ellipse well inside the breast, clear of skin and chest wall."""
    h, w = mask.shape
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    cx, rx, ry = a * rng.uniform(0.28, 0.36), a * rng.uniform(0.16, 0.22), b * rng.uniform(0.35, 0.5)
    u, v = (xx - np.float32(cx)) / np.float32(rx), (yy - np.float32(cy)) / np.float32(ry)
    ellipse = u * u + v * v < 1
    return ellipse & mask & (depth_mm > 6.0) & (xx > np.float32(0.06 * w))


def _magnified(
    rng: np.random.Generator,
    shape: tuple[int, int],
    view: str,
    laterality: str,
    density: str,
    fraction: float,
    anatomy: Anatomy,
    pixel_mm: float,
    zoom: float,
) -> View:
    """A magnification view: render larger, keep the anterior (nipple-side) window of the frame's size."""
    h, w = shape
    big = (round(h * zoom), round(w * zoom))
    full = render_view(rng, big, view, laterality, density, fraction, anatomy, pixel_mm / zoom)
    r0 = (big[0] - h) // 2
    # The anterior breast fills three quarters of the frame: the chest wall is cut off, air stays in front.
    cols = np.flatnonzero(full.outline[r0 : r0 + h].any(axis=0))
    front = int(cols[-1]) - (3 * w) // 4 if laterality == "L" else int(cols[0]) - w // 4
    c0 = int(np.clip(front, 0, big[1] - w))
    window = (slice(r0, r0 + h), slice(c0, c0 + w))
    breast = full.breast[window]
    if not breast.any():
        raise ValueError(f"empty magnified breast for shape {shape}")
    gland_fraction = full.fibroglandular_fraction  # of the whole breast: the density of the exam
    marker = marker_mask(shape, f"{laterality} {view} M", chest_wall_left=laterality == "L")
    return View(
        np.ascontiguousarray(full.image[window]),
        np.ascontiguousarray(breast),
        marker,
        gland_fraction,
        np.ascontiguousarray(full.outline[window]),
        np.ascontiguousarray(full.implant[window]),
        np.ascontiguousarray(full.pectoral[window]),
    )


def _soft_threshold(
    field: np.ndarray, inside: np.ndarray, fraction: float, softness: float = 0.45
) -> np.ndarray:
    """Sigmoid of `field` whose mean inside `inside` equals `fraction` (bisection on the threshold)."""
    values = field[inside][::7]  # a subsample fixes the threshold as well as all pixels do
    lo, hi = float(values.min()) - 5 * softness, float(values.max()) + 5 * softness
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        if np.mean(1 / (1 + rp.exp(-(values - mid) / softness))) > fraction:
            lo = mid
        else:
            hi = mid
    gland = 1 / (1 + rp.exp(-(field - np.float32(0.5 * (lo + hi))) / np.float32(softness)))
    return gland.astype(np.float32) * inside


def marker_mask(shape: tuple[int, int], text: str, chest_wall_left: bool) -> np.ndarray:
    """Pixels of the laterality/view label, in the top corner away from the chest wall as exports put it."""
    h, w = shape
    scale = max(0.3, h / 700)  # legible even on the smallest test matrices
    thickness = max(1, round(h / 300))
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    margin = max(2, round(h * 0.02))
    x = w - tw - margin if chest_wall_left else margin
    ink = np.zeros((h, w), dtype=np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(ink, text, (x, margin + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_8)
    return ink > 0
