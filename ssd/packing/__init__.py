"""Packed detectors: one zip file with everything needed to score audio with a trained model.

- :mod:`ssd.packing.archive`: the format (members, manifest, checksums, bounded and code-free reading);
- :mod:`ssd.packing.experiment`: an experiment directory (checkpoint, stage 5's reports) made into the
  content of an archive, and :func:`pack_experiment` (stage 6, ``ssd-pack``);
- :mod:`ssd.packing.figures`: the figures and decision thresholds a manifest records;
- :mod:`ssd.packing.card`: the model card (the archive's README.md).

The names most callers need are importable from here.
"""

from ssd.packing.archive import FORMAT_VERSION, PackedModel, PackError, read_packed, write_packed
from ssd.packing.experiment import from_experiment, pack_experiment

__all__ = ["FORMAT_VERSION", "PackError", "PackedModel", "from_experiment", "pack_experiment", "read_packed",
           "write_packed"]
