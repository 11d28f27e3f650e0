"""Name -> countermeasure loss: the one place a config's ``loss.name`` is resolved."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ssd.losses.amsoftmax import AMSoftmax
from ssd.losses.ocsoftmax import OCSoftmax
from ssd.losses.softmax import SoftmaxLoss

# name -> (constructor, accepted keys of the ``loss:`` section besides ``name``)
LOSSES: dict[str, tuple[Callable[..., nn.Module], frozenset[str]]] = {
    "ocsoftmax": (OCSoftmax, frozenset({"m_real", "m_fake", "alpha"})),
    "amsoftmax": (AMSoftmax, frozenset({"s", "m"})),
    "softmax": (SoftmaxLoss, frozenset({"score"})),
}


def build_loss(name: str, cfg: dict[str, Any] | None = None, embedding_dim: int = 256) -> nn.Module:
    """Builds the loss ``name`` from the ``loss:`` section ``cfg``.

    ``cfg`` holds ``name`` and one optional sub-section of parameters per loss, so a base config can
    list every loss's parameters and a variant switch only ``loss.name``:
    ``{name: ocsoftmax, ocsoftmax: {m_real: 0.9, m_fake: 0.2, alpha: 20}, amsoftmax: {s: 20, m: 0.9}}``.
    The module has ``forward(embedding, logits, labels) -> scalar`` and ``score(embedding, logits) -> (B,)``
    with higher = more bona fide. Unknown names, sections or parameters are errors.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; registered: {', '.join(sorted(LOSSES))}")
    cfg = dict(cfg or {})
    stray = sorted(set(cfg) - {"name"} - set(LOSSES))
    if stray:
        raise ValueError(f"unknown key(s) in the loss section: {stray}; expected 'name' and per-loss "
                         f"sections {sorted(LOSSES)}")
    make, keys = LOSSES[name]
    params = dict(cfg.get(name) or {})
    unknown = sorted(set(params) - keys)
    if unknown:
        raise ValueError(f"loss {name!r} got unknown parameter(s) {unknown}; accepted: {sorted(keys)}")
    if name == "softmax":
        return make(**params)
    return make(embedding_dim=embedding_dim, **params)
