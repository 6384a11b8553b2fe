"""Harmonise many image files in a process pool, streaming: each worker decodes one image at a time and
returns only small histograms, so memory stays flat in the number of images.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from breast_density import reproducible
from breast_density.imaging.decode import ImageReadError
from breast_density.imaging.harmonize import (
    breast_histogram,
    harmonize_details,
    level_counts,
    match_lut,
    output_unit,
    prepare,
    unit_histogram,
)
from breast_density.imaging.mask import MaskError
from breast_density.imaging.reduced import read_reduced
from breast_density.io import write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageTask:
    image_id: str
    path: str
    laterality: str
    vendor: str


@dataclass(frozen=True)
class HarmonizeConfig:
    size: int
    bit_depth: int
    reference: np.ndarray
    out_dir: Path
    source_levels: dict[str, np.ndarray] | None = None  # vendor -> breast histogram (match = vendor)


@dataclass(frozen=True)
class ImageResult:
    task: ImageTask
    error: str | None = None  # reason for quarantine
    out_path: str | None = None
    raw_hist: np.ndarray | None = None  # breast pixels before matching (unit_histogram grid)
    out_hist: np.ndarray | None = None  # breast pixels after matching
    levels: np.ndarray | None = None  # reference pass only: breast histogram over the uint16 levels
    flipped: bool = False
    peak_rss_mib: float = 0.0  # of the process that did the work, after it (workers are not our children)
    seconds: float = 0.0


_CONFIG: HarmonizeConfig | None = None


_VENDOR_LUTS: dict[str, np.ndarray] = {}


def init_worker(config: HarmonizeConfig | None) -> None:
    global _CONFIG
    _CONFIG = config
    _VENDOR_LUTS.clear()
    # One OpenCV thread per process: the pool already uses the cores, nested threads only contend.
    cv2.setNumThreads(1)


def harmonize_file(
    path: str | Path,
    laterality: str,
    reference: np.ndarray,
    size: int,
    bit_depth: int,
    source_levels: np.ndarray | None = None,
) -> np.ndarray:
    """Decode and harmonise one image file exactly as the harmonize stage does (reduced decode first).

    Raises ImageReadError (unreadable file) or MaskError (no breast found).
    """
    pixels = read_reduced(path, 2 * size)
    return harmonize_details(pixels, laterality, reference, size, bit_depth, source_levels).image


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _failure(task: ImageTask, err: Exception, start: float) -> ImageResult:
    reason = err.reason if isinstance(err, ImageReadError) else f"{type(err).__name__}: {err}"
    return ImageResult(task=task, error=reason, seconds=time.perf_counter() - start)


def _reference_one(task: ImageTask, size: int) -> ImageResult:
    start = time.perf_counter()
    try:
        prepared = prepare(read_reduced(task.path, 2 * size), task.laterality, size)
    except (ImageReadError, MaskError) as err:
        return _failure(task, err, start)
    counts = level_counts(prepared).astype(np.int32)  # half the bytes through the pipe
    return ImageResult(task=task, levels=counts, seconds=time.perf_counter() - start)


def _vendor_lut(config: HarmonizeConfig, vendor: str) -> np.ndarray | None:
    """The vendor's match LUT, built once per worker; None when matching per image (or unknown vendor)."""
    if config.source_levels is None or vendor not in config.source_levels:
        return None
    if vendor not in _VENDOR_LUTS:
        no_pixels = np.empty(0, dtype=np.uint16)  # the vendor histogram replaces the image's own
        _VENDOR_LUTS[vendor] = match_lut(no_pixels, config.reference, config.source_levels[vendor])
    return _VENDOR_LUTS[vendor]


def harmonize_task(task: ImageTask) -> ImageResult:
    config = _CONFIG
    assert config is not None, "worker used before init_worker"
    start = time.perf_counter()
    lut = _vendor_lut(config, task.vendor)
    try:
        result = harmonize_details(
            read_reduced(task.path, 2 * config.size),
            task.laterality,
            config.reference,
            config.size,
            config.bit_depth,
            lut=lut,
        )
    except (ImageReadError, MaskError) as err:
        return _failure(task, err, start)
    ok, encoded = cv2.imencode(".png", result.image, reproducible.PNG_PARAMS)  # pinned encoder settings
    if not ok:
        return ImageResult(task=task, error="PNG encoding failed", seconds=time.perf_counter() - start)
    out_path = config.out_dir / f"{task.image_id}.png"
    write_bytes(out_path, encoded.tobytes())
    prepared = result.prepared
    return ImageResult(
        task=task,
        peak_rss_mib=_peak_rss_mib(),
        out_path=out_path.as_posix(),
        raw_hist=breast_histogram(prepared.image[prepared.mask]),
        out_hist=unit_histogram(output_unit(result.image)),
        flipped=prepared.flipped,
        seconds=time.perf_counter() - start,
    )


def _stream(
    func: Callable[[Any], ImageResult], items: Iterable[Any], workers: int, config: HarmonizeConfig | None
) -> Iterator[ImageResult]:
    if workers <= 1:
        init_worker(config)
        yield from map(func, items)
        return
    # forkserver: workers never inherit a parent's lock held by another thread (tqdm monitor, OpenCV pool);
    # preloading this module keeps the start-up to a fork of an already-importing server.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    # imap with a small chunk keeps results in input order and only a few images in flight per worker.
    with ctx.Pool(workers, initializer=init_worker, initargs=(config,)) as pool:
        yield from pool.imap(func, items, chunksize=2)


class _ReferenceTask:
    """Picklable partial: prepare at a given size (pool functions must be module-level or picklable)."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, task: ImageTask) -> ImageResult:
        return _reference_one(task, self.size)


def reference_pass(tasks: Iterable[ImageTask], size: int, workers: int) -> Iterator[ImageResult]:
    """Per-image breast histograms (result.levels) of raw intensities, or errors, in input order."""
    return _stream(_ReferenceTask(size), tasks, workers, None)


def harmonize_files(
    tasks: Iterable[ImageTask], config: HarmonizeConfig, workers: int
) -> Iterator[ImageResult]:
    """Harmonise and write <out_dir>/<image_id>.png for each task; results in input order."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    return _stream(harmonize_task, tasks, workers, config)
