"""Numerics: non-finite values stop training with a message naming the step and the last good checkpoint,
and never become a best.pt.

NaN or inf features are written into tiny training and dev dumps (the LFCC front end itself cannot
produce them: read_audio refuses non-finite audio, test_bad_audio.py). A divergence after a finished
epoch, keeping that epoch's finite best.pt, is
test/bin/test_train.py::test_divergence_stops_naming_step_and_last_good_checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import debug_dumps, train_argv, write_dump

from ssd.bin import infer
from ssd.bin import train as train_bin
from ssd.bin.score import main as score_main

SPEAKERS = ["LA_0079", "LA_0080"]


def _train_expecting_failure(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as exit_info:
        train_bin.main(args)
    assert exit_info.value.code == 1
    return capsys.readouterr().err


def test_nan_loss_in_the_first_step_stops_before_any_checkpoint(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    poison = {f"U{i:04d}": np.nan for i in range(16)}
    train = write_dump(tmp_path / "train", 16, SPEAKERS, seed=0, poison=poison)
    dev = write_dump(tmp_path / "dev", 8, SPEAKERS, seed=1, prefix="D")
    exp = tmp_path / "exp"
    err = _train_expecting_failure(train_argv(debug_dumps(tmp_path, train, dev), exp), capsys)
    assert "non-finite loss at epoch 1 step 1 (global step 1)" in err
    assert "last good checkpoint: none (no epoch completed)" in err
    assert not (exp / "best.pt").exists() and not (exp / "last.pt").exists()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_dev_scores_never_make_a_best_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                            value: float) -> None:
    train = write_dump(tmp_path / "train", 16, SPEAKERS, seed=0)
    dev = write_dump(tmp_path / "dev", 8, SPEAKERS, seed=1, prefix="D", poison={"D0003": value})
    exp = tmp_path / "exp"
    err = _train_expecting_failure(train_argv(debug_dumps(tmp_path, train, dev), exp), capsys)
    assert "non-finite dev scores after epoch 1" in err
    assert "last good checkpoint: none (no epoch completed)" in err
    assert not (exp / "best.pt").exists() and not (exp / "last.pt").exists()


def test_non_finite_features_at_inference_never_reach_the_results(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    """Stage 4 then stage 5 on an eval dump with a NaN matrix: the chain stops naming the utterance."""
    train = write_dump(tmp_path / "train", 16, SPEAKERS, seed=0)
    dev = write_dump(tmp_path / "dev", 8, SPEAKERS, seed=1, prefix="D")
    evl = write_dump(tmp_path / "eval", 8, SPEAKERS, seed=2, prefix="E", poison={"E0002": np.nan})
    exp = tmp_path / "exp"
    train_bin.main(train_argv(debug_dumps(tmp_path, train, dev), exp))
    scores = exp / "scores" / "eval.txt"
    try:
        infer.main(["--exp-dir", str(exp), "--data-dir", str(evl), "--out", str(scores), "--threads", "1"])
        status = score_main(["--cm-scores", str(scores), "--protocol", str(evl)])
    except SystemExit as exit_info:  # ssd.bin.infer refusing the score itself is as good
        status = exit_info.code
    assert status == 1
    err = capsys.readouterr().err
    assert "E0002" in err and ("NaN" in err or "non-finite" in err)
