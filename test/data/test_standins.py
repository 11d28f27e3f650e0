"""Stand-in evaluation corpora built from a tiny LA 2019 corpus, read back with the public-format readers."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ssd.audio import codecs
from ssd.data import eval_protocols as ep
from ssd.data import standins

N_PER_CLASS = 9  # a bona fide and a spoofed trial in each of the nine DF (and seven LA) conditions
FS = 16000


def _require_codecs() -> None:
    """The stand-ins use the Debian codec packages: missing fails in CI and skips elsewhere."""
    reasons = [r for r in (codecs.missing(n) for n in codecs.CODECS) if r]
    if reasons:
        if os.environ.get("CI") == "true":
            pytest.fail("; ".join(reasons))
        pytest.skip("; ".join(reasons))


@pytest.fixture(scope="module")
def tiny_la(tmp_path_factory) -> Path:
    """An LA 2019 eval set in the real layout: 9 bona fide and 9 spoofed half-second voices, ASV files."""
    root = tmp_path_factory.mktemp("tiny") / "LA"
    flac = root / "ASVspoof2019_LA_eval" / "flac"
    flac.mkdir(parents=True)
    rng = np.random.default_rng(3)
    protocol, trials, scores = [], [], []
    t = np.arange(FS // 2) / FS
    for i in range(2 * N_PER_CLASS):
        utt, speaker = f"LA_E_{1000000 + i}", f"LA_000{1 + i % 3}"
        attack, key = ("-", "bonafide") if i < N_PER_CLASS else (f"A0{1 + i % 3}", "spoof")
        f0 = rng.uniform(100, 220)
        x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12)) * 0.1
        x += 0.01 * rng.standard_normal(t.size)
        sf.write(flac / f"{utt}.flac", np.round(x * 32767).astype(np.int16), FS, subtype="PCM_16")
        protocol.append(f"{speaker} {utt} - {attack} {key}")
        asv_key = "spoof" if key == "spoof" else ("target" if i % 2 else "nontarget")
        trials.append(f"{speaker} {utt} {'bonafide' if key == 'bonafide' else attack} {asv_key}")
        scores.append(f"{'bonafide' if key == 'bonafide' else attack} {asv_key} {rng.normal():.6f}")
    for rel, lines in (("ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.eval.trl.txt", protocol),
                       ("ASVspoof2019_LA_asv_protocols/ASVspoof2019.LA.asv.eval.gi.trl.txt", trials),
                       ("ASVspoof2019_LA_asv_scores/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt", scores)):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("\n".join(lines) + "\n")
    return root


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _provenance(root: Path) -> dict[str, dict[str, str]]:
    lines = (root / "standin.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    return {row[0]: dict(zip(header, row, strict=True)) for row in (line.split("\t") for line in lines[1:])}


def _validated_data_dir(protocol: ep.EvalProtocol, audio_root: Path, out: Path) -> None:
    """Write the set's Kaldi data dir and check it with the recipes' own validator."""
    ep.write_kaldi_dir(protocol, ep.audio_paths(protocol, audio_root), out)
    validator = Path(__file__).resolve().parents[2] / "utils" / "validate_data_dir.sh"
    done = subprocess.run(["bash", str(validator), "--no-feats", "--no-spk-sort", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _source(tiny_la: Path, utt: str) -> np.ndarray:
    return sf.read(tiny_la / "ASVspoof2019_LA_eval" / "flac" / f"{utt}.flac")[0]


@pytest.fixture(scope="module")
def la_standin(tiny_la, tmp_path_factory) -> Path:
    _require_codecs()
    return standins.make("la2021", tiny_la, tmp_path_factory.mktemp("la") / "out", seed=1)


def test_la2021_layout_keys_and_conditions(la_standin, tiny_la, tmp_path):
    keys = ep.read(la_standin / "keys" / "LA" / "CM" / "trial_metadata.txt")
    assert keys.format == "la2021" and len(keys) == 2 * N_PER_CLASS
    flac = la_standin / "ASVspoof2021_LA_eval" / "flac"
    assert sorted(ep.audio_paths(keys, flac)) == sorted(keys.utts)
    trial_list = la_standin / "ASVspoof2021_LA_eval" / "ASVspoof2021.LA.cm.eval.trl.txt"
    assert trial_list.read_text().split() == keys.utts
    by_codec: dict[str, set[str]] = {}
    for codec, label in zip(keys.conditions["codec"], keys.labels, strict=True):
        by_codec.setdefault(codec, set()).add(label)
    assert by_codec == {c.codec: {"bonafide", "spoof"} for c in standins.LA_CONDITIONS}
    assert keys.labels.count("bonafide") == N_PER_CLASS
    assert set(keys.conditions["subset"]) == {"eval", "progress"}
    assert len(keys.subset("progress")) == 2  # one in five per class
    _validated_data_dir(keys, flac, tmp_path / "data")


def test_la2021_audio_went_through_its_codec(la_standin, tiny_la):
    prov = _provenance(la_standin)
    keys = ep.read_la2021_keys(la_standin / "keys" / "LA" / "CM" / "trial_metadata.txt")
    for utt, codec in zip(keys.utts, keys.conditions["codec"], strict=True):
        row = prov[f"ASVspoof2021_LA_eval/flac/{utt}.flac"]
        y, fs = sf.read(la_standin / "ASVspoof2021_LA_eval" / "flac" / f"{utt}.flac")
        x = _source(tiny_la, row["source"])
        assert fs == FS and y.shape == x.shape
        if codec == "none":
            np.testing.assert_array_equal(y, x)
            assert row["codecs"] == "none"
        else:
            assert not np.array_equal(y, x)
            assert 10 * np.log10(np.sum(x**2) / np.sum((y - x) ** 2)) > 5  # coded, but aligned
    assert {r["codecs"] for r in prov.values() if r["condition"] == "C3"} == {"gsm+alaw"}


def test_la2021_asv_keys_join_their_scores(la_standin, tiny_la):
    asv = ep.read_la2021_asv_keys(la_standin / "keys" / "LA" / "ASV" / "trial_metadata.txt")
    scores = ep.read_asv2021_scores(la_standin / "keys" / "LA" / "ASV" / "ASVTorch_Kaldi" / "score.txt")
    joined = ep.join_asv(asv, scores)
    source_scores = (tiny_la / "ASVspoof2019_LA_asv_scores" / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt")
    expected = [float(line.split()[2]) for line in source_scores.read_text().splitlines()]
    assert [t.score for t in joined] == expected
    cm = ep.read_la2021_keys(la_standin / "keys" / "LA" / "CM" / "trial_metadata.txt")
    codec_of = dict(zip(cm.utts, cm.conditions["codec"], strict=True))
    assert all(codec_of[t.utt] == t.codec for t in joined)
    assert {t.key for t in joined} == {"target", "nontarget", "spoof"}


def test_la2021_is_deterministic_and_not_rebuilt(la_standin, tiny_la, tmp_path):
    again = standins.make("la2021", tiny_la, tmp_path / "again", seed=1, nj=3)  # nj does not matter
    assert _digest(again) == _digest(la_standin)
    before = {p: p.stat().st_mtime_ns for p in again.rglob("*.flac")}
    standins.make("la2021", tiny_la, again, seed=1)
    assert {p: p.stat().st_mtime_ns for p in again.rglob("*.flac")} == before
    # Another seed renumbers the files; the rebuild leaves no file of the old build behind.
    standins.make("la2021", tiny_la, again, seed=2)
    keys = ep.read_la2021_keys(again / "keys" / "LA" / "CM" / "trial_metadata.txt")
    assert sorted(p.stem for p in again.rglob("*.flac")) == sorted(keys.utts)
    assert set(keys.utts).isdisjoint(p.stem for p in la_standin.rglob("*.flac"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"busy: not a la2021 stand-in directory \(holds notes.txt\)"):
        standins.make("la2021", tiny_la, tmp_path / "busy", seed=1)


def test_df2021_keys_and_compression(tiny_la, tmp_path):
    _require_codecs()
    out = standins.make("df2021", tiny_la, tmp_path / "df", seed=0)
    keys = ep.read(out / "keys" / "DF" / "CM" / "trial_metadata.txt")
    assert keys.format == "df2021" and len(keys) == 2 * N_PER_CLASS
    assert set(keys.conditions["compression"]) == {c.codec for c in standins.DF_CONDITIONS}
    assert set(keys.conditions["source"]) == {"asvspoof"}
    spoofs = [i for i, label in enumerate(keys.labels) if label == "spoof"]
    families = {keys.attacks[i]: keys.conditions["vocoder"][i] for i in spoofs}
    assert families == {a: standins.VOCODER_FAMILY[a] for a in ("A01", "A02", "A03")}
    prov = _provenance(out)
    for utt in keys.utts:
        row = prov[f"ASVspoof2021_DF_eval/flac/{utt}.flac"]
        assert sf.read(out / "ASVspoof2021_DF_eval" / "flac" / f"{utt}.flac")[0].shape == \
            _source(tiny_la, row["source"]).shape
    transcoded = {r["codecs"] for r in prov.values() if r["condition"] == "C8"}
    assert transcoded and all(re.fullmatch(r"mp3@\d+k\+m4a@\d+k", c) for c in transcoded)


def test_in_the_wild_and_custom(tiny_la, tmp_path):
    _require_codecs()
    itw = standins.make("itw", tiny_la, tmp_path / "itw", seed=0) / "release_in_the_wild"
    meta = ep.read(itw / "meta.csv")
    assert meta.format == "itw" and meta.utts == [str(i) for i in range(2 * N_PER_CLASS)]
    assert meta.labels.count("bonafide") == N_PER_CLASS
    assert set(meta.speakers) == {"Mini Speaker 0001", "Mini Speaker 0002", "Mini Speaker 0003"}
    assert all(sf.info(p).samplerate == FS for p in ep.audio_paths(meta, itw).values())
    _validated_data_dir(meta, itw, tmp_path / "itw_data")

    custom = standins.make("custom", tiny_la, tmp_path / "custom", seed=0)
    folders, listed = ep.read(custom), ep.read(custom / "list.tsv")
    assert folders.format == "folders" and listed.format == "list"
    assert sorted(zip(folders.audio, folders.labels, strict=True)) == \
        sorted(zip(listed.audio, listed.labels, strict=True))
    assert sorted(listed.attacks) == sorted(folders.attacks) == sorted(e.attack for e in
                                                                        standins.eval_sources(tiny_la))
    _validated_data_dir(folders, custom, tmp_path / "custom_data")
    bona = custom / "bonafide" / "LA_E_1000000.flac"
    np.testing.assert_array_equal(sf.read(bona)[0], _source(tiny_la, "LA_E_1000000"))


def test_missing_codec_leaves_its_condition_out(tiny_la, tmp_path, monkeypatch, caplog):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("sox", "ffmpeg", "lame", "oggenc", "oggdec", "opusdec"):  # no opusenc
        if shutil.which(program):
            (bin_dir / program).symlink_to(shutil.which(program))
    monkeypatch.setenv("PATH", str(bin_dir))
    with caplog.at_level(logging.WARNING):
        planned = standins.plan(standins.eval_sources(tiny_la), "la2021", seed=0)
    assert "opus" not in {p.condition.codec for p in planned}
    assert "condition C7 (opus) left out: codec opus needs opusenc: install opus-tools" in caplog.text


def test_cli(tiny_la, tmp_path):
    _require_codecs()
    cmd = [sys.executable, "-m", "ssd.bin.make_eval_standin", "--kind", "custom", "--mini", str(tiny_la)]
    ok = subprocess.run([*cmd, "--out", str(tmp_path / "c")], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert len(list((tmp_path / "c" / "spoof").glob("A0?/*.flac"))) == N_PER_CLASS
    cmd[4:7] = ["itw", "--mini", str(tmp_path / "nowhere")]
    bad = subprocess.run([*cmd, "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "nowhere" in bad.stderr, bad.stderr
