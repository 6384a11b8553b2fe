"""Linear probe: one linear layer on frozen embeddings, trained with AdamW and early stopping on val loss."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch convention)
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from breast_density.io import atomic_path, read_json, write_json
from breast_density.models.early_stopping import EarlyStopping

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeConfig:
    lr: float = 1e-4
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 200
    patience: int = 10
    seed: int = 42


@dataclass
class ProbeResult:
    model: nn.Linear  # holds the best-validation weights
    best_epoch: int  # 1-based
    epochs_run: int
    best_val_loss: float
    max_epochs: int
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def stopped_early(self) -> bool:
        return self.epochs_run < self.max_epochs


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
) -> ProbeResult:
    """Train on (x_train, y_train), early-stop on the validation loss, return the best-validation probe.

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
) -> ProbeResult:
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
    history: list[dict[str, float]] = []
    epochs = tqdm(range(1, config.max_epochs + 1), desc="probe", unit="epoch", leave=False)
    for epoch in epochs:
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
        history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        stopper.step(epoch, val_loss, model.state_dict())
        epochs.set_postfix(val_loss=f"{val_loss:.4f}", best=stopper.best_epoch)
        if stopper.should_stop:
            log.info(
                "early stop after epoch %d: no val-loss improvement for %d epochs", epoch, config.patience
            )
            break
    model.load_state_dict(stopper.best_state)
    model.eval()
    log.info(
        "probe: best epoch %d of %d (val loss %.4f)", stopper.best_epoch, len(history), stopper.best_loss
    )
    return ProbeResult(
        model=model,
        best_epoch=stopper.best_epoch,
        epochs_run=len(history),
        best_val_loss=stopper.best_loss,
        max_epochs=config.max_epochs,
        history=history,
    )


@torch.no_grad()
def predict_proba(model: nn.Linear, x: np.ndarray) -> np.ndarray:
    """N x C softmax probabilities."""
    logits = model(torch.tensor(np.asarray(x, dtype=np.float32)))
    return torch.softmax(logits, dim=1).numpy().astype(np.float64)


WEIGHTS_FILE = "probe.safetensors"
CONFIG_FILE = "config.json"


def save_probe(model_dir: str | Path, model: nn.Linear, config: dict[str, Any]) -> Path:
    """Weights (safetensors) + the resolved config (classes, embedding model, training settings)."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(model_dir / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_json(model_dir / CONFIG_FILE, config)
    return model_dir


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
