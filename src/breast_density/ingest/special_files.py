"""Entries under a data folder that are not regular files or folders: named pipes, sockets, devices, and
symbolic links that lead nowhere (dangling or looping).

The ingest stage quarantines such entries itself, but under `dvc repro` DVC hashes ``data.root`` before the
stage starts: it blocks forever opening a named pipe and stops on a broken link. `scan` finds them first
(`breast-density check-data`), without printing their names, which may identify a patient.
"""

from __future__ import annotations

import os
import stat
from collections import Counter
from pathlib import Path

KINDS = ("named pipe", "socket", "device", "broken or looping link")


def kind_of(path: str | Path) -> str | None:
    """What kind of special entry `path` is, or None for a regular file, a folder or a working link."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if stat.S_ISLNK(mode):
        try:
            os.stat(path)
        except OSError:
            return "broken or looping link"
        return None
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return None


def scan(root: str | Path) -> list[tuple[Path, str]]:
    """Every special entry under `root` (links to folders are not followed), sorted by path."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            kind = kind_of(path)
            if kind:
                found.append((path, kind))
    return sorted(found)


def summary(root: str | Path, found: list[tuple[Path, str]]) -> str:
    """One paragraph for the user: counts per kind, how to list them, what to do (no file names)."""
    counts = Counter(kind for _, kind in found)
    listed = ", ".join(f"{counts[k]} {k}{'s' if counts[k] > 1 else ''}" for k in KINDS if counts[k])
    return (
        f"{root}: {listed} — `dvc repro` would hang or stop while hashing data.root, before ingest runs. "
        f"List them with: find {root} -type p -o -type s -o -type b -o -type c -o -xtype l\n"
        "Then delete them, or list each path (anchored, e.g. /data/raw/export/pipe.dcm) in the repository's "
        ".dvcignore; ingest would quarantine them anyway."
    )
