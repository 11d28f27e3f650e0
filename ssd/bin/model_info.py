"""ssd-model-info: the parts of a model and the parameters of each, from a config or a packed archive.

Examples::

    ssd-model-info --config conf/train_ocsoftmax_all.yaml --base conf/train_aasist.yaml
    ssd-model-info --model exp/ocsoftmax_all/packed/ocsoftmax_all.zip --json
    ssd-model-info --config conf/train_ocsoftmax_vanilla.yaml --base conf/train_mini.yaml --get table
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from torch import nn

# What each top-level module of a MultiTaskModel is, for the table.
ROLES = {
    "backbone": "backbone",
    "cm_loss": "CM loss",
    "decoder": "S1 reconstruction decoder",
    "converter": "S2 conversion autoencoder",
    "speaker_head": "S3 speaker head",
}


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(cfg: dict[str, Any], num_speakers: int) -> dict[str, Any]:
    """The parts of the model ``cfg`` builds, with parameter counts (trainable and in all)."""
    from ssd.tasks.multitask import MultiTaskModel

    model = MultiTaskModel(cfg, num_speakers)
    parts = model.parts
    modules = {name: {"role": ROLES.get(name, name), "parameters": parameters(child),
                      "trainable": sum(p.numel() for p in child.parameters() if p.requires_grad)}
               for name, child in model.named_children()}
    return {
        "frontend": {"name": parts.frontend, "unit": model.frontend.unit, "dim": model.frontend.dim},
        "backbone": {"name": parts.backbone, "input_length": parts.input_length,
                     "embedding_dim": int(model.backbone.embedding_dim), "config": parts.backbone_section},
        "loss": (cfg.get("loss") or {}).get("name"),
        "eval": {k: (cfg.get("eval") or {}).get(k) for k in ("policy", "hop_length")},
        "modules": modules,
        "total": parameters(model),
    }


def table(info: dict[str, Any]) -> str:
    fe, bb, ev = info["frontend"], info["backbone"], info["eval"]
    lines = [f"front end  {fe['name']} ({fe['dim']} per step, counted in {fe['unit']})",
             f"backbone   {bb['name']} (input {bb['input_length']} {fe['unit']}, "
             f"embedding {bb['embedding_dim']})",
             f"loss       {info['loss']}; evaluation {ev['policy']}, hop {ev['hop_length']}",
             "", f"{'module':<14} {'part':<28} {'parameters':>12} {'trainable':>12}"]
    for name, entry in info["modules"].items():
        lines.append(f"{name:<14} {entry['role']:<28} {entry['parameters']:>12,} {entry['trainable']:>12,}")
    lines.append(f"{'total':<14} {'':<28} {info['total']:>12,}")
    return "\n".join(lines)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssd-model-info", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="training config (a variant file, or any file of a base chain)")
    source.add_argument("--model", help="packed archive (ssd-pack, ssd-import), or an experiment directory")
    parser.add_argument("--base", help="with --config: the profile it is laid over (as ssd.bin.train --base)")
    parser.add_argument("--num-speakers", type=int, default=20,
                        help="training speakers, for the size of the S3 head (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument("--get", choices=("frontend", "backbone", "table"),
                        help="print only that part's name (table: the dump/<name> that holds the front "
                        "end's data)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        if args.model and os.path.isdir(args.model):  # an experiment: its best checkpoint's config
            from ssd.utils.checkpoint import load_checkpoint

            cfg = load_checkpoint(os.path.join(args.model, "best.pt"))["config"]
        elif args.model:
            from ssd.packing import read_packed

            cfg = read_packed(args.model).config
        else:
            from ssd.utils.config import load_config

            cfg = load_config(args.config, args.base)
        if args.get:
            from ssd.frontend.registry import build_frontend
            from ssd.nets.config import ModelConfig

            parts = ModelConfig.from_dict(cfg.get("model"))
            print(build_frontend(parts.frontend).table if args.get == "table" else getattr(parts, args.get))
            return 0
        info = describe(cfg, args.num_speakers)
    except (ValueError, OSError) as err:  # ConfigError and PackError are ValueErrors
        print(f"ssd-model-info: error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(info, indent=2) if args.json else table(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
