"""Frequency masking of training feature crops (SpecAugment's frequency masks; FreqAugment, Chen et al.,
"Generalization of audio deepfake detection", Odyssey 2020).

Why: with a handful of attacks in training, a detector can rely on the few bands where the seen vocoders
differ from bona fide speech. Hiding a random band of each crop makes it look at the whole spectrum,
which is what carries over to attacks it has not seen. Each mask replaces ``width`` adjacent bins,
``width`` uniform in [0, max_bins], by the crop's mean (zero is no neutral value for log powers).
Spectral front ends only: LFCC's dimensions are cepstra and their deltas, not frequencies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Augment = Callable[[np.ndarray, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class FreqMaskSettings:
    """``masks`` bands per crop, each at most ``max_bins`` bins wide."""

    max_bins: int
    masks: int


def _count(setting: dict[str, Any], key: str) -> int:
    value = setting[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"data.freq_mask.{key} must be a non-negative integer, got {value!r}")
    return value


def settings_of(setting: dict[str, Any]) -> FreqMaskSettings | None:
    """``data.freq_mask`` -> its settings, or None when ``max_bins`` or ``masks`` is 0 (off)."""
    settings = FreqMaskSettings(_count(setting, "max_bins"), _count(setting, "masks"))
    return settings if settings.max_bins and settings.masks else None


def freq_masker(settings: FreqMaskSettings, dims: int) -> Augment:
    """``mask(crop, rng)`` for (frames, ``dims``) feature crops; the crop itself is left unchanged."""
    if settings.max_bins >= dims:
        raise ValueError(f"data.freq_mask.max_bins must be below the front end's {dims} bins, "
                         f"got {settings.max_bins}")

    def mask(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.array(crop, dtype=np.float32)
        fill = out.mean()
        for _ in range(settings.masks):
            width = int(rng.integers(0, settings.max_bins + 1))
            start = int(rng.integers(0, dims - width + 1))
            out[:, start:start + width] = fill
        return out

    return mask
