"""Trivial countermeasures that tell whether the mini corpus is too easy.

If a logistic regression on an utterance's mean LFCC, or the share of its energy above 6 kHz, already
separates bona fide from spoof on eval, the corpus leaks its labels through level, bandwidth or codec
and a deep model's figures on it would mean nothing. Both are fitted on train only (the regression's
weights; the sign of the energy score) and report EER on dev and eval.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ssd.data.asvspoof2019 import SETS, audio_dir, protocol_path, read_cm_protocol
from ssd.frontend.audio import read_audio
from ssd.frontend.lfcc import lfcc
from ssd.metrics.eer import compute_eer

HIGH_BAND_HZ = 6000.0
SPECTRUM_FFT = 512


def high_band_share(waveform: np.ndarray, fs: int) -> float:
    """log10 of the share of energy above 6 kHz in the long-term (Hann, 50 % overlap) power spectrum."""
    x = np.asarray(waveform, dtype=np.float64)
    x = np.pad(x, (0, max(0, SPECTRUM_FFT - x.size)))
    frames = np.lib.stride_tricks.sliding_window_view(x, SPECTRUM_FFT)[:: SPECTRUM_FFT // 2]
    power = (np.abs(np.fft.rfft(frames * np.hanning(SPECTRUM_FFT), axis=1)) ** 2).sum(axis=0)
    high = float(power[np.fft.rfftfreq(SPECTRUM_FFT, 1.0 / fs) >= HIGH_BAND_HZ].sum())
    return float(np.log10((high + 1e-20) / (float(power.sum()) + 1e-20)))


def utterance_features(waveform: np.ndarray, fs: int, cepstra: np.ndarray | None = None
                       ) -> tuple[np.ndarray, float]:
    """Mean of the 60 LFCCs over all frames, and the log energy share above 6 kHz.

    ``cepstra`` passes the waveform's LFCC matrix when the caller already has it.
    """
    cepstra = lfcc(waveform, fs) if cepstra is None else cepstra
    return cepstra.mean(axis=0), high_band_share(waveform, fs)


@dataclass(frozen=True)
class LogisticModel:
    """Standardisation statistics and weights of a binary logistic regression."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Log-odds of bona fide (higher = more bona fide)."""
        return ((features - self.mean) / self.scale) @ self.weights + self.bias


def fit_logistic(features: np.ndarray, is_bonafide: np.ndarray, l2: float = 1e-2,
                 iterations: int = 50) -> LogisticModel:
    """L2-regularised, class-balanced logistic regression fitted by Newton's method (numpy only)."""
    y = np.asarray(is_bonafide, dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("logistic regression needs both bona fide and spoof training utterances")
    mean = features.mean(axis=0)
    scale = np.maximum(features.std(axis=0), 1e-9)
    x = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    theta = np.zeros(x.shape[1])
    penalty = l2 * len(x) * np.eye(x.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ theta, -30, 30)))
        grad = x.T @ (weight * (p - y)) + penalty @ theta
        hess = (x * (weight * p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return LogisticModel(mean=mean, scale=scale, weights=theta[:-1], bias=float(theta[-1]))


@dataclass(frozen=True)
class SplitFeatures:
    """Per-utterance baseline features of one split."""

    mean_lfcc: np.ndarray
    high_band: np.ndarray
    is_bonafide: np.ndarray


def _eer(scores: np.ndarray, is_bonafide: np.ndarray) -> float:
    return compute_eer(scores[is_bonafide], scores[~is_bonafide])[0]


def evaluate(splits: dict[str, SplitFeatures]) -> dict[str, dict[str, float]]:
    """EER (fraction) of both trivial baselines on every split but train, fitted on ``splits['train']``.

    Returns ``{"mean-LFCC logistic regression": {"dev": eer, "eval": eer}, "energy above 6 kHz": ...}``.
    """
    train = splits["train"]
    model = fit_logistic(train.mean_lfcc, train.is_bonafide)
    # The sign of the energy score is the one that works on train (bona fide higher or lower).
    sign = 1.0 if _eer(train.high_band, train.is_bonafide) <= 0.5 else -1.0
    results: dict[str, dict[str, float]] = {"mean-LFCC logistic regression": {}, "energy above 6 kHz": {}}
    for name, split in splits.items():
        if name == "train":
            continue
        lr_scores = model.scores(split.mean_lfcc)
        results["mean-LFCC logistic regression"][name] = _eer(lr_scores, split.is_bonafide)
        results["energy above 6 kHz"][name] = _eer(sign * split.high_band, split.is_bonafide)
    return results


def corpus_features(corpus_dir: str | os.PathLike) -> dict[str, SplitFeatures]:
    """Baseline features of every CM utterance of an LA-layout corpus, read from its flac files."""
    splits = {}
    for split in SETS:
        entries = read_cm_protocol(protocol_path(corpus_dir, split))
        feats = [utterance_features(*read_audio(str(audio_dir(corpus_dir, split) / f"{e.utt}.flac"), e.utt))
                 for e in entries]
        splits[split] = SplitFeatures(
            mean_lfcc=np.stack([f[0] for f in feats]),
            high_band=np.array([f[1] for f in feats]),
            is_bonafide=np.array([e.key == "bonafide" for e in entries]),
        )
    return splits
