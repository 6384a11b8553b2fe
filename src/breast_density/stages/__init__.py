"""One module per DVC stage. Each has a pure ``run(params, ...)`` and a thin ``main()``."""

from __future__ import annotations

import logging
import os

from breast_density import paths
from breast_density.params import Params, load_params


def stage_setup(name: str) -> Params:
    """Common start of every stage's main(): logging, offline hub behaviour, validated params."""
    logging.basicConfig(
        level=os.environ.get("BREAST_DENSITY_LOG", "INFO"),
        format=f"%(asctime)s {name} %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    return load_params(paths.PARAMS)
