"""Digitised screen-film mammograms: what a film scanner adds around and on top of the breast.

A scanned film is a rectangle inside a larger frame padded with exact zeros. The film base is never clear: its
fog sits a few percent above zero with slow gradients. On it lie what real archives show: adhesive letter
labels and an orientation marker (near white), a ruler or step-wedge strip along the anterior edge, bright
and dark scanner lines along the film's top and bottom edges, scratches and dust. The breast reaches the
film's chest-wall edge. Values are presentation-like (dense bright), 0..1; the vendor stores them as 12-bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from breast_density import reproducible

FOG = (0.05, 0.09)  # film base + fog, before its gradient
LABEL, MARKER, STRIP = 0.98, 1.0, 0.97  # paper labels, lead letters, the ruler's body


@dataclass(frozen=True)
class FilmLayout:
    """Where the film sits in the frame: padding in pixels on each side."""

    top: int
    bottom: int
    left: int
    right: int

    def film_shape(self, frame: tuple[int, int]) -> tuple[int, int]:
        return frame[0] - self.top - self.bottom, frame[1] - self.left - self.right


def layout(rng: np.random.Generator, frame: tuple[int, int]) -> FilmLayout:
    """Uneven zero padding, 1.5-7% of the frame on each side (films are fed into scanners by hand)."""
    h, w = frame
    pad = [max(1, round(n * rng.uniform(0.015, 0.07))) for n in (h, h, w, w)]
    return FilmLayout(*pad)


def _film_curve(p: np.ndarray) -> np.ndarray:
    """Exposure (presentation value) -> optical density as scanned, dense bright, below the labels."""
    return np.float32(0.86) * reproducible.power(np.clip(p, 0, 1), 0.8)


def _fog(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Film base fog with a slow linear gradient and a faint low-frequency mottle."""
    h, w = shape
    yy = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    xx = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.float32(np.cos(angle)) * xx + np.float32(np.sin(angle)) * yy
    # float64 filters rounded to float32: OpenCV's float32 kernels differ by CPU (see reproducible)
    coarse = rng.standard_normal((6, 5))
    mottle = reproducible.rounded(cv2.resize, coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.float32(rng.uniform(*FOG)) + np.float32(rng.uniform(0.01, 0.04)) * ramp + 0.004 * mottle


def _label(
    rng: np.random.Generator, shape: tuple[int, int], breast: np.ndarray, chest_wall_left: bool, touch: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(label rectangle, its dark letters): a paper label on the anterior half, off the breast.

    With `touch` it is pushed against the skin line, as labels stuck close to a large breast are.
    """
    h, w = shape
    lh, lw = max(4, round(h * rng.uniform(0.05, 0.08))), max(8, round(w * rng.uniform(0.16, 0.24)))
    rect = np.zeros(shape, dtype=bool)
    for _ in range(20):
        r0 = int(rng.integers(max(1, h - lh)))
        rows = breast[r0 : r0 + lh]
        reach = np.flatnonzero(rows.any(axis=0))  # columns the breast occupies in these rows
        if chest_wall_left:
            edge = int(reach[-1]) + 1 if reach.size else 0
            c0 = edge if touch else int(rng.integers(edge + 2, max(edge + 3, w - lw)))
        else:
            edge = int(reach[0]) if reach.size else w
            c0 = edge - lw if touch else int(rng.integers(0, max(1, edge - lw - 2)))
        if c0 >= 0 and c0 + lw <= w and not breast[r0 : r0 + lh, c0 : c0 + lw].any():
            rect[r0 : r0 + lh, c0 : c0 + lw] = True
            ink = np.zeros(shape, dtype=np.uint8)
            scale, thick = max(0.25, lh / 40), max(1, lh // 12)
            cv2.putText(ink, f"{int(rng.integers(10**5)):05d}", (c0 + lw // 10, r0 + (3 * lh) // 4),
                        cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_8)  # fmt: skip
            letters = (ink > 0) & rect
            # keep the letters clear of the label's rim: the label's outline stays a clean rectangle
            inner = np.zeros(shape, dtype=bool)
            inner[r0 + 1 : r0 + lh - 1, c0 + 1 : c0 + lw - 1] = True
            return rect, letters & inner
    return rect, rect  # no room off the breast: no label on this film


def _strip(
    rng: np.random.Generator, shape: tuple[int, int], chest_wall_left: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(strip, its values): a ruler with dark ticks or a step wedge, along the anterior film edge."""
    h, w = shape
    sw = max(3, round(w * 0.03))
    r0, r1 = round(h * rng.uniform(0.05, 0.3)), round(h * rng.uniform(0.7, 0.95))
    c0 = w - sw if chest_wall_left else 0
    strip = np.zeros(shape, dtype=bool)
    strip[r0:r1, c0 : c0 + sw] = True
    values = np.full(shape, STRIP, dtype=np.float32)
    if rng.random() < 0.5:  # ruler: a dark tick every ~4% of the height
        for r in range(r0 + 2, r1 - 1, max(3, round(h * 0.04))):
            values[r, c0 + sw // 3 : c0 + sw] = 0.45
    else:  # step wedge: ten steps from mid grey to near white
        steps = np.linspace(0.55, STRIP, 10, dtype=np.float32)
        edges = np.linspace(r0, r1, 11).round().astype(int)
        for k in range(10):
            values[edges[k] : edges[k + 1], c0 : c0 + sw] = steps[k]
    return strip, values


def _scratches_and_dust(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Additive brightness of thin scratches and dust specks (over breast and background alike)."""
    h, w = shape
    layer = np.zeros(shape, dtype=np.float32)
    for _ in range(int(rng.integers(1, 5))):
        p0 = (int(rng.integers(w)), int(rng.integers(h)))
        p1 = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.line(layer, p0, p1, float(rng.uniform(0.04, 0.1)), 1, cv2.LINE_8)
    for _ in range(int(rng.integers(5, 25))):
        centre = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.circle(layer, centre, int(rng.integers(1, 3)), float(rng.choice([-0.05, 0.2])), -1, cv2.LINE_AA)
    return layer


@dataclass(frozen=True)
class Film:
    values: np.ndarray  # float32 0..1 over the whole frame, 0 in the padding
    outline: np.ndarray  # bool true breast over the frame
    implant: np.ndarray  # bool implant over the frame
    artefact: np.ndarray  # bool labels, marker and strip (off the breast)


def digitise(
    rng: np.random.Generator,
    image: np.ndarray,
    outline: np.ndarray,
    implant: np.ndarray,
    marker: np.ndarray,
    frame: tuple[int, int],
    pad: FilmLayout,
    chest_wall_left: bool,
) -> Film:
    """Expose `image` (presentation values over the film) onto film and scan it into the padded frame."""
    shape = image.shape
    film = _fog(rng, shape) + _film_curve(image) * np.float32(0.95)
    film = reproducible.rounded(cv2.GaussianBlur, film, (0, 0), 0.7)  # scanner optics
    film += 0.006 * rng.standard_normal(shape, dtype=np.float32)  # grain and scanner noise
    film += _scratches_and_dust(rng, shape)

    artefact = np.zeros(shape, dtype=bool)
    for touch in (rng.random() < 0.4, False)[: int(rng.integers(1, 3))]:
        rect, letters = _label(rng, shape, outline | artefact, chest_wall_left, touch)
        film[rect] = LABEL + 0.01 * rng.standard_normal(int(rect.sum()), dtype=np.float32)
        film[letters] = 0.3
        artefact |= rect
    strip, strip_values = _strip(rng, shape, chest_wall_left)
    strip &= ~outline
    film[strip] = strip_values[strip]
    artefact |= strip
    lead = marker & ~outline
    film[lead] = MARKER
    artefact |= lead
    # scanner edge lines along the top and bottom film edges: one bright, one dark row each (not in the
    # artefact truth: a mask is extended over the film's outermost rows, where they lie)
    for bright_row, dark_row in ((0, 1), (shape[0] - 1, shape[0] - 2)):
        film[bright_row] = np.maximum(film[bright_row], 0.95)
        film[dark_row] = np.minimum(film[dark_row], 0.02)
    film = np.clip(film, 1.0 / 4095, 1.0)  # the film is never scanned as exact zero: that is the padding

    def place(layer: np.ndarray, dtype: type) -> np.ndarray:
        out = np.zeros(frame, dtype=dtype)
        out[pad.top : pad.top + shape[0], pad.left : pad.left + shape[1]] = layer
        return out

    return Film(place(film, np.float32), place(outline, bool), place(implant, bool), place(artefact, bool))
