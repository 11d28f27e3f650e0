"""A full disk fails a feature job with a clear error and leaves earlier outputs intact; a minutes-long
utterance is scored with bounded memory.

The disk fills two ways: a per-process file size limit (RLIMIT_FSIZE: writes fail with EFBIG, runs
anywhere) and a 64 kB tmpfs (writes fail with ENOSPC, the real thing; needs mount rights, else skipped).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch
from fault_helpers import file_size_limit
from helpers import FS, run_python, speech, write_flac, write_scp

from ssd.data.dataset import FeatureTable
from ssd.data.windows import window_starts
from ssd.frontend.dump import dump_features
from ssd.inference import score_table
from ssd.tasks.multitask import MultiTaskModel


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _finished_job_one(dump: Path, audio: Path) -> dict[str, bytes]:
    """Job 1 of a dump dir, complete (its scp, ark, utt2num_frames), as an earlier output to protect."""
    wav1 = write_scp(dump / "wav.1.scp", {"a1": str(write_flac(audio / "a1.flac", speech(0.1)))})
    dump_features(wav1, f"ark,scp:{dump / 'feats.1.ark'},{dump / 'feats.1.scp'}", fs=FS,
              utt2num_frames=dump / "utt2num_frames.1")
    return _snapshot(dump)


def _job_two(dump: Path, audio: Path, preexec_fn=None, seconds: float = 1.0,
             count: int = 5) -> subprocess.CompletedProcess:
    """Job 2: ``count`` utterances, about 24 kB of features each for the default one second."""
    entries = {f"b{i}": str(write_flac(audio / f"b{i}.flac", speech(seconds, offset=1231 * i)))
               for i in range(count)}
    wav2 = write_scp(dump / "wav.2.scp", entries)
    return run_python("ssd.bin.compute_lfcc", "--write-utt2num-frames", str(dump / "utt2num_frames.2"),
                      str(wav2), f"ark,scp:{dump / 'feats.2.ark'},{dump / 'feats.2.scp'}",
                      preexec_fn=preexec_fn)


def _assert_failed_cleanly(proc: subprocess.CompletedProcess, dump: Path, before: dict[str, bytes],
                           reason: str) -> None:
    assert proc.returncode == 1 and reason in proc.stderr
    after = _snapshot(dump)
    after.pop("wav.2.scp")
    assert set(after) == set(before)  # no partial ark, scp, utt2num_frames or temp file of job 2
    assert all(after[name] == data for name, data in before.items())
    assert list(kaldiio.load_scp(str(dump / "feats.1.scp"))) == ["a1"]


def test_file_size_limit_fails_the_job_and_keeps_earlier_outputs(tmp_path: Path) -> None:
    dump = tmp_path / "dump"
    before = _finished_job_one(dump, tmp_path / "audio")
    proc = _job_two(dump, tmp_path / "audio", preexec_fn=file_size_limit(40_000))
    _assert_failed_cleanly(proc, dump, before, "File too large")
    assert f"cannot write 'b1' to {dump / 'feats.2.ark'}: File too large" in proc.stderr


def test_full_disk_when_the_buffered_ark_is_flushed(tmp_path: Path) -> None:
    """Small matrices sit in the write buffer: the disk is found full only when the job commits."""
    dump = tmp_path / "dump"
    before = _finished_job_one(dump, tmp_path / "audio")
    # One 9-frame matrix, 2.2 kB: less than one 4 kB write buffer, more than the limit.
    proc = _job_two(dump, tmp_path / "audio", preexec_fn=file_size_limit(1_000), seconds=0.1, count=1)
    _assert_failed_cleanly(proc, dump, before, "File too large")
    assert f"cannot complete {dump / 'feats.2.ark'}" in proc.stderr


def test_atomic_write_on_a_full_file_system_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "utt2spk"
    target.write_text("a s1\n")
    script = textwrap.dedent(f"""
        from ssd.data.datadir import write_kv
        write_kv({str(target)!r}, {{f"utt{{i:06d}}": "speaker" for i in range(20000)}})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          preexec_fn=file_size_limit(50_000))
    assert proc.returncode == 1 and "File too large" in proc.stderr
    assert target.read_text() == "a s1\n"
    assert [p.name for p in tmp_path.iterdir()] == ["utt2spk"]  # the temp file was removed


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB tmpfs mounted for the test; skipped (with the reason) where mounting is not allowed."""
    mount_point = tmp_path / "small_disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'mount failed'}); "
                    "test_file_size_limit_fails_the_job_and_keeps_earlier_outputs covers the same path")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_full_disk_fails_the_job_and_keeps_earlier_outputs(small_tmpfs: Path, tmp_path: Path) -> None:
    dump = small_tmpfs / "dump"
    before = _finished_job_one(dump, tmp_path / "audio")
    proc = _job_two(dump, tmp_path / "audio")
    _assert_failed_cleanly(proc, dump, before, "No space left on device")
    assert f"to {dump / 'feats.2.ark'}: No space left on device" in proc.stderr


# --- long utterances at inference ----------------------------------------------------------------

TINY_PAPER_WINDOWS = {"model": {"resnet": {"stem_channels": 4, "channels": [4, 8, 8, 8],
                                           "blocks": [1, 1, 1, 1], "pool_channels": 8, "embedding_dim": 16},
                                "input_length": 750},
                      "loss": {"name": "ocsoftmax"}}


class _RecordingModel(torch.nn.Module):
    """A tiny real model whose ``score`` records the batch sizes it is given."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.inner = MultiTaskModel(TINY_PAPER_WINDOWS)
        self.batches: list[int] = []

    def score(self, feats: torch.Tensor) -> torch.Tensor:
        self.batches.append(feats.shape[0])
        return self.inner.score(feats)


def test_three_minute_utterance_is_scored_in_bounded_batches(tmp_path: Path) -> None:
    frames, length, hop, batch = 18000, 750, 375, 8  # 3 minutes at 100 frames/s; the paper's window and hop
    rng = np.random.default_rng(0)
    feats = {"long": rng.standard_normal((frames, 60)).astype(np.float32),
             "short": rng.standard_normal((300, 60)).astype(np.float32)}
    kaldiio.save_ark(str(tmp_path / "feats.ark"), feats, scp=str(tmp_path / "feats.scp"))
    write_scp(tmp_path / "utt2label", {"long": "bonafide", "short": "spoof"})
    table = FeatureTable(tmp_path / "feats.scp", tmp_path / "utt2label", cache="no")
    model = _RecordingModel()

    tracemalloc.start()
    try:
        scores = score_table(model, table, length, hop, batch, torch.device("cpu"), progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    n_windows = len(window_starts(frames, length, hop)) + 1
    assert sum(model.batches) == n_windows == 48
    assert max(model.batches) <= batch  # the network never sees more than a batch, however long the input
    assert np.isfinite(scores).all()
    # Host memory: the features and the windows of the utterance being scored (L / hop = 2 times its
    # 4.3 MB of features, 8.6 MB) and copies of them while batching (24 MB measured), never the windows
    # of the whole set; the bound is linear in the utterance's length.
    window_bytes = n_windows * 60 * length * 4
    assert peak < 4 * window_bytes + feats["long"].nbytes, (peak, window_bytes)
