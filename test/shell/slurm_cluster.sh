#!/usr/bin/env bash
# A single-node Slurm on this machine for the tests of utils/slurm.pl (CI runs it as root).
#
#   test/shell/slurm_cluster.sh start    write the config, start munged, slurmctld and slurmd, and wait
#                                        until the node is idle
#   test/shell/slurm_cluster.sh stop     stop the daemons this script started, by their PIDs
#   test/shell/slurm_cluster.sh status   print the node state (exit 1 if no controller answers)
#
# Needs the Debian packages slurmctld slurmd slurm-client munge. There is no systemd: the daemons are
# started directly and their PID files kept in the state directory. No accounting daemon is configured,
# so sacct knows nothing; slurm.pl reads each task's exit status from its log footer.
# The configuration goes to $SSD_SLURM_DIR/etc/slurm.conf; when /etc/slurm/slurm.conf does not exist it
# is linked there (and unlinked by stop), so that sbatch/squeue work from any shell without SLURM_CONF.
# Otherwise export SLURM_CONF as printed by start.
#
# Environment: SSD_SLURM_DIR (default /tmp/ssd-slurm), SSD_SLURM_CPUS (default 2),
#   SSD_SLURM_CTLD_PORT / SSD_SLURM_SLURMD_PORT (default 6817 / 6818), SSD_SLURM_TIMEOUT (seconds to wait
#   for the node, default 60).
set -euo pipefail

state_dir=${SSD_SLURM_DIR:-/tmp/ssd-slurm}
cpus=${SSD_SLURM_CPUS:-2}
ctld_port=${SSD_SLURM_CTLD_PORT:-6817}
slurmd_port=${SSD_SLURM_SLURMD_PORT:-6818}
timeout=${SSD_SLURM_TIMEOUT:-60}
conf=${state_dir}/etc/slurm.conf
system_conf=/etc/slurm/slurm.conf
marker="# written by ssd test/shell/slurm_cluster.sh"

log() {
  echo "$(date '+%H:%M:%S') slurm_cluster.sh: $*" >&2
}

die() {
  log "error: $*"
  exit 1
}

need_tools() {
  local tool missing=()
  for tool in munged slurmctld slurmd sinfo sbatch scontrol; do
    command -v "${tool}" >/dev/null 2>&1 || [ -x "/usr/sbin/${tool}" ] || missing+=("${tool}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    die "missing ${missing[*]}; install with: apt-get install -y slurmctld slurmd slurm-client munge"
  fi
  [ "$(id -u)" -eq 0 ] || die "must run as root (the daemons run as root in this test set-up)"
}

# Real memory for the node in MB: half of this machine's, so that --mem requests can be satisfied.
node_memory_mb() {
  awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 / 2 }' /proc/meminfo
}

# Memory a job gets per CPU when it does not say (without it a job would take the whole node).
def_mem_per_cpu_mb() {
  echo $(($(node_memory_mb) / cpus / 4))
}

write_conf() {
  local host
  host=$(hostname -s)
  mkdir -p "${state_dir}"/{etc,ctld,slurmd,log,run}
  cat >"${conf}.tmp" <<EOF
${marker}
ClusterName=ssdtest
SlurmctldHost=${host}(127.0.0.1)
SlurmctldPort=${ctld_port}
SlurmdPort=${slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=${state_dir}/ctld
SlurmdSpoolDir=${state_dir}/slurmd
SlurmctldPidFile=${state_dir}/run/slurmctld.pid
SlurmdPidFile=${state_dir}/run/slurmd.pid
SlurmctldLogFile=${state_dir}/log/slurmctld.log
SlurmdLogFile=${state_dir}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(def_mem_per_cpu_mb)
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1,sched_min_interval=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=$(node_memory_mb) State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
  mv "${conf}.tmp" "${conf}"
  if [ ! -e "${system_conf}" ]; then
    mkdir -p "$(dirname "${system_conf}")"
    ln -s "${conf}" "${system_conf}"
    log "linked ${system_conf} -> ${conf}"
  elif [ "$(readlink -f "${system_conf}")" != "$(readlink -f "${conf}")" ]; then
    log "${system_conf} exists and is not ours: use  export SLURM_CONF=${conf}"
  fi
}

# munged: reuse one that answers, else start our own (key created if missing).
start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already running"
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
    log "created /etc/munge/munge.key"
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "${state_dir}/run/munged.pid"
  for _ in $(seq 50); do
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
      log "munged started (pid $(cat "${state_dir}/run/munged.pid"))"
      return 0
    fi
    sleep 0.2
  done
  die "munged does not answer (see /var/log/munge/munged.log)"
}

node_state() {
  SLURM_CONF=${conf} sinfo -h -N -o '%T' 2>/dev/null | head -n 1
}

start() {
  need_tools
  if [ -f "${state_dir}/run/slurmctld.pid" ] && kill -0 "$(cat "${state_dir}/run/slurmctld.pid")" 2>/dev/null; then
    die "a test Slurm is already running (state in ${state_dir}); stop it first"
  fi
  local t0
  t0=$(date +%s)
  write_conf
  start_munge
  SLURM_CONF=${conf} /usr/sbin/slurmctld -c -i
  SLURM_CONF=${conf} /usr/sbin/slurmd -c
  local state=""
  for _ in $(seq "$((timeout * 2))"); do
    state=$(node_state || true)
    case "${state}" in
      idle | mixed | allocated)
        log "node $(hostname -s) is ${state} after $(($(date +%s) - t0)) s (config ${conf})"
        return 0
        ;;
      down* | drain*)
        SLURM_CONF=${conf} scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
        ;;
    esac
    sleep 0.5
  done
  log "slurmctld log tail:"
  tail -n 20 "${state_dir}/log/slurmctld.log" >&2 || true
  log "slurmd log tail:"
  tail -n 20 "${state_dir}/log/slurmd.log" >&2 || true
  die "node not idle after ${timeout} s (state '${state}')"
}

# Stop one daemon by the PID in its PID file; wait up to 10 s, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2 pid
  [ -f "${pidfile}" ] || return 0
  pid=$(cat "${pidfile}")
  rm -f "${pidfile}"
  [ -n "${pid}" ] && kill -0 "${pid}" 2>/dev/null || return 0
  kill -TERM "${pid}"
  for _ in $(seq 50); do
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
  stop_pid slurmd "${state_dir}/run/slurmd.pid"
  stop_pid slurmctld "${state_dir}/run/slurmctld.pid"
  stop_pid munged "${state_dir}/run/munged.pid"
  if [ -L "${system_conf}" ] && [ "$(readlink "${system_conf}")" = "${conf}" ]; then
    rm -f "${system_conf}"
    log "unlinked ${system_conf}"
  fi
}

status() {
  local state
  state=$(node_state) || true
  [ -n "${state}" ] || {
    echo "no test Slurm answers (config ${conf})"
    return 1
  }
  echo "node $(hostname -s): ${state} (config ${conf})"
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
