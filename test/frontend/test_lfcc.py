"""The official LFCC against the baseline MATLAB code's own output (Octave), and its edge cases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
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


# --- The blocked, buffer-reusing implementation against the one it replaced ------------------------


def _previous_lfcc(waveform: np.ndarray, fs: int) -> np.ndarray:
    """ssd.frontend.lfcc.lfcc as it was before its buffers were kept between calls (commit 96ee78b),
    frozen here: the dumped float32 features must not change by a single bit."""
    x = np.asarray(waveform, dtype=np.float64)
    if x.size == 0:
        x = np.zeros(1)
    win, hop = lfcc_module.frame_geometry(fs)
    window, filterbank, dct = lfcc_module._matrices(fs)
    total = num_frames(x.size, fs)
    out = np.empty((total, FEATURE_DIM))
    block = min(128, total)
    emphasised = np.empty((block - 1) * hop + win)
    frames = np.lib.stride_tricks.sliding_window_view(emphasised, win)[::hop]
    used = min(win, 512)
    padded = np.zeros((block, 512))
    spectrum = np.empty((block, 257), dtype=np.complex128)
    power = np.empty((block, 257))
    energies = np.empty((block, 20))
    for first in range(0, total, block):
        n = min(block, total - first)
        start = first * hop
        stop = min(x.size, start + (n - 1) * hop + win)
        length = stop - start
        if start == 0:
            emphasised[0] = x[0]
            np.multiply(x[: length - 1], -0.97, out=emphasised[1:length])
            emphasised[1:length] += x[1:length]
        else:
            np.multiply(x[start - 1 : stop - 1], -0.97, out=emphasised[:length])
            emphasised[:length] += x[start:stop]
        emphasised[length:] = 0.0
        np.multiply(frames[:n, :used], window[:used], out=padded[:n, :used])
        np.fft.rfft(padded[:n], axis=1, out=spectrum[:n])
        np.square(spectrum.real[:n], out=power[:n])
        power[:n] += np.square(spectrum.imag[:n])
        np.matmul(power[:n], filterbank, out=energies[:n])
        energies[:n] += LOG_FLOOR
        np.log10(energies[:n], out=energies[:n])
        out[first : first + n, :20] = energies[:n] @ dct
    for src, dst in ((out[:, :20], out[:, 20:40]), (out[:, 20:40], out[:, 40:])):
        if total == 1:
            dst[:] = 0.0
        else:
            dst[1:-1] = src[2:] - src[:-2]
            dst[0] = src[1] - src[0]
            dst[-1] = src[-1] - src[-2]
    return out


def _equivalence_inputs() -> list[tuple[str, np.ndarray, int]]:
    """Real speech (the fixture clips, alone and joined past one block) and synthetic signals at every
    framing and block edge, in an order that makes each call reuse buffers a different call filled."""
    rng = np.random.default_rng(17)
    speech = {name: case_input(name)[0] for name in CASES if name.startswith("speech_")}
    joined = np.concatenate([speech["speech_16000"], speech["speech_12347"], speech["speech_1600"]])
    block_edge = 127 * 160 + 320  # exactly BLOCK_FRAMES frames
    cases = [(name, x, 16000) for name, x in sorted(speech.items())]
    cases += [("speech_joined", joined, 16000), ("speech_joined_short", joined[:block_edge - 1], 16000)]
    for length in (1, 2, 159, 160, 161, 319, 320, 321, 479, 480, 481, 16000, 16001,
                   block_edge - 1, block_edge, block_edge + 1, block_edge + 160, 3 * block_edge + 7):
        cases.append((f"noise_{length}", rng.uniform(-1, 1, length), 16000))
    cases += [
        ("silence_20000", np.zeros(20000), 16000),
        ("dc_5000", np.full(5000, 0.5), 16000),
        ("clipped_30000", np.clip(4.0 * rng.standard_normal(30000), -1.0, 1.0), 16000),
        ("square_full_scale", np.sign(np.sin(np.arange(9000) * 0.3)) * (32767 / 32768), 16000),
        ("whisper_8000", 1e-7 * rng.standard_normal(8000), 16000),
        ("impulse_700", np.eye(1, 700, 333)[0], 16000),
        ("int16_grid_24000", rng.integers(-32768, 32768, 24000) / 32768.0, 16000),
        ("speech_tail_after_long", speech["speech_480"], 16000),
        ("noise_8k", rng.uniform(-1, 1, 9001), 8000),
        ("noise_32k", rng.uniform(-1, 1, 40001), 32000),
        ("speech_after_rate_change", speech["speech_12347"], 16000),
    ]
    return cases


EQUIVALENCE = _equivalence_inputs()


@pytest.mark.parametrize("case", EQUIVALENCE, ids=[name for name, _, _ in EQUIVALENCE])
def test_equals_the_previous_implementation(case):
    """Float64 to 1e-12 and float32, what the dump stores, bit for bit; the cases run in one sequence,
    so that buffers left by a longer, shorter or other-rate utterance are reused."""
    _, x, fs = case
    expected, got = _previous_lfcc(x, fs), lfcc(x, fs)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-12
    assert got.astype(np.float32).tobytes() == expected.astype(np.float32).tobytes()


def test_threads_do_not_share_buffers():
    """Concurrent calls (a Detector scoring from several threads) give the single-threaded results."""
    inputs = [x for _, x, fs in EQUIVALENCE if fs == 16000]
    expected = [lfcc(x, 16000) for x in inputs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda x: lfcc(x, 16000), inputs * 3))
    for i, feats in enumerate(got):
        assert np.array_equal(feats, expected[i % len(inputs)])
