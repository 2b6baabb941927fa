"""Deterministic data order: the batch of every step is a function of (seed, step), so resume is exact."""

from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Dataset, Sampler


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch `epoch` visits the n pairs."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches for steps [start_step, total_steps) over an endless stream of epochs, as (epoch, pair) keys.

    Step k takes stream positions [k*B, (k+1)*B) of the global batch B; position p is pair
    epoch_order(n, seed, p // n)[p % n]. Under DDP, rank r takes its contiguous share of those positions,
    so K processes see exactly the batch one process would (a distributed sampler that also resumes mid-epoch).
    """

    def __init__(self, n: int, global_batch: int, seed: int, start_step: int, total_steps: int,
                 rank: int = 0, world_size: int = 1):
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by {world_size} processes")
        self.n, self.global_batch, self.seed = n, global_batch, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.local_batch = global_batch // world_size
        self.offset = rank * self.local_batch
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            if len(self._orders) > 2:  # a batch spans at most a few epochs; keep the cache small
                self._orders.pop(min(self._orders))
            self._orders[epoch] = epoch_order(self.n, self.seed, epoch)
        return self._orders[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        """This rank's (epoch, pair index) keys for `step`."""
        first = step * self.global_batch + self.offset
        keys = []
        for p in range(first, first + self.local_batch):
            epoch = p // self.n
            keys.append((epoch, int(self._order(epoch)[p % self.n])))
        return keys

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)


class EpochKeyed(Dataset):
    """Wraps a PairDataset so an (epoch, i) key sets the epoch (which decides the flip) before reading item i.
    Works inside DataLoader workers, where the epoch set in the main process would not be seen."""

    def __init__(self, dataset):
        self.dataset = dataset
        self._epoch: int | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, i = key
        if epoch != self._epoch:
            self.dataset.set_epoch(epoch)
            self._epoch = epoch
        return self.dataset[i]
