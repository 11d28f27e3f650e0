#!/usr/bin/env bash
# Split a data directory into N parts by utterance, for JOB=1:N jobs.
#
# Usage: utils/split_data.sh <data-dir> <N>
#
# Creates <data-dir>/split<N>/{1..N}/ with contiguous, nearly equal shares of utt2spk (in its sorted
# order) and the matching lines of every other per-utterance file present (wav.scp, utt2label,
# utt2attack, feats.scp, utt2num_frames, utt2dur, utt2num_samples), plus spk2utt made from each part's
# utt2spk. A speaker may span several parts. The split is rebuilt only when a source file is newer than
# <data-dir>/split<N>/.done; it is built aside and moved into place, so a half-written split is never
# seen.
set -euo pipefail
export LC_ALL=C

if [ $# -ne 2 ] || ! [[ "$2" =~ ^[1-9][0-9]*$ ]]; then
  echo "Usage: $0 <data-dir> <N>   (N a positive integer)" >&2
  exit 1
fi
data=${1%/}
nj=$2
utils=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
per_utt_files=(wav.scp utt2spk utt2label utt2attack feats.scp utt2num_frames utt2dur utt2num_samples)

[ -f "${data}/utt2spk" ] || {
  echo "$0: ${data}/utt2spk is missing" >&2
  exit 1
}
n_utts=$(wc -l <"${data}/utt2spk")
if [ "${n_utts}" -lt "${nj}" ]; then
  echo "$0: cannot split the ${n_utts} utterances of ${data} into ${nj} parts" >&2
  exit 1
fi

split_dir=${data}/split${nj}
if [ -f "${split_dir}/.done" ]; then
  up_to_date=true
  for f in "${per_utt_files[@]}"; do
    if [ -f "${data}/${f}" ] && [ "${data}/${f}" -nt "${split_dir}/.done" ]; then up_to_date=false; fi
  done
  if ${up_to_date}; then
    echo "$0: ${split_dir} is up to date"
    exit 0
  fi
fi

tmp_dir=$(mktemp -d "${data}/.split${nj}.XXXXXX")
trap 'rm -rf "${tmp_dir}"' EXIT
outs=()
for i in $(seq "${nj}"); do
  mkdir -p "${tmp_dir}/${i}"
  outs+=("${tmp_dir}/${i}/utt2spk")
done
"${utils}/split_scp.pl" "${data}/utt2spk" "${outs[@]}"
for i in $(seq "${nj}"); do
  part=${tmp_dir}/${i}
  for f in "${per_utt_files[@]}"; do
    if [ "${f}" != utt2spk ] && [ -f "${data}/${f}" ]; then
      "${utils}/filter_scp.pl" "${part}/utt2spk" "${data}/${f}" >"${part}/${f}"
    fi
  done
  "${utils}/utt2spk_to_spk2utt.pl" "${part}/utt2spk" >"${part}/spk2utt"
done
touch "${tmp_dir}/.done"
rm -rf "${split_dir}"
mv "${tmp_dir}" "${split_dir}"
trap - EXIT
echo "$0: split ${data} (${n_utts} utterances) into ${split_dir}/{1..${nj}}"
