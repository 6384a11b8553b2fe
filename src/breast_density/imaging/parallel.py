"""A streaming process-pool map with a progress bar, shared by the per-file ingest steps."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import get_context
from multiprocessing.pool import Pool
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")
# Starting a worker costs 1-2 s on a busy 2-core machine (each imports pydicom, OpenCV, pandas and the stage
# module), while one process scans ~500 headers/s: below this many files per worker the pool loses
# (benchmarks/bench_ingest.py prints both).
MIN_FILES_PER_WORKER = 500


@contextlib.contextmanager
def worker_pool(
    workers: int, n_items: int, min_per_worker: int = MIN_FILES_PER_WORKER
) -> Iterator[Pool | None]:
    """One pool for several passes over the same files (None: run in this process)."""
    if workers <= 1 or n_items < workers * min_per_worker:
        yield None
        return
    # forkserver: never fork a parent whose OpenCV/BLAS threads may hold locks.
    with get_context("forkserver").Pool(workers) as pool:
        yield pool


def imap_files(
    func: Callable[[T], R], items: Iterable[T], pool: Pool | None, desc: str, chunksize: int = 8
) -> Iterator[R]:
    """Yield func(item) in input order; results stream back as workers finish their chunks."""
    items = list(items)
    bar = dict(total=len(items), desc=desc, unit="file", leave=False)
    if pool is None:
        yield from tqdm(map(func, items), **bar)
    else:
        yield from tqdm(pool.imap(func, items, chunksize=chunksize), **bar)
