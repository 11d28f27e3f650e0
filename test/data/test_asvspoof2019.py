"""Data preparation on the real ASVspoof 2019 LA protocols, over a fake corpus tree of tiny flacs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssd.data import asvspoof2019
from ssd.data.datadir import read_kv

REAL_COUNTS = {"train": 25380, "dev": 24844, "eval": 71237}


def make_fake_corpus(root: Path, protocols: dict[str, Path], asv_eval: Path | None = None) -> Path:
    """Lay out the LA tree with one tiny real flac written under every protocol's utterance id."""
    seed_flac = root / "seed.flac"
    sf.write(seed_flac, np.zeros(400, dtype=np.int16), 16000, subtype="PCM_16")
    flac_bytes = seed_flac.read_bytes()
    proto_dir = root / "LA" / asvspoof2019.PROTOCOL_DIR
    proto_dir.mkdir(parents=True)
    for subset, src in protocols.items():
        shutil.copy(src, proto_dir / asvspoof2019.PROTOCOL_FILES[subset])
        flac_dir = asvspoof2019.audio_dir(root / "LA", subset)
        flac_dir.mkdir(parents=True)
        for line in open(src):
            (flac_dir / f"{line.split()[1]}.flac").write_bytes(flac_bytes)
    if asv_eval is not None:
        asv_dir = root / "LA" / asvspoof2019.ASV_SCORE_DIR
        asv_dir.mkdir()
        shutil.copy(asv_eval, asv_dir / asvspoof2019.ASV_SCORE_FILES["eval"])
    return root / "LA"


@pytest.fixture(scope="module")
def real_corpus(tmp_path_factory, fixtures_dir) -> Path:
    src = fixtures_dir / "asvspoof2019"
    protocols = {s: src / asvspoof2019.PROTOCOL_FILES[s] for s in asvspoof2019.SETS}
    return make_fake_corpus(tmp_path_factory.mktemp("corpus"), protocols,
                            src / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt")


def test_prepare_real_protocols(real_corpus, tmp_path, repo_root):
    counts = asvspoof2019.prepare(real_corpus, tmp_path / "data")
    assert counts == REAL_COUNTS
    eval_dir = tmp_path / "data" / "eval"
    labels = read_kv(eval_dir / "utt2label")
    attacks = read_kv(eval_dir / "utt2attack")
    assert sum(v == "bonafide" for v in labels.values()) == 7355
    assert sorted(set(attacks.values())) == ["-"] + [f"A{i:02d}" for i in range(7, 20)]
    assert all((labels[u] == "bonafide") == (attacks[u] == "-") for u in labels)
    wav = read_kv(eval_dir / "wav.scp")
    assert wav["LA_E_2834763"] == str(real_corpus.resolve() / "ASVspoof2019_LA_eval/flac/LA_E_2834763.flac")
    spk2utt = read_kv(eval_dir / "spk2utt")
    assert sum(len(v.split()) for v in spk2utt.values()) == REAL_COUNTS["eval"]
    assert (eval_dir / "asv_scores.txt").read_bytes() == (
        real_corpus / asvspoof2019.ASV_SCORE_DIR / asvspoof2019.ASV_SCORE_FILES["eval"]).read_bytes()
    assert not (tmp_path / "data" / "dev" / "asv_scores.txt").exists()
    for subset in asvspoof2019.SETS:
        keys = [line.split()[0] for line in open(tmp_path / "data" / subset / "utt2spk")]
        assert keys == sorted(keys, key=str.encode)
        result = subprocess.run(
            ["bash", str(repo_root / "utils/validate_data_dir.sh"), "--no-feats", "--no-spk-sort",
             str(tmp_path / "data" / subset)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_missing_flac_is_named(real_corpus, tmp_path):
    victim = asvspoof2019.audio_dir(real_corpus, "dev") / "LA_D_1047731.flac"
    moved = tmp_path / victim.name
    shutil.move(victim, moved)
    try:
        with pytest.raises(asvspoof2019.CorpusError, match=r"1 of 24844 .*LA_D_1047731"):
            asvspoof2019.verify(real_corpus, ("dev",))
    finally:
        shutil.move(moved, victim)


def test_missing_layout_is_named(tmp_path):
    (tmp_path / "LA").mkdir()
    with pytest.raises(asvspoof2019.CorpusError, match="ASVspoof2019_LA_cm_protocols"):
        asvspoof2019.verify(tmp_path / "LA")


def test_extra_flac_warns(tmp_path, capsys):
    proto = tmp_path / "p.txt"
    proto.write_text("S1 LA_T_0000001 - - bonafide\n")
    corpus = make_fake_corpus(tmp_path, {"train": proto})
    shutil.copy(corpus / "ASVspoof2019_LA_train/flac/LA_T_0000001.flac",
                corpus / "ASVspoof2019_LA_train/flac/LA_T_0000002.flac")
    asvspoof2019.verify(corpus, ("train",))
    assert "1 flac files not in" in capsys.readouterr().err


@pytest.mark.parametrize("line, message", [
    ("S1 LA_T_1 - bonafide", "expected 5 fields"),
    ("S1 LA_T_1 - - genuine", "neither 'bonafide' nor 'spoof'"),
    ("S1 LA_T_1 - A01 bonafide", "attack 'A01'"),
    ("S1 LA_T_1 - - spoof", "attack '-'"),
])
def test_bad_protocol_lines(tmp_path, line, message):
    proto = tmp_path / "p.txt"
    proto.write_text("S1 LA_T_0 - - bonafide\n" + line + "\n")
    with pytest.raises(asvspoof2019.CorpusError, match=rf"p.txt:2: .*{message}"):
        asvspoof2019.read_cm_protocol(proto)


def test_duplicate_utterance(tmp_path):
    proto = tmp_path / "p.txt"
    proto.write_text("S1 LA_T_0 - - bonafide\nS2 LA_T_0 - A01 spoof\n")
    with pytest.raises(asvspoof2019.CorpusError, match="p.txt:2: utterance LA_T_0 already listed on line 1"):
        asvspoof2019.read_cm_protocol(proto)


def test_cli_reports_errors(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ssd.bin.prepare_asvspoof2019", str(tmp_path / "nope")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "no such directory" in result.stderr
