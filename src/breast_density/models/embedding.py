"""Batched, frozen CLIP embeddings of harmonised images and of text prompts."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F  # noqa: N812 (torch convention)
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from breast_density.data.datasets import HarmonizedImages
from breast_density.models.clip import ClipBundle
from breast_density.models.devices import autocast

log = logging.getLogger(__name__)


def image_loader(
    bundle: ClipBundle,
    frame: pd.DataFrame,
    batch_size: int,
    workers: int,
    device,
    geometry: str = "letterbox",
) -> DataLoader:
    """Images of `frame` (column `path`) through the model's own preprocessing, in frame order."""
    # keep_aspect pads to the tower's own input shape (square for every ViT here: then it is letterbox)
    dataset = HarmonizedImages(frame, bundle.preprocess, geometry=geometry, input_size=bundle.image_size)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=torch.device(device).type == "cuda",
        persistent_workers=False,
    )


@torch.inference_mode()
def embed_images(
    bundle: ClipBundle,
    frame: pd.DataFrame,
    *,
    batch_size: int,
    workers: int,
    device: torch.device | str = "cpu",
    progress: bool = True,
    geometry: str = "letterbox",
) -> np.ndarray:
    """N x D float32 L2-normalised image embeddings, rows in `frame` order (`geometry`: see data.datasets)."""
    device = torch.device(device)
    if frame.empty:
        return np.zeros((0, bundle.embed_dim), dtype=np.float32)
    loader = image_loader(bundle, frame, batch_size, workers, device, geometry)
    chunks = []
    for images, _ in tqdm(loader, desc="embed images", unit="batch", disable=not progress):
        images = images.to(device, non_blocking=True)
        if device.type == "cuda":
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device):
            features = bundle.model.encode_image(images)
        # normalise in float32: bf16 norms would lose ~3 significant digits
        chunks.append(F.normalize(features.float(), dim=-1).cpu())
    return torch.cat(chunks).numpy().astype(np.float32, copy=False)


@torch.inference_mode()
def embed_texts(bundle: ClipBundle, texts: list[str], device: torch.device | str = "cpu") -> np.ndarray:
    """len(texts) x D float32 L2-normalised text embeddings."""
    device = torch.device(device)
    tokens = bundle.tokenizer(texts).to(device)
    with autocast(device):
        features = bundle.model.encode_text(tokens)
    return F.normalize(features.float(), dim=-1).cpu().numpy()


def class_text_embeddings(
    bundle: ClipBundle, prompts_per_class: list[list[str]], device: torch.device | str = "cpu"
) -> np.ndarray:
    """C x D: each class's prompt embeddings averaged, then re-normalised (a prompt ensemble)."""
    rows = []
    for prompts in prompts_per_class:
        if not prompts:
            raise ValueError("every class needs at least one prompt")
        mean = embed_texts(bundle, prompts, device).mean(axis=0)
        rows.append(mean / np.linalg.norm(mean))
    return np.stack(rows).astype(np.float32)
