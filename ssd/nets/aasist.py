"""AASIST and AASIST-L (Jung et al., ICASSP 2022): spectro-temporal graph attention on raw waveform.

One module covers both: they differ only in the authors' ``model_config`` (:data:`AASIST_CONFIG`,
:data:`AASIST_L_CONFIG`). Attribute names follow the authors' released code so that their state dicts
(clovaai/aasist ``models/weights/``) load strictly, and the forward pass reproduces their outputs,
including three quirks of the released network that the weights depend on:

* each residual block after the first owns a BatchNorm ``bn1`` whose output its forward discards (conv1
  reads the block input); ``bn1`` is kept so the weights load and counted in the 297,866 parameters,
  but is frozen (``requires_grad`` off) so distributed training sees no unused trainable parameter;
* the four pools after the heterogeneous layers all use ``pool_ratios[2]`` and the four heterogeneous
  layers all use ``temperatures[2]``: ``pool_ratios[3]`` and ``temperatures[3]`` are read but unused;
* the first heterogeneous layer of each branch starts from the learned master node itself.

Logits are ordered (spoof, bona fide), as the authors' (bona fide score = ``logits[:, 1]``). The
embedding is the 5 x ``gat_dims[1]`` read-out (max |.| and mean of the temporal and spectral nodes,
and the master node) before the final dropout and linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.sinc import SincFilterbank

SAMPLE_RATE = 16000
FIRST_POOL = 3  # max-pool (3, 3) over (sinc channel, time) after the filterbank
BLOCK_TIME_POOL = 3  # each residual block max-pools time by 3
# dropout rates of the released network: graph-layer inputs, graph pooling, the two branches, read-out
GRAPH_INPUT_DROPOUT = 0.2
GRAPH_POOL_DROPOUT = 0.3
BRANCH_DROPOUT = 0.2
READOUT_DROPOUT = 0.5

# The authors' model_config from config/AASIST.conf and config/AASIST-L.conf (clovaai/aasist).
AASIST_CONFIG: dict[str, Any] = {
    "architecture": "AASIST", "nb_samp": 64600, "first_conv": 128,
    "filts": [70, [1, 32], [32, 32], [32, 64], [64, 64]], "gat_dims": [64, 32],
    "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0],
}
AASIST_L_CONFIG: dict[str, Any] = {
    "architecture": "AASIST", "nb_samp": 64600, "first_conv": 128,
    "filts": [70, [1, 32], [32, 32], [32, 24], [24, 24]], "gat_dims": [24, 32],
    "pool_ratios": [0.4, 0.5, 0.7, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0],
}


@dataclass(frozen=True)
class AasistConfig:
    """The authors' ``model_config`` keys, checked; defaults are AASIST's."""

    architecture: str = "AASIST"
    nb_samp: int = 64600  # training and evaluation input length in samples (4.04 s)
    first_conv: int = 128  # sinc kernel size (made odd: 129 taps)
    filts: tuple[Any, ...] = (70, (1, 32), (32, 32), (32, 64), (64, 64))  # sinc bands, then block widths
    gat_dims: tuple[int, int] = (64, 32)  # graph layer widths: spectral/temporal, then heterogeneous
    pool_ratios: tuple[float, ...] = (0.5, 0.7, 0.5, 0.5)  # node ratios kept by the graph pools
    temperatures: tuple[float, ...] = (2.0, 2.0, 100.0, 100.0)  # attention softmax temperatures

    @classmethod
    def from_dict(cls, cfg: dict[str, Any] | None) -> AasistConfig:
        """Builds from a ``model_config`` mapping; unknown keys and inconsistent widths are errors."""
        cfg = dict(cfg or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown AASIST model_config key(s): {', '.join(unknown)}; "
                             f"known: {sorted(known)}")
        if "filts" in cfg:
            filts = list(cfg["filts"])
            cfg["filts"] = (int(filts[0]), *(tuple(int(v) for v in pair) for pair in filts[1:]))
        for key, kind in (("gat_dims", int), ("pool_ratios", float), ("temperatures", float)):
            if key in cfg:
                cfg[key] = tuple(kind(v) for v in cfg[key])
        out = cls(**cfg)
        out._check()
        return out

    def _check(self) -> None:
        if self.architecture != "AASIST":
            raise ValueError(f"model_config.architecture must be 'AASIST', got {self.architecture!r}")
        bands, *widths = self.filts
        if len(widths) != 4 or any(len(w) != 2 for w in widths):
            raise ValueError(f"model_config.filts must be [bands, [in, out] x 4], got {self.filts}")
        if bands < FIRST_POOL:
            raise ValueError(f"model_config.filts[0] (sinc bands) must be >= {FIRST_POOL}, got {bands}")
        chain = [w[0] for w in widths] + [widths[-1][1]]
        if chain[0] != 1 or any(w[1] != nxt for w, nxt in zip(widths, chain[1:], strict=True)) \
                or widths[3][0] != widths[3][1] or min(chain) < 1:
            raise ValueError(f"model_config.filts widths must chain from 1 channel ([1, a], [a, b], [b, c], "
                             f"[c, c]), got {self.filts}")
        if len(self.gat_dims) != 2 or min(self.gat_dims) < 1:
            raise ValueError(f"model_config.gat_dims must be two positive widths, got {self.gat_dims}")
        if len(self.pool_ratios) != 4 or not all(0 < r <= 1 for r in self.pool_ratios):
            raise ValueError(f"model_config.pool_ratios must be 4 ratios in (0, 1], got {self.pool_ratios}")
        if len(self.temperatures) != 4 or not all(t > 0 for t in self.temperatures):
            raise ValueError(f"model_config.temperatures must be 4 positive values, got {self.temperatures}")
        if self.first_conv < 1 or self.nb_samp < 1:
            raise ValueError(f"model_config.first_conv and nb_samp must be positive, got {self.first_conv}, "
                             f"{self.nb_samp}")


def _attention_vector(dim: int) -> nn.Parameter:
    weight = nn.Parameter(torch.empty(dim, 1))
    nn.init.xavier_normal_(weight)
    return weight


def _node_batchnorm(bn: nn.BatchNorm1d, nodes: torch.Tensor) -> torch.Tensor:
    """BatchNorm over every node of every graph, (B, N, D) -> (B, N, D)."""
    return bn(nodes.reshape(-1, nodes.shape[-1])).reshape(nodes.shape)


def _pair_products(nodes: torch.Tensor) -> torch.Tensor:
    """(B, N, D) -> (B, N, N, D): element-wise product of every pair of nodes."""
    return nodes.unsqueeze(2) * nodes.unsqueeze(1)


class GraphAttentionLayer(nn.Module):
    """Graph attention over fully connected nodes: attention from pairwise products, then a projection
    of the attended and of the node itself, BatchNorm and SELU."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _attention_vector(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(GRAPH_INPUT_DROPOUT)
        self.temperature = temperature

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        nodes = self.input_drop(nodes)
        scores = torch.tanh(self.att_proj(_pair_products(nodes))) @ self.att_weight  # (B, N, N, 1)
        att = torch.softmax(scores.squeeze(-1) / self.temperature, dim=-1)  # over neighbours
        out = self.proj_with_att(att @ nodes) + self.proj_without_att(nodes)
        return F.selu(_node_batchnorm(self.bn, out))


class HtrgGraphAttentionLayer(nn.Module):
    """Heterogeneous graph attention over two node types (temporal, spectral) and a master node.

    Pairs within type 1, within type 2 and across types get their own attention vector; the master node
    attends to every node and is projected with its own weights.
    """

    def __init__(self, in_dim: int, out_dim: int, temperature: float) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _attention_vector(out_dim)
        self.att_weight22 = _attention_vector(out_dim)
        self.att_weight12 = _attention_vector(out_dim)
        self.att_weightM = _attention_vector(out_dim)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(GRAPH_INPUT_DROPOUT)
        self.temperature = temperature

    def forward(self, type1: torch.Tensor, type2: torch.Tensor, master: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n1 = type1.shape[1]
        nodes = torch.cat([self.proj_type1(type1), self.proj_type2(type2)], dim=1)
        nodes = self.input_drop(nodes)
        hidden = torch.tanh(self.att_proj(_pair_products(nodes)))  # (B, N, N, D)
        same1 = (hidden[:, :n1, :n1] @ self.att_weight11).squeeze(-1)
        same2 = (hidden[:, n1:, n1:] @ self.att_weight22).squeeze(-1)
        cross12 = (hidden[:, :n1, n1:] @ self.att_weight12).squeeze(-1)
        cross21 = (hidden[:, n1:, :n1] @ self.att_weight12).squeeze(-1)
        scores = torch.cat([torch.cat([same1, cross12], dim=2), torch.cat([cross21, same2], dim=2)], dim=1)
        att = torch.softmax(scores / self.temperature, dim=-1)
        master = self._update_master(nodes, master)
        out = self.proj_with_att(att @ nodes) + self.proj_without_att(nodes)
        out = F.selu(_node_batchnorm(self.bn, out))
        return out[:, :n1], out[:, n1:], master

    def _update_master(self, nodes: torch.Tensor, master: torch.Tensor) -> torch.Tensor:
        """(B, N, D) nodes and a (B or 1, 1, D) master -> (B, 1, D') new master."""
        scores = torch.tanh(self.att_projM(nodes * master)) @ self.att_weightM  # (B, N, 1)
        att = torch.softmax(scores / self.temperature, dim=1)
        return self.proj_with_attM(att.transpose(1, 2) @ nodes) + self.proj_without_attM(master)


class GraphPool(nn.Module):
    """Keeps the top ``ratio`` of nodes by a learned sigmoid score, each scaled by its score, in
    descending score order (the order matters: the two branches are later combined node by node)."""

    def __init__(self, ratio: float, in_dim: int) -> None:
        super().__init__()
        self.ratio = ratio
        self.proj = nn.Linear(in_dim, 1)
        self.drop = nn.Dropout(GRAPH_POOL_DROPOUT)

    def forward(self, nodes: torch.Tensor) -> torch.Tensor:
        scores = torch.sigmoid(self.proj(self.drop(nodes)))  # (B, N, 1)
        keep = max(int(nodes.shape[1] * self.ratio), 1)
        _, idx = torch.topk(scores, keep, dim=1)
        return torch.gather(nodes * scores, 1, idx.expand(-1, -1, nodes.shape[-1]))


class ResidualBlock(nn.Module):
    """Conv (2,3) - BN - SELU - conv (2,3) plus a (1,3)-conv shortcut when the width changes, then
    max-pool time by 3. ``bn1`` exists only for weight compatibility (see the module docstring)."""

    def __init__(self, in_channels: int, out_channels: int, first: bool) -> None:
        super().__init__()
        if not first:
            self.bn1 = nn.BatchNorm2d(in_channels)
            self.bn1.requires_grad_(False)
        self.conv1 = nn.Conv2d(in_channels, out_channels, (2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, (2, 3), padding=(0, 1))
        self.conv_downsample = (nn.Conv2d(in_channels, out_channels, (1, 3), padding=(0, 1))
                                if in_channels != out_channels else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.selu(self.bn2(self.conv1(x))))
        shortcut = x if self.conv_downsample is None else self.conv_downsample(x)
        return F.max_pool2d(out + shortcut, (1, BLOCK_TIME_POOL))


class GraphBackEnd(nn.Module):
    """AASIST's graph attention back end: spectral and temporal node sets -> (embedding, logits).

    Shared by AASIST (nodes from its sinc-filterbank encoder) and the SSL variant (nodes from a feature
    map); attribute names are the authors', so their weights load.
    """

    logit_order = ("spoof", "bonafide")

    def _build_graph(self, spectral_nodes: int, node_dim: int, gat_dims: tuple[int, int],
                     pool_ratios: tuple[float, ...], temperatures: tuple[float, ...]) -> None:
        gat_out = gat_dims
        self.embedding_dim = 5 * gat_out[1]
        self.pos_S = nn.Parameter(torch.randn(1, spectral_nodes, node_dim))
        self.master1 = nn.Parameter(torch.randn(1, 1, gat_out[0]))
        self.master2 = nn.Parameter(torch.randn(1, 1, gat_out[0]))
        t_s, t_t, t_h = temperatures[0], temperatures[1], temperatures[2]
        self.GAT_layer_S = GraphAttentionLayer(node_dim, gat_out[0], t_s)
        self.GAT_layer_T = GraphAttentionLayer(node_dim, gat_out[0], t_t)
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(gat_out[0], gat_out[1], t_h)
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(gat_out[1], gat_out[1], t_h)
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(gat_out[0], gat_out[1], t_h)
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(gat_out[1], gat_out[1], t_h)
        self.pool_S = GraphPool(pool_ratios[0], gat_out[0])
        self.pool_T = GraphPool(pool_ratios[1], gat_out[0])
        self.pool_hS1 = GraphPool(pool_ratios[2], gat_out[1])
        self.pool_hT1 = GraphPool(pool_ratios[2], gat_out[1])
        self.pool_hS2 = GraphPool(pool_ratios[2], gat_out[1])
        self.pool_hT2 = GraphPool(pool_ratios[2], gat_out[1])
        self.drop_way = nn.Dropout(BRANCH_DROPOUT)
        self.drop = nn.Dropout(READOUT_DROPOUT)
        self.out_layer = nn.Linear(self.embedding_dim, 2)

    def readout(self, spectral_nodes: torch.Tensor, temporal_nodes: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N_s, D) spectral and (B, N_t, D) temporal nodes -> (embedding, logits (spoof, bona fide))."""
        spectral = self.pool_S(self.GAT_layer_S(spectral_nodes + self.pos_S))
        temporal = self.pool_T(self.GAT_layer_T(temporal_nodes))
        branches = [self._branch(temporal, spectral, master, first, second, pool_t, pool_s)
                    for master, first, second, pool_t, pool_s in (
                        (self.master1, self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12,
                         self.pool_hT1, self.pool_hS1),
                        (self.master2, self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22,
                         self.pool_hT2, self.pool_hS2))]
        (t1, s1, m1), (t2, s2, m2) = ([self.drop_way(v) for v in b] for b in branches)
        out_t, out_s, master = torch.maximum(t1, t2), torch.maximum(s1, s2), torch.maximum(m1, m2)
        embedding = torch.cat([out_t.abs().amax(dim=1), out_t.mean(dim=1),
                               out_s.abs().amax(dim=1), out_s.mean(dim=1), master.squeeze(1)], dim=1)
        return embedding, self.out_layer(self.drop(embedding))

    @staticmethod
    def _branch(temporal: torch.Tensor, spectral: torch.Tensor, master: torch.Tensor,
                first: HtrgGraphAttentionLayer, second: HtrgGraphAttentionLayer,
                pool_t: GraphPool, pool_s: GraphPool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One inference branch: heterogeneous layer, pools, then a second layer added residually."""
        t, s, master = first(temporal, spectral, master)
        t, s = pool_t(t), pool_s(s)
        t_aug, s_aug, m_aug = second(t, s, master)
        return t + t_aug, s + s_aug, master + m_aug


class AASIST(GraphBackEnd):
    """Waveform (B, samples) -> (embedding (B, 5 * gat_dims[1]), logits (B, 2) = (spoof, bona fide))."""

    input_kind = "waveform"

    def __init__(self, cfg: dict[str, Any] | AasistConfig | None = None) -> None:
        super().__init__()
        c = cfg if isinstance(cfg, AasistConfig) else AasistConfig.from_dict(cfg)
        self.config = c
        bands, *widths = c.filts
        self.input_samples = c.nb_samp
        self.conv_time = SincFilterbank(bands, c.first_conv, SAMPLE_RATE)
        self.first_bn = nn.BatchNorm2d(1)
        blocks = [widths[0], widths[1], widths[2], widths[3], widths[3], widths[3]]
        self.encoder = nn.Sequential(*(nn.Sequential(ResidualBlock(i, o, first=n == 0))
                                       for n, (i, o) in enumerate(blocks)))
        self._build_graph(bands // FIRST_POOL, widths[3][1], c.gat_dims, c.pool_ratios, c.temperatures)

    def min_samples(self) -> int:
        """Shortest input that leaves at least one temporal node after the six time pools."""
        return self.conv_time.kernel_size - 1 + FIRST_POOL * BLOCK_TIME_POOL ** len(self.encoder)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if wave.dim() != 2 or wave.shape[1] < self.min_samples():
            raise ValueError(f"AASIST expects a waveform (B, samples) with samples >= {self.min_samples()}, "
                             f"got {tuple(wave.shape)}")
        x = self.conv_time(wave).unsqueeze(1)  # (B, 1, bands, time)
        x = F.selu(self.first_bn(F.max_pool2d(x.abs(), (FIRST_POOL, FIRST_POOL))))
        e = self.encoder(x).abs()  # (B, C, bands // 3, frames)
        return self.readout(e.amax(dim=3).transpose(1, 2), e.amax(dim=2).transpose(1, 2))
