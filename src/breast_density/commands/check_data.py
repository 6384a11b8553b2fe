"""`breast-density check-data`: find entries in data.root that stop `dvc repro` before ingest can run."""

from __future__ import annotations

import argparse
from pathlib import Path

from breast_density.ingest.special_files import scan, summary
from breast_density.params import load_params


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", type=Path, default=None, help="data folder (default: data.root)")


def check_data_command(args: argparse.Namespace) -> int:
    root = args.root or Path(load_params().data.root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: data folder not found (data.root in params.yaml)")
    found = scan(root)
    if found:
        print(summary(root, found))
        return 1
    print(f"{root}: no named pipes, sockets, devices or broken links; DVC can hash it")
    return 0
