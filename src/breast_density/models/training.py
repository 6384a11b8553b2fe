"""Supervised training loop for image classifiers, with early stopping and exact resume.

Reproducibility design: the shuffled order *and* every sample's augmentation seed are a pure function of
(seed, epoch) (``EpochSampler``), and each sample's random transform runs under its own seed
(``SeededSamples``). So the data an epoch sees does not depend on history, on the number of DataLoader
workers, or on whether the workers persist; together with the saved model/optimiser/scheduler/RNG states a
resumed run continues bit for bit where the killed one stopped (on CPU, where kernels are deterministic).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from breast_density.io import atomic_path
from breast_density.models import distributed
from breast_density.models.curves import Curves
from breast_density.models.devices import autocast, channels_last_on, pick_device, to_channels_last
from breast_density.models.early_stopping import EarlyStopping
from breast_density.models.epochs import TrainResult, epoch_numbers

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 2  # 2: history epochs numbered from 1 (models.epochs)


@dataclass(frozen=True)
class TrainSettings:
    """Resolved from params.yaml's `finetune` section and the base seed (no defaults here)."""

    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    # constant by default: the study trains at a fixed AdamW lr and lets early stopping end the run; a
    # cosine over max_epochs (200) would barely decay before patience stops it, and would make every
    # epoch's lr depend on max_epochs.
    lr_schedule: Literal["constant", "cosine"]
    workers: int
    seed: int
    precision: str  # auto | fp32 | bf16 (models.devices.autocast)
    channels_last: bool | str  # auto | True | False (models.devices.channels_last_on)


def derive_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integer parts (e.g. base seed and epoch)."""
    state = np.random.SeedSequence([p % 2**64 for p in parts]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


class EpochSampler(Sampler[tuple[int, int]]):
    """Yields (index, augmentation seed) in an order drawn from a generator seeded by (seed, epoch)."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
        order = torch.randperm(self.size, generator=generator).tolist()
        seeds = torch.randint(0, 2**62, (self.size,), generator=generator).tolist()
        return iter(zip(order, seeds, strict=True))


class SeededSamples(Dataset):
    """Wraps a dataset with a random transform; item (index, seed) is transformed under that seed."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        # fork_rng: the main process's global RNG (used when workers=0) is left untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.base[index]


def make_loader(
    dataset: Dataset,
    batch_size: int,
    workers: int,
    device: torch.device,
    sampler: Sampler | None = None,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=device.type == "cuda",
        drop_last=False,
    )


def _to_device(
    images: torch.Tensor, device: torch.device, channels_last: bool | str = "auto"
) -> torch.Tensor:
    fmt = torch.channels_last if channels_last_on(device, channels_last) else torch.contiguous_format
    return images.to(device, non_blocking=True, memory_format=fmt)


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    precision: str = "auto",
    channels_last: bool | str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits float32 on CPU, targets) for every batch of `loader`, in order."""
    model.eval()
    logits, targets = [], []
    for images, batch_targets in loader:
        with autocast(device, precision):
            out = model(_to_device(images, device, channels_last))
        logits.append(out.float().cpu())
        targets.append(torch.as_tensor(batch_targets))
    return torch.cat(logits), torch.cat(targets)


def evaluate(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    precision: str = "auto",
    channels_last: bool | str = "auto",
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a labelled loader."""
    logits, targets = predict_logits(model, loader, device, precision, channels_last)
    loss = nn.functional.cross_entropy(logits, targets).item()
    acc = (logits.argmax(1) == targets).float().mean().item()
    return loss, acc


def _train_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    settings: TrainSettings,
) -> tuple[float, float, int]:
    """One pass over this process's share of the epoch; loss, accuracy and count over all processes."""
    model.train()
    # Sums stay on the device: a .item() per batch would stall the GPU pipeline.
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen = 0
    for images, targets in loader:
        images = _to_device(images, device, settings.channels_last)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, settings.precision):
            logits = model(images)
        loss = nn.functional.cross_entropy(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += loss.detach() * len(targets)
        correct += (logits.detach().argmax(1) == targets).sum()
        seen += len(targets)
    loss_total, correct_total, seen_total = distributed.all_reduce_sum(loss_sum.item(), correct.item(), seen)
    return loss_total / seen_total, correct_total / seen_total, int(seen_total)


def _make_scheduler(
    optimizer: torch.optim.Optimizer, settings: TrainSettings
) -> torch.optim.lr_scheduler.LRScheduler:
    if settings.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=settings.max_epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fingerprint(settings: dict[str, Any], items: Iterable[tuple[Sequence[str], Path]]) -> str:
    """Resume key: hash of the settings (JSON) and of every (row fields, file bytes) a run trains on."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for fields, path in items:
        digest.update("\0".join(fields).encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def load_checkpoint(path: Path, run_key: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it belongs to this exact configuration, else None (start fresh)."""
    if not path.is_file():
        return None
    try:
        # Our own file (not user input), and RNG states need numpy/python objects: full unpickling.
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a corrupt checkpoint must not block a fresh run
        log.warning("%s: unreadable checkpoint ignored (%s)", path, err)
        return None
    if state.get("format") != CHECKPOINT_FORMAT or state.get("run_key") != run_key:
        log.info("%s: checkpoint from a different configuration or data ignored", path)
        return None
    return state


def resume(
    checkpoint_path: Path | None,
    run_key: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    stopper: EarlyStopping,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> list[dict[str, float]]:
    """Restore a checkpoint of this exact run (same `run_key`) into the training objects and the RNGs;
    returns its epoch history ([] when there is nothing to resume). One rule for every training loop."""
    state = load_checkpoint(checkpoint_path, run_key) if checkpoint_path else None
    if state is None:
        return []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    stopper.load_state_dict(state["early_stopping"])
    set_rng_state(state["rng"])
    log.info("resuming from %s after epoch %d", checkpoint_path, len(state["history"]))
    return list(state["history"])


def checkpoint(
    path: Path,
    run_key: str,
    history: list[dict[str, float]],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    stopper: EarlyStopping,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> None:
    """Save the epoch state `resume` restores: the two are one format for every training loop."""
    state = {
        "format": CHECKPOINT_FORMAT,
        "run_key": run_key,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "early_stopping": stopper.state_dict(),
        "rng": rng_state(),
        "history": history,
    }
    if scheduler is not None:
        state["scheduler"] = scheduler.state_dict()
    save_checkpoint(path, state)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


@contextlib.contextmanager
def deterministic(enabled: bool) -> Iterator[None]:
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        # warn_only: an arch with an op lacking a deterministic CPU kernel still trains (with a warning).
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=previous_warn)


def fit(
    model: nn.Module,
    train_set: Dataset,
    val_set: Dataset,
    settings: TrainSettings,
    *,
    device: torch.device | None = None,
    checkpoint_path: Path | None = None,
    run_key: str = "",
    live_dir: Path | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train with AdamW on `train_set` (random transform) and early-stop on `val_set` loss.

    Follows models.epochs' convention (1-based epochs, one record and dvclive step per epoch) and ends with
    the best-validation weights loaded into `model`. With `checkpoint_path`, an epoch checkpoint
    is written atomically after every epoch and a matching one (same `run_key`) is resumed from.
    `after_epoch(epoch)` runs after each epoch's checkpoint (used to simulate a kill in tests).

    Under torchrun with several processes (models.distributed) the global batch stays
    `settings.batch_size`, split evenly over the processes; rank 0 alone validates, checkpoints and logs
    curves, and every process resumes from the same checkpoint.
    """
    device = device or pick_device()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: autotuned kernels pay off from epoch 1
    model = to_channels_last(model.to(device), device, settings.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = _make_scheduler(optimizer, settings)
    stopper = EarlyStopping(settings.patience)
    sampler, local_batch = distributed.shard(
        EpochSampler(len(train_set), settings.seed), settings.batch_size, "batch_size"
    )
    train_loader = make_loader(SeededSamples(train_set), local_batch, settings.workers, device, sampler)
    val_loader = make_loader(val_set, settings.batch_size, settings.workers, device)
    result = TrainResult(max_epochs=settings.max_epochs)

    result.history = resume(checkpoint_path, run_key, model, optimizer, stopper, scheduler)
    result.resumed_at_epoch = len(result.history)
    # Wrapped after resume: DDP starts every replica from rank 0's (restored) weights.
    train_model = distributed.wrap(model, device)
    main = distributed.is_main()

    curves = Curves(live_dir if main else None, result.history)
    images_seen, train_seconds = 0, 0.0
    epochs = epoch_numbers(result.resumed_at_epoch, settings.max_epochs)
    bar = tqdm(epochs, desc="epochs", unit="epoch", disable=not main)
    with deterministic(device.type == "cpu"), bar:
        for epoch in bar:
            if stopper.should_stop:
                break
            sampler.set_epoch(epoch - 1)  # the data order is seeded by the 0-based epoch index
            started = time.perf_counter()
            train_loss, train_acc, seen = _train_epoch(train_model, train_loader, optimizer, device, settings)
            result.epoch_seconds.append(time.perf_counter() - started)
            train_seconds += result.epoch_seconds[-1]
            images_seen += seen
            # One evaluation, broadcast: every process takes the same early-stopping decision.
            val_loss, val_acc = distributed.from_main(
                lambda: evaluate(model, val_loader, device, settings.precision, settings.channels_last)
            )
            record = {
                "epoch": float(epoch),
                "train/loss": train_loss,
                "train/accuracy": train_acc,
                "val/loss": val_loss,
                "val/accuracy": val_acc,
                "lr": optimizer.param_groups[0]["lr"],
            }
            scheduler.step()
            stopper.step(epoch, val_loss, model.state_dict())
            result.history.append(record)
            curves.log(record)
            bar.set_postfix(
                train_loss=f"{train_loss:.3f}", val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.2f}"
            )
            log.info(
                "epoch %d: train loss %.4f acc %.3f | val loss %.4f acc %.3f",
                epoch, train_loss, train_acc, val_loss, val_acc,
            )  # fmt: skip
            if checkpoint_path is not None and main:
                checkpoint(checkpoint_path, run_key, result.history, model, optimizer, stopper, scheduler)
            distributed.barrier()  # no process runs ahead of the checkpoint it may have to resume from
            if after_epoch is not None:
                after_epoch(epoch)
    curves.close()

    result.finish(stopper)
    result.model = model
    result.train_images_per_s = images_seen / train_seconds if train_seconds else 0.0
    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    log.info(
        "training done: %d epochs, best epoch %d (val loss %.4f)%s",
        len(result.history), result.best_epoch, result.best_val_loss,
        ", stopped early" if result.stopped_early else "",
    )  # fmt: skip
    return result
