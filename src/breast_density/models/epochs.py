"""The convention every training loop (probe, finetune, adapt) follows.

* Epochs are numbered from 1; `history[i]["epoch"] == i + 1` and `best_epoch` uses the same numbers.
* After each epoch the loop evaluates the validation set, appends one record to `history`, logs it as a
  dvclive step (models.curves), and feeds the validation loss to `EarlyStopping`.
* The loop stops once `patience` epochs in a row brought no improvement (or at `max_epochs`) and ends on the
  best-validation weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from breast_density.models.early_stopping import EarlyStopping


@dataclass
class TrainResult:
    max_epochs: int
    history: list[dict[str, float]] = field(default_factory=list)  # one record per finished epoch
    best_epoch: int = 0  # 1-based; 0 = no epoch finished
    best_val_loss: float = math.inf
    stopped_early: bool = False
    resumed_at_epoch: int = 0  # epochs already done when this call started (0 = fresh run)
    train_images_per_s: float = 0.0  # over this call's epochs, data loading included
    epoch_seconds: list[float] = field(default_factory=list)  # training part of each epoch of this call
    model: Any = None  # the trained model, holding the best-validation weights

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def finish(self, stopper: EarlyStopping) -> TrainResult:
        """Copy the early-stopping outcome into the result."""
        self.best_epoch, self.best_val_loss = max(stopper.best_epoch, 0), stopper.best_loss
        self.stopped_early = stopper.should_stop
        return self

    def summary(self) -> dict[str, Any]:
        """What a bundle's config and the dvclive summary record about the run."""
        return {
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val_loss,
            "stopped_early": self.stopped_early,
        }


def epoch_numbers(done: int, max_epochs: int) -> range:
    """The 1-based numbers of the epochs still to run after `done` finished ones."""
    return range(done + 1, max_epochs + 1)
