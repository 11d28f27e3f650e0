"""The recipe tests' shared scratch recipes: stages 0-2 on the ci mini corpus, then 3-6 on top."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import TINY_TRAINING, link_recipe, run_recipe


@pytest.fixture(scope="session")
def mini_recipe(tmp_path_factory, repo_root) -> Path:
    """A recipe dir whose stages 0-2 ran on the ci mini corpus (shared by the recipe tests)."""
    recipe = link_recipe(tmp_path_factory.mktemp("recipe"))
    result = run_recipe(recipe, "--stage", "0", "--stop-stage", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return recipe


@pytest.fixture(scope="session")
def trained_recipe(mini_recipe) -> Path:
    """The same recipe after stages 3-6 for two variants with a one-epoch mini configuration."""
    result = run_recipe(mini_recipe, "--stage", "3", "--stop-stage", "6", *TINY_TRAINING)
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    return mini_recipe
