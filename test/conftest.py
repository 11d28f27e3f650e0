"""Shared test fixtures: the public reference data folder, a seeded RNG and the repository root."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# Property-based tests: CI sees the same examples on every run and keeps no example database; locally
# hypothesis explores new examples and remembers failures. No deadline: the machine may be loaded.
settings.register_profile("ci", deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The folder named by SSD_FIXTURES; missing is a failure in CI and a skip elsewhere."""
    value = os.environ.get("SSD_FIXTURES")
    path = Path(value) if value else None
    if path is None or not path.is_dir():
        reason = f"SSD_FIXTURES={value!r} is not a directory (set it to ../shared/fixtures)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator so that every test sees the same random data on every run."""
    return np.random.default_rng(20221)
