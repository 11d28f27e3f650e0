"""Property-based tests (hypothesis): the LFCC on any input in range, EER/t-DCF invariances and bounds,
and data-dir table parsing. Settings come from the profile in conftest.py (derandomised under CI=true).
"""

from __future__ import annotations

import math
import os
import subprocess
from pathlib import Path

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ssd.data.datadir import c_sorted, read_kv, read_scp, spk2utt_from_utt2spk, write_kv
from ssd.frontend.lfcc import lfcc
from ssd.metrics.eer import compute_eer, det_curve
from ssd.metrics.tdcf import AsvOperatingPoint, min_tdcf

HOP, WIN = 160, 320  # 10 ms and 20 ms at 16 kHz


def expected_frames(num_samples: int) -> int:
    """DESIGN.md: 20 ms frames every 10 ms from sample 0, the last one zero-padded, at least one frame
    (MATLAB's buffer(x, 320, 160, 'nodelay') makes ceil((n - 160) / 160) columns)."""
    return max(1, math.ceil((num_samples - (WIN - HOP)) / HOP))


def _check_lfcc(x: np.ndarray) -> None:
    out = lfcc(x, 16000)
    assert out.dtype == np.float64 and out.shape == (expected_frames(x.size), 60)
    assert np.isfinite(out).all()


@settings(max_examples=60)
@given(arrays(np.float64, st.integers(0, 700), elements=st.floats(-1.0, 1.0, allow_subnormal=True)))
def test_lfcc_of_any_samples_in_range_is_finite(x: np.ndarray) -> None:
    _check_lfcc(x)


SIGNALS = {
    "noise": lambda n, rng: rng.uniform(-1, 1, n),
    "silence": lambda n, rng: np.zeros(n),
    "full_scale_square": lambda n, rng: np.where(np.arange(n) % 37 < 18, 1.0, -1.0),
    "impulse": lambda n, rng: (np.arange(n) == n // 2).astype(float),
    "nyquist": lambda n, rng: np.cos(np.pi * np.arange(n)),
    "dc": lambda n, rng: np.ones(n),
    "int16_pcm": lambda n, rng: rng.integers(-32768, 32768, n) / 32768.0,
}


@settings(max_examples=60)
@given(length=st.integers(0, 5000), kind=st.sampled_from(sorted(SIGNALS)), gain=st.floats(0.0, 1.0),
       seed=st.integers(0, 2**32 - 1))
def test_lfcc_of_any_length_and_amplitude_is_finite(length: int, kind: str, gain: float, seed: int) -> None:
    _check_lfcc(gain * SIGNALS[kind](length, np.random.default_rng(seed)))


# --- EER and t-DCF --------------------------------------------------------------------------------

TRANSFORMS = {
    "affine": lambda x: 3.7 * x - 12.5,
    "cube": lambda x: x**3,
    "exp": lambda x: np.exp(x / 1e5),
    "arctan": lambda x: np.arctan(x / 1e3),
    "log_shifted": lambda x: np.log(x + 1e6 + 1.0),
}


@st.composite
def tie_free_trials(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Bona fide and spoof scores, all distinct (integers in +-1e6, as floats)."""
    n_bona = draw(st.integers(1, 25))
    n_spoof = draw(st.integers(1, 25))
    values = draw(st.lists(st.integers(-10**6, 10**6), min_size=n_bona + n_spoof,
                           max_size=n_bona + n_spoof, unique=True))
    scores = np.array(values, dtype=np.float64)
    return scores[:n_bona], scores[n_bona:]


@settings(max_examples=80)
@given(trials=tie_free_trials(), name=st.sampled_from(sorted(TRANSFORMS)))
def test_eer_is_invariant_to_strictly_increasing_transforms(trials: tuple[np.ndarray, np.ndarray],
                                                           name: str) -> None:
    bona, spoof = trials
    f = TRANSFORMS[name]
    fb, fs = f(bona), f(spoof)
    assume(len(set(np.concatenate([fb, fs]).tolist())) == bona.size + spoof.size)  # still tie-free
    eer, threshold = compute_eer(bona, spoof)
    eer_f, threshold_f = compute_eer(fb, fs)
    assert 0.0 <= eer <= 1.0
    assert eer_f == eer
    assert threshold_f == (f(np.array([threshold]))[0] if np.isfinite(threshold) else threshold)


@settings(max_examples=80)
@given(trials=tie_free_trials())
def test_eer_is_symmetric_under_label_swap_with_negation(trials: tuple[np.ndarray, np.ndarray]) -> None:
    bona, spoof = trials
    eer, _ = compute_eer(bona, spoof)
    swapped, _ = compute_eer(-spoof, -bona)
    # Where two operating points are equally close to equal error, the EER (the official rule: the
    # first closest point) may take the other one's mean; otherwise the two are the same number.
    det = det_curve(bona, spoof)
    gap = np.abs(det.p_miss - det.p_fa)
    closest = np.flatnonzero(gap <= gap.min() + 1e-12)
    candidates = {float((det.p_miss[k] + det.p_fa[k]) / 2) for k in closest}
    assert eer in candidates and swapped in candidates
    if len(candidates) == 1:
        assert swapped == eer


@st.composite
def asv_points(draw: st.DrawFn) -> AsvOperatingPoint:
    """An ASV operating point where the legacy t-DCF exists (C1 > 0, C2 > 0)."""
    return AsvOperatingPoint(threshold=0.0, p_fa=draw(st.floats(0.0, 0.5)), p_miss=draw(st.floats(0.0, 0.5)),
                             p_miss_spoof=draw(st.floats(0.0, 0.95)))


@settings(max_examples=80)
@given(trials=tie_free_trials(), name=st.sampled_from(sorted(TRANSFORMS)), asv=asv_points(),
       variant=st.sampled_from(["legacy", "revised"]))
def test_min_tdcf_is_bounded_and_invariant_to_increasing_transforms(trials: tuple[np.ndarray, np.ndarray],
                                                                     name: str, asv: AsvOperatingPoint,
                                                                     variant: str) -> None:
    bona, spoof = trials
    f = TRANSFORMS[name]
    fb, fs = f(bona), f(spoof)
    assume(len(set(np.concatenate([fb, fs]).tolist())) == bona.size + spoof.size)
    value = min_tdcf(bona, spoof, asv, variant)
    # 0 for a perfect CM; never above 1, the cost of the better of "accept all" and "reject all".
    assert 0.0 <= value <= 1.0 + 1e-12
    assert min_tdcf(fb, fs, asv, variant) == value


# --- data-dir tables --------------------------------------------------------------------------------

# Kaldi keys: any printable text without whitespace; values: the same plus inner spaces (pipe commands).
_VISIBLE = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))
KEYS = st.text(_VISIBLE, min_size=1, max_size=12).filter(lambda s: not any(c.isspace() for c in s))
VALUES = st.text(st.one_of(_VISIBLE, st.just(" ")), min_size=1, max_size=20).filter(
    lambda s: s == s.strip() and s != "" and not any(c.isspace() and c != " " for c in s))


@settings(max_examples=60)
@given(table=st.dictionaries(KEYS, VALUES, max_size=25))
def test_write_kv_read_kv_round_trip_in_c_order(tmp_path_factory, table: dict[str, str]) -> None:
    path = tmp_path_factory.mktemp("kv") / "utt2x"
    write_kv(path, table)
    assert read_kv(path) == table
    assert [key for key, _ in read_scp(path)] == c_sorted(table)
    # The order is the one `LC_ALL=C sort` checks, as the shell tools and validate_data_dir.sh expect.
    check = subprocess.run(["sort", "-c", "-k1,1", str(path)], env={**os.environ, "LC_ALL": "C"},
                           capture_output=True)
    assert check.returncode == 0, check.stderr


@settings(max_examples=60)
@given(utt2spk=st.dictionaries(KEYS, KEYS, min_size=1, max_size=25))
def test_spk2utt_inverts_utt2spk(utt2spk: dict[str, str]) -> None:
    spk2utt = spk2utt_from_utt2spk(utt2spk)
    back = {utt: spk for spk, utts in spk2utt.items() for utt in utts.split(" ")}
    assert back == utt2spk
    assert all(utts.split(" ") == c_sorted(utts.split(" ")) for utts in spk2utt.values())


@settings(max_examples=60)
@given(content=st.binary(max_size=200))
def test_any_bytes_parse_or_fail_naming_the_file(tmp_path_factory, content: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("kv") / "wav.scp"
    path.write_bytes(content)
    try:
        table = read_kv(path)
    except ValueError as err:
        assert str(err).startswith(f"{path}:"), str(err)
        return
    assert all(key and not any(c.isspace() for c in key) for key in table)
