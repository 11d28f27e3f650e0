"""A tiny multi-task configuration and batch for fast step tests."""

import copy

import pytest
import torch
from task_helpers import FRAMES, MINI, NUM_SPEAKERS


@pytest.fixture
def mini_cfg():
    """Returns a factory: mini_cfg(loss="softmax", recon=0, ...) -> a fresh config dict."""

    def make(loss: str = "ocsoftmax", efficient: bool = True, **weights: float) -> dict:
        cfg = copy.deepcopy(MINI)
        cfg["loss"]["name"] = loss
        cfg["train"]["efficient_step"] = efficient
        for task, weight in weights.items():
            cfg["tasks"][task]["weight"] = weight
        return cfg

    return make


@pytest.fixture
def mini_batch():
    """Returns a factory: mini_batch(labels) -> (feats (B, 60, FRAMES), labels, speakers), seeded."""

    def make(labels: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(seed)
        n = len(labels)
        feats = torch.randn(n, 60, FRAMES, generator=g)
        speakers = torch.randint(0, NUM_SPEAKERS, (n,), generator=g)
        return feats, torch.tensor(labels), speakers

    return make
