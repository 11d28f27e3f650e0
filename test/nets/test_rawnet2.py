"""RawNet2: the ASVspoof 2021 baseline's parameter count and layout, and the module contract on a tiny
size (shapes, gradients, eval determinism, batch invariance, clear errors)."""

import pytest
import torch
from torch import nn

from ssd.nets.rawnet2 import RAWNET2_CONFIG, RawNet2

TINY = {"first_conv": 16, "filts": [4, [4, 4], [4, 8], [8, 8]], "blocks": [1, 2], "nb_fc_node": 12,
        "gru_node": 10, "nb_gru_layer": 1, "nb_samp": 2000}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_baseline_configuration_has_its_parameter_count_and_layout():
    model = RawNet2(RAWNET2_CONFIG)
    assert n_params(model) == 17_621_410
    assert n_params(model.gru) == 16_140_288  # 3 layers of 1024 units dominate
    assert [(b.conv1.in_channels, b.conv1.out_channels) for b in model.blocks] == \
        [(20, 20), (20, 20), (20, 128), (128, 128), (128, 128), (128, 128)]
    assert model.sinc.kernel_size == 1025 and model.sinc.filters.shape == (20, 1, 1025)
    assert model.embedding_dim == 1024 and model.input_kind == "waveform" and model.input_samples == 64600
    assert model.logit_order == ("spoof", "bonafide")
    assert "sinc.filters" not in model.state_dict()


def test_tiny_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    model = RawNet2(TINY)
    embedding, logits = model(torch.randn(3, 2000))
    assert embedding.shape == (3, 12) and logits.shape == (3, 2)
    (logits.sum() + embedding.pow(2).sum()).backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not missing
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen == sorted(f"blocks.{i}.bn1.{w}" for i in (1, 2) for w in ("weight", "bias"))


def test_feature_map_scaling_is_x_times_gate_plus_gate():
    model = RawNet2(TINY).eval()
    block = model.blocks[0]
    seen = {}
    block.fms.register_forward_hook(lambda m, i, o: seen.update(pooled=i[0], gate=torch.sigmoid(o)))
    x = torch.randn(2, 4, 90)
    with torch.no_grad():
        out = block(x)
        pre = torch.nn.functional.max_pool1d(block.conv2(torch.nn.functional.leaky_relu(
            block.bn2(block.conv1(x)), 0.3)) + x, 3)
    gate = seen["gate"].unsqueeze(2)
    torch.testing.assert_close(seen["pooled"], pre.mean(dim=2))
    torch.testing.assert_close(out, pre * gate + gate)


def test_eval_is_deterministic_and_batch_invariant():
    torch.manual_seed(1)
    model = RawNet2(TINY).eval()
    wave = torch.randn(4, 2000)
    with torch.no_grad():
        emb, logits = model(wave)
        again = model(wave)[1]
        alone = torch.cat([model(wave[i:i + 1])[1] for i in range(4)])
    assert torch.equal(logits, again)
    torch.testing.assert_close(alone, logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.fc2_gru(emb), logits)


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown RawNet2 model key.*gru_nodes"):
        RawNet2({"gru_nodes": 3})
    with pytest.raises(ValueError, match="must chain"):
        RawNet2({**TINY, "filts": [4, [4, 4], [8, 8], [8, 8]]})
    with pytest.raises(ValueError, match="mono"):
        RawNet2({**TINY, "in_channels": 2})
    model = RawNet2(TINY)
    with pytest.raises(ValueError, match=r"samples >= 97"):  # 16 + 3^4: sinc kernel, then 4 pools by 3
        model(torch.randn(2, 96))
    assert model(torch.randn(2, 97))[1].shape == (2, 2)
