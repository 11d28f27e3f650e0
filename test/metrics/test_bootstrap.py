"""Bootstrap intervals: each replicate's figures equal a direct computation on the resampled set."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.metrics.bootstrap import bootstrap_intervals, resampled_figures
from ssd.metrics.eer import compute_eer, official_order

WEIGHTS = (0.0, 0.9, 0.5, 0.5)  # t-DCF (C0, C1, C2, norm) of some fixed ASV operating point


def _sorted(rng, n_bona=60, n_spoof=90, decimals=1):
    bona = np.round(rng.normal(1.0, 1.0, n_bona), decimals)
    spoof = np.round(rng.normal(-0.5, 1.0, n_spoof), decimals)
    scores = np.concatenate([bona, spoof])
    is_bona = np.arange(scores.size) < n_bona
    order = official_order(scores, is_bona)
    return scores[order], is_bona[order]


@pytest.mark.parametrize("points", ["official", "distinct"])
def test_each_replicate_equals_the_metrics_of_its_resampled_set(rng, ref, points):
    scores, is_bona = _sorted(rng)
    bona, spoof = scores[is_bona], scores[~is_bona]
    counts_bona = rng.multinomial(bona.size, np.full(bona.size, 1 / bona.size), size=30)
    counts_spoof = rng.multinomial(spoof.size, np.full(spoof.size, 1 / spoof.size), size=30)
    eers, tdcfs = resampled_figures(scores, is_bona, counts_bona, counts_spoof, WEIGHTS, points)
    c0, c1, c2, norm = WEIGHTS
    for r in range(30):
        b, s = np.repeat(bona, counts_bona[r]), np.repeat(spoof, counts_spoof[r])
        assert eers[r] == pytest.approx(ref.eer(b, s, points)[0], abs=1e-12)
        expected = min((c0 + c1 * m + c2 * f) / norm for m, f, _ in ref.points(b, s, points))
        assert tdcfs[r] == pytest.approx(expected, abs=1e-12)


def test_intervals_are_seeded_cover_the_estimate_and_shrink_with_more_trials(rng):
    small = _sorted(rng, 100, 150, decimals=3)
    first = bootstrap_intervals(*small, 0.95, 300, 0, WEIGHTS)
    assert first == bootstrap_intervals(*small, 0.95, 300, 0, WEIGHTS)
    assert first != bootstrap_intervals(*small, 0.95, 300, 1, WEIGHTS)
    eer = compute_eer(small[0][small[1]], small[0][~small[1]])[0]
    assert first.eer.low < eer < first.eer.high
    assert first.min_tdcf.low < first.min_tdcf.high
    large = _sorted(rng, 2000, 3000, decimals=3)
    narrow = bootstrap_intervals(*large, 0.95, 300, 0)
    assert narrow.eer.high - narrow.eer.low < (first.eer.high - first.eer.low) / 2
    assert narrow.min_tdcf is None


@pytest.mark.parametrize(
    ("level", "replicates", "message"), [(1.5, 100, "between 0 and 1"), (0.9, 1, "2 replicates")]
)
def test_bad_options_are_refused(rng, level, replicates, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_intervals(*_sorted(rng), level, replicates)
