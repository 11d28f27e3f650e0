#!/usr/bin/env bash
# Stage 1 for ASVspoof 2019 LA: Kaldi data dirs data/{train,dev,eval} from the corpus protocols.
# This is the one script a new corpus replaces: it must write, for each set, wav.scp, utt2spk, spk2utt,
# utt2label (bonafide/spoof), utt2attack (- or an attack id), all LC_ALL=C sorted, and optionally
# asv_scores.txt (the organisers' ASV scores for t-DCF) - see README "Adapting the recipe".
set -euo pipefail

# Begin configuration section.
corpus=""                   # root of the real LA corpus; empty: the mini corpus
mini_dir=downloads/mini_la  # where stage 0 built the mini corpus
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--corpus /path/to/LA] <data-dir>"
. utils/parse_options.sh

if [ $# -ne 1 ]; then
  echo "${help_message}" >&2
  exit 2
fi
data=$1
python -m ssd.bin.prepare_asvspoof2019 "${corpus:-${mini_dir}}" "${data}"
# The mini corpus's trivial baselines: reference rows of stage 5's RESULTS.md (none for a real corpus).
rm -f "${data}/references.json"
if [ -z "${corpus}" ] && [ -f "${mini_dir}/trivial_baselines.json" ]; then
  cp "${mini_dir}/trivial_baselines.json" "${data}/references.json"
fi
