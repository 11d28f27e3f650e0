# shellcheck shell=bash
# How heavy stages are launched: train_cmd (feature jobs) and cuda_cmd (training, inference). Pick the
# backend with ./run.sh --cmd-backend NAME (or set the default here) and nothing else changes:
#   local  run.pl on this machine          slurm  slurm.pl with conf/slurm.conf
#   sge    queue.pl with conf/queue.conf   (options such as --gpu and --mem are mapped by the conf file)
cmd_backend=${cmd_backend:-local}

case "${cmd_backend}" in
  local)
    export train_cmd="run.pl"
    export cuda_cmd="run.pl"
    ;;
  slurm)
    export train_cmd="slurm.pl --config conf/slurm.conf"
    export cuda_cmd="slurm.pl --config conf/slurm.conf"
    ;;
  sge)
    export train_cmd="queue.pl --config conf/queue.conf"
    export cuda_cmd="queue.pl --config conf/queue.conf"
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local, slurm or sge)" >&2
    return 1
    ;;
esac
