"""What a feature dump records of the front end that made it (``<dump>/frontend.json``), and the check
that a model trains and scores only on features its own front end computes.

A dump made with other settings (another version's window or hop, another rate) holds matrices of the
right width, so without this record a model would train on them, pack the current settings, and then
score recordings through ``ssd-detect`` with features it never saw, all without an error. Stage 2 writes
the record with each dump and redoes a dump whose record differs; training and stage 4 refuse one. A dump
without the record (made by hand, or by an ssd that did not write one) is read as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ssd.frontend.registry import build_frontend

SETTINGS_FILE = "frontend.json"


def settings_record(frontend: str, fs: int) -> str:
    """The one-line json record of ``frontend`` at ``fs`` Hz, as stage 2 writes it beside a dump."""
    return json.dumps(build_frontend(frontend).settings(fs), sort_keys=True)


def check_dump_settings(dump_dir: str | os.PathLike, frontend: Any) -> None:
    """Raises ValueError, naming the file and the settings that differ, when ``dump_dir`` records
    features computed otherwise than ``frontend`` (a registry front end) computes them."""
    path = Path(dump_dir) / SETTINGS_FILE
    if not path.is_file():
        return
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{path}: unreadable front-end record: {err}") from None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("fs"), int):
        raise ValueError(f"{path}: not a front-end record (a json object with an integer fs)")
    try:
        expected = json.loads(json.dumps(frontend.settings(recorded["fs"])))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    if recorded != expected:
        differ = sorted(k for k in set(recorded) | set(expected) if recorded.get(k) != expected.get(k))
        raise ValueError(f"{path}: these features were computed with other {frontend.name} settings "
                         f"(they differ in {', '.join(differ)}); recompute them (stage 2 redoes the dump)")
