"""Exact detection error trade-off (DET) curves and the equal error rate (EER).

Convention throughout ``ssd.metrics``: a higher score means "more bona fide", and a trial is accepted
as bona fide when ``score >= threshold``. The DET curve has one operating point per *distinct* score
value (plus "reject everything"), so tied scores are never split: the official ASVspoof 2019 code
walks the sorted trials one by one, which on tied scores yields points no threshold can reach and
makes its result depend on the order of the input lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetCurve:
    """Every reachable operating point of a detector, from "accept all" to "reject all".

    ``p_miss[k]`` is the fraction of bona fide trials rejected and ``p_fa[k]`` the fraction of spoof
    trials accepted when accepting ``score >= thresholds[k]``; the last threshold is ``+inf``.
    """

    p_miss: np.ndarray
    p_fa: np.ndarray
    thresholds: np.ndarray


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


def det_curve_sorted(sorted_scores: np.ndarray, sorted_is_bonafide: np.ndarray) -> DetCurve:
    """DET curve of trials already sorted by ascending score; why: lets callers sort once for many subsets."""
    n = sorted_scores.size
    n_bona = int(np.count_nonzero(sorted_is_bonafide))
    n_spoof = n - n_bona
    if n_bona == 0 or n_spoof == 0:
        raise ValueError(
            f"a DET curve needs bona fide and spoof trials, got {n_bona} bona fide and {n_spoof} spoof"
        )
    # Index of the last trial of each run of equal scores: thresholds sit between distinct values.
    group_end = np.flatnonzero(sorted_scores[1:] != sorted_scores[:-1])
    group_end = np.append(group_end, n - 1)
    bona_rejected = np.cumsum(sorted_is_bonafide, dtype=np.int64)[group_end]
    spoof_rejected = (group_end + 1) - bona_rejected
    p_miss = np.empty(group_end.size + 1)
    p_fa = np.empty(group_end.size + 1)
    p_miss[0], p_fa[0] = 0.0, 1.0
    p_miss[1:] = bona_rejected / n_bona
    p_fa[1:] = (n_spoof - spoof_rejected) / n_spoof
    thresholds = np.append(sorted_scores[group_end], np.inf)
    return DetCurve(p_miss=p_miss, p_fa=p_fa, thresholds=thresholds)


def det_curve(bonafide: np.ndarray, spoof: np.ndarray) -> DetCurve:
    """Exact DET curve of bona fide against spoof scores (higher score = more bona fide)."""
    bona = _check_scores(bonafide, "bona fide")
    spf = _check_scores(spoof, "spoof")
    scores = np.concatenate([bona, spf])
    is_bona = np.zeros(scores.size, dtype=bool)
    is_bona[: bona.size] = True
    order = np.argsort(scores)
    return det_curve_sorted(scores[order], is_bona[order])


def eer_from_det(det: DetCurve) -> tuple[float, float]:
    """EER and its threshold: the mean of miss and false-alarm rates where the two are closest."""
    k = int(np.argmin(np.abs(det.p_miss - det.p_fa)))
    return float((det.p_miss[k] + det.p_fa[k]) / 2.0), float(det.thresholds[k])


def compute_eer(bonafide: np.ndarray, spoof: np.ndarray) -> tuple[float, float]:
    """Equal error rate (a fraction, not %) and the threshold reaching it (accept ``score >= threshold``)."""
    return eer_from_det(det_curve(bonafide, spoof))
