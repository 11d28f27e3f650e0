#!/usr/bin/env perl
# Keep the lines of a Kaldi table whose key (first field) is, or with --exclude is not, among the keys
# (first fields) of an id list; the table's order is kept.
# Usage: utils/filter_scp.pl [--exclude] <id-list> [<table>] > out       (table from stdin without one)

use strict;
use warnings;

my $exclude = 0;
if (@ARGV && $ARGV[0] eq '--exclude') {
  $exclude = 1;
  shift @ARGV;
}
die "Usage: $0 [--exclude] <id-list> [<table>] > out\n" if @ARGV < 1 || @ARGV > 2 || $ARGV[0] =~ /^-./;
my $list = shift @ARGV;
open(my $fh, '<', $list) or die "$0: cannot read $list: $!\n";
my %keep;
while (my $line = <$fh>) {
  my ($k) = split ' ', $line;
  $keep{$k} = 1 if defined $k;
}
close $fh;
while (my $line = <>) {
  my ($k) = split ' ', $line;
  next unless defined $k;
  print $line if (exists $keep{$k}) != $exclude;
}
