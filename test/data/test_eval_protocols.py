"""Readers of the evaluation corpora's label files, on files in exactly the public formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssd.data import eval_protocols as ep
from ssd.data.datadir import read_kv
from ssd.metrics.scorefiles import read_asv_scores

# 2021 LA CM keys: speaker utt codec transmission attack key trim subset.
LA_KEYS = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0009 LA_E_1000001 alaw ita_tx bonafide bonafide notrim eval
LA_0010 LA_E_1000002 opus sin_tx A10 spoof notrim progress
LA_0011 LA_E_1000003 none - bonafide bonafide notrim eval
"""
# 2021 DF CM keys: 13 fields, the last four '-' for ASVspoof sources and task/team/pair/language for VCC.
DF_KEYS = (
    "LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -\n"
    "TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval neural_vocoder_nonautoregressive "
    "Task1 team20 FF E\n"
    "LA_0044 DF_E_2000027 nocodec asvspoof - bonafide notrim progress bonafide - - - -\n"
)
# 2021 LA ASV keys and ASVTorch_Kaldi scores, with channel-tagged ids as in the released package.
ASV_KEYS = """\
LA_0007-alaw-ita_tx LA_E_5013670-alaw-ita_tx alaw ita_tx bonafide target notrim eval
LA_0008-alaw-ita_tx LA_E_5013670-alaw-ita_tx alaw ita_tx bonafide nontarget notrim eval
LA_0007-alaw-ita_tx LA_E_9332881-alaw-ita_tx alaw ita_tx A07 spoof notrim eval
"""
ASV_SCORES = """\
LA_0007-alaw-ita_tx LA_E_5013670-alaw-ita_tx 3.25
LA_0008-alaw-ita_tx LA_E_5013670-alaw-ita_tx -4.5
LA_0007-alaw-ita_tx LA_E_9332881-alaw-ita_tx 0.125
"""
ITW_META = """\
file,speaker,label
0.wav,Alec Guinness,spoof
1.wav,Alec Guinness,bona-fide
2.wav,"Dr. King, Jr.",bona-fide
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _tone(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.1 * np.sin(np.arange(1600) / 5), 16000, subtype="PCM_16")


def test_la2021_keys(tmp_path):
    p = ep.read_la2021_keys(_write(tmp_path, "trial_metadata.txt", LA_KEYS))
    assert p.format == "la2021" and len(p) == 4
    assert p.utts[:2] == ["LA_E_9332881", "LA_E_1000001"]
    assert p.labels == ["spoof", "bonafide", "spoof", "bonafide"]
    assert p.attacks == ["A07", "-", "A10", "-"]
    assert p.speakers[2] == "LA_0010"
    assert p.conditions["codec"] == ["alaw", "alaw", "opus", "none"]
    assert p.conditions["transmission"][2] == "sin_tx"
    assert set(p.conditions) == {"codec", "transmission", "trim", "subset"}
    evaluated = p.subset("eval")
    assert evaluated.utts == ["LA_E_9332881", "LA_E_1000001", "LA_E_1000003"]
    assert evaluated.lines == [1, 2, 4]


def test_df2021_keys(tmp_path):
    p = ep.read_df2021_keys(_write(tmp_path, "trial_metadata.txt", DF_KEYS))
    assert p.attacks == ["A09", "Task1-team20", "-"]
    assert p.labels == ["spoof", "spoof", "bonafide"]
    assert p.conditions["compression"] == ["mp3m4a", "low_m4a", "nocodec"]
    assert p.conditions["source"] == ["asvspoof", "vcc2020", "asvspoof"]
    assert p.conditions["vocoder"][1] == "neural_vocoder_nonautoregressive"
    assert p.conditions["language"] == ["-", "E", "-"]
    assert p.subset("progress").utts == ["DF_E_2000027"]


@pytest.mark.parametrize(("line", "message"), [
    ("LA_0012 LA_E_1000009 alaw ita_tx A07 spoof notrim", r"trial_metadata.txt:5: a la2021 key line has 8 "
                                                          r"fields .*found 7"),
    ("LA_0012 LA_E_1000009 alaw ita_tx A07 fake notrim eval", r":5: key 'fake' is not one of bonafide"),
    ("LA_0012 LA_E_1000009 alaw ita_tx A07 spoof notrim dev", r":5: subset 'dev' is not one of eval"),
    ("LA_0012 LA_E_1000009 alaw ita_tx bonafide spoof notrim eval", r":5: spoof LA_E_1000009 has no attack"),
    ("LA_0012 LA_E_1000009 alaw ita_tx A07 bonafide notrim eval", r":5: bona fide LA_E_1000009 has attack"),
    ("LA_0012 LA_E_1000002 alaw ita_tx A07 spoof notrim eval", r":5: utterance LA_E_1000002 is already "
                                                               r"listed at .*trial_metadata.txt:3"),
])
def test_malformed_la2021_lines_name_file_and_line(tmp_path, line, message):
    path = _write(tmp_path, "trial_metadata.txt", LA_KEYS + line + "\n")
    with pytest.raises(ep.ProtocolError, match=message):
        ep.read_la2021_keys(path)


def test_df_line_in_la_reader_and_empty_file_are_refused(tmp_path):
    with pytest.raises(ep.ProtocolError, match=r":1: a la2021 key line has 8 fields .*found 13"):
        ep.read_la2021_keys(_write(tmp_path, "df.txt", DF_KEYS))
    with pytest.raises(ep.ProtocolError, match="lists no trials"):
        ep.read_df2021_keys(_write(tmp_path, "empty.txt", "\n\n"))
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    for reader in (ep.read_la2021_keys, ep.read_itw_meta, ep.read_list, ep.read_asv2021_scores):
        with pytest.raises(ep.ProtocolError, match="binary.txt: not UTF-8 text"):
            reader(tmp_path / "binary.txt")


def test_asv_keys_join_their_scores_and_feed_the_tdcf_reader(tmp_path):
    keys = ep.read_la2021_asv_keys(_write(tmp_path, "ASV/trial_metadata.txt", ASV_KEYS))
    assert [(t.speaker, t.utt, t.key, t.attack) for t in keys] == [
        ("LA_0007", "LA_E_5013670", "target", "-"), ("LA_0008", "LA_E_5013670", "nontarget", "-"),
        ("LA_0007", "LA_E_9332881", "spoof", "A07")]
    scores = ep.read_asv2021_scores(_write(tmp_path, "ASV/score.txt", ASV_SCORES))
    joined = ep.join_asv(keys, scores)
    assert [t.score for t in joined] == [3.25, -4.5, 0.125]
    out = tmp_path / "asv_scores.txt"
    ep.write_asv2019_scores(out, joined)
    assert out.read_text().splitlines() == ["bonafide target 3.25", "bonafide nontarget -4.5",
                                            "A07 spoof 0.125"]
    read_asv_scores(out)  # the existing t-DCF input reader accepts it
    with pytest.raises(ep.ProtocolError, match=r"1 trial\(s\) of keys have no score: LA_0008-alaw-ita_tx"):
        ep.join_asv(keys, {k: v for k, v in scores.items() if not k[0].startswith("LA_0008")}, "keys")


@pytest.mark.parametrize(("name", "text", "message"), [
    ("keys.txt", ASV_KEYS + "LA_0009 LA_E_1 alaw ita_tx bonafide impostor notrim eval\n",
     r"keys.txt:4: ASV key 'impostor' is not one of target, nontarget, spoof"),
    ("keys.txt", ASV_KEYS + ASV_KEYS.splitlines()[0] + "\n", r"keys.txt:4: trial .* listed on line 1"),
    ("scores.txt", ASV_SCORES + "LA_0007 LA_E_2 high\n", r"scores.txt:4: score 'high' of LA_E_2 is not a"),
    ("scores.txt", ASV_SCORES + "LA_0007 LA_E_2 nan\n", r"scores.txt:4: score of LA_E_2 is nan"),
    ("scores.txt", ASV_SCORES + ASV_SCORES.splitlines()[1] + "\n", r"scores.txt:4: .* scored on line 2"),
    ("scores.txt", "LA_0007 LA_E_2 1.0 extra\n", r"scores.txt:1: an ASV score line has 3 fields"),
])
def test_malformed_asv_files(tmp_path, name, text, message):
    path = _write(tmp_path, name, text)
    reader = ep.read_la2021_asv_keys if name == "keys.txt" else ep.read_asv2021_scores
    with pytest.raises(ep.ProtocolError, match=message):
        reader(path)


def test_in_the_wild_meta(tmp_path):
    p = ep.read_itw_meta(_write(tmp_path, "meta.csv", ITW_META))
    assert p.utts == ["0", "1", "2"] and p.audio == ["0.wav", "1.wav", "2.wav"]
    assert p.labels == ["spoof", "bonafide", "bonafide"]
    assert p.speakers == ["Alec Guinness", "Alec Guinness", "Dr. King, Jr."]
    assert p.attacks == ["-", "-", "-"] and p.lines == [2, 3, 4]


@pytest.mark.parametrize(("text", "message"), [
    ("file,label,speaker\n0.wav,spoof,A\n", r"meta.csv:1: an In-the-Wild meta.csv starts with"),
    (ITW_META + "3.wav,Someone,fake\n", r"meta.csv:5: label 'fake' is neither bona fide"),
    (ITW_META + "3.wav,Someone\n", r"meta.csv:5: expected 3 fields"),
    (ITW_META + "1.wav,Someone,spoof\n", r"meta.csv:5: utterance 1 is already listed at .*meta.csv:3"),
])
def test_malformed_in_the_wild_meta(tmp_path, text, message):
    with pytest.raises(ep.ProtocolError, match=message):
        ep.read_itw_meta(_write(tmp_path, "meta.csv", text))


def test_generic_lists(tmp_path):
    plain = ep.read_list(_write(tmp_path, "a.csv", "clips/x 1.wav,bonafide\nclips/y.flac,spoof\n"))
    assert plain.utts == ["clips-x_1", "clips-y"] and plain.labels == ["bonafide", "spoof"]
    assert plain.attacks == ["-", "-"] and plain.speakers == ["-", "-"]
    tsv = ep.read_list(_write(tmp_path, "b.tsv", "path\tlabel\tattack\tspeaker\tcodec\n"
                                                 "s/a.wav\tspoof\tA01\tBob\tmp3\nb/c.wav\tbona-fide\t-\tAnn\tnone\n"))
    assert tsv.attacks == ["A01", "-"] and tsv.speakers == ["Bob", "Ann"]
    assert tsv.conditions == {"codec": ["mp3", "none"]} and tsv.lines == [2, 3]
    unlabelled = ep.read_list(_write(tmp_path, "c.csv", "a.wav\nb.wav\n"))
    assert unlabelled.labels == [None, None] and not unlabelled.labelled


@pytest.mark.parametrize(("text", "message"), [
    ("a.wav,bonafide,-,spk,extra\n", r"a.csv:1: a list without header has at most 4 fields"),
    ("a.wav,bonafide\nb.wav\n", r"a.csv:2: expected 2 fields \(path,label\), found 1"),
    ("a.wav,bonafide,A01\n", r"a.csv:1: bona fide a.wav has attack 'A01'"),
    ("a.wav,real\n", r"a.csv:1: label 'real' is neither bona fide"),
    ("a.wav,spoof\na.flac,spoof\n", r"a.csv:2: utterance a is already listed at .*a.csv:1"),
    ("path,label,label\na.wav,spoof,spoof\n", r"a.csv:1: column\(s\) label named twice"),
])
def test_malformed_lists(tmp_path, text, message):
    with pytest.raises(ep.ProtocolError, match=message):
        ep.read_list(_write(tmp_path, "a.csv", text))


def test_folders(tmp_path):
    for rel in ("bonafide/b1.flac", "spoof/A01/s1.wav", "spoof/s2.flac"):
        _tone(tmp_path / "set" / rel)
    (tmp_path / "set" / "spoof" / "notes.txt").write_text("not audio")
    p = ep.read_folders(tmp_path / "set")
    assert p.utts == ["bonafide-b1", "spoof-A01-s1", "spoof-s2"]
    assert p.labels == ["bonafide", "spoof", "spoof"] and p.attacks == ["-", "A01", "-"]
    _tone(tmp_path / "plain" / "x.wav")
    assert ep.read_folders(tmp_path / "plain").labels == [None]
    with pytest.raises(ep.ProtocolError, match="lists no trials"):
        ep.read_folders(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_detect_format(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "utt2label").write_text("a bonafide\n")
    cases = {
        "la.txt": ("\n" + LA_KEYS, "la2021"), "df.txt": (DF_KEYS, "df2021"),
        "asv.txt": (ASV_KEYS, "la2021_asv"),
        "score.txt": (ASV_SCORES, "asv2021_scores"), "meta.csv": (ITW_META, "itw"),
        "2019.txt": ("LA_0079 LA_E_1000147 - A09 spoof\n", "asvspoof2019"),
        "list.csv": ("a.wav,spoof\n", "list"), "list.tsv": ("a.wav\tspoof\n", "list"),
    }
    for name, (text, fmt) in cases.items():
        assert ep.detect_format(_write(tmp_path, name, text)) == fmt, name
    assert ep.detect_format(tmp_path / "data") == "datadir"
    assert ep.detect_format(_empty(tmp_path)) == "folders"
    with pytest.raises(ep.ProtocolError, match=r"odd.txt:1: not a known protocol format \(4 fields"):
        ep.detect_format(_write(tmp_path, "odd.txt", "a b c d\n"))
    assert ep.read(tmp_path / "la.txt").format == "la2021"
    with pytest.raises(ep.ProtocolError, match="not a CM protocol this reader knows"):
        ep.read(tmp_path / "asv.txt")


def test_audio_paths_and_kaldi_dir(tmp_path):
    keys = ep.read_la2021_keys(_write(tmp_path, "keys/LA/CM/trial_metadata.txt", LA_KEYS))
    flac = tmp_path / "ASVspoof2021_LA_eval" / "flac"
    for utt in keys.utts[:3]:
        _tone(flac / f"{utt}.flac")
    with pytest.raises(ep.ProtocolError, match=r"1 of 4 trials .* have no audio: LA_E_1000003 "
                                               r"\(.*trial_metadata.txt:4\)"):
        ep.audio_paths(keys, flac)
    _tone(flac / "LA_E_1000003.flac")
    wavs = ep.audio_paths(keys, flac)
    assert wavs["LA_E_1000001"] == str((flac / "LA_E_1000001.flac").resolve())
    ep.write_kaldi_dir(keys, wavs, tmp_path / "data")
    assert read_kv(tmp_path / "data" / "utt2label")["LA_E_9332881"] == "spoof"
    assert read_kv(tmp_path / "data" / "utt2codec")["LA_E_1000002"] == "opus"
    assert read_kv(tmp_path / "data" / "utt2attack")["LA_E_1000001"] == "-"
    assert read_kv(tmp_path / "data" / "spk2utt")["LA_0009"] == "LA_E_1000001 LA_E_9332881"

    itw = ep.read_itw_meta(_write(tmp_path, "itw/meta.csv", ITW_META))
    for name in itw.audio:
        _tone(tmp_path / "itw" / name)
    ep.write_kaldi_dir(itw, ep.audio_paths(itw, tmp_path / "itw"), tmp_path / "itw_data")
    assert read_kv(tmp_path / "itw_data" / "utt2spk")["2"] == "Dr._King,_Jr."
    assert read_kv(tmp_path / "itw_data" / "utt2label")["1"] == "bonafide"
    assert not (tmp_path / "itw_data" / "utt2attack").exists()  # its spoofs name no attack
    unlabelled = ep.read_list(_write(tmp_path, "u/list.csv", "0.wav\n"))
    _tone(tmp_path / "u" / "0.wav")
    ep.write_kaldi_dir(unlabelled, ep.audio_paths(unlabelled, tmp_path / "u"), tmp_path / "u_data")
    assert not (tmp_path / "u_data" / "utt2label").exists()
    assert not (tmp_path / "u_data" / "utt2attack").exists()
    assert read_kv(tmp_path / "u_data" / "utt2spk") == {"0": "0"}
