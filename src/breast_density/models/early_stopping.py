"""Early stopping on validation loss, shared by the probe and the fine-tuning loops."""

from __future__ import annotations

import copy
import math
from typing import Any


class EarlyStopping:
    """Track the best validation loss; `should_stop` after `patience` epochs without improvement, and not
    before `min_epochs` epochs have run (a model trained from scratch can sit at chance for its first epochs).

    Keeps a deep copy of the best weights so training can end on the best-validation model. Its state
    (including those weights) round-trips through state_dict() so a resumed run stops at the same epoch.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, min_epochs: int = 0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.min_delta = min_delta
        self.min_epochs = min_epochs
        self.best_loss = math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.best_state: dict[str, Any] | None = None

    def step(self, epoch: int, val_loss: float, model_state: dict[str, Any]) -> bool:
        """Record one epoch; return True when this epoch is the new best."""
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"validation loss is {val_loss} at epoch {epoch}: training diverged")
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_epoch = epoch
            self.bad_epochs = 0
            self.best_state = copy.deepcopy(model_state)
            return True
        self.bad_epochs += 1
        return False

    @property
    def should_stop(self) -> bool:
        # Epochs are stepped one after another, so the last one is the best plus those since it.
        return self.bad_epochs >= self.patience and self.best_epoch + self.bad_epochs >= self.min_epochs

    def state_dict(self) -> dict[str, Any]:
        return {
            "patience": self.patience,
            "min_delta": self.min_delta,
            "min_epochs": self.min_epochs,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        keys = ("patience", "min_delta", "min_epochs", "best_loss", "best_epoch", "bad_epochs", "best_state")
        for key in keys:
            setattr(self, key, state[key])
