"""Fixtures of the augmentation tests: tiny training and dev sets as stage 2 leaves them."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import write_audio_dir

from ssd.bin.compute_lfcc import main as compute_lfcc_main


@pytest.fixture
def audio_with_lfcc(tmp_path) -> tuple[Path, Path]:
    """Train (16 utterances) and dev (6) audio dirs with LFCC dumps beside the audio, as stage 2 makes."""
    train = write_audio_dir(tmp_path / "train", 16, 0, ["S1", "S2"], "U")
    dev = write_audio_dir(tmp_path / "dev", 6, 1, ["S9"], "D")
    for d in (train, dev):
        assert compute_lfcc_main(["--write-utt2num-frames", str(d / "utt2num_frames"), str(d / "wav.scp"),
                                  f"ark,scp:{d / 'feats.ark'},{d / 'feats.scp'}"]) == 0
    return train, dev
