"""Helpers for the shell-level tests (test/shell): the tools under utils/ run as real subprocesses."""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from helpers import REPO

UTILS = REPO / "utils"


def run(
    args: list[str], cwd: Path, check: bool = False, timeout: float = 120, **kw
) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; with check, fail the test showing both streams."""
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        pytest.fail(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


_STARTED = re.compile(r"^# Started at (\S+)", re.M)
_ENDED = re.compile(r"^# Ended \(code (-?\d+)\) at ([^,\s]+)", re.M)


def log_record(path: Path) -> dict:
    """Header command, start/end times and exit code of a task log written by the launchers."""
    text = path.read_text()
    started = _STARTED.search(text)
    ended = _ENDED.search(text)
    return {
        "text": text,
        "cmd": text.splitlines()[0][2:] if text else None,
        "start": datetime.fromisoformat(started.group(1)) if started else None,
        "end": datetime.fromisoformat(ended.group(2)) if ended else None,
        "code": int(ended.group(1)) if ended else None,
    }


def max_overlap(records: list[dict]) -> int:
    """Largest number of tasks running at one instant, from the logs' start/end stamps."""
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


# ASVspoof-like: utterance ids are not prefixed by the speaker id.
UTTS = [
    ("LA_T_1000001", "LA_0079", "bonafide", "-"),
    ("LA_T_1000002", "LA_0080", "spoof", "A01"),
    ("LA_T_1000003", "LA_0079", "spoof", "A02"),
    ("LA_T_1000004", "LA_0080", "bonafide", "-"),
    ("LA_T_1000005", "LA_0079", "spoof", "A01"),
]


def write_data_dir(d: Path, utts: list[tuple[str, str, str, str]] = UTTS) -> Path:
    """A data dir (wav.scp, utt2spk, spk2utt, utt2label, utt2attack) for (utt, spk, label, attack) rows."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "wav.scp").write_text("".join(f"{u} /corpus/flac/{u}.flac\n" for u, *_ in utts))
    (d / "utt2spk").write_text("".join(f"{u} {s}\n" for u, s, *_ in utts))
    spk2utt: dict[str, list[str]] = {}
    for u, s, *_ in utts:
        spk2utt.setdefault(s, []).append(u)
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(us)}\n" for s, us in sorted(spk2utt.items())))
    (d / "utt2label").write_text("".join(f"{u} {lab}\n" for u, _, lab, _ in utts))
    (d / "utt2attack").write_text("".join(f"{u} {a}\n" for u, _, _, a in utts))
    return d
