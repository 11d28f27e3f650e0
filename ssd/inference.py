"""Deterministic, batched scoring of whole utterances with a trained model.

Each utterance becomes its evaluation windows (:mod:`ssd.data.windows`); windows of consecutive
utterances are packed into batches of ``batch_size`` windows, scored in eval mode without gradients,
and each utterance gets the mean of its windows' scores (higher = more bona fide). Eval mode makes
every window's score independent of the other windows of its batch up to rounding: CPU convolution
kernels for 1-3 samples round differently from those for larger batches (1e-5 on the paper model), so
a batch of fewer than :data:`MIN_BATCH` windows is padded with zero windows whose scores are dropped.
What remains is a window's position inside its batch (about 1e-7 relative on this CPU): score files
of the same set scored in other groupings (sharded stage 4, ``ssd-detect``) agree to that, not bit for
bit.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ssd.data.dataset import FeatureTable
from ssd.data.windows import eval_windows
from ssd.utils.checkpoint import load_checkpoint, load_model_state
from ssd.utils.progress import Progress

log = logging.getLogger(__name__)

MIN_BATCH = 8


class _WindowedUtterances(Dataset):
    """Items ``(position, windows (W, dims, length))`` for the selected utterances of a table."""

    def __init__(self, table: FeatureTable, indices: Sequence[int], length: int, hop: int,
                 policy: str) -> None:
        self.table = table
        self.indices = list(indices)
        self.length = length
        self.hop = hop
        self.policy = policy

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[int, np.ndarray]:
        return position, eval_windows(self.table.feats(self.indices[position]), self.length, self.hop,
                                      self.policy)


@torch.inference_mode()
def score_table(model: nn.Module, table: FeatureTable, length: int, hop: int, batch_size: int,
                device: torch.device, indices: Sequence[int] | None = None, num_workers: int = 0,
                progress: bool = True, desc: str = "scoring", policy: str = "windowed") -> np.ndarray:
    """Scores (float64, one per utterance) of ``indices`` (default: all) of ``table``.

    ``model`` must offer ``score(feats (B, dims, length)) -> (B,)``; it is switched to eval mode for
    the call and back to its previous mode afterwards. ``policy`` names the evaluation windows
    (:data:`ssd.data.windows.EVAL_POLICIES`).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    indices = list(range(len(table))) if indices is None else list(indices)
    sums = np.zeros(len(indices))
    counts = np.zeros(len(indices), dtype=np.int64)
    was_training = model.training
    model.eval()
    loader = DataLoader(_WindowedUtterances(table, indices, length, hop, policy), batch_size=None,
                        num_workers=num_workers, shuffle=False)
    meter = Progress(len(indices), desc, log, enabled=progress)
    pending: list[tuple[np.ndarray, int]] = []  # (windows, position) not yet scored, in order
    first = 0  # windows of pending[0] already scored
    held = 0

    def score_batch(n: int) -> None:
        """Score the next ``n`` pending windows, taking them chunk by chunk (linear in the windows)."""
        nonlocal first, held
        parts, owners = [], []
        while n > 0:
            windows, position = pending[0]
            take = min(n, len(windows) - first)
            parts.append(windows[first:first + take])
            owners.append(np.full(take, position, dtype=np.int64))
            first += take
            n -= take
            if first == len(windows):
                pending.pop(0)
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
        np.add.at(counts, owner, 1)
        held -= len(batch)

    try:
        for position, windows in loader:
            pending.append((windows, position))
            held += len(windows)
            while held >= batch_size:
                score_batch(batch_size)
            meter.update()
        if held:
            score_batch(held)
    finally:
        model.train(was_training)
    return sums / counts


def load_model(checkpoint: str | os.PathLike, device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """Build the model a checkpoint was trained with, load its weights, and return it in eval mode
    with the checkpoint's config (which fixes the evaluation window and hop)."""
    from ssd.tasks.multitask import MultiTaskModel

    state = load_checkpoint(checkpoint)
    cfg = state["config"]
    model = MultiTaskModel(cfg, len(state["speakers"]))
    load_model_state(model, state["model"], str(checkpoint))
    return model.to(device).eval(), cfg
