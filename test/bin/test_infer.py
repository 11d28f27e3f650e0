"""ssd.bin.infer: deterministic, batch-invariant score files with one sorted line per utterance."""

from __future__ import annotations

import shutil
from pathlib import Path

import kaldiio
import numpy as np
import pytest
from helpers import run_python, train_argv, write_dump

from ssd.bin.infer import main as infer
from ssd.bin.train import main as train


@pytest.fixture(scope="module")
def exp(dumps: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    exp_dir = tmp_path_factory.mktemp("exp") / "ocsoftmax_spk"
    train(train_argv(dumps, exp_dir, "spk"))
    return exp_dir


def _read(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()]


def test_score_file_format_and_determinism(dumps: dict[str, Path], exp: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores" / "dev.txt"
    argv = ["--exp-dir", str(exp), "--data-dir", str(dumps["dev"]), "--device", "cpu", "--threads", "1",
            "--out", str(out)]
    infer(argv)
    rows = _read(out)
    labels = dict(line.split() for line in (dumps["dev"] / "utt2label").read_text().splitlines())
    attacks = dict(line.split() for line in (dumps["dev"] / "utt2attack").read_text().splitlines())
    assert [r[0] for r in rows] == sorted(labels)
    for utt, attack, key, score in rows:
        assert (attack, key) == (attacks[utt], labels[utt])
        assert np.isfinite(float(score))
    assert len({r[3] for r in rows}) > 1
    again = run_python("ssd.bin.infer", *argv[:-1], str(tmp_path / "again.txt"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.txt").read_bytes() == out.read_bytes()  # same scores in another process
    infer([*argv[:-1], str(tmp_path / "one.txt"), "--batch-size", "1"])
    one = _read(tmp_path / "one.txt")
    assert [r[:3] for r in one] == [r[:3] for r in rows]
    np.testing.assert_allclose([float(r[3]) for r in one], [float(r[3]) for r in rows], rtol=0, atol=1e-6)


def test_checkpoint_choice(dumps: dict[str, Path], exp: Path, tmp_path: Path) -> None:
    base = ["--exp-dir", str(exp), "--data-dir", str(dumps["dev"]), "--device", "cpu"]
    infer([*base, "--checkpoint", "last.pt", "--out", str(tmp_path / "last.txt")])
    infer([*base, "--checkpoint", str(exp / "best.pt"), "--out", str(tmp_path / "best.txt")])
    assert len(_read(tmp_path / "last.txt")) == len(_read(tmp_path / "best.txt")) == 16


def test_errors_name_the_problem(dumps: dict[str, Path], exp: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "data"
    data.mkdir()
    labels = (dumps["dev"] / "utt2label").read_text()
    (data / "utt2label").write_text(labels + "Z9999 spoof\n")
    (data / "utt2attack").write_text((dumps["dev"] / "utt2attack").read_text() + "Z9999 A01\n")
    base = ["--exp-dir", str(exp), "--data-dir", str(data), "--feats", str(dumps["dev"] / "feats.scp"),
            "--out", str(tmp_path / "x.txt")]
    with pytest.raises(SystemExit):
        infer(base)
    err = capsys.readouterr().err
    assert "no features for 1 utterance(s)" in err and "Z9999" in err
    (data / "utt2label").write_text(labels)  # without utt2attack the attacks are unknown: '-'
    (data / "utt2attack").unlink()
    infer([*base[:-1], str(tmp_path / "unknown_attacks.txt")])
    rows = (tmp_path / "unknown_attacks.txt").read_text().splitlines()
    assert {line.split()[1] for line in rows} == {"-"}
    with pytest.raises(SystemExit):
        infer([*base[:2], "--data-dir", str(dumps["dev"]), "--out", str(tmp_path / "y.txt"),
               "--checkpoint", "nothing.pt"])
    assert "nothing.pt does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists() and not (tmp_path / "y.txt").exists()


def test_non_finite_features_are_refused_naming_the_utterance(dumps: dict[str, Path], exp: Path,
                                                              tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    dev = write_dump(tmp_path / "dev", 6, ["LA_0101"], seed=1, prefix="D")
    feats = {utt: mat.copy() for utt, mat in kaldiio.load_scp_sequential(str(dev / "feats.scp"))}
    feats["D0003"][2, 5] = np.nan
    kaldiio.save_ark(str(dev / "feats.ark"), feats, scp=str(dev / "feats.scp"))
    with pytest.raises(SystemExit):
        infer(["--exp-dir", str(exp), "--data-dir", str(dev), "--out", str(tmp_path / "s.txt")])
    assert "non-finite score for 1 utterance(s), e.g. D0003" in capsys.readouterr().err
    assert not (tmp_path / "s.txt").exists()


def test_unlabelled_set_packed_model_and_shards(dumps: dict[str, Path], exp: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    """A set without labels gets `utt - - score` lines; --model scores as --exp-dir does; --shard K/N
    files merge into the one job's file byte for byte."""
    common = ["--device", "cpu", "--threads", "1", "--batch-size", "3"]
    labelled = tmp_path / "labelled.txt"
    infer(["--exp-dir", str(exp), "--data-dir", str(dumps["dev"]), *common, "--out", str(labelled)])
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("feats.scp", "utt2num_frames"):
        shutil.copy(dumps["dev"] / name, bare / name)
    unlabelled = tmp_path / "unlabelled.txt"
    infer(["--model", str(exp), "--data-dir", str(bare), *common, "--out", str(unlabelled)])
    assert [(u, "-", "-", s) for u, _, _, s in _read(labelled)] == [tuple(r) for r in _read(unlabelled)]
    parts = []
    for k in (1, 2, 3, 4):
        part = tmp_path / f"part{k}.txt"
        infer(["--exp-dir", str(exp), "--data-dir", str(dumps["dev"]), *common, "--shard", f"{k}/4",
               "--out", str(part)])
        parts += part.read_text().splitlines(keepends=True)
    assert "".join(sorted(parts)).encode() == labelled.read_bytes()
    with pytest.raises(SystemExit):
        infer(["--exp-dir", str(exp), "--data-dir", str(bare), "--shard", "5/4", "--out", str(tmp_path)])
    assert "--shard '5/4': expected K/N with 1 <= K <= N" in capsys.readouterr().err
