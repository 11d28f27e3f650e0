"""ssd-import: pack a detector published by others (weights + their configuration) as an ssd archive.

One sub-command per importer registered in :data:`ssd.importers.IMPORTERS` (``ssd-import aasist ...``);
the archive then runs with ``ssd-detect --model OUT`` and ``ssd.Detector.load(OUT)``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ssd.importers import IMPORTERS, importer
from ssd.metrics.scorefiles import ScoreFileError
from ssd.packing import PackError


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-import``: one sub-command per registered importer, each with its own options."""
    parser = argparse.ArgumentParser(
        prog="ssd-import",
        description="Import a published detector: load its authors' weights strictly into ssd's "
        "implementation and write one archive with its provenance, licence, model card and the authors' "
        "evaluation policy, which ssd-detect and ssd.Detector load.",
        epilog="example: ssd-import aasist --weights AASIST.pth --config AASIST.conf --out aasist_la.zip; "
        "ssd-import aasist --help for its options",
    )
    sub = parser.add_subparsers(dest="importer", required=True, metavar="IMPORTER")
    for name in IMPORTERS:
        module = importer(name)
        module.add_arguments(sub.add_parser(name, help=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one importer; exit status 1 with the reason when the inputs cannot be imported."""
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        manifest = importer(args.importer).run(args)
    except (PackError, ScoreFileError, ValueError, OSError) as err:
        logging.error("ssd-import %s failed: %s", args.importer, err)
        return 1
    parts = manifest["model"]
    thresholds = ", ".join(f"{name} {entry['value']:.6g}" for name, entry in manifest["thresholds"].items()
                           if isinstance(entry, dict)) or "none (ssd-detect gives decision '-' without " \
        "--threshold)"
    logging.info("wrote %s (%.1f MB): %s backbone %s, %s parameters, evaluation %s; thresholds: %s", args.out,
                 os.path.getsize(args.out) / 1e6, parts["frontend"], parts["backbone"],
                 f"{manifest['parameters']:,}", manifest["eval"]["policy"], thresholds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
