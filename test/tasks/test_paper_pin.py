"""The paper's model gives the numbers it gave before the registered-parts redesign.

The values below were printed by this very run on the ResNet-only code (commit 6b3a12f, its
``model: {stem_channels, ..., input_frames}`` schema, with its float32 casts made dtype-preserving so that
it ran in float64) and reproduced bit for bit by the registry code on the same machine. The run is in
float64 because float32 is not CPU-independent here: Adam's first steps move a weight by about the
learning rate whatever the size of its gradient, so summation-order noise of 1e-7 in a near-zero
gradient grew to a 0.2 % difference in a loss after two steps on another CPU. In float64 that noise
stays below 1e-12 (measured with 1 and 2 threads, oneDNN on and off); 1e-9 leaves room for other CPUs'
kernels, not for a changed model.
"""

from __future__ import annotations

import pytest
import torch

from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer

SIZES = {"stem_channels": 4, "channels": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "pool_channels": 16,
         "embedding_dim": 16}
BEFORE_LOSSES = [
    {"cm": 8.361499129886152, "spk": 1.169832478879781, "conv_det": 0.004266665237076838,
     "recon": 3.128329971948487, "total": 8.486692100387607, "conv_adv": 20.735918948849253,
     "conv_mse": 1.2876229550706502},
    {"cm": 8.82787239331582, "spk": 1.0702583135187924, "conv_det": 0.005955233210124042,
     "recon": 3.189762137610171, "total": 8.955518178305864, "conv_adv": 21.040848685168452,
     "conv_mse": 1.305905473629049},
    {"cm": 8.120357288722493, "spk": 1.0927578584043103, "conv_det": 0.010022974505094673,
     "recon": 3.1559543406897372, "total": 8.246653107135353, "conv_adv": 21.1046764964511,
     "conv_mse": 1.303319345655657},
]
BEFORE_SCORES = [-0.20005539900059496, 0.04233977854489873, -0.14185556528189558, -0.22132837575868636]


def test_three_multi_task_steps_and_scores_match_the_resnet_only_code():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = {"model": {"resnet": SIZES, "input_length": 24, "converter_width": 4},
           "loss": {"name": "ocsoftmax"},
           "tasks": {"recon": {"weight": 0.04}, "conv": {"weight": 0.0003}, "spk": {"weight": 0.00005}}}
    model = MultiTaskModel(cfg, 3).double()
    trainer = MultiTaskTrainer(model, cfg)
    g = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 1, 0, 1, 1, 0, 1])
    speakers = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    for expected in BEFORE_LOSSES:
        got = trainer.train_step(torch.randn(8, 60, 24, generator=g, dtype=torch.float64), labels, speakers)
        assert got == pytest.approx(expected, rel=1e-9)
    model.eval()
    with torch.no_grad():
        scores = model.score(torch.randn(4, 60, 24, generator=g, dtype=torch.float64))
    assert scores.dtype == torch.float64
    assert scores.tolist() == pytest.approx(BEFORE_SCORES, rel=1e-9, abs=1e-12)
