"""Checkpoints: plain ``state_dict``s plus the resolved config, saved atomically, loaded safely.

A checkpoint is a dict of tensors and plain Python values only, read back with
``torch.load(weights_only=True)``, so loading a model never executes code from the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssd.utils.fileio import atomic_write

FORMAT = "ssd-checkpoint/1"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (plus a format tag) to ``path`` atomically: readers never see half a file."""
    with atomic_write(path, mode="wb") as f:
        torch.save({"format": FORMAT, **state}, f)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ValueError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: not an ssd checkpoint (format tag {FORMAT!r} missing)")
    return state


def state_mismatch(expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]) -> list[str]:
    """Describe how two state_dicts differ in keys or tensor shapes (empty when they match)."""
    problems = []
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    if missing:
        problems.append("missing from the checkpoint: " + ", ".join(missing))
    if unexpected:
        problems.append("not in the model: " + ", ".join(unexpected))
    for key, tensor in expected.items():
        if key in found and tuple(found[key].shape) != tuple(tensor.shape):
            problems.append(f"{key}: checkpoint {tuple(found[key].shape)}, model {tuple(tensor.shape)}")
    return problems


def load_model_state(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Load weights strictly; on any key or shape mismatch raise naming the keys and ``source``."""
    problems = state_mismatch(model.state_dict(), state_dict)
    if problems:
        raise ValueError(
            f"{source} does not fit this model (another variant or model size?): " + "; ".join(problems)
        )
    model.load_state_dict(state_dict)
