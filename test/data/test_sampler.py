"""ssd.data.sampler: every epoch split into disjoint, complete shards with equal step counts per rank."""

from __future__ import annotations

import itertools

import pytest

from ssd.data.sampler import ShardedBatchSampler, global_batches


def _epoch(num_items: int, batch_size: int, world: int, epoch: int, seed: int = 0) -> list[list[list[int]]]:
    shards = []
    for rank in range(world):
        sampler = ShardedBatchSampler(num_items, batch_size, rank, world, seed=seed)
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
        assert len(shards[-1]) == len(sampler)
    return shards


@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("num_items, batch_size", [(6, 6), (7, 6), (40, 8), (41, 8), (43, 8), (100, 64),
                                                   (13, 12), (97, 10), (65, 64)])
def test_shards_are_disjoint_complete_and_in_step(world: int, num_items: int, batch_size: int) -> None:
    for epoch in (0, 1, 5):
        shards = _epoch(num_items, batch_size, world, epoch)
        steps = {len(s) for s in shards}
        assert len(steps) == 1, "every rank must run the same number of steps"
        seen = [i for shard in shards for batch in shard for i in batch]
        assert sorted(seen) == list(range(num_items)), "union must be exactly the epoch, without repeats"
        for step in range(steps.pop()):
            sizes = [len(shard[step]) for shard in shards]
            assert min(sizes) >= 2 and max(sizes) - min(sizes) <= 1
            assert sum(sizes) <= batch_size + 2 * world  # a merged tail adds fewer than 2 per rank


def test_epochs_are_reproducible_and_differ() -> None:
    assert _epoch(50, 8, 2, epoch=3) == _epoch(50, 8, 2, epoch=3)
    assert _epoch(50, 8, 2, epoch=3) != _epoch(50, 8, 2, epoch=4)
    assert _epoch(50, 8, 2, epoch=3, seed=1) != _epoch(50, 8, 2, epoch=3, seed=0)


def test_small_tail_is_merged_not_dropped() -> None:
    batches = global_batches(17, 8, world_size=1, seed=0, epoch=0)
    assert [len(b) for b in batches] == [8, 9]
    batches = global_batches(18, 8, world_size=1, seed=0, epoch=0)
    assert [len(b) for b in batches] == [8, 8, 2]
    batches = global_batches(21, 8, world_size=3, seed=0, epoch=0)
    assert [len(b) for b in batches] == [8, 13]


def test_unshuffled_order() -> None:
    batches = global_batches(10, 4, world_size=2, seed=0, epoch=0, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7, 8, 9]]


@pytest.mark.parametrize("num_items, batch_size, world, message", [
    (10, 3, 2, "batch_size 3 is too small for 2 rank"),
    (3, 8, 2, "3 training items cannot feed 2 rank"),
])
def test_too_small_is_an_error(num_items: int, batch_size: int, world: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ShardedBatchSampler(num_items, batch_size, 0, world)


def test_rank_outside_world() -> None:
    with pytest.raises(ValueError, match="rank 2 is outside world size 2"):
        ShardedBatchSampler(10, 4, 2, 2)


def test_every_item_appears_once_per_epoch_across_many_sizes() -> None:
    for num_items, batch_size, world in itertools.product(range(6, 30), (4, 6, 7), (1, 2, 3)):
        if batch_size < 2 * world:
            continue
        seen = sorted(i for shard in _epoch(num_items, batch_size, world, 2) for b in shard for i in b)
        assert seen == list(range(num_items)), (num_items, batch_size, world)
