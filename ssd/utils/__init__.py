"""Configuration, checkpoints, logging and distributed helpers."""
