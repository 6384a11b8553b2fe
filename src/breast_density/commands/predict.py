"""`breast-density predict PATH...`: density of new DICOM/PNG files with a trained arm's saved bundle.

`--model` names an arm (finetune, probe, zeroshot, adapted-probe, adapted-zeroshot) or a bundle folder.

A file that cannot be read or masked is reported by name on stderr and makes the exit code non-zero; the
other files are still classified.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from breast_density import paths
from breast_density.models.devices import pick_device
from breast_density.models.predict import load_predictor, predict_files

# arm -> the bundle folder its stage writes
MODELS = {
    "finetune": paths.model_dir("finetune"),
    "probe": paths.model_dir("probe") / "base",
    "zeroshot": paths.model_dir("zeroshot") / "base",
    "adapted-probe": paths.model_dir("probe") / "adapted",
    "adapted-zeroshot": paths.model_dir("zeroshot") / "adapted",
}


def model_folder(name: str) -> Path:
    """An arm's bundle folder, or `name` itself as a folder path."""
    return MODELS.get(name, Path(name))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", type=Path, metavar="PATH", help="DICOM or PNG/JPEG/TIFF files")
    parser.add_argument(
        "--model",
        default="finetune",
        help=f"arm ({', '.join(MODELS)}; default finetune) or a saved model folder",
    )
    parser.add_argument(
        "--laterality",
        choices=["L", "R"],
        help="breast side for raster files (DICOMs use ImageLaterality); by default the breast mask decides",
    )
    parser.add_argument(
        "--vendor",
        help="manufacturer for raster files, to use its harmonisation curve (DICOMs: Manufacturer)",
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when present)")
    parser.add_argument("--json", action="store_true", help="print one JSON array instead of text")


def predict_command(args: argparse.Namespace) -> int:
    predictor = load_predictor(model_folder(args.model), pick_device(args.device))
    results = predict_files(predictor, args.files, args.laterality, args.vendor)
    for r in results:
        if "error" in r:
            print(f"breast-density predict: error: {r['error']}", file=sys.stderr)
        for note in r.get("warnings", []):
            print(f"breast-density predict: warning: {r['file']}: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if "density" in r:
                probs = "  ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items())
                print(f"{r['file']}\t{r['density']}\t{probs}")
    return 1 if any("error" in r for r in results) else 0
