"""Import the AASIST and AASIST-L detectors released by their authors (clovaai/aasist) as ssd archives.

``import_aasist(weights, config, out)`` reads the authors' state dict (``models/weights/AASIST.pth`` or
``AASIST-L.pth``, with ``torch.load(weights_only=True)``) and their JSON configuration
(``config/AASIST.conf``, ``AASIST-L.conf``), whose ``model_config`` decides the network: the released
AASIST-L sizes give backbone ``aasist-l``, any other valid ``model_config`` backbone ``aasist`` with
those sizes. The weights load strictly into :class:`ssd.nets.aasist.AASIST` (authors' names become
``backbone.<name>``); a file that does not fit is refused, naming the missing, unexpected and
mis-shaped parameters.

The packed detector scores as the authors' code does: the raw waveform at 16 kHz, the ``first_window``
evaluation policy (the first ``nb_samp`` = 64,600 samples, a shorter input tiled end to end and cut to
that length) and the bona fide logit (the network's second output) as the score (``loss: softmax`` with
``score: logit``). Its manifest's ``imported`` entry records the sources (file names, sha256, sizes, and
the authors' release they match, if any), the authors, repository and licence; the archive carries the
licence text (``LICENSE``) and the authors' configuration file (``authors_config.conf``). There is no
decision threshold unless dev scores of this model are given (``dev_scores``): their EER threshold
becomes the default, as ``ssd-pack`` does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path
from typing import Any

from ssd import __version__
from ssd.importers.common import ModelImportError, dev_figures, file_entry, load_strictly, read_state_dict
from ssd.nets.aasist import AASIST_CONFIG, AASIST_L_CONFIG, SAMPLE_RATE, AasistConfig
from ssd.packing.archive import write_packed
from ssd.packing.card import BACKBONE_NAMES, describe_frontend, figures_table, threshold_lines
from ssd.packing.experiment import SCORING_PREFIXES, eval_policy, frontend_settings, parts_entry
from ssd.provenance import git_commit
from ssd.tasks.multitask import MultiTaskModel

HELP = "the AASIST / AASIST-L detectors released by Jung et al. (clovaai/aasist, MIT licence)"

LICENSE_MEMBER = "LICENSE"
CONFIG_MEMBER = "authors_config.conf"
EVAL_BATCH_SIZE = 32  # windows per forward pass when scoring (one window per input with first_window)

REPOSITORY = "clovaai/aasist"
REPOSITORY_URL = "https://github.com/clovaai/aasist"
PAPER = ("J.-w. Jung, H.-S. Heo, H. Tak, H.-j. Shim, J. S. Chung, B.-J. Lee, H.-J. Yu, N. Evans, "
         "'AASIST: Audio Anti-Spoofing using Integrated Spectro-Temporal Graph Attention Networks', "
         "ICASSP 2022 (arXiv:2110.01200)")
AUTHORS = ["Jee-weon Jung", "Hee-Soo Heo", "Hemlata Tak", "Hye-jin Shim", "Joon Son Chung", "Bong-Jin Lee",
           "Ha-Jin Yu", "Nicholas Evans"]
LICENCE = "MIT"
COPYRIGHT = "Copyright (c) 2021-present NAVER Corp."
TRAINED_ON = "ASVspoof 2019 LA train"

# The released files (clovaai/aasist at this commit), by sha256: an archive says whether it holds them.
RELEASE_COMMIT = "a04c9863f63d44471dde8a6abcb3b082b07cd1d1"
RELEASED_WEIGHTS = {
    "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0":
        ("aasist", "models/weights/AASIST.pth"),
    "814331d088032bb4c3fa61cc014789eadeed464209dd094ab3a2dd6ffbdce27a":
        ("aasist-l", "models/weights/AASIST-L.pth"),
}
# The authors' figures for the released weights (their README; ASVspoof 2019 LA evaluation set).
PUBLISHED = {
    "aasist": {"network": "AASIST", "set": "ASVspoof 2019 LA eval", "eer": 0.0083, "min_tdcf": 0.0275,
               "parameters": 297866, "source": f"{REPOSITORY_URL} README, 'Pre-trained models'"},
    "aasist-l": {"network": "AASIST-L", "set": "ASVspoof 2019 LA eval", "eer": 0.0099, "min_tdcf": 0.0309,
                 "parameters": 85306, "source": f"{REPOSITORY_URL} README, 'Pre-trained models'"},
}

# The authors' LICENSE file (clovaai/aasist), used when none is given or found beside the weights.
MIT_LICENSE = """Copyright (c) 2021-present NAVER Corp.

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.  IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.
"""


def read_authors_config(path: str | os.PathLike) -> tuple[dict[str, Any], bytes]:
    """The authors' JSON configuration (their ``.conf``) and its bytes; it must hold a ``model_config``."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ModelImportError(f"{path}: cannot read the configuration ({err.strerror})") from err
    try:
        conf = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelImportError(f"{path}: not the authors' JSON configuration ({err})") from err
    if not isinstance(conf, dict) or not isinstance(conf.get("model_config"), dict):
        raise ModelImportError(f"{path}: has no 'model_config' object (the authors' config/AASIST.conf "
                               "has one)")
    return conf, data


def backbone_of(model_config: dict[str, Any], where: str = "model_config") -> str:
    """``aasist-l`` for the released AASIST-L sizes, else ``aasist``; an invalid config is an error."""
    try:
        given = AasistConfig.from_dict(model_config)
    except (TypeError, ValueError) as err:
        raise ModelImportError(f"{where}: not an AASIST model_config ssd builds: {err}") from err
    return "aasist-l" if given == AasistConfig.from_dict(AASIST_L_CONFIG) else "aasist"


def released_sizes(backbone: str, model_config: dict[str, Any]) -> bool:
    """Whether ``model_config`` is exactly the released configuration of ``backbone``."""
    released = AASIST_L_CONFIG if backbone == "aasist-l" else AASIST_CONFIG
    return AasistConfig.from_dict(model_config) == AasistConfig.from_dict(released)


def build_config(model_config: dict[str, Any]) -> dict[str, Any]:
    """The training-style ssd config of an imported AASIST: raw front end, the authors' sizes, their
    evaluation policy (``first_window`` of ``nb_samp`` samples), the bona fide logit as score, no tasks."""
    backbone = backbone_of(model_config)
    length = AasistConfig.from_dict(model_config).nb_samp
    return {
        "model": {"frontend": "raw", "backbone": backbone, "input_length": length, "converter_width": 16,
                  backbone: dict(model_config)},
        "loss": {"name": "softmax", "softmax": {"score": "logit"}},
        "tasks": {"recon": {"weight": 0.0},
                  "conv": {"weight": 0.0, "adversary_weight": 1.0, "mse_weight": 1.0},
                  "spk": {"weight": 0.0}},
        "eval": {"policy": "first_window", "hop_length": length, "batch_size": EVAL_BATCH_SIZE},
    }


def _licence_text(license_file: str | os.PathLike | None, weights: str | os.PathLike) -> tuple[bytes, str]:
    """The licence to ship: the file given, else the authors' ``LICENSE`` beside the weights, else the
    bundled copy; returns its bytes and where it came from."""
    if license_file is not None:
        text = Path(license_file).read_bytes()
        if not _is_authors_licence(text):
            raise ModelImportError(f"{license_file}: not the authors' MIT licence (Copyright NAVER Corp.); "
                                   "give their LICENSE file, or leave --license out to ship the bundled copy")
        return text, Path(license_file).name
    beside = Path(weights).with_name("LICENSE")
    if beside.is_file() and _is_authors_licence(text := beside.read_bytes()):
        return text, beside.name
    return MIT_LICENSE.encode("utf-8"), "the authors' LICENSE as bundled with ssd"


def _is_authors_licence(text: bytes) -> bool:
    return b"NAVER Corp." in text and b"Permission is hereby granted" in text


def _percent(value: float) -> str:
    return f"{100 * value:.2f} %"


def model_card(manifest: dict[str, Any]) -> str:
    """The archive's README.md: what was imported, from whom, how it scores, its figures, how to use it."""
    tag, imp, ev, parts = manifest["tag"], manifest["imported"], manifest["eval"], manifest["model"]
    weights, release, published = imp["sources"]["weights"], imp["release"], imp["published"]
    name = BACKBONE_NAMES.get(parts["backbone"], parts["backbone"])
    seconds = ev["window"] / manifest["frontend"]["fs"]
    lines = [
        f"# {tag}: {imp['network']}, the published detector of Jung et al., imported into ssd",
        "",
        "A spoofing countermeasure: given speech, it returns a score, higher = more likely bona fide "
        "(human) speech. The score is the network's bona fide logit, as its authors score it: an "
        "unbounded number, not a probability.",
        "",
        "## Model",
        "",
        f"- front end `{parts['frontend']}`: {describe_frontend(manifest['frontend'])}",
        f"- backbone `{parts['backbone']}` ({name}), {manifest['parameters']:,} parameters",
        f"- evaluation (`{ev['policy']}`, the authors' policy): the first {ev['window']:,} samples "
        f"({seconds:.2f} s) of the input; a shorter input is tiled end to end and cut to {ev['window']:,} "
        "samples; the rest of a longer input is not looked at. Kept so that the authors' published "
        "figures and scores hold.",
        "",
        "## Provenance",
        "",
        f"- trained on {imp['trained_on']} by its authors: {PAPER}",
        f"- code and weights: {imp['url']} ({imp['repository']}), licence {imp['licence']}, "
        f"{imp['copyright']}",
        f"- weights `{weights['file']}`, sha256 `{weights['sha256']}`: "
        + (f"the authors' released `{release['path']}` (commit {release['commit']})" if release else
           "not a file the authors released (another training run, or modified weights)"),
        f"- configuration `{imp['sources']['config']['file']}` (the authors' JSON, kept as "
        f"`{CONFIG_MEMBER}`), sha256 `{imp['sources']['config']['sha256']}`",
        f"- imported {manifest['created']} by ssd {manifest['ssd_version']}, git commit "
        f"{manifest['git']['commit'] or 'unknown'}"
        + (" (with local changes)" if manifest["git"].get("dirty") else ""),
        "",
        "## Published figures",
        "",
    ]
    if published:
        lines.append(f"The authors report, on {published['set']}: EER {_percent(published['eer'])}, "
                     f"min t-DCF {published['min_tdcf']:.4f} ({published['source']}); ssd did not "
                     "recompute them.")
        if not release:
            lines.append("They were measured on the released weights, which these are not: they need not "
                         "hold.")
    else:
        lines.append("None: these sizes are not one of the released configurations.")
    if manifest["figures"]:
        lines += ["", "Measured on the scores given at import:", "",
                  *figures_table(manifest["figures"], with_files=True)]
    lines += ["", "## Decision thresholds", "",
              *threshold_lines(manifest["thresholds"], "the authors publish none and no dev scores were "
                               "given at import; `ssd-detect` prints the score with decision `-`; give "
                               "one with `ssd-detect --threshold <number>` or "
                               "`Detector.use_threshold(<number>)`, or import again with `--dev-scores`")]
    lines += [
        "",
        "## Use",
        "",
        "```",
        f"ssd-detect recording.flac --model {tag}.zip                 # score (and decision when a threshold "
        "is known)",
        f"ssd-detect recordings/ --model {tag}.zip --threshold 0.0 --json",
        "```",
        "",
        "Other sampling rates are resampled to 16 kHz and multi-channel audio is averaged to mono first.",
        "",
        "## Licence",
        "",
        f"The weights and the network design are the authors', under the {imp['licence']} licence "
        f"({imp['copyright']}); its text is this archive's `{LICENSE_MEMBER}` and must stay with any copy.",
        "",
        "## Limitations",
        "",
        f"The model has only seen {imp['trained_on']} (its attacks and recording conditions); scores on "
        "other material (codecs, noise, unseen synthesis methods, other languages) are not calibrated, and "
        f"only the first {seconds:.2f} s of a recording count. A score is evidence, not proof.",
        "",
    ]
    return "\n".join(lines)


def import_aasist(weights: str | os.PathLike, config: str | os.PathLike, out: str | os.PathLike,
                  dev_scores: str | os.PathLike | None = None, dev_protocol: str | os.PathLike | None = None,
                  dev_asv_scores: str | os.PathLike | None = None, tag: str | None = None,
                  license_file: str | os.PathLike | None = None) -> dict[str, Any]:
    """Write ``out``, the packed detector of the authors' ``weights`` and ``config``; returns its manifest.

    ``dev_scores`` (this model's scores of a dev set: ``utt attack key score``, or ``utt score`` with
    ``dev_protocol``; ``dev_asv_scores`` adds the min t-DCF threshold) sets the decision thresholds, as
    ssd-pack does; without it the archive has none. ``license_file`` defaults to ``LICENSE`` beside the
    weights, else the bundled copy of the authors' licence.
    """
    conf, conf_bytes = read_authors_config(config)
    model_config = conf["model_config"]
    try:
        backbone = backbone_of(model_config, f"{config}: model_config")
        cfg = build_config(model_config)
        model = MultiTaskModel(cfg, 0)
    except ValueError as err:
        raise ModelImportError(f"{config}: {err}") from err
    load_strictly(model.backbone, read_state_dict(weights), str(weights),
                  f"{BACKBONE_NAMES[backbone]} as {Path(config).name}'s model_config describes it "
                  "(the other variant's weights or configuration?)")
    state = {k: v for k, v in model.state_dict().items() if k.startswith(SCORING_PREFIXES)}
    figures, thresholds = {}, {}
    if dev_scores is not None:
        figures["dev"], thresholds = dev_figures(dev_scores, dev_protocol, dev_asv_scores)
    elif dev_protocol is not None or dev_asv_scores is not None:
        raise ModelImportError("a dev protocol or dev ASV scores only apply with dev scores (--dev-scores)")
    licence, licence_source = _licence_text(license_file, weights)

    weights_entry = file_entry(weights)
    known = RELEASED_WEIGHTS.get(weights_entry["sha256"])
    release = {"commit": RELEASE_COMMIT, "path": known[1]} if known and known[0] == backbone else None
    published = PUBLISHED[backbone] if released_sizes(backbone, model_config) else None
    manifest: dict[str, Any] = {
        "ssd_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tag": tag or Path(out).stem,
        # trainable and frozen parameters, BatchNorm statistics excluded: the authors' count (297,866)
        "parameters": sum(p.numel() for m in (model.backbone, model.cm_loss) for p in m.parameters()),
        "model": parts_entry(cfg),
        "frontend": frontend_settings(cfg, SAMPLE_RATE),
        "eval": eval_policy(cfg),
        "score": {"higher_means": "bonafide", "loss": "softmax",
                  "kind": "the bona fide logit (the network's second output), as the authors score it"},
        "thresholds": thresholds,
        "figures": figures,
        "corpus": {"path": None, "mini_corpus": None, "source": None, "name": TRAINED_ON},
        "git": git_commit(),
        "imported": {
            "importer": "aasist",
            "network": PUBLISHED[backbone]["network"] if published else "AASIST (not the released sizes)",
            "trained_on": TRAINED_ON,
            "trained_by": "the authors",
            "paper": PAPER,
            "authors": AUTHORS,
            "repository": REPOSITORY,
            "url": REPOSITORY_URL,
            "licence": LICENCE,
            "copyright": COPYRIGHT,
            "licence_file": LICENSE_MEMBER,
            "licence_source": licence_source,
            "release": release,
            "published": published,
            "sources": {"weights": weights_entry, "config": file_entry(config),
                        "licence": {"file": LICENSE_MEMBER, "from": licence_source}},
            "authors_config": CONFIG_MEMBER,
        },
    }
    extra = {LICENSE_MEMBER: licence, CONFIG_MEMBER: conf_bytes}
    return write_packed(out, manifest, state, cfg, model_card(manifest), extra)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``ssd-import aasist``."""
    parser.description = (
        "Pack the AASIST or AASIST-L weights released by their authors (clovaai/aasist, MIT licence, "
        "NAVER Corp.) as an ssd detector that ssd-detect and ssd.Detector run: the authors' evaluation "
        "policy (first 64,600 samples, tiled when shorter) and score (bona fide logit), their provenance, "
        "licence and published figures. No decision threshold unless --dev-scores is given."
    )
    parser.epilog = ("example: ssd-import aasist --weights models/weights/AASIST.pth --config "
                     "config/AASIST.conf --out aasist_la.zip")
    parser.add_argument("--weights", required=True, help="the authors' state dict (models/weights/*.pth)")
    parser.add_argument("--config", required=True, help="the authors' JSON configuration (config/*.conf); "
                        "its model_config decides AASIST or AASIST-L")
    parser.add_argument("--out", required=True, help="archive to write (.zip), atomically")
    parser.add_argument("--tag", help="the model's name in the archive (default: OUT's file name stem)")
    parser.add_argument("--license", dest="license_file", metavar="FILE",
                        help="the authors' LICENSE to ship in the archive (default: LICENSE beside the "
                        "weights, else the copy bundled with ssd)")
    parser.add_argument("--dev-scores", metavar="FILE", help="this model's scores of a dev set ('utt attack "
                        "key score', or 'utt score' with --dev-protocol): their EER threshold becomes the "
                        "decision threshold")
    parser.add_argument("--dev-protocol", metavar="PATH", help="CM protocol (or data dir with utt2label) "
                        "labelling two-column dev scores")
    parser.add_argument("--dev-asv-scores", metavar="FILE", help="ASV scores of the dev set: adds the min "
                        "t-DCF threshold (dev_min_tdcf)")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``ssd-import aasist``: import as the parsed options say; returns the manifest written."""
    return import_aasist(args.weights, args.config, args.out, dev_scores=args.dev_scores,
                         dev_protocol=args.dev_protocol, dev_asv_scores=args.dev_asv_scores, tag=args.tag,
                         license_file=args.license_file)
