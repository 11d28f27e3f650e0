"""utils/parse_options.sh: Kaldi option semantics under set -euo pipefail; --help from the options block."""

from __future__ import annotations

from pathlib import Path

import pytest
from shell_helpers import UTILS, run

SCRIPT = f"""#!/usr/bin/env bash
set -euo pipefail
# Begin configuration section.
# Stage control
stage=0          # first stage to run
stop_stage=100   # last stage to run
nj=4 # parallel jobs
use_gpu=false    # train on a GPU
feats_conf="conf/lfcc.yaml"  # "front end" settings # not part of the value
corpus=""        # path of the LA corpus; empty = mini corpus
cmd="run.pl --mem 2G"
models=(a b)
# End configuration section.
help_message="Usage: $0 [options] <data-dir> <exp-dir>
  e.g.: $0 --nj 8 data/train exp/x"
. {UTILS}/parse_options.sh
printf 'stage=%s|stop_stage=%s|nj=%s|use_gpu=%s|feats_conf=%s|corpus=%s|cmd=%s\\n' \\
  "$stage" "$stop_stage" "$nj" "$use_gpu" "$feats_conf" "$corpus" "$cmd"
printf 'rest=%s\\n' "$#"
for a in "$@"; do printf 'arg=%s\\n' "$a"; done
"""


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "stage.sh"
    path.write_text(SCRIPT)
    path.chmod(0o755)
    return path


def parse(stdout: str) -> tuple[dict[str, str], list[str]]:
    lines = stdout.splitlines()
    values = dict(kv.split("=", 1) for kv in lines[0].split("|"))
    args = [line[4:] for line in lines[2:]]
    assert int(lines[1][5:]) == len(args)
    return values, args


def test_defaults_untouched_without_options(script: Path) -> None:
    values, args = parse(run([str(script)], script.parent, check=True).stdout)
    assert values == {
        "stage": "0", "stop_stage": "100", "nj": "4", "use_gpu": "false",
        "feats_conf": "conf/lfcc.yaml", "corpus": "", "cmd": "run.pl --mem 2G",
    }
    assert args == []


def test_dashes_map_to_underscores_and_both_value_forms(script: Path) -> None:
    proc = run([str(script), "--stop-stage", "3", "--nj=8", "--cmd", "slurm.pl --gpu 1", "--corpus=/a b/LA"],
               script.parent, check=True)
    values, _ = parse(proc.stdout)
    assert values["stop_stage"] == "3"
    assert values["nj"] == "8"
    assert values["cmd"] == "slurm.pl --gpu 1"
    assert values["corpus"] == "/a b/LA"


def test_unknown_option_is_an_error(script: Path) -> None:
    proc = run([str(script), "--stage", "1", "--num-jobs", "3"], script.parent)
    assert proc.returncode == 1
    assert "unknown option --num-jobs" in proc.stderr
    assert "num_jobs" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("value", ["yes", "1", "True", ""])
def test_boolean_option_takes_only_true_or_false(script: Path, value: str) -> None:
    proc = run([str(script), "--use-gpu", value], script.parent)
    assert proc.returncode == 1
    assert f"option --use-gpu takes true or false, got '{value}'" in proc.stderr


def test_boolean_option_set_to_true(script: Path) -> None:
    values, _ = parse(run([str(script), "--use-gpu", "true"], script.parent, check=True).stdout)
    assert values["use_gpu"] == "true"


def test_non_boolean_default_takes_any_value(script: Path) -> None:
    values, _ = parse(run([str(script), "--nj", "true", "--stage", "yes"], script.parent, check=True).stdout)
    assert values["nj"] == "true"
    assert values["stage"] == "yes"


def test_config_file_is_sourced_and_later_options_win(script: Path, tmp_path: Path) -> None:
    conf = tmp_path / "run.conf"
    conf.write_text('nj=16\nfeats_conf="conf/other.yaml"\nstage=2\n')
    proc = run([str(script), "--nj", "3", "--config", str(conf), "--stage", "5"], script.parent, check=True)
    values, _ = parse(proc.stdout)
    assert values["nj"] == "16"
    assert values["feats_conf"] == "conf/other.yaml"
    assert values["stage"] == "5"


def test_missing_config_file_is_an_error(script: Path, tmp_path: Path) -> None:
    proc = run([str(script), "--config", str(tmp_path / "nope.conf")], script.parent)
    assert proc.returncode == 1
    assert "nope.conf: no such readable file" in proc.stderr


def test_stops_at_first_non_option(script: Path) -> None:
    proc = run([str(script), "--stage", "2", "data/train", "--nj", "9", "exp/x"], script.parent, check=True)
    values, args = parse(proc.stdout)
    assert values["stage"] == "2"
    assert values["nj"] == "4"
    assert args == ["data/train", "--nj", "9", "exp/x"]


def test_double_dash_ends_options(script: Path) -> None:
    proc = run([str(script), "--nj", "2", "--", "--stage", "x"], script.parent, check=True)
    values, args = parse(proc.stdout)
    assert values["nj"] == "2"
    assert values["stage"] == "0"
    assert args == ["--stage", "x"]


def test_option_without_value_is_an_error(script: Path) -> None:
    proc = run([str(script), "--nj"], script.parent)
    assert proc.returncode == 1
    assert "option --nj needs a value" in proc.stderr


def test_array_variable_cannot_be_set(script: Path) -> None:
    proc = run([str(script), "--models", "c"], script.parent)
    assert proc.returncode == 1
    assert "models is an array" in proc.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_usage_and_options_block(script: Path, flag: str) -> None:
    proc = run([str(script), "--nj", "6", flag, "--stage", "9"], script.parent)
    assert proc.returncode == 0
    out = proc.stdout
    usage = f"Usage: {script} [options] <data-dir> <exp-dir>\n  e.g.: {script} --nj 8 data/train exp/x\n"
    assert out.startswith(usage)
    lines = [line.strip() for line in out.splitlines()]
    assert "Stage control" in lines
    rows = {line.split()[0]: line for line in lines if line.startswith("--")}
    assert list(rows) == ["--stage", "--stop-stage", "--nj", "--use-gpu", "--feats-conf", "--corpus", "--cmd"]
    assert rows["--stage"].split() == ["--stage", "0", "#", "first", "stage", "to", "run"]
    assert rows["--nj"].split("#")[0].split() == ["--nj", "6"]  # current value, after --nj 6
    assert rows["--nj"].endswith("# parallel jobs")
    assert rows["--feats-conf"].endswith('# "front end" settings # not part of the value')
    assert rows["--corpus"].startswith('--corpus ""')
    assert rows["--cmd"] == '--cmd "run.pl --mem 2G"'
    assert "stage=" not in out  # the script itself did not run


def test_help_without_help_message_or_block(tmp_path: Path) -> None:
    path = tmp_path / "bare.sh"
    path.write_text(f"#!/usr/bin/env bash\nset -euo pipefail\nx=1\n. {UTILS}/parse_options.sh\necho ran\n")
    path.chmod(0o755)
    proc = run([str(path), "--help"], tmp_path)
    assert proc.returncode == 0
    assert proc.stdout == f"Usage: {path} [options] <args>\n"
