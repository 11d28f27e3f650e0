#!/usr/bin/env bash
# Sets up the Python side of ssd: tools/venv, a virtual environment with torch and the ssd package in
# editable mode. Idempotent: when nothing changed it does nothing. Needs no root and no Debian package
# beyond Python (python3-venv): the Debian packages of the mini corpus are installed by stage 0 when it
# builds that corpus (tools/debian_packages.sh mini), those of the tests by tools/test.sh.
#
#   tools/setup.sh           the runtime: torch, ssd and its corpus extra (what the recipes run)
#   tools/setup.sh --test    also the test tools and the onnx and ssl extras (what tools/test.sh runs)
#
# Environment knobs:
#   PYTHON=python3.11          the interpreter the venv is made from
#   SSD_TORCH="torch==2.13.0"  the torch requirement; see "GPU set-up" in README.md for CUDA builds
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
main_root=$(dirname "${tools_dir}")
venv=${tools_dir}/venv
python=${PYTHON:-python3}
torch_req=${SSD_TORCH:-torch==2.13.0}

extras=corpus
stamp=${venv}/.ssd-setup
case "${1:-}" in
  "") ;;
  --test) extras=corpus,test,onnx,ssl; stamp=${venv}/.ssd-setup-test ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

fingerprint=$(cat "${main_root}/setup.py" "${BASH_SOURCE[0]}" | sha1sum | cut -d' ' -f1)-${torch_req}-${extras}
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${fingerprint}" ]; then
  exit 0
fi

if [ ! -x "${venv}/bin/python" ]; then
  echo "$0: creating ${venv} with $(${python} --version)" >&2
  "${python}" -m venv "${venv}"
fi
echo "$0: installing ${torch_req} and ssd (editable, extras ${extras}) into ${venv}" >&2
"${venv}/bin/pip" install --quiet --disable-pip-version-check "${torch_req}"
"${venv}/bin/pip" install --quiet --disable-pip-version-check -e "${main_root}[${extras}]"
echo "${fingerprint}" > "${stamp}"
echo "$0: done" >&2
