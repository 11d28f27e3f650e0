# shellcheck shell=bash
# Where the corpus lives on this machine. Leave CUSTOM_SET empty to run on the mini stand-in.
EVAL_CORPUS=${CUSTOM_SET:-}
