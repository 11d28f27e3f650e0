"""Spoofing-aware speaker verification metrics (ASVspoof 5 track 2): a-DCF and the concurrent t-EER.

- a-DCF (Shim et al., Odyssey 2024) scores one system that must accept targets and reject both
  nontargets and spoofs: ``C_miss pi_tar P_miss + C_fa,asv pi_non P_fa,non + C_fa,cm pi_spf P_fa,spf``,
  normalised by the better trivial system, minimised over the points of the official walk (stable sort
  of target, nontarget, spoof scores; one point per trial). The ASVspoof 5 challenge costs are
  pi_tar 0.9405, pi_non 0.0095, pi_spf 0.05, C_miss 1, C_fa,asv 10, C_fa,cm 10 (the defaults inside the
  official ``a_dcf.py``, 0.9 / 0.05 / 0.05 and C_fa,cm 20, are not the challenge's).
- t-EER (Kinnunen et al., TPAMI 2023) needs the CM and ASV scores of the same trials. Like the ASVspoof
  5 package it follows the spoof-prevalence-0 t-EER path (for each ASV threshold, the CM threshold where
  the tandem miss rate is closest to the tandem nontarget false-alarm rate, in the region where the ASV
  miss rate is below its false-alarm rate) and returns, at the point of that path where the tandem
  nontarget and spoof false-alarm rates agree best, the tandem spoof false-alarm rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ssd.metrics.eer import det_curve


@dataclass(frozen=True)
class SasvCosts:
    """Priors and costs of the a-DCF (ASVspoof 5 challenge values)."""

    p_tar: float = 0.9405
    p_non: float = 0.0095
    p_spf: float = 0.05
    c_miss: float = 1.0
    c_fa_asv: float = 10.0
    c_fa_cm: float = 10.0


ASVSPOOF5_SASV = SasvCosts()


def _three_class_curves(
    target: np.ndarray, nontarget: np.ndarray, spoof: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Miss rate of targets and acceptance rates of nontargets and spoofs at every point of the walk."""
    scores = np.concatenate([target, nontarget, spoof]).astype(np.float64)
    if not np.all(np.isfinite(scores)):
        raise ValueError("SASV / ASV scores must be finite")
    sizes = (target.size, nontarget.size, spoof.size)
    if min(sizes) == 0:
        raise ValueError(
            f"need target, nontarget and spoof trials, got {sizes[0]}, {sizes[1]} and {sizes[2]}"
        )
    label = np.repeat(np.arange(3, dtype=np.int8), sizes)
    order = np.lexsort((label, scores))  # ties: target, then nontarget, then spoof (a stable sort)
    ranked = label[order]
    rejected = [np.concatenate([[0], np.cumsum(ranked == k)]) for k in range(3)]
    p_miss = rejected[0] / sizes[0]
    p_fa_non = 1.0 - rejected[1] / sizes[1]
    p_fa_spf = 1.0 - rejected[2] / sizes[2]
    return p_miss, p_fa_non, p_fa_spf, scores[order]


def a_dcf(
    target: np.ndarray, nontarget: np.ndarray, spoof: np.ndarray, costs: SasvCosts = ASVSPOOF5_SASV
) -> tuple[float, float]:
    """Minimum normalised a-DCF of SASV scores and the threshold (score of the first accepted trial)."""
    p_miss, p_fa_non, p_fa_spf, ranked = _three_class_curves(
        np.asarray(target), np.asarray(nontarget), np.asarray(spoof)
    )
    cost = costs.c_miss * costs.p_tar * p_miss
    cost = cost + costs.c_fa_asv * costs.p_non * p_fa_non + costs.c_fa_cm * costs.p_spf * p_fa_spf
    accept_all = costs.c_fa_asv * costs.p_non + costs.c_fa_cm * costs.p_spf
    normed = cost / min(accept_all, costs.c_miss * costs.p_tar)
    k = int(np.argmin(normed))
    thresholds = np.append(ranked, np.inf)
    return float(normed[k]), float(thresholds[k])


def t_eer(
    cm_target: np.ndarray,
    cm_nontarget: np.ndarray,
    cm_spoof: np.ndarray,
    asv_target: np.ndarray,
    asv_nontarget: np.ndarray,
    asv_spoof: np.ndarray,
) -> float:
    """Concurrent t-EER (a fraction) of a CM and an ASV system scored on the same trials."""
    pm_asv, pf_non, pf_spf, _ = _three_class_curves(
        np.asarray(asv_target), np.asarray(asv_nontarget), np.asarray(asv_spoof)
    )
    cm = det_curve(np.concatenate([cm_target, cm_nontarget]), np.asarray(cm_spoof))
    pm_cm, pf_cm = cm.p_miss, cm.p_fa
    allowed = np.flatnonzero(pm_asv < pf_non)  # never empty: "accept all" has miss 0, false alarm 1
    m, f = pm_asv[allowed], pf_non[allowed]
    # For each ASV point, the CM point where Pmiss_tdm - Pfa_tdm changes sign; that difference grows
    # with the CM miss rate, so the first index of the neighbouring distinct miss rates are the candidates.
    levels, first = np.unique(pm_cm, return_index=True)
    d = m - f
    at = np.searchsorted(levels, -d / (1.0 - d))
    cand = first[np.clip(at[:, None] + np.arange(-2, 2), 0, levels.size - 1)]
    pc = pm_cm[cand]
    gap = np.abs(pc + (1 - pc) * m[:, None] - (1 - pc) * f[:, None])
    # the lowest CM index among equal gaps, as an argmin over the whole curve would pick
    ties = gap == gap.min(axis=1, keepdims=True)
    c = np.where(ties, cand, np.iinfo(np.int64).max).min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        crit = np.abs(f / pf_spf[allowed] - pf_cm[c] / (1 - pm_cm[c]))
    crit[np.isnan(crit)] = np.inf  # finite at "accept all", where both sides are near 1
    j = int(np.argmin(crit))
    return float(pf_spf[allowed[j]] * pf_cm[c[j]])
