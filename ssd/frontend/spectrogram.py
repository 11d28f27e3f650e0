"""The log power spectrogram on the framing of the ASVspoof 2019 LFCC: the input of the LCNN on "LPS"
that won ASVspoof 2019 LA as a single system (Lavrentyeva et al., Interspeech 2019).

Every |FFT_512|^2 bin of the LFCC's frames (pre-emphasis 0.97, 20 ms symmetric Hamming every 10 ms,
:func:`ssd.frontend.lfcc.power_blocks`), log10 with the LFCC's floor: (frames, 257). Why it is here: the
LFCC keeps 20 cepstra of 20 filters 400 Hz wide, the spectral envelope alone, and what many vocoders get
wrong lies between the harmonics that this spectrogram still resolves (README "The mini profile").
"""

from __future__ import annotations

import numpy as np

from ssd.frontend.lfcc import LOG_FLOOR, NFFT, as_mono_float64, num_frames, power_blocks

NUM_BINS = NFFT // 2 + 1


def log_power_spectrogram(waveform: np.ndarray, fs: int) -> np.ndarray:
    """(frames, 257) float64 log10(|FFT_512|^2 + eps) of a mono waveform in [-1, 1]; frames as the LFCC's."""
    x = as_mono_float64(waveform)
    out = np.empty((num_frames(x.size, fs), NUM_BINS))
    for first, power, _ in power_blocks(x, fs):
        block = out[first : first + power.shape[0]]
        np.add(power, LOG_FLOOR, out=block)
        np.log10(block, out=block)
    return out
