"""ssd.utils.seed: seeding and RNG capture that survive a weights_only checkpoint."""

from __future__ import annotations

import io
import random

import numpy as np
import torch

from ssd.utils.seed import get_rng_state, seed_everything, set_rng_state


def _draws() -> list[float]:
    return [random.random(), random.gauss(0, 1), float(np.random.randn()), float(np.random.rand()),
            float(torch.randn(()))]


def test_seed_everything_repeats_every_generator() -> None:
    seed_everything(11)
    first = _draws()
    seed_everything(11)
    assert _draws() == first
    seed_everything(12)
    assert _draws() != first


def test_state_round_trips_through_weights_only_load() -> None:
    seed_everything(5)
    _draws()  # leaves a cached gaussian in numpy and python generators
    buffer = io.BytesIO()
    torch.save(get_rng_state(), buffer)
    expected = _draws()
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True))
    assert _draws() == expected
