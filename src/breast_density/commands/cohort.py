"""`breast-density cohort`: generate a synthetic cohort anywhere, outside the DVC pipeline."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from breast_density.cohort.contact_sheet import cohort_contact_sheet
from breast_density.cohort.generate import generate_cohort
from breast_density.params import CohortParams, ParamsError

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = CohortParams()
    parser.add_argument("--exams", type=int, default=defaults.exams, help="number of exams (4 images each)")
    parser.add_argument(
        "--seed", type=int, default=42, help="random seed; the same seed gives identical files"
    )
    parser.add_argument("--out", type=Path, required=True, help="export folder (reports.csv + dicom/)")
    parser.add_argument(
        "--truth", type=Path, default=None, help="ground-truth folder (default: <out>-truth next to --out)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=defaults.scale,
        help="resolution relative to the vendor matrix (1 = true)",
    )
    parser.add_argument(
        "--text-noise", type=float, default=defaults.text_noise, help="report word error rate"
    )
    parser.add_argument(
        "--reader-noise", type=float, default=defaults.reader_noise, help="fraction relabelled to a neighbour"
    )
    parser.add_argument("--workers", type=int, default=defaults.workers, help="rendering processes")
    parser.add_argument("--sheet", type=Path, default=None, help="also write a contact sheet PNG here")


def cohort_command(args: argparse.Namespace) -> int:
    out = Path(args.out)
    truth = Path(args.truth) if args.truth else out.with_name(f"{out.name}-truth")
    overrides = {
        "exams": args.exams,
        "scale": args.scale,
        "text_noise": args.text_noise,
        "reader_noise": args.reader_noise,
        "workers": args.workers,
    }
    try:
        cfg = CohortParams(**{**CohortParams().model_dump(), **overrides})
    except ValueError as err:  # pydantic's error names the field
        raise ParamsError(f"invalid cohort option: {err}") from None
    summary = generate_cohort(cfg, args.seed, out, truth)
    if args.sheet:
        cohort_contact_sheet(truth, args.sheet)
    log.info(
        "wrote %d exams / %d images to %s; ground truth in %s", summary.exams, summary.images, out, truth
    )
    m = summary.metrics
    log.info("exams per density %s, per vendor %s", m["exams_per_density"], m["exams_per_vendor"])
    return 0
