"""Fault-injection material only: an ASVspoof 2019 LA tree of real flac files and a file-size cap.

The rest (speech, flac and table writers, dumps, the debug run, recipes, process runners) is shared by
every test directory: test/helpers.py.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from pathlib import Path

import numpy as np
from helpers import speech, write_flac

PROTOCOLS = {"train": "ASVspoof2019.LA.cm.train.trn.txt", "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
             "eval": "ASVspoof2019.LA.cm.eval.trl.txt"}


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the child writes at ``limit_bytes`` (RLIMIT_FSIZE).

    Python ignores SIGXFSZ, so a write past the cap fails with EFBIG ("File too large") instead of
    killing the process: the same code path as a full disk (ENOSPC).
    """
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))
    return apply


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
