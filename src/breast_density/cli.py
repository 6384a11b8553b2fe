"""`breast-density ...` user commands. Each subcommand is a thin wrapper around library code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from importlib import import_module

# subcommand -> "module:function"; each module exposes add_arguments(parser) next to the function.
# Imported lazily so `breast-density --help` does not pay for torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "cohort": ("breast_density.commands.cohort:cohort_command", "generate the embedded synthetic cohort"),
    "audit-text": (
        "breast_density.commands.audit_text:audit_command",
        "compare the text stages' outputs with the cohort's ground truth",
    ),
    "label-text": (
        "breast_density.commands.label_text:label_text_command",
        "show the normalised Spanish, English, density label or exclusion reason of report text",
    ),
    "predict": (
        "breast_density.commands.predict:predict_command",
        "classify new DICOM/PNG files with the fine-tuned model or the probe",
    ),
    "check-data": (
        "breast_density.commands.check_data:check_data_command",
        "find named pipes and broken links in data.root that stop `dvc repro` before ingest",
    ),
    "profile": (
        "breast_density.commands.profile:profile_command",
        "switch params.yaml to a named profile (profiles/<name>.yaml)",
    ),
}


def _resolve(target: str) -> tuple[Callable[[argparse.Namespace], int], Callable]:
    module_name, func_name = target.split(":")
    module = import_module(module_name)
    return getattr(module, func_name), module.add_arguments


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="breast-density", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # Build only the requested subparser fully; others get their help line.
    requested = next((a for a in argv if a in COMMANDS), None)
    for name, (target, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == requested:
            func, add_arguments = _resolve(target)
            add_arguments(p)
            p.set_defaults(func=func)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        # Library errors carry the file and the problem; show them without a traceback.
        print(f"breast-density {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
