"""Calibration: recovers a known affine map, equals a generic optimiser's fit, improves Cllr/actDCF."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from ssd.metrics.calibration import Calibration, fit_calibration
from ssd.metrics.cllr import cllr
from ssd.metrics.dcf import act_dcf, min_dcf_from_det
from ssd.metrics.eer import det_curve

PRIOR = 0.95 / (0.95 + 0.5)  # effective bona fide prior of pi_spoof 0.05, C_miss 1, C_fa 10


def raw_scores(rng, n_bona=3000, n_spoof=9000):
    """Raw scores 0.5 * llr - 4 of Gaussian classes whose true LLR is 2 * x (x ~ N(+-1, 1))."""
    bona_llr = 2 * rng.normal(1.0, 1.0, n_bona)
    spoof_llr = 2 * rng.normal(-1.0, 1.0, n_spoof)
    return 0.5 * bona_llr - 4, 0.5 * spoof_llr - 4


def test_recovers_the_true_llr_map_and_improves_the_figures(rng):
    bona, spoof = raw_scores(rng)
    cal = fit_calibration(bona, spoof, fitted_on="dev")
    assert cal.scale == pytest.approx(2.0, rel=0.05)  # llr = 2 * raw + 8
    assert cal.offset == pytest.approx(8.0, rel=0.05)
    assert cal.prior == pytest.approx(PRIOR)
    assert (cal.fitted_on, cal.n_bonafide, cal.n_spoof) == ("dev", 3000, 9000)
    new_bona, new_spoof = raw_scores(np.random.default_rng(99))  # an unseen set
    llr_bona, llr_spoof = cal.apply(new_bona), cal.apply(new_spoof)
    assert cllr(llr_bona, llr_spoof) < 0.6 < cllr(new_bona, new_spoof)
    min_dcf = min_dcf_from_det(det_curve(new_bona, new_spoof))[0]
    assert act_dcf(llr_bona, llr_spoof) - min_dcf < 0.02 < act_dcf(new_bona, new_spoof) - min_dcf


def test_equals_a_generic_optimiser_on_the_prior_weighted_objective(rng):
    bona, spoof = rng.normal(0.3, 0.8, 400), rng.normal(-0.2, 1.1, 700)
    logit = math.log(PRIOR / (1 - PRIOR))

    def objective(p):
        return (PRIOR * np.mean(np.logaddexp(0, -(p[0] * bona + p[1] + logit)))
                + (1 - PRIOR) * np.mean(np.logaddexp(0, p[0] * spoof + p[1] + logit)))  # fmt: skip

    expected = minimize(objective, [1.0, 0.0], method="BFGS", options={"gtol": 1e-10}).x
    cal = fit_calibration(bona, spoof)
    assert cal.scale == pytest.approx(expected[0], abs=1e-4)
    assert cal.offset == pytest.approx(expected[1], abs=1e-4)


def test_separable_set_stays_finite_and_posterior_uses_the_prior(rng):
    cal = fit_calibration(np.array([2.0, 3.0]), np.array([-3.0, -2.0]))
    assert math.isfinite(cal.scale) and cal.scale > 1
    equal = Calibration(1.0, 0.0, 0.5, "x", 1, 1)
    assert equal.posterior_bonafide(np.array([0.0]), 0.5)[0] == pytest.approx(0.5)
    assert equal.posterior_bonafide(np.array([0.0]), 0.2)[0] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="spoof prior must be between 0 and 1"):
        equal.posterior_bonafide(np.array([0.0]), 1.0)


def test_file_round_trip_and_bad_files(tmp_path):
    cal = Calibration(2.5, -1.25, PRIOR, "exp/a/scores/dev.txt", 10, 20)
    cal.write(tmp_path / "calibration.json")
    assert Calibration.read(tmp_path / "calibration.json") == cal
    (tmp_path / "bad.json").write_text('{"format": "ssd-calibration", "version": 1, "scale": 1}')
    with pytest.raises(ValueError, match=r"bad\.json: bad calibration field"):
        Calibration.read(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text("[]")
    with pytest.raises(ValueError, match=r"other\.json: not an ssd-calibration version 1 calibration"):
        Calibration.read(tmp_path / "other.json")


def test_nearly_constant_scores_fit_without_a_singular_matrix():
    """A barely trained model's scores differ by 1e-5: the fit must still end, with a finite mapping."""
    rng = np.random.default_rng(0)
    cal = fit_calibration(0.0654 + 1e-5 * rng.random(8), 0.0654 + 1e-5 * rng.random(9))
    assert math.isfinite(cal.scale) and math.isfinite(cal.offset)
    same = fit_calibration(np.ones(4), np.ones(5))
    assert same.scale == 0.0 and math.isfinite(same.offset)
