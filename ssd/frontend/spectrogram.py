"""Log power spectrograms: the narrowband one on the LFCC's 20 ms frames, and a 4 ms one that resolves
single pitch pulses in time.

- :func:`log_power_spectrogram`: every |FFT_512|^2 bin of the LFCC's frames (pre-emphasis 0.97, 20 ms
  symmetric Hamming every 10 ms, :func:`ssd.frontend.lfcc.power_blocks`), log10 with the LFCC's floor:
  (frames, 257), the input of the LCNN on "LPS" that was the best single system of ASVspoof 2019 LA
  (Lavrentyeva et al., Interspeech 2019). The LFCC keeps the spectral envelope alone; what many
  vocoders get wrong lies between the harmonics that this spectrogram still resolves.
- :func:`short_time_spectrogram`: 4 ms symmetric Hann windows every 2 ms (half overlap, so every sample
  is weighted alike), |FFT_64|^2, log10: (frames, 33). A window shorter than a pitch period shows each
  glottal pulse on its own; a vocoder that rebuilds the phase (Griffin-Lim) or makes its own excitation
  smears or reshapes them, which no 20 ms frame can see (README "What holds dev at 14 %").
"""

from __future__ import annotations

import numpy as np

from ssd.frontend.lfcc import (
    LOG_FLOOR,
    NFFT,
    PREEMPHASIS,
    as_mono_float64,
    count_frames,
    num_frames,
    power_blocks,
)

NUM_BINS = NFFT // 2 + 1
SHORT_WINDOW_MS, SHORT_HOP_MS, SHORT_NFFT = 4, 2, 64
SHORT_BINS = SHORT_NFFT // 2 + 1
SHORT_BLOCK = 4096  # frames per FFT block: bounded memory on long recordings


def log_power_spectrogram(waveform: np.ndarray, fs: int) -> np.ndarray:
    """(frames, 257) float64 log10(|FFT_512|^2 + eps) of a mono waveform in [-1, 1]; frames as the LFCC's."""
    x = as_mono_float64(waveform)
    out = np.empty((num_frames(x.size, fs), NUM_BINS))
    for first, power, _ in power_blocks(x, fs):
        block = out[first : first + power.shape[0]]
        np.add(power, LOG_FLOOR, out=block)
        np.log10(block, out=block)
    return out


def short_frame_geometry(fs: int) -> tuple[int, int]:
    """Window and hop of the 4 ms spectrogram in samples (64 and 32 at 16 kHz)."""
    if fs <= 0 or fs % 1000:
        raise ValueError(f"the 4 ms spectrogram needs a sampling rate that is a multiple of 1 kHz, got {fs}")
    win = fs * SHORT_WINDOW_MS // 1000
    if win > SHORT_NFFT:
        raise ValueError(f"the 4 ms spectrogram's {SHORT_NFFT}-point FFT takes rates up to 16 kHz, got {fs}")
    return win, fs * SHORT_HOP_MS // 1000


def short_time_spectrogram(waveform: np.ndarray, fs: int, dtype: type = np.float64) -> np.ndarray:
    """(frames, 33) log10(|FFT_64|^2 + eps) of 4 ms pre-emphasised Hann frames every 2 ms, computed in
    float64 block by block and stored as ``dtype`` (float32 for a dump: 33 values every 2 ms, so an
    hour of audio is 0.24 GB as float32 and twice that as float64)."""
    x = as_mono_float64(waveform)
    win, hop = short_frame_geometry(fs)
    total = count_frames(x.size, win, hop)
    emphasised = np.empty((total - 1) * hop + win)
    emphasised[0] = x[0]
    np.subtract(x[1:], PREEMPHASIS * x[:-1], out=emphasised[1 : x.size])
    emphasised[x.size :] = 0.0
    frames = np.lib.stride_tricks.sliding_window_view(emphasised, win)[::hop]
    window = np.hanning(win)
    out = np.empty((total, SHORT_BINS), dtype=dtype)
    for first in range(0, total, SHORT_BLOCK):
        spectrum = np.fft.rfft(frames[first : first + SHORT_BLOCK] * window, SHORT_NFFT, axis=1)
        out[first : first + spectrum.shape[0]] = np.log10(spectrum.real**2 + spectrum.imag**2 + LOG_FLOOR)
    return out
