"""Bad metadata: damaged CM protocols, audio and protocol that disagree, inconsistent data dirs from a new
corpus's local/data.sh, and speakers that only dev/eval have.

Line-level messages of the parsers are tested in test/data/test_asvspoof2019.py and
test/shell/test_validate_data_dir.py; here each fault goes through the job or recipe stage that meets it
and must stop it before anything is written, naming file and line (or utterance).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from fault_helpers import PROTOCOLS
from helpers import REPO, debug_dumps, link_recipe, run_recipe, train_argv, write_dump

from ssd.bin import infer
from ssd.bin import train as train_bin
from ssd.bin.prepare_asvspoof2019 import main as prepare
from ssd.data.datadir import read_kv
from ssd.data.dataset import UNKNOWN_SPEAKER, FeatureTable, read_speakers
from ssd.utils.checkpoint import load_checkpoint

TRAIN_PROTOCOL = Path("ASVspoof2019_LA_cm_protocols") / PROTOCOLS["train"]


def _copy(la_corpus: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(la_corpus, tmp_path / "LA"))


def _edit_line(path: Path, lineno: int, new: str | None) -> None:
    lines = path.read_text().splitlines()
    lines[lineno - 1:lineno] = [] if new is None else [new]
    path.write_text("\n".join(lines) + "\n")


# fault -> (protocol line 3 becomes, message). Line 3 is 'LA_0000 LA_T_1000003 - - bonafide'.
PROTOCOL_FAULTS = {
    "four_fields": ("LA_0000 LA_T_1000003 - bonafide", "expected 5 fields"),
    "six_fields": ("LA_0000 LA_T_1000003 - - bonafide extra", "expected 5 fields"),
    "duplicate_id": ("LA_0000 LA_T_1000001 - - bonafide", "utterance LA_T_1000001 already listed on line 1"),
    "unknown_key": ("LA_0000 LA_T_1000003 - - genuine", "key 'genuine' is neither"),
    "unknown_attack": ("LA_0001 LA_T_1000003 - A20 spoof", "attack 'A20' of LA_T_1000003 is not an ASVspoof"),
    "lowercase_attack": ("LA_0001 LA_T_1000003 - a01 spoof", "attack 'a01'"),
    "key_contradicts_attack": ("LA_0000 LA_T_1000003 - A01 bonafide", "is bonafide with attack 'A01'"),
}


@pytest.mark.parametrize("fault", sorted(PROTOCOL_FAULTS))
def test_protocol_fault_stops_data_preparation_naming_file_and_line(
        la_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture, fault: str) -> None:
    la = _copy(la_corpus, tmp_path)
    line, message = PROTOCOL_FAULTS[fault]
    _edit_line(la / TRAIN_PROTOCOL, 3, line)
    assert prepare([str(la), str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert f"{la / TRAIN_PROTOCOL}:3: " in err and message in err
    assert not (tmp_path / "data").exists()  # every subset is checked before any is written


def test_protocol_that_is_not_text(la_corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    la = _copy(la_corpus, tmp_path)
    with (la / TRAIN_PROTOCOL).open("ab") as f:
        f.write(b"LA_0000 LA_T_\xff\xfe - - bonafide\n")
    assert prepare([str(la), str(tmp_path / "data")]) == 1
    assert f"{la / TRAIN_PROTOCOL}:5: not UTF-8" in capsys.readouterr().err


def test_protocol_id_without_audio_is_named(la_corpus: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture) -> None:
    la = _copy(la_corpus, tmp_path)
    (la / "ASVspoof2019_LA_dev" / "flac" / "LA_D_1000002.flac").unlink()
    assert prepare([str(la), str(tmp_path / "data")]) == 1
    err = capsys.readouterr().err
    assert "1 of 4 utterances in ASVspoof2019.LA.cm.dev.trl.txt have no flac: LA_D_1000002" in err
    assert not (tmp_path / "data").exists()


def test_audio_without_protocol_entry_is_reported_and_left_out(la_corpus: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    la = _copy(la_corpus, tmp_path)
    flac = la / "ASVspoof2019_LA_eval" / "flac"
    shutil.copy(flac / "LA_E_1000001.flac", flac / "LA_E_9999999.flac")
    assert prepare([str(la), str(tmp_path / "data")]) == 0
    assert "1 flac files not in ASVspoof2019.LA.cm.eval.trl.txt: LA_E_9999999" in capsys.readouterr().err
    assert "LA_E_9999999" not in read_kv(tmp_path / "data" / "eval" / "wav.scp")


def test_recipe_stops_at_stage0_on_a_damaged_protocol(la_corpus: Path, tmp_path: Path) -> None:
    la = _copy(la_corpus, tmp_path)
    _edit_line(la / TRAIN_PROTOCOL, 2, "LA_0001 LA_T_1000002 - A99 spoof")
    recipe = link_recipe(tmp_path / "recipe")
    result = run_recipe(recipe, "--stage", "0", "--stop-stage", "2", corpus=la)
    assert result.returncode != 0
    assert f"{TRAIN_PROTOCOL.name}:2: attack 'A99'" in result.stderr
    assert "Stage 1" not in result.stderr and not (recipe / "data").exists()


# A new corpus's local/data.sh (README "Adapting the recipe") that writes a data dir with one fault.
NEW_CORPUS_DATA_SH = """#!/usr/bin/env bash
set -euo pipefail
corpus=""
. utils/parse_options.sh
for set in train dev eval; do
  d=$1/$set
  mkdir -p "$d"
  printf 'a1 /x/a1.flac\\nb2 /x/b2.flac\\nc3 /x/c3.flac\\n' > "$d/wav.scp"
  printf 'a1 spkA\\nb2 spkB\\nc3 spkA\\n' > "$d/utt2spk"
  printf 'spkA a1 c3\\nspkB b2\\n' > "$d/spk2utt"
  printf 'a1 bonafide\\nb2 spoof\\nc3 bonafide\\n' > "$d/utt2label"
  printf 'a1 -\\nb2 X1\\nc3 -\\n' > "$d/utt2attack"
done
FAULT
"""
DATA_DIR_FAULTS = {
    "unsorted": ("printf 'b2 spkB\\na1 spkA\\nc3 spkA\\n' > $1/dev/utt2spk",
                 "data/dev/utt2spk:2: key 'a1' comes after 'b2': not sorted"),
    "utterance_without_label": ("printf 'a1 bonafide\\nc3 bonafide\\n' > $1/train/utt2label",
                                "utterance 'b2' is in data/train/utt2spk (line 2) but not in "
                                "data/train/utt2label"),
    "unknown_label": ("printf 'a1 bonafide\\nb2 fake\\nc3 bonafide\\n' > $1/eval/utt2label",
                      "data/eval/utt2label:2: label 'fake' of 'b2' is neither bonafide nor spoof"),
    "speaker_map_inconsistent": ("printf 'spkA a1\\nspkB b2 c3\\n' > $1/train/spk2utt",
                                 "utterance 'c3' is listed under speaker 'spkB'"),
}


@pytest.mark.parametrize("fault", sorted(DATA_DIR_FAULTS))
def test_new_corpus_with_inconsistent_data_dir_stops_at_stage1(tmp_path: Path, fault: str) -> None:
    recipe = tmp_path / "recipe"
    (recipe / "local").mkdir(parents=True)
    for name in ("cm.sh", "path.sh", "cmd.sh"):
        os.symlink(REPO / "egs" / "TEMPLATE" / name, recipe / name)
    os.symlink(REPO / "utils", recipe / "utils")
    (recipe / "local" / "corpus.sh").write_text("#!/usr/bin/env bash\nexit 0\n")
    command, message = DATA_DIR_FAULTS[fault]
    (recipe / "local" / "data.sh").write_text(NEW_CORPUS_DATA_SH.replace("FAULT", command))
    for script in ("corpus.sh", "data.sh"):
        (recipe / "local" / script).chmod(0o755)
    result = subprocess.run(["bash", "cm.sh", "--stage", "1", "--stop-stage", "2"], cwd=recipe,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Stage 2" not in result.stderr and not (recipe / "dump").exists()


def test_speakers_unseen_in_training_are_scored_and_do_not_break_the_speaker_task(tmp_path: Path) -> None:
    """Dev and eval speakers are never training speakers in ASVspoof: S3 trains, dev selects, eval scores."""
    train = write_dump(tmp_path / "train", 24, ["LA_0079", "LA_0080", "LA_0081"], seed=0)
    dev = write_dump(tmp_path / "dev", 10, ["LA_0069", "LA_0070"], seed=1, prefix="D")
    evl = write_dump(tmp_path / "eval", 10, ["LA_0001", "LA_0080"], seed=2, prefix="E")  # one seen, one not
    speakers = read_speakers(train / "utt2spk")
    assert set(FeatureTable.from_dir(dev, speakers).speakers) == {UNKNOWN_SPEAKER}
    eval_speakers = FeatureTable.from_dir(evl, speakers).speakers
    assert set(eval_speakers) == {UNKNOWN_SPEAKER, speakers.index("LA_0080")}

    exp = tmp_path / "exp"
    train_bin.main(train_argv(debug_dumps(tmp_path, train, dev), exp, "spk"))
    best = load_checkpoint(exp / "best.pt")
    assert best["speakers"] == ["LA_0079", "LA_0080", "LA_0081"]
    assert all(torch.isfinite(v).all() for v in best["model"].values() if v.is_floating_point())
    epoch = load_checkpoint(exp / "last.pt")["history"][0]
    assert 0 < epoch["train"]["spk"] < float("inf")  # the speaker task ran on the training speakers
    assert 0 <= epoch["dev_eer"] <= 1  # dev, all of unseen speakers, was scored
    out = tmp_path / "scores" / "eval.txt"
    infer.main(["--exp-dir", str(exp), "--data-dir", str(evl), "--out", str(out), "--threads", "1"])
    lines = [line.split() for line in out.read_text().splitlines()]
    assert [fields[0] for fields in lines] == sorted(read_kv(evl / "utt2label"))
    assert np.isfinite([float(fields[3]) for fields in lines]).all()
