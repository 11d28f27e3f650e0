#!/usr/bin/env bash
# A single-node Grid Engine (SGE) on this machine for the tests of utils/queue.pl (CI runs it as root).
#
#   test/shell/sge_cluster.sh start    configure Debian's gridengine for this host, start sge_qmaster and
#                                      sge_execd, and wait until the queue all.q accepts jobs
#   test/shell/sge_cluster.sh stop     stop the daemons this script started, by their PIDs
#   test/shell/sge_cluster.sh status   print the queue state (exit 1 if no qmaster answers)
#
# Needs the Debian packages gridengine-master gridengine-exec gridengine-client (a non-interactive
# install initialises the cell but names no master host). This reconfigures that installation: it
# writes act_qmaster and host_aliases, lets root submit (min_uid/min_gid 0), schedules every second,
# and creates the parallel environment smp and the queue all.q with one slot per CPU. Meant for CI
# machines and throwaway containers, not for a site's own SGE.
#
# SGE refuses a client whose address resolves back to another name than its host name (Debian-like
# /etc/hosts often map the host name to 127.0.x.1, whose reverse name is localhost); host_aliases makes
# both names one host.
#
# Environment: SSD_SGE_TIMEOUT (seconds to wait for each daemon, default 60).
set -euo pipefail

export SGE_ROOT=${SGE_ROOT:-/var/lib/gridengine}
export SGE_CELL=${SGE_CELL:-default}
common=${SGE_ROOT}/${SGE_CELL}/common
spool=/var/spool/gridengine
state_dir=${SSD_SGE_DIR:-/tmp/ssd-sge}
timeout=${SSD_SGE_TIMEOUT:-60}
libexec=/usr/lib/gridengine

log() {
  echo "$(date '+%H:%M:%S') sge_cluster.sh: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

need_tools() {
  if ! [ -x "${libexec}/sge_qmaster" ] || ! [ -x "${libexec}/sge_execd" ] || ! command -v qconf >/dev/null; then
    die "missing Grid Engine; install with: apt-get install -y gridengine-master gridengine-exec gridengine-client"
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root"
}

# The name SGE gives this host: the reverse name of its address when that differs from hostname.
sge_host_name() {
  local host addr reverse
  host=$(hostname)
  addr=$(getent hosts "${host}" | awk '{ print $1; exit }')
  reverse=""
  [ -z "${addr}" ] || reverse=$(getent hosts "${addr}" | awk '{ print $2; exit }')
  echo "${reverse:-${host}}"
}

write_host_files() {
  local name=$1 aliases
  aliases=$(printf '%s\n' "${name}" "$(hostname)" "$(hostname -s)" "$(hostname -f 2>/dev/null || true)" |
    awk 'NF && !seen[$0]++' | paste -sd ' ')
  [ -f "${common}/bootstrap" ] || {
    log "initialising the SGE cell ${SGE_CELL}"
    su -s /bin/sh -c "/usr/share/gridengine/scripts/init_cluster ${SGE_ROOT} ${SGE_CELL} ${spool}/spooldb sgeadmin" sgeadmin
  }
  echo "${aliases}" >"${common}/host_aliases"
  echo "${name}" >"${common}/act_qmaster"
  log "act_qmaster ${name}, host_aliases: ${aliases}"
}

# Wait until "$@" succeeds; $1 of the message says what for.
wait_for() {
  local what=$1
  shift
  for _ in $(seq "$((timeout * 2))"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "${what} not ready after ${timeout} s"
}

running() {
  local pidfile=$1
  [ -f "${pidfile}" ] && kill -0 "$(cat "${pidfile}")" 2>/dev/null
}

configure() {
  local name=$1 tmp slots
  tmp=$(mktemp -d)
  slots=$(nproc)
  qconf -sconf global >"${tmp}/global"
  sed -i 's/^min_uid .*/min_uid 0/; s/^min_gid .*/min_gid 0/' "${tmp}/global"
  qconf -Mconf "${tmp}/global" >/dev/null
  qconf -ssconf >"${tmp}/sched"
  sed -i 's/^schedule_interval .*/schedule_interval 0:0:1/; s/^flush_submit_sec .*/flush_submit_sec 1/;
    s/^flush_finish_sec .*/flush_finish_sec 1/' "${tmp}/sched"
  qconf -Msconf "${tmp}/sched" >/dev/null
  qconf -ss 2>/dev/null | grep -qx "${name}" || qconf -as "${name}" >/dev/null
  if ! qconf -se "${name}" >/dev/null 2>&1; then
    printf '%s\n' "hostname ${name}" "load_scaling NONE" "complex_values NONE" "user_lists NONE" \
      "xuser_lists NONE" "projects NONE" "xprojects NONE" "usage_scaling NONE" "report_variables NONE" \
      >"${tmp}/exechost"
    qconf -Ae "${tmp}/exechost" >/dev/null
  fi
  if ! qconf -sp smp >/dev/null 2>&1; then
    printf '%s\n' "pe_name smp" "slots 9999" "user_lists NONE" "xuser_lists NONE" "start_proc_args NONE" \
      "stop_proc_args NONE" "allocation_rule \$pe_slots" "control_slaves FALSE" "job_is_first_task TRUE" \
      "urgency_slots min" "accounting_summary FALSE" "qsort_args NONE" >"${tmp}/pe"
    qconf -Ap "${tmp}/pe" >/dev/null
  fi
  if qconf -sq all.q >/dev/null 2>&1; then
    qconf -mattr queue slots "${slots}" all.q >/dev/null
    qconf -mattr queue hostlist "${name}" all.q >/dev/null
  else
    # Every attribute of a queue must be given; INFINITY/NONE are SGE's own defaults.
    {
      printf '%s\n' "qname all.q" "hostlist ${name}" "seq_no 0" "load_thresholds NONE" \
        "suspend_thresholds NONE" "nsuspend 1" "suspend_interval 00:05:00" "priority 0" \
        "min_cpu_interval 00:05:00" "processors UNDEFINED" "qtype BATCH INTERACTIVE" "ckpt_list NONE" \
        "pe_list smp" "rerun FALSE" "slots ${slots}" "tmpdir /tmp" "shell /bin/bash" "prolog NONE" \
        "epilog NONE" "shell_start_mode unix_behavior" "starter_method NONE" "suspend_method NONE" \
        "resume_method NONE" "terminate_method NONE" "notify 00:00:60" "owner_list NONE" \
        "user_lists NONE" "xuser_lists NONE" "subordinate_list NONE" "complex_values NONE" \
        "projects NONE" "xprojects NONE" "calendar NONE" "initial_state default"
      for limit in s_rt h_rt s_cpu h_cpu s_fsize h_fsize s_data h_data s_stack h_stack s_core h_core \
        s_rss h_rss s_vmem h_vmem; do
        echo "${limit} INFINITY"
      done
    } >"${tmp}/queue"
    qconf -Aq "${tmp}/queue" >/dev/null
  fi
  rm -rf "${tmp}"
}

# The queue instance is usable once execd reports a load and no error/alarm/unknown state is set.
queue_ready() {
  qmod -c "all.q@$1" >/dev/null 2>&1 || true
  qstat -f -q "all.q@$1" 2>/dev/null | awk -v q="all.q@$1" '
    $1 == q { found = 1; if ($4 == "-NA-" || NF > 5) bad = 1 }
    END { exit !(found && !bad) }'
}

start() {
  need_tools
  local t0 name
  t0=$(date +%s)
  mkdir -p "${state_dir}"
  name=$(sge_host_name)
  write_host_files "${name}"
  if running "${spool}/qmaster/qmaster.pid"; then
    log "sge_qmaster already running (pid $(cat "${spool}/qmaster/qmaster.pid")): not ours, reused"
    wait_for "the running sge_qmaster (started before act_qmaster was written? stop it)" qconf -sh
  else
    "${libexec}/sge_qmaster"
    wait_for "sge_qmaster" qconf -sh
    echo "${spool}/qmaster/qmaster.pid" >"${state_dir}/qmaster.started"
  fi
  configure "${name}"
  if running "${spool}/execd/${name}/execd.pid"; then
    log "sge_execd already running: not ours, reused"
  else
    "${libexec}/sge_execd"
    echo "${spool}/execd/${name}/execd.pid" >"${state_dir}/execd.started"
  fi
  wait_for "queue all.q@${name}" queue_ready "${name}"
  log "queue all.q@${name} ready after $(($(date +%s) - t0)) s"
}

# Stop a daemon this script started: $2 is our marker file, which names the daemon's own PID file (read
# now, since the daemons write their final PID only after forking into the background).
stop_pid() {
  local name=$1 marker=$2 pidfile pid
  [ -f "${marker}" ] || return 0
  pidfile=$(cat "${marker}")
  rm -f "${marker}"
  [ -f "${pidfile}" ] || return 0
  pid=$(cat "${pidfile}")
  [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null || return 0
  kill -TERM "${pid}"
  for _ in $(seq 100); do
    kill -0 "${pid}" 2>/dev/null || {
      log "stopped ${name} (pid ${pid})"
      return 0
    }
    sleep 0.2
  done
  kill -KILL "${pid}" 2>/dev/null || true
  log "killed ${name} (pid ${pid})"
}

stop() {
  stop_pid sge_execd "${state_dir}/execd.started"
  stop_pid sge_qmaster "${state_dir}/qmaster.started"
}

status() {
  qstat -f 2>/dev/null || {
    echo "no SGE qmaster answers"
    return 1
  }
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "Usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
