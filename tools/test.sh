#!/usr/bin/env bash
# Runs the whole test suite: set-up with the test tools (idempotent; the Debian packages of the mini
# corpus, the codecs and the test tools are installed when root, else the apt-get line is printed),
# ruff, shellcheck, then pytest with any extra arguments (e.g. tools/test.sh -k lfcc). Reference-data
# tests read SSD_FIXTURES (../shared/fixtures in CI).
set -euo pipefail

main_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${main_root}"
tools/setup.sh --test
tools/debian_packages.sh mini codecs test
# shellcheck disable=SC1091
. tools/venv/bin/activate

echo "== ruff" >&2
ruff check ssd test bench
echo "== shellcheck" >&2
mapfile -t shell_scripts < <(git ls-files '*.sh' 'egs/*/run.sh' | sort -u)
shellcheck -x "${shell_scripts[@]}"
echo "== pytest" >&2
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
python -m pytest "$@"
