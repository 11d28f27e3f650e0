"""Audio processing shared by corpora and augmentation: real codec round trips."""
