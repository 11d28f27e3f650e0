# shellcheck shell=bash
# The evaluation recipes' driver (sourced by egs/<corpus>/run.sh once it has set kind=la2021|df2021|itw|
# custom): a trained detector scored on one evaluation corpus through cm.sh --model, stages 0-2, 4 and 5.
#   stage 0 corpus    local/corpus.sh   the corpus checked, or (no --corpus) its mini stand-in built
#   stage 1 data      local/data.sh     data/<set> (2021: eval, progress; others: eval) from the keys/lists
#   stage 2 features  the model's front end (dump/<frontend>/<set>)
#   stage 4 infer     exp/<model>/scores/<set>.txt, --inference-nj jobs merged byte-identically
#   stage 5 score     RESULTS.md (pooled, per attack) + local/score.sh (per condition of the keys)
kind=${kind:?run.sh sets kind before sourcing eval.sh}
# shellcheck source=/dev/null  # the recipe's own db.sh
. ./db.sh

corpus=${EVAL_CORPUS:-}
keys=${EVAL_KEYS:-}
model=""
default_model=../asvspoof2019_la/exp/ocsoftmax_all/packed/ocsoftmax_all.zip
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --corpus) corpus=$2; shift 2 ;;
    --corpus=*) corpus=${1#*=}; shift ;;
    --keys) keys=$2; shift 2 ;;
    --keys=*) keys=${1#*=}; shift ;;
    --model) model=$2; shift 2 ;;
    --model=*) model=${1#*=}; shift ;;
    --help|-h)
      echo "run.sh: --corpus DIR (the corpus; none: its mini stand-in), --keys DIR (ASVspoof 2021: keys/LA or"
      echo "  keys/DF, default beside the corpus), --model ZIP_OR_EXP_DIR (default ${default_model});"
      echo "  then cm.sh's options:"
      args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done

case " ${args[*]} " in
  *" --help "*|*" -h "*) ;;
  *)
    if [ -z "${model}" ]; then
      model=${default_model}
      if [ ! -f "${model}" ]; then
        echo "$0: no --model given and no ${model}: train and pack the default model first with" >&2
        echo "  (cd ../asvspoof2019_la && ./run.sh)    or give --model <packed .zip or experiment dir>" >&2
        exit 2
      fi
    fi ;;
esac

test_sets="eval"
score_opts="--calibrate-on none"  # the model's calibration is the training corpus's; none is fitted here
case "${kind}" in
  la2021) test_sets="eval progress"; score_opts+=" --tdcf revised" ;;
  df2021) test_sets="eval progress" ;;
esac
data_opts="--kind ${kind}${keys:+ --keys ${keys}}"

./cm.sh \
  --corpus "${corpus}" \
  --model "${model}" \
  --nj 2 \
  --test-sets "${test_sets}" \
  --local-corpus-opts "--kind ${kind}" \
  --local-data-opts "${data_opts}" \
  --score-opts "${score_opts}" \
  "${args[@]}"
