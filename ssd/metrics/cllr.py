"""Log-likelihood-ratio cost (Cllr, in bits): how good the scores are as calibrated LLRs.

``Cllr = (mean log2(1 + e^-s) over bona fide + mean log2(1 + e^s) over spoofs) / 2``, the ASVspoof 5
definition (bona fide is the "target" class). A perfect, calibrated detector scores 0 bits; a detector
that always outputs 0 (no information) scores 1 bit; badly calibrated scores can score far above 1
even when they rank the trials well.
"""

from __future__ import annotations

import math

import numpy as np


def cllr(bonafide: np.ndarray, spoof: np.ndarray) -> float:
    """Cllr in bits of LLR scores (higher = bona fide); ``logaddexp`` keeps huge scores finite."""
    bona = np.asarray(bonafide, dtype=np.float64)
    spf = np.asarray(spoof, dtype=np.float64)
    if bona.size == 0 or spf.size == 0:
        raise ValueError(f"Cllr needs bona fide and spoof scores, got {bona.size} and {spf.size}")
    miss = np.mean(np.logaddexp(0.0, -bona))
    false_alarm = np.mean(np.logaddexp(0.0, spf))
    return float((miss + false_alarm) / (2.0 * math.log(2.0)))
