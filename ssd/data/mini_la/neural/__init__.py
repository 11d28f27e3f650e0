"""The mini corpus's neural vocoders: small networks trained here on the corpus's own training speech.

No neural speech generator with offline weights could be used (the two found on the package registries
are reserved for held-out evaluation), so the project trains its own: three architectures, each a family
of attacks of its own (``weights/README.md`` says how they were trained and under which licence the
weights are). Each turns a bona fide prompt into its log-mel frames (and F0) and resynthesises it.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ssd.data.mini_la.neural.features import FS, HOP, f0_condition, log_mel
from ssd.data.mini_la.neural.istft import ISTFTVocoder
from ssd.data.mini_la.neural.nsf import NSF
from ssd.data.mini_la.neural.wavegen import WaveGenerator

WEIGHTS_DIR = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class Family:
    """One vocoder architecture: how to build it, whether it needs F0, and its training settings."""

    name: str
    build: Callable[[], nn.Module]
    uses_f0: bool
    lr: float

    @property
    def weights(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.pt"

    @property
    def card(self) -> Path:
        return WEIGHTS_DIR / f"{self.name}.json"


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("nsf", NSF, uses_f0=True, lr=2e-3),
    Family("wavegen", WaveGenerator, uses_f0=False, lr=2e-3),
    Family("istft", ISTFTVocoder, uses_f0=False, lr=2e-3),
]}


def missing(name: str) -> str | None:
    """None when the family's weights are installed, else what is missing and how to make it."""
    family = FAMILIES[name]
    if not family.weights.is_file():
        return (f"{family.weights} is missing; train it with "
                f"python -m ssd.data.mini_la.neural.train --family {name}")
    return None


@functools.cache
def load(name: str) -> nn.Module:
    """The trained vocoder in eval mode (tensor-only weights file, loaded with weights_only)."""
    family = FAMILIES[name]
    model = family.build()
    model.load_state_dict(torch.load(family.weights, map_location="cpu", weights_only=True))
    return model.eval()


def training_card(name: str) -> dict:
    """The JSON record written beside the weights: data, steps, loss curve, versions."""
    return json.loads(FAMILIES[name].card.read_text())


@contextlib.contextmanager
def _one_thread():
    """One intra-op thread while synthesising: the samples then do not depend on the machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def conditioning(x: np.ndarray, uses_f0: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel frames (1, N_MELS, frames) and F0 (1, frames; zeros when unused) of a 16 kHz waveform."""
    mel = log_mel(torch.from_numpy(np.asarray(x, dtype=np.float32))[None])
    return mel, torch.from_numpy(f0_condition(x, uses_f0))[None]


def synthesize(name: str, x: np.ndarray, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Resynthesise a bona fide waveform through vocoder ``name``; same length, float64 in [-1, 1]."""
    if fs != FS:
        raise ValueError(f"the neural vocoders run at {FS} Hz, got {fs} Hz")
    family = FAMILIES[name]
    with _one_thread(), torch.no_grad():
        mel, f0 = conditioning(x, family.uses_f0)
        noise = torch.from_numpy(rng.standard_normal(mel.shape[2] * HOP).astype(np.float32))[None]
        wave = load(name)(mel, f0, noise)[0, : len(x)]
    return wave.double().numpy()
