"""The multi-task training step and its optimisers."""
