"""The fixed mel-spaced sinc filterbank shared by RawNet2 and AASIST: band edges, symmetry, frequency
response, and the float32 arithmetic of the released code."""

import numpy as np
import pytest
import torch

from ssd.nets.sinc import SincFilterbank, hz_to_mel, mel_band_edges, sinc_bandpass_filters

FS = 16000


def test_band_edges_are_equally_spaced_in_mel_from_0_hz_to_nyquist():
    edges = mel_band_edges(20, FS)
    assert edges.shape == (21,) and edges[0] == pytest.approx(0.0) and edges[-1] == pytest.approx(8000.0)
    steps = np.diff(hz_to_mel(edges))
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    assert np.all(np.diff(edges) > 0)


def test_filters_are_odd_symmetric_and_pass_their_own_band_only():
    filters = sinc_bandpass_filters(20, 1024, FS)[:, 0].double().numpy()
    assert filters.shape == (20, 1025)
    np.testing.assert_array_equal(filters, filters[:, ::-1])
    response = np.abs(np.fft.rfft(filters, n=FS, axis=1))  # 1 Hz bins
    edges = mel_band_edges(20, FS)
    centres = np.round((edges[:-1] + edges[1:]) / 2).astype(int)
    gains = response[np.arange(20), centres]
    assert np.all((gains > 0.9) & (gains < 1.1)), gains
    far = response[np.arange(2, 20), centres[:-2]]  # each filter at the centre of the band two below it
    assert far.max() < 0.05, far


def test_float32_arithmetic_only_rounds_the_float64_design():
    taps, t = 129, np.arange(129) - 64.0
    edges = mel_band_edges(70, FS)
    def lowpass(cut: float) -> np.ndarray:
        return 2 * cut / FS * np.sinc(2 * cut * t / FS)

    ideal = [(lowpass(hi) - lowpass(lo)) * np.hamming(taps)
             for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    mine = sinc_bandpass_filters(70, 128, FS)[:, 0].double().numpy()
    diff = np.abs(mine - np.array(ideal)).max()
    assert 0 < diff < 1e-6  # not bit-identical: the sinc argument is rounded to float32 as released


def test_filterbank_band_passes_a_sine_and_rejects_it_elsewhere():
    bank = SincFilterbank(20, 1024, FS)
    edges = mel_band_edges(20, FS)
    band = int(np.searchsorted(edges, 1000.0)) - 1
    freq = (edges[band] + edges[band + 1]) / 2
    wave = torch.from_numpy(np.sin(2 * np.pi * freq * np.arange(8000) / FS).astype(np.float32))
    out = bank(wave[None])  # (1, 20, 8000 - 1024)
    assert out.shape == (1, 20, 8000 - 1024)
    rms = out[0].pow(2).mean(dim=1).sqrt()
    assert rms[band].item() == pytest.approx(1 / np.sqrt(2), rel=0.1)
    assert torch.cat([rms[:band - 1], rms[band + 2:]]).max().item() < 0.05


def test_bad_shapes_are_clear_errors():
    bank = SincFilterbank(4, 16, FS)
    assert bank.kernel_size == 17
    with pytest.raises(ValueError, match=r"\(B, samples\)"):
        bank(torch.zeros(2, 3, 100))
    with pytest.raises(ValueError, match="shorter than the sinc kernel"):
        bank(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="n_filters >= 1"):
        SincFilterbank(0, 16, FS)
