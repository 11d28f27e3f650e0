#!/usr/bin/env bash
# In-the-Wild (real deepfakes of public figures; meta.csv: file,speaker,label): a trained detector
# evaluated on it (no training; see egs/TEMPLATE/eval.sh for the stages).
#   ./run.sh                                   # the mini stand-in and the asvspoof2019_la recipe's model
#   ./run.sh --corpus /data/release_in_the_wild --model ...
#   ./run.sh --model model.zip --inference-nj 8 --cmd-backend slurm --ngpu 1   # any option of cm.sh
set -euo pipefail
cd "$(dirname "$0")"
kind=itw
# shellcheck source=../TEMPLATE/eval.sh
. ./eval.sh
