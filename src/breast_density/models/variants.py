"""CLIP variants: `base` (the model named by embed.model) and `adapted` (the adapt stage's bundle).

The embed, zeroshot and probe stages run once per variant. A variant can be skipped (the adapted one when
the data source has no report text to adapt on): its stages then write a `skipped.json` note instead of
their outputs, and evaluate reports the arms that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from breast_density.io import skipped_reason, write_skipped  # noqa: F401  (re-exported for the stages)
from breast_density.models.clip import ClipBundle, load_clip

BASE, ADAPTED = "base", "adapted"
VARIANTS = (BASE, ADAPTED)


@dataclass(frozen=True)
class ClipSource:
    """What `load_clip` needs to load one variant; `model` is recorded in every downstream bundle."""

    model: str
    pretrained: str | None = None
    revision: str | None = None


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown CLIP variant '{variant}': expected one of {list(VARIANTS)}")
    return variant


def clip_source(
    variant: str, model: str, pretrained: str | None, revision: str | None, adapted_dir: Path
) -> ClipSource:
    """The base variant is embed.model as configured; the adapted one is the open_clip folder adapt wrote."""
    if check_variant(variant) == BASE:
        return ClipSource(model, pretrained, revision)
    return ClipSource(str(adapted_dir))


def load_variant(source: ClipSource, device: torch.device | str | None = None) -> ClipBundle:
    """The variant's CLIP (seed the RNG first: demo base models draw random weights from it)."""
    return load_clip(source.model, pretrained=source.pretrained, revision=source.revision, device=device)
