#!/usr/bin/env bash
# ASVspoof 2021 DF (compressed media, vocoders of other corpora, conditions C1-C9): a trained detector
# evaluated on it (no training; see egs/TEMPLATE/eval.sh for the stages).
#   ./run.sh                                   # the mini stand-in and the asvspoof2019_la recipe's model
#   ./run.sh --corpus /data/ASVspoof2021_DF_eval --keys /data/keys/DF --model ...
#   ./run.sh --model model.zip --inference-nj 8 --cmd-backend slurm --ngpu 1   # any option of cm.sh
set -euo pipefail
cd "$(dirname "$0")"
kind=df2021
# shellcheck source=../TEMPLATE/eval.sh
. ./eval.sh
