"""ssd-export: write a trained detector's network as ONNX, for runtimes without PyTorch."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ssd.detector import Detector
from ssd.metrics.scorefiles import ScoreFileError
from ssd.packing import PackError


def get_parser() -> argparse.ArgumentParser:
    """Options of ``ssd-export``."""
    parser = argparse.ArgumentParser(
        prog="ssd-export",
        description="Export the backbone and the score as ONNX: input 'feats' (batch, 60, window) float32 "
        "LFCC windows, or 'waveform' (batch, window) float32 samples for a raw-waveform model; output "
        "'score' (batch,). The front end and the evaluation policy (ssd.data.windows: repeat-pad, "
        "fixed-hop windows, mean score; or the first window) are computed outside; policy, window, hop, "
        "rate and thresholds are stored as ssd.* metadata properties.",
        epilog="example: ssd-export --onnx ocsoftmax_all.onnx "
        "--model exp/ocsoftmax_all/packed/ocsoftmax_all.zip",
    )
    parser.add_argument("--onnx", required=True, metavar="FILE", help="ONNX file to write")
    parser.add_argument("--model", required=True, help="packed archive or experiment directory")
    parser.add_argument("--checkpoint", default="best.pt",
                        help="with an experiment directory: the checkpoint to use (default: %(default)s)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version (default: %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Export one model; exit status 1 with the reason when the model or the onnx package is missing."""
    args = get_parser().parse_args(argv)
    try:
        experiment = {"checkpoint": args.checkpoint} if os.path.isdir(args.model) else {}
        detector = Detector.load(args.model, **experiment)
        detector.export_onnx(args.onnx, opset=args.opset)
    except (PackError, ScoreFileError, ValueError, OSError, ImportError) as err:
        print(f"ssd-export: error: {err}", file=sys.stderr)
        return 1
    shape = f"waveform (batch, {detector.window})" if detector.model.waveform_input else \
        f"feats (batch, {detector.frontend.dim}, {detector.window})"
    threshold = "none known" if detector.threshold is None else \
        f"{detector.threshold_name} = {detector.threshold:.6g}"
    print(f"ssd-export: wrote {args.onnx}: input {shape} float32 -> score (batch,); threshold {threshold}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
