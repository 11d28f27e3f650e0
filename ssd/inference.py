"""Deterministic, batched scoring of whole utterances with a trained model, in one job or in shards.

Each utterance becomes its evaluation windows (:mod:`ssd.data.windows`); the windows of the utterances
in order are cut into batches of ``batch_size`` windows (a batch may hold the end of one utterance and
the start of the next), scored in eval mode without gradients, and each utterance gets the mean of its
windows' scores (higher = more bona fide). A batch of fewer than :data:`MIN_BATCH` windows (only the
last one can be) is padded with zero windows whose scores are dropped: CPU kernels for 1-3 samples
round differently.

A window's score still depends, by a rounding (about 1e-7 relative), on its batch's size and its
position in it. Sharded scoring therefore keeps the batches of the whole set: shard ``k`` of ``n``
takes a contiguous run of the set's batches, owns the utterances whose first window lies in them, and
also scores the batch its last utterance ends in (the next shard scores that batch too, keeping the
windows it owns). Every window is scored in the same batch at the same position whatever the number
of shards, so the shards' score lines, merged, are byte-identical to one job's. Other groupings
(``ssd-detect``, a subset of utterances) agree to the rounding only.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssd.data.dataset import FeatureTable
from ssd.data.windows import WindowView, window_count, window_view
from ssd.utils.checkpoint import load_checkpoint, load_model_state
from ssd.utils.progress import Progress

log = logging.getLogger(__name__)

MIN_BATCH = 8


class _WindowedUtterances(Dataset):
    """Items ``(position, WindowView)`` for the selected utterances of a table (windows not yet copied)."""

    def __init__(self, table: FeatureTable, indices: Sequence[int], length: int, hop: int,
                 policy: str) -> None:
        self.table = table
        self.indices = list(indices)
        self.length = length
        self.hop = hop
        self.policy = policy

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, WindowView]:
        return position, window_view(self.table.feats(self.indices[position]), self.length, self.hop,
                                     self.policy)


@dataclass(frozen=True)
class ShardPlan:
    """What one shard scores: the positions it owns, and the run of the set's windows it computes."""

    owned: list[int]  # positions (into the scored indices) whose scores this shard returns
    touched: list[int]  # positions whose windows it reads: owned, plus neighbours sharing a batch
    skip: int  # windows of touched[0] before the shard's first batch (another shard's)
    windows: int  # windows it scores, from its first batch on


def plan_shard(counts: Sequence[int], batch_size: int, shard: int = 0, num_shards: int = 1) -> ShardPlan:
    """The plan of shard ``shard`` (0-based) of ``num_shards`` over utterances of ``counts`` windows."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard + 1} of {num_shards}: need 1 <= shard <= the number of shards")
    ends = np.cumsum(np.asarray(counts, dtype=np.int64))
    starts = ends - np.asarray(counts, dtype=np.int64)
    total = int(ends[-1]) if len(ends) else 0
    batches = -(-total // batch_size)
    first, last = shard * batches // num_shards, (shard + 1) * batches // num_shards
    lo, hi = first * batch_size, last * batch_size
    owned = [int(i) for i in np.flatnonzero((starts >= lo) & (starts < hi))]
    if not owned:
        return ShardPlan([], [], 0, 0)
    end = min(-(-int(ends[owned[-1]]) // batch_size) * batch_size, total)
    touched = [int(i) for i in np.flatnonzero((ends > lo) & (starts < end))]
    return ShardPlan(owned, touched, lo - int(starts[touched[0]]), end - lo)


def table_plan(table: FeatureTable, indices: Sequence[int], length: int, hop: int, batch_size: int,
               policy: str = "windowed", shard: tuple[int, int] = (0, 1)) -> ShardPlan:
    """The :class:`ShardPlan` of shard ``shard`` = (k, n) over ``indices`` of ``table`` (its lengths)."""
    if shard == (0, 1):
        everything = list(range(len(indices)))
        return ShardPlan(everything, everything, 0, -1)
    counts = [window_count(int(table.num_frames[i]), length, hop, policy) for i in indices]
    return plan_shard(counts, batch_size, *shard)


@torch.inference_mode()
def score_table(model: nn.Module, table: FeatureTable, length: int, hop: int, batch_size: int,
                device: torch.device, indices: Sequence[int] | None = None, num_workers: int = 0,
                progress: bool = True, desc: str = "scoring", policy: str = "windowed",
                shard: tuple[int, int] = (0, 1)) -> np.ndarray:
    """Scores (float64, one per utterance) of ``indices`` (default: all) of ``table``.

    ``model`` must offer ``score(feats (B, dims, length)) -> (B,)``; it is switched to eval mode for
    the call and back to its previous mode afterwards. ``policy`` names the evaluation windows
    (:data:`ssd.data.windows.EVAL_POLICIES`). ``shard`` = (k, n), 0-based: only the utterances shard k
    of n owns get a score, the others NaN (see the module docstring); the table's ``num_frames`` plans it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    indices = list(range(len(table))) if indices is None else list(indices)
    plan = table_plan(table, indices, length, hop, batch_size, policy, shard)
    sums = np.zeros(len(indices))
    counts_seen = np.zeros(len(indices), dtype=np.int64)
    was_training = model.training
    model.eval()
    loader = DataLoader(_WindowedUtterances(table, [indices[p] for p in plan.touched], length, hop, policy),
                        batch_size=None, num_workers=num_workers, shuffle=False)
    meter = Progress(len(plan.touched), desc, log, enabled=progress)
    pending: collections.deque[tuple[WindowView, int]] = collections.deque()  # not yet scored, in order
    first = 0  # windows of pending[0] already scored
    held = 0
    left = plan.windows  # windows still to score (negative: all of them)

    def score_batch(n: int) -> None:
        """Score the next ``n`` pending windows, taking them chunk by chunk (linear in the windows)."""
        nonlocal first, held, left
        parts, owners = [], []
        left -= n
        while n > 0:
            windows, position = pending[0]
            take = min(n, len(windows) - first)
            parts.append(windows.take(first, first + take))
            owners.append(np.full(take, position, dtype=np.int64))
            first += take
            n -= take
            if first == len(windows):
                pending.popleft()
                first = 0
        batch = np.concatenate(parts)
        padded = batch
        if len(batch) < MIN_BATCH:
            filler = np.zeros((MIN_BATCH - len(batch), *batch.shape[1:]), batch.dtype)
            padded = np.concatenate([batch, filler])
        scores = model.score(torch.from_numpy(padded).to(device)).double().cpu().numpy()
        if scores.shape != (len(padded),):
            raise RuntimeError(f"model.score returned shape {scores.shape} for a batch of {len(padded)}")
        scores = scores[:len(batch)]
        owner = np.concatenate(owners)
        np.add.at(sums, owner, scores)
        np.add.at(counts_seen, owner, 1)
        held -= len(batch)

    try:
        for order, (_, windows) in enumerate(loader):
            position = plan.touched[order]
            if order == 0 and plan.skip:  # the end of an utterance whose first window is another shard's
                windows = windows.skip(plan.skip)
            pending.append((windows, position))
            held += len(windows)
            while held >= batch_size and left != 0:
                score_batch(batch_size)
            meter.update()
        if held and left != 0:
            score_batch(held if left < 0 else min(held, left))
    finally:
        model.train(was_training)
    scores = np.full(len(indices), np.nan)
    scores[plan.owned] = sums[plan.owned] / counts_seen[plan.owned]
    return scores


def load_model(checkpoint: str | os.PathLike, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model a checkpoint was trained with, load its weights, and return it in eval mode
    with the checkpoint's config (which fixes the evaluation window and hop)."""
    from ssd.tasks.multitask import MultiTaskModel

    state = load_checkpoint(checkpoint)
    cfg = state["config"]
    model = MultiTaskModel(cfg, len(state["speakers"]))
    load_model_state(model, state["model"], str(checkpoint))
    return model.to(device).eval(), cfg
