"""ConvNeXt classifiers through timm: weight resolution, input config, and the saved model bundle.

Weights resolve from an explicit local file, then the local Hugging Face / torch-hub cache, then the hub.
Offline with nothing cached is an immediate error naming the fix, never a silent random initialisation.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from breast_density.data.datasets import input_hw
from breast_density.hub import cached_file, hub_offline
from breast_density.io import read_json
from breast_density.models.bundle import write_bundle

log = logging.getLogger(__name__)

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


class WeightsUnavailableError(FileNotFoundError, RuntimeError):
    """Pretrained weights were requested but no local file, cache entry or hub connection provides them.

    A FileNotFoundError, so stages and the CLI report it as one line naming the fix, without a traceback.
    """


def cached_weights(arch: str) -> Path | None:
    """A local copy of `arch`'s pretrained weights in the HF hub cache or the torch-hub cache, if any."""
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return None
    hub_id = getattr(cfg, "hf_hub_id", None)
    if hub_id:
        names = [cfg.hf_hub_filename] if getattr(cfg, "hf_hub_filename", None) else []
        names += ["model.safetensors", "pytorch_model.bin"]
        for name in names:
            found = cached_file(hub_id, name)
            if found is not None:
                return found
    url = getattr(cfg, "url", None)
    if url:
        legacy = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
        if legacy.is_file():
            return legacy
    return None


def _missing_weights_message(arch: str, why: str) -> str:
    return (
        f"pretrained weights for '{arch}' are not available: {why}. Fix: on a connected machine run "
        f"`python -c \"import timm; timm.create_model('{arch}', pretrained=True)\"` (fills the Hugging Face "
        f"cache), or download the weights file and set finetune.checkpoint to its path; "
        f"or set finetune.pretrained: false to train from scratch on purpose."
    )


def create_convnext(
    arch: str, num_classes: int, *, pretrained: bool = False, checkpoint: str | None = None
) -> nn.Module:
    """A timm ConvNeXt (any timm arch) with a fresh `num_classes` head.

    `checkpoint` (a local .safetensors/.pth file) wins over `pretrained`; the classifier weights of a
    checkpoint trained on another label set are dropped by timm and re-initialised.
    """
    if not timm.is_model(arch):
        close = timm.list_models(f"*{arch.split('.')[0].split('_')[0]}*")[:8]
        raise ValueError(f"unknown timm architecture '{arch}' (similar: {', '.join(close) or 'none'})")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if checkpoint is not None:
        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: finetune.checkpoint weights file does not exist")
        log.info("loading %s weights from %s", arch, path)
        return timm.create_model(
            arch, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay={"file": str(path)}
        )
    if not pretrained:
        return timm.create_model(arch, pretrained=False, num_classes=num_classes)
    local = cached_weights(arch)
    if local is not None:
        log.info("loading %s weights from the local cache (%s)", arch, local)
        return timm.create_model(
            arch, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay={"file": str(local)}
        )
    if hub_offline():
        raise WeightsUnavailableError(
            _missing_weights_message(arch, "HF_HUB_OFFLINE is set and nothing is cached")
        )
    log.info("downloading %s weights from the hub", arch)
    try:
        return timm.create_model(arch, pretrained=True, num_classes=num_classes)
    except (OSError, RuntimeError, ValueError) as err:  # network / hub errors come in several types
        raise WeightsUnavailableError(_missing_weights_message(arch, f"download failed ({err})")) from err


def model_data_config(model: nn.Module, img_size: int | Sequence[int]) -> dict[str, Any]:
    """timm's input config for `model` (normalisation, interpolation) at `img_size` (int or [h, w])."""
    cfg = timm.data.resolve_model_data_config(model)
    return {
        "input_size": [3, *input_hw(img_size)],
        "interpolation": str(cfg.get("interpolation", "bicubic")),
        "mean": [float(v) for v in cfg["mean"]],
        "std": [float(v) for v in cfg["std"]],
    }


def save_bundle(
    model_dir: str | Path, model: nn.Module, config: dict[str, Any], copies: dict[str, Path] | None = None
) -> None:
    """Weights (safetensors, no pickle), the resolved config that predict needs to rebuild the model, and
    the side files in `copies` (bundle name -> source)."""
    write_bundle(model_dir, config, weights=model.state_dict(), weights_file=WEIGHTS_FILE, copies=copies)


def load_bundle(model_dir: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a saved fine-tuned model (no pretrained download: the bundle holds every weight)."""
    model_dir = Path(model_dir)
    config_path = model_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path}: no saved model here (run the finetune stage first)")
    config = read_json(config_path)
    model = create_convnext(config["arch"], len(config["class_names"]), pretrained=False)
    model.load_state_dict(load_file(str(model_dir / WEIGHTS_FILE)))
    model.eval()
    return model, config
