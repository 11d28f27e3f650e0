#!/usr/bin/env perl
# Run a command, or an array of tasks, as one Grid Engine (SGE) job, with the Kaldi launcher contract:
#
#   queue.pl [--config conf/queue.conf] [--max-jobs-run N] [--num-threads N] [--mem X] [--gpu N]
#            [--time T] [--num-nodes N] [--ntasks-per-node K] [--pick all|failed] \
#            [JOB=1:N] log/x.JOB.log command args...
#
# JOB=1:N becomes one "qsub -t 1-N -tc max" array job (max from --max-jobs-run); JOB in the log path
# and the command is replaced by the task id. The job script is log/q/<name>.sh, the scheduler's own
# output log/q/<name>.<task>.out. queue.pl waits until every task has finished (polling qstat -j),
# reads each task's exit status from the "# Ended (code N)" footer of its log, and exits non-zero
# naming the failing logs if any task failed. --pick failed submits only the tasks whose log lacks
# "# Ended (code 0)" (SGE arrays are ranges, so a scattered set becomes tasks 1..K of a new array
# that the job script maps back to the original ids). INT, TERM or HUP (Ctrl-C) delete the job with
# qdel.
#
# Options other than --config, --max-jobs-run and --pick are mapped to qsub arguments by the conf file
# (Kaldi syntax; see egs/asvspoof2019_la/conf/queue.conf); an option it does not describe is an error.
# Without --config, conf/queue.conf is used if it exists, else the built-in conf below.

use strict;
use warnings;
use FindBin qw($RealBin);
use lib "$RealBin/lib";
use SsdCluster;
use SsdQueue;

my $builtin_conf = <<'EOF';
command qsub -V -cwd -S /bin/bash -j y
option time=* -l h_rt=$0
option mem=* -l mem_free=$0
option mem=0
default num_threads=1
option num_threads=* -pe smp $0
option num_threads=1
default gpu=0
option gpu=0
option gpu=* -l gpu=$0
default num_nodes=1
option num_nodes=1
default ntasks_per_node=1
option ntasks_per_node=1
EOF

sub plan {
  my ($ctx) = @_;
  my $name = $ctx->{base};
  $name =~ s/[^\w.-]/_/g;
  $name = "j$name" if $name =~ /^\d/;
  my @argv = (@{$ctx->{conf}{command}}, '-terse', '-N', $name);
  my ($prelude, $task_expr) = ('', '');
  if ($ctx->{array}) {
    my @tasks = @{$ctx->{tasks}};
    if ($tasks[-1] - $tasks[0] + 1 == @tasks) {
      push @argv, '-t', "$tasks[0]-$tasks[-1]";
      $task_expr = '${SGE_TASK_ID}';
    } else {
      push @argv, '-t', '1-' . scalar(@tasks);
      $prelude = "ssd_tasks=(@tasks)\n";
      $task_expr = '${ssd_tasks[SGE_TASK_ID-1]}';
    }
    push @argv, '-tc', $ctx->{p}{max_jobs_run} if defined $ctx->{p}{max_jobs_run};
    push @argv, '-o', "$ctx->{qdir_abs}/$ctx->{base}.\$TASK_ID.out";
  } else {
    push @argv, '-o', "$ctx->{qdir_abs}/$ctx->{base}.out";
  }
  push @argv, @{$ctx->{resource_args}}, $ctx->{script_abs};
  return (\@argv, $prelude, $task_expr);
}

SsdCluster::run(
  prog => 'queue.pl',
  conf_default => 'conf/queue.conf',
  builtin_conf => $builtin_conf,
  plan => \&plan,
  job_id => sub {
    return $1 if $_[0] =~ /^(\d+)(?:\.\S*)?\s*$/m;
    return $1 if $_[0] =~ /^Your job(?:-array)? (\d+)/m;
    return undef;
  },
  alive => sub {
    my ($rc, $out) = SsdQueue::capture('qstat', '-j', join(',', @_));
    return 1 if $rc == 0;
    return 0 if $out =~ /do not exist/i;
    return undef;
  },
  cancel => sub { SsdQueue::capture('qdel', @_) },
  task_info => sub {
    my ($id, $task, $tasks) = @_;
    if (defined $task && $tasks->[-1] - $tasks->[0] + 1 != @$tasks) {
      ($task) = grep { $tasks->[$_ - 1] == $task } 1 .. @$tasks;
    }
    my ($rc, $out) = SsdQueue::capture('qacct', '-j', $id, defined $task ? ('-t', $task) : ());
    return undef if $rc != 0;
    my @info = map { $out =~ /^$_\s+(.*?)\s*$/m ? "$_=$1" : () } qw(failed exit_status);
    return @info ? join(' ', @info) : undef;
  },
);
