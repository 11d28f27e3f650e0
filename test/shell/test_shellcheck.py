"""The shell tools in utils/ and the cluster scripts in test/shell/ are shellcheck clean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import REPO, need
from shell_helpers import UTILS, run

SCRIPTS = sorted([*UTILS.glob("*.sh"), *Path(__file__).parent.glob("*.sh")])


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_shellcheck_clean(script: Path) -> None:
    need(shutil.which("shellcheck") is not None, "shellcheck is missing: apt-get install -y shellcheck")
    proc = run(["shellcheck", "-x", str(script)], REPO)
    assert proc.returncode == 0, proc.stdout
