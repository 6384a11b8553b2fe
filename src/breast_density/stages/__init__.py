"""One module per DVC stage. Each has a pure ``run(params, ...)`` and a thin ``main()``."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from types import TracebackType

from breast_density import paths
from breast_density.params import Params, load_params

# Errors that describe bad input or configuration (they carry the file and the problem): shown as one line.
# Anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (FileNotFoundError, ValueError)


def _user_error_hook(name: str) -> Callable[[type[BaseException], BaseException, TracebackType | None], None]:
    default = sys.excepthook

    def hook(kind: type[BaseException], err: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, USER_ERRORS) and os.environ.get("BREAST_DENSITY_LOG") != "DEBUG":
            print(f"stage {name}: error: {err}", file=sys.stderr)
            print("(set BREAST_DENSITY_LOG=DEBUG for the traceback)", file=sys.stderr)
            return
        default(kind, err, tb)

    return hook


def stage_setup(name: str) -> Params:
    """Common start of every stage's main(): logging, one-line user errors, validated params."""
    logging.basicConfig(
        level=os.environ.get("BREAST_DENSITY_LOG", "INFO"),
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    sys.excepthook = _user_error_hook(name)
    return load_params(paths.PARAMS)
