"""The paper's model gives the numbers it gave before the registered-parts redesign.

The values below were printed by this very run on the ResNet-only code (commit 6b3a12f, its
``model: {stem_channels, ..., input_frames}`` schema) and reproduced bit for bit by the registry code
on the same machine; a tolerance of 1e-5 leaves room for other CPUs' kernels, not for a changed model.
"""

from __future__ import annotations

import pytest
import torch

from ssd.tasks.multitask import MultiTaskModel, MultiTaskTrainer

SIZES = {"stem_channels": 4, "channels": [8, 8, 16, 16], "blocks": [1, 1, 1, 1], "pool_channels": 16,
         "embedding_dim": 16}
BEFORE_LOSSES = [
    {"cm": 7.8011555671691895, "spk": 1.131017804145813, "conv_det": 0.004316550679504871,
     "recon": 3.2859716415405273, "total": 7.932652473449707,
     "conv_adv": 20.63770866394043, "conv_mse": 1.3362478017807007},
    {"cm": 8.533164024353027, "spk": 1.4983373880386353, "conv_det": 0.0022169824223965406,
     "recon": 3.2534594535827637, "total": 8.663378715515137,
     "conv_adv": 21.67049217224121, "conv_mse": 1.3040682077407837},
    {"cm": 7.82024621963501, "spk": 1.4487791061401367, "conv_det": 0.0011661614989861846,
     "recon": 3.1215524673461914, "total": 7.945181369781494,
     "conv_adv": 21.442676544189453, "conv_mse": 1.3004347085952759},
]
BEFORE_SCORES = [-0.0803113579750061, -0.03775252401828766, -0.2206181436777115, 0.008468635380268097]


def test_three_multi_task_steps_and_scores_match_the_resnet_only_code():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    cfg = {"model": {"resnet": SIZES, "input_length": 24, "converter_width": 4},
           "loss": {"name": "ocsoftmax"},
           "tasks": {"recon": {"weight": 0.04}, "conv": {"weight": 0.0003}, "spk": {"weight": 0.00005}}}
    model = MultiTaskModel(cfg, 3)
    trainer = MultiTaskTrainer(model, cfg)
    g = torch.Generator().manual_seed(1)
    labels = torch.tensor([0, 1, 1, 0, 1, 1, 0, 1])
    speakers = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1])
    for expected in BEFORE_LOSSES:
        got = trainer.train_step(torch.randn(8, 60, 24, generator=g), labels, speakers)
        assert got == pytest.approx(expected, rel=1e-5)
    model.eval()
    with torch.no_grad():
        scores = model.score(torch.randn(4, 60, 24, generator=g)).tolist()
    assert scores == pytest.approx(BEFORE_SCORES, rel=1e-5, abs=1e-7)
