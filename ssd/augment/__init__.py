"""Waveform augmentation for training: RawBoost (``rawboost``)."""
