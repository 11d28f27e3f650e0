"""Fault-injection suite fixtures (the hypothesis profiles live in test/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_helpers import make_la_corpus


@pytest.fixture(scope="session")
def la_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real-flac ASVspoof 2019 LA tree; read-only for the tests (copy it to damage it)."""
    return make_la_corpus(tmp_path_factory.mktemp("la_corpus"))
