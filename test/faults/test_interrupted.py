"""Interrupted stages: a feature job or stage 2 killed (SIGKILL) half-way, then re-run, ends complete and
byte-identical to an uninterrupted run, and no scp ever points into a truncated ark.

Kills come from outside and hit a known point: a wav.scp pipe entry that blocks until the test opens a
gate (helpers.gated_pipe) holds a feature job after the matrices before it, the job says it is there by a
pid file, and the test SIGKILLs it. Training killed mid-epoch and resumed to the same weights is
test/bin/test_train.py::test_resume_after_kill_is_bitwise_identical; a finished stage-2 set being skipped
on re-run is test/recipe/test_stages_0_2.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import kaldiio
import pytest
from helpers import (
    FS,
    gated_pipe,
    kill_group,
    link_recipe,
    run_python,
    run_recipe,
    speech,
    start,
    wait_until,
    write_flac,
    write_scp,
)

from ssd.data.datadir import read_kv, read_scp
from ssd.frontend.dump import dump_features

SECONDS = (1.3, 0.4, 2.1, 0.1, 0.9)


@pytest.fixture
def wav_scp(tmp_path: Path) -> Path:
    """Five real utterances of different lengths (one at the 0.1 s minimum)."""
    entries = {f"utt{i}": str(write_flac(tmp_path / "audio" / f"utt{i}.flac", speech(sec, offset=997 * i)))
               for i, sec in enumerate(SECONDS)}
    return write_scp(tmp_path / "wav.scp", entries)


def _job(wav_scp: Path, out: Path) -> subprocess.CompletedProcess:
    return run_python("ssd.bin.compute_lfcc", "--write-utt2num-frames", str(out / "utt2num_frames"),
                      str(wav_scp), f"ark,scp:{out / 'feats.ark'},{out / 'feats.scp'}")


def _relative_scp(out: Path) -> list[tuple[str, str]]:
    """scp entries with the dump dir taken out of the ark paths, to compare two dump dirs."""
    return [(utt, spec.replace(str(out), "DIR")) for utt, spec in read_scp(out / "feats.scp")]


def _gated(wav_scp: Path, gate: Path, utts: set[str]) -> Path:
    """A copy of ``wav_scp`` whose ``utts`` are pipes blocking until ``gate`` exists (helpers.gated_pipe)."""
    entries = [(utt, gated_pipe(Path(spec), gate) if utt in utts else spec)
               for utt, spec in read_scp(wav_scp)]
    return write_scp(wav_scp.with_name(f"gated_{wav_scp.name}"), entries)


def _wait_for_pids(gate: Path, count: int, proc: subprocess.Popen, log: Path) -> list[int]:
    """The pids of the ``count`` feature jobs now blocked at a gated entry."""
    reached = lambda: sorted(gate.parent.glob(f"{gate.name}.*.pid"))  # noqa: E731
    wait_until(lambda: len(reached()) == count and all(p.read_text().strip() for p in reached()), proc, log,
               f"{count} job(s) blocked at a gated utterance")
    return [int(p.read_text()) for p in reached()]


def test_killed_job_leaves_no_scp_and_its_rerun_is_byte_identical(wav_scp: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gated = _gated(wav_scp, gate, {"utt2"})  # the job blocks on its third utterance, two written
    reference = tmp_path / "reference"
    gate.touch()
    dump_features(gated, f"ark,scp:{reference / 'feats.ark'},{reference / 'feats.scp'}", fs=FS,
              utt2num_frames=reference / "utt2num_frames")
    out = tmp_path / "out"
    assert _job(gated, out).returncode == 0  # an earlier, complete run of the same job

    gate.unlink()
    for stale in tmp_path.glob("gate.*.pid"):  # left by the two runs above
        stale.unlink()
    log = tmp_path / "killed.log"
    proc = start([sys.executable, "-m", "ssd.bin.compute_lfcc", "--write-utt2num-frames",
                  str(out / "utt2num_frames"), str(gated),
                  f"ark,scp:{out / 'feats.ark'},{out / 'feats.scp'}"], log)
    assert _wait_for_pids(gate, 1, proc, log) == [proc.pid]
    assert kill_group(proc) == -signal.SIGKILL  # the job and its pipe, from outside
    # The old scp pointed into the ark the killed run was rewriting: it must be gone, as must the
    # old utt2num_frames; what is left is an ark that nothing refers to.
    assert not (out / "feats.scp").exists() and not (out / "utt2num_frames").exists()
    assert (out / "feats.ark").stat().st_size < (reference / "feats.ark").stat().st_size

    gate.touch()
    assert _job(gated, out).returncode == 0
    assert (out / "feats.ark").read_bytes() == (reference / "feats.ark").read_bytes()
    assert _relative_scp(out) == _relative_scp(reference)
    assert (out / "utt2num_frames").read_bytes() == (reference / "utt2num_frames").read_bytes()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_recipe_stage2_killed_then_rerun_is_complete_and_identical(la_corpus: Path, tmp_path: Path) -> None:
    recipe = link_recipe(tmp_path / "recipe")
    sets = ("--dev-set", "train", "--test-sets", "train")
    dump = recipe / "dump" / "lfcc" / "train"
    assert run_recipe(recipe, "--stage", "0", "--stop-stage", "1", *sets, corpus=la_corpus).returncode == 0
    # The second utterance blocks until the gate opens: job 1 (utterances 1-2 of wav.scp) writes one
    # matrix, then waits there, and is SIGKILLed from outside, as a cluster's time limit would.
    wav_scp = recipe / "data" / "train" / "wav.scp"
    gate = tmp_path / "gate"
    gated = _gated(wav_scp, gate, {read_scp(wav_scp)[1][0]})
    gated.replace(wav_scp)
    log = tmp_path / "killed.log"
    proc = start(["bash", str(recipe / "run.sh"), "--asvspoof2019-la", str(la_corpus), "--nj", "2",
                  "--stage", "2", "--stop-stage", "2", *sets], log, cwd=recipe)
    for pid in _wait_for_pids(gate, 1, proc, log):
        os.kill(pid, signal.SIGKILL)
    gate.touch()  # lets the killed jobs' orphaned pipes end
    assert proc.wait(timeout=120) != 0
    killed = log.read_text()
    assert "lfcc.1.log" in killed, killed
    assert not (dump / ".done").exists() and not (dump / "feats.scp").exists()
    assert (dump / "data" / "feats.1.ark").is_file() and not (dump / "data" / "feats.1.scp").exists()

    rerun = run_recipe(recipe, "--stage", "2", "--stop-stage", "2", *sets, corpus=la_corpus)
    assert rerun.returncode == 0, rerun.stderr
    assert (dump / ".done").exists()
    reference = tmp_path / "reference"
    dump_features(wav_scp, f"ark,scp:{reference / 'f.ark'},{reference / 'f.scp'}",
              fs=FS, utt2num_frames=reference / "utt2num_frames")
    expected = dict(kaldiio.load_scp_sequential(str(reference / "f.scp")))
    got = dict(kaldiio.load_scp_sequential(str(dump / "feats.scp")))
    assert sorted(got) == sorted(expected) == sorted(read_kv(wav_scp))
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
