# shellcheck shell=bash
# Where the corpus lives on this machine. Leave ASVSPOOF2021_DF empty to run on the mini stand-in.
EVAL_CORPUS=${ASVSPOOF2021_DF:-}
