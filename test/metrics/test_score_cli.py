"""ssd-score end to end: the printed table, the JSON file, the warnings and the error exits."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from ssd.bin.score import main

EVAL_ATTACKS = [f"A{i:02d}" for i in range(7, 20)]
SMALL_CM = "b1 - bonafide 2.0\nb2 - bonafide 1.0\ns1 A07 spoof 0.0\ns2 A08 spoof 1.5\ns3 A08 spoof -1.0\n"
SMALL_ASV = (
    "bonafide target 3.0\nbonafide target 2.0\nbonafide nontarget -2.0\nbonafide nontarget 2.5\n"
    "A07 spoof 1.0\nA07 spoof 2.2\nA08 spoof -1.0\n"
)


def test_air_ocsoftmax_fixture(asvspoof2019, tmp_path, capsys):
    out = tmp_path / "out" / "oc.json"
    rc = main([
        "--cm-scores", str(asvspoof2019 / "air_ocsoftmax_eval_cm_scores.txt"),
        "--asv-scores", str(asvspoof2019 / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"),
        "--protocol", str(asvspoof2019 / "ASVspoof2019.LA.cm.eval.trl.txt"),
        "--higher-is-spoof", "--json", str(out),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert rc == 0
    assert "pooled: EER 2.178 %  ASVspoof 2019 (legacy) min t-DCF 0.0558" in captured.out
    lines = captured.out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[lines.index("") + 2 :] if line.strip()}
    assert sorted(rows) == EVAL_ATTACKS  # no A00 row for the bona fide lines
    assert rows["A17"] == ["4914", "9.178", "0.6158"]
    assert "WARNING" not in captured.err
    data = json.loads(out.read_text())
    assert data["pooled"]["eer"] == pytest.approx(0.02178, abs=5e-6)
    assert data["pooled"]["min_tdcf"] == pytest.approx(0.0558, abs=5e-5)
    assert list(data["per_attack"]) == EVAL_ATTACKS
    assert (data["n_bonafide"], data["n_spoof"]) == (7355, 63882)
    assert data["higher_is_spoof"] is True and data["tdcf"] == "legacy"


def test_inverted_sign_warns_loudly(asvspoof2019, capsys):
    rc = main(["--cm-scores", str(asvspoof2019 / "air_ocsoftmax_eval_cm_scores.txt")])
    captured = capsys.readouterr()
    assert rc == 0
    assert "WARNING: pooled EER is 97.822 %" in captured.err
    assert "--higher-is-spoof" in captured.err


def test_without_asv_scores_only_eer_and_says_why(tmp_path, capsys):
    (tmp_path / "cm.txt").write_text(SMALL_CM)
    assert main(["--cm-scores", str(tmp_path / "cm.txt"), "--json", str(tmp_path / "o.json")]) == 0
    out = capsys.readouterr().out
    assert "pooled: EER" in out and "min t-DCF -" in out
    assert "min t-DCF not computed: no ASV scores given" in out
    assert json.loads((tmp_path / "o.json").read_text())["pooled"]["min_tdcf"] is None


def test_revised_tdcf_option(tmp_path, capsys):
    (tmp_path / "cm.txt").write_text(SMALL_CM)
    (tmp_path / "asv.txt").write_text(SMALL_ASV)
    args = ["--cm-scores", str(tmp_path / "cm.txt"), "--asv-scores", str(tmp_path / "asv.txt")]
    assert main([*args, "--tdcf", "revised"]) == 0
    assert "ASVspoof 2021 (revised) min t-DCF" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("cm", "asv", "message"),
    [
        (SMALL_CM + "b1 - bonafide 0.3\n", SMALL_ASV, r"duplicate utterance id\(s\): b1 \(lines 1, 6\)"),
        (SMALL_CM.replace("0.0", "nan"), SMALL_ASV, r"cm\.txt: 1 score\(s\) are NaN .*s1"),
        (SMALL_CM, SMALL_ASV.replace("A08 spoof -1.0\n", ""), r"no ASV spoof scores for attack\(s\) A08"),
    ],
)
def test_bad_input_exits_1_naming_the_problem(tmp_path, capsys, cm, asv, message):
    (tmp_path / "cm.txt").write_text(cm)
    (tmp_path / "asv.txt").write_text(asv)
    rc = main(["--cm-scores", str(tmp_path / "cm.txt"), "--asv-scores", str(tmp_path / "asv.txt")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("ssd-score: error: ")
    assert re.search(message, err)


def test_module_entry_point_runs(tmp_path):
    (tmp_path / "cm.txt").write_text(SMALL_CM)
    done = subprocess.run(
        [sys.executable, "-m", "ssd.bin.score", "--cm-scores", str(tmp_path / "cm.txt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "pooled: EER 41.667 %" in done.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "ssd.bin.score", "--cm-scores", str(tmp_path / "nope.txt")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert missing.returncode == 1 and "nope.txt" in missing.stderr
