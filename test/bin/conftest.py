"""Fixtures for the training and inference entry points: tiny real feature dumps and a debug config."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import DEBUG_YAML, write_dump


@pytest.fixture(scope="session")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train (40 utterances, 4 speakers) and dev (16 utterances, 2 unseen speakers) dump dirs + debug yaml."""
    root = tmp_path_factory.mktemp("dump")
    debug = root / "train_debug.yaml"
    debug.write_text(DEBUG_YAML)
    return {
        "train": write_dump(root / "train", 40, ["LA_0001", "LA_0002", "LA_0003", "LA_0004"], seed=0),
        "dev": write_dump(root / "dev", 16, ["LA_0101", "LA_0102"], seed=1, prefix="D"),
        "debug": debug,
    }
