"""The recipe tests' shared fixture: one scratch recipe whose stages 0-2 ran on the ci mini corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from recipe_helpers import link_recipe, run_recipe


@pytest.fixture(scope="session")
def mini_recipe(tmp_path_factory, repo_root) -> Path:
    """A recipe dir whose stages 0-2 ran on the ci mini corpus (shared by the recipe tests)."""
    recipe = link_recipe(repo_root, tmp_path_factory.mktemp("recipe"))
    result = run_recipe(recipe, "--stage", "0", "--stop-stage", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return recipe
