"""ssd-convert-ssl: turn a fairseq or Hugging Face SSL checkpoint into the tensor-only file model.ssl reads.

The conversion runs once, offline, on a checkpoint the user downloaded; training and inference then read
only the converted safetensors file (:mod:`ssd.importers.ssl_checkpoint` says what is checked).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from ssd.frontend.ssl import FAMILIES, SslUnavailable


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ssd-convert-ssl",
        description="Convert a wav2vec 2.0 / XLS-R or WavLM checkpoint (a fairseq .pt, or a Hugging Face "
        "model directory) into a safetensors file of the encoder's tensors and architecture, for "
        "model.ssl.checkpoint. fairseq pickles are read without fairseq and without running their code.",
        epilog="example: ssd-convert-ssl xlsr2_300m.pt exp/ssl/xlsr_300m.safetensors",
    )
    parser.add_argument("source", help="fairseq checkpoint (.pt) or Hugging Face model directory")
    parser.add_argument("output", help="the converted file to write (.safetensors)")
    parser.add_argument("--family", choices=FAMILIES,
                        help="the architecture family, when a fairseq config does not name it")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    from ssd.importers.ssl_checkpoint import convert

    try:
        header = convert(args.source, args.output, args.family)
    except (SslUnavailable, ValueError, OSError) as err:
        logging.error("ssd-convert-ssl failed: %s", err)
        return 1
    arch = header["architecture"]
    logging.info("wrote %s (%.1f MB): %s, %d layers x %d, from %s (sha256 %s)", args.output,
                 os.path.getsize(args.output) / 1e6, header["family"], arch["num_hidden_layers"],
                 arch["hidden_size"], header["source"], header["source_sha256"][:12])
    return 0


if __name__ == "__main__":
    sys.exit(main())
