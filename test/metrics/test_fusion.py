"""Score-level fusion: the mean of dev-standardised scores, on the trials both systems scored, or an error."""

from __future__ import annotations

import numpy as np
import pytest

from ssd.metrics.fusion import fuse, score_lines, standardiser
from ssd.metrics.scorefiles import ScoreFileError, read_cm_scores

PUBLISHED = ("air_ocsoftmax", "air_amsoftmax", "air_softmax")


def _write(path, rows):
    path.write_text("".join(f"{u} {a} {k} {float(s)!r}\n" for u, a, k, s in rows))
    return path


def _plain_fusion(paths):
    """Per utterance, the mean over files of (score - file mean) / file std, walking dicts."""
    tables = []
    for p in paths:
        rows = [line.split() for line in p.read_text().splitlines()]
        scores = [float(r[3]) for r in rows]
        mean = sum(scores) / len(scores)
        std = (sum((s - mean) ** 2 for s in scores) / len(scores)) ** 0.5
        tables.append({r[0]: (float(r[3]) - mean) / std for r in rows})
    return {utt: sum(t[utt] for t in tables) / len(tables) for utt in tables[0]}


def test_published_systems_fuse_to_the_mean_of_their_standardised_scores(fixtures_dir, tmp_path):
    """The three AIR systems' published eval scores (71,237 trials), one file shuffled: each is
    standardised on itself here (they publish no dev scores) and the fusion follows the first file's order."""
    paths = [fixtures_dir / "asvspoof2019" / f"{name}_eval_cm_scores.txt" for name in PUBLISHED]
    lines = paths[1].read_text().splitlines(keepends=True)
    np.random.default_rng(0).shuffle(lines)
    (tmp_path / "shuffled.txt").write_text("".join(lines))
    paths[1] = tmp_path / "shuffled.txt"
    systems = [read_cm_scores(p) for p in paths]
    fused = fuse(systems, [standardiser(s) for s in systems])
    expected = _plain_fusion(paths)
    assert len(fused) == len(expected) == 71237
    np.testing.assert_allclose(fused, [expected[u] for u in systems[0].utts], rtol=0, atol=1e-12)
    written = score_lines(systems[0], fused)
    first = paths[0].read_text().splitlines()
    bona_fide_as_stage_4 = {"A00": "-"}
    assert [w.split()[:3] for w in written] == [
        [f.split()[0], bona_fide_as_stage_4.get(f.split()[1], f.split()[1]), f.split()[2]] for f in first]


def test_standardising_makes_the_fusion_blind_to_each_systems_scale(tmp_path, rng):
    utts = [f"U{i:03d}" for i in range(60)]
    keys = ["bonafide" if i % 3 == 0 else "spoof" for i in range(60)]
    attacks = ["-" if k == "bonafide" else f"A0{1 + i % 4}" for i, k in enumerate(keys)]
    a, b = rng.normal(size=60), rng.normal(size=60)
    plain = [_write(tmp_path / n, list(zip(utts, attacks, keys, x, strict=True)))
             for n, x in (("a.txt", a), ("b.txt", b))]
    scaled = _write(tmp_path / "a_scaled.txt", list(zip(utts, attacks, keys, 250.0 * a - 7.0, strict=True)))
    first = [read_cm_scores(p) for p in plain]
    second = [read_cm_scores(scaled), first[1]]
    np.testing.assert_allclose(fuse(first, [standardiser(s) for s in first]),
                               fuse(second, [standardiser(s) for s in second]), atol=1e-12)
    # A fusion with itself is the standardised system: the mean of two equal z-scores.
    twice = [first[0], read_cm_scores(scaled)]
    np.testing.assert_allclose(fuse(twice, [standardiser(s) for s in twice]), (a - a.mean()) / a.std(),
                               atol=1e-12)


def test_systems_that_score_different_trials_are_refused(tmp_path):
    rows = [("U1", "-", "bonafide", 0.9), ("U2", "A01", "spoof", 0.1), ("U3", "A02", "spoof", 0.3)]
    full, short = _write(tmp_path / "full.txt", rows), _write(tmp_path / "short.txt", rows[:2])
    systems = [read_cm_scores(full), read_cm_scores(short)]
    with pytest.raises(ScoreFileError, match=r"short\.txt and .*full\.txt do not score the same trials "
                                             r"\(1 missing from the first, 0 extra; e\.g\. U3\)"):
        fuse(systems, [standardiser(s) for s in systems])


def test_a_trial_labelled_differently_is_refused_naming_its_line(tmp_path):
    rows = [("U1", "-", "bonafide", 0.9), ("U2", "A01", "spoof", 0.1), ("U3", "A02", "spoof", 0.3)]
    other = [rows[0], rows[1], ("U3", "A05", "spoof", 0.2)]
    systems = [read_cm_scores(_write(tmp_path / name, r)) for name, r in (("a.txt", rows), ("b.txt", other))]
    with pytest.raises(ScoreFileError, match=r"b\.txt line 3: utterance U3 is labelled differently in"):
        fuse(systems, [standardiser(s) for s in systems])


def test_constant_scores_cannot_be_standardised(tmp_path):
    flat = _write(tmp_path / "flat.txt", [("U1", "-", "bonafide", 0.5), ("U2", "A01", "spoof", 0.5)])
    with pytest.raises(ScoreFileError, match=r"flat\.txt: every score is 0\.5; nothing to standardise"):
        standardiser(read_cm_scores(flat))


def test_one_system_is_not_a_fusion(tmp_path):
    path = _write(tmp_path / "a.txt", [("U1", "-", "bonafide", 0.9), ("U2", "A01", "spoof", 0.1)])
    system = read_cm_scores(path)
    with pytest.raises(ValueError, match="fusion needs at least two systems"):
        fuse([system], [standardiser(system)])
