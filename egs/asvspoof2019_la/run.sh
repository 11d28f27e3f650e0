#!/usr/bin/env bash
# ASVspoof 2019 LA: the multi-task countermeasure of Mo & Wang (ICASSP 2022).
#   ./run.sh                                   # every stage on the bundled mini corpus
#   ./run.sh --asvspoof2019-la /data/LA        # the real corpus (or set ASVSPOOF2019_LA in db.sh)
#   ./run.sh --stage 3 --loss amsoftmax        # any option of cm.sh; ./run.sh --help lists them
#   ./run.sh --stage 3 --train-opts "--epochs 3"   # training options over the corpus's profile
set -euo pipefail
cd "$(dirname "$0")"
. ./db.sh

corpus=${ASVSPOOF2019_LA}
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asvspoof2019-la) corpus=$2; shift 2 ;;
    --asvspoof2019-la=*) corpus=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# The real corpus trains the paper's configuration (on GPUs: --ngpu 0 to insist on the CPU); the mini
# corpus a small one that runs in minutes on a laptop. Options given to run.sh come last and win.
train_base=conf/train_mini.yaml
nj=2
require_gpu=false
if [ -n "${corpus}" ]; then
  train_base=conf/train_base.yaml
  nj=16
  require_gpu=true
fi

./cm.sh \
  --corpus "${corpus}" \
  --nj "${nj}" \
  --loss ocsoftmax \
  --variants "vanilla recon conv spk all" \
  --train-base "${train_base}" \
  --require-gpu "${require_gpu}" \
  "${args[@]}"
