"""What every importer needs: the record of a source file, strict weight loading, dev thresholds."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssd.packing import _finite_or_none, set_figures, thresholds_from_dev

_SHOW = 6  # how many offending names an error lists


class ModelImportError(ValueError):
    """Published weights or configuration that cannot be imported (unreadable, or not fitting the network)."""


def file_entry(path: str | os.PathLike) -> dict[str, Any]:
    """A source file as the manifest records it: its name (not this machine's path), sha256 and size."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"file": Path(path).name, "sha256": digest.hexdigest(), "bytes": size}


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A released ``name -> tensor`` state dict, read with the tensor-only unpickler (never runs code)."""
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad data
        first = str(err).splitlines()[0] if str(err) else ""
        raise ModelImportError(f"{path}: not loadable as plain tensors with torch.load(weights_only=True) "
                               f"({type(err).__name__}: {first}); only state dicts are imported") from err
    if not isinstance(state, dict):
        raise ModelImportError(f"{path}: holds a {type(state).__name__}, not a state dict (name -> tensor)")
    odd = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd:
        raise ModelImportError(f"{path}: not a state dict: entries {_names(odd)} are not tensors (a training "
                               "checkpoint? give the model's state_dict alone)")
    if state and all(k.startswith("module.") for k in state):  # saved from a DataParallel wrapper
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _names(keys: list[Any]) -> str:
    shown = ", ".join(str(k) for k in keys[:_SHOW])
    return shown + (f" and {len(keys) - _SHOW} more" if len(keys) > _SHOW else "")


def load_strictly(network: nn.Module, state: dict[str, torch.Tensor], source: str, what: str) -> None:
    """Load ``state`` into ``network`` with every name and shape matching, else say exactly what differs."""
    expected = network.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} in the file, {tuple(t.shape)} in the network"
              for k, t in expected.items() if k in state and tuple(state[k].shape) != tuple(t.shape)]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"{len(missing)} missing ({_names(missing)})")
        if unexpected:
            problems.append(f"{len(unexpected)} unexpected ({_names(unexpected)})")
        if shapes:
            problems.append(f"{len(shapes)} of another shape ({_names(shapes)})")
        raise ModelImportError(f"{source} does not fit {what}: parameters " + "; ".join(problems))
    network.load_state_dict(state, strict=True)


def dev_figures(scores: str | os.PathLike, protocol: str | os.PathLike | None = None,
                asv_scores: str | os.PathLike | None = None, dev_set: str = "dev",
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(figures, thresholds) of a dev score file, as ssd-pack computes them (:func:`ssd.packing.set_figures`
    and :func:`ssd.packing.thresholds_from_dev`): the EER threshold, and the min t-DCF one with ASV scores.

    ``scores``: ``utt attack key score`` lines (ssd's format, labels included), or ``utt score`` lines with
    ``protocol`` giving the labels. A set without a finite EER threshold is an error.
    """
    figures = set_figures(scores, asv_scores, protocol)
    figures["scores"] = Path(scores).name  # not this machine's path
    if asv_scores is not None:
        figures["asv_scores"] = Path(asv_scores).name
    if protocol is not None:
        figures["protocol"] = Path(protocol).name
    for key in ("eer_threshold", "min_tdcf_threshold"):
        figures[key] = _finite_or_none(figures[key])
    if figures["eer_threshold"] is None:
        raise ModelImportError(f"{scores}: the dev scores give no finite EER threshold")
    return figures, thresholds_from_dev(figures, dev_set)
