"""One registry of every input layout ingest understands: name -> loader returning a `SourceData`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from breast_density.ingest import adapters
from breast_density.ingest.sources import SourceData, load_labels_layout, load_reports_layout

# Layouts that need the label column get it; the public adapters know their own files.
LOADERS: dict[str, Callable[[Path, str], SourceData]] = {
    "synthetic": lambda root, _column: load_reports_layout(root, "synthetic"),
    "reports": lambda root, _column: load_reports_layout(root, "reports"),
    "labels": lambda root, column: load_labels_layout(root, column),
    "vindr": lambda root, _column: adapters.load_vindr(root),
    "cbis_ddsm": lambda root, _column: adapters.load_cbis_ddsm(root),
    "rsna": lambda root, _column: adapters.load_rsna(root),
    "inbreast": lambda root, _column: adapters.load_inbreast(root),
}


def load_source(source: str, root: str | Path, label_column: str = "density") -> SourceData:
    """Read the tables of the configured source (images are indexed later, by the header scan)."""
    root = Path(root)
    if source not in LOADERS:
        raise ValueError(f"unknown data source {source!r}; known: {sorted(LOADERS)}")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found (data.root in params.yaml)")
    return LOADERS[source](root, label_column)
