#!/usr/bin/env bash
# Sets up everything the recipes and tests need: the Debian packages the mini corpus and the tests use
# (installed when root, otherwise the exact command is printed) and tools/venv, a virtual environment
# with the ssd package installed in editable mode. Idempotent: when nothing changed it does nothing.
#
# Environment knobs:
#   PYTHON=python3.11          the interpreter the venv is made from
#   SSD_TORCH="torch==2.13.0"  the torch requirement (pinned: an unpinned torch pulls gigabytes of CUDA
#                              wheels); GPU users may set e.g. SSD_TORCH="torch==2.13.0+cu126" and
#                              PIP_EXTRA_INDEX_URL to their wheel index
set -euo pipefail

tools_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
main_root=$(dirname "${tools_dir}")
venv=${tools_dir}/venv
python=${PYTHON:-python3}
torch_req=${SSD_TORCH:-torch==2.13.0}

# Bona fide speech (asterisk prompts), the TTS attacks, audio tools, and the shell linter of the tests.
apt_packages=(
  asterisk-core-sounds-en-g722 asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722
  asterisk-core-sounds-it-g722 asterisk-core-sounds-ru-g722
  flite festival festvox-kallpc16k espeak-ng sox flac shellcheck
)

stamp=${venv}/.ssd-setup
fingerprint=$(cat "${main_root}/setup.py" "${BASH_SOURCE[0]}" | sha1sum | cut -d' ' -f1)-${torch_req}
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${fingerprint}" ]; then
  exit 0
fi

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "$0: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "$0: warning: missing Debian packages (the mini corpus and the tests need them); run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  fi
fi

if [ ! -x "${venv}/bin/python" ]; then
  echo "$0: creating ${venv} with $(${python} --version)" >&2
  "${python}" -m venv "${venv}"
fi
echo "$0: installing ${torch_req} and ssd (editable, extras corpus,test,onnx) into ${venv}" >&2
"${venv}/bin/pip" install --quiet --disable-pip-version-check "${torch_req}"
"${venv}/bin/pip" install --quiet --disable-pip-version-check -e "${main_root}[corpus,test,onnx]"
echo "${fingerprint}" > "${stamp}"
echo "$0: done" >&2
