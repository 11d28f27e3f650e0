package SsdCluster;

# What queue.pl (SGE) and slurm.pl (Slurm) share: write the job script, submit one (array) job, wait for
# it, read each task's exit status back from its log footer, and cancel the job when the launcher gets
# INT, TERM or HUP. The scheduler-specific parts come in as a backend:
#
#   prog          'slurm.pl'
#   conf_default  'conf/slurm.conf' (used when --config is not given and it exists)
#   builtin_conf  conf text used when neither exists
#   plan          sub(\%ctx) -> (\@submit_argv, $script_prelude, $task_expr): the submit command for
#                 the tasks in $ctx{tasks} (also in %ctx: p, conf, resource_args, base, array, and the
#                 absolute qdir_abs and script_abs); $task_expr is the shell expression of the task id
#                 inside the job script (empty for a job without JOB=)
#   job_id        sub($submit_output) -> job id or undef
#   alive         sub(@ids) -> 1 (still queued or running), 0 (gone), undef (scheduler did not answer),
#                 optionally followed by a warning to show (e.g. a job that cannot start)
#   cancel        sub(@ids) -> (exit status, output)
#   task_info     sub($id, $task, \@tasks) -> what the scheduler still knows of a task, or undef

use strict;
use warnings;

use File::Path qw(make_path);
use File::Spec;
use FindBin qw($RealBin);
use Time::HiRes qw(time sleep);

use SsdQueue;

# Seconds to keep waiting for missing log footers once the scheduler has forgotten the job: shared
# filesystems can show the last lines of a log some seconds after the job ended.
my $FOOTER_GRACE_S = 10;
# Polling: task logs are read every LOG_POLL seconds (longer for big arrays: one second per
# LOGS_PER_S pending logs); the scheduler is asked first after SCHED_FIRST seconds, then 1.5 times
# longer each time, up to SCHED_MAX (it is only needed to notice tasks that died without a footer).
my $LOG_POLL_S = 0.5;
my $LOGS_PER_S = 400;
my $SCHED_FIRST_S = 1;
my $SCHED_MAX_S = 30;

sub run {
  my (%b) = @_;
  my $prog = $b{prog};
  my $p = SsdQueue::parse_command_line($prog, \@ARGV);
  my $conf = SsdQueue::load_conf($prog, $p->{config}, $b{conf_default}, $b{builtin_conf});
  my @resource_args = SsdQueue::map_options($prog, $conf, $p->{opts});
  my @tasks = SsdQueue::tasks_to_run($p);
  my $total = defined $p->{jobname} ? $p->{end} - $p->{start} + 1 : 1;
  if (!@tasks) {
    print STDERR "$prog: all $total tasks of $p->{log} already succeeded (--pick failed): nothing to run\n";
    exit 0;
  }
  my %q = SsdQueue::queue_paths($p);
  make_path($q{qdir}) unless -d $q{qdir};
  for my $task (@tasks) {
    my $log = SsdQueue::task_log($p, $task);
    unlink($log) if -e $log;
  }

  my %ctx = (
    p => $p, tasks => \@tasks, conf => $conf, resource_args => \@resource_args, qdir => $q{qdir},
    base => $q{base}, script => $q{script}, array => defined $p->{jobname},
    qdir_abs => File::Spec->rel2abs($q{qdir}), script_abs => File::Spec->rel2abs($q{script}),
  );
  my ($argv, $prelude, $task_expr) = $b{plan}->(\%ctx);
  write_script($prog, $p, $q{script}, $argv, $prelude, $task_expr);

  # From here on INT/TERM/HUP only set a flag: a job submitted just before the signal is still
  # cancelled, since the submit command runs in its own process group and finishes.
  my $caught;
  local @SIG{@SsdQueue::SIGNALS} = map { my $s = $_; sub { $caught //= $s } } @SsdQueue::SIGNALS;
  my ($rc, $out) = SsdQueue::capture(@$argv);
  my $id = $rc == 0 ? $b{job_id}->($out) : undef;
  if (!defined $id) {
    $out =~ s/\s+$//;
    SsdQueue::fail($prog, "submission failed (exit $rc): " . join(' ', @$argv) . "\n$out");
  }
  my @ids = ($id);
  cancel_and_exit($prog, \%b, \@ids, $caught, $p) if $caught;

  my @pending = @tasks;
  my $sched_interval = $SCHED_FIRST_S;
  my $next_sched = time + $sched_interval;
  my ($gone_at, $last_warning, $last_note);
  while (@pending) {
    my $pause = @pending / $LOGS_PER_S;
    sleep($pause > $LOG_POLL_S ? $pause : $LOG_POLL_S);
    cancel_and_exit($prog, \%b, \@ids, $caught, $p) if $caught;
    @pending = grep { !defined SsdQueue::log_status(SsdQueue::task_log($p, $_)) } @pending;
    last unless @pending;
    if (defined $gone_at) {
      last if time - $gone_at > $FOOTER_GRACE_S;
      next;
    }
    next if time < $next_sched;
    my ($alive, $note) = $b{alive}->(@ids);
    cancel_and_exit($prog, \%b, \@ids, $caught, $p) if $caught;
    if (defined $note && (!defined $last_note || $note ne $last_note)) {
      print STDERR "$prog: warning: $note\n";
      $last_note = $note;
    }
    $sched_interval = $sched_interval * 1.5 > $SCHED_MAX_S ? $SCHED_MAX_S : $sched_interval * 1.5;
    $next_sched = time + $sched_interval;
    if (!defined $alive) {
      if (!defined $last_warning || time - $last_warning > 60) {
        print STDERR "$prog: warning: the scheduler does not answer about job @ids; still waiting\n";
        $last_warning = time;
      }
    } elsif (!$alive) {
      $gone_at = time;
    }
  }
  report($prog, \%b, $p, $id, \@tasks, $total, \%q);
}

# The job script: go to the submission directory, source ./path.sh when there is one (as Kaldi's
# queue.pl does), and run the task through SsdQueue::task_main, which writes the log.
sub write_script {
  my ($prog, $p, $script, $argv, $prelude, $task_expr) = @_;
  my $q = \&SsdQueue::shell_quote;
  my @run = (
    $^X, '-I' . $RealBin . '/lib', '-MSsdQueue', '-e', 'exit SsdQueue::task_main(@ARGV)', '--',
    '--log', $p->{log}, '--cmd', $p->{cmd}, '--threads', $p->{opts}{num_threads} // 1,
  );
  my $run = join(' ', map { $q->($_) } @run);
  $run .= ' --jobname ' . $q->($p->{jobname}) . qq{ --task "$task_expr"} if length $task_expr;
  (my $cmd_comment = $p->{cmd}) =~ s/\n/\n#   /g;
  my $text = "#!/usr/bin/env bash\n"
    . "# Written by $prog at " . SsdQueue::timestamp() . " and submitted with:\n"
    . "#   " . join(' ', map { /^[\w\/.,:=%+@-]+$/ ? $_ : $q->($_) } @$argv) . "\n"
    . "# Command:\n#   $cmd_comment\n"
    . 'cd ' . $q->(SsdQueue::cwd()) . " || exit 1\n"
    . "if [ -f ./path.sh ]; then . ./path.sh; fi\n"
    . $prelude
    . "exec $run\n";
  open(my $fh, '>', "$script.tmp") or SsdQueue::fail($prog, "cannot write $script.tmp: $!");
  print $fh $text;
  close($fh) or SsdQueue::fail($prog, "cannot write $script.tmp: $!");
  chmod(0755, "$script.tmp");
  rename("$script.tmp", $script) or SsdQueue::fail($prog, "cannot rename $script.tmp: $!");
}

sub cancel_and_exit {
  my ($prog, $b, $ids, $caught, $p) = @_;
  my ($rc, $out) = $b->{cancel}->(@$ids);
  $out =~ s/\s+$//;
  print STDERR "$prog: caught SIG$caught, cancelled job @$ids of $p->{log}"
    . ($rc == 0 ? '' : " (the cancel command said, exit $rc: $out)") . "\n";
  exit(128 + SsdQueue::signal_number($caught));
}

sub report {
  my ($prog, $b, $p, $id, $tasks, $total, $q) = @_;
  my (@failed, @notes, $code);
  for my $task (@$tasks) {
    my $log = SsdQueue::task_log($p, $task);
    $code = SsdQueue::log_status($log);
    next if defined $code && $code == 0;
    push @failed, $log;
    next if defined $code;
    my $info = $b->{task_info}->($id, $task, $tasks);
    push @notes, "$prog: $log has no '# Ended' footer: the task was killed or never ran"
      . (defined $info ? " (scheduler: $info)" : '') . "; see also the job output in $q->{qdir}/";
  }
  exit(0) unless @failed;
  print STDERR "$_\n" for @notes;
  print STDERR SsdQueue::failure_message($prog, $total, $code, @failed), "\n";
  exit 1;
}

1;
