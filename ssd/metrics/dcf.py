"""Normalised detection cost of a stand-alone CM (ASVspoof 5 track 1): minDCF and actDCF.

The cost of a CM at a threshold is ``C_miss (1 - pi_spoof) P_miss + C_fa pi_spoof P_fa`` (``P_miss``:
bona fide trials below the threshold, ``P_fa``: spoofs at or above it), normalised by the cost of the
better of "accept all" and "reject all", ``min(C_miss (1 - pi_spoof), C_fa pi_spoof)``; the ASVspoof 5
evaluation package uses pi_spoof 0.05, C_miss 1, C_fa 10, so the normalised cost is
``1.9 P_miss + P_fa``. minDCF minimises it over the DET points; actDCF evaluates it at the Bayes
threshold ``-ln(C_miss (1 - pi_spoof) / (C_fa pi_spoof))``, which is only meaningful when the scores
are log-likelihood ratios (calibrated), so actDCF - minDCF measures the calibration loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ssd.metrics.eer import DetCurve


@dataclass(frozen=True)
class DcfCosts:
    """Spoof prior and CM error costs of the ASVspoof 5 detection cost function."""

    p_spoof: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 10.0

    @property
    def miss_weight(self) -> float:
        return self.c_miss * (1.0 - self.p_spoof)

    @property
    def fa_weight(self) -> float:
        return self.c_fa * self.p_spoof

    @property
    def normaliser(self) -> float:
        """Cost of the better trivial system (accept all or reject all)."""
        return min(self.miss_weight, self.fa_weight)

    @property
    def bayes_threshold(self) -> float:
        """Where a log-likelihood-ratio score minimises the expected cost: ``-ln(beta)``."""
        return -math.log(self.miss_weight / self.fa_weight)

    @property
    def effective_prior(self) -> float:
        """Bona fide prior that folds the costs in (the prior a calibration should be trained for)."""
        return self.miss_weight / (self.miss_weight + self.fa_weight)


ASVSPOOF5_DCF = DcfCosts()


def min_dcf_from_det(det: DetCurve, costs: DcfCosts = ASVSPOOF5_DCF) -> tuple[float, float]:
    """Minimum normalised DCF over the DET points, and the threshold reaching it."""
    cost = (costs.miss_weight * det.p_miss + costs.fa_weight * det.p_fa) / costs.normaliser
    k = int(np.argmin(cost))
    return float(cost[k]), float(det.thresholds[k])


def act_dcf(bonafide: np.ndarray, spoof: np.ndarray, costs: DcfCosts = ASVSPOOF5_DCF) -> float:
    """Normalised DCF at the Bayes threshold, taking the scores as log-likelihood ratios."""
    tau = costs.bayes_threshold
    p_miss = np.count_nonzero(np.asarray(bonafide) < tau) / np.size(bonafide)
    p_fa = np.count_nonzero(np.asarray(spoof) >= tau) / np.size(spoof)
    return float((costs.miss_weight * p_miss + costs.fa_weight * p_fa) / costs.normaliser)
