"""Countermeasure losses: OC-softmax, AM-softmax and softmax."""
