"""Importers: published detectors trained by others, packed as ssd archives that ``ssd-detect`` runs.

An importer reads another project's released weights and configuration, loads the weights strictly into
ssd's implementation of that network, and writes a packed detector (:func:`ssd.packing.write_packed`)
that records where the weights came from (files and their sha256, authors, repository, licence, with the
licence text as an archive member), the evaluation policy of the original code, and a model card with
the published figures.

A new importer is one module in this package and one line in :data:`IMPORTERS`. The module provides:

- ``HELP``: a one-line description (the ``ssd-import <name>`` sub-command's help);
- ``add_arguments(parser)``: its command-line options;
- ``run(args) -> dict``: import as the options say, returning the manifest that was written.

``ssd-import`` (:mod:`ssd.bin.import_model`) builds one sub-command per entry; library users call the
module's own function (e.g. :func:`ssd.importers.aasist.import_aasist`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

IMPORTERS: dict[str, str] = {  # sub-command -> module
    "aasist": "ssd.importers.aasist",
}


def importer(name: str) -> ModuleType:
    """The importer module registered as ``name``; an unknown name is an error listing the known ones."""
    if name not in IMPORTERS:
        raise ValueError(f"unknown importer {name!r}; registered: {', '.join(sorted(IMPORTERS))}")
    return importlib.import_module(IMPORTERS[name])
