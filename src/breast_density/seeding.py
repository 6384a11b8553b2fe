"""One seed for every random choice."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch (when imported); return a numpy Generator for explicit use."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch
    except ImportError:  # torch-free stages stay importable without it
        pass
    else:
        torch.manual_seed(seed)
    return np.random.default_rng(seed)
