"""RawBoost: each family does what the paper says (notch gain, impulse share, SNR range), every algorithm
is seeded, and training with it is reproducible and refused where it cannot apply."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CONF, write_audio_dir
from scipy.signal import freqz

from ssd.augment.rawboost import (
    ALGORITHMS,
    RawBoostConfig,
    algorithm_of,
    crop_augmenter,
    impulsive,
    notch_cascade,
    rawboost,
    stationary,
)
from ssd.bin.train import main as train_main
from ssd.data.dataset import RandomCropDataset, WaveTable
from ssd.utils.checkpoint import load_checkpoint

FS = 16000
CFG = RawBoostConfig()
TINY_AASIST = ("model:\n  input_length: 4000\n  aasist: {first_conv: 32, filts: [6, [1, 4], [4, 4], [4, 8], "
               "[8, 8]], gat_dims: [8, 6]}\neval: {hop_length: 2000}\n")


def _speech_like(seed: int = 0, n: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    return 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(n)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_is_seeded_and_keeps_the_length(algorithm):
    x = _speech_like()
    a = rawboost(x, FS, algorithm, np.random.default_rng(3))
    b = rawboost(x, FS, algorithm, np.random.default_rng(3))
    c = rawboost(x, FS, algorithm, np.random.default_rng(4))
    assert a.shape == x.shape and np.all(np.isfinite(a)) and np.array_equal(a, b)
    if algorithm == 0:
        assert np.array_equal(a, x)
    else:
        assert not np.allclose(a, x) and not np.array_equal(a, c)


def test_notch_cascade_peaks_at_the_drawn_gain_and_cuts_a_band():
    rng = np.random.default_rng(0)
    for _ in range(20):
        taps = notch_cascade(rng, FS, CFG, CFG.gain_db)
        _, h = freqz(taps, 1, worN=4096, fs=FS)
        assert np.max(np.abs(h)) == pytest.approx(1.0, rel=1e-3)  # 0 dB peak (on a 512-point grid)
        assert np.min(np.abs(h)) < 0.5  # a stop band


def test_impulsive_noise_hits_at_most_p_percent_of_the_samples():
    x = _speech_like()
    for seed in range(10):
        y = impulsive(x, np.random.default_rng(seed), CFG)
        scale = np.median(y / x)  # the untouched samples only carry the peak normalisation
        hit = np.abs(y - scale * x) > 1e-12
        assert hit.mean() <= CFG.isd_percent / 100


def test_stationary_noise_is_added_within_the_snr_range():
    x = _speech_like()
    for seed in range(10):
        noise = stationary(x, FS, np.random.default_rng(seed), CFG) - x
        snr = 10 * np.log10(np.mean(x ** 2) / np.mean(noise ** 2))
        assert CFG.snr_db[0] - 1e-6 <= snr <= CFG.snr_db[1] + 1e-6


def test_settings_and_presets():
    assert algorithm_of("none") == algorithm_of(None) == 0
    assert (algorithm_of("rawboost_la"), algorithm_of("rawboost_df"), algorithm_of(4)) == (5, 3, 4)
    for bad in (9, "rawboost", True, 2.0):
        with pytest.raises(ValueError, match="data.rawboost must be none, 0-8"):
            algorithm_of(bad)


def test_augmented_crops_depend_on_seed_epoch_and_utterance_only(tmp_path):
    data = write_audio_dir(tmp_path / "train", 6, 0, ["S1", "S2"], "U")
    table = WaveTable.from_dir(data, ["S1", "S2"])
    one = RandomCropDataset(table, 4000, seed=1, augment=crop_augmenter(5, FS))
    two = RandomCropDataset(table, 4000, seed=1, augment=crop_augmenter(5, FS))
    two.set_epoch(3)
    two.set_epoch(0)
    assert all(np.array_equal(one[i][0], two[i][0]) for i in reversed(range(6)))
    plain = RandomCropDataset(table, 4000, seed=1)
    assert not np.array_equal(one[0][0], plain[0][0])
    one.set_epoch(1)
    assert not np.array_equal(one[0][0], two[0][0])


def test_training_with_rawboost_is_reproducible_and_needs_a_waveform_front_end(tmp_path, capsys):
    base = tmp_path / "tiny.yaml"
    base.write_text(f"base: {CONF / 'train_aasist_mini.yaml'}\n{TINY_AASIST}train: {{epochs: 1}}\n"
                    "data: {batch_size: 8, rawboost: rawboost_la}\nrun: {threads: 1, log_interval: 1}\n")
    train = write_audio_dir(tmp_path / "train", 16, 0, ["S1", "S2"], "U")
    dev = write_audio_dir(tmp_path / "dev", 6, 1, ["S9"], "D")
    states = []
    for run in ("a", "b"):
        train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base", str(base),
                    "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(tmp_path / run)])
        states.append(load_checkpoint(tmp_path / run / "last.pt")["model"])
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    with pytest.raises(SystemExit):
        train_main(["--config", str(CONF / "train_ocsoftmax_vanilla.yaml"), "--base",
                    str(CONF / "train_mini.yaml"), "--data.rawboost", "5", "--train-dir", str(train),
                    "--dev-dir", str(dev), "--exp-dir", str(tmp_path / "lfcc")])
    assert "needs a waveform front end" in capsys.readouterr().err
