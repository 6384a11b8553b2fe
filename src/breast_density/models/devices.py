"""Device choice, mixed precision and memory format, shared by every model stage."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def pick_device(requested: str | None = None) -> torch.device:
    """`requested` ("cpu", "cuda", "cuda:1") wins; otherwise the first CUDA device when present, else CPU."""
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device '{requested}' requested but no CUDA device is available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def uses_bf16(device: torch.device, precision: str = "auto") -> bool:
    """Whether forward passes run under bf16 autocast: `auto` means on CUDA only (params `precision`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {PRECISIONS}")
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "auto") -> Iterator[None]:
    """bf16 autocast (no loss scaling needed, unlike fp16) or full precision, as `uses_bf16` decides.

    `auto` leaves CPU autocast off on purpose: on small CPUs bf16 matmuls are usually slower than fp32.
    """
    if uses_bf16(device, precision):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def channels_last_on(device: torch.device, enabled: bool | str = "auto") -> bool:
    """Whether to use the channels_last memory format: `auto` means on CUDA only."""
    return device.type == "cuda" if enabled == "auto" else bool(enabled)


def to_channels_last(
    module: torch.nn.Module, device: torch.device, enabled: bool | str = "auto"
) -> torch.nn.Module:
    """channels_last speeds up convolutions / patch embeddings on GPU tensor cores (`auto`: CUDA only)."""
    if channels_last_on(device, enabled):
        return module.to(memory_format=torch.channels_last)
    return module
