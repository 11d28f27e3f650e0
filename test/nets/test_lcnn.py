"""LFCC-LCNN: the ASVspoof 2021 baseline's size and shapes, max-feature-map, and the module contract on a
tiny size (shapes, gradients, eval determinism, batch invariance, clear errors)."""

import pytest
import torch
from torch import nn

from ssd.nets.lcnn import LCNN, MaxFeatureMap

TINY = {"channels": [4, 4, 8, 4, 4]}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_baseline_size_is_the_challenge_network_plus_one_logit():
    model = LCNN()
    # 269,729 in the baseline (one sigmoid output); the second logit adds 96 weights and a bias
    assert n_params(model) == 269_729 + 97
    assert n_params(model.blstm) == 2 * 2 * 4 * (96 * 48 + 48 * 48 + 2 * 48)
    assert model.embedding_dim == 96 and model.input_kind == "features"
    assert model.logit_order == ("spoof", "bonafide")
    convs = [m for m in model.cnn if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 96, 96, 128, 128, 64, 64, 64]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 3, 1, 3, 1, 3, 1, 3]


def test_paper_size_maps_60x750_lfcc_to_96d_embedding():
    torch.manual_seed(0)
    model = LCNN().eval()
    seen = {}
    model.blstm.register_forward_hook(lambda m, i, o: seen.update(shape=tuple(i[0].shape)))
    with torch.no_grad():
        emb, logits = model(torch.randn(2, 60, 750))
    assert seen["shape"] == (2, 750 // 16, 32 * (60 // 16))
    assert emb.shape == (2, 96) and logits.shape == (2, 2)


def test_max_feature_map_takes_the_max_of_the_two_channel_halves():
    x = torch.tensor([[[[1.0]], [[-2.0]], [[0.5]], [[3.0]]]])  # (1, 4, 1, 1)
    assert MaxFeatureMap()(x).flatten().tolist() == [1.0, 3.0]


def test_tiny_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    model = LCNN(TINY)
    embedding, logits = model(torch.randn(3, 60, 64))
    assert embedding.shape == (3, 4 * 3) and logits.shape == (3, 2)
    (logits.sum() + embedding.pow(2).sum()).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_eval_is_deterministic_batch_invariant_and_logits_come_from_the_embedding():
    torch.manual_seed(1)
    model = LCNN(TINY).eval()
    feats = torch.randn(4, 60, 80)
    with torch.no_grad():
        emb, logits = model(feats)
        again = model(feats)[1]
        alone = torch.cat([model(feats[i:i + 1])[1] for i in range(4)])
    assert torch.equal(logits, again)
    torch.testing.assert_close(alone, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.out_layer(emb), logits)


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown LCNN config key.*width"):
        LCNN({"width": 2})
    with pytest.raises(ValueError, match="5 positive widths"):
        LCNN({"channels": [4, 4, 8, 4]})
    with pytest.raises(ValueError, match="must be even"):
        LCNN({"channels": [4, 4, 8, 4, 3]})
    model = LCNN(TINY)
    with pytest.raises(ValueError, match=r"\(B, 60, frames >= 16\)"):
        model(torch.randn(2, 40, 100))
    with pytest.raises(ValueError, match=r"\(B, 60, frames >= 16\)"):
        model(torch.randn(2, 60, 10))
