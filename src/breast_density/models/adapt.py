"""Contrastive adaptation of a CLIP model on (harmonised image, English findings) pairs.

open_clip's own pieces do the work: the model from its factory (models.clip), its tokenizer, `ClipLoss`, and
its tower-locking methods. The loop follows models.epochs' convention (1-based epochs, one record and dvclive
step per epoch, early stopping with the best weights restored) and resumes exactly like the fine-tuning loop:
the data order is a pure function of (seed, epoch) and an epoch checkpoint holds model, optimiser, early
stopping, RNG states and history.

Validation: the contrastive loss over the whole validation set (every image against every report of that set,
so it does not depend on batch composition) and the zero-shot accuracy of the class prompts on the validation
images. Either can be the early-stopping monitor.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import open_clip
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812 (torch convention)
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from breast_density.data.datasets import HarmonizedImages
from breast_density.models import distributed
from breast_density.models.clip import ClipBundle
from breast_density.models.curves import Curves
from breast_density.models.devices import autocast, to_channels_last
from breast_density.models.early_stopping import EarlyStopping
from breast_density.models.epochs import TrainResult, epoch_numbers
from breast_density.models.training import (
    EpochSampler,
    SeededSamples,
    checkpoint,
    deterministic,
    make_loader,
    resume,
)

log = logging.getLogger(__name__)

MAX_LOGIT_SCALE = math.log(100)  # open_clip's clamp: a temperature below 0.01 destabilises training


@dataclass(frozen=True)
class AdaptSettings:
    """Resolved from params.yaml's `adapt` section and the base seed (no defaults here)."""

    lock_image: bool
    image_unlocked_groups: int
    lock_text: bool
    text_unlocked_layers: int
    learn_temperature: bool
    lr: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    min_epochs: int
    monitor: Literal["val_loss", "val_zeroshot_accuracy"]
    ema_decay: float
    grad_checkpointing: bool
    workers: int
    seed: int
    geometry: str  # params `geometry`: the same pixels every arm sees (data.datasets.fit_geometry)


class ImageTextPairs(Dataset):
    """(preprocessed image, token ids) per row of `frame` (columns path, text); tokens made once.

    The preprocessing has no random part, so with `preload` every image is decoded once and kept in memory
    (the demo's few hundred small images): every later epoch then costs only the model's compute.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        preprocess: Callable,
        tokenizer: Callable,
        preload: bool,
        geometry: str,
        input_size: tuple[int, int] | None = None,  # (height, width) of the image tower (keep_aspect)
    ) -> None:
        self.images = HarmonizedImages(frame, preprocess, geometry=geometry, input_size=input_size)
        self.tokens = tokenizer(frame["text"].tolist())
        self.cache = [self.images[i][0] for i in range(len(self.images))] if preload else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.cache[index] if self.cache is not None else self.images[index][0]
        return image, self.tokens[index]


def set_trainable(model: nn.Module, settings: AdaptSettings) -> int:
    """Lock the towers the settings freeze (open_clip's methods); returns the trainable parameter count."""
    for p in model.parameters():
        p.requires_grad_(True)
    if settings.lock_image:
        model.lock_image_tower(unlocked_groups=settings.image_unlocked_groups, freeze_bn_stats=True)
    if settings.lock_text:
        model.lock_text_tower(unlocked_layers=settings.text_unlocked_layers, freeze_layer_norm=True)
    model.logit_scale.requires_grad_(settings.learn_temperature)
    if settings.grad_checkpointing:
        model.set_grad_checkpointing(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of the exponential moving average of `model`'s parameters (buffers are copied)."""
    for kept, live in zip(average.parameters(), model.parameters(), strict=True):
        kept.lerp_(live, 1 - decay)
    for kept, live in zip(average.buffers(), model.buffers(), strict=True):
        kept.copy_(live)


def _optimizer(model: nn.Module, settings: AdaptSettings) -> torch.optim.Optimizer:
    # As open_clip trains: no weight decay on gains, biases and the temperature (every tensor below 2-D).
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": no_decay, "weight_decay": 0.0},
        {"params": decay, "weight_decay": settings.weight_decay},
    ]
    return torch.optim.AdamW(groups, lr=settings.lr)


@torch.no_grad()
def _features(
    model: nn.Module, loader, device: torch.device, texts: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    model.eval()
    images, tokens = [], []
    for batch_images, batch_tokens in loader:
        with autocast(device):
            images.append(model.encode_image(batch_images.to(device), normalize=True).float().cpu())
            if texts:
                tokens.append(model.encode_text(batch_tokens.to(device), normalize=True).float().cpu())
    return torch.cat(images), (torch.cat(tokens) if texts else None)


@torch.no_grad()
def class_embeddings(
    model: nn.Module, tokenizer: Callable, prompts: Sequence[Sequence[str]], device: torch.device
) -> torch.Tensor:
    """C x D: each class's prompts embedded, averaged and re-normalised (the zeroshot stage's rule)."""
    rows = []
    for class_prompts in prompts:
        with autocast(device):
            emb = model.encode_text(tokenizer(list(class_prompts)).to(device), normalize=True).float()
        rows.append(F.normalize(emb.mean(0), dim=-1))
    return torch.stack(rows).cpu()


def validate(
    model: nn.Module,
    loader,
    exams: np.ndarray,
    labels: np.ndarray,
    tokenizer: Callable,
    prompts: Sequence[Sequence[str]],
    device: torch.device,
) -> tuple[float, float]:
    """(image-to-report loss over the whole set, zero-shot accuracy of the class prompts).

    The views of one exam share its report, so the loss picks each image's report among the set's distinct
    reports (`exams` numbers them 0..E-1): another view of the same exam is not a wrong answer.
    """
    image_f, text_f = _features(model, loader, device, texts=True)
    first_row = np.unique(exams, return_index=True)[1]
    scale = model.logit_scale.detach().exp().float().cpu()
    logits = scale * image_f @ text_f[torch.as_tensor(first_row)].T
    loss = F.cross_entropy(logits, torch.as_tensor(exams, dtype=torch.long))
    predicted = (image_f @ class_embeddings(model, tokenizer, prompts, device).T).argmax(1).numpy()
    return float(loss), float((predicted == labels).mean())


def _encode_pair(model: nn.Module, images: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(image features, text features, logit scale) through the model's forward, which is the call
    DistributedDataParallel synchronises; open_clip models return a tuple or, by configuration, a dict."""
    out = model(images, tokens)
    if isinstance(out, dict):
        return out["image_features"], out["text_features"], out["logit_scale"]
    return out[0], out[1], out[2]


def adapt_clip(
    bundle: ClipBundle,
    train: pd.DataFrame,
    val: pd.DataFrame,
    prompts: Sequence[Sequence[str]],
    settings: AdaptSettings,
    *,
    device: torch.device,
    checkpoint_path: Path | None = None,
    run_key: str = "",
    live_dir: Path | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> TrainResult:
    """Adapt `bundle.model` in place on `train` (columns path, text) and early-stop on `val` (path, text,
    exam_id and `label_index`, the class of each validation image for the zero-shot monitor). Ends on the
    best weights.

    Under torchrun with several processes (models.distributed) each process encodes its slice of the global
    batch and open_clip's ClipLoss gathers every slice's features (with their gradients), so each image is
    still contrasted with all reports of the global batch; rank 0 alone validates, checkpoints and logs.
    """
    if len(train) < 2 or len(val) < 2:
        raise ValueError(f"adaptation needs >= 2 train and val pairs (got {len(train)} and {len(val)})")
    model = to_channels_last(bundle.model.to(device), device)
    trainable = set_trainable(model, settings)
    log.info("adapting %s: %d trainable parameters on %d pairs", bundle.name, trainable, len(train))
    optimizer = _optimizer(model, settings)
    world = distributed.world_size()
    # local_loss: each process scores its own rows against the gathered global batch (same loss, 1/world of
    # the logits); gather_with_grad: the other processes' features pass gradients back to their encoders.
    loss_fn = open_clip.ClipLoss(
        local_loss=world > 1, gather_with_grad=world > 1, rank=distributed.rank(), world_size=world
    )
    stopper = EarlyStopping(settings.patience, min_epochs=settings.min_epochs)
    sampler, local_batch = distributed.shard(
        EpochSampler(len(train), settings.seed), settings.batch_size, "batch_size"
    )
    preload = settings.workers == 0  # worker processes would each hold a copy
    shape = (settings.geometry, bundle.image_size)
    train_set = ImageTextPairs(train, bundle.preprocess, bundle.tokenizer, preload, *shape)
    val_set = ImageTextPairs(val, bundle.preprocess, bundle.tokenizer, preload, *shape)
    train_loader = make_loader(SeededSamples(train_set), local_batch, settings.workers, device, sampler)
    val_loader = make_loader(val_set, settings.batch_size, settings.workers, device)
    val_exams = pd.factorize(val["exam_id"])[0] if "exam_id" in val else np.arange(len(val))
    val_labels = val["label_index"].to_numpy()
    result = TrainResult(max_epochs=settings.max_epochs)

    # Validated, early-stopped and kept: an exponential moving average of the weights (the weights
    # themselves when ema_decay is 0). A tower trained from scratch on a few hundred pairs swings from
    # step to step; the average does not. Checkpointed and resumed together with the live weights.
    ema = copy.deepcopy(model) if settings.ema_decay > 0 else model
    both = nn.ModuleDict({"model": model, "ema": ema}) if ema is not model else model
    result.history = resume(checkpoint_path, run_key, both, optimizer, stopper)
    result.resumed_at_epoch = len(result.history)
    train_model = distributed.wrap(model, device)
    main = distributed.is_main()

    curves = Curves(live_dir if main else None, result.history)
    epochs = epoch_numbers(result.resumed_at_epoch, settings.max_epochs)
    bar = tqdm(epochs, desc="adapt", unit="epoch", disable=not main)
    with deterministic(device.type == "cpu"), bar:
        for epoch in bar:
            if stopper.should_stop:
                break
            sampler.set_epoch(epoch)
            model.train()
            loss_sum, seen = 0.0, 0
            for images, tokens in train_loader:
                with autocast(device):
                    image_f, text_f, scale = _encode_pair(train_model, images.to(device), tokens.to(device))
                loss = loss_fn(image_f.float(), text_f.float(), scale.float())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                with torch.no_grad():
                    model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
                    if ema is not model:
                        update_average(ema, model, settings.ema_decay)
                loss_sum += float(loss.detach()) * len(images)
                seen += len(images)
            loss_sum, seen = distributed.all_reduce_sum(loss_sum, seen)
            # One validation, broadcast: every process takes the same early-stopping decision.
            val_loss, val_acc = distributed.from_main(
                lambda: validate(ema, val_loader, val_exams, val_labels, bundle.tokenizer, prompts, device)
            )
            record = {
                "epoch": float(epoch),
                "train/loss": loss_sum / seen,
                "val/loss": val_loss,
                "val/zeroshot_accuracy": val_acc,
                "logit_scale": float(ema.logit_scale.detach().exp()),
            }
            monitored = val_loss if settings.monitor == "val_loss" else -val_acc
            stopper.step(epoch, monitored, ema.state_dict())
            result.history.append(record)
            curves.log(record)
            bar.set_postfix(val_loss=f"{val_loss:.3f}", val_zs_acc=f"{val_acc:.2f}")
            log.info(
                "epoch %d: train loss %.4f | val loss %.4f, zero-shot acc %.3f",
                epoch, record["train/loss"], val_loss, val_acc,
            )  # fmt: skip
            if checkpoint_path is not None and main:
                checkpoint(checkpoint_path, run_key, result.history, both, optimizer, stopper)
            distributed.barrier()  # no process runs ahead of the checkpoint it may have to resume from
            if after_epoch is not None:
                after_epoch(epoch)
    result.finish(stopper)
    if result.best_epoch:  # the val loss itself, also when accuracy was the monitor (stored negated)
        result.best_val_loss = result.history[result.best_epoch - 1]["val/loss"]
    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    result.model = model.eval()
    curves.close(result.summary())
    log.info(
        "adaptation done: %d epochs, best epoch %d by %s (val loss %.4f)%s",
        result.epochs_run, result.best_epoch, settings.monitor, result.best_val_loss,
        ", stopped early" if result.stopped_early else "",
    )  # fmt: skip
    return result
