"""The dvclive curve logger shared by every training loop (probe, finetune, adapt).

One record per epoch: `epoch` (1-based) is the step, every other key a curve (``train/loss``, ``val/loss``,
...). A resumed run replays the finished epochs first (DVC may have deleted the folder), so its curves equal
an uninterrupted run's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


class Curves:
    """Per-epoch curves in `live_dir` (nothing is written when it is None)."""

    def __init__(
        self,
        live_dir: str | Path | None,
        history: Sequence[dict[str, float]] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        self.live = None
        if live_dir is None:
            return
        from dvclive import Live  # deferred: importing dvclive pulls in dvc

        # dvcyaml=False: the plots are declared once in the project's dvc.yaml.
        self.live = Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False)
        if params:
            self.live.log_params(params)
        for record in history:
            self.log(record)

    def log(self, record: dict[str, float]) -> None:
        if self.live is None:
            return
        for name, value in record.items():
            if name != "epoch":
                self.live.log_metric(name, value)
        self.live.next_step()

    def close(self, summary: dict[str, Any] | None = None) -> None:
        if self.live is None:
            return
        for key, value in (summary or {}).items():
            self.live.summary[key] = value
        self.live.end()
