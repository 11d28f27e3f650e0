"""Bootstrap confidence intervals of the EER and min t-DCF, stratified by class, seeded.

Each replicate redraws the bona fide trials and the spoof trials with replacement (same counts as the
original set) and keeps the ASV operating point fixed (only CM trials are resampled). A replicate is
represented by how often it draws each trial, so the trials are sorted once for all replicates: the
official walk over a resampled set visits the sorted trials in the same order, each copy being one
DET point. Along a run of trials of one class the t-DCF is linear, so it is minimised at the ends of
such runs; the EER point sits where the miss rate overtakes the false-alarm rate, found exactly with
integer counts inside the run that crosses.
Percentile intervals; 1,000 replicates and seed 0 by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssd.metrics.eer import check_det_points

DEFAULT_REPLICATES = 1000
DEFAULT_SEED = 0
_CHUNK_CELLS = 2_000_000  # replicates x trials per chunk: bounds memory to a few tens of MB


@dataclass(frozen=True)
class Interval:
    """A two-sided percentile interval."""

    low: float
    high: float

    def text(self, scale: float = 1.0, digits: int = 3) -> str:
        return f"[{scale * self.low:.{digits}f}, {scale * self.high:.{digits}f}]"


@dataclass(frozen=True)
class BootstrapIntervals:
    """Intervals of the pooled EER (a fraction) and min t-DCF (None without ASV scores)."""

    level: float
    replicates: int
    seed: int
    eer: Interval
    min_tdcf: Interval | None

    def to_json(self) -> dict:
        return {
            "level": self.level,
            "replicates": self.replicates,
            "seed": self.seed,
            "resampled": "CM trials, stratified by class; ASV operating point fixed",
            "eer": [self.eer.low, self.eer.high],
            "min_tdcf": None if self.min_tdcf is None else [self.min_tdcf.low, self.min_tdcf.high],
        }


def _draw_counts(rng: np.random.Generator, n: int, replicates: int) -> np.ndarray:
    """How often each of ``n`` trials is drawn in each replicate (rows sum to ``n``)."""
    draws = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates) * n)[:, None]
    return np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n)


def _interval(values: np.ndarray, level: float) -> Interval:
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high))


def bootstrap_intervals(
    sorted_scores: np.ndarray,
    sorted_is_bonafide: np.ndarray,
    level: float = 0.95,
    replicates: int = DEFAULT_REPLICATES,
    seed: int = DEFAULT_SEED,
    tdcf_weights: tuple[float, float, float, float] | None = None,
    points: str = "official",
) -> BootstrapIntervals:
    """Intervals for trials sorted by ``official_order``; ``tdcf_weights`` as ``tdcf.tdcf_weights``."""
    check_det_points(points)
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    if replicates < 2:
        raise ValueError(f"the bootstrap needs at least 2 replicates, got {replicates}")
    is_bona = np.asarray(sorted_is_bonafide, dtype=bool)
    nb = int(np.count_nonzero(is_bona))
    ns = is_bona.size - nb
    if nb == 0 or ns == 0:
        raise ValueError(f"the bootstrap needs bona fide and spoof trials, got {nb} and {ns}")
    rng = np.random.default_rng(seed)
    eers, tdcfs = [], []
    chunk = max(1, _CHUNK_CELLS // is_bona.size)
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        counts_bona = _draw_counts(rng, nb, size)
        counts_spoof = _draw_counts(rng, ns, size)
        eer, tdcf = resampled_figures(
            sorted_scores, is_bona, counts_bona, counts_spoof, tdcf_weights, points
        )
        eers.append(eer)
        tdcfs.append(tdcf)
    eer = _interval(np.concatenate(eers), level)
    tdcf = _interval(np.concatenate(tdcfs), level) if tdcf_weights is not None else None
    return BootstrapIntervals(level, replicates, seed, eer, tdcf)


def resampled_figures(
    sorted_scores: np.ndarray,
    sorted_is_bonafide: np.ndarray,
    counts_bona: np.ndarray,
    counts_spoof: np.ndarray,
    tdcf_weights: tuple[float, float, float, float] | None = None,
    points: str = "official",
) -> tuple[np.ndarray, np.ndarray | None]:
    """EER and min t-DCF of each resampled set, given how often each trial is drawn.

    ``counts_bona[r, i]`` is the multiplicity of the i-th bona fide trial (in sorted order) in
    replicate r, and likewise for spoofs; every row must keep at least one trial of each class.
    """
    is_bona = np.asarray(sorted_is_bonafide, dtype=bool)
    n = is_bona.size
    size = counts_bona.shape[0]
    nb = counts_bona.sum(axis=1, keepdims=True)
    ns = counts_spoof.sum(axis=1, keepdims=True)
    bona_upto = np.cumsum(is_bona)  # bona fide trials up to and including each sorted position
    spoof_upto = np.arange(1, n + 1) - bona_upto
    if points == "official":  # runs of one class: along a run the cost is linear, the EER step even
        ends = np.append(np.flatnonzero(is_bona[1:] != is_bona[:-1]), n - 1)
    else:
        ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), n - 1)
    cum_b = np.zeros((size, counts_bona.shape[1] + 1), dtype=np.int64)
    cum_s = np.zeros((size, counts_spoof.shape[1] + 1), dtype=np.int64)
    np.cumsum(counts_bona, axis=1, out=cum_b[:, 1:])
    np.cumsum(counts_spoof, axis=1, out=cum_s[:, 1:])
    # bona fide rejected / spoofs accepted after each boundary, with "accept all" first
    zero = np.zeros((size, 1), np.int64)
    miss = np.concatenate([zero, cum_b[:, bona_upto[ends]]], axis=1)
    accepted = ns - np.concatenate([zero, cum_s[:, spoof_upto[ends]]], axis=1)
    diff = miss * ns - accepted * nb  # (P_miss - P_fa) * nb * ns: exact, and increasing along the walk
    if points == "distinct":
        k = np.argmin(np.abs(diff), axis=1)
        rows = np.arange(size)
        eer = (miss[rows, k] / nb[:, 0] + accepted[rows, k] / ns[:, 0]) / 2
    else:
        eer = _official_eer(diff, miss, accepted, is_bona[ends], nb[:, 0], ns[:, 0])
    tdcf = None
    if tdcf_weights is not None:
        c0, c1, c2, norm = tdcf_weights
        tdcf = ((c0 + c1 * (miss / nb) + c2 * (accepted / ns)) / norm).min(axis=1)
    return eer, tdcf


def _official_eer(
    diff: np.ndarray,
    miss: np.ndarray,
    accepted: np.ndarray,
    run_is_bona: np.ndarray,
    nb: np.ndarray,
    ns: np.ndarray,
) -> np.ndarray:
    """EER of each replicate on the walk over every copy: the crossing lies inside one run's copies."""
    rows = np.arange(diff.shape[0])
    e = np.argmax(diff >= 0, axis=1)  # first boundary at or past the crossing; e >= 1 as diff[:, 0] < 0
    before = diff[rows, e - 1]
    bona = run_is_bona[e - 1]  # the run of one class whose copies cross
    step = np.where(bona, ns, nb)
    j = (-before + step - 1) // step  # copies of that run needed to reach diff >= 0
    d_after = before + j * step
    d_before = d_after - step
    used = np.where(-d_before <= d_after, j - 1, j)  # the first of two equally close points wins
    m = miss[rows, e - 1] + np.where(bona, used, 0)
    a = accepted[rows, e - 1] - np.where(bona, 0, used)
    return (m / nb + a / ns) / 2
