"""What every importer needs: the record of a source file, strict weight loading, dev thresholds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssd.metrics.report import evaluate
from ssd.metrics.scorefiles import make_trials, read_asv_scores, read_cm_scores, read_protocol
from ssd.packing.figures import figures_entry, thresholds_from_dev
from ssd.utils.fileio import file_digest

_SHOW = 6  # how many offending names an error lists


class ModelImportError(ValueError):
    """Published weights or configuration that cannot be imported (unreadable, or not fitting the network)."""


def file_entry(path: str | os.PathLike) -> dict[str, Any]:
    """A source file as the manifest records it: its name (not this machine's path), sha256 and size."""
    digest, size = file_digest(path)
    return {"file": Path(path).name, "sha256": digest, "bytes": size}


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
    """(figures, thresholds) of a dev score file, scored as stage 5 scores a set (legacy t-DCF with ASV
    scores): the EER threshold, and the min t-DCF one with ASV scores.

    ``scores``: ``utt attack key score`` lines (ssd's format, labels included), or ``utt score`` lines with
    ``protocol`` giving the labels. A set without a finite EER threshold is an error.
    """
    trials = make_trials(read_cm_scores(scores), read_protocol(protocol) if protocol is not None else None)
    report = evaluate(trials, read_asv_scores(asv_scores) if asv_scores is not None else None)
    figures = figures_entry(report.pooled.to_json(), Path(scores).name,  # names, not this machine's paths
                            Path(asv_scores).name if asv_scores is not None else None, report.tdcf_variant)
    if protocol is not None:
        figures["protocol"] = Path(protocol).name
    if figures["eer_threshold"] is None:
        raise ModelImportError(f"{scores}: the dev scores give no finite EER threshold")
    return figures, thresholds_from_dev(figures, dev_set)
