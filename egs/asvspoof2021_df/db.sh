# shellcheck shell=bash
# Where the corpus lives on this machine. Leave ASVSPOOF2021_DF empty to run on the mini stand-in.
# shellcheck disable=SC2034  # read by eval.sh, which sources this file
EVAL_CORPUS=${ASVSPOOF2021_DF:-}
