# shellcheck shell=bash
# Puts the toolkit on PATH: the ssd virtual environment and the Kaldi-style utils. Installs nothing: the
# recipe's cm.sh runs tools/setup.sh first; by hand, run it once yourself.
# Recipes link this file, so the repository root is found from its real location.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
export MAIN_ROOT
if [ ! -f "${MAIN_ROOT}/tools/venv/bin/activate" ]; then
  echo "path.sh: ${MAIN_ROOT}/tools/venv does not exist yet: run ${MAIN_ROOT}/tools/setup.sh once" >&2
  return 1
fi
# shellcheck disable=SC1091
. "${MAIN_ROOT}/tools/venv/bin/activate"
export PATH=${MAIN_ROOT}/utils:${PATH}
export PYTHONUNBUFFERED=1
# Idle OpenMP threads sleep instead of spinning: on shared or small machines spinning threads slowed
# training steps tenfold.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
