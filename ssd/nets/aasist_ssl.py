"""AASIST's graph back end on a feature map: the SSL + AASIST countermeasure of Tak et al. (Odyssey 2022).

The feature map (B, dim, frames), e.g. XLS-R's layer projected to 128 dims by the ``ssl`` front end, is
pooled (3, 3), normalised, and encoded by six residual blocks that keep the time axis (an SSL frame is
20 ms, not one sample: AASIST's time pools would leave nothing of a 4 s crop). Spectral and temporal
nodes are attention-weighted sums over time and over the feature axis (a learned 1x1-conv attention
map), then AASIST's heterogeneous graph layers, pools and read-out (:class:`ssd.nets.aasist.GraphBackEnd`)
give (embedding, logits ordered spoof, bona fide). The blocks normalise their input (no discarded
BatchNorm as in the released AASIST): no released weights are meant to load into this module.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.aasist import FIRST_POOL, GraphBackEnd


@dataclass(frozen=True)
class AasistSslConfig:
    """Widths of the encoder and graph; defaults are Tak et al.'s."""

    feat_dim: int = 128  # set from the front end (model.ssl.proj_dim)
    widths: tuple[tuple[int, int], ...] = ((1, 32), (32, 32), (32, 64), (64, 64))  # blocks 1-4 (+2 x 4th)
    gat_dims: tuple[int, int] = (64, 32)
    pool_ratios: tuple[float, ...] = (0.5, 0.5, 0.5, 0.5)
    temperatures: tuple[float, ...] = (2.0, 2.0, 100.0, 100.0)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> AasistSslConfig:
        cfg = dict(cfg or {})
        unknown = sorted(set(cfg) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown model.aasist-ssl key(s): {', '.join(unknown)}")
        if "widths" in cfg:
            cfg["widths"] = tuple(tuple(int(v) for v in pair) for pair in cfg["widths"])
        for key, kind in (("gat_dims", int), ("pool_ratios", float), ("temperatures", float)):
            if key in cfg:
                cfg[key] = tuple(kind(v) for v in cfg[key])
        out = cls(**cfg)
        chain = [w[0] for w in out.widths] + [out.widths[-1][1]]
        if len(out.widths) != 4 or chain[0] != 1 or any(w[1] != n for w, n in zip(out.widths, chain[1:],
                                                                                  strict=True)) \
                or out.widths[3][0] != out.widths[3][1]:
            raise ValueError(f"model.aasist-ssl.widths must chain from 1 channel ([1, a], [a, b], [b, c], "
                             f"[c, c]), got {out.widths}")
        if out.feat_dim < FIRST_POOL:
            raise ValueError(f"model.aasist-ssl needs >= {FIRST_POOL} feature dims, got {out.feat_dim}")
        if len(out.gat_dims) != 2 or len(out.pool_ratios) != 4 or len(out.temperatures) != 4:
            raise ValueError("model.aasist-ssl: gat_dims needs 2 widths, pool_ratios and temperatures 4 "
                             "values")
        return out


class _Block(nn.Module):
    """(BN - SELU for all but the first) - conv (2,3) - BN - SELU - conv (2,3), plus a (1,3)-conv
    shortcut when the width changes; height and time are kept."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        self.pre = None if first else nn.Sequential(nn.BatchNorm2d(in_channels), nn.SELU())
        self.conv1 = nn.Conv2d(in_channels, out_channels, (2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (2, 3), padding=(0, 1))
        self.shortcut = (nn.Conv2d(in_channels, out_channels, (1, 3), padding=(0, 1))
                         if in_channels != out_channels else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.pre is None else self.pre(x)
        return self.conv2(F.selu(self.bn2(self.conv1(out)))) + self.shortcut(x)


class AasistSsl(GraphBackEnd):
    """Feature map (B, feat_dim, frames) -> (embedding (B, 5 * gat_dims[1]), logits (spoof, bona fide))."""

    input_kind = "features"

    def __init__(self, cfg: dict[str, Any] | AasistSslConfig | None = None) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, AasistSslConfig) else AasistSslConfig.from_dict(cfg)
        self.config = c
        w = c.widths
        self.first_bn = nn.BatchNorm2d(1)
        self.encoder = nn.Sequential(*(_Block(i, o, first=n == 0)
                                       for n, (i, o) in enumerate([w[0], w[1], w[2], w[3], w[3], w[3]])))
        channels = w[3][1]
        self.encoder_bn = nn.BatchNorm2d(channels)
        self.attention = nn.Sequential(nn.Conv2d(channels, 2 * channels, 1), nn.SELU(),
                                       nn.BatchNorm2d(2 * channels), nn.Conv2d(2 * channels, channels, 1))
        self._build_graph(c.feat_dim // FIRST_POOL, channels, c.gat_dims, c.pool_ratios, c.temperatures)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if feats.dim() != 3 or feats.shape[1] != self.config.feat_dim or feats.shape[2] < FIRST_POOL:
            raise ValueError(f"aasist-ssl expects features (B, {self.config.feat_dim}, "
                             f"frames >= {FIRST_POOL}), "
                             f"got {tuple(feats.shape)}")
        x = F.selu(self.first_bn(F.max_pool2d(feats.unsqueeze(1), (FIRST_POOL, FIRST_POOL))))
        x = F.selu(self.encoder_bn(self.encoder(x)))  # (B, C, feat_dim // 3, frames // 3)
        w = self.attention(x)
        spectral = (x * torch.softmax(w, dim=-1)).sum(dim=-1)  # over time: (B, C, feat_dim // 3)
        temporal = (x * torch.softmax(w, dim=-2)).sum(dim=-2)  # over features: (B, C, frames // 3)
        return self.readout(spectral.transpose(1, 2), temporal.transpose(1, 2))
