"""ssd-score end to end: the printed table, the JSON file, the warnings and the error exits."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
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
    assert "pooled: EER 2.178 %  ASVspoof 2019 (legacy) min t-DCF 0.055816" in captured.out
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


def test_official_walk_is_the_default_and_distinct_is_an_option(asvspoof2019, capsys):
    args = [
        "--cm-scores", str(asvspoof2019 / "air_amsoftmax_eval_cm_scores.txt"),
        "--asv-scores", str(asvspoof2019 / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"),
    ]  # fmt: skip
    assert main(args) == 0
    assert "pooled: EER 3.165 %  ASVspoof 2019 (legacy) min t-DCF 0.077145" in capsys.readouterr().out
    assert main([*args, "--det-points", "distinct"]) == 0
    assert "min t-DCF 0.077147" in capsys.readouterr().out  # the tie-aware walk


def test_asvspoof5_metrics_json_and_reasons_for_missing_inputs(asvspoof2019, tmp_path, capsys, ref):
    out = tmp_path / "a5.json"
    rc = main([
        "--cm-scores", str(asvspoof2019 / "air_amsoftmax_eval_cm_scores.txt"),
        "--metrics", "asvspoof5", "--json", str(out),
    ])  # fmt: skip
    text = capsys.readouterr().out
    assert rc == 0
    assert "pooled: minDCF 0.0722  actDCF 1.0000  Cllr 0.8651 bits" in text
    assert "a-DCF not computed: no SASV scores given" in text
    assert "t-EER not computed: no ASV scores of the CM trials given" in text
    data = json.loads(out.read_text())
    pooled = data["pooled"]
    assert set(pooled) >= {"eer", "min_dcf", "act_dcf", "cllr"} and not {"a_dcf", "t_eer"} & set(pooled)
    text = (asvspoof2019 / "air_amsoftmax_eval_cm_scores.txt").read_text()
    rows = [line.split() for line in text.splitlines()]
    bona = np.array([float(r[3]) for r in rows if r[2] == "bonafide"])
    spoof = np.array([float(r[3]) for r in rows if r[2] == "spoof"])
    # the ASVspoof 5 package's definitions, written out: 1.9 Pmiss + Pfa over the official walk, ...
    expected = min(1.9 * m + f for m, f, _ in ref.points(bona, spoof))
    assert pooled["min_dcf"] == pytest.approx(expected, abs=1e-9)
    tau = -np.log(1.9)
    assert pooled["act_dcf"] == pytest.approx(1.9 * np.mean(bona < tau) + np.mean(spoof >= tau), abs=1e-9)
    cllr = (np.mean(np.log1p(np.exp(-bona))) + np.mean(np.log1p(np.exp(spoof)))) / (2 * np.log(2))
    assert pooled["cllr"] == pytest.approx(cllr, abs=1e-9)
    assert round(pooled["min_dcf"], 6) == 0.072168 and round(pooled["cllr"], 4) == 0.8651
    assert set(data["per_attack"]["A17"]) >= {"eer", "min_dcf", "act_dcf", "cllr"}
    assert data["metrics"] == "asvspoof5" and data["det_points"] == "official"


SASV = "t1 3.0 target\nt2 2.5 target\nn1 -1.0 nontarget\nn2 2.6 nontarget\ns1 0.5 spoof\ns2 2.7 spoof\n"


def test_a_dcf_and_t_eer_from_trial_score_files(tmp_path, capsys):
    cm = "b1 - bonafide 2.0\nb2 - bonafide 1.0\nb3 - bonafide 1.5\ns1 A07 spoof 0.0\ns2 A08 spoof 1.2\n"
    asv = "b1 3.0 target\nb2 2.0 target\nb3 -1.0 nontarget\nb1 0.5 nontarget\ns1 2.5 spoof\ns2 0.1 spoof\n"
    for name, text in (("cm.txt", cm), ("sasv.txt", SASV), ("asv.txt", asv)):
        (tmp_path / name).write_text(text)
    rc = main([
        "--cm-scores", str(tmp_path / "cm.txt"), "--metrics", "asvspoof5", "--json", str(tmp_path / "o.json"),
        "--sasv-scores", str(tmp_path / "sasv.txt"), "--asv-trial-scores", str(tmp_path / "asv.txt"),
    ])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    pooled = json.loads((tmp_path / "o.json").read_text())["pooled"]
    # SASV: accepting >= 2.5 misses no target, passes n2 (2.6) and s2 (2.7): (0.095 / 2 + 0.5 / 2) / 0.595;
    # accepting >= 3.0 misses t2 only: 0.9405 / 2 / 0.595 is dearer
    assert pooled["a_dcf"] == pytest.approx((0.095 / 2 + 0.5 / 2) / 0.595, abs=1e-12)
    assert 0.0 <= pooled["t_eer"] <= 1.0
    assert "a-DCF" in capsys.readouterr().out
    (tmp_path / "asv.txt").write_text(asv.replace("s1 2.5 spoof", "b3 2.5 spoof"))
    rc = main([
        "--cm-scores", str(tmp_path / "cm.txt"), "--metrics", "asvspoof5",
        "--asv-trial-scores", str(tmp_path / "asv.txt"),
    ])  # fmt: skip
    assert rc == 1
    assert re.search(r"asv\.txt:5: trial key 'spoof' of b3 contradicts its CM label", capsys.readouterr().err)


def test_confidence_intervals_text_and_json(tmp_path, capsys, rng):
    lines = [f"b{i} - bonafide {x:.3f}" for i, x in enumerate(rng.normal(2, 1, 300))]
    lines += [f"s{i} A07 spoof {x:.3f}" for i, x in enumerate(rng.normal(0, 1, 400))]
    (tmp_path / "cm.txt").write_text("\n".join(lines) + "\n")
    (tmp_path / "asv.txt").write_text(SMALL_ASV.replace("A08 spoof -1.0\n", ""))
    args = ["--cm-scores", str(tmp_path / "cm.txt"), "--asv-scores", str(tmp_path / "asv.txt")]
    args += ["--ci", "0.95"]
    assert main([*args, "--ci-replicates", "200", "--json", str(tmp_path / "o.json")]) == 0
    text = capsys.readouterr().out
    assert re.search(r"pooled: EER \d+\.\d{3} % \[\d+\.\d{3}, \d+\.\d{3}\]  .* min t-DCF \d\.\d{6} \[", text)
    assert "95 % percentile bootstrap, 200 replicates, seed 0" in text
    ci = json.loads((tmp_path / "o.json").read_text())["confidence_intervals"]
    assert (ci["level"], ci["replicates"], ci["seed"]) == (0.95, 200, 0)
    assert ci["eer"][0] < ci["eer"][1] and ci["min_tdcf"][0] < ci["min_tdcf"][1]


@pytest.mark.parametrize("key", ["bonafide", "spoof"])
def test_one_class_score_file_names_the_file(tmp_path, capsys, key):
    attack = "-" if key == "bonafide" else "A07"
    (tmp_path / "one.txt").write_text(f"u1 {attack} {key} 1.0\nu2 {attack} {key} 0.5\n")
    assert main(["--cm-scores", str(tmp_path / "one.txt")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'one.txt'}: " in err and "needs both classes" in err
