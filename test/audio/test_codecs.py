"""Real codec round trips: length, rate, alignment, fidelity, determinism, and the failure messages."""

from __future__ import annotations

import os

import numpy as np
import pytest

from ssd.audio import codecs

FS = 16000


def _require(name: str) -> None:
    """Codec programs are Debian packages: missing fails in CI and skips elsewhere."""
    reason = codecs.missing(name)
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _voice(fs: int = FS, seconds: float = 1.0) -> np.ndarray:
    """A voiced-speech-like signal: 19 harmonics of a gliding 140 Hz F0 (all below 3.4 kHz), modulated."""
    t = np.arange(int(seconds * fs)) / fs
    phase = 2 * np.pi * np.cumsum(140 * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) / fs
    x = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 20)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return 0.3 * x / np.max(np.abs(x))


def _lag(y: np.ndarray, x: np.ndarray, span: int = 40) -> int:
    """The shift of ``y`` against ``x`` (in samples) with the highest correlation."""
    inner = slice(span * 2, -span * 2)
    return max(range(-span, span + 1), key=lambda lag: float(np.dot(np.roll(y, -lag)[inner], x[inner])))


def _snr_db(y: np.ndarray, x: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2)))


# (codec, bit rate, lowest acceptable SNR in dB); measured on this signal 37 (G.711), 18 (GSM),
# 20-23 (G.722), 13-15 (Opus), 25 (mp3), 19 (AAC), 22-26 (Vorbis). A misaligned output scores below 0.
CASES = [
    ("ulaw", None, 30), ("alaw", None, 30), ("gsm", None, 12), ("g722", 64000, 18), ("g722", 48000, 15),
    ("opus", 8000, 8), ("opus", 16000, 10), ("mp3", 32000, 18), ("mp3", 64000, 18), ("m4a", 32000, 14),
    ("m4a", 64000, 14), ("ogg", 32000, 16), ("ogg", 64000, 18),
]


@pytest.mark.parametrize(("name", "bitrate", "min_snr"), CASES, ids=[f"{c}-{b}" for c, b, _ in CASES])
def test_round_trip_is_aligned_faithful_and_deterministic(name, bitrate, min_snr):
    _require(name)
    x = _voice()
    y = codecs.round_trip(x, FS, name, bitrate)
    assert y.dtype == np.float64 and y.shape == x.shape
    assert abs(_lag(y, x)) <= 1  # Opus resamples to 48 kHz inside and may land one sample off
    assert _snr_db(y, x) > min_snr
    assert not np.array_equal(y, x)  # the codec did something
    np.testing.assert_array_equal(codecs.round_trip(x, FS, name, bitrate), y)


@pytest.mark.parametrize(("name", "bitrate", "fs"), [("ulaw", None, 22050), ("g722", 64000, 8000),
                                                     ("mp3", 64000, 44100), ("opus", 16000, 48000)])
def test_other_input_rates_come_back_at_that_rate(name, bitrate, fs):
    _require(name)
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(fs // 2) / fs)
    y = codecs.round_trip(x, fs, name, bitrate)
    assert y.shape == x.shape
    assert _snr_db(y, x) > 15


def test_untagged_low_rate_mp3_is_realigned():
    """At 24 kbit/s and 16 kHz lame writes no gapless tag; the known delay is removed instead."""
    _require("mp3")
    x = _voice()
    y = codecs.round_trip(x, FS, "mp3", 24000)
    assert abs(_lag(y, x)) == 0 and _snr_db(y, x) > 12


def test_chain_applies_each_step():
    _require("mp3")
    _require("m4a")
    x = _voice()
    once = codecs.round_trip(x, FS, "mp3", 32000)
    twice = codecs.chain(x, FS, [("mp3", 32000), ("m4a", 24000)])
    np.testing.assert_array_equal(twice, codecs.round_trip(once, FS, "m4a", 24000))
    with pytest.raises(ValueError, match="at least one step"):
        codecs.chain(x, FS, [])


def test_missing_programs_name_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert codecs.missing("opus") == "codec opus needs opusenc, opusdec: install opus-tools"
    assert "install vorbis-tools" in codecs.missing("ogg")
    assert "ogg" not in codecs.available()
    with pytest.raises(codecs.CodecUnavailable, match="codec mp3 needs lame: install lame"):
        codecs.round_trip(_voice(), FS, "mp3", 64000)


def test_a_failing_encoder_reports_its_command_and_stderr():
    _require("ogg")
    # Vorbis has no 200 kbit/s mode for 16 kHz mono: oggenc itself refuses.
    with pytest.raises(codecs.CodecError, match=r"oggenc exited with status \d+: oggenc .*-b 200"):
        codecs.round_trip(_voice(), FS, "ogg", 200000)


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros((2, 100)), FS, "ulaw"), "expected non-empty mono audio"),
    ((np.array([]), FS, "ulaw"), "expected non-empty mono audio"),
    ((np.array([0.0, np.nan]), FS, "ulaw"), "NaN or infinite"),
    ((np.zeros(100), 0, "ulaw"), "bad sampling rate 0"),
    ((np.zeros(100), FS, "ulaw", 64000), "fixed bit rate"),
    ((np.zeros(100), FS, "opus", 1000), "outside 6000..256000"),
    ((np.zeros(100), FS, "g722", 50000), "runs at 48000, 56000, 64000"),
    ((np.zeros(100), FS, "amr"), "unknown codec 'amr'"),
])
def test_bad_input_is_refused(args, message):
    with pytest.raises(ValueError, match=message):
        codecs.round_trip(*args)
