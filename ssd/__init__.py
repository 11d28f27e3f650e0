"""ssd: synthetic speech detection (spoofing countermeasures) toolkit and recipes."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``from ssd import Detector`` without importing torch for every ``import ssd``."""
    if name == "Detector":
        from ssd.detector import Detector

        return Detector
    raise AttributeError(f"module 'ssd' has no attribute {name!r}")
