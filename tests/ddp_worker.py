"""Run by torchrun in tests/test_distributed.py: the finetune stage's run() inside the process group, with a
simulated kill after a given epoch (the stage's own main() has no such hook).

usage: torchrun --standalone --nproc_per_node=N tests/ddp_worker.py KILL_AFTER_EPOCH
(in a folder laid out like the repository: params.yaml, data/..., as the stage's main() expects)
"""

from __future__ import annotations

import sys

from breast_density import paths
from breast_density.models import distributed
from breast_density.params import load_params
from breast_density.stages import finetune


class KilledError(Exception):
    pass


def main() -> None:
    kill_after = int(sys.argv[1])

    def after_epoch(epoch: int) -> None:
        if epoch == kill_after:
            raise KilledError(f"simulated kill after epoch {epoch}")

    params = load_params(paths.PARAMS)
    with distributed.session():
        finetune.run(
            params,
            paths.stage_dir("split") / "split.csv",
            paths.stage_dir("harmonize") / paths.HARMONIZE_SPEC_FILE,
            paths.model_dir("finetune"),
            paths.stage_dir("finetune") / "predictions.csv",
            paths.live_dir("finetune"),
            paths.resume_dir("finetune"),
            after_epoch=after_epoch,
        )


if __name__ == "__main__":
    main()
