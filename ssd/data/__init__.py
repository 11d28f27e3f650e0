"""Kaldi data directories, feature archives, corpora and datasets."""
