"""ssd-compute-lfcc: dump the official ASVspoof 2019 LFCC (or another dumping front end's features) of a
wav.scp into a Kaldi ark/scp (one job)."""

from __future__ import annotations

import argparse
import logging
import sys

from ssd.frontend.audio import MIN_SECONDS, PIPES_ENV, TIMEOUT_ENV
from ssd.frontend.dump import dump_features
from ssd.frontend.dump_settings import SETTINGS_FILE, settings_record
from ssd.frontend.registry import dumped_frontends


def get_parser() -> argparse.ArgumentParser:
    """Command-line interface in the Kaldi style: options, then <wav.scp> <wspecifier>."""
    parser = argparse.ArgumentParser(
        prog="ssd-compute-lfcc",
        description="Compute 60-dim LFCC (20 static + delta + delta-delta, float32), or the features of "
        "--frontend, for every wav.scp entry. The scp is written last, atomically: a failed job leaves "
        "none. Audio must be mono, at "
        f"--fs, at least {MIN_SECONDS} s, finite, within full scale and not truncated.",
        epilog="example: ssd-compute-lfcc --write-utt2num-frames dump/utt2num_frames.1 "
        "data/train/split4/1/wav.scp ark,scp:/abs/dump/feats.1.ark,/abs/dump/feats.1.scp",
    )
    parser.add_argument("--fs", type=int, default=16000,
                        help="required sampling rate in Hz (default: %(default)s)")
    parser.add_argument("--frontend", default="lfcc", choices=dumped_frontends(),
                        help="lfcc: the official LFCC; spectrogram: the 257-bin log power spectrogram on the "
                        "LFCC's frames; spectrogram_4ms: 33 bins of 4 ms frames every 2 ms "
                        "(default: %(default)s)")
    parser.add_argument("--write-utt2num-frames", metavar="FILE", help="also write 'utt num_frames' lines")
    parser.add_argument("--skip-bad-utts", metavar="FILE",
                        help="skip unreadable utterances with a warning and list them as 'utt reason' "
                        "in FILE (default: stop at the first one)")
    parser.add_argument("--no-pipes", action="store_true", help="refuse wav.scp pipe entries (as "
                        f"{PIPES_ENV}=0); every pipe is killed after {TIMEOUT_ENV} seconds (default 600)")
    parser.add_argument("--segments", metavar="FILE",
                        help="Kaldi segments ('utt recording start end', seconds; end -1: to the end): the "
                        "utterances are these cuts of the wav.scp recordings")
    parser.add_argument("--resample", action="store_true",
                        help="resample audio at another rate to --fs (polyphase, as ssd-detect) instead of "
                        "refusing it")
    parser.add_argument("--print-settings", action="store_true",
                        help=f"print the json record of --frontend at --fs that stage 2 keeps as "
                        f"{SETTINGS_FILE} beside a dump, and exit")
    parser.add_argument("wav_scp", nargs="?", help="Kaldi wav.scp: 'utt path', 'utt wav.ark:offset' or "
                        "'utt command |' (a trusted command, run by bash)")
    parser.add_argument("wspecifier", nargs="?",
                        help="e.g. ark,scp:feats.ark,feats.scp (paths go verbatim into the scp)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one feature-dump job; exit status 1 with the failing utterance named on any data error."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.print_settings:
        try:
            print(settings_record(args.frontend, args.fs))
        except ValueError as err:
            parser.error(str(err))
        return 0
    if args.wspecifier is None:
        parser.error("the following arguments are required: wav_scp, wspecifier")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s (%(module)s:%(lineno)d) %(levelname)s: %(message)s")
    try:
        stats = dump_features(args.wav_scp, args.wspecifier, fs=args.fs, frontend=args.frontend,
                              utt2num_frames=args.write_utt2num_frames, skip_bad_utts=args.skip_bad_utts,
                              pipes=False if args.no_pipes else None, segments=args.segments,
                              resample=args.resample)
    except (ValueError, OSError) as err:
        logging.error("ssd-compute-lfcc %s %s failed: %s", args.wav_scp, args.wspecifier, err)
        return 1
    logging.info("wrote %d utterances (%d frames, %.1f s of audio, %d skipped) in %.1f s: %.0fx real time",
                 stats.utterances, stats.frames, stats.audio_seconds, stats.skipped,
                 stats.elapsed_seconds, stats.real_time_factor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
