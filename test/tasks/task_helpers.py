"""Constants shared by the multi-task step tests: a tiny configuration and its batch geometry."""

MINI = {
    "model": {"resnet": {"stem_channels": 4, "channels": [8, 8, 16, 16], "blocks": [1, 1, 1, 1],
                         "pool_channels": 16, "embedding_dim": 16}, "input_length": 24, "converter_width": 4},
    "loss": {"name": "ocsoftmax"},
    "tasks": {"recon": {"weight": 0.04}, "conv": {"weight": 0.3}, "spk": {"weight": 0.05}},
    "optim": {},
    "train": {"amp": "none", "efficient_step": True},
}
FRAMES = 24
NUM_SPEAKERS = 3
