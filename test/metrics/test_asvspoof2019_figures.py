"""The official figures on real data: released AIR-ASVspoof eval scores with the organisers' ASV scores.

Pinned values are those stated in the fixtures' README (legacy ASVspoof 2019 t-DCF), and the same to
six decimals (the organisers' walk: AM-softmax min t-DCF 0.077145, where the tie-aware walk gives
0.077147); independent point-by-point computations in conftest.py check the same files, in full and
on random subsets, for both DET point placements.
"""

from __future__ import annotations

import numpy as np
import pytest

from ssd.metrics.eer import compute_eer
from ssd.metrics.report import evaluate
from ssd.metrics.scorefiles import make_trials, read_asv_scores, read_cm_scores, read_protocol
from ssd.metrics.tdcf import asv_operating_point, min_tdcf

ASV_FILE = "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
PROTOCOL_FILE = "ASVspoof2019.LA.cm.eval.trl.txt"
EVAL_ATTACKS = tuple(f"A{i:02d}" for i in range(7, 20))
# file, higher score means spoof, pooled EER (%) and min t-DCF as in the README, then to 6 decimals
PINNED = [
    ("air_ocsoftmax_eval_cm_scores.txt", True, 2.178, 0.0558, 2.177987, 0.055816),
    ("air_amsoftmax_eval_cm_scores.txt", False, 3.165, 0.0771, 3.164997, 0.077145),
    ("air_softmax_eval_cm_scores.txt", False, 5.058, 0.1208, 5.057773, 0.120837),
]


@pytest.fixture(scope="module")
def asv(asvspoof2019):
    return read_asv_scores(asvspoof2019 / ASV_FILE)


@pytest.fixture(scope="module")
def ref_asv_rates(asv, ref):
    """Per placement: ASV (Pfa, Pmiss, pooled spoof rejection) and spoof rejection per attack."""
    rates = {}
    for points, eer in (("official", ref.eer), ("distinct", ref.fast_eer)):
        _, threshold = eer(asv.target, asv.nontarget)
        pfa = float(np.mean(asv.nontarget >= threshold))
        pmiss = float(np.mean(asv.target < threshold))
        spoof = np.concatenate([asv.spoof[a] for a in EVAL_ATTACKS])
        per_attack = {a: float(np.mean(asv.spoof[a] < threshold)) for a in EVAL_ATTACKS}
        rates[points] = (pfa, pmiss, float(np.mean(spoof < threshold))), per_attack
    return rates


@pytest.mark.parametrize(("name", "higher_is_spoof", "eer_pct", "tdcf", "eer6", "tdcf6"), PINNED)
def test_pinned_pooled_figures(
    asvspoof2019, asv, ref, ref_asv_rates, name, higher_is_spoof, eer_pct, tdcf, eer6, tdcf6
):
    trials = make_trials(read_cm_scores(asvspoof2019 / name), higher_is_spoof=higher_is_spoof)
    report = evaluate(trials, asv)
    assert round(100 * report.pooled.eer, 3) == eer_pct
    assert round(report.pooled.min_tdcf, 4) == tdcf
    assert round(100 * report.pooled.eer, 6) == eer6
    assert round(report.pooled.min_tdcf, 6) == tdcf6
    assert (report.n_bonafide, report.n_spoof) == (7355, 63882)
    assert tuple(report.per_attack) == EVAL_ATTACKS
    # the organisers' walk, trial by trial, on the full file and on every attack
    (pfa, pmiss, pmiss_spoof), per_attack_rejection = ref_asv_rates["official"]
    bona = trials.bonafide_scores()
    assert report.pooled.eer == pytest.approx(ref.eer(bona, trials.spoof_scores())[0], abs=1e-12)
    expected = ref.min_tdcf(bona, trials.spoof_scores(), pfa, pmiss, pmiss_spoof)
    assert report.pooled.min_tdcf == pytest.approx(expected, abs=1e-9)
    for attack in EVAL_ATTACKS:
        spoof = trials.spoof_scores(attack)
        fig = report.per_attack[attack]
        assert fig.eer == pytest.approx(ref.eer(bona, spoof)[0], abs=1e-12)
        expected = ref.min_tdcf(bona, spoof, pfa, pmiss, per_attack_rejection[attack])
        assert fig.min_tdcf == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("name", "higher_is_spoof"), [pinned[:2] for pinned in PINNED])
def test_distinct_points_option_matches_tie_aware_reference(
    asvspoof2019, asv, ref, ref_asv_rates, name, higher_is_spoof
):
    trials = make_trials(read_cm_scores(asvspoof2019 / name), higher_is_spoof=higher_is_spoof)
    report = evaluate(trials, asv, points="distinct")
    (pfa, pmiss, pmiss_spoof), per_attack_rejection = ref_asv_rates["distinct"]
    bona = trials.bonafide_scores()
    assert report.pooled.eer == pytest.approx(ref.fast_eer(bona, trials.spoof_scores())[0], abs=1e-15)
    expected = ref.fast_min_tdcf(bona, trials.spoof_scores(), pfa, pmiss, pmiss_spoof)
    assert report.pooled.min_tdcf == pytest.approx(expected, rel=1e-12)
    for attack in ("A10", "A17"):
        spoof = trials.spoof_scores(attack)
        expected = ref.fast_min_tdcf(bona, spoof, pfa, pmiss, per_attack_rejection[attack])
        assert report.per_attack[attack].min_tdcf == pytest.approx(expected, rel=1e-12)
    if name.startswith("air_amsoftmax"):  # the file with 9,166 tied values: the placements differ
        assert round(report.pooled.min_tdcf, 6) == 0.077147


def test_pinned_a17_of_ocsoftmax(asvspoof2019, asv):
    trials = make_trials(read_cm_scores(asvspoof2019 / PINNED[0][0]), higher_is_spoof=True)
    a17 = evaluate(trials, asv).per_attack["A17"]
    assert round(100 * a17.eer, 3) == 9.178
    assert round(a17.min_tdcf, 4) == 0.6158
    assert a17.n_spoof == 4914


def test_per_attack_tables_come_from_the_protocol(asvspoof2019, asv):
    cm = read_cm_scores(asvspoof2019 / PINNED[1][0])
    protocol = read_protocol(asvspoof2019 / PROTOCOL_FILE)
    with_protocol = evaluate(make_trials(cm, protocol), asv)
    without = evaluate(make_trials(cm), asv)
    assert tuple(with_protocol.per_attack) == EVAL_ATTACKS
    assert with_protocol.pooled == without.pooled
    assert with_protocol.per_attack == without.per_attack


@pytest.mark.parametrize("points", ["official", "distinct"])
@pytest.mark.parametrize(("name", "higher_is_spoof"), [pinned[:2] for pinned in PINNED])
def test_random_subsets_match_point_by_point_reference(
    asvspoof2019, asv, ref, name, higher_is_spoof, points
):
    """Subsets keep the ties of the real files (AM-softmax has thousands) and a smaller ASV file."""
    rng = np.random.default_rng(7)
    full = make_trials(read_cm_scores(asvspoof2019 / name), higher_is_spoof=higher_is_spoof)
    bona = rng.choice(full.bonafide_scores(), 800, replace=False)
    target = rng.choice(asv.target, 600, replace=False)
    nontarget = rng.choice(asv.nontarget, 900, replace=False)
    for attack in ("A10", "A17"):
        spoof = rng.choice(full.spoof_scores(attack), 700, replace=False)
        asv_spoof = rng.choice(asv.spoof[attack], 500, replace=False)
        point = asv_operating_point(target, nontarget, asv_spoof, points)
        pfa, pmiss, pmiss_spoof = ref.asv_rates(target, nontarget, asv_spoof, points)
        assert (point.p_fa, point.p_miss, point.p_miss_spoof) == (pfa, pmiss, pmiss_spoof)
        assert compute_eer(bona, spoof, points)[0] == ref.eer(bona, spoof, points)[0]
        expected = ref.min_tdcf(bona, spoof, pfa, pmiss, pmiss_spoof, points=points)
        assert min_tdcf(bona, spoof, point, points=points) == pytest.approx(expected, rel=1e-12)
