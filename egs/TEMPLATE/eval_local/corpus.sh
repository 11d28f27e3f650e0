#!/usr/bin/env bash
# Stage 0 of the evaluation recipes: check the corpus at --corpus, or build its mini stand-in (from the
# asvspoof2019_la recipe's mini corpus) when none is given.
set -euo pipefail

# Begin configuration section.
corpus=""                                   # the corpus folder; empty: the stand-in
kind=""                                     # la2021, df2021, itw or custom
mini_dir=../asvspoof2019_la/downloads/mini_la  # the LA 2019 mini corpus the stand-in is made from
standin_dir=downloads/standin               # where the stand-in goes
seed=0                                      # the stand-in is a deterministic function of this seed
nj=2                                        # files coded in parallel
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 --kind la2021|df2021|itw|custom [--corpus DIR]"
. utils/parse_options.sh

if [ -n "${corpus}" ]; then
  [ -e "${corpus}" ] || { echo "$0: --corpus ${corpus}: no such file or directory" >&2; exit 1; }
  echo "$0: using the ${kind} corpus at ${corpus}" >&2
  exit 0
fi
if [ ! -f "${mini_dir}/.complete" ]; then
  echo "$0: no --corpus, and no mini corpus at ${mini_dir} to build the ${kind} stand-in from:" >&2
  echo "  build it with (cd ../asvspoof2019_la && ./run.sh --stop-stage 0), or give --corpus DIR" >&2
  exit 1
fi
cat >&2 <<MSG
$0: ***********************************************************************************************
$0: NO CORPUS GIVEN: building the MINI STAND-IN of ${kind} into ${standin_dir} (the mini corpus's eval
$0: set through real codecs, in the corpus's layout). Its figures test the recipe, not a detector.
$0: ***********************************************************************************************
MSG
"${MAIN_ROOT}/tools/debian_packages.sh" codecs
python -m ssd.bin.make_eval_standin --kind "${kind}" --mini "${mini_dir}" --out "${standin_dir}" \
  --seed "${seed}" --nj "${nj}"
