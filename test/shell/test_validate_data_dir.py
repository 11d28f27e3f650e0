"""utils/validate_data_dir.sh: a good data dir passes; each defect is named with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from shell_helpers import UTILS, UTTS, run
from shell_helpers import write_data_dir as write_dir

VALIDATE = str(UTILS / "validate_data_dir.sh")

def edit(path: Path, line: int, new: str | None) -> None:
    """Replace (or with None delete) 1-based line `line` of a file."""
    lines = path.read_text().splitlines(keepends=True)
    if new is None:
        del lines[line - 1]
    else:
        lines[line - 1] = new
    path.write_text("".join(lines))


def validate(d: Path, *opts: str) -> tuple[int, str]:
    proc = run([VALIDATE, *opts, str(d)], d.parent)
    return proc.returncode, proc.stdout + proc.stderr


def test_good_dir_passes_in_relaxed_mode(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    code, out = validate(d, "--no-spk-sort")
    assert code == 0, out
    assert "is valid (5 utterances, 2 speakers, 2 bonafide, 3 spoof)" in out


def test_speaker_sort_rule_without_no_spk_sort(tmp_path: Path) -> None:
    code, out = validate(write_dir(tmp_path / "train"))
    assert code == 1
    assert "utt2spk:3: speaker 'LA_0079' of 'LA_T_1000003' sorts before 'LA_0080'" in out
    assert "--no-spk-sort" in out


def test_kaldi_style_dir_passes_strict_mode(tmp_path: Path) -> None:
    utts = [
        ("spk1-a", "spk1", "bonafide", "-"),
        ("spk1-b", "spk1", "spoof", "A01"),
        ("spk2-a", "spk2", "spoof", "A02"),
    ]
    code, out = validate(write_dir(tmp_path / "d", utts))
    assert code == 0, out


def test_unsorted_file_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2label", 2, "LA_T_1000003 spoof\n")
    edit(d / "utt2label", 3, "LA_T_1000002 spoof\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/utt2label:3: key 'LA_T_1000002' comes after 'LA_T_1000003': not sorted" in out


def test_sorting_is_bytewise_not_numeric(tmp_path: Path) -> None:
    utts = [("u10", "s", "bonafide", "-"), ("u9", "s", "bonafide", "-")]
    code, out = validate(write_dir(tmp_path / "d", utts), "--no-spk-sort")
    assert code == 0, out


def test_duplicate_key_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "wav.scp", 4, "LA_T_1000003 /other.flac\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/wav.scp:4: duplicate key 'LA_T_1000003' (also on line 3)" in out


def test_utterance_missing_from_one_file_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2attack", 4, None)
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"utterance 'LA_T_1000004' is in {d}/utt2spk (line 4) but not in {d}/utt2attack" in out


def test_extra_utterance_in_wav_scp_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    with (d / "wav.scp").open("a") as f:
        f.write("LA_T_1000009 /x.flac\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"utterance 'LA_T_1000009' is in {d}/wav.scp (line 6) but not in {d}/utt2spk" in out


def test_bad_label_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2label", 2, "LA_T_1000002 fake\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/utt2label:2: label 'fake' of 'LA_T_1000002' is neither bonafide nor spoof" in out


def test_bonafide_with_attack_is_an_error(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2attack", 1, "LA_T_1000001 A01\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/utt2attack:1: 'LA_T_1000001' is bonafide in utt2label but has attack 'A01'" in out


def test_spoof_without_attack_is_an_error(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2attack", 5, "LA_T_1000005 -\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/utt2attack:5: 'LA_T_1000005' is spoof in utt2label but has attack '-'" in out


def test_spk2utt_inconsistent_with_utt2spk(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "spk2utt", 1, "LA_0079 LA_T_1000001 LA_T_1000003\n")
    edit(d / "spk2utt", 2, "LA_0080 LA_T_1000002 LA_T_1000004 LA_T_1000005\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert (f"{d}/spk2utt:2: utterance 'LA_T_1000005' is listed under speaker 'LA_0080' but {d}/utt2spk "
            "(line 5) gives speaker 'LA_0079'") in out


def test_spk2utt_missing_an_utterance(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "spk2utt", 1, "LA_0079 LA_T_1000001 LA_T_1000005\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"utterance 'LA_T_1000003' of {d}/utt2spk (line 3) is missing from {d}/spk2utt" in out


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("LA_T_1000002 LA_0080\r\n", "utt2spk:2: carriage return"),
        ("LA_T_1000002\n", "utt2spk:2: no value after key 'LA_T_1000002'"),
        ("LA_T_1000002 LA_0080 extra\n", "utt2spk:2: expected 'key value', got 3 fields"),
        ("\n", "utt2spk:2: empty line"),
        (" LA_T_1000002 LA_0080\n", "utt2spk:2: line starts with blank space"),
    ],
)
def test_malformed_lines(tmp_path: Path, line: str, message: str) -> None:
    d = write_dir(tmp_path / "train")
    edit(d / "utt2spk", 2, line)
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert message in out


@pytest.mark.parametrize("name", ["utt2spk", "spk2utt", "wav.scp"])
def test_required_file_missing(tmp_path: Path, name: str) -> None:
    d = write_dir(tmp_path / "train")
    (d / name).unlink()
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/{name} is missing" in out


def write_feats(d: Path, frames: list[int]) -> None:
    ark = d / "feats.ark"
    ark.write_bytes(b"\0" * 64)
    (d / "feats.scp").write_text("".join(f"{u} {ark}:{10 * i}\n" for i, (u, *_) in enumerate(UTTS)))
    (d / "utt2num_frames").write_text("".join(f"{u} {n}\n" for (u, *_), n in zip(UTTS, frames, strict=True)))


def test_features_checked_when_present(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    write_feats(d, [300, 412, 250, 980, 77])
    code, out = validate(d, "--no-spk-sort")
    assert code == 0, out
    assert "with features" in out


def test_feature_dump_dir_without_wav_scp(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "dump")
    write_feats(d, [300, 412, 250, 980, 77])
    (d / "wav.scp").unlink()
    code, out = validate(d, "--no-spk-sort")
    assert code == 0, out


def test_missing_ark_file_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    write_feats(d, [300, 412, 250, 980, 77])
    (d / "feats.ark").unlink()
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/feats.scp: ark file '{d}/feats.ark' does not exist" in out
    code, out = validate(d, "--no-spk-sort", "--no-feats")
    assert code == 0, out


def test_bad_frame_count_is_named(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    write_feats(d, [300, 412, 0, 980, 77])
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"{d}/utt2num_frames:3: frame count '0' of 'LA_T_1000003' is not a positive integer" in out


def test_feats_scp_missing_an_utterance(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    write_feats(d, [300, 412, 250, 980, 77])
    edit(d / "feats.scp", 2, None)
    code, out = validate(d, "--no-spk-sort")
    assert code == 1
    assert f"utterance 'LA_T_1000002' is in {d}/utt2spk (line 2) but not in {d}/feats.scp" in out


def test_real_eval_protocol_as_data_dir(tmp_path: Path, fixtures_dir: Path) -> None:
    """The 71,237 lines of the official LA eval protocol, turned into a data dir, validate."""
    protocol = fixtures_dir / "asvspoof2019" / "ASVspoof2019.LA.cm.eval.trl.txt"
    fields = (line.split() for line in protocol.read_text().splitlines())
    rows = sorted((f[1], f[0], f[4], f[3]) for f in fields)
    d = write_dir(tmp_path / "eval", rows)
    code, out = validate(d, "--no-spk-sort")
    assert code == 0, out
    assert "is valid (71237 utterances, 67 speakers, 7355 bonafide, 63882 spoof)" in out


def test_segments_make_wav_scp_a_list_of_recordings(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train")
    (d / "wav.scp").write_text("rec1 /corpus/a.flac\nrec2 /corpus/b.flac\n")
    utts = [line.split()[0] for line in (d / "utt2spk").read_text().splitlines()]
    rows = [f"{u} rec{1 + i % 2} {i}.5 {'-1' if i == 4 else f'{i + 1}.25'}\n" for i, u in enumerate(utts)]
    (d / "segments").write_text("".join(rows))
    code, out = validate(d, "--no-spk-sort")
    assert code == 0, out
    edit(d / "segments", 2, f"{utts[1]} rec3 0.0 1.0\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1 and f"segments:2: recording 'rec3' of '{utts[1]}' is not in" in out
    edit(d / "segments", 2, f"{utts[1]} rec2 2.0 1.0\n")
    code, out = validate(d, "--no-spk-sort")
    assert code == 1 and f"segments:2: '{utts[1]}' ends (1.0) before it starts (2.0)" in out
    edit(d / "segments", 2, None)
    code, out = validate(d, "--no-spk-sort")
    assert code == 1 and f"utterance '{utts[1]}' is in" in out and "but not in" in out
