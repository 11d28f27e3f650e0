"""t-DCF: legacy 2019 and revised 2021 forms against a threshold-by-threshold reference; undefined cases."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.metrics.eer import det_curve
from ssd.metrics.tdcf import (
    AsvOperatingPoint,
    TdcfUndefinedError,
    asv_operating_point,
    min_tdcf,
    tdcf_curve_from_det,
)


@pytest.fixture
def asv_scores(rng):
    return rng.normal(3.0, 1.0, 400), rng.normal(-2.0, 1.5, 600), rng.normal(1.0, 2.0, 500)


@pytest.mark.parametrize("points", ["official", "distinct"])
def test_asv_operating_point_matches_reference(asv_scores, ref, points):
    target, nontarget, spoof = asv_scores
    point = asv_operating_point(target, nontarget, spoof, points)
    assert (point.p_fa, point.p_miss, point.p_miss_spoof) == ref.asv_rates(target, nontarget, spoof, points)
    assert 0.0 < point.p_fa < 0.2 and 0.0 < point.p_miss < 0.2 and 0.1 < point.p_miss_spoof < 0.9


@pytest.mark.parametrize("points", ["official", "distinct"])
@pytest.mark.parametrize("variant", ["legacy", "revised"])
def test_min_tdcf_matches_reference(rng, asv_scores, ref, variant, points):
    point = asv_operating_point(*asv_scores, points)
    bona = np.round(rng.normal(1.5, 1.0, 600), 1)
    spoof = np.round(rng.normal(-0.5, 1.0, 900), 1)
    value = min_tdcf(bona, spoof, point, variant, points=points)
    expected = ref.min_tdcf(bona, spoof, point.p_fa, point.p_miss, point.p_miss_spoof, variant, points)
    assert value == pytest.approx(expected, rel=1e-12)
    assert 0.0 < value < 1.0


def test_legacy_and_revised_differ_and_both_are_one_for_a_useless_cm(asv_scores):
    point = asv_operating_point(*asv_scores)
    same = np.zeros(10)
    # A CM that cannot separate anything: accepting all or rejecting all is best; normalised cost is 1.
    assert min_tdcf(same, same, point, "legacy") == pytest.approx(1.0)
    assert min_tdcf(same, same, point, "revised") == pytest.approx(1.0)
    bona, spoof = np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.5, 2.5])
    assert min_tdcf(bona, spoof, point, "legacy") != pytest.approx(min_tdcf(bona, spoof, point, "revised"))


def test_perfect_cm_has_zero_legacy_tdcf(asv_scores):
    point = asv_operating_point(*asv_scores)
    assert min_tdcf(np.array([5.0, 6.0]), np.array([0.0, 1.0]), point) == 0.0


def test_curve_is_aligned_with_det_thresholds(asv_scores):
    point = asv_operating_point(*asv_scores)
    det = det_curve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 2.0]))
    curve = tdcf_curve_from_det(det, point)
    assert curve.shape == det.thresholds.shape


def test_asv_rejecting_every_spoof_makes_legacy_tdcf_undefined():
    point = AsvOperatingPoint(threshold=0.0, p_fa=0.01, p_miss=0.01, p_miss_spoof=1.0)
    with pytest.raises(TdcfUndefinedError, match="rejects every spoof"):
        min_tdcf(np.array([1.0]), np.array([0.0]), point)


def test_unknown_variant_and_missing_spoof_scores_are_refused(asv_scores):
    target, nontarget, _ = asv_scores
    with pytest.raises(ValueError, match="no ASV spoof scores"):
        asv_operating_point(target, nontarget, np.array([]))
    point = asv_operating_point(*asv_scores)
    with pytest.raises(ValueError, match="unknown t-DCF variant"):
        min_tdcf(np.array([1.0]), np.array([0.0]), point, "2015")
