"""Atomic writes and small file helpers: a killed stage never leaves a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

# Read the process umask once (os.umask can only be read by setting it).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give outputs the usual permissions so collaborators can read them.
        if tmp_path.exists():
            os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_csv(path: str | Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n")


def read_csv(path: str | Path, **kwargs: Any) -> pd.DataFrame:
    """Read a pipeline CSV; ids stay strings (no '007' -> 7)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected pipeline file is missing (run the stage that writes it)")
    return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)


def write_npy(path: str | Path, array: np.ndarray) -> None:
    with atomic_open(path, "wb") as fh:
        np.save(fh, array)


def reset_dir(path: str | Path) -> Path:
    """Empty a stage's output folder (DVC removes outs before a run; this covers direct calls)."""
    import shutil

    path = Path(path)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


SKIPPED_FILE = "skipped.json"  # the note a stage leaves instead of outputs it had nothing to make from


def skipped_reason(folder: str | Path) -> str | None:
    """The reason a stage output folder was skipped, or None when it holds real outputs."""
    note = Path(folder) / SKIPPED_FILE
    return str(read_json(note)["reason"]) if note.is_file() else None


def write_skipped(folder: str | Path, reason: str) -> Path:
    """Empty `folder` and leave only the note saying why (DVC still gets the declared output)."""
    out = reset_dir(folder)
    write_json(out / SKIPPED_FILE, {"reason": reason})
    return out
