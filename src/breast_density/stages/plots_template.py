"""DVC stage `plots_template`: the self-contained HTML template `dvc plots show` uses (.dvc/config
`plots.html_template`), so confusion matrices and training curves render offline."""

from __future__ import annotations

import logging
from pathlib import Path

from breast_density import paths
from breast_density.evaluation.offline_plots import offline_template, vega_bundle
from breast_density.io import write_text
from breast_density.params import Params
from breast_density.stages import stage_setup

log = logging.getLogger(__name__)


def run(params: Params, template: Path) -> None:
    """Write the offline page template to `template`."""
    version = params.plots_template.vega_lite
    page = offline_template(vega_bundle(version))
    write_text(template, page)
    log.info("wrote %s (vega-lite %s inlined, %d kB)", template, version, len(page) // 1024)


def main() -> None:
    params = stage_setup("plots_template")
    run(params, paths.stage_dir("plots_template") / "index.html")


if __name__ == "__main__":
    main()
