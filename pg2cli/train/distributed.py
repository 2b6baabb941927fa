"""Device choice and torchrun/DDP setup: which process does what, and the collectives the loop needs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from pg2cli.errors import UsageError


def resolve_device(name: str) -> torch.device:
    """'auto' -> cuda, else mps, else cpu; an explicit device that is not available is a UsageError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA GPU is available to this PyTorch build")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UsageError("--device mps: Apple's MPS backend is not available")
    return torch.device(name)


@dataclass(frozen=True)
class DistContext:
    """This process's place in the job: rank 0 of 1 without torchrun."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool  # True when train() created the process group (and so must destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_mean(self, tensor: torch.Tensor) -> torch.Tensor:
        """Average `tensor` over the processes (in place); a no-op in a single process."""
        if self.distributed:
            dist.all_reduce(tensor)
            tensor /= self.world_size
        return tensor

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(device: str) -> DistContext:
    """Join the torchrun job described by the environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR/PORT),
    with NCCL on CUDA and gloo on CPU; a plain single process otherwise. Each process gets its own GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not dist.is_initialized():
        return DistContext(0, 1, 0, resolve_device(device), owns_group=False)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UsageError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are visible")
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    elif dev.type != "cpu":
        raise UsageError(f"multi-process training supports cuda (NCCL) and cpu (gloo), not {dev.type}")
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=owns)
