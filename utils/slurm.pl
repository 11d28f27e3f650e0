#!/usr/bin/env perl
# Run a command, or an array of tasks, as one Slurm job, with the Kaldi launcher contract:
#
#   slurm.pl [--config conf/slurm.conf] [--max-jobs-run N] [--num-threads N] [--mem X] [--gpu N]
#            [--time T] [--num-nodes N] [--ntasks-per-node K] [--pick all|failed] \
#            [JOB=1:N] log/x.JOB.log command args...
#
# JOB=1:N becomes one "sbatch --array=1-N%max" (max from --max-jobs-run); JOB in the log path and the
# command is replaced by the task id. The job script is log/q/<name>.sh, the scheduler's own output
# log/q/<name>.<task>.out. slurm.pl waits until every task has finished, reads each task's exit status
# from the "# Ended (code N)" footer of its log (no accounting database needed), and exits non-zero
# naming the failing logs if any task failed. --pick failed submits only the tasks whose log lacks
# "# Ended (code 0)". INT, TERM or HUP (Ctrl-C) cancel the job with scancel.
#
# Options other than --config, --max-jobs-run and --pick are mapped to sbatch arguments by the conf
# file (Kaldi syntax; see egs/asvspoof2019_la/conf/slurm.conf); an option it does not describe is an
# error. Without --config, conf/slurm.conf is used if it exists, else the built-in conf below.
# A job with several tasks (--num-nodes, --ntasks-per-node) runs the command once, on the first node;
# the command starts its ranks itself with srun.

use strict;
use warnings;
use FindBin qw($RealBin);
use lib "$RealBin/lib";
use SsdCluster;
use SsdQueue;

my $builtin_conf = <<'EOF';
command sbatch --export=ALL
option time=* --time=$0
option mem=* --mem=$0
option mem=0
default num_threads=1
option num_threads=* --cpus-per-task=$0
default gpu=0
option gpu=0
option gpu=* --gres=gpu:$0
default num_nodes=1
option num_nodes=* --nodes=$0
default ntasks_per_node=1
option ntasks_per_node=* --ntasks-per-node=$0
EOF

sub plan {
  my ($ctx) = @_;
  my @argv = (@{$ctx->{conf}{command}}, '--parsable', "--job-name=$ctx->{base}");
  my $task_expr = '';
  if ($ctx->{array}) {
    my $spec = SsdQueue::compress_ranges(@{$ctx->{tasks}});
    $spec .= "%$ctx->{p}{max_jobs_run}" if defined $ctx->{p}{max_jobs_run};
    push @argv, "--array=$spec", "--output=$ctx->{qdir_abs}/$ctx->{base}.%a.out";
    $task_expr = '${SLURM_ARRAY_TASK_ID}';
  } else {
    push @argv, "--output=$ctx->{qdir_abs}/$ctx->{base}.out";
  }
  push @argv, @{$ctx->{resource_args}}, $ctx->{script_abs};
  return (\@argv, '', $task_expr);
}

SsdCluster::run(
  prog => 'slurm.pl',
  conf_default => 'conf/slurm.conf',
  builtin_conf => $builtin_conf,
  plan => \&plan,
  job_id => sub { $_[0] =~ /^(\d+)(?:;\S*)?\s*$/m ? $1 : undef },
  alive => sub {
    my ($rc, $out) = SsdQueue::capture('squeue', '-h', '-j', join(',', @_), '-o', '%i %T %r');
    return $out =~ /Invalid job id/i ? 0 : undef if $rc != 0;
    return 0 unless $out =~ /\S/;
    # Reasons for which a pending job waits until an administrator or the user changes something.
    my ($stuck) = $out =~ /^(\S+) PENDING ((?:Partition|Invalid|QOS|Assoc)\w+|BadConstraints|ReqNodeNotAvail)/m;
    return (1, $stuck ? "job $stuck is pending with reason $2: it may never start (compare the options"
      . " with the partition's limits: sinfo, scontrol show partition; Ctrl-C cancels it)" : undef);
  },
  cancel => sub { SsdQueue::capture('scancel', @_) },
  task_info => sub {
    my ($id, $task) = @_;
    my ($rc, $out) = SsdQueue::capture('scontrol', 'show', 'job', defined $task ? "${id}_$task" : $id);
    return undef if $rc != 0;
    my @info = map { $out =~ /\b$_=(\S+)/ ? "$_=$1" : () } qw(JobState Reason ExitCode);
    return @info ? join(' ', @info) : undef;
  },
);
