#!/usr/bin/env bash
# Your own set: a path,label[,attack,speaker] list (CSV/TSV), bonafide/ spoof/ folders or a folder of
# audio: a trained detector evaluated on it (no training; see egs/TEMPLATE/eval.sh for the stages).
#   ./run.sh                                   # the mini stand-in and the asvspoof2019_la recipe's model
#   ./run.sh --corpus /data/my_set --model ...
#   ./run.sh --model model.zip --inference-nj 8 --cmd-backend slurm --ngpu 1   # any option of cm.sh
set -euo pipefail
cd "$(dirname "$0")"
kind=custom
# shellcheck source=../TEMPLATE/eval.sh
. ./eval.sh
