"""Device choice and mixed precision, shared by every model stage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` ("cpu", "cuda", "cuda:1") wins; otherwise the first CUDA device when present, else CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device '{requested}' requested but no CUDA device is available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA (no loss scaling needed, unlike fp16); full precision on CPU.

    CPU autocast is left off on purpose: on small CPUs bf16 matmuls are usually slower than fp32.
    """
    if device.type == "cuda":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        yield


def to_channels_last(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """channels_last speeds up convolutions / patch embeddings on GPU tensor cores; a no-op benefit on CPU."""
    if device.type == "cuda":
        return module.to(memory_format=torch.channels_last)
    return module
