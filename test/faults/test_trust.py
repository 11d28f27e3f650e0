"""Trust (issue 11, findings 2, 3, 5, 6 and 8): no command runs from a name the user did not write as a
command, and no wrong result leaves with exit status 0. One regression test per finding, each
reproducing what the finding saw on the code before the fix.

Everything is real: files with hostile names, wav.scp and feats.scp entries, cut files and pipes, a
model with NaN weights, and ``ssd-detect`` as its own process where a shell could be involved.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from detector_helpers import TinyExperiment, tiny_experiment
from helpers import CLIPS, FS, REPO, speech, write_dump, write_scp

from ssd.bin import compute_lfcc, detect, infer
from ssd.data.dataset import FeatureTable
from ssd.utils.checkpoint import load_checkpoint, save_checkpoint

HOSTILE = "clip2.wav; touch PWNED |"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    torch.set_num_threads(1)
    return tiny_experiment(tmp_path_factory)


def _wav(path: Path, samples: np.ndarray, subtype: str = "PCM_16") -> Path:
    sf.write(path, samples, FS, subtype=subtype, format="WAV")
    return path


def _detect(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    code = detect.main([*map(str, args), "--no-progress", "--num-threads", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _lfcc(tmp_path: Path, entries: dict[str, str], *extra: str) -> int:
    wav_scp = write_scp(tmp_path / "wav.scp", entries)
    out = tmp_path / "out"
    return compute_lfcc.main([*extra, str(wav_scp), f"ark,scp:{out / 'f.ark'},{out / 'f.scp'}"])


def _experiment_copy(tiny: TinyExperiment, dest: Path) -> Path:
    return Path(shutil.copytree(tiny.exp, dest, ignore=shutil.ignore_patterns("packed")))


# --- finding 2: positional inputs are files, never commands ----------------------------------------

def test_a_globbed_file_named_like_a_pipe_is_read_not_run(tiny: TinyExperiment, tmp_path: Path) -> None:
    up = tmp_path / "up"
    up.mkdir()
    _wav(up / "clip1.wav", speech(0.5))
    _wav(up / HOSTILE, speech(0.5))
    globbed = sorted(str(p) for p in up.iterdir())  # what the shell hands over for up/*
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "ssd.bin.detect", *globbed, "--model", str(tiny.packed),
                           "--tsv", "--no-progress"], cwd=up, env=env, capture_output=True, text=True,
                          timeout=120)
    assert not (up / "PWNED").exists() and not (REPO / "PWNED").exists()
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == globbed
    assert rows[0][1] == rows[1][1]  # the same audio, the same score: it was read as a file


def test_wav_scp_pipes_can_be_refused(tiny: TinyExperiment, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "ran"
    clip = _wav(tmp_path / "c.wav", speech(0.5))
    wav_scp = write_scp(tmp_path / "wav.scp", {"u1": f"touch {marker}; cat {clip} |"})
    code, _, err = _detect(capsys, "--wav-scp", wav_scp, "--model", tiny.packed, "--no-pipes")
    assert code == 1 and "utterance 'u1'" in err and "pipe entries are refused" in err
    assert _lfcc(tmp_path, {"u1": f"touch {marker}; cat {clip} |"}, "--no-pipes") == 1
    assert not marker.exists()


def test_a_pipe_that_never_ends_is_killed_naming_the_utterance(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SSD_PIPE_TIMEOUT", "1")
    start = time.monotonic()
    assert _lfcc(tmp_path, {"stuck": "sleep 600 | cat |"}) == 1
    assert time.monotonic() - start < 10
    assert "utterance 'stuck'" in caplog.text and "did not finish within 1 s and was killed" in caplog.text


# --- finding 3: feats.scp pipes are refused; damage is named ----------------------------------------

def _dump(tmp_path: Path) -> Path:
    return write_dump(tmp_path / "dump", 4, ["S1"], seed=0)


def _table(dump: Path) -> FeatureTable:
    return FeatureTable(dump / "feats.scp", dump / "utt2label", cache="yes")


def test_feats_scp_pipe_entries_are_refused_not_run(tmp_path: Path) -> None:
    dump = _dump(tmp_path)
    marker = tmp_path / "ran"
    lines = (dump / "feats.scp").read_text().splitlines()
    ark = lines[2].split()[1].rsplit(":", 1)[0]
    for entry in (f"touch {marker}; cat {ark} |", "false |"):  # the second ended in a bare AssertionError
        lines[2] = f"U0002 {entry}"
        (dump / "feats.scp").write_text("\n".join(lines) + "\n")
        with pytest.raises(ValueError, match=r"feats\.scp:3: utterance U0002: .* is a pipe command"):
            _table(dump)
    assert not marker.exists()


def test_bad_ark_offset_names_scp_line_ark_and_offset(tmp_path: Path) -> None:
    dump = _dump(tmp_path)
    scp = dump / "feats.scp"
    lines = scp.read_text().splitlines()
    ark, offset = lines[1].split()[1].rsplit(":", 1)
    lines[1] = f"U0001 {ark}:{int(offset) + 7}"  # was: 'utf-8' codec can't decode byte 0xb0
    scp.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"feats\.scp:2: utterance U0001: ark {ark} at offset "
                       rf"{int(offset) + 7}: no Kaldi matrix starts there"):
        _table(dump)
    lines[1] = f"U0001 {ark}:{Path(ark).stat().st_size + 10}"
    scp.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"feats\.scp:2: .* offset is beyond the end of the ark"):
        _table(dump)


def test_missing_ark_names_scp_line_and_ark(tmp_path: Path) -> None:
    dump = _dump(tmp_path)
    ark = dump / "feats.ark"
    ark.rename(dump / "elsewhere.ark")  # was: a bare [Errno 2]
    with pytest.raises(ValueError, match=rf"{dump / 'feats.scp'}:1: utterance U0000: ark {ark} does not "
                       "exist"):
        _table(dump)


# --- finding 5: no wrong result with exit status 0 ---------------------------------------------------

def test_huge_float_samples_are_refused_by_both_readers(tiny: TinyExperiment, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    """1e200 once gave score nan, decision spoof, rc 0 and a bare NaN in --json; 1.5 was accepted."""
    for value in (1e200, 1.5):
        x = speech(0.5).astype(np.float64) / 32768
        x[100] = value
        path = _wav(tmp_path / f"loud_{value:g}.wav", x, subtype="DOUBLE")
        code, out, err = _detect(capsys, path, "--model", tiny.packed, "--json")
        assert code == 1 and "beyond full scale" in err and path.name in err
        result = json.loads(out)["results"][0]
        assert result["score"] is None and result["decision"] is None
        assert "beyond full scale" in result["error"]
        assert _lfcc(tmp_path, {"loud": str(path)}) == 1


def test_truncated_audio_is_an_error_in_both(tiny: TinyExperiment, tmp_path: Path,
                                            capsys: pytest.CaptureFixture,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """A 2 s header over 0.67 s of data was scored as 0.67 s; 'head -c 100 |' gave one frame."""
    full = _wav(tmp_path / "full.wav", speech(2.0))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:44 + 2 * 10720])
    code, _, err = _detect(capsys, cut, "--model", tiny.packed)
    assert code == 1 and "cut.wav" in err and "truncated: the header declares 32000 frames" in err
    assert _lfcc(tmp_path, {"cut": str(cut)}) == 1
    assert _lfcc(tmp_path, {"piped": f"head -c 100 {full} |"}) == 1
    assert "utterance 'cut'" in caplog.text and "utterance 'piped'" in caplog.text
    assert caplog.text.count("truncated: the header declares 32000 frames") == 2


def test_one_sample_is_refused_by_both(tiny: TinyExperiment, tmp_path: Path, capsys: pytest.CaptureFixture,
                                       caplog: pytest.LogCaptureFixture) -> None:
    one = _wav(tmp_path / "one.wav", speech(0.1)[:1])
    code, _, err = _detect(capsys, one, "--model", tiny.packed)
    assert code == 1 and "one.wav: only 1 samples" in err
    assert _lfcc(tmp_path, {"one": str(one)}) == 1 and "utterance 'one'" in caplog.text
    assert "only 1 samples (0.000 s); at least 0.1 s" in caplog.text


def test_a_diverged_model_is_an_error_never_a_decision(tiny: TinyExperiment, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    exp = _experiment_copy(tiny, tmp_path / "exp" / "diverged")
    state = load_checkpoint(exp / "best.pt")
    key = next(k for k, v in state["model"].items() if k.startswith("backbone.") and v.is_floating_point())
    state["model"][key] = torch.full_like(state["model"][key], float("nan"))
    save_checkpoint(exp / "best.pt", state)
    clip = str(CLIPS / "speech_16000.flac")
    code, out, err = _detect(capsys, clip, "--model", exp, "--json", "--threshold", "0")
    assert code == 1 and "speech_16000.flac: the model gave a non-finite score (nan)" in err
    assert json.loads(out)["results"][0]["decision"] is None  # valid JSON, no decision
    # Stage 4 refuses to write a score file with a non-finite score, naming the utterance.
    scores = tmp_path / "eval.txt"
    with pytest.raises(SystemExit) as exit_info:
        infer.main(["--exp-dir", str(exp), "--data-dir", str(tiny.dump / "eval"), "--out", str(scores),
                    "--device", "cpu", "--threads", "1"])
    assert exit_info.value.code == 1 and not scores.exists()
    assert "non-finite score" in capsys.readouterr().err


# --- finding 6: an explicit threshold needs no dev scores ------------------------------------------

def test_experiment_without_dev_scores(tiny: TinyExperiment, tmp_path: Path,
                                       capsys: pytest.CaptureFixture) -> None:
    exp = _experiment_copy(tiny, tmp_path / "exp" / "no_dev")
    (exp / "scores" / "dev.txt").unlink()
    clip = str(CLIPS / "speech_16000.flac")
    code, out, err = _detect(capsys, clip, "--model", exp, "--threshold", "0", "--tsv")
    assert code == 0, err
    score, decision, threshold = out.splitlines()[1].split("\t")[1:4]
    assert decision == ("bonafide" if float(score) >= 0 else "spoof") and float(threshold) == 0

    code, out, err = _detect(capsys, clip, "--model", exp, "--tsv")
    assert code == 0 and err.count("no known decision threshold") == 1 and "--threshold NUMBER" in err
    assert out.splitlines()[1].split("\t")[2:4] == ["-", "-"]
    code, out, _ = _detect(capsys, clip, "--model", exp)
    assert code == 0 and out.splitlines()[1].split()[2:4] == ["-", "-"]
    code, out, _ = _detect(capsys, clip, "--model", exp, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["threshold"]["value"] is None and doc["results"][0]["decision"] is None
    assert float(doc["results"][0]["score"]) == pytest.approx(float(score))

    code, _, err = _detect(capsys, clip, "--model", exp, "--threshold", "dev_eer")
    assert code == 1 and "'dev_eer' is neither a number nor a named threshold (this model has none" in err


def test_unknown_named_threshold_lists_the_known_ones(tiny: TinyExperiment,
                                                      capsys: pytest.CaptureFixture) -> None:
    code, _, err = _detect(capsys, CLIPS / "speech_16000.flac", "--model", tiny.packed, "--threshold", "eer")
    assert code == 1 and "'eer' is neither a number nor one of: dev_eer, dev_min_tdcf" in err


# --- finding 8: messages name the input --------------------------------------------------------------

def test_directory_and_fifo_as_audio_are_named_for_what_they_are(tiny: TinyExperiment, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Both were "no such file"."""
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    wav_scp = write_scp(tmp_path / "dirs.scp", {"d1": str(folder)})
    code, _, err = _detect(capsys, fifo, "--wav-scp", wav_scp, "--model", tiny.packed)
    assert code == 1
    assert f"{fifo}: is not a regular file" in err
    assert f"utterance 'd1' (file {folder}): is a directory" in err
    bad = tmp_path / "bad"
    assert _lfcc(tmp_path, {"f1": str(fifo), "d1": str(folder)}, "--skip-bad-utts", str(bad)) == 1
    reasons = dict(line.split(maxsplit=1) for line in bad.read_text().splitlines())
    assert "is not a regular file" in reasons["f1"] and "is a directory" in reasons["d1"]
