#!/usr/bin/env bash
# ASVspoof 2021 LA (the 2019 attacks through telephony codecs, conditions C1-C7): a trained detector
# evaluated on it (no training; see egs/TEMPLATE/eval.sh for the stages).
#   ./run.sh                                   # the mini stand-in and the asvspoof2019_la recipe's model
#   ./run.sh --corpus /data/ASVspoof2021_LA_eval --keys /data/keys/LA \
#       --model ../asvspoof2019_la/exp/ocsoftmax_all/packed/ocsoftmax_all.zip
#   ./run.sh --model model.zip --inference-nj 8 --cmd-backend slurm --ngpu 1   # any option of cm.sh
set -euo pipefail
cd "$(dirname "$0")"
kind=la2021
# shellcheck source=../TEMPLATE/eval.sh
. ./eval.sh
