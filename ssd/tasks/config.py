"""The ``tasks:``, ``optim:`` and step settings the multi-task trainer reads, with the paper's defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

AMP_MODES = ("none", "bf16", "fp16")


def _strict(cls: type, section: str, cfg: dict[str, Any] | None) -> dict[str, Any]:
    """Checks that ``cfg`` only holds fields of ``cls``; returns a copy."""
    cfg = dict(cfg or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"unknown key(s) in {section}: {unknown}; known: {sorted(known)}")
    return cfg


@dataclass(frozen=True)
class TaskWeights:
    """Auxiliary-task weights; a weight of 0 switches the task (and its network) off. Plus S2's one
    switch, ``converted_bn_stats``: whether the backbone's forwards of converted spoofs (two of its
    three forwards per step) update its BatchNorm running statistics. The reference's do; until the
    converter has learnt to stay close to its input, its outputs then set the statistics that evaluation
    normalises real speech with (a short schedule's conv and all variants score near chance in eval mode
    while their training loss falls). ``false`` keeps the running statistics those of real inputs."""

    recon: float = 0.0  # lambda_r, S1 bona fide reconstruction (paper 0.04)
    conv: float = 0.0  # lambda_c, S2 detector loss on converted spoofs (paper 0.0003)
    adversary_weight: float = 1.0  # delta, S2 autoencoder's weight on fooling the detector
    mse_weight: float = 1.0  # S2 autoencoder's weight on staying close to its input
    spk: float = 0.0  # lambda_m, S3 speaker classification (paper 0.00005)
    converted_bn_stats: bool = True  # S2: converted spoofs update BatchNorm running stats (the reference)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> TaskWeights:
        """From ``tasks: {recon: {weight}, conv: {weight, adversary_weight, mse_weight,
        converted_bn_stats}, spk: {weight}}``."""
        cfg = dict(cfg or {})
        allowed = {"recon": {"weight"},
                   "conv": {"weight", "adversary_weight", "mse_weight", "converted_bn_stats"},
                   "spk": {"weight"}}
        unknown = sorted(set(cfg) - set(allowed))
        if unknown:
            raise ValueError(f"unknown task(s) in tasks: {unknown}; known: {sorted(allowed)}")
        out: dict[str, Any] = {}
        switch = (cfg.get("conv") or {}).get("converted_bn_stats", True)
        if not isinstance(switch, bool):
            raise ValueError(f"tasks.conv.converted_bn_stats must be true or false, got {switch!r}")
        out["converted_bn_stats"] = switch
        for task, keys in allowed.items():
            section = dict(cfg.get(task) or {})
            bad = sorted(set(section) - keys)
            if bad:
                raise ValueError(f"unknown key(s) in tasks.{task}: {bad}; known: {sorted(keys)}")
            if "weight" in section:
                out[task] = float(section["weight"])
            for key in keys - {"weight", "converted_bn_stats"}:
                if key in section:
                    out[key] = float(section[key])
        weights = cls(**out)
        for f in fields(weights):
            if getattr(weights, f.name) < 0:
                raise ValueError(f"task weight {f.name} must be >= 0, got {getattr(weights, f.name)}")
        return weights


@dataclass(frozen=True)
class OptimConfig:
    """Optimisers: Adam for backbone (+decoder), SGD for loss centres, own Adam for converter/speaker head."""

    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 5e-4
    halve_every: int = 10  # epochs between lr halvings of backbone, decoder and loss centres
    centre_lr: float = 3e-4  # SGD lr of the loss centres (the reference resets it to lr at epoch 0)
    aux_lr: float = 3e-4  # Adam lr of the conversion autoencoder and the speaker head (never halved)
    aux_weight_decay: float = 5e-4

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> OptimConfig:
        cfg = _strict(cls, "optim", cfg)
        if "betas" in cfg:
            cfg["betas"] = tuple(float(b) for b in cfg["betas"])
            if len(cfg["betas"]) != 2:
                raise ValueError(f"optim.betas needs two values, got {cfg['betas']}")
        out = cls(**cfg)
        if out.halve_every < 1:
            raise ValueError(f"optim.halve_every must be >= 1, got {out.halve_every}")
        return out


@dataclass(frozen=True)
class StepConfig:
    """How the step runs (not what it computes): mixed precision, the efficient S2 update, memory format
    and compilation of the backbone."""

    amp: str = "none"  # none | bf16 | fp16 autocast (fp16 adds gradient scaling)
    efficient_step: bool = True  # False runs the reference code's redundant S2 work (for comparisons)
    channels_last: bool = False  # NHWC memory format for the convolutional networks (GPU speed)
    compile: str = "none"  # none, or the torch.compile backend of the backbone (inductor, aot_eager, ...)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> StepConfig:
        """Picks this class's keys out of the ``train:`` section (which holds other harness keys too)."""
        cfg = {k: v for k, v in (cfg or {}).items() if k in {f.name for f in fields(cls)}}
        out = cls(**cfg)
        if out.amp not in AMP_MODES:
            raise ValueError(f"train.amp must be one of {AMP_MODES}, got {out.amp!r}")
        if not isinstance(out.compile, str) or (out.compile != "none"
                                                and out.compile not in torch_compile_backends()):
            raise ValueError(f"train.compile must be 'none' or a torch.compile backend "
                             f"({', '.join(torch_compile_backends())}), got {out.compile!r}")
        return out


def torch_compile_backends() -> list[str]:
    """The backends this torch's ``torch.compile`` registers, debugging ones (``eager``, ``aot_eager``)
    included and torch's own test fixtures left out; ``inductor`` is its default."""
    import torch._dynamo

    return sorted(b for b in torch._dynamo.list_backends(exclude_tags=()) if "TESTING" not in b)
