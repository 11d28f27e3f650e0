"""RawNet2, the ASVspoof 2021 raw-waveform baseline (Tak et al., ICASSP 2021 / ASVspoof 2021).

Layout of the challenge's baseline (``LA/Baseline-RawNet2``): a fixed mel-spaced sinc filterbank,
max-pool |.| by 3, BN-SELU; residual blocks (conv3-BN-LeakyReLU(0.3)-conv3 plus a 1x1 shortcut where
the width changes, max-pool by 3), each followed by filter-wise feature-map scaling (FMS: a sigmoid gate
``s`` per filter from the time-averaged map, applied as ``x * s + s``); BN-SELU, a multi-layer GRU whose
last step feeds two linear layers. As in the baseline, every block after the first owns a BatchNorm
``bn1`` that its forward never applies; it is kept (frozen) so the parameter count is the baseline's.

The ``model:`` keys are those of the baseline's ``model_config_RawNet.yaml``; ``blocks`` [n1, n2] is
honoured (the baseline hard-codes 2 and 4, its yaml's value). Logits are ordered (spoof, bona fide), as
the baseline's (it scores with log-softmax[:, 1]; here the raw logits are returned, same order). The
embedding is the first linear layer's output (``nb_fc_node`` wide), the input of the logit layer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.sinc import SincFilterbank

SAMPLE_RATE = 16000
TIME_POOL = 3  # the max-pool after the filterbank and after every block
LEAKY_SLOPE = 0.3

# The baseline's model section (asvspoof-challenge/2021 LA/Baseline-RawNet2/model_config_RawNet.yaml).
RAWNET2_CONFIG: dict[str, Any] = {
    "nb_samp": 64600, "first_conv": 1024, "in_channels": 1,
    "filts": [20, [20, 20], [20, 128], [128, 128]], "blocks": [2, 4],
    "nb_fc_node": 1024, "gru_node": 1024, "nb_gru_layer": 3, "nb_classes": 2,
}


@dataclass(frozen=True)
class RawNet2Config:
    """The baseline's ``model:`` keys, checked; defaults are the baseline's."""

    nb_samp: int = 64600  # input length in samples
    first_conv: int = 1024  # sinc kernel size (made odd: 1025 taps)
    in_channels: int = 1  # mono waveform only
    filts: tuple[Any, ...] = (20, (20, 20), (20, 128), (128, 128))  # sinc bands, then block widths
    blocks: tuple[int, int] = (2, 4)  # residual blocks of width filts[1] and of width filts[2]/[3]
    nb_fc_node: int = 1024  # embedding width (first linear layer after the GRU)
    gru_node: int = 1024
    nb_gru_layer: int = 3
    nb_classes: int = 2  # (spoof, bona fide)

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> RawNet2Config:
        """Builds from a ``model:`` mapping; unknown keys and inconsistent widths are errors."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown RawNet2 model key(s): {', '.join(unknown)}; known: {sorted(known)}")
        if "filts" in cfg:
            filts = list(cfg["filts"])
            cfg["filts"] = (int(filts[0]), *(tuple(int(v) for v in pair) for pair in filts[1:]))
        if "blocks" in cfg:
            cfg["blocks"] = tuple(int(v) for v in cfg["blocks"])
        out = cls(**cfg)
        out._check()
        return out

    def _check(self) -> None:
        if self.in_channels != 1 or self.nb_classes != 2:
            raise ValueError(f"RawNet2 takes mono input and 2 classes, got in_channels={self.in_channels}, "
                             f"nb_classes={self.nb_classes}")
        bands, *widths = self.filts
        if len(widths) != 3 or any(len(w) != 2 for w in widths):
            raise ValueError(f"RawNet2 filts must be [bands, [a, a], [a, b], [b, b]], got {self.filts}")
        (a0, a1), (b0, b1), (c0, c1) = widths
        if not (bands == a0 == a1 == b0 and b1 == c0 == c1 and min(bands, b1) >= 1):
            raise ValueError(f"RawNet2 filts must chain as [bands, [bands, bands], [bands, b], [b, b]], "
                             f"got {self.filts}")
        if len(self.blocks) != 2 or min(self.blocks) < 1:
            raise ValueError(f"RawNet2 blocks must be two positive counts, got {self.blocks}")
        if min(self.first_conv, self.nb_fc_node, self.gru_node, self.nb_gru_layer, self.nb_samp) < 1:
            raise ValueError("RawNet2 first_conv, nb_fc_node, gru_node, nb_gru_layer and nb_samp must be "
                             "positive")


class ResidualBlock1d(nn.Module):
    """conv3-BN-LeakyReLU-conv3 plus identity or 1x1-conv shortcut, max-pool by 3, then FMS."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm1d(in_channels)  # unused by the baseline's forward; kept for its count
            self.bn1.requires_grad_(False)
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1)
        self.conv_downsample = (nn.Conv1d(in_channels, out_channels, 1)
                                if in_channels != out_channels else None)
        self.fms = nn.Linear(out_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.leaky_relu(self.bn2(self.conv1(x)), LEAKY_SLOPE))
        shortcut = x if self.conv_downsample is None else self.conv_downsample(x)
        out = F.max_pool1d(out + shortcut, TIME_POOL)
        scale = torch.sigmoid(self.fms(out.mean(dim=2))).unsqueeze(2)  # (B, C, 1)
        return out * scale + scale


class RawNet2(nn.Module):
    """Waveform (B, samples) -> (embedding (B, nb_fc_node), logits (B, 2) = (spoof, bona fide))."""

    input_kind = "waveform"
    logit_order = ("spoof", "bonafide")

    def __init__(self, cfg: dict[str, Any] | RawNet2Config | None = None) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, RawNet2Config) else RawNet2Config.from_dict(cfg)
        self.config = c
        self.embedding_dim = c.nb_fc_node
        self.input_samples = c.nb_samp
        bands, _, (_, width), _ = c.filts
        self.sinc = SincFilterbank(bands, c.first_conv, SAMPLE_RATE)
        self.first_bn = nn.BatchNorm1d(bands)
        shapes = [(bands, bands)] * c.blocks[0] + [(bands, width)] + [(width, width)] * (c.blocks[1] - 1)
        self.blocks = nn.Sequential(*(ResidualBlock1d(i, o, first=n == 0) for n, (i, o) in enumerate(shapes)))
        self.bn_before_gru = nn.BatchNorm1d(width)
        self.gru = nn.GRU(width, c.gru_node, num_layers=c.nb_gru_layer, batch_first=True)
        self.fc1_gru = nn.Linear(c.gru_node, c.nb_fc_node)
        self.fc2_gru = nn.Linear(c.nb_fc_node, 2)

    def min_samples(self) -> int:
        """Shortest input that leaves one frame after the filterbank's and every block's pooling."""
        return self.sinc.kernel_size - 1 + TIME_POOL ** (len(self.blocks) + 1)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if wave.dim() != 2 or wave.shape[1] < self.min_samples():
            raise ValueError(f"RawNet2 expects a waveform (B, samples) with samples >= {self.min_samples()}, "
                             f"got {tuple(wave.shape)}")
        x = F.max_pool1d(self.sinc(wave).abs(), TIME_POOL)
        x = self.blocks(F.selu(self.first_bn(x)))
        x = F.selu(self.bn_before_gru(x)).transpose(1, 2)  # (B, frames, width)
        hidden, _ = self.gru(x)
        embedding = self.fc1_gru(hidden[:, -1])
        return embedding, self.fc2_gru(embedding)
