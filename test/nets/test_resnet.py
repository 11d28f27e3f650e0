"""The backbone: the paper's sizes and shapes, the mini configuration, attentive pooling."""

import pytest
import torch
from torch import nn

from ssd.nets.config import ModelConfig
from ssd.nets.pooling import AttentiveStatsPooling
from ssd.nets.resnet import ResNetBackbone, collapsed_freq

MINI = {"stem_channels": 8, "channels": [8, 16, 32, 64], "blocks": [1, 1, 1, 1], "pool_channels": 32,
        "embedding_dim": 32}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_backbone_has_the_reference_parameter_count_without_the_unused_gru():
    backbone = ResNetBackbone()
    assert n_params(backbone) == 22_558_450
    assert not any(isinstance(m, nn.GRU) for m in backbone.modules())
    stages = (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4)
    assert [len(s) for s in stages] == [3, 4, 6, 3]


def test_paper_backbone_maps_60x750_to_256d_embedding_and_2_logits():
    torch.manual_seed(0)
    backbone = ResNetBackbone().eval()
    x = torch.randn(2, 1, 60, 750)
    with torch.no_grad():
        emb, logits = backbone(x)
    assert emb.shape == (2, 256) and logits.shape == (2, 2)
    assert torch.isfinite(emb).all() and torch.isfinite(logits).all()


def test_frequency_axis_goes_60_18_9_5_3_then_collapses_to_1():
    backbone = ResNetBackbone(MINI).eval()
    seen = {}
    names = ("bn1", "layer1", "layer2", "layer3", "layer4", "conv5")
    for name in names:
        getattr(backbone, name).register_forward_hook(lambda m, i, o, k=name: seen.__setitem__(k, o.shape))
    with torch.no_grad():
        emb, logits = backbone(torch.randn(3, 60, 200))
    assert [seen[k][2] for k in names] == [18, 18, 9, 5, 3, 1]
    assert [seen[k][3] for k in ("layer1", "layer2", "layer3", "layer4")] == [200, 100, 50, 25]
    assert collapsed_freq(60) == 3
    assert emb.shape == (3, 32) and logits.shape == (3, 2)
    x = torch.randn(3, 1, 60, 200)
    with torch.no_grad():  # (B, 60, T) and (B, 1, 60, T) are the same input
        torch.testing.assert_close(backbone(x)[0], backbone(x.squeeze(1))[0])


def test_wrong_input_shapes_and_config_keys_are_clear_errors():
    backbone = ResNetBackbone(MINI)
    with pytest.raises(ValueError, match=r"\(B, 60, T\)"):
        backbone(torch.randn(2, 40, 100))
    with pytest.raises(ValueError, match="unknown model.resnet key"):
        ResNetBackbone({"chanels": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="4 stages"):
        ResNetBackbone({"blocks": [1, 1, 1]})
    with pytest.raises(ValueError, match="unknown model config key"):
        ModelConfig.from_dict({"resnett": {}})
    with pytest.raises(ValueError, match=r"moved: blocks -> model.resnet.blocks; input_frames -> "
                                         r"model.input_length"):
        ModelConfig.from_dict({"blocks": [1, 1, 1, 1], "input_frames": 750})


def test_pooling_is_sum_and_std_of_attention_weighted_frames():
    pool = AttentiveStatsPooling(3, noise_std=0.0)
    with torch.no_grad():
        pool.attention.copy_(torch.tensor([[1.0, 0.0, -1.0]]))
    frames = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 1.0, 0.0], [2.0, -1.0, 1.0]]])
    att = torch.softmax(torch.tanh(frames[0] @ torch.tensor([1.0, 0.0, -1.0])), dim=0)  # (T,)
    weighted = frames[0] * att[:, None]
    expected = torch.cat([weighted.sum(0), weighted.std(0, unbiased=True)])
    torch.testing.assert_close(pool(frames)[0], expected)


def test_pooling_noise_is_added_in_training_only():
    torch.manual_seed(0)
    pool = AttentiveStatsPooling(8, noise_std=1e-2)
    frames = torch.randn(2, 20, 8)
    pool.eval()
    assert torch.equal(pool(frames), pool(frames))
    pool.train()
    a, b = pool(frames), pool(frames)
    assert torch.equal(a[:, :8], b[:, :8])  # the weighted sum has no noise
    assert not torch.equal(a[:, 8:], b[:, 8:])


def test_zero_init_residual_zeroes_only_the_blocks_last_convs_after_the_same_draws():
    torch.manual_seed(3)
    reference = ResNetBackbone(MINI)
    torch.manual_seed(3)
    zeroed = ResNetBackbone({**MINI, "zero_init_residual": True})
    last_convs = {f"{name}.conv2.weight" for name, m in zeroed.named_modules() if name.endswith(".0")}
    assert len(last_convs) == 4
    for name, value in zeroed.state_dict().items():
        if name in last_convs:
            assert not value.any() and reference.state_dict()[name].any()
        else:
            assert torch.equal(value, reference.state_dict()[name]), name
    block, x = zeroed.layer2[0], torch.randn(2, 8, 6, 10)
    pre = torch.relu(block.bn1(x))
    assert torch.equal(block(x), block.shortcut(pre))  # each block starts as its shortcut
    with pytest.raises(ValueError, match="zero_init_residual must be true or false, got 'yes'"):
        ResNetBackbone({**MINI, "zero_init_residual": "yes"})
