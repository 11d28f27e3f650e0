#!/usr/bin/env bash
# Stage 5 of the evaluation recipes, after RESULTS.md: the corpus's own tables, from its keys.
#   la2021  per codec/transmission condition and per attack, revised min t-DCF with the 2021 ASV keys
#   df2021  per compression condition, per vocoder family and per source corpus
#   itw     per speaker
# Written to <exp>/conditions_<set>.txt (and .json) and appended to RESULTS.md.
set -euo pipefail

# Begin configuration section.
corpus=""                      # the corpus folder; empty: the stand-in stage 0 built
kind=""                        # la2021, df2021, itw or custom
keys=""                        # ASVspoof 2021: the track's keys folder (default: keys/<track> beside the corpus)
standin_dir=downloads/standin  # where stage 0 built the stand-in
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 --kind la2021|df2021|itw|custom [--corpus DIR] [--keys DIR] <exp-dir> <set>..."
. utils/parse_options.sh

if [ $# -lt 2 ]; then
  echo "${help_message}" >&2
  exit 2
fi
exp=$1
shift
what="per condition"
case "${kind}" in
  la2021|df2021)
    track=LA
    [ "${kind}" = df2021 ] && track=DF
    [ -n "${corpus}" ] || corpus=${standin_dir}/ASVspoof2021_${track}_eval
    [ -n "${keys}" ] || keys=$(dirname "${corpus}")/keys/${track}
    asv_opts=()
    if [ "${kind}" = df2021 ]; then
      asv_opts=(--breakdown "data/DSET/utt2source")  # DF's source corpus of each trial
    fi
    if [ "${kind}" = la2021 ] && [ -f "${keys}/ASV/trial_metadata.txt" ]; then
      asv_opts=(--asv-keys "${keys}/ASV/trial_metadata.txt" --asv-scores "${keys}/ASV/ASVTorch_Kaldi/score.txt")
    fi
    for dset in "$@"; do
      ssd-score --cm-scores "${exp}/scores/${dset}.txt" --protocol "${keys}/CM/trial_metadata.txt" \
        --protocol-format "${kind}" --subset "${dset}" --per-condition "${asv_opts[@]//DSET/${dset}}" \
        --json "${exp}/conditions_${dset}.json" > "${exp}/conditions_${dset}.txt"
    done ;;
  itw)
    what="per speaker"
    for dset in "$@"; do
      ssd-score --cm-scores "${exp}/scores/${dset}.txt" --protocol "data/${dset}" --breakdown "data/${dset}/utt2spk" \
        --json "${exp}/conditions_${dset}.json" > "${exp}/conditions_${dset}.txt"
    done ;;
  *) exit 0 ;;
esac
for dset in "$@"; do
  {
    printf '\n## %s, %s: %s (%s)\n\n```\n' "$(basename "${exp}")" "${dset}" "${what}" "${exp}/conditions_${dset}.txt"
    cat "${exp}/conditions_${dset}.txt"
    printf '```\n'
  } >> RESULTS.md
done
