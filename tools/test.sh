#!/usr/bin/env bash
# Runs the whole test suite: set-up (idempotent), ruff, shellcheck, then pytest with any extra arguments
# (e.g. tools/test.sh -k lfcc). Reference-data tests read SSD_FIXTURES (../shared/fixtures in CI).
set -euo pipefail

main_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${main_root}"
tools/setup.sh
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
