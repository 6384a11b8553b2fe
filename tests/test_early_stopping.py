import math

import pytest
import torch

from breast_density.models.early_stopping import EarlyStopping


def test_stops_after_patience_epochs_without_improvement_and_keeps_best_weights():
    stopper = EarlyStopping(patience=2)
    losses = [1.0, 0.5, 0.6, 0.7, 0.4]
    stopped_at = None
    for epoch, loss in enumerate(losses):
        stopper.step(epoch, loss, {"w": torch.tensor([float(epoch)])})
        if stopper.should_stop:
            stopped_at = epoch
            break
    assert stopped_at == 3
    assert stopper.best_epoch == 1
    assert stopper.best_state["w"].item() == 1.0


def test_best_weights_are_a_copy_not_a_live_reference():
    stopper = EarlyStopping(patience=1)
    weights = {"w": torch.zeros(1)}
    stopper.step(0, 1.0, weights)
    weights["w"] += 5
    assert stopper.best_state["w"].item() == 0.0


def test_state_round_trip_resumes_the_same_countdown():
    a = EarlyStopping(patience=3)
    for epoch, loss in enumerate([1.0, 1.1, 1.2]):
        a.step(epoch, loss, {})
    b = EarlyStopping(patience=3)
    b.load_state_dict(a.state_dict())
    b.step(3, 1.3, {})
    assert b.should_stop and b.best_epoch == 0


def test_diverged_loss_is_an_error():
    with pytest.raises(FloatingPointError, match="diverged"):
        EarlyStopping(patience=1).step(0, math.nan, {})


def test_min_epochs_holds_off_the_stop_but_not_the_best_weights():
    # A from-scratch model sitting at chance: no improvement after epoch 1, then a late one.
    stopper = EarlyStopping(patience=2, min_epochs=6)
    losses = [0.75, 0.75, 0.75, 0.75, 0.75, 0.4, 0.5, 0.6]
    stopped_at = None
    for epoch, loss in enumerate(losses, start=1):
        stopper.step(epoch, loss, {"w": torch.tensor([float(epoch)])})
        if stopper.should_stop:
            stopped_at = epoch
            break
    assert stopped_at == 8  # without min_epochs it would stop at epoch 3, before the improvement at 6
    assert stopper.best_epoch == 6 and stopper.best_state["w"].item() == 6.0
    resumed = EarlyStopping(patience=2)
    resumed.load_state_dict(stopper.state_dict())
    assert resumed.min_epochs == 6 and resumed.should_stop
