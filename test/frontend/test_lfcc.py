"""The official LFCC against the baseline MATLAB code's own output (Octave), and its edge cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from ssd.frontend import lfcc as lfcc_module
from ssd.frontend.lfcc import BLOCK_FRAMES, FEATURE_DIM, LOG_FLOOR, lfcc, num_frames

DATA = Path(__file__).resolve().parent / "data"
REFERENCE = np.load(DATA / "octave_lfcc.npz")
CASES = sorted({key.rsplit(".", 1)[0] for key in REFERENCE.files})
TOLERANCE = 1e-6


def case_input(name: str) -> tuple[np.ndarray, int]:
    """The waveform Octave was given (FLAC clips read like MATLAB's audioread) and its rate."""
    if f"{name}.input" in REFERENCE.files:
        return REFERENCE[f"{name}.input"], int(REFERENCE[f"{name}.fs"])
    samples, fs = sf.read(DATA / f"{name}.flac", dtype="float64")
    return samples, fs


def test_fixture_set_covers_the_edge_lengths():
    lengths = {case_input(name)[0].size for name in CASES}
    assert {100, 161, 320, 480, 1600, 16000, 12347} <= lengths
    assert len(CASES) == 15


@pytest.mark.parametrize("block", [lfcc_module.BLOCK_FRAMES, 7, 1])
@pytest.mark.parametrize("name", CASES)
def test_matches_matlab_baseline(name, block, monkeypatch):
    """Also with small blocks, so that every block boundary path is checked against MATLAB."""
    monkeypatch.setattr(lfcc_module, "BLOCK_FRAMES", block)
    x, fs = case_input(name)
    expected = REFERENCE[f"{name}.lfcc"]
    got = lfcc(x, fs)
    assert got.dtype == np.float64
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= TOLERANCE


@pytest.mark.parametrize(
    ("length", "frames"),
    [(0, 1), (1, 1), (160, 1), (161, 1), (320, 1), (321, 2), (480, 2), (481, 3), (1600, 9), (16000, 99)],
)
def test_frame_count_follows_matlab_buffer_with_at_least_one_frame(length, frames):
    assert num_frames(length, 16000) == frames
    assert lfcc(np.full(length, 0.1), 16000).shape == (frames, FEATURE_DIM)


def test_frame_count_at_8khz():
    assert [num_frames(n, 8000) for n in (80, 81, 160, 161, 800)] == [1, 1, 1, 2, 9]


def test_silence_is_finite_and_equals_the_log_floor_cepstrum():
    out = lfcc(np.zeros(16000), 16000)
    assert np.isfinite(out).all()
    # log10(eps) in every filter: only c0 is non-zero, deltas vanish.
    assert out[:, 0] == pytest.approx(np.log10(LOG_FLOOR) * np.sqrt(20))
    assert np.abs(out[:, 1:]).max() < 1e-9


def test_empty_input_gives_one_silent_frame():
    assert np.array_equal(lfcc(np.zeros(0), 16000), lfcc(np.zeros(1), 16000))


def test_single_frame_has_zero_deltas(rng):
    out = lfcc(rng.uniform(-1, 1, 200), 16000)
    assert out.shape == (1, FEATURE_DIM)
    assert np.abs(out[0, :20]).max() > 0
    assert not out[0, 20:].any()


def test_deltas_are_undivided_central_differences(rng):
    out = lfcc(rng.uniform(-1, 1, 3000), 16000)
    static, delta, delta2 = out[:, :20], out[:, 20:40], out[:, 40:]
    assert np.allclose(delta[1:-1], static[2:] - static[:-2], rtol=0, atol=1e-12)
    assert np.allclose(delta[0], static[1] - static[0], rtol=0, atol=1e-12)
    assert np.allclose(delta[-1], static[-1] - static[-2], rtol=0, atol=1e-12)
    assert np.allclose(delta2[1:-1], delta[2:] - delta[:-2], rtol=0, atol=1e-12)


def test_gain_only_shifts_c0(rng):
    x = rng.uniform(-0.1, 0.1, 4000)
    base, louder = lfcc(x, 16000), lfcc(2 * x, 16000)
    # Power x4 adds log10(4) to every log energy; the orthonormal DCT puts that in c0 only.
    assert np.allclose(louder[:, 0] - base[:, 0], np.log10(4) * np.sqrt(20), atol=1e-9)
    assert np.allclose(louder[:, 1:20], base[:, 1:20], atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(length=st.integers(1, 3 * BLOCK_FRAMES * 160 + 500), cut=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_frames_depend_only_on_their_own_samples(length, cut, seed):
    """A prefix gives the same static features for every frame it fully contains, across block edges."""
    x = np.random.default_rng(seed).uniform(-1, 1, length)
    prefix = max(1, int(cut * length))
    full, part = lfcc(x, 16000)[:, :20], lfcc(x[:prefix], 16000)[:, :20]
    inside = max(0, (prefix - 320) // 160 + 1)
    assert full.shape[0] == num_frames(length, 16000)
    assert np.allclose(full[:inside], part[:inside], rtol=0, atol=1e-10)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 40 * 160), block=st.integers(1, 45), seed=st.integers(0, 2**32 - 1))
def test_block_size_does_not_change_the_result(length, block, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, length)
    whole = lfcc(x, 16000)
    original = lfcc_module.BLOCK_FRAMES
    try:
        lfcc_module.BLOCK_FRAMES = block
        blocked = lfcc(x, 16000)
    finally:
        lfcc_module.BLOCK_FRAMES = original
    assert np.allclose(blocked, whole, rtol=0, atol=1e-10)


def test_accepts_python_lists():
    x = [0.0, 0.5, -0.25] * 200
    assert np.array_equal(lfcc(x, 16000), lfcc(np.asarray(x), 16000))


@pytest.mark.parametrize("fs", [0, -16000, 22050, 16001])
def test_rejects_rates_without_whole_sample_frames(fs):
    with pytest.raises(ValueError, match="multiple of 100 Hz"):
        lfcc(np.zeros(1000), fs)


def test_rejects_multichannel_input():
    with pytest.raises(ValueError, match="1-D mono"):
        lfcc(np.zeros((1000, 2)), 16000)
