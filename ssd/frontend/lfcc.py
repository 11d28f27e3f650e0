"""The ASVspoof 2019 baseline LFCC (Sahidullah et al., Interspeech 2015), exactly, in float64.

It reproduces the organisers' MATLAB ``extract_lfcc(x, fs, 20, 512, 20)`` followed by
``[stat delta double_delta]``: pre-emphasis 0.97, 20 ms symmetric-Hamming frames every 10 ms (the
last one zero-padded), |FFT_512|^2, 20 linear triangular filters, log10(. + eps), orthonormal DCT-II,
and undivided +-1 frame deltas. Off-the-shelf "LFCC"s differ in several of these choices, so the
numbers a countermeasure was trained on are only reproduced by this exact recipe. Against the
MATLAB code run under Octave it agrees to about 1e-13 (test/frontend/data/README.md).

One deliberate difference: the MATLAB code returns no frame at all for half a window or less (160
samples at 16 kHz); this one returns one zero-padded frame so that every utterance has features.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator

import numpy as np

PREEMPHASIS = 0.97
WINDOW_MS = 20
NFFT = 512
NUM_FILTERS = 20
NUM_CEPS = 20
FEATURE_DIM = 3 * NUM_CEPS
# MATLAB's ``eps``: the floor that keeps log10 finite on digital silence.
LOG_FLOOR = float(np.finfo(np.float64).eps)
BLOCK_FRAMES = 128


def frame_geometry(fs: int) -> tuple[int, int]:
    """Window and hop length in samples; the baseline's hop is half its 20 ms window."""
    if fs <= 0 or fs % 100:
        raise ValueError(f"LFCC needs a sampling rate that is a positive multiple of 100 Hz, got {fs}")
    win = fs * WINDOW_MS // 1000
    return win, win // 2


def count_frames(num_samples: int, win: int, hop: int) -> int:
    """Frames of ``win`` samples every ``hop``, the last one zero-padded, never fewer than one."""
    return max(1, -(-(num_samples - (win - hop)) // hop))


def num_frames(num_samples: int, fs: int) -> int:
    """Frames MATLAB's ``buffer(x, win, win/2, 'nodelay')`` makes, but never fewer than one."""
    return count_frames(num_samples, *frame_geometry(fs))


@functools.lru_cache(maxsize=8)
def _matrices(fs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric Hamming window, (bins, filters) filterbank and (filters, ceps) DCT, built once per rate."""
    win, _ = frame_geometry(fs)
    n = np.arange(win)
    window = 0.54 - 0.46 * np.cos(2.0 * np.pi * n / (win - 1))

    bin_freqs = (fs / 2) * np.linspace(0.0, 1.0, NFFT // 2 + 1)
    edges = np.linspace(bin_freqs[0], bin_freqs[-1], NUM_FILTERS + 2)
    filterbank = np.zeros((NFFT // 2 + 1, NUM_FILTERS))
    for i in range(NUM_FILTERS):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        rising = (bin_freqs > lo) & (bin_freqs < mid)
        falling = (bin_freqs > mid) & (bin_freqs < hi)
        filterbank[rising, i] = (bin_freqs[rising] - lo) / (mid - lo)
        filterbank[falling, i] = (hi - bin_freqs[falling]) / (hi - mid)
        filterbank[bin_freqs == mid, i] = 1.0

    k = np.arange(NUM_FILTERS)[:, None]
    scale = np.full((NUM_FILTERS, 1), np.sqrt(2.0 / NUM_FILTERS))
    scale[0] = np.sqrt(1.0 / NUM_FILTERS)
    dct = scale * np.cos(np.pi * (2 * np.arange(NUM_FILTERS)[None, :] + 1) * k / (2 * NUM_FILTERS))
    return window, filterbank, np.ascontiguousarray(dct[:NUM_CEPS].T)


def _delta_into(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[t] = src[t+1] - src[t-1], edges repeated, not divided by 2 (the baseline's ``deltas(., 3)``)."""
    if src.shape[0] == 1:
        dst[:] = 0.0
        return
    np.subtract(src[2:], src[:-2], out=dst[1:-1])
    np.subtract(src[1], src[0], out=dst[0])
    np.subtract(src[-1], src[-2], out=dst[-1])


class _Workspace:
    """The block buffers of one sampling rate and block size, reused by every call in one thread.

    Allocating them per utterance costs more in page faults than the FFT itself (bench/); a thread
    owns its own copy so that concurrent callers never share a buffer.
    """

    def __init__(self, fs: int, block: int) -> None:
        self.key = (fs, block)
        win, hop = frame_geometry(fs)
        self.window, self.filterbank, self.dct = _matrices(fs)
        self.emphasised = np.empty((block - 1) * hop + win)
        self.frames = np.lib.stride_tricks.sliding_window_view(self.emphasised, win)[::hop]
        # fft(frame, 512) in MATLAB zero-pads a frame, or truncates one longer than 512 (fs > 25.6 kHz);
        # only the first ``used`` columns are ever written, the padding stays zero.
        self.used = min(win, NFFT)
        self.padded = np.zeros((block, NFFT))
        self.spectrum = np.empty((block, NFFT // 2 + 1), dtype=np.complex128)
        self.power = np.empty((block, NFFT // 2 + 1))
        self.scratch = np.empty((block, NFFT // 2 + 1))
        self.energies = np.empty((block, NUM_FILTERS))
        self.ceps = np.empty((block, NUM_CEPS))


_local = threading.local()


def _workspace(fs: int, block: int) -> _Workspace:
    """This thread's workspace for (fs, block); only the latest one is kept (a recipe uses one rate)."""
    ws = getattr(_local, "workspace", None)
    if ws is None or ws.key != (fs, block):
        ws = _local.workspace = _Workspace(fs, block)
    return ws


def as_mono_float64(waveform: np.ndarray) -> np.ndarray:
    """A 1-D float64 view of ``waveform``; an empty one becomes one sample of silence."""
    x = np.asarray(waveform, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D mono waveform, got shape {x.shape}")
    if x.size == 0:
        x = np.zeros(1)  # an empty signal is framed like digital silence: one padding-only frame
    return x


def power_blocks(waveform: np.ndarray, fs: int) -> Iterator[tuple[int, np.ndarray, _Workspace]]:
    """(first frame, |FFT_512|^2 of up to ``BLOCK_FRAMES`` frames, workspace) of the baseline's framing:
    pre-emphasis, 20 ms symmetric-Hamming frames every 10 ms, the last one zero-padded.

    The power block is a view of this thread's workspace, overwritten by the next block; what the LFCC
    and the log power spectrogram (:mod:`ssd.frontend.spectrogram`) compute from it is theirs.
    """
    x = as_mono_float64(waveform)
    win, hop = frame_geometry(fs)
    total = num_frames(x.size, fs)
    ws = _workspace(fs, BLOCK_FRAMES)
    emphasised, used = ws.emphasised, ws.used
    padded, spectrum, power, scratch = ws.padded, ws.spectrum, ws.power, ws.scratch
    window = ws.window[:used]
    for first in range(0, total, BLOCK_FRAMES):
        n = min(BLOCK_FRAMES, total - first)
        # Pre-emphasis of this block's samples (x[-1] taken as 0); beyond the signal, zero padding.
        start = first * hop
        stop = min(x.size, start + (n - 1) * hop + win)
        length = stop - start
        if start == 0:
            emphasised[0] = x[0]
            np.multiply(x[: length - 1], -PREEMPHASIS, out=emphasised[1:length])
            emphasised[1:length] += x[1:length]
        else:
            np.multiply(x[start - 1 : stop - 1], -PREEMPHASIS, out=emphasised[:length])
            emphasised[:length] += x[start:stop]
        emphasised[length : (n - 1) * hop + win] = 0.0

        np.multiply(ws.frames[:n, :used], window, out=padded[:n, :used])
        np.fft.rfft(padded[:n], axis=1, out=spectrum[:n])
        np.square(spectrum.real[:n], out=power[:n])
        np.square(spectrum.imag[:n], out=scratch[:n])
        np.add(power[:n], scratch[:n], out=power[:n])
        yield first, power[:n], ws


def lfcc(waveform: np.ndarray, fs: int) -> np.ndarray:
    """Static + delta + delta-delta LFCC of a mono waveform in [-1, 1]: (frames, 60) float64.

    Frames are processed in blocks of ``BLOCK_FRAMES`` in buffers kept between calls. The block size
    is part of the result's last bits: BLAS sums a matrix product in an order that depends on its
    shape, so changing it changes float64 values by about 1e-16 (never, in tests, their float32 value).
    """
    x = as_mono_float64(waveform)
    out = np.empty((num_frames(x.size, fs), FEATURE_DIM))
    for first, power, ws in power_blocks(x, fs):
        n = power.shape[0]
        energies, ceps = ws.energies[:n], ws.ceps[:n]
        np.matmul(power, ws.filterbank, out=energies)
        np.add(energies, LOG_FLOOR, out=energies)
        np.log10(energies, out=energies)
        np.matmul(energies, ws.dct, out=ceps)
        out[first : first + n, :NUM_CEPS] = ceps

    _delta_into(out[:, :NUM_CEPS], out[:, NUM_CEPS : 2 * NUM_CEPS])
    _delta_into(out[:, NUM_CEPS : 2 * NUM_CEPS], out[:, 2 * NUM_CEPS :])
    return out
