"""The transmission channel every mini-corpus utterance goes through, bona fide and spoof alike.

A countermeasure must not be able to tell the classes apart by sampling rate, bandwidth, codec, level
or leading/trailing silence, so all audio gets the same treatment: resampling to 16 kHz, silence
trimming and re-padding, active-speech level normalisation, a faint noise floor, and a G.722
(64 kbit/s) encode/decode round trip. The per-utterance random draws (pad lengths, level, noise
floor) come from one distribution for both classes and are recorded in ``sources.tsv``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from G722 import G722
from scipy.signal import resample_poly

from ssd.utils.fileio import atomic_write

TARGET_FS = 16000
G722_BITRATE = 64000
FRAME_S = 0.01


@dataclass(frozen=True)
class ChannelConfig:
    """The channel's fixed policy; the ranges are where the per-utterance draws come from."""

    trim_db: float = 40.0  # frames this far below the loudest 10 ms frame count as silence
    margin_s: float = 0.03  # kept around the detected speech when trimming
    pad_s: tuple[float, float] = (0.10, 0.40)  # silence added at each end
    level_dbfs: tuple[float, float] = (-30.0, -20.0)  # RMS of the active frames
    noise_dbfs: tuple[float, float] = (-75.0, -60.0)  # RMS of the white noise floor
    peak: float = 0.95  # hard ceiling on |x| after levelling, so nothing clips


@dataclass(frozen=True)
class ChannelDraw:
    """The random part of one utterance's channel, drawn before the audio is seen."""

    lead_s: float
    tail_s: float
    level_dbfs: float
    noise_dbfs: float

    def describe(self) -> str:
        return ",".join(f"{k}={v:.3f}" for k, v in asdict(self).items())


def draw(rng: np.random.Generator, config: ChannelConfig = ChannelConfig()) -> ChannelDraw:
    """Draw one utterance's pads, level and noise floor."""
    return ChannelDraw(
        lead_s=float(rng.uniform(*config.pad_s)),
        tail_s=float(rng.uniform(*config.pad_s)),
        level_dbfs=float(rng.uniform(*config.level_dbfs)),
        noise_dbfs=float(rng.uniform(*config.noise_dbfs)),
    )


def resample(x: np.ndarray, fs: int, target_fs: int = TARGET_FS) -> np.ndarray:
    """Polyphase resampling to ``target_fs`` (a no-op when the rate already matches)."""
    if fs == target_fs:
        return np.asarray(x, dtype=np.float64)
    g = gcd(int(fs), int(target_fs))
    return resample_poly(np.asarray(x, dtype=np.float64), target_fs // g, fs // g)


def _frame_db(x: np.ndarray, fs: int) -> tuple[np.ndarray, int]:
    """Energy in dB of consecutive non-overlapping 10 ms frames, and the frame length."""
    hop = int(round(FRAME_S * fs))
    n = max(1, len(x) // hop)
    frames = np.zeros((n, hop))
    usable = min(len(x), n * hop)
    frames.reshape(-1)[:usable] = x[:usable]
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-20), hop


def active_frames(x: np.ndarray, fs: int, config: ChannelConfig = ChannelConfig()) -> np.ndarray:
    """Boolean mask of 10 ms frames within ``trim_db`` of the loudest one."""
    db, _ = _frame_db(x, fs)
    return db > db.max() - config.trim_db


def trim_silence(x: np.ndarray, fs: int, config: ChannelConfig = ChannelConfig()) -> np.ndarray:
    """Cut leading and trailing silence, keeping a short margin around the speech."""
    mask = active_frames(x, fs, config)
    _, hop = _frame_db(x, fs)
    idx = np.flatnonzero(mask)
    margin = int(round(config.margin_s * fs))
    start = max(0, idx[0] * hop - margin)
    stop = min(len(x), (idx[-1] + 1) * hop + margin)
    return x[start:stop]


def g722_round_trip(pcm: np.ndarray) -> np.ndarray:
    """Encode int16 samples with G.722 at 64 kbit/s and decode them again (fresh codec states)."""
    encoded = G722(TARGET_FS, G722_BITRATE).encode(np.ascontiguousarray(pcm, dtype=np.int16))
    decoded = np.asarray(G722(TARGET_FS, G722_BITRATE).decode(encoded), dtype=np.int16)
    return decoded[: len(pcm)]


def apply(x: np.ndarray, fs: int, settings: ChannelDraw, rng: np.random.Generator,
          config: ChannelConfig = ChannelConfig()) -> np.ndarray:
    """Pass a waveform (float, any rate) through the channel; returns int16 samples at 16 kHz."""
    y = resample(x, fs)
    if y.size == 0 or not np.any(y):
        raise ValueError("the channel got silent or empty audio")
    y = trim_silence(y, TARGET_FS, config)
    lead = np.zeros(int(round(settings.lead_s * TARGET_FS)))
    tail = np.zeros(int(round(settings.tail_s * TARGET_FS)))
    y = np.concatenate([lead, y, tail])
    active = np.repeat(active_frames(y, TARGET_FS, config), int(round(FRAME_S * TARGET_FS)))
    rms = np.sqrt(np.mean(y[: active.size][active] ** 2))
    y *= 10.0 ** (settings.level_dbfs / 20.0) / rms
    y += rng.standard_normal(y.size) * 10.0 ** (settings.noise_dbfs / 20.0)
    peak = np.max(np.abs(y))
    if peak > config.peak:
        y *= config.peak / peak
    pcm = np.round(y * 32767.0).astype(np.int16)
    return g722_round_trip(pcm)


def write_flac(path: str | os.PathLike, pcm: np.ndarray, fs: int = TARGET_FS) -> None:
    """Write int16 samples as a 16-bit mono flac, atomically."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        sf.write(f, np.asarray(pcm, dtype=np.int16), fs, format="FLAC", subtype="PCM_16")
