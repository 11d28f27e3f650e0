"""Scratch recipe dirs linked to egs/asvspoof2019_la, so that test runs never write into the repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

RECIPE_FILES = ("run.sh", "db.sh", "cm.sh", "path.sh", "cmd.sh", "utils", "local", "conf")
# Stages 3-6 in seconds: the mini configuration for one epoch, two variants (plain and every task).
TINY_TRAINING = ("--variants", "vanilla all", "--train-opts", "--epochs 1")


def link_recipe(repo_root: Path, dest: Path) -> Path:
    """Link the recipe's scripts into ``dest``; outputs (downloads, data, dump, exp) land in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECIPE_FILES:
        os.symlink(repo_root / "egs" / "asvspoof2019_la" / name, dest / name)
    return dest


def run_recipe(recipe: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``run.sh`` with the ci-sized mini corpus; output is kept for the assertion message."""
    cmd = ["bash", str(recipe / "run.sh"), "--local-corpus-opts", "--mini-profile ci", *args]
    return subprocess.run(cmd, cwd=recipe, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
