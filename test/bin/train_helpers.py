"""Helpers of the training/inference tests: tiny real feature dumps, a debug config, subprocess runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np

REPO = Path(__file__).resolve().parents[2]
CONF = REPO / "egs" / "asvspoof2019_la" / "conf"

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


def write_dump(out: Path, n_utts: int, seed: int, speakers: list[str], min_frames: int = 12,
               max_frames: int = 80, prefix: str = "U") -> Path:
    """Write a feature dump dir whose classes differ by a learnable offset: feats.scp/ark + tables."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    feats, tables = {}, {"utt2label": {}, "utt2spk": {}, "utt2attack": {}, "utt2num_frames": {}}
    for i in range(n_utts):
        utt = f"{prefix}{i:04d}"
        spoof = i % 2 == 1
        frames = int(rng.integers(min_frames, max_frames + 1))
        mat = rng.standard_normal((frames, 60)).astype(np.float32)
        mat[:, :20] += 1.5 if spoof else -1.5
        feats[utt] = mat
        tables["utt2label"][utt] = "spoof" if spoof else "bonafide"
        tables["utt2attack"][utt] = f"A0{1 + i % 3}" if spoof else "-"
        tables["utt2spk"][utt] = speakers[i % len(speakers)]
        tables["utt2num_frames"][utt] = str(frames)
    kaldiio.save_ark(str(out / "feats.ark"), feats, scp=str(out / "feats.scp"))
    for name, table in tables.items():
        (out / name).write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())))
    return out


def train_argv(dumps: dict[str, Path], exp: Path, variant: str = "vanilla", loss: str = "ocsoftmax",
               *extra: str) -> list[str]:
    """Command-line arguments of ssd.bin.train for a debug run of one recipe variant file."""
    return ["--config", str(CONF / f"train_{loss}_{variant}.yaml"), "--base", str(dumps["debug"]),
            "--train-dir", str(dumps["train"]), "--dev-dir", str(dumps["dev"]), "--exp-dir", str(exp), *extra]


def run_module(module: str, args: list[str], env: dict[str, str] | None = None,
               launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` (or under ``launcher``) with one thread per process."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **(env or {})}
    cmd = [sys.executable, *(launcher or []), "-m", module, *args]
    return subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=300)
