"""The authors' AASIST evaluation policy: the first 64,600 samples, or the whole file tiled."""

import numpy as np
import pytest

from ssd.data.first_window import AASIST_SAMPLES, first_window


def test_long_file_keeps_its_first_window_as_float32(rng):
    wave = rng.uniform(-1, 1, AASIST_SAMPLES + 1234)
    out = first_window(wave)
    assert out.dtype == np.float32 and out.shape == (64600,)
    np.testing.assert_array_equal(out, wave[:64600].astype(np.float32))


def test_short_file_is_tiled_end_to_end_from_its_start():
    wave = np.arange(1, 8, dtype=np.float64) / 10  # 7 samples
    out = first_window(wave, length=17)
    np.testing.assert_array_equal(out, np.tile(wave, 3)[:17].astype(np.float32))
    assert first_window(wave, length=7).tolist() == pytest.approx(wave.tolist())


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="non-empty 1-D"):
        first_window(np.zeros((2, 100)))
    with pytest.raises(ValueError, match="non-empty 1-D"):
        first_window(np.zeros(0))
    with pytest.raises(ValueError, match="positive"):
        first_window(np.zeros(10), length=0)
