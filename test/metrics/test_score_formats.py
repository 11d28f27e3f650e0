"""ssd-score --protocol in the evaluation corpora's formats: In-the-Wild meta.csv, lists, folders, auto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ssd.bin.score import main as score_main

# (file, label as written, attack, score): two attacks; the EER is not 0, so labels must line up.
TRIALS = [("0.wav", "bona-fide", "-", 2.0), ("1.wav", "spoof", "A1", 1.5), ("2.wav", "bona-fide", "-", 1.0),
          ("3.wav", "spoof", "A2", 0.5), ("4.wav", "spoof", "A1", -1.0), ("5.wav", "bona-fide", "-", 0.7)]


def _figures(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "s.json"
    assert score_main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_every_format_gives_the_figures_of_the_ssd_score_file(tmp_path: Path) -> None:
    reference = tmp_path / "ref.txt"  # ssd's own 'utt attack key score' lines
    reference.write_text("".join(f"{f[:-4]} {a} {'bonafide' if k == 'bona-fide' else 'spoof'} {s}\n"
                                 for f, k, a, s in TRIALS))
    expected = _figures(tmp_path, "--cm-scores", str(reference))
    scores = tmp_path / "scores.txt"  # what ssd-infer writes for a set prepared from these labels
    scores.write_text("".join(f"{f[:-4]} {s}\n" for f, _, _, s in TRIALS))
    meta = tmp_path / "meta.csv"
    meta.write_text("file,speaker,label\n" + "".join(f"{f},Someone,{k}\n" for f, k, _, _ in TRIALS))
    listed = tmp_path / "list.tsv"
    listed.write_text("path\tlabel\tattack\n" + "".join(f"{f}\t{k}\t{a}\n" for f, k, a, _ in TRIALS))
    folders = tmp_path / "set"
    for f, k, a, _ in TRIALS:
        where = folders / ("bonafide" if k == "bona-fide" else f"spoof/{a}")
        where.mkdir(parents=True, exist_ok=True)
        (where / f).write_bytes(b"")
    folder_scores = tmp_path / "folder_scores.txt"  # ids from the paths below the folder
    folder_scores.write_text("".join(
        f"{'bonafide' if k == 'bona-fide' else 'spoof-' + a}-{f[:-4]} {s}\n" for f, k, a, s in TRIALS))
    cases = {"itw": (scores, meta), "list": (scores, listed), "folders": (folder_scores, folders)}
    for fmt, (cm, protocol) in cases.items():
        for given in (fmt, "auto"):
            got = _figures(tmp_path, "--cm-scores", str(cm), "--protocol", str(protocol),
                           "--protocol-format", given)
            assert got["pooled"]["eer"] == expected["pooled"]["eer"], (fmt, given)
            if fmt != "itw":  # In-the-Wild names no attacks
                assert got["per_attack"] == expected["per_attack"], (fmt, given)


def test_unlabelled_list_and_unknown_files_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    scores = tmp_path / "scores.txt"
    scores.write_text("a 1.0\nb 0.0\n")
    unlabelled = tmp_path / "list.csv"
    unlabelled.write_text("a.wav\nb.wav\n")
    assert score_main(["--cm-scores", str(scores), "--protocol", str(unlabelled),
                       "--protocol-format", "list"]) == 1
    assert "trials without a label (e.g. a): no metric without ground truth" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        score_main(["--cm-scores", str(scores), "--protocol-format", "itw"])
    assert "--protocol-format itw needs --protocol" in capsys.readouterr().err
