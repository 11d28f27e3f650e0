"""Tandem detection cost function (t-DCF) of a countermeasure (CM) placed before a fixed ASV system.

Two forms are offered, chosen by name:

- ``"legacy"`` (default): the normalised t-DCF of the ASVspoof 2019 challenge,
  ``(C1 * Pmiss_cm + C2 * Pfa_cm) / min(C1, C2)`` with
  ``C1 = Ptar (Cmiss_cm - Cmiss_asv Pmiss_asv) - Pnon Cfa_asv Pfa_asv`` and
  ``C2 = Cfa_cm Pspoof (1 - Pmiss_spoof_asv)``; this is what published 2019 LA figures use.
- ``"revised"``: the ASVspoof 2021 form (Kinnunen et al., 2020), which adds the ASV-only cost
  ``C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv`` and normalises by ``C0 + min(C1, C2)``.

The ASV system works at the EER threshold of its target/nontarget scores, and its error rates are
counted at that threshold (accepting ``score >= threshold``). With the official DET points (default)
the threshold is the organisers': the highest score their EER walk rejects, which their script then
counts as accepted (one trial off its own EER point). With ``points="distinct"`` it is the exact EER
threshold of the tie-aware walk. Both forms are minimised over the CM DET points of the same placement.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssd.metrics.eer import DetCurve, check_det_points, det_curve, eer_index

TDCF_VARIANTS = ("legacy", "revised")


@dataclass(frozen=True)
class CostModel:
    """Priors and costs of the tandem system (ASVspoof 2019 and 2021 use the same values)."""

    p_spoof: float = 0.05
    p_tar: float = (1 - 0.05) * 0.99
    p_non: float = (1 - 0.05) * 0.01
    c_miss_asv: float = 1.0
    c_fa_asv: float = 10.0
    c_miss_cm: float = 1.0
    c_fa_cm: float = 10.0


ASVSPOOF2019_COSTS = CostModel()


@dataclass(frozen=True)
class AsvOperatingPoint:
    """Error rates of the ASV system at its fixed threshold (accepting ``score >= threshold``)."""

    threshold: float
    p_fa: float
    p_miss: float
    p_miss_spoof: float


class TdcfUndefinedError(ValueError):
    """The t-DCF normalisation is zero or negative, so the figure does not exist for these trials."""


def asv_threshold(target: np.ndarray, nontarget: np.ndarray, points: str = "official") -> float:
    """The ASV EER threshold: the organisers' rule (last rejected score) or the tie-aware exact one."""
    det = det_curve(target, nontarget, points)
    k = eer_index(det)
    if points == "distinct":
        return float(det.thresholds[k])
    # det.thresholds[k - 1] is the k-th lowest score, the last one the official walk rejects at point k
    return float(det.thresholds[k - 1]) if k > 0 else float(det.thresholds[0] - 0.001)


def asv_operating_point(
    target: np.ndarray, nontarget: np.ndarray, spoof: np.ndarray, points: str = "official"
) -> AsvOperatingPoint:
    """ASV rates at the EER threshold of target vs nontarget; ``spoof`` gives the spoof rejection rate."""
    check_det_points(points)
    spoof = np.asarray(spoof, dtype=np.float64)
    if spoof.size == 0:
        raise ValueError("no ASV spoof scores: the t-DCF needs the ASV system's scores on spoofed trials")
    if not np.all(np.isfinite(spoof)):
        raise ValueError("ASV spoof scores must be finite")
    threshold = asv_threshold(target, nontarget, points)
    return AsvOperatingPoint(
        threshold=threshold,
        p_fa=float(np.mean(np.asarray(nontarget) >= threshold)),
        p_miss=float(np.mean(np.asarray(target) < threshold)),
        p_miss_spoof=float(np.mean(spoof < threshold)),
    )


def tdcf_weights(
    asv: AsvOperatingPoint, variant: str = "legacy", costs: CostModel = ASVSPOOF2019_COSTS
) -> tuple[float, float, float, float]:
    """``(C0, C1, C2, norm)``: the normalised t-DCF at a CM point is ``(C0 + C1 Pmiss + C2 Pfa) / norm``."""
    p_fa_spoof_asv = 1.0 - asv.p_miss_spoof
    if variant == "legacy":
        c1 = costs.p_tar * (costs.c_miss_cm - costs.c_miss_asv * asv.p_miss)
        c1 -= costs.p_non * costs.c_fa_asv * asv.p_fa
        c2 = costs.c_fa_cm * costs.p_spoof * p_fa_spoof_asv
        c0 = 0.0
        norm = min(c1, c2)
    elif variant == "revised":
        c0 = costs.p_tar * costs.c_miss_asv * asv.p_miss + costs.p_non * costs.c_fa_asv * asv.p_fa
        c1 = costs.p_tar * costs.c_miss_cm - c0
        c2 = costs.p_spoof * costs.c_fa_cm * p_fa_spoof_asv
        norm = c0 + min(c1, c2)
    else:
        raise ValueError(f"unknown t-DCF variant {variant!r}; choose one of {', '.join(TDCF_VARIANTS)}")
    if c1 < 0 or c2 < 0 or norm <= 0:
        raise TdcfUndefinedError(
            f"{variant} t-DCF undefined: weights C1={c1:.4g}, C2={c2:.4g} (ASV Pmiss {asv.p_miss:.4f}, "
            f"Pfa {asv.p_fa:.4f}, spoofs accepted {p_fa_spoof_asv:.4f}); C2 is 0 when the ASV system "
            "rejects every spoof of these trials"
        )
    return c0, c1, c2, norm


def tdcf_curve_from_det(
    det: DetCurve,
    asv: AsvOperatingPoint,
    variant: str = "legacy",
    costs: CostModel = ASVSPOOF2019_COSTS,
) -> np.ndarray:
    """Normalised t-DCF at every CM threshold of ``det`` (same indexing as ``det.thresholds``)."""
    c0, c1, c2, norm = tdcf_weights(asv, variant, costs)
    return (c0 + c1 * det.p_miss + c2 * det.p_fa) / norm


def min_tdcf_from_det(
    det: DetCurve, asv: AsvOperatingPoint, variant: str = "legacy", costs: CostModel = ASVSPOOF2019_COSTS
) -> tuple[float, float]:
    """Minimum normalised t-DCF over all CM thresholds, and the threshold reaching it."""
    curve = tdcf_curve_from_det(det, asv, variant, costs)
    k = int(np.argmin(curve))
    return float(curve[k]), float(det.thresholds[k])


def min_tdcf(
    bonafide: np.ndarray,
    spoof: np.ndarray,
    asv: AsvOperatingPoint,
    variant: str = "legacy",
    costs: CostModel = ASVSPOOF2019_COSTS,
    points: str = "official",
) -> float:
    """Minimum normalised t-DCF of CM scores (higher = bona fide) in tandem with the ASV operating point."""
    return min_tdcf_from_det(det_curve(bonafide, spoof, points), asv, variant, costs)[0]
