#!/usr/bin/env perl
# Run a command, or an array of tasks, on this machine with the Kaldi launcher contract:
#
#   run.pl [--max-jobs-run N] [--num-threads N] [--mem X] [--gpu N] [--time T] [--pick all|failed] \
#          [JOB=1:N] log/x.JOB.log command args...
#
# Every occurrence of JOB in the log path and the command is replaced by the task id. Each task's log
# gets the command as a header, its output, and a "# Ended (code N)" footer. At most --max-jobs-run
# tasks run at once (default: the number of CPUs). The exit status is non-zero if any task failed, and
# the failing logs are named. --pick failed re-runs only the tasks whose log lacks "# Ended (code 0)".
# --gpu, --mem, --time, --num-nodes and --ntasks-per-node are accepted so that cmd.sh can switch
# between run.pl, queue.pl and slurm.pl, and ignored here; --num-threads is recorded in the log.
# Commands run under bash with pipefail. INT, TERM and HUP are passed on to the running tasks.

use strict;
use warnings;
use FindBin qw($RealBin);
use lib "$RealBin/lib";
use SsdQueue;

my $prog = 'run.pl';
my $p = SsdQueue::parse_command_line($prog, \@ARGV, local => 1);
my @tasks = SsdQueue::tasks_to_run($p);
my $total = defined $p->{jobname} ? $p->{end} - $p->{start} + 1 : 1;
if (!@tasks) {
  print STDERR "$prog: all $total tasks of $p->{log} already succeeded (--pick failed): nothing to run\n";
  exit 0;
}
my $max = $p->{max_jobs_run} // SsdQueue::num_cpus();
my $threads = $p->{opts}{num_threads} // 1;

my (%running, %code, $caught);
local @SIG{@SsdQueue::SIGNALS} = map {
  my $s = $_;
  sub { $caught //= $s; kill($s, keys %running) }
} @SsdQueue::SIGNALS;

sub reap {
  my $pid = wait();
  return if $pid <= 0 || !exists $running{$pid};
  my $task = delete $running{$pid};
  $code{$task // ''} = $? & 127 ? 128 + ($? & 127) : $? >> 8;
}

for my $task (@tasks) {
  last if $caught;
  reap() while keys %running >= $max;
  last if $caught;
  my $log = SsdQueue::task_log($p, $task);
  my $cmd = SsdQueue::substitute($p->{cmd}, $p->{jobname}, $task);
  my $pid = fork() // die "$prog: fork failed: $!\n";
  if ($pid == 0) {
    my $rc = eval { SsdQueue::run_task(log => $log, cmd => $cmd, threads => $threads) };
    if (!defined $rc) {
      print STDERR "$prog: $@";
      $rc = 1;
    }
    exit($rc > 255 ? 255 : $rc);
  }
  $running{$pid} = $task;
}
reap() while keys %running;

if ($caught) {
  print STDERR "$prog: caught SIG$caught, stopped the tasks of $p->{log}\n";
  exit(128 + SsdQueue::signal_number($caught));
}
my @failed = map { SsdQueue::task_log($p, $_) } grep { $code{$_ // ''} != 0 } @tasks;
if (@failed) {
  print STDERR SsdQueue::failure_message($prog, $total, $code{$tasks[0] // ''}, @failed), "\n";
  exit 1;
}
exit 0;
