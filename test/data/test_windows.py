"""ssd.data.windows: repeat padding and the fixed evaluation windows."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.data.windows import eval_windows, repeat_pad, window_starts


def test_repeat_pad_repeats_from_the_start() -> None:
    feats = np.arange(3 * 2, dtype=np.float32).reshape(3, 2)
    padded = repeat_pad(feats, 8)
    assert padded.shape == (8, 2)
    assert padded[:, 0].tolist() == [0, 2, 4, 0, 2, 4, 0, 2]
    np.testing.assert_array_equal(repeat_pad(feats, 3), feats)
    np.testing.assert_array_equal(repeat_pad(feats, 2), feats[:2])
    with pytest.raises(ValueError, match="no frames"):
        repeat_pad(feats[:0], 4)


@pytest.mark.parametrize("frames, length, hop, starts", [
    (10, 750, 375, [0]),
    (750, 750, 375, [0]),
    (751, 750, 375, [0, 1]),
    (1000, 750, 375, [0, 250]),
    (1125, 750, 375, [0, 375]),
    (1600, 750, 375, [0, 375, 750, 850]),
    (10, 4, 4, [0, 4, 6]),
])
def test_window_starts(frames: int, length: int, hop: int, starts: list[int]) -> None:
    assert window_starts(frames, length, hop) == starts


def test_windows_cover_every_frame_and_end_at_the_end() -> None:
    for frames in range(1, 60):
        for length, hop in ((8, 4), (8, 3), (8, 8), (5, 1)):
            starts = window_starts(frames, length, hop)
            covered = set()
            for s in starts:
                covered.update(range(s, min(s + length, frames)))
            assert covered == set(range(frames))
            assert starts == sorted(set(starts))
            assert starts[-1] + length == max(frames, length)


@pytest.mark.parametrize("length, hop", [(0, 1), (4, 0), (4, 5)])
def test_bad_window_settings(length: int, hop: int) -> None:
    with pytest.raises(ValueError, match="hop"):
        window_starts(10, length, hop)


def test_eval_windows_are_transposed_crops() -> None:
    feats = np.random.default_rng(0).standard_normal((13, 3)).astype(np.float32)
    windows = eval_windows(feats, 6, 4)
    assert windows.shape == (3, 3, 6) and windows.dtype == np.float32
    for w, start in zip(windows, [0, 4, 7], strict=True):
        np.testing.assert_array_equal(w, feats[start:start + 6].T)
    short = eval_windows(feats[:4], 6, 4)
    np.testing.assert_array_equal(short[0], repeat_pad(feats[:4], 6).T)
    with pytest.raises(ValueError, match="non-empty"):
        eval_windows(feats[:0], 6, 4)


def test_first_window_policy_is_the_aasist_authors_view(rng):
    """One window: the first L samples of a long file; a short file tiled end to end and cut to L."""
    wave = rng.standard_normal((100, 1))
    out = eval_windows(wave, 64, 16, "first_window")
    assert out.shape == (1, 1, 64) and out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0], wave[:64, 0].astype(np.float32))
    short = eval_windows(wave[:30], 64, 16, "first_window")[0, 0]
    np.testing.assert_array_equal(short, np.tile(wave[:30, 0], 3)[:64].astype(np.float32))
    with pytest.raises(ValueError, match="unknown evaluation policy 'first'"):
        eval_windows(wave, 64, 16, "first")
