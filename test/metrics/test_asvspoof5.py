"""ASVspoof 5 metrics (minDCF, actDCF, Cllr, a-DCF, t-EER) against plain brute-force definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ssd.metrics.cllr import cllr
from ssd.metrics.dcf import ASVSPOOF5_DCF, act_dcf, min_dcf_from_det
from ssd.metrics.eer import det_curve
from ssd.metrics.sasv import ASVSPOOF5_SASV, a_dcf, t_eer

# The ASVspoof 5 challenge's cost model, written out independently of ssd.metrics
PI_SPOOF, C_MISS, C_FA = 0.05, 1.0, 10.0
PI_TAR, PI_NON, PI_SPF, C_FA_ASV, C_FA_CM = 0.9405, 0.0095, 0.05, 10.0, 10.0


def brute_min_dcf(bona, spoof, ref) -> float:
    cost = [C_MISS * (1 - PI_SPOOF) * m + C_FA * PI_SPOOF * f for m, f, _ in ref.points(bona, spoof)]
    return min(cost) / min(C_MISS * (1 - PI_SPOOF), C_FA * PI_SPOOF)


def three_class_walk(target, nontarget, spoof) -> list[tuple[float, float, float]]:
    """(P_miss target, P_fa nontarget, P_fa spoof) per point of a stable walk: target, nontarget, spoof."""
    trials = [(float(s), 0) for s in target] + [(float(s), 1) for s in nontarget]
    trials += [(float(s), 2) for s in spoof]
    sizes = (len(target), len(nontarget), len(spoof))
    rejected = [0, 0, 0]
    out = [(0.0, 1.0, 1.0)]
    for _, label in sorted(trials, key=lambda t: t[0]):
        rejected[label] += 1
        out.append((rejected[0] / sizes[0], 1 - rejected[1] / sizes[1], 1 - rejected[2] / sizes[2]))
    return out


def brute_a_dcf_walk(target, nontarget, spoof) -> float:
    norm = min(C_FA_ASV * PI_NON + C_FA_CM * PI_SPF, C_MISS * PI_TAR)
    costs = [C_MISS * PI_TAR * m + C_FA_ASV * PI_NON * fn + C_FA_CM * PI_SPF * fs
             for m, fn, fs in three_class_walk(target, nontarget, spoof)]  # fmt: skip
    return min(costs) / norm


def brute_a_dcf_thresholds(target, nontarget, spoof) -> float:
    """Exhaustive search over every threshold (accept score >= t): equal to the walk without ties."""
    norm = min(C_FA_ASV * PI_NON + C_FA_CM * PI_SPF, C_MISS * PI_TAR)
    best = math.inf
    for t in sorted(set(np.concatenate([target, nontarget, spoof]).tolist())) + [math.inf]:
        cost = C_MISS * PI_TAR * np.mean(target < t) + C_FA_ASV * PI_NON * np.mean(nontarget >= t)
        best = min(best, (cost + C_FA_CM * PI_SPF * np.mean(spoof >= t)) / norm)
    return best


def brute_t_eer(cm_tar, cm_non, cm_spf, asv_tar, asv_non, asv_spf, ref) -> float:
    """Exhaustive search over both thresholds, as the ASVspoof 5 package defines the concurrent t-EER."""
    cm = ref.points(np.concatenate([cm_tar, cm_non]), cm_spf)
    best_crit, value = math.inf, None
    for pm_asv, pf_non, pf_spf in three_class_walk(asv_tar, asv_non, asv_spf):
        if not pm_asv < pf_non:
            continue
        gaps = [abs(pm + (1 - pm) * pm_asv - (1 - pm) * pf_non) for pm, _, _ in cm]
        pm_cm, pf_cm, _ = cm[gaps.index(min(gaps))]
        with np.errstate(divide="ignore", invalid="ignore"):
            crit = abs(np.float64(pf_non) / np.float64(pf_spf) - np.float64(pf_cm) / np.float64(1 - pm_cm))
        if crit < best_crit:
            best_crit, value = crit, pf_spf * pf_cm
    return value


def test_constants_are_the_challenge_ones():
    assert ASVSPOOF5_DCF.normaliser == pytest.approx(0.5)
    assert ASVSPOOF5_DCF.bayes_threshold == pytest.approx(-math.log(1.9))
    assert (ASVSPOOF5_SASV.p_tar, ASVSPOOF5_SASV.p_non, ASVSPOOF5_SASV.p_spf) == (PI_TAR, PI_NON, PI_SPF)
    assert (ASVSPOOF5_SASV.c_miss, ASVSPOOF5_SASV.c_fa_asv, ASVSPOOF5_SASV.c_fa_cm) == (1, 10, 10)


@pytest.mark.parametrize("seed", range(5))
def test_min_dcf_act_dcf_and_cllr_match_brute_force(ref, seed):
    rng = np.random.default_rng(seed)
    bona = np.round(rng.normal(2.0, 2.0, 150), 1)  # ties on purpose
    spoof = np.round(rng.normal(-2.0, 2.0, 230), 1)
    expected = brute_min_dcf(bona, spoof, ref)
    assert min_dcf_from_det(det_curve(bona, spoof))[0] == pytest.approx(expected, abs=1e-12)
    tau = -math.log(C_MISS * (1 - PI_SPOOF) / (C_FA * PI_SPOOF))
    expected = (0.95 * np.mean(bona < tau) + 0.5 * np.mean(spoof >= tau)) / 0.5
    assert act_dcf(bona, spoof) == pytest.approx(expected, abs=1e-12)
    expected = (np.mean(np.log1p(np.exp(-bona))) + np.mean(np.log1p(np.exp(spoof)))) / 2 / math.log(2)
    assert cllr(bona, spoof) == pytest.approx(expected, abs=1e-12)


def test_cllr_landmarks():
    assert cllr(np.zeros(4), np.zeros(3)) == pytest.approx(1.0)
    assert cllr(np.array([1e4]), np.array([-1e4])) == pytest.approx(0.0, abs=1e-12)
    assert math.isfinite(cllr(np.array([-1e4]), np.array([1e4])))  # huge but finite, no overflow
    with pytest.raises(ValueError, match="Cllr needs bona fide and spoof"):
        cllr(np.array([]), np.array([1.0]))


@pytest.mark.parametrize("seed", range(6))
def test_a_dcf_matches_exhaustive_search(seed):
    rng = np.random.default_rng(seed)
    target, nontarget, spoof = rng.normal(3, 1, 40), rng.normal(0, 1, 35), rng.normal(1.5, 1.5, 30)
    value, threshold = a_dcf(target, nontarget, spoof)
    assert value == pytest.approx(brute_a_dcf_thresholds(target, nontarget, spoof), abs=1e-12)
    cost = PI_TAR * np.mean(target < threshold) + 10 * PI_NON * np.mean(nontarget >= threshold)
    assert (cost + 10 * PI_SPF * np.mean(spoof >= threshold)) / 0.595 == pytest.approx(value, abs=1e-12)
    tied = [np.round(x, 0) for x in (target, nontarget, spoof)]
    assert a_dcf(*tied)[0] == pytest.approx(brute_a_dcf_walk(*tied), abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_t_eer_matches_exhaustive_search_over_both_thresholds(ref, seed):
    rng = np.random.default_rng(seed)
    decimals = 1 if seed % 2 else 6  # with and without ties
    cm = [np.round(rng.normal(mu, 1, n), decimals) for mu, n in ((2, 30), (2, 25), (-1, 20))]
    asv = [np.round(rng.normal(mu, 1, n), decimals) for mu, n in ((2.5, 30), (-1, 25), (1, 20))]
    value = t_eer(*cm, *asv)
    assert value == pytest.approx(brute_t_eer(*cm, *asv, ref), abs=1e-12)
    assert 0.0 <= value <= 0.5


def test_t_eer_landmarks():
    high, low = np.full(4, 5.0), np.full(3, -5.0)
    # perfect CM and perfect ASV: no tandem error at the crossing
    assert t_eer(high, high[:3], low, high, low, low[:2]) == 0.0
    # a CM that ties everything, before an ASV that accepts every spoof: the path's crossing is at
    # "accept all", where every spoof passes the tandem
    assert t_eer(np.zeros(4), np.zeros(3), np.zeros(2), high, low, high[:2]) == 1.0
