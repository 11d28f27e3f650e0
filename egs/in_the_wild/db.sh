# shellcheck shell=bash
# Where the corpus lives on this machine. Leave IN_THE_WILD empty to run on the mini stand-in.
EVAL_CORPUS=${IN_THE_WILD:-}
