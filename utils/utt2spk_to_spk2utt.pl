#!/usr/bin/env perl
# Invert utt2spk ("utt spk" lines) into spk2utt ("spk utt1 utt2 ..."): speakers in LC_ALL=C (byte)
# order, each speaker's utterances in their utt2spk order.
# Usage: utils/utt2spk_to_spk2utt.pl [utt2spk] > spk2utt      (reads stdin without a file)

use strict;
use warnings;

die "Usage: $0 [utt2spk] > spk2utt\n" if @ARGV > 1 || (@ARGV && $ARGV[0] =~ /^-./);
my $name = @ARGV ? $ARGV[0] : 'stdin';
my (%utts, %seen);
while (my $line = <>) {
  my @f = split ' ', $line;
  die "$0: $name:$.: expected 'utt spk', got '" . join(' ', @f) . "'\n" unless @f == 2;
  my ($utt, $spk) = @f;
  die "$0: $name:$.: utterance '$utt' appears twice (also line $seen{$utt})\n" if $seen{$utt};
  $seen{$utt} = $.;
  push @{$utts{$spk}}, $utt;
}
for my $spk (sort keys %utts) {
  print join(' ', $spk, @{$utts{$spk}}), "\n";
}
