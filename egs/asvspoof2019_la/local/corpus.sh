#!/usr/bin/env bash
# Stage 0 for ASVspoof 2019 LA: verify the corpus at --corpus, or build the mini corpus when none is given.
set -euo pipefail

# Begin configuration section.
corpus=""              # root of the real LA corpus; empty: build the mini corpus into downloads/mini_la
mini_dir=downloads/mini_la  # where the mini corpus goes
mini_profile=default   # mini corpus size: default (the README run) or ci (the test suite's)
mini_seed=0            # the mini corpus is a deterministic function of this seed
nj=2                   # parallel processes building the mini corpus
# End configuration section.

# shellcheck disable=SC2034  # read by parse_options.sh
help_message="Usage: $0 [--corpus /path/to/LA] [--mini-profile default|ci]"
. utils/parse_options.sh

if [ -n "${corpus}" ]; then
  echo "$0: checking the ASVspoof 2019 LA corpus at ${corpus}" >&2
  python -m ssd.bin.prepare_asvspoof2019 "${corpus}"
  exit 0
fi

# A build of another profile, seed or generator version is rebuilt, not reused.
if python -c 'import sys; from ssd.data.mini_la.corpus import is_complete
sys.exit(0 if is_complete(sys.argv[1], sys.argv[2], int(sys.argv[3])) else 1)' \
    "${mini_dir}" "${mini_profile}" "${mini_seed}"; then
  echo "$0: using the mini corpus already built in ${mini_dir} ($(cat "${mini_dir}/.complete"))" >&2
  exit 0
fi
cat >&2 <<MSG
$0: ***********************************************************************************************
$0: NO CORPUS GIVEN: building the bundled MINI corpus (profile ${mini_profile}) into ${mini_dir}.
$0: It is a small stand-in for testing the recipe, not ASVspoof 2019: its figures say nothing about
$0: the paper's. Point the recipe at the real corpus with --asvspoof2019-la /path/to/LA (or db.sh).
$0: ***********************************************************************************************
MSG
# Its bona fide speech and TTS attacks come from Debian packages (installed here when root).
"${MAIN_ROOT}/tools/debian_packages.sh" mini
python -m ssd.bin.make_mini_corpus --out "${mini_dir}" --profile "${mini_profile}" --seed "${mini_seed}" \
  --nj "${nj}"
