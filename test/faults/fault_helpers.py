"""Shared material of the fault-injection suite: real speech clips, tiny corpora and dumps, process runners.

Everything here is real: speech is the recorded clips of test/frontend/data, corpora are laid out exactly
like ASVspoof 2019 LA, features go through the real ark/scp writer, and the programs under test run as
processes where the fault (a kill, a file size limit) must hit a whole process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import kaldiio
import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO / "test" / "frontend" / "data"
CONF = REPO / "egs" / "asvspoof2019_la" / "conf"
FS = 16000
RECIPE_FILES = ("run.sh", "db.sh", "cm.sh", "path.sh", "cmd.sh", "utils", "local", "conf")
PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
             "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}


def speech(seconds: float = 1.0, offset: int = 0) -> np.ndarray:
    """``seconds`` of real 16 kHz speech as int16 (the one-second clip, cycled, starting at ``offset``)."""
    clip, fs = sf.read(CLIPS / "speech_16000.flac", dtype="int16")
    assert fs == FS
    n = int(seconds * FS)
    return np.resize(np.roll(clip, -offset), n)


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


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the child writes at ``limit_bytes`` (RLIMIT_FSIZE).

    Python ignores SIGXFSZ, so a write past the cap fails with EFBIG ("File too large") instead of
    killing the process: the same code path as a full disk (ENOSPC).
    """
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


def run_python(module: str, *args: str, env: dict[str, str] | None = None,
               preexec_fn: Callable[[], None] | None = None, cwd: Path | None = None,
               ) -> subprocess.CompletedProcess:
    """``python -m module args`` as its own process, one thread, output captured for the assertions."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], env=full_env, capture_output=True,
                          text=True, timeout=300, preexec_fn=preexec_fn, cwd=cwd)


# --- an ASVspoof 2019 LA tree of a few real flac files --------------------------------------------

def make_la_corpus(root: Path, per_set: int = 4) -> Path:
    """Write ``root/LA`` in the real corpus's layout: ``per_set`` utterances per subset, half bona fide.

    Bona fide files are real speech; "spoofs" are the same speech at half the level: the faults, not the
    detector, are under test. Speakers LA_0001/LA_0002 in train, others in dev and eval.
    """
    la = root / "LA"
    (la / "ASVspoof2019_LA_cm_protocols").mkdir(parents=True, exist_ok=True)
    for s, (subset, letter) in enumerate((("train", "T"), ("dev", "D"), ("eval", "E"))):
        lines = []
        for i in range(per_set):
            utt = f"LA_{letter}_{1000001 + i}"
            spoof = i % 2 == 1
            samples = speech(0.6 + 0.1 * i, offset=1000 * (i + 4 * s))
            write_flac(la / f"ASVspoof2019_LA_{subset}" / "flac" / f"{utt}.flac",
                       (samples // 2).astype(np.int16) if spoof else samples)
            attack = ("A01" if subset != "eval" else "A07") if spoof else "-"
            lines.append(f"LA_{s}{i % 2:03d} {utt} - {attack} {'spoof' if spoof else 'bonafide'}")
        (la / "ASVspoof2019_LA_cm_protocols" / PROTOCOLS[subset]).write_text("\n".join(lines) + "\n")
    return la


def link_recipe(dest: Path) -> Path:
    """A scratch recipe dir linked to egs/asvspoof2019_la: its outputs never land in the repository."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECIPE_FILES:
        os.symlink(REPO / "egs" / "asvspoof2019_la" / name, dest / name)
    return dest


def run_recipe(recipe: Path, corpus: Path, *args: str, env: dict[str, str] | None = None,
               ) -> subprocess.CompletedProcess:
    """``./run.sh --asvspoof2019-la CORPUS --nj 2 args`` in ``recipe``, as a user would run it."""
    cmd = ["bash", str(recipe / "run.sh"), "--asvspoof2019-la", str(corpus), "--nj", "2", *args]
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


# --- feature dumps and a debug training configuration ---------------------------------------------

# A network of a few thousand weights over the mini profile: 32-frame crops, one epoch, a step in ms.
DEBUG_YAML = f"""\
base: {CONF / 'train_mini.yaml'}
model:
  resnet: {{stem_channels: 4, channels: [4, 8, 8, 8], pool_channels: 8, embedding_dim: 16}}
  input_length: 32
train: {{epochs: 1}}
data: {{batch_size: 8}}
eval: {{hop_length: 16, batch_size: 16}}
run: {{threads: 1, log_interval: 0}}
"""


def write_dump(out: Path, n_utts: int, speakers: list[str], seed: int, prefix: str = "U",
               poison: dict[str, float] | None = None) -> Path:
    """A feature dump dir (feats.scp/ark, utt2num_frames, utt2label, utt2attack, utt2spk, spk2utt).

    Classes differ by an offset, so the tiny model learns; ``poison`` maps an utterance to a value
    (NaN, inf) written over all its frames' first coefficient.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    feats: dict[str, np.ndarray] = {}
    tables: dict[str, dict[str, str]] = {name: {} for name in ("utt2label", "utt2attack", "utt2spk",
                                                               "utt2num_frames")}
    for i in range(n_utts):
        utt = f"{prefix}{i:04d}"
        spoof = i % 2 == 1
        mat = rng.standard_normal((int(rng.integers(20, 60)), 60)).astype(np.float32)
        mat[:, :20] += 1.5 if spoof else -1.5
        if poison and utt in poison:
            mat[:, 0] = poison[utt]
        feats[utt] = mat
        tables["utt2label"][utt] = "spoof" if spoof else "bonafide"
        tables["utt2attack"][utt] = "A01" if spoof else "-"
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


def train_args(config_dir: Path, train: Path, dev: Path, exp: Path, variant: str = "vanilla",
               *extra: str) -> list[str]:
    """ssd.bin.train arguments for a debug run of a recipe variant (writes the debug yaml on first use)."""
    debug = config_dir / "train_debug.yaml"
    if not debug.exists():
        debug.write_text(DEBUG_YAML)
    return ["--config", str(CONF / f"train_ocsoftmax_{variant}.yaml"), "--base", str(debug),
            "--train-dir", str(train), "--dev-dir", str(dev), "--exp-dir", str(exp), *extra]
