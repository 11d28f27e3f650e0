"""EER and DET curve: exact values, tie handling, threshold meaning, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssd.metrics.eer import compute_eer, det_curve


def test_separated_scores_give_zero_eer_and_a_separating_threshold():
    eer, threshold = compute_eer(np.array([3.0, 4.0, 5.0]), np.array([0.0, 1.0, 2.0]))
    assert eer == 0.0
    assert 2.0 < threshold <= 3.0


def test_hand_computed_eer():
    # bona fide 1,3,5,7; spoof 2,4,6,8. Accepting >= 5: miss 2/4, fa 2/4 (6, 8) -> EER 0.5.
    # Accepting >= 3: miss 1/4, fa 3/4; >= 4: miss 0.5, fa 0.75; the closest pair is at 5 (|0.5-0.5| = 0).
    eer, threshold = compute_eer(np.array([1.0, 3, 5, 7]), np.array([2.0, 4, 6, 8]))
    assert eer == pytest.approx(0.5)
    assert threshold == 5.0


def test_threshold_reproduces_the_eer_rates(rng):
    bona = rng.normal(2.0, 1.0, 500)
    spoof = rng.normal(0.0, 1.0, 800)
    eer, threshold = compute_eer(bona, spoof)
    miss = np.mean(bona < threshold)
    fa = np.mean(spoof >= threshold)
    assert eer == pytest.approx((miss + fa) / 2)
    assert 0.1 < eer < 0.25


def test_official_walk_splits_ties_bona_fide_first():
    # All scores tied: the official walk rejects the 3 bona fide trials first, reaching (1, 1), where
    # miss and false alarm are equal: the organisers' EER of a constant detector is 100 %.
    det = det_curve(np.zeros(3), np.zeros(5))
    np.testing.assert_allclose(det.p_miss, [0, 1 / 3, 2 / 3, 1, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(det.p_fa, [1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0])
    assert compute_eer(np.zeros(3), np.zeros(5)) == (1.0, 0.0)


def test_distinct_walk_never_splits_ties():
    # The tie-aware option: the only reachable points are accept-all (0, 1) and reject-all (1, 0).
    det = det_curve(np.zeros(3), np.zeros(5), points="distinct")
    np.testing.assert_array_equal(det.p_miss, [0.0, 1.0])
    np.testing.assert_array_equal(det.p_fa, [1.0, 0.0])
    assert compute_eer(np.zeros(3), np.zeros(5), points="distinct")[0] == 0.5


def test_official_result_does_not_depend_on_line_order(rng):
    bona = np.round(rng.normal(1.0, 1.0, 300), 1)
    spoof = np.round(rng.normal(0.0, 1.0, 400), 1)
    eer = compute_eer(bona, spoof)
    assert compute_eer(rng.permutation(bona), rng.permutation(spoof)) == eer


@pytest.mark.parametrize("points", ["official", "distinct"])
def test_det_curve_runs_from_accept_all_to_reject_all(rng, points):
    det = det_curve(rng.normal(size=50), rng.normal(size=70), points)
    assert (det.p_miss[0], det.p_fa[0]) == (0.0, 1.0)
    assert (det.p_miss[-1], det.p_fa[-1]) == (1.0, 0.0)
    assert np.all(np.diff(det.p_miss) >= 0) and np.all(np.diff(det.p_fa) <= 0)
    assert det.thresholds[-1] == np.inf


@pytest.mark.parametrize("points", ["official", "distinct"])
def test_matches_point_by_point_reference_with_heavy_ties(rng, ref, points):
    # log of rounded scores: many ties, as on the AM-softmax fixture
    bona = np.log(np.round(rng.gamma(3.0, 1.0, 700), 1) + 0.1)
    spoof = np.log(np.round(rng.gamma(1.5, 1.0, 900), 1) + 0.1)
    eer, threshold = compute_eer(bona, spoof, points)
    ref_eer, ref_threshold = ref.eer(bona, spoof, points)
    assert eer == ref_eer
    det = det_curve(bona, spoof, points)
    expected = ref.points(bona, spoof, points)
    np.testing.assert_array_equal(det.p_miss, [p[0] for p in expected])
    np.testing.assert_array_equal(det.p_fa, [p[1] for p in expected])
    if points == "distinct":
        assert threshold == ref_threshold
    else:  # ours is the first accepted score, the organisers' the last rejected one
        k = [p[2] for p in expected].index(ref_threshold)
        assert threshold == expected[k + 1][2]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-5, 5), min_size=1, max_size=25),
    st.lists(st.integers(-5, 5), min_size=1, max_size=25),
    st.sampled_from(["official", "distinct"]),
)
def test_any_small_integer_scores_match_the_reference(ref, bona, spoof, points):
    eer = compute_eer(np.array(bona, float), np.array(spoof, float), points)[0]
    assert eer == ref.eer(bona, spoof, points)[0]


@pytest.mark.parametrize(
    ("bona", "spoof", "message"),
    [
        ([], [1.0], "no bona fide scores"),
        ([1.0], [], "no spoof scores"),
        ([1.0, np.nan], [0.0], "must be finite"),
        ([1.0], [np.inf], "must be finite"),
        ([[1.0]], [0.0], "1-D"),
    ],
)
def test_bad_input_is_refused(bona, spoof, message):
    with pytest.raises(ValueError, match=message):
        compute_eer(np.array(bona, dtype=float), np.array(spoof, dtype=float))


def test_unknown_det_points_are_refused():
    with pytest.raises(ValueError, match="unknown DET points 'all'; choose one of official, distinct"):
        compute_eer(np.array([1.0]), np.array([0.0]), "all")
