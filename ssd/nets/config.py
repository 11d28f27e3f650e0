"""The ``model:`` section of a training config: network sizes, with the paper's values as defaults."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the backbone and of the auxiliary networks; defaults are the paper's ResNet-34.

    A mini configuration may shrink ``stem_channels``, ``channels``, ``blocks``, ``pool_channels``,
    ``embedding_dim`` and ``converter_width``; the frequency strides (60 -> 18 -> 9 -> 5 -> 3, collapsed
    by the final conv) follow from ``feat_dim`` and are not configurable.
    """

    feat_dim: int = 60  # LFCC dims (20 static + delta + delta-delta)
    stem_channels: int = 16  # first conv, kernel (9, 3), stride (3, 1)
    channels: tuple[int, ...] = (64, 128, 256, 512)  # widths of the four pre-activation stages
    blocks: tuple[int, ...] = (3, 4, 6, 3)  # blocks per stage (ResNet-34)
    pool_channels: int = 256  # output of the frequency-collapsing conv, input of the pooling
    embedding_dim: int = 256
    pool_noise: float = 1e-5  # std of the noise added before the pooling std, training only
    input_frames: int = 750  # crop length; sets the reconstruction decoder's linear layer size
    converter_width: int = 16  # S2 conversion autoencoder's first width (all others scale with it)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> ModelConfig:
        """Builds from a ``model:`` mapping; unknown keys are an error naming them."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown model config key(s): {', '.join(unknown)}; known: {sorted(known)}")
        for key in ("channels", "blocks"):
            if key in cfg:
                cfg[key] = tuple(int(v) for v in cfg[key])
        out = cls(**cfg)
        if len(out.channels) != 4 or len(out.blocks) != 4:
            raise ValueError(f"model.channels and model.blocks need 4 stages, got {out.channels}, "
                             f"{out.blocks}")
        if min(out.blocks) < 1 or min(out.channels) < 1:
            raise ValueError(f"model.channels/blocks must be positive, got {out.channels}, {out.blocks}")
        if out.input_frames < 16:
            raise ValueError(f"model.input_frames must be >= 16, got {out.input_frames}")
        return out
