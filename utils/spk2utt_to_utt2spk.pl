#!/usr/bin/env perl
# Expand spk2utt ("spk utt1 utt2 ...") into utt2spk ("utt spk"), sorted by utterance in LC_ALL=C
# (byte) order.
# Usage: utils/spk2utt_to_utt2spk.pl [spk2utt] > utt2spk      (reads stdin without a file)

use strict;
use warnings;

die "Usage: $0 [spk2utt] > utt2spk\n" if @ARGV > 1 || (@ARGV && $ARGV[0] =~ /^-./);
my $name = @ARGV ? $ARGV[0] : 'stdin';
my %spk;
while (my $line = <>) {
  my ($s, @utts) = split ' ', $line;
  die "$0: $name:$.: speaker '" . ($s // '') . "' has no utterances\n" unless @utts;
  for my $u (@utts) {
    die "$0: $name:$.: utterance '$u' listed twice\n" if exists $spk{$u};
    $spk{$u} = $s;
  }
}
print "$_ $spk{$_}\n" for sort keys %spk;
