package SsdQueue;

# The Kaldi job-launcher contract shared by utils/run.pl, utils/queue.pl and utils/slurm.pl:
#
#   X.pl [options] [JOB=1:N] log/x.JOB.log command args...
#
# This module holds what the three have in common: the command-line parser, the conf-file mapping of
# generic options (--gpu, --mem, ...) to scheduler arguments, the task runner that writes a log with
# the command header and the "# Ended (code N)" footer, and reading those footers back.

use strict;
use warnings;

use Cwd qw(getcwd);
use File::Basename qw(dirname basename);
use File::Path qw(make_path);
use POSIX qw(strftime);
use Sys::Hostname qw(hostname);
use Time::HiRes qw(time);

# Generic options every launcher accepts. run.pl ignores the resource ones; the cluster launchers map
# them through their conf file. Names are kept with underscores (--num-threads -> num_threads).
our @RESOURCE_OPTIONS = qw(gpu mem num_threads time num_nodes ntasks_per_node);

# Signals a launcher forwards to its tasks (run.pl) or turns into a cancellation (queue.pl, slurm.pl).
our @SIGNALS = qw(INT TERM HUP);
my %SIGNUM = (HUP => 1, INT => 2, TERM => 15);

sub signal_number {
  my ($name) = @_;
  return $SIGNUM{$name};
}

sub fail {
  my ($prog, $msg) = @_;
  print STDERR "$prog: $msg\n";
  exit 1;
}

# Parse the launcher's arguments. %how: local => 1 for run.pl, which accepts only the generic options.
# Options may come before and after the JOB=a:b argument. Returns a hash:
#   opts (resource options given, name => value), max_jobs_run, pick ('all' or 'failed'), config,
#   jobname (undef without JOB=), start, end, log, cmd (one shell string), prog.
# The command is its words quoted where needed, or, when it is a single argument, that argument as a
# shell command line ("run.pl log/x.log 'a | b'").
sub parse_command_line {
  my ($prog, $argv, %how) = @_;
  my @args = @$argv;
  my %p = (prog => $prog, opts => {}, pick => 'all');
  my %known = map { $_ => 1 } (@RESOURCE_OPTIONS, 'max_jobs_run', 'pick', 'config');
  while (@args) {
    my $arg = $args[0];
    if ($arg =~ /^([A-Za-z_]\w*)=(\d+):(\d+)$/ || $arg =~ /^([A-Za-z_]\w*)=(\d+)$/) {
      my ($name, $start, $end) = ($1, $2, $3 // $2);
      fail($prog, "two job ranges given: JOB ranges '$p{jobname}=...' and '$arg'") if defined $p{jobname};
      fail($prog, "bad job range '$arg': need 1 <= start <= end") if $start < 1 || $end < $start;
      @p{qw(jobname start end)} = ($name, $start + 0, $end + 0);
      shift @args;
      next;
    }
    last unless $arg =~ /^--([A-Za-z][\w-]*)(?:=(.*))?$/s;
    my ($name, $value) = ($1, $2);
    $name =~ tr/-/_/;
    shift @args;
    if (!defined $value) {
      fail($prog, "option $arg needs a value") unless @args;
      $value = shift @args;
    }
    if ($how{local} && !$known{$name}) {
      fail($prog, "unknown option $arg (known: "
        . join(' ', map { my $o = $_; $o =~ tr/_/-/; "--$o" } sort keys %known) . ')');
    }
    if ($name eq 'max_jobs_run') {
      fail($prog, "--max-jobs-run takes a positive integer, got '$value'") unless $value =~ /^[1-9]\d*$/;
      $p{max_jobs_run} = $value;
    } elsif ($name eq 'pick') {
      fail($prog, "--pick takes 'all' or 'failed', got '$value'") unless $value =~ /^(all|failed)$/;
      $p{pick} = $value;
    } elsif ($name eq 'config') {
      $p{config} = $value;
    } else {
      $p{opts}{$name} = $value;
    }
  }
  if (@args < 2) {
    print STDERR "Usage: $prog [options] [JOB=1:N] <log-file> <command> [<args>...]\n"
      . "  e.g.: $prog --max-jobs-run 4 JOB=1:8 exp/log/dump.JOB.log ssd-compute-lfcc split/JOB/wav.scp ...\n"
      . "Options: --max-jobs-run N, --num-threads N, --mem SIZE, --gpu N, --time T, --num-nodes N,\n"
      . "  --ntasks-per-node N, --pick all|failed (re-run only tasks whose log has no '# Ended (code 0)'),\n"
      . "  --config FILE (queue.pl/slurm.pl: how options map to scheduler arguments)\n";
    exit 1;
  }
  $p{log} = shift @args;
  fail($prog, "unknown option $p{log} (options start with --)") if $p{log} =~ /^-/;
  $p{cmd} = @args == 1 ? $args[0] : quote_command(@args);
  if (defined $p{jobname} && $p{end} > $p{start} && index($p{log}, $p{jobname}) < 0) {
    fail($prog, "$p{jobname}=$p{start}:$p{end} runs several tasks but the log file '$p{log}' does not "
      . "contain '$p{jobname}'");
  }
  return \%p;
}

# One shell command line from the arguments. Words without blanks pass unquoted, so that Kaldi-style
# pipes given as separate words ("|", ">") stay shell syntax; others are single-quoted. (A command
# given as one single argument is taken as a shell command line as it is: see parse_command_line.)
sub quote_command {
  my @words;
  for my $w (@_) {
    push @words, ($w =~ /^\S+$/ ? $w : shell_quote($w));
  }
  return join(' ', @words);
}

sub shell_quote {
  my ($s) = @_;
  $s =~ s/'/'\\''/g;
  return "'$s'";
}

# The task ids to run: all of start..end, or with pick=failed only those whose log has no zero footer.
sub tasks_to_run {
  my ($p) = @_;
  my @all = defined $p->{jobname} ? ($p->{start} .. $p->{end}) : (undef);
  return @all if $p->{pick} eq 'all';
  return grep { my $s = log_status(task_log($p, $_)); !defined $s || $s != 0 } @all;
}

# Replace every occurrence of the job name (e.g. JOB) by the task id, as Kaldi does.
sub substitute {
  my ($text, $jobname, $task) = @_;
  return $text unless defined $jobname && defined $task && length $task;
  $text =~ s/\Q$jobname\E/$task/g;
  return $text;
}

sub task_log {
  my ($p, $task) = @_;
  return substitute($p->{log}, $p->{jobname}, $task);
}

sub timestamp {
  my $t = time;
  my $ms = sprintf('%03d', int(($t - int($t)) * 1000));
  return strftime('%Y-%m-%dT%H:%M:%S', localtime($t)) . ".$ms" . strftime('%z', localtime($t));
}

# Exit code recorded in a task log's "# Ended (code N)" footer, which must be its last line; undef if
# the log or footer is missing (the task is still running, was killed, or never ran).
sub log_status {
  my ($log) = @_;
  open(my $fh, '<', $log) or return undef;
  my $size = -s $fh;
  seek($fh, $size > 4096 ? $size - 4096 : 0, 0);
  local $/;
  my $tail = <$fh> // '';
  close $fh;
  return $tail =~ /(?:^|\n)# Ended \(code (-?\d+)\)[^\n]*\n?\z/ ? $1 : undef;
}

# Run one task: the log gets "# <command>", "# Started at", the command's output, "# Accounting" and
# "# Ended (code N)". The command runs under bash with pipefail, stdin from /dev/null, in the caller's
# process group (where a scheduler that kills a job by process group finds it). INT/TERM/HUP received
# here are passed on to bash and everything it started, and the footer is still written (code
# 128+signal) unless this process is killed outright. Returns the command's exit code.
sub run_task {
  my (%a) = @_;
  my ($log, $cmd, $threads) = @a{qw(log cmd threads)};
  my $dir = dirname($log);
  make_path($dir) unless -d $dir;
  open(my $fh, '>', $log) or die "cannot write log file $log: $!\n";
  $fh->autoflush(1);
  (my $header = $cmd) =~ s/\n/\n# /g;
  print $fh "# $header\n# Started at " . timestamp() . " on " . hostname() . "\n#\n";
  my $t0 = time;
  my ($pid, $caught);
  local @SIG{@SIGNALS} = map {
    my $s = $_;
    sub { $caught = $s; kill_tree($s, $pid) if $pid }
  } @SIGNALS;
  $pid = fork() // die "fork failed: $!\n";
  if ($pid == 0) {
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>&', $fh) or die "cannot redirect stdout to $log: $!\n";
    open(STDERR, '>&', $fh) or die "cannot redirect stderr to $log: $!\n";
    exec('bash', '-c', "set -o pipefail\n$cmd") or die "cannot run bash: $!\n";
  }
  kill_tree($caught, $pid) if $caught;
  my $r;
  do { $r = waitpid($pid, 0) } until $r == $pid || ($r == -1 && !$!{EINTR});
  my $status = $?;
  my $code = $status & 127 ? 128 + ($status & 127) : $status >> 8;
  my $elapsed = time - $t0;
  printf $fh "# Accounting: time=%d threads=%d\n", $elapsed + 0.5, $threads // 1;
  printf $fh "# Ended (code %d) at %s, elapsed time %.3f seconds\n", $code, timestamp(), $elapsed;
  close $fh;
  return $code;
}

# Send a signal to a process and all its descendants (found through /proc; without /proc, to the
# process alone), so that a pipeline started by bash stops with it.
sub kill_tree {
  my ($sig, $root) = @_;
  my %children;
  for my $stat (glob('/proc/[0-9]*/stat')) {
    open(my $fh, '<', $stat) or next;
    my $line = <$fh> // '';
    close $fh;
    push @{$children{$2}}, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+)/s;
  }
  my @todo = ($root);
  my @all;
  while (@todo) {
    my $pid = shift @todo;
    push @all, $pid;
    push @todo, @{$children{$pid} // []};
  }
  kill($sig, @all);
}

# Entry point of the job scripts that queue.pl and slurm.pl submit:
#   perl -I utils/lib -MSsdQueue -e 'exit SsdQueue::task_main(@ARGV)' -- \
#     --log L --cmd C [--jobname JOB --task ID] [--threads N]
sub task_main {
  my %a;
  while (@_) {
    my $k = shift;
    next if $k eq '--';
    die "task_main: bad argument '$k'\n" unless $k =~ /^--(log|cmd|jobname|task|threads)$/ && @_;
    $a{$1} = shift;
  }
  my $log = substitute($a{log}, $a{jobname}, $a{task});
  my $cmd = substitute($a{cmd}, $a{jobname}, $a{task});
  return run_task(log => $log, cmd => $cmd, threads => $a{threads});
}

# The launchers' closing message for failed tasks: "job failed with code N, log is in L" for a single
# task, else "K / N failed, log(s) is/are in L1 L2 ..." (at most 20 named). $code: the single task's.
sub failure_message {
  my ($prog, $total, $code, @failed) = @_;
  if ($total == 1) {
    return "$prog: job failed" . (defined $code ? " with code $code" : '') . ", log is in $failed[0]";
  }
  my $n = @failed;
  my $shown = join(' ', @failed > 20 ? (@failed[0 .. 19], '...') : @failed);
  return "$prog: $n / $total failed, log" . ($n > 1 ? 's are' : ' is') . " in $shown";
}

sub num_cpus {
  my $n = `nproc 2>/dev/null`;
  return ($n && $n =~ /^(\d+)/) ? $1 : 1;
}

# Read a Kaldi-style conf file (or text, for the built-in defaults):
#   command sbatch --export=ALL           the submit command and its fixed arguments
#   option mem=* --mem=$0                 any value; $0 is replaced by it
#   option gpu=0                          this exact value adds nothing
#   default gpu=0                         the value used when the option is not given
# Option names take dashes or underscores. '#' starts a comment.
sub read_conf {
  my ($prog, $source, $text) = @_;
  my %conf = (source => $source, command => undef, exact => {}, wild => {}, default => {});
  my $n = 0;
  for my $line (split /\n/, $text) {
    $n++;
    $line =~ s/(^|\s)#.*//;
    next unless $line =~ /\S/;
    my ($kind, $rest) = $line =~ /^\s*(\S+)\s*(.*?)\s*$/;
    if ($kind eq 'command') {
      fail($prog, "$source:$n: 'command' needs the submit program") unless length $rest;
      $conf{command} = [split ' ', $rest];
    } elsif ($kind eq 'option' || $kind eq 'default') {
      my ($name, $value, $args) = $rest =~ /^([A-Za-z][\w-]*)=(\S+)\s*(.*)$/
        or fail($prog, "$source:$n: expected '$kind name=value ...', got '$line'");
      $name =~ tr/-/_/;
      if ($kind eq 'default') {
        fail($prog, "$source:$n: a default takes no arguments after '$name=$value'") if length $args;
        $conf{default}{$name} = $value;
      } elsif ($value eq '*') {
        $conf{wild}{$name} = $args;
      } else {
        $conf{exact}{$name}{$value} = $args;
      }
    } else {
      fail($prog, "$source:$n: unknown line type '$kind' (expected command, option or default)");
    }
  }
  fail($prog, "$source: no 'command' line") unless $conf{command};
  return \%conf;
}

# Load --config FILE, else $default_path if it exists, else the built-in text.
sub load_conf {
  my ($prog, $path, $default_path, $builtin) = @_;
  my $file = $path // (-e $default_path ? $default_path : undef);
  return read_conf($prog, "built-in $prog defaults", $builtin) unless defined $file;
  open(my $fh, '<', $file) or fail($prog, "cannot read config $file: $!");
  local $/;
  my $text = <$fh>;
  close $fh;
  return read_conf($prog, $file, $text);
}

# The scheduler arguments for the given options plus the conf's defaults. An option the conf does not
# describe (neither its exact value nor name=*) is an error.
sub map_options {
  my ($prog, $conf, $opts) = @_;
  my %all = (%{$conf->{default}}, %$opts);
  my @args;
  for my $name (sort keys %all) {
    my $value = $all{$name};
    my $args;
    if (exists $conf->{exact}{$name} && exists $conf->{exact}{$name}{$value}) {
      $args = $conf->{exact}{$name}{$value};
    } elsif (exists $conf->{wild}{$name}) {
      ($args = $conf->{wild}{$name}) =~ s/\$0/$value/g;
    } else {
      my @has = map { my $n = $_; (map {"$n=$_"} keys %{$conf->{exact}{$n}}) } keys %{$conf->{exact}};
      push @has, map {"$_=*"} keys %{$conf->{wild}};
      tr/_/-/ for $name, @has;
      fail($prog, "option --$name $value is not described in $conf->{source} (it describes: "
        . (@has ? join(' ', sort @has) : 'nothing') . ')');
    }
    push @args, split(' ', $args);
  }
  return @args;
}

# Run a command in its own process group (so that a signal sent to the launcher's group does not
# kill it half-way) and return (exit status, stdout and stderr together).
sub capture {
  my @cmd = @_;
  my $pid = open(my $fh, '-|') // die "fork failed: $!\n";
  if ($pid == 0) {
    setpgrp(0, 0);
    open(STDERR, '>&', \*STDOUT);
    exec(@cmd) or do { print "cannot run $cmd[0]: $!\n"; POSIX::_exit(127) };
  }
  local $/;
  my $out = <$fh> // '';
  close $fh;
  return ($? >> 8, $out);
}

# "1-3,7,9-10" from a sorted list of task ids.
sub compress_ranges {
  my @ids = @_;
  my @parts;
  while (@ids) {
    my $a = shift @ids;
    my $b = $a;
    $b = shift @ids while @ids && $ids[0] == $b + 1;
    push @parts, $a == $b ? $a : "$a-$b";
  }
  return join(',', @parts);
}

# Paths of the files a cluster launcher keeps next to the logs: log/q/<base>.sh and outputs.
sub queue_paths {
  my ($p) = @_;
  my $base = basename($p->{log});
  if (defined $p->{jobname}) {
    $base =~ s/\.\Q$p->{jobname}\E(?=\.|$)//g;
    $base =~ s/\Q$p->{jobname}\E//g;
  }
  $base =~ s/\.log$//;
  $base = 'job' unless length $base;
  my $qdir = dirname($p->{log}) . '/q';
  return (qdir => $qdir, base => $base, script => "$qdir/$base.sh");
}

sub cwd {
  return getcwd();
}

1;
