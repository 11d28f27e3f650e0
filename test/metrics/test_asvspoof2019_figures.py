"""The official figures on real data: released AIR-ASVspoof eval scores with the organisers' ASV scores.

Pinned values are those stated in the fixtures' README (legacy ASVspoof 2019 t-DCF), and the same to
six decimals; an independent computation in conftest.py checks the same files, in full and on random
subsets. The README's AM-softmax t-DCF 0.0772 is 0.077147 rounded twice (to 0.07715, then 0.0772): the
exact value rounds to 0.0771, and the organisers' own algorithm gives 0.077145.
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
    ("air_ocsoftmax_eval_cm_scores.txt", True, 2.178, 0.0558, 2.177987, 0.055817),
    ("air_amsoftmax_eval_cm_scores.txt", False, 3.165, 0.0772, 3.164997, 0.077147),
    ("air_softmax_eval_cm_scores.txt", False, 5.058, 0.1208, 5.057773, 0.120839),
]


@pytest.fixture(scope="module")
def asv(asvspoof2019):
    return read_asv_scores(asvspoof2019 / ASV_FILE)


@pytest.fixture(scope="module")
def ref_asv_rates(asv, ref):
    """ASV (Pfa, Pmiss) at the EER threshold and the spoof rejection rate per attack, by the reference."""
    _, threshold = ref.eer(asv.target, asv.nontarget)
    pfa = float(np.mean(asv.nontarget >= threshold))
    pmiss = float(np.mean(asv.target < threshold))
    spoof = np.concatenate([asv.spoof[a] for a in EVAL_ATTACKS])
    per_attack = {a: float(np.mean(asv.spoof[a] < threshold)) for a in EVAL_ATTACKS}
    return (pfa, pmiss, float(np.mean(spoof < threshold))), per_attack


@pytest.mark.parametrize(("name", "higher_is_spoof", "eer_pct", "tdcf", "eer6", "tdcf6"), PINNED)
def test_pinned_pooled_figures(
    asvspoof2019, asv, ref, ref_asv_rates, name, higher_is_spoof, eer_pct, tdcf, eer6, tdcf6
):
    trials = make_trials(read_cm_scores(asvspoof2019 / name), higher_is_spoof=higher_is_spoof)
    report = evaluate(trials, asv)
    assert round(100 * report.pooled.eer, 3) == eer_pct
    assert abs(report.pooled.min_tdcf - tdcf) < 0.6e-4  # the README rounds twice (see the docstring)
    assert round(100 * report.pooled.eer, 6) == eer6
    assert round(report.pooled.min_tdcf, 6) == tdcf6
    assert (report.n_bonafide, report.n_spoof) == (7355, 63882)
    assert tuple(report.per_attack) == EVAL_ATTACKS
    # an independent exact computation on the full file
    (pfa, pmiss, pmiss_spoof), per_attack_rejection = ref_asv_rates
    bona = trials.bonafide_scores()
    assert report.pooled.eer == pytest.approx(ref.fast_eer(bona, trials.spoof_scores()), abs=1e-15)
    expected = ref.fast_min_tdcf(bona, trials.spoof_scores(), pfa, pmiss, pmiss_spoof)
    assert report.pooled.min_tdcf == pytest.approx(expected, rel=1e-12)
    for attack in EVAL_ATTACKS:
        spoof = trials.spoof_scores(attack)
        fig = report.per_attack[attack]
        assert fig.eer == pytest.approx(ref.fast_eer(bona, spoof), abs=1e-15)
        expected = ref.fast_min_tdcf(bona, spoof, pfa, pmiss, per_attack_rejection[attack])
        assert fig.min_tdcf == pytest.approx(expected, rel=1e-12)


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


@pytest.mark.parametrize(("name", "higher_is_spoof"), [pinned[:2] for pinned in PINNED])
def test_random_subsets_match_threshold_by_threshold_reference(asvspoof2019, asv, ref, name, higher_is_spoof):
    """Subsets keep the ties of the real files (AM-softmax has thousands) and a smaller ASV file."""
    rng = np.random.default_rng(7)
    full = make_trials(read_cm_scores(asvspoof2019 / name), higher_is_spoof=higher_is_spoof)
    bona = rng.choice(full.bonafide_scores(), 800, replace=False)
    target = rng.choice(asv.target, 600, replace=False)
    nontarget = rng.choice(asv.nontarget, 900, replace=False)
    for attack in ("A10", "A17"):
        spoof = rng.choice(full.spoof_scores(attack), 700, replace=False)
        asv_spoof = rng.choice(asv.spoof[attack], 500, replace=False)
        point = asv_operating_point(target, nontarget, asv_spoof)
        pfa, pmiss, pmiss_spoof = ref.asv_rates(target, nontarget, asv_spoof)
        assert (point.p_fa, point.p_miss, point.p_miss_spoof) == (pfa, pmiss, pmiss_spoof)
        assert compute_eer(bona, spoof)[0] == ref.eer(bona, spoof)[0]
        expected = ref.min_tdcf(bona, spoof, pfa, pmiss, pmiss_spoof)
        assert min_tdcf(bona, spoof, point) == pytest.approx(expected, rel=1e-12)
