"""Independent, deliberately plain reference computations of the metrics, and fixture file paths.

The references walk the thresholds one by one (no cumulative sums, no shared code with
``ssd.metrics``), straight from the definitions in DESIGN.md, so they are slow but obviously right.
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


def ref_points(bona, spoof) -> list[tuple[float, float, float]]:
    """(miss, false alarm, threshold) for accepting score >= t, t over every distinct score and +inf."""
    bona, spoof = np.asarray(bona, dtype=float), np.asarray(spoof, dtype=float)
    thresholds = sorted(set(bona.tolist()) | set(spoof.tolist())) + [float("inf")]
    points = []
    for t in thresholds:
        miss = np.count_nonzero(bona < t) / bona.size
        fa = np.count_nonzero(spoof >= t) / spoof.size
        points.append((miss, fa, t))
    return points


def ref_eer(bona, spoof) -> tuple[float, float]:
    """Mean of miss and false alarm at the first threshold where they are closest."""
    best = None
    for miss, fa, t in ref_points(bona, spoof):
        if best is None or abs(miss - fa) < abs(best[0] - best[1]):
            best = (miss, fa, t)
    return (best[0] + best[1]) / 2, best[2]


def ref_asv_rates(target, nontarget, spoof) -> tuple[float, float, float]:
    """ASV (Pfa, Pmiss, Pmiss_spoof) at the ASV EER threshold."""
    _, t = ref_eer(target, nontarget)
    return (
        float(np.mean(np.asarray(nontarget) >= t)),
        float(np.mean(np.asarray(target) < t)),
        float(np.mean(np.asarray(spoof) < t)),
    )


def ref_min_tdcf(bona, spoof, pfa_asv, pmiss_asv, pmiss_spoof_asv, variant="legacy") -> float:
    """Minimum normalised t-DCF, threshold by threshold, in the legacy 2019 or revised 2021 form."""
    c1 = P_TAR * (C_MISS_CM - C_MISS_ASV * pmiss_asv) - P_NON * C_FA_ASV * pfa_asv
    c2 = C_FA_CM * P_SPOOF * (1 - pmiss_spoof_asv)
    c0 = 0.0
    norm = min(c1, c2)
    if variant == "revised":
        c0 = P_TAR * C_MISS_ASV * pmiss_asv + P_NON * C_FA_ASV * pfa_asv
        c1 = P_TAR * C_MISS_CM - c0
        norm = c0 + min(c1, c2)
    return min((c0 + c1 * miss + c2 * fa) / norm for miss, fa, _ in ref_points(bona, spoof))


def sorted_search_eer(bona, spoof) -> float:
    """A second, fast but independent exact EER (searchsorted over distinct thresholds) for full files."""
    bona, spoof = np.sort(bona), np.sort(spoof)
    thresholds = np.append(np.unique(np.concatenate([bona, spoof])), np.inf)
    miss = np.searchsorted(bona, thresholds, side="left") / bona.size
    fa = 1.0 - np.searchsorted(spoof, thresholds, side="left") / spoof.size
    k = np.argmin(np.abs(miss - fa))
    return float((miss[k] + fa[k]) / 2)


def sorted_search_min_tdcf(bona, spoof, pfa_asv, pmiss_asv, pmiss_spoof_asv) -> float:
    """Legacy min t-DCF with the same searchsorted DET points."""
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
