"""Harmonise many image files in a process pool, streaming: each worker decodes one image at a time and
returns only small histograms, so memory stays flat in the number of images.
"""

from __future__ import annotations

import hashlib
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
    level_counts,
    output_unit,
    prepare,
    unit_histogram,
)
from breast_density.imaging.mask import MaskError, MaskOptions
from breast_density.imaging.reduced import read_reduced
from breast_density.imaging.spec import HarmonizeSpec, harmonize_file
from breast_density.imaging.truth import MaskScore, score_mask
from breast_density.io import write_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageTask:
    image_id: str
    path: str
    laterality: str
    vendor: str
    truth_mask: str | None = None  # the synthetic cohort's true mask of this image, when known
    view: str = ""  # CC / MLO: MLO views lose the pectoral muscle when the mask options say so


@dataclass(frozen=True)
class HarmonizeConfig:
    spec: HarmonizeSpec
    out_dir: Path


@dataclass(frozen=True)
class ImageResult:
    task: ImageTask
    error: str | None = None  # reason for quarantine
    out_path: str | None = None
    md5: str | None = None  # of the PNG bytes written (index.csv): the content the training stages depend on
    raw_hist: np.ndarray | None = None  # breast pixels before matching (unit_histogram grid)
    out_hist: np.ndarray | None = None  # breast pixels after matching
    levels: np.ndarray | None = None  # reference pass only: breast histogram over the uint16 levels
    flipped: bool = False
    mask_area: float = 0.0  # quality figures of the breast mask
    border_contact: float = 0.0
    components_removed: int = 0
    score: MaskScore | None = None  # against the true mask, when the task has one
    peak_rss_mib: float = 0.0  # of the process that did the work, after it (workers are not our children)
    seconds: float = 0.0


_CONFIG: HarmonizeConfig | None = None


def init_worker(config: HarmonizeConfig | None) -> None:
    global _CONFIG
    _CONFIG = config
    # One OpenCV thread per process: the pool already uses the cores, nested threads only contend.
    cv2.setNumThreads(1)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _failure(task: ImageTask, err: Exception, start: float) -> ImageResult:
    reason = err.reason if isinstance(err, ImageReadError) else f"{type(err).__name__}: {err}"
    return ImageResult(task=task, error=reason, seconds=time.perf_counter() - start)


def _reference_one(task: ImageTask, size: int, mask_options: MaskOptions) -> ImageResult:
    start = time.perf_counter()
    try:
        pixels = read_reduced(task.path, 2 * size)
        prepared = prepare(pixels, task.laterality, size, mask_options, task.view)
    except (ImageReadError, MaskError) as err:
        return _failure(task, err, start)
    counts = level_counts(prepared).astype(np.int32)  # half the bytes through the pipe
    return ImageResult(task=task, levels=counts, seconds=time.perf_counter() - start)


def harmonize_task(task: ImageTask) -> ImageResult:
    config = _CONFIG
    assert config is not None, "worker used before init_worker"
    start = time.perf_counter()
    try:
        result = harmonize_file(task.path, task.laterality, task.vendor, config.spec, task.view)
    except (ImageReadError, MaskError) as err:
        return _failure(task, err, start)
    ok, encoded = cv2.imencode(".png", result.image, reproducible.PNG_PARAMS)  # pinned encoder settings
    if not ok:
        return ImageResult(task=task, error="PNG encoding failed", seconds=time.perf_counter() - start)
    out_path = config.out_dir / f"{task.image_id}.png"
    data = encoded.tobytes()
    write_bytes(out_path, data)
    prepared = result.prepared
    seg = prepared.segmentation
    return ImageResult(
        task=task,
        peak_rss_mib=_peak_rss_mib(),
        out_path=out_path.as_posix(),
        md5=hashlib.md5(data).hexdigest(),
        raw_hist=breast_histogram(prepared.image[prepared.mask]),
        out_hist=unit_histogram(output_unit(result.image)),
        flipped=prepared.flipped,
        mask_area=seg.area_fraction,
        border_contact=seg.border_contact,
        components_removed=seg.components_removed,
        score=None if task.truth_mask is None else score_mask(seg.mask, task.truth_mask, prepared.pectoral),
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

    def __init__(self, size: int, mask_options: MaskOptions) -> None:
        self.size = size
        self.mask_options = mask_options

    def __call__(self, task: ImageTask) -> ImageResult:
        return _reference_one(task, self.size, self.mask_options)


def reference_pass(
    tasks: Iterable[ImageTask], size: int, workers: int, mask_options: MaskOptions | None = None
) -> Iterator[ImageResult]:
    """Per-image breast histograms (result.levels) of raw intensities, or errors, in input order."""
    return _stream(_ReferenceTask(size, mask_options or MaskOptions()), tasks, workers, None)


def harmonize_files(
    tasks: Iterable[ImageTask], config: HarmonizeConfig, workers: int
) -> Iterator[ImageResult]:
    """Harmonise and write <out_dir>/<image_id>.png for each task; results in input order."""
    config.out_dir.mkdir(parents=True, exist_ok=True)
    return _stream(harmonize_task, tasks, workers, config)
