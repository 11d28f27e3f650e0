"""RawBoost (Tak et al., ICASSP 2022): data boosting of raw waveforms with three families of nuisance.

1. Linear and non-linear convolutive noise (LnL): the sum, over orders j = 1..N_f, of x**j passed
   through a random cascade of FIR notch filters, each order with its own gain (orders above the first
   attenuated by a bias), as from a non-linear, band-limited channel.
2. Impulsive signal-dependent noise (ISD): up to P % of the samples, chosen uniformly, get a
   signal-proportional impulse x[n] * g_sd * (product of two uniforms in [-1, 1]).
3. Stationary signal-independent noise (SSI): white noise coloured by a random notch-filter cascade,
   added at an SNR drawn in [SNR_min, SNR_max] dB.
Algorithms 1-3 are one family each; 4-7 chain them in series (1+2+3, 1+2, 1+3, 2+3); 8 averages 1 and 2
in parallel. The ranges are those of the authors' LA and DF set-up: notch filters 1-5 bands, centres
20-8000 Hz, widths 100-1000 Hz, 10-100 taps, gain 0 dB, non-linear orders up to 5 with a 5-20 dB bias,
P = 10 %, g_sd = 2, SNR 10-40 dB. Every draw comes from the generator passed in, so the same seed gives
the same augmented waveform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import fft

ALGORITHMS = {
    0: (), 1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"), 5: ("lnl", "isd"),
    6: ("lnl", "ssi"), 7: ("isd", "ssi"), 8: ("lnl+isd",),
}
# The configurations recommended by the authors: LA's telephony-like channels, DF's compression.
PRESETS = {"rawboost_la": 5, "rawboost_df": 3}


@dataclass(frozen=True)
class RawBoostConfig:
    """Parameter ranges (inclusive) of the three noise families."""

    bands: tuple[int, int] = (1, 5)  # notch filters in a cascade
    centre_hz: tuple[float, float] = (20.0, 8000.0)
    width_hz: tuple[float, float] = (100.0, 1000.0)
    taps: tuple[int, int] = (10, 100)
    gain_db: tuple[float, float] = (0.0, 0.0)
    orders: int = 5  # N_f: LnL sums x, x**2, ..., x**N_f
    bias_db: tuple[float, float] = (5.0, 20.0)  # attenuation of the non-linear orders
    isd_percent: float = 10.0  # P: at most this share of samples is hit
    isd_gain: float = 2.0  # g_sd
    snr_db: tuple[float, float] = (10.0, 40.0)


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = np.max(np.abs(x))
    return x / peak if peak > 0 else x


RESPONSE_POINTS = 512  # frequencies in [0, fs/2) where a cascade's peak gain is measured


def bandstop_fir(taps: int, low: float, high: float, fs: float) -> np.ndarray:
    """Hamming-windowed sinc band-stop FIR (odd ``taps``) rejecting [low, high] Hz, unit gain at 0 Hz:
    the low-pass to ``low`` plus the high-pass from ``high``, as a window-method design gives them."""
    f1, f2 = 2 * low / fs, 2 * high / fs
    m = np.arange(taps) - (taps - 1) / 2
    h = (f1 * np.sinc(f1 * m) + np.sinc(m) - f2 * np.sinc(f2 * m)) * np.hamming(taps)
    return h / h.sum()


def notch_cascade(rng: np.random.Generator, fs: int, cfg: RawBoostConfig, gain_db: tuple[float, float]
                  ) -> np.ndarray:
    """FIR taps of a cascade of random band-stop filters, scaled to a random peak gain."""
    taps = np.ones(1)
    nyquist = fs / 2
    for _ in range(int(rng.integers(cfg.bands[0], cfg.bands[1] + 1))):
        centre = rng.uniform(*cfg.centre_hz)
        width = rng.uniform(*cfg.width_hz)
        low, high = max(centre - width / 2, 1.0), min(centre + width / 2, nyquist - 1.0)
        n = int(rng.integers(cfg.taps[0], cfg.taps[1] + 1)) | 1  # odd: a band-stop FIR needs a centre tap
        if low < high:
            taps = np.convolve(taps, bandstop_fir(n, low, high, fs))
    size = max(2 * RESPONSE_POINTS, len(taps))  # the response at k * fs / 1024 Hz, k < 512
    peak = np.max(np.abs(np.fft.rfft(taps, size)[: size // 2]))
    gain = 10 ** (rng.uniform(*gain_db) / 20)
    return gain * taps / peak


def filtered_sum(signals: list[np.ndarray], filters: list[np.ndarray]) -> np.ndarray:
    """sum_k (signals[k] * filters[k]), each the causal FIR output cut to the signal's length.

    By overlap-add in blocks a few times the longest filter: the products of every pair are summed in
    the frequency domain and one inverse FFT per block gives the sum (a whole-signal FFT per filter, or
    a convolution per pair, costs about twice as much).
    """
    n, taps = len(signals[0]), max(len(f) for f in filters)
    size = fft.next_fast_len(max(4 * taps, 1024), real=True)
    step = size - taps + 1  # new samples per block
    blocks = -(-n // step)
    spectrum = 0
    for x, f in zip(signals, filters, strict=True):
        chunks = np.zeros((blocks, step))
        chunks.reshape(-1)[:n] = x
        spectrum = spectrum + fft.rfft(chunks, size, axis=1) * fft.rfft(f, size)
    out = fft.irfft(spectrum, size, axis=1)  # (blocks, size): block b starts at b * step
    y = np.zeros(blocks * step + size)
    for b in range(blocks):
        y[b * step:b * step + size] += out[b]
    return y[:n]


def linear_nonlinear(x: np.ndarray, fs: int, rng: np.random.Generator, cfg: RawBoostConfig) -> np.ndarray:
    """Family 1: sum of notch-filtered powers of x (orders 2.. attenuated by the bias), peak-normalised."""
    powers, filters = [], []
    gain = cfg.gain_db
    power = np.ones_like(x)
    for order in range(1, cfg.orders + 1):
        if order == 2:
            gain = (cfg.gain_db[0] - cfg.bias_db[1], cfg.gain_db[1] - cfg.bias_db[0])  # 20 to 5 dB below
        power = power * x  # x ** order, by products (np.power is several times slower)
        powers.append(power)
        filters.append(notch_cascade(rng, fs, cfg, gain))
    return _normalise(filtered_sum(powers, filters))


def impulsive(x: np.ndarray, rng: np.random.Generator, cfg: RawBoostConfig) -> np.ndarray:
    """Family 2: signal-proportional impulses on a random share (0 to P %) of the samples."""
    share = rng.integers(0, int(cfg.isd_percent) + 1) / 100
    hit = rng.permutation(len(x))[: int(len(x) * share)]
    y = x.copy()
    shape = rng.uniform(-1, 1, len(hit)) * rng.uniform(-1, 1, len(hit))
    y[hit] += cfg.isd_gain * x[hit] * shape
    return _normalise(y)


def stationary(x: np.ndarray, fs: int, rng: np.random.Generator, cfg: RawBoostConfig) -> np.ndarray:
    """Family 3: coloured white noise added at a random SNR."""
    noise = filtered_sum([rng.standard_normal(len(x))], [notch_cascade(rng, fs, cfg, cfg.gain_db)])
    snr = rng.uniform(*cfg.snr_db)
    power_x, power_n = np.mean(x ** 2), np.mean(noise ** 2)
    if power_x == 0 or power_n == 0:
        return x.copy()
    return x + noise * np.sqrt(power_x / (power_n * 10 ** (snr / 10)))


def rawboost(x: np.ndarray, fs: int, algorithm: int, rng: np.random.Generator,
             cfg: RawBoostConfig = RawBoostConfig()) -> np.ndarray:
    """Apply RawBoost ``algorithm`` (0: nothing, 1-8: see the module docstring) to a 1-D waveform."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"RawBoost algorithm must be one of {sorted(ALGORITHMS)}, got {algorithm!r}")
    y = np.asarray(x, dtype=np.float64)
    for step in ALGORITHMS[algorithm]:
        if step == "lnl":
            y = linear_nonlinear(y, fs, rng, cfg)
        elif step == "isd":
            y = impulsive(y, rng, cfg)
        elif step == "ssi":
            y = stationary(y, fs, rng, cfg)
        else:  # "lnl+isd": both from the same input, averaged
            y = _normalise(linear_nonlinear(y, fs, rng, cfg) + impulsive(y, rng, cfg))
    return y


def algorithm_of(setting: object) -> int:
    """``data.rawboost`` -> algorithm number: none (0), 0-8, or a preset name (rawboost_la, rawboost_df)."""
    if setting in (None, "none"):
        return 0
    if isinstance(setting, str) and setting in PRESETS:
        return PRESETS[setting]
    if isinstance(setting, str) and setting.isdigit():  # from the command line: --data.rawboost 5
        setting = int(setting)
    if isinstance(setting, int) and not isinstance(setting, bool) and setting in ALGORITHMS:
        return setting
    raise ValueError(f"data.rawboost must be none, 0-8 or one of {', '.join(PRESETS)}, got {setting!r}")


def crop_augmenter(algorithm: int, fs: int, features=None):
    """``augment(crop, rng)`` for RandomCropDataset's (samples, 1) waveform crops.

    With ``features`` (waveform -> (frames, dims), e.g. LFCC) it returns the augmented crop's features,
    the crop first brought back to its own peak: RawBoost peak-normalises, and level-dependent features
    (LFCC's log energies) would otherwise not match the unaugmented dev features. Algorithm 0 leaves the
    crop as it is (features of crops augmented elsewhere, e.g. cut from codec variants).
    """
    def augment(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not algorithm:
            return crop if features is None else features(crop[:, 0])
        boosted = rawboost(crop[:, 0], fs, algorithm, rng)
        if features is None:
            return boosted[:, None]
        peak, boosted_peak = np.max(np.abs(crop)), np.max(np.abs(boosted))
        return features(boosted * (peak / boosted_peak) if boosted_peak > 0 else boosted)

    return augment
