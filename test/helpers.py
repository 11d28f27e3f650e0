"""Helpers shared by every test directory (pytest puts test/, the home of the root conftest, on sys.path).

One definition each: the repository paths; the skip-or-fail rule for missing services; real speech and
the files tests write (flac, ``key value`` tables, feature dumps through the real ark writer); the debug
training configuration and its command line; scratch recipe directories; the subprocess runner of
``python -m``; and the tools of the killed-process tests (run a real process, wait on the file system
until it has reached the point under test, then SIGKILL it from outside).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
from torch import nn

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "egs" / "asvspoof2019_la"
CONF = RECIPE / "conf"
CLIPS = REPO / "test" / "frontend" / "data"
TRACED_TRAIN = REPO / "test" / "traced_train.py"
FS = 16000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RECIPE_FILES = ("run.sh", "db.sh", "cm.sh", "eval.sh", "path.sh", "cmd.sh", "utils", "local", "conf")
# Stages 3-6 in seconds: the mini configuration for one epoch, two variants (plain and every task).
TINY_TRAINING = ("--variants", "vanilla all", "--train-opts", "--epochs 1")


def need(condition: bool, reason: str) -> None:
    """Skip when a service or fixture is missing; fail instead under CI=true, where it must be there."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def run_python(module: str, *args: str, env: dict[str, str] | None = None, launcher: list[str] | None = None,
               preexec_fn: Callable[[], None] | None = None, cwd: Path | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """``python [launcher] -m module args`` as its own process, one thread, output captured."""
    cmd = [sys.executable, *(launcher or []), "-m", module, *args]
    return subprocess.run(cmd, env={**os.environ, **ONE_THREAD, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn, cwd=cwd)


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in a session of its own, stdout and stderr going to ``log`` (read it while it runs)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, **ONE_THREAD, **(env or {})}, cwd=cwd,
                                start_new_session=True)


def wait_until(ready: Callable[[], bool], proc: subprocess.Popen, log: Path, what: str,
               timeout: float = 240) -> None:
    """Poll ``ready()`` every 10 ms; fail (killing ``proc``) on a time-out or if ``proc`` ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            pytest.fail(f"never saw {what} (exit {proc.returncode}); output:\n{log.read_text()[-4000:]}")
        time.sleep(0.01)


def kill_group(proc: subprocess.Popen) -> int:
    """SIGKILL ``proc`` and everything in its session, as ``kill -9`` or a cluster's time limit would."""
    os.killpg(proc.pid, signal.SIGKILL)
    return proc.wait(timeout=60)


def kill_and_resume(argv: list[str], exp: Path, step: int, log_dir: Path) -> None:
    """Run ``ssd.bin.train argv`` (its --exp-dir ``exp``) as a real process, SIGKILL it once it has done
    global step ``step`` (epoch 2: epoch 1's last.pt is on disk), then resume it to the end."""
    from ssd.utils.checkpoint import load_checkpoint

    log, held = log_dir / "killed.log", log_dir / "held"
    proc = start([sys.executable, str(TRACED_TRAIN), "--hold-after-step", str(step), str(held), *argv], log)
    wait_until(held.exists, proc, log, f"the run held after step {step}")
    assert kill_group(proc) == -signal.SIGKILL
    assert load_checkpoint(exp / "last.pt")["epoch"] == 1
    resumed = run_python("ssd.bin.train", *argv)
    assert resumed.returncode == 0 and "resuming" in resumed.stderr, resumed.stderr


def gated_pipe(audio: Path, gate: Path) -> str:
    """A wav.scp pipe entry that reads ``audio`` once ``gate`` exists; until then it blocks.

    On reaching the entry it writes the reading process's pid (its parent: the feature job) to
    ``<gate>.<file stem>.pid``, so a test knows the job is there and whom to kill. With the gate open
    it is an ordinary ``cat`` pipe.
    """
    reached = gate.with_name(f"{gate.name}.{audio.stem}.pid")
    return (f"echo $PPID > {reached}; while [ ! -e {gate} ]; do sleep 0.02; done; cat {audio} |")


def state_hash(model: nn.Module) -> str:
    """SHA-256 of the state_dict (weights and BatchNorm statistics): equal hashes, equal models."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- audio and tables -------------------------------------------------------------------------------

def speech(seconds: float = 1.0, offset: int = 0) -> np.ndarray:
    """``seconds`` of real 16 kHz speech as int16 (the one-second clip, cycled, starting at ``offset``)."""
    clip, fs = sf.read(CLIPS / "speech_16000.flac", dtype="int16")
    assert fs == FS
    return np.resize(np.roll(clip, -offset), int(seconds * FS))


def write_flac(path: Path, samples: np.ndarray, fs: int = FS) -> Path:
    """A 16-bit FLAC file (samples int16, or float in [-1, 1])."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, samples, fs, subtype="PCM_16", format="FLAC")
    return path


def write_scp(path: Path, entries: list[tuple[str, str]] | dict[str, str]) -> Path:
    """A ``key value`` file in the given order (tests sort where the format needs it)."""
    items = entries.items() if isinstance(entries, dict) else entries
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{key} {value}\n" for key, value in items))
    return path


# --- feature dumps and the debug training run ---------------------------------------------------------

# A debug profile over the mini one: a backbone of a few thousand weights, 32-frame crops, 2 epochs, a
# higher learning rate so that the loss visibly falls in a few steps.
DEBUG_YAML = f"""\
base: {CONF / 'train_mini.yaml'}
model:
  resnet: {{stem_channels: 4, channels: [4, 8, 8, 8], pool_channels: 8, embedding_dim: 16}}
  input_length: 32
optim: {{lr: 0.003}}
train: {{epochs: 2}}
data: {{batch_size: 8}}
eval: {{hop_length: 16, batch_size: 16}}
run: {{threads: 1, log_interval: 2}}
"""


def write_dump(out: Path, n_utts: int, speakers: list[str], seed: int, prefix: str = "U",
               frames: tuple[int, int] = (12, 80), poison: dict[str, float] | None = None) -> Path:
    """A feature dump dir (feats.scp/ark, utt2num_frames, utt2label, utt2attack, utt2spk, spk2utt).

    Classes differ by an offset, so a tiny model learns; spoofs cycle through attacks A01-A03. ``poison``
    maps an utterance to a value (NaN, inf) written over all its frames' first coefficient.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    feats: dict[str, np.ndarray] = {}
    tables: dict[str, dict[str, str]] = {name: {} for name in ("utt2label", "utt2attack", "utt2spk",
                                                               "utt2num_frames")}
    for i in range(n_utts):
        utt = f"{prefix}{i:04d}"
        spoof = i % 2 == 1
        mat = rng.standard_normal((int(rng.integers(frames[0], frames[1] + 1)), 60)).astype(np.float32)
        mat[:, :20] += 1.5 if spoof else -1.5
        if poison and utt in poison:
            mat[:, 0] = poison[utt]
        feats[utt] = mat
        tables["utt2label"][utt] = "spoof" if spoof else "bonafide"
        tables["utt2attack"][utt] = f"A0{1 + i % 3}" if spoof else "-"
        tables["utt2spk"][utt] = speakers[i % len(speakers)]
        tables["utt2num_frames"][utt] = str(mat.shape[0])
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"))
    for name, table in tables.items():
        write_scp(out / name, sorted(table.items()))
    spk2utt: dict[str, list[str]] = {}
    for utt, spk in sorted(tables["utt2spk"].items()):
        spk2utt.setdefault(spk, []).append(utt)
    write_scp(out / "spk2utt", [(spk, " ".join(utts)) for spk, utts in sorted(spk2utt.items())])
    return out


def debug_dumps(root: Path, train: Path, dev: Path) -> dict[str, Path]:
    """The ``dumps`` mapping of :func:`train_argv`: two dump dirs and the debug yaml (written under root)."""
    debug = root / "train_debug.yaml"
    if not debug.exists():
        debug.write_text(DEBUG_YAML)
    return {"train": train, "dev": dev, "debug": debug}


def train_argv(dumps: dict[str, Path], exp: Path, variant: str = "vanilla", loss: str = "ocsoftmax",
               *extra: str) -> list[str]:
    """Command-line arguments of ssd.bin.train for a debug run of one recipe variant file."""
    return ["--config", str(CONF / f"train_{loss}_{variant}.yaml"), "--base", str(dumps["debug"]),
            "--train-dir", str(dumps["train"]), "--dev-dir", str(dumps["dev"]), "--exp-dir", str(exp), *extra]


def write_audio_dir(out: Path, n_utts: int, seed: int, speakers: list[str], prefix: str) -> Path:
    """A raw-front-end data dir (wav.scp of real WAV files + tables); spoofs carry a 3 kHz tone."""
    rng = np.random.default_rng(seed)
    (out / "wav").mkdir(parents=True)
    tables = {"wav.scp": {}, "utt2label": {}, "utt2spk": {}, "utt2attack": {}}
    for i in range(n_utts):
        utt, spoof = f"{prefix}{i:04d}", i % 2 == 1
        n = int(rng.integers(int(0.15 * FS), int(0.5 * FS)))
        wave = 0.1 * rng.standard_normal(n)
        if spoof:
            wave += 0.3 * np.sin(2 * np.pi * 3000 * np.arange(n) / FS)
        sf.write(out / "wav" / f"{utt}.wav", np.clip(wave, -1, 1), FS, subtype="PCM_16")
        tables["wav.scp"][utt] = str(out / "wav" / f"{utt}.wav")
        tables["utt2label"][utt] = "spoof" if spoof else "bonafide"
        tables["utt2attack"][utt] = "A01" if spoof else "-"
        tables["utt2spk"][utt] = speakers[i % len(speakers)]
    for name, table in tables.items():
        (out / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    return out


# --- recipes ------------------------------------------------------------------------------------------

def link_recipe(dest: Path, recipe: str = "asvspoof2019_la") -> Path:
    """A scratch recipe dir linked to egs/<recipe>: its outputs never land in the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECIPE_FILES:
        if (REPO / "egs" / recipe / name).exists():
            os.symlink(REPO / "egs" / recipe / name, dest / name)
    return dest


def run_recipe(recipe: Path, *args: str, corpus: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 1800) -> subprocess.CompletedProcess:
    """``./run.sh args`` in ``recipe`` as a user runs it, output kept for the assertion message.

    With ``corpus`` (an ASVspoof 2019 LA tree) it runs on that corpus with two jobs; without, on the
    ci-sized mini corpus.
    """
    corpus_args = ["--asvspoof2019-la", str(corpus), "--nj", "2"] if corpus else ["--local-corpus-opts",
                                                                                  "--mini-profile ci"]
    return subprocess.run(["bash", str(recipe / "run.sh"), *corpus_args, *args], cwd=recipe,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})
