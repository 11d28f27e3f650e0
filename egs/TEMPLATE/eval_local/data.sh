#!/usr/bin/env bash
# Stage 1 of the evaluation recipes: data/<set> from the corpus's keys or lists (ssd.bin.prepare_eval).
set -euo pipefail

# Begin configuration section.
corpus=""                     # the corpus folder; empty: the stand-in stage 0 built
kind=""                       # la2021, df2021, itw or custom
keys=""                       # ASVspoof 2021: the track's keys folder (default: keys/<track> beside the corpus)
standin_dir=downloads/standin  # where stage 0 built the stand-in
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 --kind la2021|df2021|itw|custom [--corpus DIR] [--keys DIR] <data-dir>"
. utils/parse_options.sh

if [ $# -ne 1 ]; then
  echo "${help_message}" >&2
  exit 2
fi
if [ -z "${corpus}" ]; then
  case "${kind}" in
    la2021) corpus=${standin_dir}/ASVspoof2021_LA_eval ;;
    df2021) corpus=${standin_dir}/ASVspoof2021_DF_eval ;;
    itw) corpus=${standin_dir}/release_in_the_wild ;;
    *) corpus=${standin_dir} ;;
  esac
fi
python -m ssd.bin.prepare_eval --kind "${kind}" --corpus "${corpus}" ${keys:+--keys "${keys}"} "$1" > /dev/null
