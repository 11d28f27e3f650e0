"""ssd-score --breakdown: the EER of each value of a 'utt value' table (In-the-Wild's speakers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssd.bin.score import main as score_main


def test_each_value_gets_its_own_bona_fide_against_its_own_spoofs(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    rows = [("a1", "bonafide", 1.0, "Alice"), ("a2", "bonafide", 2.0, "Alice"), ("a3", "spoof", 0.0, "Alice"),
            ("a4", "spoof", -1.0, "Alice"),  # Alice: every spoof below every bona fide trial, EER 0
            ("b1", "bonafide", 0.0, "Bob"), ("b2", "spoof", 1.0, "Bob"),  # Bob: the spoof above, EER 100 %
            ("c1", "bonafide", 3.0, "Carol")]  # Carol: bona fide only, no EER
    scores, table = tmp_path / "scores.txt", tmp_path / "utt2spk"
    scores.write_text("".join(f"{u} - {k} {s}\n" for u, k, s, _ in rows))
    table.write_text("".join(f"{u} {spk}\n" for u, _, _, spk in rows))
    assert score_main(["--cm-scores", str(scores), "--breakdown", str(table),
                       "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "1 value(s) with one class only, no EER: Carol (1 bona fide, 0 spoof)" in out
    by = json.loads((tmp_path / "s.json").read_text())["breakdown"]
    assert {v: f["eer"] for v, f in by["values"].items()} == {"Alice": 0.0, "Bob": 1.0}
    assert (by["values"]["Alice"]["n_bonafide"], by["values"]["Alice"]["n_spoof"]) == (2, 2)
    assert by["skipped"] == {"Carol": {"n_bonafide": 1, "n_spoof": 0}}

    table.write_text("a1 Alice\n")
    assert score_main(["--cm-scores", str(scores), "--breakdown", str(table)]) == 1
    assert "no value for 6 scored utterance(s), e.g. a2" in capsys.readouterr().err
