"""Detection error trade-off (DET) curves and the equal error rate (EER), official by default.

Convention throughout ``ssd.metrics``: a higher score means "more bona fide", and a trial is accepted
as bona fide when ``score >= threshold``.

Two ways to place the DET operating points, chosen by name (``DET_POINTS``):

- ``"official"`` (default): the ASVspoof organisers' walk (``compute_det_curve`` of the 2019, 2021 and
  ASVspoof 5 evaluation packages): a stable sort of the bona fide scores followed by the spoof scores,
  then one operating point per trial. Inside a run of tied scores the walk rejects the bona fide trials
  first, so it passes through points no threshold can reach; published figures are computed this way,
  and the result does not depend on the order of the input lines.
- ``"distinct"``: one point per distinct score value (tied trials are never split), so every point is
  reachable by a threshold. It matters only for files with tied bona fide / spoof scores (e.g. scores
  rounded to few digits): there it gives a slightly more pessimistic, threshold-honest figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DET_POINTS = ("official", "distinct")


@dataclass(frozen=True)
class DetCurve:
    """Operating points of a detector, from "accept all" to "reject all".

    ``p_miss[k]`` is the fraction of bona fide trials rejected and ``p_fa[k]`` the fraction of spoof
    trials accepted at point ``k``; ``thresholds[k]`` is the score of the first accepted trial (``+inf``
    for the last point), so accepting ``score >= thresholds[k]`` reaches point ``k`` exactly unless the
    official walk splits a run of tied scores there.
    """

    p_miss: np.ndarray
    p_fa: np.ndarray
    thresholds: np.ndarray


def check_det_points(points: str) -> None:
    """Refuse an unknown DET point placement by naming the valid ones."""
    if points not in DET_POINTS:
        raise ValueError(f"unknown DET points {points!r}; choose one of {', '.join(DET_POINTS)}")


def _check_scores(scores: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} scores must be a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(
            f"no {what} scores: the EER and t-DCF need at least one bona fide and one spoof trial"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise ValueError(f"{what} score number {bad} is {arr[bad]}: scores must be finite")
    return arr


def official_order(scores: np.ndarray, is_bonafide: np.ndarray) -> np.ndarray:
    """Ascending score order with bona fide trials first among equal scores (the official walk's order)."""
    return np.lexsort((~np.asarray(is_bonafide, dtype=bool), scores))


def det_curve_sorted(
    sorted_scores: np.ndarray, sorted_is_bonafide: np.ndarray, points: str = "official"
) -> DetCurve:
    """DET curve of trials sorted by ``official_order``; why: lets callers sort once for many subsets."""
    check_det_points(points)
    n = sorted_scores.size
    n_bona = int(np.count_nonzero(sorted_is_bonafide))
    n_spoof = n - n_bona
    if n_bona == 0 or n_spoof == 0:
        raise ValueError(
            f"a DET curve needs bona fide and spoof trials, got {n_bona} bona fide and {n_spoof} spoof"
        )
    if points == "official":
        ends = np.arange(n)
    else:  # the last trial of each run of equal scores: thresholds sit between distinct values
        ends = np.append(np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1]), n - 1)
    bona_rejected = np.cumsum(sorted_is_bonafide, dtype=np.int64)[ends]
    spoof_rejected = (ends + 1) - bona_rejected
    p_miss = np.empty(ends.size + 1)
    p_fa = np.empty(ends.size + 1)
    p_miss[0], p_fa[0] = 0.0, 1.0
    p_miss[1:] = bona_rejected / n_bona
    p_fa[1:] = (n_spoof - spoof_rejected) / n_spoof
    first_accepted = np.append(0, ends[:-1] + 1)
    thresholds = np.append(sorted_scores[first_accepted], np.inf)
    return DetCurve(p_miss=p_miss, p_fa=p_fa, thresholds=thresholds)


def det_curve(bonafide: np.ndarray, spoof: np.ndarray, points: str = "official") -> DetCurve:
    """DET curve of bona fide against spoof scores (higher score = more bona fide)."""
    bona = _check_scores(bonafide, "bona fide")
    spf = _check_scores(spoof, "spoof")
    scores = np.concatenate([bona, spf])
    is_bona = np.zeros(scores.size, dtype=bool)
    is_bona[: bona.size] = True
    order = official_order(scores, is_bona)
    return det_curve_sorted(scores[order], is_bona[order], points)


def eer_index(det: DetCurve) -> int:
    """Index of the first DET point where miss and false-alarm rates are closest."""
    return int(np.argmin(np.abs(det.p_miss - det.p_fa)))


def eer_from_det(det: DetCurve) -> tuple[float, float]:
    """EER and its threshold: the mean of miss and false-alarm rates where the two are closest."""
    k = eer_index(det)
    return float((det.p_miss[k] + det.p_fa[k]) / 2.0), float(det.thresholds[k])


def compute_eer(bonafide: np.ndarray, spoof: np.ndarray, points: str = "official") -> tuple[float, float]:
    """Equal error rate (a fraction, not %) and the threshold reaching it (accept ``score >= threshold``)."""
    return eer_from_det(det_curve(bonafide, spoof, points))
