"""Score, protocol and ASV file parsing and joining: accepted formats and every refused input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ssd.metrics.scorefiles import (
    ScoreFileError,
    make_trials,
    read_asv_scores,
    read_cm_scores,
    read_protocol,
)

OURS = """\
u1 - bonafide 2.5
u2 A07 spoof -1.0
u3 A10 spoof 0.5
u4 - bonafide 1.5
u5 A08 spoof -2.0
"""
PROTOCOL = """\
LA_0001 u1 - - bonafide
LA_0001 u2 - A07 spoof
LA_0002 u3 - A10 spoof
LA_0002 u4 - - bonafide
LA_0003 u5 - A08 spoof
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_our_format_parses_labels_attacks_and_scores(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", OURS))
    assert cm.utts == ["u1", "u2", "u3", "u4", "u5"]
    np.testing.assert_array_equal(cm.scores, [2.5, -1.0, 0.5, 1.5, -2.0])
    trials = make_trials(cm)
    assert trials.attack_names == ("A07", "A08", "A10")
    np.testing.assert_array_equal(trials.is_bonafide, [True, False, False, True, False])
    np.testing.assert_array_equal(trials.spoof_scores("A10"), [0.5])
    np.testing.assert_array_equal(trials.bonafide_scores(), [2.5, 1.5])


def test_air_a00_bona_fide_lines_are_not_an_attack(tmp_path):
    trials = make_trials(
        read_cm_scores(write(tmp_path, "s.txt", OURS.replace(" - bonafide", " A00 bonafide")))
    )
    assert trials.attack_names == ("A07", "A08", "A10")
    assert trials.n_bonafide == 2


def test_higher_is_spoof_negates(tmp_path):
    trials = make_trials(read_cm_scores(write(tmp_path, "s.txt", OURS)), higher_is_spoof=True)
    np.testing.assert_array_equal(trials.scores, [-2.5, 1.0, -0.5, -1.5, 2.0])


def test_attacks_sort_naturally(tmp_path):
    text = "a - bonafide 1\nb A10 spoof 0\nc A9 spoof 0\nd tts2 spoof 0\n"
    assert make_trials(read_cm_scores(write(tmp_path, "s.txt", text))).attack_names == ("A9", "A10", "tts2")


def test_blank_lines_are_skipped_and_line_numbers_kept(tmp_path):
    path = write(tmp_path, "s.txt", "\nu1 - bonafide 1\n\nu2 A07 spoof nan\n")
    with pytest.raises(ScoreFileError, match=r"s\.txt:4: nan"):
        read_cm_scores(path)


def test_protocol_gives_labels_and_reorders(tmp_path):
    shuffled = "".join(reversed(OURS.splitlines(keepends=True)))
    cm = read_cm_scores(write(tmp_path, "s.txt", shuffled))
    trials = make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))
    np.testing.assert_array_equal(np.sort(trials.bonafide_scores()), [1.5, 2.5])
    for attack, score in (("A07", -1.0), ("A08", -2.0), ("A10", 0.5)):
        np.testing.assert_array_equal(trials.spoof_scores(attack), [score])


def test_two_column_scores_need_a_protocol(tmp_path):
    path = write(tmp_path, "s.txt", "u1 2.5\nu2 -1\nu3 .5\nu4 1.5\nu5 -2\n")
    with pytest.raises(ScoreFileError, match="give the protocol"):
        make_trials(read_cm_scores(path))
    trials = make_trials(read_cm_scores(path), read_protocol(write(tmp_path, "p.txt", PROTOCOL)))
    np.testing.assert_array_equal(trials.spoof_scores("A08"), [-2.0])


def test_data_dir_protocol(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    write(data, "utt2label", "u1 bonafide\nu2 spoof\nu3 spoof\nu4 bonafide\nu5 spoof\n")
    write(data, "utt2attack", "u1 -\nu2 A07\nu3 A10\nu4 -\nu5 A08\n")
    protocol = read_protocol(data)
    trials = make_trials(read_cm_scores(write(tmp_path, "s.txt", OURS)), protocol)
    assert trials.attack_names == ("A07", "A08", "A10")
    (data / "utt2attack").unlink()
    unlabelled = OURS.replace("A07 spoof", "- spoof").replace("A10 spoof", "- spoof")
    no_attacks = make_trials(read_cm_scores(write(tmp_path, "s.txt", unlabelled)), read_protocol(data))
    assert no_attacks.n_unknown_attack == 2
    assert no_attacks.attack_names == ("A08",)  # known from the score file only
    np.testing.assert_array_equal(no_attacks.spoof_scores("A08"), [-2.0])


def test_spoof_with_unknown_attack_in_score_file_takes_protocol_attack(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", OURS.replace("A10 spoof", "- spoof")))
    assert make_trials(cm).n_unknown_attack == 1
    trials = make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))
    np.testing.assert_array_equal(trials.spoof_scores("A10"), [0.5])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty CM score file"),
        ("u1 - bonafide\n", r"s\.txt:1: CM score lines have 4 or 2 fields, found 3"),
        (OURS + "u6 A07 spoof\n", r"s\.txt:6: expected 4 fields like line 1, found 3"),
        # a short and a long line cancel out in the token count: still the short line is named
        (OURS + "u6 A07 spoof\nu7 A07 spoof 0.1\nu8 A07 spoof 0.2 x\n", r"s\.txt:6: expected 4 fields"),
        (OURS + "u1 A07 spoof 0.3\n", r"1 duplicate utterance id\(s\): u1 \(lines 1, 6\)"),
        (OURS.replace("0.5", "abc"), r"s\.txt:3: score 'abc' is not a number \(utterance u3\)"),
        (OURS.replace("0.5", "inf"), r"1 score\(s\) are NaN or infinite.*u3 \(.*s\.txt:3: inf\)"),
        (OURS.replace("A07 spoof", "A07 fake"), r"s\.txt:2: key 'fake' is not one of bonafide, spoof"),
        (
            OURS.replace("- bonafide 2.5", "A07 bonafide 2.5"),
            r"s\.txt:1: key 'bonafide' contradicts attack 'A07'",
        ),
        (OURS.replace("A07 spoof", "A00 spoof"), r"s\.txt:2: key 'spoof' contradicts attack 'A00'"),
    ],
)
def test_bad_score_files_are_refused_naming_the_line(tmp_path, text, message):
    with pytest.raises(ScoreFileError, match=message):
        read_cm_scores(write(tmp_path, "s.txt", text))


def test_unknown_utterance_vs_protocol(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", OURS + "zz9 A07 spoof 0.1\n"))
    with pytest.raises(ScoreFileError, match=r"1 utterance id\(s\) are not in the protocol .*zz9 \(line 6\)"):
        make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))


def test_missing_trials_are_counted_and_named(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", "".join(OURS.splitlines(keepends=True)[:2])))
    with pytest.raises(ScoreFileError, match=r"3 of the 5 trials of .*p\.txt have no score: u3, u4, u5"):
        make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))


def test_many_missing_trials_show_first_few_and_the_count(tmp_path):
    protocol = "".join(f"S u{i:03d} - A07 spoof\n" for i in range(40))
    cm = read_cm_scores(write(tmp_path, "s.txt", "u000 A07 spoof 1\n"))
    with pytest.raises(
        ScoreFileError, match=r"39 of the 40 trials .*u001, u002, u003, u004, u005, \.\.\. \(39 in all\)"
    ):
        make_trials(cm, read_protocol(write(tmp_path, "p.txt", protocol)))


def test_key_mismatch_with_protocol(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", OURS.replace("u2 A07 spoof", "u2 - bonafide")))
    with pytest.raises(
        ScoreFileError, match=r"1 key\(s\) disagree .*u2 \(line 2: bonafide, protocol: spoof\)"
    ):
        make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))


def test_attack_mismatch_with_protocol(tmp_path):
    cm = read_cm_scores(write(tmp_path, "s.txt", OURS.replace("u3 A10", "u3 A19")))
    with pytest.raises(ScoreFileError, match=r"1 attack\(s\) disagree .*u3 \(line 3: A19, protocol: A10\)"):
        make_trials(cm, read_protocol(write(tmp_path, "p.txt", PROTOCOL)))


def test_bad_protocols_are_refused(tmp_path):
    with pytest.raises(ScoreFileError, match=r"p\.txt:1: CM protocol .* lines have 5 fields, found 4"):
        read_protocol(write(tmp_path, "p.txt", "LA_0001 u1 - bonafide\n"))
    with pytest.raises(ScoreFileError, match=r"duplicate utterance id\(s\): u1"):
        read_protocol(write(tmp_path, "p.txt", PROTOCOL + "LA_0009 u1 - - bonafide\n"))
    data = tmp_path / "d"
    data.mkdir()
    with pytest.raises(ScoreFileError, match="needs utt2label"):
        read_protocol(data)
    write(data, "utt2label", "u1 bonafide\nu2 spoof\n")
    write(data, "utt2attack", "u1 -\n")
    with pytest.raises(
        ScoreFileError, match=r"list different utterances: 1 labelled utterance\(s\) have no attack \(u2\)"
    ):
        read_protocol(data)
    write(data, "utt2attack", "u1\nu2 A07 A07\n")
    with pytest.raises(ScoreFileError, match=r"utt2attack:1: utt2attack lines have 2 fields, found 1"):
        read_protocol(data)
    write(data, "utt2attack", "u1 -\nu2\nu3 A07 A08\n")
    write(data, "utt2label", "u1 bonafide\nu2 spoof\nu3 spoof\n")
    with pytest.raises(ScoreFileError, match=r"utt2attack:2: expected 2 fields like line 1, found 1"):
        read_protocol(data)
    write(data, "utt2label", "u1 bonafide\nu2 spoof\n")
    write(data, "utt2attack", "u1 A07\nu2 A07\n")
    with pytest.raises(ScoreFileError, match=r"utt2attack \(utterance u1.*contradicts attack 'A07'"):
        read_protocol(data)


ASV = """\
bonafide target 5.0
bonafide target 4.0
bonafide nontarget -3.0
bonafide nontarget -4.0
A07 spoof 1.0
A08 spoof 2.0
A07 spoof -1.0
"""


def test_asv_scores_are_grouped_by_key_and_attack(tmp_path):
    asv = read_asv_scores(write(tmp_path, "asv.txt", ASV))
    np.testing.assert_array_equal(asv.target, [5.0, 4.0])
    np.testing.assert_array_equal(asv.nontarget, [-3.0, -4.0])
    assert list(asv.spoof) == ["A07", "A08"]
    np.testing.assert_array_equal(asv.spoof["A07"], [1.0, -1.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ASV.replace("A08 spoof", "A08 imposter"), r"asv\.txt:6: ASV key 'imposter' is not one of"),
        (ASV.replace("A08 spoof", "bonafide spoof"), r"asv\.txt:6: source 'bonafide' with key 'spoof'"),
        (ASV.replace("bonafide nontarget -3.0", "A07 nontarget -3.0"), r"asv\.txt:3: source 'A07' with key"),
        (ASV.replace("bonafide target", "bonafide nontarget"), r"found 0 target and 4 nontarget"),
        (ASV.replace("-4.0", "nan"), r"NaN or infinite"),
        (ASV + "A07 spoof\n", r"asv\.txt:8: expected 3 fields"),
        (
            "bonafide target\n" + ASV + "A07 spoof 1.0 2.0\n",
            r"asv\.txt:1: ASV score .* lines have 3 fields, found 2",
        ),
        (ASV + "A07 spoof\nA07 spoof 1.0 2.0\n", r"asv\.txt:8: expected 3 fields like line 1, found 2"),
    ],
)
def test_bad_asv_files_are_refused(tmp_path, text, message):
    with pytest.raises(ScoreFileError, match=message):
        read_asv_scores(write(tmp_path, "asv.txt", text))


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        read_cm_scores(tmp_path / "nope.txt")
