"""Independent, deliberately plain reference computations of the metrics, and fixture file paths.

The references walk the trials or thresholds one by one (no cumulative sums, no shared code with
``ssd.metrics``), straight from the definitions in DESIGN.md and the organisers' evaluation packages,
so they are slow but obviously right. ``points="official"`` is the organisers' walk: a stable sort of
the bona fide then the spoof scores, one operating point per trial, the ASV threshold being the last
score the ASV EER point rejects; ``points="distinct"`` uses one threshold per distinct score value.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

P_SPOOF = 0.05
P_TAR = 0.95 * 0.99
P_NON = 0.95 * 0.01
C_MISS_ASV, C_FA_ASV, C_MISS_CM, C_FA_CM = 1.0, 10.0, 1.0, 10.0


def ref_points(bona, spoof, points="official") -> list[tuple[float, float, float]]:
    """(miss, false alarm, threshold) per operating point, from "accept all" to "reject all".

    Official: the threshold is the organisers' (the last rejected score; the lowest score - 0.001 at
    "accept all"). Distinct: accepting score >= t, t over every distinct score and +inf.
    """
    bona, spoof = [float(x) for x in bona], [float(x) for x in spoof]
    if points == "official":
        ranked = sorted([(s, True) for s in bona] + [(s, False) for s in spoof], key=lambda t: t[0])
        miss, accepted = 0, len(spoof)
        out = [(0.0, 1.0, ranked[0][0] - 0.001)]
        for score, is_bona in ranked:  # Python's sort is stable: bona fide first among equal scores
            if is_bona:
                miss += 1
            else:
                accepted -= 1
            out.append((miss / len(bona), accepted / len(spoof), score))
        return out
    out = []
    for t in sorted(set(bona) | set(spoof)) + [float("inf")]:
        out.append((sum(b < t for b in bona) / len(bona), sum(s >= t for s in spoof) / len(spoof), t))
    return out


def ref_eer(bona, spoof, points="official") -> tuple[float, float]:
    """Mean of miss and false alarm at the first point where they are closest, and its threshold."""
    best = None
    for miss, fa, t in ref_points(bona, spoof, points):
        if best is None or abs(miss - fa) < abs(best[0] - best[1]):
            best = (miss, fa, t)
    return (best[0] + best[1]) / 2, best[2]


def ref_asv_rates(target, nontarget, spoof, points="official") -> tuple[float, float, float]:
    """ASV (Pfa, Pmiss, Pmiss_spoof) at the ASV EER threshold, counting ``score >= t`` as accepted."""
    _, t = ref_eer(target, nontarget, points)
    return (
        float(np.mean(np.asarray(nontarget) >= t)),
        float(np.mean(np.asarray(target) < t)),
        float(np.mean(np.asarray(spoof) < t)),
    )


def ref_min_tdcf(bona, spoof, pfa_asv, pmiss_asv, pmiss_spoof_asv, variant="legacy", points="official"):
    """Minimum normalised t-DCF, point by point, in the legacy 2019 or revised 2021 form.

    Revised: the 2021 package's C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv, C1 = Ptar Cmiss - C0,
    C2 = Pspoof Cfa_spoof Pfa_spoof_asv, normalised by C0 + min(C1, C2).
    """
    c1 = P_TAR * (C_MISS_CM - C_MISS_ASV * pmiss_asv) - P_NON * C_FA_ASV * pfa_asv
    c2 = C_FA_CM * P_SPOOF * (1 - pmiss_spoof_asv)
    c0 = 0.0
    norm = min(c1, c2)
    if variant == "revised":
        c0 = P_TAR * C_MISS_ASV * pmiss_asv + P_NON * C_FA_ASV * pfa_asv
        c1 = P_TAR * C_MISS_ASV - c0
        norm = c0 + min(c1, c2)
    return min((c0 + c1 * miss + c2 * fa) / norm for miss, fa, _ in ref_points(bona, spoof, points))


def sorted_search_eer(bona, spoof) -> tuple[float, float]:
    """A fast, independent tie-aware EER and threshold (searchsorted over distinct thresholds)."""
    bona, spoof = np.sort(bona), np.sort(spoof)
    thresholds = np.append(np.unique(np.concatenate([bona, spoof])), np.inf)
    miss = np.searchsorted(bona, thresholds, side="left") / bona.size
    fa = 1.0 - np.searchsorted(spoof, thresholds, side="left") / spoof.size
    k = np.argmin(np.abs(miss - fa))
    return float((miss[k] + fa[k]) / 2), float(thresholds[k])


def sorted_search_min_tdcf(bona, spoof, pfa_asv, pmiss_asv, pmiss_spoof_asv) -> float:
    """Legacy min t-DCF with the same tie-aware searchsorted DET points."""
    bona, spoof = np.sort(bona), np.sort(spoof)
    thresholds = np.append(np.unique(np.concatenate([bona, spoof])), np.inf)
    miss = np.searchsorted(bona, thresholds, side="left") / bona.size
    fa = 1.0 - np.searchsorted(spoof, thresholds, side="left") / spoof.size
    c1 = P_TAR * (C_MISS_CM - C_MISS_ASV * pmiss_asv) - P_NON * C_FA_ASV * pfa_asv
    c2 = C_FA_CM * P_SPOOF * (1 - pmiss_spoof_asv)
    return float(np.min((c1 * miss + c2 * fa) / min(c1, c2)))


@pytest.fixture(scope="session")
def ref() -> SimpleNamespace:
    """The reference implementations above, as one namespace."""
    return SimpleNamespace(
        points=ref_points,
        eer=ref_eer,
        asv_rates=ref_asv_rates,
        min_tdcf=ref_min_tdcf,
        fast_eer=sorted_search_eer,
        fast_min_tdcf=sorted_search_min_tdcf,
    )


@pytest.fixture(scope="session")
def asvspoof2019(fixtures_dir: Path) -> Path:
    """The real ASVspoof 2019 files of the shared fixtures (fails in CI, skips elsewhere, when absent)."""
    folder = fixtures_dir / "asvspoof2019"
    if not folder.is_dir():
        reason = f"{folder} is missing from SSD_FIXTURES={fixtures_dir}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return folder
