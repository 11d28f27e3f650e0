# shellcheck shell=bash
# Puts the toolkit on PATH: the ssd virtual environment (set up on first use) and the Kaldi-style utils.
# Recipes link this file, so the repository root is found from its real location.
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../.." && pwd)
"${MAIN_ROOT}/tools/setup.sh"
# shellcheck disable=SC1091
. "${MAIN_ROOT}/tools/venv/bin/activate"
export PATH=${MAIN_ROOT}/utils:${PATH}
export PYTHONUNBUFFERED=1
# Idle OpenMP threads sleep instead of spinning: on shared or small machines spinning threads slowed
# training steps tenfold.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
