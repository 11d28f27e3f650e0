"""Pooled and per-attack figures, notes, the inverted-sign warning and the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ssd.metrics.eer import compute_eer
from ssd.metrics.report import evaluate, format_report
from ssd.metrics.scorefiles import ScoreFileError, make_trials, read_asv_scores, read_cm_scores
from ssd.metrics.tdcf import asv_operating_point, min_tdcf

ATTACKS = ("A07", "A08", "A10")


def write_scores(path: Path, rng: np.random.Generator, bona_attack: str = "-", unknown: int = 0) -> None:
    """Bona fide around +1, each attack around a different mean; ``unknown`` spoofs carry attack '-'."""
    lines = [f"b{i:04d} {bona_attack} bonafide {x:.4f}" for i, x in enumerate(rng.normal(1.0, 1.0, 300))]
    for k, attack in enumerate(ATTACKS):
        lines += [f"{attack}_{i:04d} {attack} spoof {x:.4f}" for i, x in enumerate(rng.normal(-k, 1.0, 200))]
    lines += [f"u{i:04d} - spoof {x:.4f}" for i, x in enumerate(rng.normal(0.5, 1.0, unknown))]
    path.write_text("\n".join(lines) + "\n")


def write_asv(path: Path, rng: np.random.Generator, attacks=ATTACKS) -> None:
    lines = [f"bonafide target {x:.4f}" for x in rng.normal(4.0, 1.0, 300)]
    lines += [f"bonafide nontarget {x:.4f}" for x in rng.normal(-4.0, 1.5, 400)]
    for k, attack in enumerate(attacks):
        lines += [f"{attack} spoof {x:.4f}" for x in rng.normal(k - 1.0, 2.0, 150)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def files(tmp_path, rng):
    write_scores(tmp_path / "cm.txt", rng)
    write_asv(tmp_path / "asv.txt", rng)
    return tmp_path / "cm.txt", tmp_path / "asv.txt"


def test_pooled_and_per_attack_figures(files):
    trials = make_trials(read_cm_scores(files[0]))
    asv = read_asv_scores(files[1])
    report = evaluate(trials, asv)
    bona = trials.bonafide_scores()
    assert report.pooled.eer == compute_eer(bona, trials.spoof_scores())[0]
    spoof_asv = np.concatenate([asv.spoof[a] for a in ATTACKS])
    pooled_point = asv_operating_point(asv.target, asv.nontarget, spoof_asv)
    assert report.pooled.min_tdcf == min_tdcf(bona, trials.spoof_scores(), pooled_point)
    assert list(report.per_attack) == list(ATTACKS)
    for attack in ATTACKS:
        point = asv_operating_point(asv.target, asv.nontarget, asv.spoof[attack])
        fig = report.per_attack[attack]
        assert fig.eer == compute_eer(bona, trials.spoof_scores(attack))[0]
        assert fig.min_tdcf == pytest.approx(min_tdcf(bona, trials.spoof_scores(attack), point), rel=1e-12)
        assert (fig.n_bonafide, fig.n_spoof) == (300, 200)
    # the attacks were made increasingly easy to detect
    eers = [report.per_attack[a].eer for a in ATTACKS]
    assert eers == sorted(eers, reverse=True) and eers[0] > 0.2 > eers[-1]
    assert report.inverted_warning is None


def test_a00_bona_fide_lines_give_no_a00_row(tmp_path, rng):
    write_scores(tmp_path / "cm.txt", rng, bona_attack="A00")
    report = evaluate(make_trials(read_cm_scores(tmp_path / "cm.txt")))
    assert list(report.per_attack) == list(ATTACKS)
    assert "A00" not in format_report(report)


def test_json_schema(files):
    report = evaluate(make_trials(read_cm_scores(files[0])), read_asv_scores(files[1]))
    data = json.loads(json.dumps(report.to_json()))
    assert set(data["pooled"]) >= {"eer", "min_tdcf"}
    assert 0.0 < data["pooled"]["eer"] < 0.5  # a fraction, not a percentage
    assert data["pooled"]["eer"] == report.pooled.eer
    assert list(data["per_attack"]) == list(ATTACKS)
    assert set(data["per_attack"]["A07"]) >= {"eer", "min_tdcf", "n_spoof"}
    assert (data["n_bonafide"], data["n_spoof"]) == (300, 600)
    assert data["tdcf"] == "legacy"
    assert data["warnings"] == []


def test_without_asv_scores_eer_only_with_a_reason(files):
    report = evaluate(make_trials(read_cm_scores(files[0])), None, no_asv_reason="my corpus has no ASV")
    assert report.pooled.min_tdcf is None
    assert all(fig.min_tdcf is None for fig in report.per_attack.values())
    assert report.tdcf_variant is None
    assert any("min t-DCF not computed: my corpus has no ASV" in note for note in report.notes)
    text = format_report(report)
    assert "min t-DCF -" in text and "not computed" in text
    assert json.loads(json.dumps(report.to_json()))["pooled"]["min_tdcf"] is None


def test_asv_file_lacking_an_attack_is_refused(tmp_path, rng, files):
    write_asv(tmp_path / "asv_short.txt", rng, attacks=("A07", "A08"))
    with pytest.raises(ScoreFileError, match=r"no ASV spoof scores for attack\(s\) A10 .*it has: A07, A08"):
        evaluate(make_trials(read_cm_scores(files[0])), read_asv_scores(tmp_path / "asv_short.txt"))


def test_asv_attacks_absent_from_the_trials_are_left_out_with_a_note(tmp_path, rng, files):
    write_asv(tmp_path / "asv_more.txt", rng, attacks=(*ATTACKS, "A19"))
    asv = read_asv_scores(tmp_path / "asv_more.txt")
    trials = make_trials(read_cm_scores(files[0]))
    report = evaluate(trials, asv)
    assert any("A19 are ignored" in note for note in report.notes)
    point = asv_operating_point(asv.target, asv.nontarget, np.concatenate([asv.spoof[a] for a in ATTACKS]))
    assert report.pooled.min_tdcf == min_tdcf(trials.bonafide_scores(), trials.spoof_scores(), point)


def test_unlabelled_spoofs_count_in_the_pooled_row_only(tmp_path, rng, files):
    write_scores(tmp_path / "cm.txt", rng, unknown=50)
    report = evaluate(make_trials(read_cm_scores(tmp_path / "cm.txt")), read_asv_scores(files[1]))
    assert report.n_spoof == 650 and report.pooled.n_spoof == 650
    assert sum(fig.n_spoof for fig in report.per_attack.values()) == 600
    assert any("50 spoof trial(s) without an attack label" in note for note in report.notes)


def test_inverted_scores_warn_and_name_the_option(files):
    trials = make_trials(read_cm_scores(files[0]), higher_is_spoof=True)
    report = evaluate(trials, read_asv_scores(files[1]))
    assert report.pooled.eer > 0.5
    assert "--higher-is-spoof" in report.inverted_warning
    assert report.to_json()["warnings"] == [report.inverted_warning]


def test_revised_tdcf_is_offered_by_name(files):
    trials = make_trials(read_cm_scores(files[0]))
    asv = read_asv_scores(files[1])
    legacy, revised = evaluate(trials, asv, "legacy"), evaluate(trials, asv, "revised")
    assert revised.tdcf_variant == "revised" and "2021" in format_report(revised)
    assert revised.pooled.eer == legacy.pooled.eer
    assert revised.pooled.min_tdcf != legacy.pooled.min_tdcf
    with pytest.raises(ValueError, match="unknown t-DCF variant"):
        evaluate(trials, asv, "2015")


def test_attack_the_asv_always_rejects_has_no_tdcf_and_says_why(tmp_path, files):
    text = files[1].read_text().splitlines()
    text = [line if not line.startswith("A10 ") else "A10 spoof -100.0" for line in text]
    (tmp_path / "asv_rejects.txt").write_text("\n".join(text) + "\n")
    report = evaluate(make_trials(read_cm_scores(files[0])), read_asv_scores(tmp_path / "asv_rejects.txt"))
    assert report.per_attack["A10"].min_tdcf is None
    assert report.per_attack["A07"].min_tdcf is not None and report.pooled.min_tdcf is not None
    assert any(note.startswith("A10: legacy t-DCF undefined") for note in report.notes)


def test_trials_of_one_class_only_are_refused(tmp_path):
    (tmp_path / "cm.txt").write_text("b1 - bonafide 1.0\nb2 - bonafide 2.0\n")
    message = r"cm\.txt: 2 bona fide and 0 spoof trials; the EER needs both classes"
    with pytest.raises(ValueError, match=message):
        evaluate(make_trials(read_cm_scores(tmp_path / "cm.txt")))


def test_revised_tdcf_per_attack_matches_the_2021_package_definition(files, ref):
    trials = make_trials(read_cm_scores(files[0]))
    asv = read_asv_scores(files[1])
    report = evaluate(trials, asv, "revised")
    _, threshold = ref.eer(asv.target, asv.nontarget)
    pfa, pmiss, _ = ref.asv_rates(asv.target, asv.nontarget, asv.spoof["A07"])
    assert (report.asv.p_fa, report.asv.p_miss) == (pfa, pmiss)
    bona = trials.bonafide_scores()
    for attack, fig in report.per_attack.items():
        pmiss_spoof = float(np.mean(asv.spoof[attack] < threshold))
        expected = ref.min_tdcf(bona, trials.spoof_scores(attack), pfa, pmiss, pmiss_spoof, "revised")
        assert fig.min_tdcf == pytest.approx(expected, abs=1e-12), attack
    assert len(report.per_attack) >= 2
