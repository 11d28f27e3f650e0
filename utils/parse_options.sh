# shellcheck shell=bash
# Command-line options for recipe scripts, with the Kaldi contract.
#
# Source it after the script's defaults:
#
#   # Begin configuration section.
#   nj=4            # number of parallel jobs
#   cmd=run.pl      # job launcher (run.pl, queue.pl, slurm.pl)
#   # End configuration section.
#   help_message="Usage: $0 [options] <data-dir> <out-dir>"
#   . utils/parse_options.sh
#
# Then, until the first argument that is not an option:
#   --foo-bar VALUE, --foo-bar=VALUE   set the existing variable foo_bar (an error if it does not exist;
#                                      a variable whose value is true/false only takes true/false)
#   --config FILE                      source FILE (shell assignments), e.g. conf/train.conf
#   --help, -h                         print $help_message and the options listing derived from the
#                                      caller's "Begin/End configuration section" block, then exit 0
#   --                                 end of options
# The options are shifted off the caller's positional parameters; the rest are left for the caller.
# All helper names start with __po_ so that they cannot collide with the caller's variables.

__po_script=${BASH_SOURCE[1]:-$0}

__po_is_array() {
  [[ "$(declare -p "$1" 2>/dev/null)" =~ ^declare\ -[A-Za-z]*[aA] ]]
}

# Print the caller's configuration block as an options listing: one line per "name=default  # comment"
# (the value shown is the variable's current value), comment-only lines as headings. Arrays are left
# out: they cannot be set from the command line.
__po_print_options() {
  local kind name comment value shown
  [ -r "${__po_script}" ] || return 0
  # awk emits "opt S name S comment" or "txt S S text" per line of the block, S = \037 (a separator
  # that read never merges). An assignment's comment starts at the first "#" after blank space and
  # outside quotes.
  awk '
    tolower($0) ~ /^[[:space:]]*#+[[:space:]]*begin configuration/ { inside = 1; next }
    tolower($0) ~ /^[[:space:]]*#+[[:space:]]*end configuration/ { inside = 0; next }
    !inside { next }
    /^[[:space:]]*#/ { sub(/^[[:space:]]*#+[[:space:]]?/, ""); print "txt" SEP SEP $0; next }
    match($0, /^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=/) {
      name = substr($0, 1, RLENGTH - 1); sub(/^[[:space:]]*/, "", name)
      rest = substr($0, RLENGTH + 1); q = ""; comment = ""
      for (i = 1; i <= length(rest); i++) {
        c = substr(rest, i, 1)
        if (q != "") { if (c == q) q = ""; else if (c == "\\" && q == "\"") i++; continue }
        if (c == "\"" || c == "\047") { q = c; continue }
        if (c == "\\") { i++; continue }
        if (c == "#" && i > 1 && substr(rest, i - 1, 1) ~ /[[:space:]]/) {
          comment = substr(rest, i + 1); sub(/^[[:space:]]*/, "", comment); break
        }
      }
      print "opt" SEP name SEP comment
    }
  ' SEP=$'\037' "${__po_script}" | while IFS=$'\037' read -r kind name comment; do
    if [ "${kind}" = txt ]; then
      printf '  %s\n' "${comment}"
      continue
    fi
    __po_is_array "${name}" && continue
    value=${!name-}
    if [[ "${value}" =~ ^[A-Za-z0-9_./:,+=@%-]+$ ]]; then
      shown=${value}
    else
      shown="\"${value//\"/\\\"}\""
    fi
    if [ -n "${comment}" ]; then
      printf '  %-36s # %s\n' "--${name//_/-} ${shown}" "${comment}"
    else
      printf '  %s\n' "--${name//_/-} ${shown}"
    fi
  done
}

__po_usage() {
  if [ -n "${help_message:-}" ]; then
    printf '%b\n' "${help_message}"
  else
    printf 'Usage: %s [options] <args>\n' "${__po_script}"
  fi
  if grep -qiE '^[[:space:]]*#+[[:space:]]*begin configuration' "${__po_script}" 2>/dev/null; then
    printf '\nOptions (current values; from the configuration block of %s):\n' "${__po_script##*/}"
    __po_print_options
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      __po_usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    --*=*)
      __po_opt=${1%%=*}
      __po_val=${1#*=}
      shift
      ;;
    --?*)
      __po_opt=$1
      if [ $# -lt 2 ]; then
        echo "${__po_script}: option $1 needs a value" >&2
        exit 1
      fi
      __po_val=$2
      shift 2
      ;;
    *)
      break
      ;;
  esac
  __po_name=${__po_opt#--}
  __po_name=${__po_name//-/_}
  if [ "${__po_name}" = config ]; then
    if [ ! -r "${__po_val}" ]; then
      echo "${__po_script}: --config ${__po_val}: no such readable file" >&2
      exit 1
    fi
    # shellcheck disable=SC1090
    . "${__po_val}"
    continue
  fi
  if ! [[ "${__po_name}" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!__po_name+set}" ]; then
    echo "${__po_script}: unknown option ${__po_opt} (no variable '${__po_name}' in the script;" \
      "see --help)" >&2
    exit 1
  fi
  case "${!__po_name}" in
    true | false)
      case "${__po_val}" in
        true | false) ;;
        *)
          echo "${__po_script}: option ${__po_opt} takes true or false, got '${__po_val}'" >&2
          exit 1
          ;;
      esac
      ;;
  esac
  if __po_is_array "${__po_name}"; then
    echo "${__po_script}: option ${__po_opt}: ${__po_name} is an array; set it in a --config file" >&2
    exit 1
  fi
  printf -v "${__po_name}" '%s' "${__po_val}"
done

unset -v __po_opt __po_val __po_name __po_script
unset -f __po_is_array __po_print_options __po_usage
true
