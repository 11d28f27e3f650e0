"""AASIST / AASIST-L: the authors' parameter counts, their released weights and reference outputs, and
the module contract (shapes, eval determinism, batch invariance, clear errors) on a tiny size."""

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from ssd.data.windows import eval_windows
from ssd.frontend.audio import read_audio
from ssd.nets.aasist import AASIST, AASIST_CONFIG, AASIST_L_CONFIG, GraphPool

TINY = {"first_conv": 16, "filts": [6, [1, 4], [4, 4], [4, 8], [8, 8]], "gat_dims": [8, 6],
        "pool_ratios": [0.5, 0.7, 0.5, 0.5], "temperatures": [2.0, 2.0, 100.0, 100.0], "nb_samp": 4000}
MODELS = {"AASIST": AASIST_CONFIG, "AASIST-L": AASIST_L_CONFIG}
TOLERANCE = 1e-4  # the fixture README's: the reference logits are printed to 6 decimals


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def aasist_fixtures(fixtures_dir: Path) -> Path:
    folder = fixtures_dir / "aasist"
    if not (folder / "reference_scores.tsv").is_file():
        pytest.skip(f"{folder} has no reference_scores.tsv (SSD_FIXTURES={fixtures_dir})")
    return folder


def test_authors_configurations_have_the_published_parameter_counts():
    assert n_params(AASIST(AASIST_CONFIG)) == 297_866
    assert n_params(AASIST(AASIST_L_CONFIG)) == 85_306
    model = AASIST(AASIST_CONFIG)
    assert model.embedding_dim == 160 and model.input_kind == "waveform" and model.input_samples == 64600
    assert model.logit_order == ("spoof", "bonafide")
    assert "conv_time.filters" not in model.state_dict()  # fixed filters are not saved


@pytest.mark.slow
def test_released_weights_load_strictly_and_reproduce_the_authors_logits(aasist_fixtures: Path):
    rows = list(csv.DictReader((aasist_fixtures / "reference_scores.tsv").open(), delimiter="\t"))
    assert sorted({r["model"] for r in rows}) == sorted(MODELS) and len(rows) == 40
    for name, cfg in MODELS.items():
        model = AASIST(cfg).eval()
        state = torch.load(aasist_fixtures / f"{name}.pth", weights_only=True, map_location="cpu")
        model.load_state_dict(state, strict=True)
        worst = 0.0
        for row in (r for r in rows if r["model"] == name):  # one file per forward: 20 at once thrash memory
            samples, _ = read_audio(str(aasist_fixtures / "audio" / row["file"]), expected_fs=16000)
            assert samples.size == int(row["samples"]), row["file"]
            with torch.inference_mode():
                window = eval_windows(samples[:, None], 64600, 64600, "first_window")[:, 0]
                embedding, logits = model(torch.from_numpy(window))
            expected = torch.tensor([[float(row["logit_spoof"]), float(row["logit_bonafide"])]])
            worst = max(worst, (logits - expected).abs().max().item())
            assert embedding.shape == (1, 160)
        assert worst < TOLERANCE, f"{name}: max |logit - reference| = {worst:.2e}"


def test_tiny_forward_backward_shapes_and_gradients():
    torch.manual_seed(0)
    model = AASIST(TINY)
    embedding, logits = model(torch.randn(3, 4000))
    assert embedding.shape == (3, 5 * 6) and logits.shape == (3, 2)
    (logits.sum() + embedding.pow(2).sum()).backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = [n for n, p in trainable if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen == sorted(f"encoder.{i}.0.bn1.{w}" for i in range(1, 6) for w in ("weight", "bias"))


def test_eval_is_deterministic_batch_invariant_and_logits_come_from_the_embedding():
    torch.manual_seed(1)
    model = AASIST(TINY).eval()
    wave = torch.randn(4, 4000)
    with torch.no_grad():
        emb, logits = model(wave)
        emb2, logits2 = model(wave)
        alone = [model(wave[i:i + 1]) for i in range(4)]
    assert torch.equal(logits, logits2) and torch.equal(emb, emb2)
    torch.testing.assert_close(torch.cat([a[1] for a in alone]), logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.out_layer(emb), logits)


def test_graph_pool_keeps_top_nodes_scaled_by_score_in_descending_order():
    pool = GraphPool(0.5, 2).eval()
    with torch.no_grad():
        pool.proj.weight.copy_(torch.tensor([[1.0, 0.0]]))
        pool.proj.bias.zero_()
    nodes = torch.tensor([[[0.0, 1.0], [3.0, 2.0], [-1.0, 5.0], [1.0, -2.0], [2.0, 0.0]]])
    out = pool(nodes)
    score = torch.sigmoid(nodes[0, :, 0])
    expected = torch.stack([nodes[0, 1] * score[1], nodes[0, 4] * score[4]])  # int(5 * 0.5) = 2 nodes
    torch.testing.assert_close(out[0], expected)


def test_bad_configs_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown AASIST model_config key.*filt"):
        AASIST({"filt": [70]})
    with pytest.raises(ValueError, match="must chain"):
        AASIST({**TINY, "filts": [6, [1, 4], [8, 4], [4, 8], [8, 8]]})
    with pytest.raises(ValueError, match="architecture"):
        AASIST({"architecture": "RawNet2"})
    with pytest.raises(ValueError, match="pool_ratios"):
        AASIST({**TINY, "pool_ratios": [0.5, 0.0, 0.5, 0.5]})
    model = AASIST(TINY)
    with pytest.raises(ValueError, match=r"samples >= 2203"):
        model(torch.randn(2, 2000))
    with pytest.raises(ValueError, match=r"\(B, samples\)"):
        model(torch.randn(2, 1, 4000))
