"""Data-parallel training over the processes torchrun starts (one per GPU, or several CPU processes).

Without torchrun, or with one process, nothing here creates a process group and every helper is a no-op, so
the single-process path is exactly the plain loop. With several processes:

* every process trains a replica; DistributedDataParallel all-reduces the gradients (nccl on CUDA, gloo on
  CPU);
* each global batch of the seeded epoch order (models.training.EpochSampler) is cut into one contiguous slice
  per process, so the global batch, and therefore the optimisation, is the single-process run's;
* validation runs on rank 0 and its result is broadcast, so every process takes the same stopping decision;
* only rank 0 writes checkpoints, curves and outputs; the others wait at a barrier.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

log = logging.getLogger(__name__)

T = TypeVar("T")


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    """True in the process that writes files (rank 0, or the only process)."""
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Join the process group torchrun describes in the environment (WORLD_SIZE, RANK, LOCAL_RANK,
    MASTER_ADDR/PORT) when it has more than one process; leave it at the end."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        yield
        return
    cuda = torch.cuda.is_available()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ValueError(
                f"process {local} of this machine has no GPU of its own ({torch.cuda.device_count()} "
                "visible): set the stage's nproc to at most the GPU count"
            )
        # "cuda" then means this process's own GPU, so device choice elsewhere needs no rank.
        torch.cuda.set_device(local)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    if not is_main():  # one copy of the progress log, not one per process
        logging.getLogger().setLevel(logging.WARNING)
    log.info("data-parallel training on %d processes (%s)", world_size(), dist.get_backend())
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def local_batch_size(batch_size: int, param: str) -> int:
    """The per-process share of the global batch `batch_size` (the params key `param`)."""
    world = world_size()
    if batch_size % world:
        raise ValueError(
            f"{param} = {batch_size} is not divisible by the {world} training processes: "
            "choose a batch size that is a multiple of the process count (nproc x nodes)"
        )
    return batch_size // world


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The module to call in the training step: DistributedDataParallel around `model` (which keeps its
    own parameters, so checkpoints and evaluation use `model` itself) or `model` alone."""
    if not dist.is_initialized():
        return model
    ids = [torch.cuda.current_device()] if device.type == "cuda" else None
    # static_graph: every step uses the same parameters, which lets DDP accept parameters that never get a
    # gradient (a locked tower's remainder, an unused text-model head) and activation checkpointing.
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, static_graph=True)


def all_reduce_sum(*values: float | torch.Tensor) -> list[float]:
    """Each value summed over the processes (the values themselves in a single process)."""
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64)
    if dist.is_initialized():
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
    return tensor.cpu().tolist()


def from_main(compute: Callable[[], T]) -> T:
    """`compute()` run on rank 0 only, its (picklable) result handed to every process."""
    if not dist.is_initialized():
        return compute()
    box: list[Any] = [compute() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


class EpochOrder(Protocol):
    def set_epoch(self, epoch: int) -> None: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


class ShardedSampler(Sampler):
    """This process's slice of every global batch of `order` (a seeded epoch order).

    Global batch k holds items [k*B, (k+1)*B) of the order, as in a single process; process r takes the
    contiguous r-th of its `world` equal parts. The last, short batch is cut to a multiple of `world` (at
    most world-1 items of an epoch left out) so every process runs the same number of equally sized steps,
    which the gradient all-reduce and the gathered contrastive loss need.
    """

    def __init__(self, order: EpochOrder, global_batch: int, rank: int, world: int) -> None:
        if global_batch % world:
            raise ValueError(f"global batch {global_batch} is not divisible by {world} processes")
        self.order, self.global_batch, self.rank, self.world = order, global_batch, rank, world
        full = len(order) // global_batch * global_batch
        self.tail = (len(order) - full) // world * world
        self.full = full
        if len(order) - full - self.tail and rank == 0:
            log.info(
                "%d of %d training items per epoch left out: the last batch is cut to a multiple of the "
                "%d processes (a different few each epoch, as the order is reshuffled)",
                len(order) - full - self.tail, len(order), world,
            )  # fmt: skip

    def set_epoch(self, epoch: int) -> None:
        self.order.set_epoch(epoch)

    def __len__(self) -> int:
        return (self.full + self.tail) // self.world

    def __iter__(self) -> Iterator[Any]:
        items = list(self.order)
        local = self.global_batch // self.world
        mine = []
        for start in range(0, self.full, self.global_batch):
            mine += items[start + self.rank * local : start + (self.rank + 1) * local]
        share = self.tail // self.world
        mine += items[self.full + self.rank * share : self.full + (self.rank + 1) * share]
        return iter(mine)


def shard(order: EpochOrder, global_batch: int, param: str) -> tuple[Sampler, int]:
    """(sampler, per-process batch size) for a training loader over `order` with the global batch size
    `global_batch` (params key `param`): `order` itself in a single process, this process's slices
    otherwise."""
    local = local_batch_size(global_batch, param)
    if not dist.is_initialized():
        return order, global_batch  # type: ignore[return-value]
    return ShardedSampler(order, global_batch, rank(), world_size()), local
