"""Interrupted stages: a feature job or stage 2 killed (SIGKILL) half-way, then re-run, ends complete and
byte-identical to an uninterrupted run, and no scp ever points into a truncated ark.

Kills are deterministic: ``SSD_FAULT_EXIT_AFTER_UTTS=N`` makes a feature job SIGKILL itself right after
its N-th matrix (ssd/frontend/dump.py). Training killed mid-epoch and resumed to the same weights is
test/bin/test_train.py::test_resume_after_kill_is_bitwise_identical (ssd.bin.train's SSD_STOP_AFTER_STEPS
hook); a finished stage-2 set being skipped on re-run is test/recipe/test_stages_0_2.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import kaldiio
import pytest
from fault_helpers import FS, link_recipe, run_python, run_recipe, speech, write_flac, write_scp

from ssd.data.datadir import read_kv, read_scp
from ssd.frontend.dump import FAULT_ENV, dump_lfcc

SECONDS = (1.3, 0.4, 2.1, 0.1, 0.9)


@pytest.fixture
def wav_scp(tmp_path: Path) -> Path:
    """Five real utterances of different lengths (one at the 0.1 s minimum)."""
    entries = {f"utt{i}": str(write_flac(tmp_path / "audio" / f"utt{i}.flac", speech(sec, offset=997 * i)))
               for i, sec in enumerate(SECONDS)}
    return write_scp(tmp_path / "wav.scp", entries)


def _job(wav_scp: Path, out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_python("ssd.bin.compute_lfcc", "--write-utt2num-frames", str(out / "utt2num_frames"),
                      str(wav_scp), f"ark,scp:{out / 'feats.ark'},{out / 'feats.scp'}", env=env)


def _relative_scp(out: Path) -> list[tuple[str, str]]:
    """scp entries with the dump dir taken out of the ark paths, to compare two dump dirs."""
    return [(utt, spec.replace(str(out), "DIR")) for utt, spec in read_scp(out / "feats.scp")]


def test_killed_job_leaves_no_scp_and_its_rerun_is_byte_identical(wav_scp: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    dump_lfcc(wav_scp, f"ark,scp:{reference / 'feats.ark'},{reference / 'feats.scp'}", fs=FS,
              utt2num_frames=reference / "utt2num_frames")

    out = tmp_path / "out"
    assert _job(wav_scp, out).returncode == 0  # an earlier, complete run of the same job
    killed = _job(wav_scp, out, env={FAULT_ENV: "2"})
    assert killed.returncode == -signal.SIGKILL
    # The old scp pointed into the ark the killed run was rewriting: it must be gone, as must the
    # old utt2num_frames; what is left is an ark that nothing refers to.
    assert not (out / "feats.scp").exists() and not (out / "utt2num_frames").exists()
    assert (out / "feats.ark").stat().st_size < (reference / "feats.ark").stat().st_size

    assert _job(wav_scp, out).returncode == 0
    assert (out / "feats.ark").read_bytes() == (reference / "feats.ark").read_bytes()
    assert _relative_scp(out) == _relative_scp(reference)
    assert (out / "utt2num_frames").read_bytes() == (reference / "utt2num_frames").read_bytes()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_hook_value_must_be_a_number(wav_scp: Path, tmp_path: Path) -> None:
    result = _job(wav_scp, tmp_path / "out", env={FAULT_ENV: "two"})
    assert result.returncode == 1 and f"{FAULT_ENV}='two'" in result.stderr


def test_recipe_stage2_killed_then_rerun_is_complete_and_identical(la_corpus: Path, tmp_path: Path) -> None:
    recipe = link_recipe(tmp_path / "recipe")
    only_train = ("--stage", "0", "--stop-stage", "2", "--dev-set", "train", "--test-sets", "train")
    dump = recipe / "dump" / "lfcc" / "train"

    killed = run_recipe(recipe, la_corpus, *only_train, env={FAULT_ENV: "1"})
    assert killed.returncode != 0
    assert "lfcc.1.log" in killed.stderr or "lfcc.2.log" in killed.stderr
    assert not (dump / ".done").exists() and not (dump / "feats.scp").exists()
    assert not list((dump / "data").glob("feats.*.scp"))  # no job published an scp

    rerun = run_recipe(recipe, la_corpus, *only_train)
    assert rerun.returncode == 0, rerun.stderr
    assert (dump / ".done").exists()
    reference = tmp_path / "reference"
    dump_lfcc(recipe / "data" / "train" / "wav.scp", f"ark,scp:{reference / 'f.ark'},{reference / 'f.scp'}",
              fs=FS, utt2num_frames=reference / "utt2num_frames")
    expected = dict(kaldiio.load_scp_sequential(str(reference / "f.scp")))
    got = dict(kaldiio.load_scp_sequential(str(dump / "feats.scp")))
    assert sorted(got) == sorted(expected) == sorted(read_kv(recipe / "data" / "train" / "wav.scp"))
    for utt, mat in expected.items():
        assert got[utt].tobytes() == mat.tobytes(), utt
    assert read_kv(dump / "utt2num_frames") == read_kv(reference / "utt2num_frames")


def test_sigkill_inside_atomic_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "utt2spk"
    target.write_text("a s1\nb s2\n")
    script = textwrap.dedent(f"""
        import os, signal
        from ssd.utils.fileio import atomic_write
        with atomic_write({str(target)!r}) as f:
            f.write("a s9\\n")
            f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert target.read_text() == "a s1\nb s2\n"
    leftovers = [p.name for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and leftovers[0].startswith(".utt2spk.") and leftovers[0].endswith(".tmp")
    assert read_kv(target) == {"a": "s1", "b": "s2"}
