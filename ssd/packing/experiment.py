"""An experiment directory turned into the content of a packed detector (nothing is written here).

What it reads: the checkpoint (weights of the scoring network, the resolved config), stage 5's
``scores/<set>.json`` for the figures and the dev decision thresholds (the stage-5 report is the one
source of figures: nothing is re-scored here, and a JSON whose score file changed since is refused),
``calibration.json`` and ``RESULTS.md`` when stage 5 wrote them, and the corpus record of the training
dump. :func:`pack_experiment` writes the archive (ssd.packing.archive); the model card is
ssd.packing.card.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

import torch

from ssd import __version__
from ssd.data.windows import check_policy
from ssd.frontend.registry import build_frontend
from ssd.metrics.calibration import CALIBRATION_FILE, Calibration
from ssd.nets.config import ModelConfig
from ssd.packing.archive import RESULTS, PackedModel, write_packed
from ssd.packing.card import model_card
from ssd.packing.figures import figures_entry, thresholds_from_dev
from ssd.provenance import corpus_info, git_commit
from ssd.utils.checkpoint import load_checkpoint
from ssd.utils.fileio import file_digest

SCORING_PREFIXES = ("backbone.", "cm_loss.")


def scoring_state(model_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The backbone and CM-loss entries of a full MultiTaskModel state_dict."""
    state = {k: v for k, v in model_state.items() if k.startswith(SCORING_PREFIXES)}
    if not any(k.startswith("backbone.") for k in state):
        raise ValueError("the checkpoint's model state has no backbone.* entries (not a MultiTaskModel?)")
    return state


def model_parts(config: dict[str, Any]) -> ModelConfig:
    try:
        return ModelConfig.from_dict(config.get("model"))
    except ValueError as err:
        raise ValueError(f"the training config's model section is not one this ssd builds: {err}") from err


def frontend_settings(config: dict[str, Any], fs: int) -> dict[str, Any]:
    """The front end a detector's input comes from, as this code computes it at rate ``fs``."""
    return build_frontend(model_parts(config).frontend).settings(fs)


def eval_policy(config: dict[str, Any]) -> dict[str, Any]:
    """The evaluation policy stage 4 uses (ssd.data.windows), read from the training config."""
    parts = model_parts(config)
    try:
        policy, hop = str(config["eval"]["policy"]), int(config["eval"]["hop_length"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"config lacks eval.policy or eval.hop_length ({err})") from err
    check_policy(policy)
    unit = build_frontend(parts.frontend).unit
    rules = {
        "windowed": ("repeat-pad to window", f"mean of the scores of window-long windows every hop {unit}, "
                     "plus one at the end"),
        "first_window": ("tiled end to end to window", "its first window only"),
    }
    short, long = rules[policy]
    return {"policy": policy, "unit": unit, "window": parts.input_length, "hop": hop, "short": short,
            "long": long}


def parts_entry(config: dict[str, Any]) -> dict[str, Any]:
    """The manifest's record of the registered parts the model is built from, with the backbone's sizes."""
    parts = model_parts(config)
    entry = {"frontend": parts.frontend, "backbone": parts.backbone, "input_length": parts.input_length,
             parts.backbone: parts.backbone_section}
    if build_frontend(parts.frontend).learned:  # the encoder, its source file named but not its path
        source = parts.ssl.get("checkpoint")
        entry["ssl"] = {**parts.ssl, "checkpoint": os.path.basename(source) if source else None}
    return entry



def stage5_figures(exp_dir: str | os.PathLike, dev_set: str, require_dev: bool) -> dict[str, Any]:
    """The manifest's figures, per set scored by stage 4, from stage 5's ``scores/<set>.json``.

    A JSON whose recorded score file digest differs from the score file now there (scored again since)
    is refused; a set stage 5 has not scored is left out (with ``require_dev``, the dev set must be there).
    """
    scores_dir = Path(exp_dir) / "scores"
    names = sorted(p.stem for p in scores_dir.glob("*.txt")) if scores_dir.is_dir() else []
    figures: dict[str, Any] = {}
    for name in names:
        report_file = scores_dir / f"{name}.json"
        if not report_file.is_file():
            if name == dev_set and require_dev:
                raise FileNotFoundError(f"{report_file} does not exist: the figures and the decision "
                                        f"threshold come from stage 5's report on the {dev_set} scores (run "
                                        "stage 5, python -m ssd.bin.results, first)")
            continue
        try:
            report = json.loads(report_file.read_text())
            pooled, recorded = report["pooled"], report.get("cm_scores_sha256")
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
            raise ValueError(f"{report_file}: not a stage-5 report ({err}); run stage 5 again") from err
        if recorded != file_digest(scores_dir / f"{name}.txt")[0]:
            raise ValueError(f"{report_file} was not computed from the {name}.txt now beside it (scored "
                             "again since, or written by an older ssd): run stage 5 again before packing")
        asv = report.get("asv_scores")
        figures[name] = figures_entry(pooled, f"scores/{name}.txt",  # relative: not this machine's paths
                                      str(Path(Path(asv).parent.name, Path(asv).name)) if asv else None,
                                      report.get("tdcf"))
    if require_dev and dev_set not in figures:
        raise FileNotFoundError(f"{scores_dir / (dev_set + '.txt')} does not exist: the decision threshold "
                                f"comes from the {dev_set} scores (run stages 4 and 5 on the {dev_set} set "
                                "first)")
    return figures


def from_experiment(exp_dir: str | os.PathLike, checkpoint: str = "best.pt", fs: int = 16000,
                    dev_set: str = "dev", data_root: str | os.PathLike | None = None,
                    corpus_file: str | os.PathLike | None = None,
                    require_threshold: bool = True) -> PackedModel:
    """Everything a packed detector holds, read from an experiment directory (nothing is written).

    Weights and config come from ``exp_dir/checkpoint``; figures from stage 5's ``exp_dir/scores/<set>.json``
    (:func:`stage5_figures`); thresholds from the ``dev_set`` figures. The corpus is read from
    ``corpus_file``, else from the ``corpus`` file of the training dump dir named in the config, else
    ``data_root/train/corpus``. Without dev figures (or without a finite EER threshold in them) this
    raises, unless ``require_threshold`` is False: the manifest then has ``"thresholds": {}`` and the
    caller supplies the threshold (scoring needs none).
    """
    exp = os.fspath(exp_dir)
    # A bare file name is inside the experiment directory, as ssd.bin.infer's --checkpoint.
    ckpt_path = os.path.join(exp, checkpoint) if len(Path(checkpoint).parts) == 1 else checkpoint
    state = load_checkpoint(ckpt_path)
    for key in ("config", "model"):
        if key not in state:
            raise ValueError(f"{ckpt_path}: checkpoint has no {key!r} entry")
    config = state["config"]
    weights = scoring_state(state["model"])

    figures = stage5_figures(exp, dev_set, require_threshold)
    dev = figures.get(dev_set)
    known = dev is not None and dev["eer_threshold"] is not None
    if not known and require_threshold:
        raise ValueError(f"{dev_set} scores give no finite EER threshold")
    thresholds = thresholds_from_dev(dev, dev_set) if known else {}

    if corpus_file is None:
        train_dir = (config.get("data") or {}).get("train_dir")
        candidates = [os.path.join(train_dir, "corpus")] if train_dir else []
        if data_root is not None:
            candidates.append(os.path.join(data_root, "train", "corpus"))
        corpus_file = next((c for c in candidates if os.path.isfile(c)), None)

    manifest: dict[str, Any] = {
        "ssd_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tag": os.path.basename(os.path.normpath(exp)),
        "checkpoint": {"file": os.path.basename(ckpt_path), "epoch": state.get("epoch"),
                       "dev_eer_in_training": state.get("dev_eer")},
        "parameters": sum(t.numel() for k, t in weights.items() if not k.endswith("num_batches_tracked")),
        "model": parts_entry(config),
        "frontend": frontend_settings(config, fs),
        "eval": eval_policy(config),
        "score": {"higher_means": "bonafide", "loss": (config.get("loss") or {}).get("name")},
        "thresholds": thresholds,
        "figures": figures,
        "corpus": corpus_info(corpus_file),
        "git": git_commit(),
    }
    calibration = os.path.join(exp, CALIBRATION_FILE)
    if os.path.isfile(calibration):  # stage 5's fit on the dev scores: ssd-detect's LLRs and posteriors
        manifest["calibration"] = Calibration.read(calibration).to_json()
    extra = {}
    results_md = os.path.join(exp, "RESULTS.md")
    if os.path.isfile(results_md):
        with open(results_md, "rb") as f:
            extra[RESULTS] = f.read()
    return PackedModel(manifest, config, weights, model_card(manifest, config), extra, exp)


def pack_experiment(exp_dir: str | os.PathLike, out: str | os.PathLike,
                    external_weights: str | os.PathLike | None = None, **kwargs: Any) -> dict[str, Any]:
    """Write ``out`` (a zip) from an experiment directory; ``external_weights`` as :func:`write_packed`,
    other keyword arguments as :func:`from_experiment`."""
    packed = from_experiment(exp_dir, **kwargs)
    return write_packed(out, packed.manifest, packed.state_dict, packed.config, packed.readme,
                        packed.extra_files, external_weights=external_weights)
