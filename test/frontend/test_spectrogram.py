"""The log power spectrograms (20 ms and 4 ms) against direct frame-by-frame computations, the LFCC the
20 ms one shares its frames with, what the 4 ms one resolves, and their dumps through ssd-compute-lfcc."""

from __future__ import annotations

from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from ssd.bin.compute_lfcc import main
from ssd.frontend import lfcc as lfcc_module
from ssd.frontend import spectrogram as spectrogram_module
from ssd.frontend.lfcc import LOG_FLOOR, NFFT, lfcc, num_frames
from ssd.frontend.registry import build_frontend
from ssd.frontend.spectrogram import NUM_BINS, log_power_spectrogram, short_time_spectrogram

DATA = Path(__file__).resolve().parent / "data"


def direct(x: np.ndarray, fs: int) -> np.ndarray:
    """One frame at a time, as the definition reads: pre-emphasis, zero-padded 20 ms Hamming frames
    every 10 ms, |FFT_512|^2, log10(. + eps)."""
    win, hop = fs // 50, fs // 100
    emphasised = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    n = num_frames(x.size, fs)
    emphasised = np.pad(emphasised, (0, (n - 1) * hop + win - x.size))
    window = np.hamming(win)
    rows = [np.abs(np.fft.rfft(emphasised[t * hop : t * hop + win] * window, NFFT)) ** 2 for t in range(n)]
    return np.log10(np.array(rows) + LOG_FLOOR)


@pytest.mark.parametrize("block", [lfcc_module.BLOCK_FRAMES, 7, 1])
@pytest.mark.parametrize("samples", [1, 160, 161, 320, 1600, 12347])
def test_matches_the_direct_computation(samples, block, monkeypatch):
    monkeypatch.setattr(lfcc_module, "BLOCK_FRAMES", block)
    x = np.random.default_rng(samples).uniform(-0.5, 0.5, samples)
    got = log_power_spectrogram(x, 16000)
    assert got.shape == (num_frames(samples, 16000), NUM_BINS) == (num_frames(samples, 16000), 257)
    np.testing.assert_allclose(got, direct(x, 16000), rtol=0, atol=1e-9)


def test_speech_and_silence():
    speech, fs = sf.read(DATA / "speech_16000.flac", dtype="float64")
    np.testing.assert_allclose(log_power_spectrogram(speech, fs), direct(speech, fs), rtol=0, atol=1e-9)
    assert np.all(log_power_spectrogram(np.zeros(800), 16000) == np.log10(LOG_FLOOR))  # finite on silence
    assert log_power_spectrogram(np.zeros(0), 16000).shape == (1, 257)


def test_holds_the_detail_that_the_lfcc_smooths_away():
    """The LFCC's static cepstra are the DCT of its 20 filter energies of this very power spectrum."""
    speech, fs = sf.read(DATA / "speech_16000.flac", dtype="float64")
    window, filterbank, dct = lfcc_module._matrices(fs)
    power = 10.0 ** log_power_spectrogram(speech, fs) - LOG_FLOOR
    np.testing.assert_allclose(np.log10(power @ filterbank + LOG_FLOOR) @ dct, lfcc(speech, fs)[:, :20],
                               rtol=0, atol=1e-6)


def test_front_end_entry_and_interleaving_with_the_lfcc():
    fe = build_frontend("spectrogram")
    assert (fe.dim, fe.unit, fe.dumps, fe.table) == (257, "frames", True, "spectrogram")
    x = np.random.default_rng(0).uniform(-0.5, 0.5, 3000)
    first = fe.features(x, 16000)
    lfcc(np.random.default_rng(1).uniform(-0.5, 0.5, 5000), 16000)  # the shared workspace is reused
    assert first.dtype == np.float32 and np.array_equal(first, fe.features(x, 16000))
    assert fe.settings(16000)["feature_dim"] == 257 and fe.length(16000, 16000) == 99


def test_dump_job_writes_the_spectrogram(tmp_path):
    clips = ["speech_1600", "speech_16000"]
    scp_in = tmp_path / "wav.scp"
    scp_in.write_text("".join(f"{name} {DATA / name}.flac\n" for name in clips))
    ark, scp, frames = tmp_path / "f.ark", tmp_path / "f.scp", tmp_path / "num_frames"
    assert main(["--frontend", "spectrogram", "--write-utt2num-frames", str(frames), str(scp_in),
                 f"ark,scp:{ark},{scp}"]) == 0
    feats = kaldiio.load_scp(str(scp))
    for name in clips:
        audio, fs = sf.read(DATA / f"{name}.flac", dtype="float64")
        assert np.array_equal(feats[name], log_power_spectrogram(audio, fs).astype(np.float32))
    assert frames.read_text() == "".join(f"{n} {feats[n].shape[0]}\n" for n in clips)


def test_a_front_end_without_features_is_not_dumped(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--frontend", "raw", str(tmp_path / "wav.scp"), "ark,scp:a.ark,a.scp"])
    assert "invalid choice: 'raw'" in capsys.readouterr().err


def direct_short(x: np.ndarray, fs: int) -> np.ndarray:
    """4 ms Hann frames every 2 ms of the pre-emphasised signal, zero-padded at the end, |FFT_64|^2."""
    win, hop = fs // 250, fs // 500
    emphasised = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    n = max(1, -(-(x.size - (win - hop)) // hop))
    emphasised = np.pad(emphasised, (0, (n - 1) * hop + win - x.size))
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    rows = [np.abs(np.fft.rfft(emphasised[t * hop : t * hop + win] * window, 64)) ** 2 for t in range(n)]
    return np.log10(np.array(rows) + LOG_FLOOR)


@pytest.mark.parametrize("block", [spectrogram_module.SHORT_BLOCK, 5, 1])
@pytest.mark.parametrize(("samples", "fs"), [(1, 16000), (32, 16000), (33, 16000), (64, 16000), (65, 16000),
                                             (1600, 16000), (12347, 16000), (3001, 8000)])
def test_4ms_spectrogram_matches_the_direct_computation(samples, fs, block, monkeypatch):
    monkeypatch.setattr(spectrogram_module, "SHORT_BLOCK", block)
    x = np.random.default_rng(samples).uniform(-0.5, 0.5, samples)
    got = short_time_spectrogram(x, fs)
    assert got.shape == (max(1, -(-(samples - fs * 2 // 1000) // (fs // 500))), 33)
    np.testing.assert_allclose(got, direct_short(x, fs), rtol=0, atol=1e-9)
    assert short_time_spectrogram(x, fs, np.float32).dtype == np.float32


def test_4ms_spectrogram_sees_single_pitch_pulses_that_20ms_frames_average_away():
    """A 100 Hz pulse train: every 10 ms the 4 ms frames light up and go dark again; the 20 ms frames,
    each spanning two pulses, barely change from frame to frame."""
    x = np.zeros(16000)
    x[80::160] = 0.5
    short = short_time_spectrogram(x, 16000)[10:-10].mean(axis=1)
    long = log_power_spectrogram(x, 16000)[2:-2].mean(axis=1)
    assert short.max() - short.min() > 5.0  # decades of power between a pulse and the silence after it
    assert long.max() - long.min() < 0.5


def test_4ms_front_end_entry_and_its_limits():
    fe = build_frontend("spectrogram_4ms")
    assert (fe.dim, fe.unit, fe.dumps) == (33, "frames", True) and fe.length(16000, 16000) == 499
    assert fe.settings(16000)["window_samples"] == 64 and fe.settings(16000)["hop_samples"] == 32
    with pytest.raises(ValueError, match="multiple of 1 kHz"):
        short_time_spectrogram(np.zeros(100), 22050)
    with pytest.raises(ValueError, match="rates up to 16 kHz"):
        short_time_spectrogram(np.zeros(100), 48000)


def test_dump_job_writes_the_4ms_spectrogram(tmp_path):
    scp_in = tmp_path / "wav.scp"
    scp_in.write_text(f"utt {DATA / 'speech_16000.flac'}\n")
    scp = tmp_path / "f.scp"
    assert main(["--frontend", "spectrogram_4ms", str(scp_in), f"ark,scp:{tmp_path / 'f.ark'},{scp}"]) == 0
    audio, fs = sf.read(DATA / "speech_16000.flac", dtype="float64")
    assert np.array_equal(kaldiio.load_scp(str(scp))["utt"], short_time_spectrogram(audio, fs, np.float32))


@pytest.mark.parametrize("name", ["lfcc", "spectrogram", "spectrogram_4ms"])
def test_a_crop_cut_from_the_audio_gives_exactly_the_frames_asked_for(name):
    """Augmented training cuts samples_for(n) samples and computes the front end on them: n frames."""
    fe = build_frontend(name)
    for frames in (2, 200, 1000):
        samples = fe.samples_for(frames, 16000)
        win, hop = fe.geometry(16000)
        assert fe.length(samples, 16000) == frames and samples == (frames - 1) * hop + win
        assert fe.features(np.zeros(samples), 16000).shape == (frames, fe.dim)
