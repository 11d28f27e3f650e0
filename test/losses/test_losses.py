"""OC-softmax, AM-softmax and softmax: values, margins and score semantics on hand-made embeddings."""

import glob
import math
import os

import pytest
import torch
import yaml

from ssd.losses import LOSSES, build_loss

E1, E2 = torch.eye(4)[0], torch.eye(4)[1]


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_ocsoftmax_margins_and_cosine_score():
    section = {"name": "ocsoftmax", "ocsoftmax": {"m_real": 0.9, "m_fake": 0.2, "alpha": 20}}
    loss = build_loss("ocsoftmax", section, embedding_dim=4)
    with torch.no_grad():
        loss.center.copy_(3 * E1[None])  # only the direction matters
    emb = torch.stack([2 * E1, E2, 5 * E1, E2])  # cosines 1, 0, 1, 0
    labels = torch.tensor([0, 0, 1, 1])
    per_sample = [softplus(20 * (0.9 - 1)), softplus(20 * (0.9 - 0)), softplus(20 * (1 - 0.2)),
                  softplus(20 * (0 - 0.2))]
    assert loss(emb, None, labels).item() == pytest.approx(sum(per_sample) / 4, rel=1e-5)
    torch.testing.assert_close(loss.score(emb, None), torch.tensor([1.0, 0.0, 1.0, 0.0]))
    assert loss(E1[None], None, torch.tensor([0])).item() < loss(E2[None], None, torch.tensor([0])).item()


def test_amsoftmax_margin_on_the_true_class_and_bona_fide_posterior_score():
    loss = build_loss("amsoftmax", {"name": "amsoftmax", "amsoftmax": {"s": 20, "m": 0.9}}, embedding_dim=4)
    with torch.no_grad():
        loss.centers.copy_(torch.stack([E1, 2 * E2]))  # centre 0 = bona fide
    emb = torch.stack([E1, E1])
    labels = torch.tensor([0, 1])
    # logits s * (cos - m [k = y]): bona fide row (20 * 0.1, 0), spoof row (20, -20 * 0.9)
    expected = [math.log(1 + math.exp(-2.0)), math.log(math.exp(20.0) + math.exp(-18.0)) + 18.0]
    assert loss(emb, None, labels).item() == pytest.approx(sum(expected) / 2, rel=1e-5)
    score = loss.score(torch.stack([E1, E2]), None)
    torch.testing.assert_close(score, torch.tensor([1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(1.0))]))


def test_softmax_cross_entropy_and_posterior_score():
    loss = build_loss("softmax", {"name": "softmax"})
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, 1])
    expected = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(-3.0))) / 2
    assert loss(None, logits, labels).item() == pytest.approx(expected, rel=1e-6)
    confident = torch.tensor([[30.0, 0.0], [29.0, 0.0]])
    assert torch.softmax(confident, dim=1)[0, 0] == torch.softmax(confident, dim=1)[1, 0]  # float32 ties
    score = loss.score(None, confident)
    assert score[0] > score[1]


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_empty_batch_gives_zero_loss_with_finite_gradients(name):
    loss = build_loss(name, {"name": name}, embedding_dim=4)
    emb = torch.zeros(0, 4, requires_grad=True)
    logits = torch.zeros(0, 2, requires_grad=True)
    value = loss(emb, logits, torch.zeros(0, dtype=torch.long))
    value.backward()
    assert value.item() == 0.0
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in loss.parameters())


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_training_separates_scores_in_the_documented_direction(name):
    """A few gradient steps on the loss alone must give bona fide the higher score."""
    torch.manual_seed(0)
    loss = build_loss(name, {"name": name}, embedding_dim=8)
    emb = torch.randn(16, 8, requires_grad=True)
    head = torch.nn.Linear(8, 2)
    labels = torch.arange(16) % 2
    opt = torch.optim.SGD([emb, *head.parameters(), *loss.parameters()], lr=0.5)
    for _ in range(30):
        opt.zero_grad()
        loss(emb, head(emb), labels).backward()
        opt.step()
    with torch.no_grad():
        score = loss.score(emb, head(emb))
    assert score[labels == 0].min() > score[labels == 1].max()


def test_registry_rejects_unknown_names_sections_and_parameters():
    with pytest.raises(ValueError, match="unknown loss"):
        build_loss("arcface", {})
    with pytest.raises(ValueError, match="unknown parameter"):
        build_loss("ocsoftmax", {"name": "ocsoftmax", "ocsoftmax": {"margin": 0.5}})
    with pytest.raises(ValueError, match="unknown key"):
        build_loss("ocsoftmax", {"name": "ocsoftmax", "m_real": 0.5})
    oc = build_loss("ocsoftmax", {"name": "ocsoftmax", "ocsoftmax": {"m_real": 0.8}, "amsoftmax": {"s": 30}})
    assert oc.m_real == 0.8 and oc.m_fake == 0.2 and oc.alpha == 20.0


def test_every_loss_named_in_a_recipe_config_is_registered(repo_root):
    names = []
    for path in glob.glob(os.path.join(repo_root, "egs", "*", "conf", "**", "*.yaml"), recursive=True):
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
        loss = cfg.get("loss") if isinstance(cfg, dict) else None
        if isinstance(loss, dict) and "name" in loss:
            names.append((path, loss["name"]))
    if not names:
        pytest.skip("no recipe config names a loss yet")
    assert [(p, n) for p, n in names if n not in LOSSES] == []
