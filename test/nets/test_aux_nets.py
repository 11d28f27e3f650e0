"""S1 decoder, S2 conversion autoencoder, S3 speaker head: paper sizes and shape following."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssd.nets.conversion import ConversionAutoencoder
from ssd.nets.reconstruction import ReconstructionDecoder
from ssd.nets.resnet import ResNetBackbone
from ssd.nets.speaker_head import SpeakerHead


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_parameter_counts():
    assert n_params(ReconstructionDecoder(256, 60, 750)) == 1_724_043
    assert n_params(ConversionAutoencoder()) == 3_386_531
    assert n_params(SpeakerHead(20, 256)) == 42_836


def test_decoder_output_follows_the_requested_shape():
    torch.manual_seed(0)
    dec = ReconstructionDecoder(16, 60, 200).eval()
    with torch.no_grad():
        for t in (200, 256, 150):
            assert dec(torch.randn(2, 16), (60, t)).shape == (2, 1, 60, t)
    with pytest.raises(ValueError, match="too small"):
        dec(torch.randn(2, 16), (60, 20))


def test_paper_decoder_is_linear_4x10x125_then_x3_x2_upsampling():
    dec = ReconstructionDecoder(256, 60, 750)
    assert dec.fc.out_features == 4 * 10 * 125
    seen = {}
    dec.layer3.register_forward_hook(lambda m, i, o: seen.__setitem__("l3", o.shape))
    dec.layer2.register_forward_hook(lambda m, i, o: seen.__setitem__("l2", o.shape))
    with torch.no_grad():
        out = dec.eval()(torch.randn(1, 256), (60, 750))
    assert seen["l2"][-2:] == (10, 125) and seen["l3"][-2:] == (30, 375) and out.shape == (1, 1, 60, 750)


@pytest.mark.parametrize("frames", [750, 200, 256, 201, 37])
def test_converter_returns_the_input_shape_for_any_width(frames):
    conv = ConversionAutoencoder().eval()
    with torch.no_grad():
        assert conv(torch.randn(1, 1, 60, frames)).shape == (1, 1, 60, frames)


def test_converter_at_750_frames_is_the_reference_fixed_output_padding_computation():
    """The reference's transposed convs use output_padding 0, 0, (1, 2), (2, 1); sizing them from the skip
    connections must reproduce exactly that computation for the paper's 750 frames."""
    torch.manual_seed(0)
    conv = ConversionAutoencoder().eval()
    x = torch.randn(2, 1, 60, 750)
    with torch.no_grad():
        ours = conv(x)
        for stage, pad in ((conv.up1, (0, 0)), (conv.up2, (0, 0)), (conv.up3, (1, 2)), (conv.up4, (2, 1))):
            up = stage.up
            stage.forward = lambda y, size, s=stage, u=up, p=pad: s.blocks(
                F.conv_transpose2d(y, u.weight, u.bias, u.stride, u.padding, p))
        reference = conv(x)
    assert torch.equal(ours, reference)


def test_every_network_passes_an_empty_batch_with_zero_gradients():
    """A DDP rank whose shard lacks bona fide or spoof samples still runs the SyncBatchNorm networks."""
    mini = {"stem_channels": 4, "channels": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "pool_channels": 16,
            "embedding_dim": 16}
    nets = [ResNetBackbone(mini), ReconstructionDecoder(16, 60, 24), ConversionAutoencoder(),
            SpeakerHead(3, 16)]
    backbone, decoder, converter, head = (n.eval() for n in nets)
    x = torch.zeros(0, 1, 60, 24, requires_grad=True)
    emb, logits = backbone(x)
    outputs = [emb, logits, decoder(emb, (60, 24)), converter(x), head(emb)]
    assert [tuple(o.shape) for o in outputs] == [(0, 16), (0, 2), (0, 1, 60, 24), (0, 1, 60, 24), (0, 3)]
    sum(o.sum() for o in outputs).backward()
    grads = [p.grad for n in nets for p in n.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)


def test_speaker_head_outputs_one_logit_per_speaker():
    head = SpeakerHead(7, 32)
    assert head(torch.randn(4, 32)).shape == (4, 7)
    with pytest.raises(ValueError, match="at least one speaker"):
        SpeakerHead(0)
