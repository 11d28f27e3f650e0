"""The training harness around the multi-task step: data, epochs, evaluation, checkpoints, resume."""
