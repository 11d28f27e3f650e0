"""A tiny but real detector experiment for the detector, pack, detect and export tests.

Real speech (Asterisk's recorded G.722 prompts as bona fide, espeak-ng sentences as "spoofs"), stage 2's
LFCC dump, an all-tasks network of a few thousand weights (BatchNorm statistics from real features), stage 4's
ssd.bin.infer for the score files, organiser-format ASV scores for the dev set, stage 5's reports (no
calibration: the tests that need one fit it) and stage 6's archive. It is built once per test session
(about 4 s) and must be treated as read-only by the tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from helpers import CONF, FS
from scipy.signal import resample_poly

from ssd.bin import infer, results
from ssd.data.datadir import write_data_dir, write_kv
from ssd.data.windows import repeat_pad
from ssd.frontend.dump import dump_features
from ssd.packing import pack_experiment
from ssd.tasks.multitask import MultiTaskModel
from ssd.utils.checkpoint import save_checkpoint
from ssd.utils.config import load_config, write_config

ASTERISK = Path("/usr/share/asterisk/sounds/en")
WINDOW, HOP = 100, 50  # evaluation window and hop of the tiny model, in frames
TAG = "ocsoftmax_all"

# Tiny network on top of the mini profile; every auxiliary task on, so packing must drop their networks.
DEBUG_YAML = f"""\
base: {CONF / 'train_mini.yaml'}
model: {{resnet: {{stem_channels: 4, channels: [4, 8, 8, 8], pool_channels: 8, embedding_dim: 16}},
        input_length: {WINDOW}}}
eval: {{hop_length: {HOP}, batch_size: 16}}
"""

# (utterance, source, attack): Asterisk prompt names are bona fide, sentences are espeak-ng "attacks".
SETS = {
    "dev": [
        ("D_0001", "activated", "-"), ("D_0002", "added", "-"), ("D_0003", "agent-loggedoff", "-"),
        ("D_0004", "agent-loginok", "-"),
        ("D_0005", "Please enter your account number.", "A01"), ("D_0006", "Your call is important.", "A01"),
        ("D_0007", "Thank you, goodbye.", "A02"), ("D_0008", "The number you have dialled is busy.", "A02"),
    ],
    "eval": [
        ("E_0001", "agent-newlocation", "-"), ("E_0002", "auth-thankyou", "-"),
        ("E_0003", "agent-alreadyon", "-"),
        ("E_0004", "Press one to continue.", "A07"),
        ("E_0005", "All circuits are busy now, please try later.", "A07"),
        ("E_0006", "Hi.", "A08"),
    ],
}


def require_audio_sources() -> None:
    """Skip (fail under CI) when the speech sources the tests synthesise from are not installed."""
    missing = []
    if shutil.which("espeak-ng") is None:
        missing.append("espeak-ng")
    if not (ASTERISK / "activated.g722").is_file():
        missing.append("asterisk-core-sounds-en-g722")
    if missing:
        reason = f"needs the Debian packages {', '.join(missing)} (tools/setup.sh installs them)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def asterisk_speech(name: str) -> np.ndarray:
    """A recorded Asterisk prompt, 16 kHz, float64 in [-1, 1]."""
    from G722 import G722

    pcm = np.asarray(G722(FS, 64000).decode((ASTERISK / f"{name}.g722").read_bytes()), dtype=np.float64)
    return pcm / 32768.0


def espeak_speech(text: str, work: Path) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of ``text`` at its native rate (22050 Hz), float64 in [-1, 1]."""
    out = work / "espeak.wav"
    subprocess.run(["espeak-ng", "-w", str(out), text], check=True, capture_output=True, timeout=60)
    samples, fs = sf.read(out, dtype="float64")
    return samples, fs


def speech_16k(source: str, work: Path) -> np.ndarray:
    """A bona fide prompt or a synthesised sentence at 16 kHz."""
    if " " not in source and not source.endswith("."):
        return asterisk_speech(source)
    samples, fs = espeak_speech(source, work)
    g = np.gcd(fs, FS)
    return np.clip(resample_poly(samples, FS // g, fs // g), -1.0, 32767 / 32768)


@dataclass(frozen=True)
class TinyExperiment:
    """Paths of a finished tiny experiment (stages 1-6 done)."""

    root: Path
    data: Path  # data/<set>/ with wav.scp, utt2label, utt2attack, utt2spk (dev: asv_scores.txt)
    dump: Path  # dump/lfcc/<set>/
    exp: Path  # exp/<tag>/ with best.pt, config.yaml, scores/{dev,eval}.txt
    packed: Path  # exp/<tag>/packed/<tag>.zip


def _write_set(root: Path, name: str, work: Path) -> None:
    data = root / "data" / name
    wav_dir = root / "corpus" / name
    wav_dir.mkdir(parents=True, exist_ok=True)
    wav_scp, labels, attacks, speakers = {}, {}, {}, {}
    for i, (utt, source, attack) in enumerate(SETS[name]):
        path = wav_dir / f"{utt}.flac"
        sf.write(path, speech_16k(source, work), FS, subtype="PCM_16")
        # One entry is a Kaldi pipe, as a recipe's wav.scp may have.
        wav_scp[utt] = f"cat {path} |" if i == 1 else str(path)
        labels[utt] = "bonafide" if attack == "-" else "spoof"
        attacks[utt] = attack
        speakers[utt] = f"SPK{i % 2}"
    write_data_dir(data, {"wav.scp": wav_scp, "utt2label": labels, "utt2attack": attacks,
                          "utt2spk": speakers})
    write_kv(data / "corpus", {"path": str(root / "corpus")})
    if name == "dev":
        rng = np.random.default_rng(7)
        lines = [f"bonafide target {s:.4f}" for s in rng.normal(4, 1, 12)]
        lines += [f"bonafide nontarget {s:.4f}" for s in rng.normal(-4, 1, 12)]
        lines += [f"{a} spoof {s:.4f}" for a in ("A01", "A02") for s in rng.normal(1, 2, 6)]
        (data / "asv_scores.txt").write_text("\n".join(lines) + "\n")

    dump = root / "dump" / "lfcc" / name
    dump.mkdir(parents=True, exist_ok=True)
    dump_features(data / "wav.scp", f"ark,scp:{dump / 'feats.ark'},{dump / 'feats.scp'}", fs=FS,
              utt2num_frames=dump / "utt2num_frames")
    for table in ("utt2label", "utt2attack", "utt2spk", "spk2utt", "corpus"):
        shutil.copy(data / table, dump / table)


def _make_tiny_model(root: Path, exp: Path) -> None:
    """best.pt of a tiny all-tasks model whose BatchNorm statistics come from real features.

    Train-mode forward passes (no optimiser step: with the auxiliary networks a step takes seconds) move the
    running statistics away from their initial values, so a train-mode leak would change the scores.
    """
    import kaldiio

    debug = root / "train_debug.yaml"
    debug.write_text(DEBUG_YAML)
    cfg = load_config(CONF / f"train_{TAG}.yaml", base=debug)
    cfg["data"]["train_dir"] = str(root / "dump" / "lfcc" / "dev")
    cfg["data"]["dev_dir"] = str(root / "dump" / "lfcc" / "dev")
    torch.manual_seed(0)
    speakers = ["SPK0", "SPK1"]
    model = MultiTaskModel(cfg, len(speakers))
    feats = dict(kaldiio.load_scp_sequential(str(root / "dump" / "lfcc" / "dev" / "feats.scp")))
    x = torch.from_numpy(np.stack([repeat_pad(feats[u], WINDOW).T for u in sorted(feats)]).copy())
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.backbone(x)
    exp.mkdir(parents=True, exist_ok=True)
    write_config(exp / "config.yaml", cfg)
    save_checkpoint(exp / "best.pt", {"config": cfg, "epoch": 3, "speakers": speakers,
                                      "model": model.state_dict(), "dev_eer": 0.5})


def build_tiny_experiment(root: Path) -> TinyExperiment:
    """Stages 1-6 on a handful of real utterances; see the module docstring."""
    require_audio_sources()
    work = root / "work"
    work.mkdir(parents=True, exist_ok=True)
    for name in SETS:
        _write_set(root, name, work)
    exp = root / "exp" / TAG
    _make_tiny_model(root, exp)
    for name in SETS:
        infer.main(["--exp-dir", str(exp), "--data-dir", str(root / "dump" / "lfcc" / name),
                    "--out", str(exp / "scores" / f"{name}.txt"), "--device", "cpu", "--threads", "1"])
    assert results.main(["--exp-dirs", str(exp), "--data-root", str(root / "data"), "--sets", *SETS,
                         "--out", str(root / "RESULTS.md"), "--ci-replicates", "20",
                         "--calibrate-on", "none"]) == 0
    packed = exp / "packed" / f"{TAG}.zip"
    pack_experiment(exp, packed, data_root=root / "data")
    return TinyExperiment(root, root / "data", root / "dump" / "lfcc", exp, packed)


_BUILT: dict[str, TinyExperiment] = {}


def tiny_experiment(tmp_path_factory: pytest.TempPathFactory) -> TinyExperiment:
    """The session's tiny experiment, built on first use (call from a fixture)."""
    if "exp" not in _BUILT:
        _BUILT["exp"] = build_tiny_experiment(tmp_path_factory.mktemp("tiny_detector"))
    return _BUILT["exp"]


def read_score_file(path: Path) -> dict[str, float]:
    """``utt attack key score`` lines -> {utt: score}."""
    return {line.split()[0]: float(line.split()[3]) for line in path.read_text().splitlines() if line.strip()}
