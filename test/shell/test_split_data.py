"""utils/split_data.sh and the table tools it is built from (split_scp, filter_scp, spk2utt <-> utt2spk)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from shell_helpers import UTILS, run
from shell_helpers import write_data_dir as write_dir

SPLIT_DATA = str(UTILS / "split_data.sh")
VALIDATE = str(UTILS / "validate_data_dir.sh")


def make_utts(n: int) -> list[tuple[str, str, str, str]]:
    speakers = ["LA_0079", "LA_0080", "LA_0081"]
    return [
        (f"LA_T_{1000000 + i}", speakers[i % 3], "bonafide", "-") if i % 4 == 0
        else (f"LA_T_{1000000 + i}", speakers[i % 3], "spoof", f"A0{i % 3 + 1}")
        for i in range(n)
    ]


def keys(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines()]


def test_split_data_parts_partition_the_dir(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train", make_utts(11))
    proc = run([SPLIT_DATA, str(d), "3"], tmp_path, check=True)
    assert "into" in proc.stdout
    parts = [d / "split3" / str(i) for i in (1, 2, 3)]
    assert [len(keys(p / "utt2spk")) for p in parts] == [4, 4, 3]
    assert sum((keys(p / "utt2spk") for p in parts), []) == keys(d / "utt2spk")
    for name in ("wav.scp", "utt2label", "utt2attack"):
        joined = "".join((p / name).read_text() for p in parts)
        assert joined == (d / name).read_text()
    for p in parts:
        assert sorted(os.listdir(p)) == ["spk2utt", "utt2attack", "utt2label", "utt2spk", "wav.scp"]
        run([VALIDATE, "--no-spk-sort", str(p)], tmp_path, check=True)


def test_split_data_is_reused_until_a_source_changes(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "train", make_utts(6))
    run([SPLIT_DATA, str(d), "2"], tmp_path, check=True)
    proc = run([SPLIT_DATA, str(d), "2"], tmp_path, check=True)
    assert "is up to date" in proc.stdout
    time.sleep(0.01)
    utts = make_utts(6)[:4]
    write_dir(d, utts)
    (d / "wav.scp").touch()
    proc = run([SPLIT_DATA, str(d), "2"], tmp_path, check=True)
    assert "is up to date" not in proc.stdout
    assert [len(keys(d / "split2" / str(i) / "wav.scp")) for i in (1, 2)] == [2, 2]


def test_split_data_also_splits_features(tmp_path: Path) -> None:
    d = write_dir(tmp_path / "dump", make_utts(5))
    (d / "utt2num_frames").write_text("".join(f"{u} {100 + i}\n" for i, u in enumerate(keys(d / "utt2spk"))))
    run([SPLIT_DATA, str(d), "2"], tmp_path, check=True)
    assert keys(d / "split2/2/utt2num_frames") == keys(d / "split2/2/utt2spk") == keys(d / "utt2spk")[3:]


@pytest.mark.parametrize(
    ("args", "message"), [(["3"], "Usage"), (["0"], "Usage"), (["9"], "cannot split the 5")]
)
def test_split_data_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    d = write_dir(tmp_path / "train", make_utts(5))
    proc = run([SPLIT_DATA, *([] if args == ["3"] else [str(d)]), *args], tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not list(d.glob("split*"))


def test_split_scp_sizes_and_order(tmp_path: Path) -> None:
    scp = tmp_path / "in.scp"
    scp.write_text("".join(f"u{i:02d} x{i}\n" for i in range(10)))
    outs = [tmp_path / "o" / f"{i}.scp" for i in range(4)]
    run([str(UTILS / "split_scp.pl"), str(scp), *map(str, outs)], tmp_path, check=True)
    assert [len(o.read_text().splitlines()) for o in outs] == [3, 3, 2, 2]
    assert "".join(o.read_text() for o in outs) == scp.read_text()
    too_many = [str(tmp_path / f"p{i}") for i in range(11)]
    proc = run([str(UTILS / "split_scp.pl"), str(scp), *too_many], tmp_path)
    assert proc.returncode != 0
    assert "cannot split the 10 lines" in proc.stderr


def test_filter_scp_keeps_order_and_excludes(tmp_path: Path) -> None:
    table = tmp_path / "wav.scp"
    table.write_text("a 1\nb 2\nc 3\nd 4\n")
    ids = tmp_path / "ids"
    ids.write_text("d x\nb\n")
    proc = run([str(UTILS / "filter_scp.pl"), str(ids), str(table)], tmp_path, check=True)
    assert proc.stdout == "b 2\nd 4\n"
    proc = run([str(UTILS / "filter_scp.pl"), "--exclude", str(ids), str(table)], tmp_path, check=True)
    assert proc.stdout == "a 1\nc 3\n"


def test_spk2utt_round_trip(tmp_path: Path) -> None:
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("LA_T_1 LA_0080\nLA_T_2 LA_0079\nLA_T_3 LA_0080\nLA_T_4 LA_0079\n")
    proc = run([str(UTILS / "utt2spk_to_spk2utt.pl"), str(utt2spk)], tmp_path, check=True)
    assert proc.stdout == "LA_0079 LA_T_2 LA_T_4\nLA_0080 LA_T_1 LA_T_3\n"
    spk2utt = tmp_path / "spk2utt"
    spk2utt.write_text(proc.stdout)
    back = run([str(UTILS / "spk2utt_to_utt2spk.pl"), str(spk2utt)], tmp_path, check=True)
    assert back.stdout == utt2spk.read_text()


def test_utt2spk_to_spk2utt_rejects_duplicates(tmp_path: Path) -> None:
    utt2spk = tmp_path / "utt2spk"
    utt2spk.write_text("a s1\nb s1\na s2\n")
    proc = run([str(UTILS / "utt2spk_to_spk2utt.pl"), str(utt2spk)], tmp_path)
    assert proc.returncode != 0
    assert f"{utt2spk}:3: utterance 'a' appears twice (also line 1)" in proc.stderr
