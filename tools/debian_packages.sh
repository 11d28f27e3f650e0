#!/usr/bin/env bash
# The Debian packages ssd uses, by what needs them, and the files it reads from them.
#
#   tools/debian_packages.sh GROUP...          install what is missing (as root), then check every file
#   tools/debian_packages.sh --check GROUP...  only check; never install
#   tools/debian_packages.sh --list GROUP...   print the package names (CI purges them to prove set-up)
#
# Groups:
#   mini    the bundled mini corpus (stage 0 without a corpus): Asterisk prompts, their transcripts, TTS
#   codecs  real audio codecs: the eval-corpus stand-ins and codec augmentation
#   test    tools the test suite runs (tools/test.sh)
# A real corpus needs none of them. Without root nothing is installed: the exact apt-get line is printed
# and the exit status is 1, so the caller stops before the stage that needs the packages.
set -euo pipefail

languages=(en es fr it ru)

packages_of() {
  local lang
  case "$1" in
    mini)
      for lang in "${languages[@]}"; do
        # The G.722 prompts, and the plain package that ships the transcripts (only *recommended* by the
        # G.722 one, so --no-install-recommends leaves it out unless it is named).
        echo "asterisk-core-sounds-${lang}-g722" "asterisk-core-sounds-${lang}"
      done
      echo flite festival festvox-kallpc16k espeak-ng
      ;;
    codecs) echo sox libsox-fmt-all opus-tools lame ffmpeg vorbis-tools ;;
    test) echo shellcheck sox flac ;;
    *) echo "$0: unknown group '$1' (mini, codecs or test)" >&2; return 2 ;;
  esac
}

# "what-to-check package" lines: a path that must exist, or cmd:NAME for a program on PATH.
postconditions_of() {
  local lang
  case "$1" in
    mini)
      for lang in "${languages[@]}"; do
        echo "/usr/share/doc/asterisk-core-sounds-${lang}/core-sounds-${lang}.txt.gz asterisk-core-sounds-${lang}"
        echo "glob:/usr/share/asterisk/sounds/${lang}_*/*.g722 asterisk-core-sounds-${lang}-g722"
      done
      echo "cmd:flite flite"
      echo "cmd:espeak-ng espeak-ng"
      echo "cmd:text2wave festival"
      echo "/usr/share/festival/voices/english/kal_diphone festvox-kallpc16k"
      ;;
    codecs)
      echo "cmd:sox sox"
      echo "cmd:opusenc opus-tools"
      echo "cmd:opusdec opus-tools"
      echo "cmd:lame lame"
      echo "cmd:ffmpeg ffmpeg"
      echo "cmd:oggenc vorbis-tools"
      echo "cmd:oggdec vorbis-tools"
      ;;
    test)
      echo "cmd:shellcheck shellcheck"
      echo "cmd:sox sox"
      echo "cmd:flac flac"
      ;;
  esac
}

needed_by() {
  case "$1" in
    mini) echo "stage 0 of a recipe run without a corpus (the bundled mini corpus)" ;;
    codecs) echo "the eval-corpus stand-ins and codec augmentation" ;;
    test) echo "the test suite" ;;
  esac
}

check_postconditions() {
  local group=$1 what pkg failed=0 matches
  while read -r what pkg; do
    case "${what}" in
      cmd:*) command -v "${what#cmd:}" >/dev/null && continue ;;
      glob:*) matches=$(compgen -G "${what#glob:}" | head -n 1 || true); [ -n "${matches}" ] && continue ;;
      *) [ -e "${what}" ] && continue ;;
    esac
    echo "$0: error: ${what#*:} is missing: it comes from the Debian package ${pkg} (group ${group})" >&2
    failed=1
  done < <(postconditions_of "${group}")
  return "${failed}"
}

mode=install
case "${1:-}" in
  --check) mode=check; shift ;;
  --list) mode=list; shift ;;
esac
[ $# -gt 0 ] || { echo "usage: $0 [--check|--list] mini|codecs|test ..." >&2; exit 2; }

wanted=()
for group in "$@"; do
  read -r -a pkgs <<< "$(packages_of "${group}" | tr '\n' ' ')"
  wanted+=("${pkgs[@]}")
done
if [ "${mode}" = list ]; then
  printf '%s\n' "${wanted[@]}" | awk '!seen[$0]++'
  exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q "install ok installed" || missing+=("${pkg}")
done
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ ${#missing[@]} -gt 0 ]; then
  if [ "${mode}" = install ] && [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "$0: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "$0: error: missing Debian packages, needed by:" >&2
    for group in "$@"; do
      echo "$0:   ${group}: $(needed_by "${group}")" >&2
    done
    echo "$0: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

status=0
for group in "$@"; do
  check_postconditions "${group}" || status=1
done
exit "${status}"
