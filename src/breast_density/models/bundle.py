"""Saved model bundles: one folder with safetensors weights, a JSON config and copied side files.

Every stage that saves a model (probe, zeroshot, finetune, adapt) goes through `write_bundle`, so what a
bundle carries for `breast-density predict` (the harmonisation recipe, the class prompts, ...) is added in one
place. The config is written last: its presence marks a complete bundle.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from breast_density.io import atomic_path, write_json


def write_bundle(
    model_dir: str | Path,
    config: dict[str, Any],
    *,
    config_file: str = "config.json",
    weights: Mapping[str, torch.Tensor] | None = None,
    weights_file: str = "model.safetensors",
    copies: Mapping[str, Path] | None = None,
) -> Path:
    """Write `weights` (a state dict, moved to CPU), the files in `copies` (bundle name -> source file) and
    `config` into `model_dir` (created when missing); returns the folder."""
    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    for name, source in (copies or {}).items():
        if not Path(source).is_file():
            raise FileNotFoundError(f"{source}: missing; it goes into the model bundle {model_dir}")
        with atomic_path(model_dir / name) as tmp:
            shutil.copyfile(source, tmp)
    if weights is not None:
        state = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
        with atomic_path(model_dir / weights_file) as tmp:
            save_file(state, str(tmp))
    write_json(model_dir / config_file, config)
    return model_dir
