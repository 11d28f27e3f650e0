#!/usr/bin/env perl
# Split a Kaldi table (scp or any "key value" file) into N contiguous parts of nearly equal size
# (sizes differ by at most one line, earlier parts take the extra lines); order is kept. Each output
# is written to a temporary file and renamed into place.
# Usage: utils/split_scp.pl <in.scp> <out1.scp> ... <outN.scp>

use strict;
use warnings;
use File::Basename qw(dirname);
use File::Path qw(make_path);

die "Usage: $0 <in.scp> <out1.scp> [<out2.scp> ...]\n" if @ARGV < 2;
my ($in, @outs) = @ARGV;
open(my $fh, '<', $in) or die "$0: cannot read $in: $!\n";
my @lines = grep {/\S/} <$fh>;
close $fh;
my ($n, $parts) = (scalar @lines, scalar @outs);
die "$0: cannot split the $n lines of $in into $parts parts (fewer lines than parts)\n" if $n < $parts;
my $start = 0;
for my $i (0 .. $parts - 1) {
  my $size = int($n / $parts) + ($i < $n % $parts ? 1 : 0);
  my $out = $outs[$i];
  my $dir = dirname($out);
  make_path($dir) unless -d $dir;
  open(my $o, '>', "$out.tmp.$$") or die "$0: cannot write $out.tmp.$$: $!\n";
  print $o @lines[$start .. $start + $size - 1];
  close($o) or die "$0: cannot write $out: $!\n";
  rename("$out.tmp.$$", $out) or die "$0: cannot rename $out.tmp.$$ to $out: $!\n";
  $start += $size;
}
