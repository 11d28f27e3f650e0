#!/usr/bin/env bash
# ASVspoof 2019 LA: the multi-task countermeasure of Mo & Wang (ICASSP 2022).
#   ./run.sh                                   # every stage on the bundled mini corpus
#   ./run.sh --asvspoof2019-la /data/LA        # the real corpus (or set ASVSPOOF2019_LA in db.sh)
#   ./run.sh --stage 3 --loss amsoftmax        # any option of cm.sh; ./run.sh --help lists them
#   ./run.sh --stage 3 --train-opts "--epochs 3"   # training options over the corpus's profile
#   ./run.sh --backbone aasist                 # another registered backbone: lcnn, rawnet2, aasist, aasist-l
#   ./run.sh --backbone xlsr_aasist --asvspoof2019-la /data/LA --train-opts "--model.ssl.checkpoint X.safetensors"
#                                              # an SSL front end (xlsr_aasist, xlsr_resnet): a GPU and the
#                                              # user's converted checkpoint (README "SSL front ends")
set -euo pipefail
cd "$(dirname "$0")"
. ./db.sh

corpus=${ASVSPOOF2019_LA}
backbone=resnet
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --asvspoof2019-la) corpus=$2; shift 2 ;;
    --asvspoof2019-la=*) corpus=${1#*=}; shift ;;
    --backbone) backbone=$2; shift 2 ;;
    --backbone=*) backbone=${1#*=}; shift ;;
    --help|-h)
      echo "run.sh: --asvspoof2019-la DIR (the real corpus); --backbone resnet|lcnn|rawnet2|aasist|aasist-l|xlsr_aasist|xlsr_resnet (the"
      echo "  profile conf/train_<backbone>[_mini].yaml, tags prefixed with the backbone); then cm.sh's options:"
      args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

# The real corpus trains the paper's configuration (on GPUs: --ngpu 0 to insist on the CPU); the mini
# corpus a small one that runs in minutes on a laptop. Options given to run.sh come last and win.
# Every run trains the official LFCC-GMM baseline beside the detectors (512 components, the organisers'
# setting, on either corpus), as the reference row of RESULTS.md; stage 2 dumps the LFCC it reads
# whatever the detectors' front end. Each variant is also fused with it (exp/<tag>+lfcc_gmm, README
# "Fusing each variant with the LFCC-GMM"): the two see different traces, and together they catch more
# of the attacks unseen in training.
train_base=conf/train_mini_spectrogram_4ms.yaml
nj=2
require_gpu=false
systems=lfcc_gmm
fuse_with=lfcc_gmm
if [ -n "${corpus}" ]; then
  train_base=conf/train_base.yaml
  nj=16
  require_gpu=true
fi
# Another backbone: its profile (conf/train_<backbone>[_mini].yaml) under the same variant files, tags
# prefixed with its name. S2 (conv) converts LFCC maps, so the waveform backbones train the other tasks.
variants="vanilla recon conv spk all"
tag_prefix=""
case "${backbone}" in
  resnet) ;;
  lcnn|rawnet2|aasist|aasist-l)
    if [ -n "${corpus}" ]; then train_base=conf/train_${backbone}.yaml; else train_base=conf/train_${backbone}_mini.yaml; fi
    tag_prefix=${backbone}_
    # S2 converts LFCC maps; stage 2 dumps the LFCC for the GMM beside the waveform tables.
    case "${backbone}" in rawnet2|aasist*) variants="vanilla recon spk" ;; esac ;;
  xlsr_aasist|xlsr_resnet)
    # One profile for either corpus: an XLS-R encoder wants a GPU even on the mini corpus
    # (--require-gpu false to try it on the CPU anyway).
    train_base=conf/train_${backbone}.yaml
    require_gpu=true
    tag_prefix=${backbone}_
    variants="vanilla recon spk" ;;
  *) echo "$0: --backbone ${backbone}: not resnet, lcnn, rawnet2, aasist, aasist-l, xlsr_aasist or xlsr_resnet" >&2; exit 2 ;;
esac

./cm.sh \
  --corpus "${corpus}" \
  --nj "${nj}" \
  --loss ocsoftmax \
  --variants "${variants}" \
  --train-base "${train_base}" \
  --tag-prefix "${tag_prefix}" \
  --require-gpu "${require_gpu}" \
  --systems "${systems}" \
  --fuse-with "${fuse_with}" \
  "${args[@]}"
