"""Signal-processing spoof generators: vocoder copy-synthesis and voice conversion of a real recording.

Each function takes a float waveform at ``fs`` and returns a new waveform at the same rate, saying the
same words as its input. They cover several families that leave different traces: the WORLD vocoder
(copy-synthesis and F0 + frequency-warping conversion), Griffin-Lim phase reconstruction, an LPC
vocoder with pulse/noise excitation, and a harmonic-plus-noise sinusoidal synthesiser driven by
WORLD parameters. WORLD F0 uses ``dio`` + ``stonemask`` (several times faster than ``harvest``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.signal import lfilter

with warnings.catch_warnings():
    # pyworld 0.3.5 imports the deprecated pkg_resources only to read its own version string.
    warnings.simplefilter("ignore", UserWarning)
    import pyworld

F0_FLOOR = 60.0
F0_CEIL = 700.0
FRAME_PERIOD_MS = 5.0


@dataclass(frozen=True)
class F0Stats:
    """Mean and standard deviation of a speaker's log F0 over voiced frames."""

    mean_log: float
    std_log: float

    @property
    def median_hz(self) -> float:
        return float(np.exp(self.mean_log))


def world_f0(x: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray]:
    """F0 track (0 where unvoiced) and frame times, by dio refined with stonemask."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, times = pyworld.dio(x, fs, f0_floor=F0_FLOOR, f0_ceil=F0_CEIL, frame_period=FRAME_PERIOD_MS)
    return pyworld.stonemask(x, f0, times, fs), times


def world_analysis(x: np.ndarray, fs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """WORLD parameters: F0 per 5 ms frame, spectral envelope and aperiodicity (frames, fft/2+1)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, times = world_f0(x, fs)
    sp = pyworld.cheaptrick(x, f0, times, fs, f0_floor=F0_FLOOR)
    ap = pyworld.d4c(x, f0, times, fs)
    return f0, sp, ap


def f0_stats(waveforms: list[np.ndarray], fs: int) -> F0Stats:
    """Log-F0 statistics pooled over the voiced frames of several recordings of one speaker."""
    voiced = []
    for x in waveforms:
        f0, _ = world_f0(x, fs)
        voiced.append(np.log(f0[f0 > 0]))
    logs = np.concatenate(voiced)
    if logs.size < 10:
        raise ValueError("too few voiced frames to estimate the speaker's F0")
    return F0Stats(mean_log=float(logs.mean()), std_log=float(logs.std()))


def world_copy(x: np.ndarray, fs: int) -> np.ndarray:
    """WORLD analysis followed directly by WORLD synthesis."""
    f0, sp, ap = world_analysis(x, fs)
    return pyworld.synthesize(f0, sp, ap, fs, FRAME_PERIOD_MS)


def warp_factor(source: F0Stats, target: F0Stats, exponent: float = 0.25,
                limits: tuple[float, float] = (0.8, 1.25)) -> float:
    """Frequency-warping factor from the speakers' F0 ratio: higher voices get shorter vocal tracts."""
    return float(np.clip((target.median_hz / source.median_hz) ** exponent, *limits))


def _warp_frequency(envelope: np.ndarray, alpha: float) -> np.ndarray:
    """Move spectral features from f to alpha * f by linear interpolation along frequency (bins that
    would come from beyond Nyquist hold the last value)."""
    last = envelope.shape[1] - 1
    source_bins = np.minimum(np.arange(envelope.shape[1]) / alpha, last)
    lower = np.minimum(np.floor(source_bins).astype(int), last - 1)
    frac = source_bins - lower
    return envelope[:, lower] * (1.0 - frac) + envelope[:, lower + 1] * frac


def world_convert(x: np.ndarray, fs: int, source: F0Stats, target: F0Stats, alpha: float) -> np.ndarray:
    """WORLD voice conversion toward ``target``: log-F0 mean/variance mapping and envelope warping by
    ``alpha`` (see :func:`warp_factor`)."""
    f0, sp, ap = world_analysis(x, fs)
    voiced = f0 > 0
    converted = np.zeros_like(f0)
    z = (np.log(f0[voiced]) - source.mean_log) / max(source.std_log, 1e-3)
    converted[voiced] = np.exp(target.mean_log + z * target.std_log)
    sp_warped = np.ascontiguousarray(_warp_frequency(sp, alpha))
    ap_warped = np.ascontiguousarray(np.clip(_warp_frequency(ap, alpha), 0.0, 1.0))
    return pyworld.synthesize(converted, sp_warped, ap_warped, fs, FRAME_PERIOD_MS)


def _frames(x: np.ndarray, win: int, hop: int) -> np.ndarray:
    """Zero-padded frames (n, win) covering x, frame i centred on sample i * hop (a read-only view)."""
    padded = np.concatenate([np.zeros(win // 2), x, np.zeros(win)])
    n = 1 + (len(x) + win // 2) // hop
    return np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][:n]


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum frames placed ``hop`` samples apart, one vectorised add per hop-sized block of a frame."""
    n, width = frames.shape
    blocks = -(-width // hop)
    padded = np.zeros((n, blocks * hop))
    padded[:, :width] = frames
    padded = padded.reshape(n, blocks, hop)
    out = np.zeros((n + blocks - 1, hop))
    for r in range(blocks):
        out[r : r + n] += padded[:, r]
    return out.reshape(-1)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Hann-windowed STFT (frames, n_fft // 2 + 1), centred frames."""
    window = np.hanning(n_fft + 1)[:-1]
    return np.fft.rfft(_frames(x, n_fft, hop) * window, axis=1)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`stft` (least-squares estimate from a modified STFT)."""
    window = np.hanning(n_fft + 1)[:-1]
    out = _overlap_add(np.fft.irfft(spec, n=n_fft, axis=1) * window, hop)
    norm = _overlap_add(np.broadcast_to(window**2, (len(spec), n_fft)), hop)
    out /= np.maximum(norm, 1e-8)
    start = n_fft // 2
    return out[start : start + length]


def griffin_lim(x: np.ndarray, rng: np.random.Generator, n_fft: int = 512, hop: int = 128,
                iterations: int = 32, momentum: float = 0.99) -> np.ndarray:
    """Keep only the STFT magnitude and rebuild a phase by fast Griffin-Lim (Perraudin et al., 2013)."""
    magnitude = np.abs(stft(x, n_fft, hop))
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape))
    previous = np.zeros_like(angles)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles, n_fft, hop, len(x)), n_fft, hop)
        accelerated = rebuilt - (momentum / (1.0 + momentum)) * previous
        angles = accelerated / np.maximum(np.abs(accelerated), 1e-12)
        previous = rebuilt
    return istft(magnitude * angles, n_fft, hop, len(x))


def _nearest_frame(length: int, hop: int, frames: int) -> np.ndarray:
    """For each of ``length`` samples, the frame (centred on i * hop) nearest to it."""
    return np.minimum(np.round(np.arange(length) / hop).astype(int), frames - 1)


def lpc_analysis(x: np.ndarray, order: int, win: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation LPC per frame: (frames, order + 1) polynomials, and the gain that gives a
    unit-power excitation the frame's prediction-error power."""
    frames = _frames(x, win, hop) * np.hanning(win + 2)[1:-1]
    n_fft = 1 << (2 * win - 1).bit_length()
    spectrum = np.fft.rfft(frames, n=n_fft, axis=1)
    autocorr = np.fft.irfft(np.abs(spectrum) ** 2, n=n_fft, axis=1)[:, : order + 1]
    window_energy = float(np.sum(np.hanning(win + 2)[1:-1] ** 2))
    polys = np.zeros((len(frames), order + 1))
    polys[:, 0] = 1.0
    gains = np.zeros(len(frames))
    for i, r in enumerate(autocorr):
        if r[0] <= 1e-10:
            continue
        r = r.copy()
        r[0] *= 1.0 + 1e-6  # white-noise correction keeps the normal equations well conditioned
        coefs = solve_toeplitz(r[:order], r[1 : order + 1])
        polys[i, 1:] = -coefs
        error = max(r[0] - float(np.dot(coefs, r[1 : order + 1])), 0.0)
        gains[i] = np.sqrt(error / window_energy)
    return polys, gains


def lpc_vocode(x: np.ndarray, fs: int, rng: np.random.Generator, order: int = 20,
               win_ms: float = 25.0) -> np.ndarray:
    """LPC vocoder: the residual is replaced by a pulse train (voiced) or white noise (unvoiced)."""
    hop = int(round(fs * FRAME_PERIOD_MS / 1000))
    win = int(round(fs * win_ms / 1000))
    f0, _ = world_f0(x, fs)
    polys, gains = lpc_analysis(x, order, win, hop)
    n = min(len(polys), len(f0))
    f0_track = f0[_nearest_frame(n * hop, hop, n)]
    phase = np.cumsum(f0_track / fs)
    pulses = np.zeros(n * hop)
    crossings = np.flatnonzero(np.diff(np.floor(phase)) > 0) + 1
    voiced_at = f0_track[crossings] > 0
    pulses[crossings[voiced_at]] = np.sqrt(fs / f0_track[crossings[voiced_at]])
    noise = rng.standard_normal(n * hop)
    excitation = np.where(f0_track > 0, pulses, noise)
    out = np.zeros(n * hop)
    state = np.zeros(order)
    # Frame i's filter runs over the samples nearest to its centre, i * hop.
    edges = np.clip(np.arange(n + 1) * hop - hop // 2, 0, n * hop)
    edges[-1] = n * hop
    for i in range(n):
        seg = slice(edges[i], edges[i + 1])
        out[seg], state = lfilter([gains[i]], polys[i], excitation[seg], zi=state)
    return out[: len(x)]


def harmonic_plus_noise(x: np.ndarray, fs: int, rng: np.random.Generator) -> np.ndarray:
    """Sinusoidal resynthesis from WORLD parameters: harmonics below the aperiodicity, shaped noise above.

    Each harmonic k has amplitude sqrt(2 f0 S(k f0) (1 - A(k f0))) for envelope S and aperiodicity A,
    and the noise has power spectral density S * A, so both parts share one level scale (an overall gain
    different from WORLD's own synthesis, which the channel's level normalisation removes).
    """
    f0, sp, ap = world_analysis(x, fs)
    hop = int(round(fs * FRAME_PERIOD_MS / 1000))
    n_fft = 2 * (sp.shape[1] - 1)
    length = len(f0) * hop
    frame_times = np.arange(len(f0)) * hop  # WORLD frame i is centred on sample i * hop
    samples = np.arange(length)
    voiced = f0[_nearest_frame(length, hop, len(f0))] > 0
    f0_track = np.where(voiced, np.interp(samples, frame_times, f0), 0.0)
    phase = 2.0 * np.pi * np.cumsum(f0_track / fs)
    voiced_power = sp * (1.0 - ap)
    harmonic = np.zeros(length)
    bin_hz = fs / n_fft
    voiced_f0 = f0[f0 > 0]
    max_harmonics = int(fs / 2 / voiced_f0.min()) if voiced_f0.size else 0
    for k in range(1, max_harmonics + 1):
        rows = np.flatnonzero((f0 > 0) & (k * f0 < fs / 2))
        bins = np.round(k * f0[rows] / bin_hz).astype(int)
        power = np.zeros(len(f0))
        power[rows] = voiced_power[rows, bins]
        amplitude = np.sqrt(2.0 * f0 * power)
        harmonic += np.interp(samples, frame_times, amplitude) * np.cos(k * phase)
    noise_spec = stft(rng.standard_normal(length), n_fft, hop)
    m = min(len(noise_spec), len(sp))
    shaped = noise_spec[:m] * np.sqrt(sp[:m] * ap[:m] * fs / 2.0)
    noise = istft(shaped, n_fft, hop, length)
    return (harmonic + noise)[: len(x)]
