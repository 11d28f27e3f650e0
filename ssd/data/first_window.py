"""The "first window" evaluation policy of the authors' AASIST: score one fixed-length view per file.

A file longer than ``length`` samples is cut to its first ``length`` samples; a shorter one is tiled
end to end (repeated from its first sample) and cut to ``length``. One forward pass scores the file.
This is how the released AASIST weights were evaluated (64,600 samples, 4.04 s at 16 kHz), so an
imported AASIST must be scored this way to reproduce its published figures; models trained by ssd use
the windowed policy of :mod:`ssd.data.windows` instead.
"""

from __future__ import annotations

import numpy as np

from ssd.data.windows import repeat_pad

AASIST_SAMPLES = 64600


def first_window(samples: np.ndarray, length: int = AASIST_SAMPLES) -> np.ndarray:
    """A 1-D waveform -> its (length,) float32 first window, tiled when the file is shorter."""
    samples = np.asarray(samples)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"first-window policy expects a non-empty 1-D waveform, got shape {samples.shape}")
    if length < 1:
        raise ValueError(f"first-window length must be positive, got {length}")
    return np.ascontiguousarray(repeat_pad(samples[:, None], length)[:, 0], dtype=np.float32)
