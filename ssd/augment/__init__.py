"""Waveform augmentation for training: RawBoost on crops (``rawboost``), codecs on utterances (``codec``)."""
