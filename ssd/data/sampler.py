"""Epoch batching for one or several ranks: disjoint shards whose union is exactly the epoch.

Scheme (the same for one process and for DDP): each epoch the ``N`` training items are shuffled with
a generator seeded by ``(seed, epoch)``, identical on every rank, and cut into ``ceil(N / batch_size)``
*global* batches of ``batch_size`` items. A last global batch too small to give every rank
``min_per_rank`` items is merged into the one before it, so no rank ever gets an empty or
single-item batch. Each global batch is then split into ``world_size`` contiguous parts whose sizes
differ by at most one; rank ``r`` trains on part ``r``.

Consequences, all intended:

* every rank runs the same number of steps per epoch (the number of global batches), so DDP's
  collective calls always pair up and no rank hangs;
* no item is dropped or duplicated: the shards are disjoint and their union is the epoch;
* ``batch_size`` is the global batch (the paper's 64), whatever the number of ranks; with uneven
  parts DDP averages the ranks' mean gradients with equal weight, so an item in a part that is one
  smaller weighs marginally more. That is the usual DDP behaviour and is accepted here.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


def global_batches(num_items: int, batch_size: int, world_size: int, seed: int, epoch: int,
                   shuffle: bool = True, min_per_rank: int = 2) -> list[np.ndarray]:
    """Return the epoch's global batches (index arrays), identical on every rank."""
    if batch_size < world_size * min_per_rank:
        raise ValueError(
            f"batch_size {batch_size} is too small for {world_size} rank(s): each rank needs at least "
            f"{min_per_rank} items per step"
        )
    if num_items < world_size * min_per_rank:
        raise ValueError(
            f"{num_items} training items cannot feed {world_size} rank(s) with {min_per_rank} items each"
        )
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(num_items)
    else:
        order = np.arange(num_items)
    batches = [order[i:i + batch_size] for i in range(0, num_items, batch_size)]
    if len(batches) > 1 and len(batches[-1]) < world_size * min_per_rank:
        tail = batches.pop()
        batches[-1] = np.concatenate([batches[-1], tail])
    return batches


class ShardedBatchSampler(Sampler[list[int]]):
    """Yield this rank's part of every global batch of the epoch set by :meth:`set_epoch`."""

    def __init__(self, num_items: int, batch_size: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True, min_per_rank: int = 2) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.num_items = num_items
        self.batch_size = batch_size
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.min_per_rank = min_per_rank
        self.epoch = 0
        global_batches(num_items, batch_size, world_size, seed, 0, shuffle, min_per_rank)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose permutation the next iteration yields."""
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch."""
        parts = []
        for batch in global_batches(self.num_items, self.batch_size, self.world_size, self.seed,
                                    self.epoch, self.shuffle, self.min_per_rank):
            parts.append(np.array_split(batch, self.world_size)[self.rank].tolist())
        return parts

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        steps = -(-self.num_items // self.batch_size)
        last = self.num_items - (steps - 1) * self.batch_size
        if steps > 1 and last < self.world_size * self.min_per_rank:
            steps -= 1
        return steps
