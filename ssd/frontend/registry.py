"""Name -> front end: what turns a waveform into the (time, dim) matrix a backbone reads.

A front end says how its time axis is counted (LFCC frames or samples), how wide each step is, whether
stage 2 dumps it (``dump/<name>/``), and what a packed model must record about it. Every consumer
(stage 2, the training data, windowed inference, packing, ``Detector``, ONNX export) asks the front end
of the model instead of assuming LFCC. A new front end is one class here and one line in
:data:`FRONTENDS`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ssd.frontend import lfcc, spectrogram


class LfccFrontEnd:
    """The official ASVspoof 2019 LFCC (:mod:`ssd.frontend.lfcc`), stored float32 as stage 2 dumps it."""

    name: ClassVar[str] = "lfcc"
    table: ClassVar[str] = "lfcc"  # what stage 2 dumps (dump/<table>/) and training reads
    learned: ClassVar[bool] = False
    unit: ClassVar[str] = "frames"
    dim: ClassVar[int] = lfcc.FEATURE_DIM
    dumps: ClassVar[bool] = True
    spectral: ClassVar[bool] = False  # whether the dims are frequency bins (data.freq_mask)

    def features(self, waveform: np.ndarray, fs: int) -> np.ndarray:
        """(frames, 60) float32 LFCC of a mono float waveform."""
        return lfcc.lfcc(waveform, fs).astype(np.float32)

    def length(self, num_samples: int, fs: int) -> int:
        """Frames of a ``num_samples``-long signal."""
        return lfcc.count_frames(num_samples, *self.geometry(fs))

    def samples_for(self, frames: int, fs: int) -> int:
        """Samples of ``frames`` whole windows, none zero-padded: a training crop cut from the audio."""
        win, hop = self.geometry(fs)
        return frames * hop + win - hop

    def geometry(self, fs: int) -> tuple[int, int]:
        """Window and hop in samples."""
        return lfcc.frame_geometry(fs)

    def settings(self, fs: int) -> dict[str, Any]:
        """What a packed model records so that its features can be recomputed anywhere."""
        win, hop = self.geometry(fs)
        return {
            "name": "lfcc-asvspoof2019", "fs": fs, "preemphasis": lfcc.PREEMPHASIS, "window_samples": win,
            "hop_samples": hop, "window": "hamming-symmetric", "nfft": lfcc.NFFT,
            "num_filters": lfcc.NUM_FILTERS, "num_ceps": lfcc.NUM_CEPS,
            "deltas": "static+delta+delta-delta, x[t+1]-x[t-1], edges repeated",
            "feature_dim": lfcc.FEATURE_DIM, "dtype": "float32",
        }


class SpectrogramFrontEnd(LfccFrontEnd):
    """The log power spectrogram on the LFCC's frames (:mod:`ssd.frontend.spectrogram`): 257 bins."""

    name: ClassVar[str] = "spectrogram"
    table: ClassVar[str] = "spectrogram"
    dim: ClassVar[int] = spectrogram.NUM_BINS
    spectral: ClassVar[bool] = True
    window: ClassVar[str] = "hamming-symmetric"
    nfft: ClassVar[int] = lfcc.NFFT

    def features(self, waveform: np.ndarray, fs: int) -> np.ndarray:
        """(frames, 257) float32 log10 power spectrogram of a mono float waveform."""
        return spectrogram.log_power_spectrogram(waveform, fs).astype(np.float32)

    def settings(self, fs: int) -> dict[str, Any]:
        win, hop = self.geometry(fs)
        return {
            "name": "log-power-spectrogram", "fs": fs, "preemphasis": lfcc.PREEMPHASIS,
            "window_samples": win, "hop_samples": hop, "window": self.window, "nfft": self.nfft,
            "log": "log10(|FFT|^2 + eps)", "feature_dim": self.dim, "dtype": "float32",
        }


class ShortSpectrogramFrontEnd(SpectrogramFrontEnd):
    """The 4 ms log power spectrogram (:mod:`ssd.frontend.spectrogram`): 33 bins every 2 ms."""

    name: ClassVar[str] = "spectrogram_4ms"
    table: ClassVar[str] = "spectrogram_4ms"
    dim: ClassVar[int] = spectrogram.SHORT_BINS
    window: ClassVar[str] = "hann-symmetric"
    nfft: ClassVar[int] = spectrogram.SHORT_NFFT

    def features(self, waveform: np.ndarray, fs: int) -> np.ndarray:
        """(frames, 33) float32 log10 power spectrogram of 4 ms frames every 2 ms."""
        return spectrogram.short_time_spectrogram(waveform, fs, np.float32)

    def geometry(self, fs: int) -> tuple[int, int]:
        return spectrogram.short_frame_geometry(fs)


class RawFrontEnd:
    """The waveform itself, one sample per step: nothing to dump, the audio is read at training time."""

    name: ClassVar[str] = "raw"
    table: ClassVar[str] = "raw"
    learned: ClassVar[bool] = False
    unit: ClassVar[str] = "samples"
    dim: ClassVar[int] = 1
    dumps: ClassVar[bool] = False
    spectral: ClassVar[bool] = False

    def features(self, waveform: np.ndarray, fs: int) -> np.ndarray:
        """(samples, 1) float32 view of a mono float waveform (full scale +-1)."""
        return np.asarray(waveform, dtype=np.float32).reshape(-1, 1)

    def length(self, num_samples: int, fs: int) -> int:
        return int(num_samples)

    def settings(self, fs: int) -> dict[str, Any]:
        return {"name": "raw", "fs": fs, "scale": "full scale +-1, as soundfile reads PCM",
                "dtype": "float32", "feature_dim": 1}


class SslFrontEnd(RawFrontEnd):
    """A self-supervised encoder (wav2vec 2.0 / XLS-R, WavLM) on the waveform: the data are the audio, and
    the encoder (:mod:`ssd.frontend.ssl`, configured by ``model.ssl``) is part of the model's weights."""

    name: ClassVar[str] = "ssl"
    learned: ClassVar[bool] = True

    def settings(self, fs: int) -> dict[str, Any]:
        return {**super().settings(fs), "name": "ssl", "encoder": "model.ssl, weights in the model"}


FRONTENDS: dict[str, type] = {
    "lfcc": LfccFrontEnd,
    "spectrogram": SpectrogramFrontEnd,
    "spectrogram_4ms": ShortSpectrogramFrontEnd,
    "raw": RawFrontEnd,
    "ssl": SslFrontEnd,
}


def dumped_frontends() -> list[str]:
    """The front ends whose features stage 2 dumps (``ssd-compute-lfcc --frontend``)."""
    return sorted(name for name, cls in FRONTENDS.items() if cls.dumps)


def build_frontend(name: str) -> LfccFrontEnd | RawFrontEnd:
    """The front end registered as ``name``; an unknown name is an error listing the known ones."""
    if name not in FRONTENDS:
        raise ValueError(f"unknown front end {name!r}; registered: {', '.join(sorted(FRONTENDS))}")
    return FRONTENDS[name]()

