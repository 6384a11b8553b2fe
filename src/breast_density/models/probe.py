"""Linear probe: one linear layer on frozen embeddings, trained with AdamW and early stopping on val loss."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch convention)
from safetensors.torch import load_file
from torch import nn
from tqdm.auto import tqdm

from breast_density.io import read_json
from breast_density.models.bundle import write_bundle
from breast_density.models.early_stopping import EarlyStopping
from breast_density.models.epochs import TrainResult, epoch_numbers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    """The probe's settings: params.yaml's `probe` section plus the base seed (no defaults here)."""

    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int


def make_probe(in_features: int, n_classes: int, generator: torch.Generator) -> nn.Linear:
    """Xavier-uniform weights, zero bias (the study's initialisation), drawn from `generator`."""
    layer = nn.Linear(in_features, n_classes)
    with torch.no_grad():
        nn.init.xavier_uniform_(layer.weight, generator=generator)
        layer.bias.zero_()
    return layer


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """A linear layer on a few hundred rows is microseconds of work per step: with several intra-op threads
    the synchronisation costs more than the maths, and on a busy machine it can be 30x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _as_tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    # copies: np.load may hand out read-only arrays, which torch cannot wrap safely
    return torch.tensor(np.asarray(x, dtype=np.float32)), torch.tensor(np.asarray(y, dtype=np.int64))


@torch.no_grad()
def _evaluate(model: nn.Linear, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    return float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).float().mean())


def train_probe(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    config: ProbeConfig,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train on (x_train, y_train), early-stop on the validation loss; `result.model` is the best-validation
    probe. Follows models.epochs' convention (1-based epochs, one record per epoch).

    Deterministic on CPU for a given config.seed: initialisation and batch order come from one generator.
    After each epoch `on_epoch` gets {"epoch", "train/loss", "train/accuracy", "val/loss", "val/accuracy"}.
    """
    with _one_thread():
        return _train(x_train, y_train, x_val, y_val, n_classes, config, on_epoch)


def _train(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    n_classes: int,
    config: ProbeConfig,
    on_epoch: Callable[[dict[str, float]], None] | None,
) -> TrainResult:
    if len(x_train) == 0 or len(x_val) == 0:
        raise ValueError(
            f"the probe needs training and validation rows (got {len(x_train)} train, {len(x_val)} val): "
            "check the split's partition column"
        )
    present = set(np.unique(y_train).tolist())
    if len(present) < 2:
        raise ValueError(f"the training rows hold a single class ({present}); nothing to learn")
    generator = torch.Generator().manual_seed(config.seed)
    xt, yt = _as_tensors(x_train, y_train)
    xv, yv = _as_tensors(x_val, y_val)
    model = make_probe(xt.shape[1], n_classes, generator)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    stopper = EarlyStopping(config.patience)
    result = TrainResult(max_epochs=config.max_epochs)
    epochs = tqdm(epoch_numbers(0, config.max_epochs), desc="probe", unit="epoch", leave=False)
    for epoch in epochs:
        if stopper.should_stop:
            log.info("early stop: no val-loss improvement for %d epochs", config.patience)
            break
        model.train()
        order = torch.randperm(len(xt), generator=generator)
        total_loss, correct = 0.0, 0
        for start in range(0, len(xt), config.batch_size):
            idx = order[start : start + config.batch_size]
            logits = model(xt[idx])
            loss = F.cross_entropy(logits, yt[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total_loss += loss.item() * len(idx)
            correct += int((logits.argmax(1) == yt[idx]).sum())
        model.eval()
        val_loss, val_acc = _evaluate(model, xv, yv)
        row = {
            "epoch": epoch,
            "train/loss": total_loss / len(xt),
            "train/accuracy": correct / len(xt),
            "val/loss": val_loss,
            "val/accuracy": val_acc,
        }
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        stopper.step(epoch, val_loss, model.state_dict())
        epochs.set_postfix(val_loss=f"{val_loss:.4f}", best=stopper.best_epoch)
    model.load_state_dict(stopper.best_state)
    result.model = model.eval()
    result.finish(stopper)
    log.info(
        "probe: best epoch %d of %d (val loss %.4f)",
        result.best_epoch,
        result.epochs_run,
        result.best_val_loss,
    )
    return result


@torch.no_grad()
def predict_proba(model: nn.Linear, x: np.ndarray) -> np.ndarray:
    """N x C softmax probabilities."""
    logits = model(torch.tensor(np.asarray(x, dtype=np.float32)))
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)


WEIGHTS_FILE = "probe.safetensors"
CONFIG_FILE = "config.json"


def save_probe(
    model_dir: str | Path, model: nn.Linear, config: dict[str, Any], copies: dict[str, Path] | None = None
) -> Path:
    """Weights (safetensors) + the resolved config (classes, embedding model, training settings) + side files
    (`copies`: bundle name -> source, e.g. the harmonisation spec predict needs)."""
    return write_bundle(
        model_dir, config, weights=model.state_dict(), weights_file=WEIGHTS_FILE, copies=copies
    )


def load_probe(model_dir: str | Path) -> tuple[nn.Linear, dict[str, Any]]:
    """The probe saved by `save_probe` (eval mode) and its config; `config["classes"]` orders the outputs."""
    model_dir = Path(model_dir)
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name}: missing; run `dvc repro probe` first")
    config = read_json(model_dir / CONFIG_FILE)
    state = load_file(str(model_dir / WEIGHTS_FILE))
    n_classes, in_features = state["weight"].shape
    model = nn.Linear(in_features, n_classes)
    model.load_state_dict(state)
    return model.eval(), config
