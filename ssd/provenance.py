"""Where results and models come from: the git commit of this code and the corpus a data dir was made from.

Stage 5 writes both into every RESULTS.md and packing writes them into a packed model's manifest and
model card, so that anyone can tell which code and which corpus produced a row or a model.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

from ssd.data.datadir import read_kv

CORPUS_FILE = "corpus"  # data/<set>/corpus: "path <corpus dir>", written by data preparation
COMPLETE_MARKER = ".complete"  # in the bundled mini corpus: its profile, seed and generator version
_GIT_TIMEOUT_S = 30


def _git(*args: str) -> str | None:
    """Output of a git command run in the checkout holding this code, or None (no git, not a checkout)."""
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        done = subprocess.run(["git", "-C", here, *args], capture_output=True, text=True, check=False,
                              timeout=_GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit() -> dict[str, Any]:
    """Commit of the git checkout holding this ssd code, and whether it had local changes (else nulls)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def corpus_info(corpus_file: str | os.PathLike | None) -> dict[str, Any]:
    """The corpus a data dir was prepared from, read from its ``corpus`` file (``path /abs/LA``).

    The bundled mini corpus is recognised by its ``.complete`` marker (profile, seed, generator
    version). A missing file (or None) gives nulls; a malformed one is an error naming its line.
    """
    if corpus_file is None or not os.path.isfile(corpus_file):
        return {"path": None, "mini_corpus": None, "source": None}
    path = read_kv(corpus_file).get("path")
    marker = os.path.join(path, COMPLETE_MARKER) if path else None
    mini = None
    if marker and os.path.isfile(marker):
        with open(marker, encoding="utf-8") as f:
            mini = f.read().strip()
    return {"path": path, "mini_corpus": mini, "source": str(corpus_file)}
