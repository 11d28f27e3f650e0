#!/usr/bin/env bash
# Check a Kaldi-style data directory of the ssd recipes and name the first offending file and line.
#
# Usage: utils/validate_data_dir.sh [--no-feats] [--no-spk-sort] <data-dir>
#
# Checks, in this order:
#   - wav.scp (or, in a feature dump dir without it, feats.scp), utt2spk and spk2utt exist;
#   - every file: no empty lines, no carriage returns, a key plus a value on each line, keys unique and
#     sorted in LC_ALL=C order;
#   - wav.scp, utt2label, utt2attack, feats.scp and utt2num_frames hold the same utterances as utt2spk;
#     with a segments file ('utt recording start end', seconds; end -1: to the recording's end) wav.scp
#     lists recordings instead: segments holds the utterances, each of a recording wav.scp has, start < end;
#   - spk2utt is utt2spk inverted (each utterance once, under its speaker);
#   - Kaldi's speaker-sort rule: utt2spk sorted by utterance is also sorted by speaker (utterance ids
#     start with the speaker id). ASVspoof utterance ids are not speaker-prefixed, so its data dirs are
#     checked with --no-spk-sort, which drops this rule only;
#   - utt2label holds bonafide/spoof, utt2attack "-" exactly for the bona fide utterances;
#   - feats.scp entries are path:offset with existing ark files, utt2num_frames positive integers
#     (--no-feats skips feats.scp and utt2num_frames).
# Exit status 0 and a one-line summary when the directory is valid; 1 and the first error otherwise.
set -euo pipefail
export LC_ALL=C

no_feats=false
spk_sort=true
data=""
for arg in "$@"; do
  case "${arg}" in
    --no-feats) no_feats=true ;;
    --no-spk-sort) spk_sort=false ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "$0: unknown option ${arg} (see --help)" >&2
      exit 1
      ;;
    *)
      [ -z "${data}" ] || {
        echo "$0: more than one data dir given ('${data}', '${arg}')" >&2
        exit 1
      }
      data=${arg%/}
      ;;
  esac
done
[ -n "${data}" ] || {
  echo "Usage: $0 [--no-feats] [--no-spk-sort] <data-dir>" >&2
  exit 1
}

die() {
  echo "$0: $*" >&2
  exit 1
}

[ -d "${data}" ] || die "no such directory: ${data}"

# Format, uniqueness and LC_ALL=C order of the keys of one file; $2 is the number of value fields
# required (0 = at least one).
check_lines() {
  local file=$1 nvalues=$2 msg
  msg=$(awk -v nv="${nvalues}" -v f="${file}" '
    /\r/ { print f ":" NR ": carriage return in line (DOS line ending?)"; exit }
    /^[[:space:]]*$/ { print f ":" NR ": empty line"; exit }
    /^[[:space:]]/ { print f ":" NR ": line starts with blank space"; exit }
    NF < 2 { print f ":" NR ": no value after key \047" $1 "\047"; exit }
    nv > 0 && NF - 1 != nv { print f ":" NR ": expected \047key value\047, got " NF " fields"; exit }
    {
      k = $1 ""
      if (NR > 1 && k == prev) { print f ":" NR ": duplicate key \047" k "\047 (also on line " NR - 1 ")"; exit }
      if (NR > 1 && k < prev) {
        print f ":" NR ": key \047" k "\047 comes after \047" prev "\047: not sorted (LC_ALL=C sort " f ")"
        exit
      }
      prev = k
    }
  ' "${file}")
  [ -z "${msg}" ] || die "${msg}"
}

# Same keys in $1 (the reference, utt2spk) and $2; names the first key missing from either.
check_same_keys() {
  local ref=$1 file=$2 msg
  msg=$(awk -v r="${ref}" -v f="${file}" '
    FNR == NR { line[$1] = FNR; next }
    !($1 in line) { print "utterance \047" $1 "\047 is in " f " (line " FNR ") but not in " r; err = 1; exit }
    { seen[$1] = 1 }
    END {
      if (err) exit
      best = 0
      for (k in line) if (!(k in seen) && (best == 0 || line[k] < best)) { best = line[k]; key = k }
      if (best) print "utterance \047" key "\047 is in " r " (line " best ") but not in " f
    }
  ' "${ref}" "${file}")
  [ -z "${msg}" ] || die "${msg}"
}

[ -f "${data}/utt2spk" ] || die "${data}/utt2spk is missing"
[ -f "${data}/spk2utt" ] || die "${data}/spk2utt is missing (make it with utils/utt2spk_to_spk2utt.pl)"
has_feats=false
if ! ${no_feats} && [ -f "${data}/feats.scp" ]; then has_feats=true; fi
if [ ! -f "${data}/wav.scp" ] && ! ${has_feats}; then
  die "${data}/wav.scp is missing (and there is no feats.scp)"
fi

check_lines "${data}/utt2spk" 1
[ -s "${data}/utt2spk" ] || die "${data}/utt2spk is empty"
check_lines "${data}/spk2utt" 0

if ${spk_sort}; then
  msg=$(awk -v f="${data}/utt2spk" '
    NR > 1 && ($2 "") < prev {
      print f ":" NR ": speaker \047" $2 "\047 of \047" $1 "\047 sorts before \047" prev "\047 of the line" \
        " above; Kaldi needs utterance ids prefixed by the speaker id (use --no-spk-sort for corpora" \
        " like ASVspoof whose ids are not)"
      exit
    }
    { prev = $2 "" }
  ' "${data}/utt2spk")
  [ -z "${msg}" ] || die "${msg}"
fi

# spk2utt against utt2spk: every utterance once, under the speaker utt2spk gives it.
msg=$(awk -v u="${data}/utt2spk" -v s="${data}/spk2utt" '
  FNR == NR { spk[$1] = $2; line[$1] = FNR; next }
  {
    for (i = 2; i <= NF; i++) {
      if (!($i in spk)) { print s ":" FNR ": utterance \047" $i "\047 is not in " u; err = 1; exit }
      if (spk[$i] != $1) {
        print s ":" FNR ": utterance \047" $i "\047 is listed under speaker \047" $1 "\047 but " u \
          " (line " line[$i] ") gives speaker \047" spk[$i] "\047"
        err = 1
        exit
      }
      if ($i in where) {
        print s ":" FNR ": utterance \047" $i "\047 is listed twice (also line " where[$i] ")"
        err = 1
        exit
      }
      where[$i] = FNR
    }
  }
  END {
    if (err) exit
    best = 0
    for (k in line) if (!(k in where) && (best == 0 || line[k] < best)) { best = line[k]; key = k }
    if (best) print "utterance \047" key "\047 of " u " (line " best ") is missing from " s
  }
' "${data}/utt2spk" "${data}/spk2utt")
[ -z "${msg}" ] || die "${msg}"

if [ -f "${data}/segments" ]; then
  [ -f "${data}/wav.scp" ] || die "${data}/segments needs ${data}/wav.scp (its recordings)"
  check_lines "${data}/wav.scp" 0
  check_lines "${data}/segments" 3
  check_same_keys "${data}/utt2spk" "${data}/segments"
  msg=$(awk -v w="${data}/wav.scp" -v s="${data}/segments" '
    FNR == NR { rec[$1] = 1; next }
    !($2 in rec) { print s ":" FNR ": recording \047" $2 "\047 of \047" $1 "\047 is not in " w; exit }
    $3 !~ /^[0-9]+(\.[0-9]*)?$/ || ($4 !~ /^[0-9]+(\.[0-9]*)?$/ && $4 != "-1") {
      print s ":" FNR ": start and end of \047" $1 "\047 must be seconds (end -1: to the end), got " $3 " " $4
      exit
    }
    $4 != "-1" && $4 + 0 <= $3 + 0 { print s ":" FNR ": \047" $1 "\047 ends (" $4 ") before it starts (" $3 ")"; exit }
  ' "${data}/wav.scp" "${data}/segments")
  [ -z "${msg}" ] || die "${msg}"
elif [ -f "${data}/wav.scp" ]; then
  check_lines "${data}/wav.scp" 0
  check_same_keys "${data}/utt2spk" "${data}/wav.scp"
fi

for f in utt2label utt2attack; do
  if [ -f "${data}/${f}" ]; then
    check_lines "${data}/${f}" 1
    check_same_keys "${data}/utt2spk" "${data}/${f}"
  fi
done
if [ -f "${data}/utt2label" ]; then
  msg=$(awk -v f="${data}/utt2label" '
    $2 != "bonafide" && $2 != "spoof" {
      print f ":" NR ": label \047" $2 "\047 of \047" $1 "\047 is neither bonafide nor spoof"; exit
    }' "${data}/utt2label")
  [ -z "${msg}" ] || die "${msg}"
fi
if [ -f "${data}/utt2label" ] && [ -f "${data}/utt2attack" ]; then
  # Both files hold the same sorted keys (checked above), so their lines pair up.
  msg=$(paste -d ' ' "${data}/utt2label" "${data}/utt2attack" | awk -v f="${data}/utt2attack" '
    $2 == "bonafide" && $4 != "-" {
      print f ":" NR ": \047" $1 "\047 is bonafide in utt2label but has attack \047" $4 "\047 (must be -)"; exit
    }
    $2 == "spoof" && $4 == "-" {
      print f ":" NR ": \047" $1 "\047 is spoof in utt2label but has attack \047-\047 (must name the attack)"; exit
    }')
  [ -z "${msg}" ] || die "${msg}"
elif [ -f "${data}/utt2attack" ]; then
  die "${data}/utt2attack exists without utt2label"
fi

if ${has_feats}; then
  check_lines "${data}/feats.scp" 1
  check_same_keys "${data}/utt2spk" "${data}/feats.scp"
  msg=$(awk -v f="${data}/feats.scp" '
    $2 !~ /:[0-9]+$/ { print f ":" NR ": \047" $2 "\047 of \047" $1 "\047 is not an ark:offset entry"; exit }
  ' "${data}/feats.scp")
  [ -z "${msg}" ] || die "${msg}"
  while IFS= read -r ark; do
    [ -f "${ark}" ] || die "${data}/feats.scp: ark file '${ark}' does not exist"
  done < <(sed 's/^[^[:space:]]*[[:space:]]*//; s/:[0-9]*$//' "${data}/feats.scp" | sort -u)
  [ -f "${data}/utt2num_frames" ] || die "${data}/utt2num_frames is missing (feats.scp exists)"
fi
if ! ${no_feats} && [ -f "${data}/utt2num_frames" ]; then
  check_lines "${data}/utt2num_frames" 1
  check_same_keys "${data}/utt2spk" "${data}/utt2num_frames"
  msg=$(awk -v f="${data}/utt2num_frames" '
    $2 !~ /^[1-9][0-9]*$/ { print f ":" NR ": frame count \047" $2 "\047 of \047" $1 "\047 is not a positive integer"; exit }
  ' "${data}/utt2num_frames")
  [ -z "${msg}" ] || die "${msg}"
fi

summary="$(wc -l <"${data}/utt2spk") utterances, $(wc -l <"${data}/spk2utt") speakers"
if [ -f "${data}/utt2label" ]; then
  summary+=", $(awk '$2 == "bonafide"' "${data}/utt2label" | wc -l) bonafide"
  summary+=", $(awk '$2 == "spoof"' "${data}/utt2label" | wc -l) spoof"
fi
if ${has_feats}; then summary+=", with features"; fi
echo "$0: ${data} is valid (${summary})"
