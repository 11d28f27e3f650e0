"""Countermeasure losses: OC-softmax, AM-softmax and softmax, built by name through ``build_loss``."""

from ssd.losses.registry import LOSSES, build_loss

__all__ = ["LOSSES", "build_loss"]
