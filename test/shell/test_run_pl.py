"""utils/run.pl: the Kaldi launcher contract on this machine, with real subprocesses."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from shell_helpers import UTILS, log_record, max_overlap, run

RUN_PL = str(UTILS / "run.pl")


def test_job_substituted_in_log_path_and_command(tmp_path: Path) -> None:
    run([RUN_PL, "JOB=2:4", "exp/log/t.JOB.log", "echo", "task", "JOB", "of", "split/JOB/wav.scp"], tmp_path,
        check=True)
    assert sorted(p.name for p in (tmp_path / "exp/log").iterdir()) == ["t.2.log", "t.3.log", "t.4.log"]
    for task in (2, 3, 4):
        rec = log_record(tmp_path / f"exp/log/t.{task}.log")
        assert rec["cmd"] == f"echo task {task} of split/{task}/wav.scp"
        assert f"\ntask {task} of split/{task}/wav.scp\n" in rec["text"]
        assert rec["code"] == 0


def test_log_header_and_footer(tmp_path: Path) -> None:
    cmd = ["echo", "out;", "echo", "err", ">&2"]
    run([RUN_PL, "--num-threads", "3", "log/a.log", *cmd], tmp_path, check=True)
    lines = (tmp_path / "log/a.log").read_text().splitlines()
    assert lines[0] == "# echo out; echo err >&2"
    assert lines[1].startswith("# Started at ")
    assert lines[2] == "#"
    assert lines[3:5] == ["out", "err"]
    assert lines[5].startswith("# Accounting: time=") and lines[5].endswith(" threads=3")
    assert lines[6].startswith("# Ended (code 0) at ")
    rec = log_record(tmp_path / "log/a.log")
    assert rec["start"] <= rec["end"]


def test_failing_task_gives_nonzero_exit_and_names_its_log(tmp_path: Path) -> None:
    proc = run([RUN_PL, "JOB=1:4", "log/f.JOB.log", "echo JOB; [ JOB -ne 3 ]"], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "run.pl: 1 / 4 failed, log is in log/f.3.log"
    assert [log_record(tmp_path / f"log/f.{t}.log")["code"] for t in (1, 2, 3, 4)] == [0, 0, 1, 0]


def test_several_failures_are_all_named(tmp_path: Path) -> None:
    proc = run([RUN_PL, "JOB=1:4", "log/f.JOB.log", "exit $((JOB % 2))"], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "run.pl: 2 / 4 failed, logs are in log/f.1.log log/f.3.log"


def test_single_job_failure_reports_code(tmp_path: Path) -> None:
    proc = run([RUN_PL, "log/one.log", "exit 3"], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "run.pl: job failed with code 3, log is in log/one.log"
    assert log_record(tmp_path / "log/one.log")["code"] == 3


def test_max_jobs_run_serialises(tmp_path: Path) -> None:
    run([RUN_PL, "--max-jobs-run", "1", "JOB=1:3", "log/s.JOB.log", "sleep", "0.3"], tmp_path, check=True)
    records = [log_record(tmp_path / f"log/s.{t}.log") for t in (1, 2, 3)]
    assert max_overlap(records) == 1


def test_without_limit_tasks_overlap(tmp_path: Path) -> None:
    """Counterpart of the test above: the overlap measure does see parallel tasks."""
    run([RUN_PL, "--max-jobs-run", "3", "JOB=1:3", "log/p.JOB.log", "sleep", "0.5"], tmp_path, check=True)
    records = [log_record(tmp_path / f"log/p.{t}.log") for t in (1, 2, 3)]
    assert max_overlap(records) == 3


def test_arguments_with_blanks_are_quoted_and_pipe_words_stay_shell(tmp_path: Path) -> None:
    """Kaldi's rule: words without blanks are shell syntax as they are, others are quoted."""
    cmd = ["echo", "a  b", "it's \"x\" $HOME", "|", "tr", "a-z", "A-Z"]
    run([RUN_PL, "log/q.log", *cmd], tmp_path, check=True)
    rec = log_record(tmp_path / "log/q.log")
    assert "\nA  B IT'S \"X\" $HOME\n" in rec["text"]


def test_pipeline_failure_is_not_hidden(tmp_path: Path) -> None:
    proc = run([RUN_PL, "log/pf.log", "false | cat"], tmp_path)
    assert proc.returncode == 1
    assert log_record(tmp_path / "log/pf.log")["code"] == 1


def test_pick_failed_reruns_only_failed_tasks(tmp_path: Path) -> None:
    run([RUN_PL, "JOB=1:3", "log/r.JOB.log", "echo first JOB; [ JOB -ne 2 ]"], tmp_path)
    before = {t: (tmp_path / f"log/r.{t}.log").read_text() for t in (1, 3)}
    pick = [RUN_PL, "--pick", "failed", "JOB=1:3", "log/r.JOB.log"]
    proc = run([*pick, "echo second JOB"], tmp_path, check=True)
    assert proc.stderr == ""
    assert {t: (tmp_path / f"log/r.{t}.log").read_text() for t in (1, 3)} == before
    rec = log_record(tmp_path / "log/r.2.log")
    assert rec["cmd"] == "echo second 2" and rec["code"] == 0
    proc = run([*pick, "echo third JOB"], tmp_path, check=True)
    assert "nothing to run" in proc.stderr
    assert log_record(tmp_path / "log/r.2.log")["cmd"] == "echo second 2"


def test_pick_failed_needs_the_footer_on_the_last_line(tmp_path: Path) -> None:
    """A footer followed by more output (say, a log printed by the command) is not a finished task."""
    log = tmp_path / "log/n.1.log"
    run([RUN_PL, "JOB=1:2", "log/n.JOB.log", "true"], tmp_path, check=True)
    log.write_text(log.read_text() + "more output\n")
    run([RUN_PL, "--pick", "failed", "JOB=1:2", "log/n.JOB.log", "echo again JOB"], tmp_path, check=True)
    assert log_record(log)["cmd"] == "echo again 1"
    assert log_record(tmp_path / "log/n.2.log")["cmd"] == "true"


def test_resource_options_are_accepted(tmp_path: Path) -> None:
    opts = ["--gpu", "1", "--mem", "4G", "--time", "1:00:00", "--num-nodes", "1", "--ntasks-per-node", "1"]
    run([RUN_PL, *opts, "--config", "conf/none.conf", "log/o.log", "true"], tmp_path, check=True)
    assert log_record(tmp_path / "log/o.log")["code"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gpus", "1", "log/x.log", "true"], "unknown option --gpus"),
        (["--max-jobs-run", "0", "log/x.log", "true"], "--max-jobs-run takes a positive integer"),
        (["--pick", "some", "log/x.log", "true"], "--pick takes 'all' or 'failed'"),
        (["JOB=1:3", "log/x.log", "true"], "does not contain 'JOB'"),
        (["JOB=3:1", "log/x.JOB.log", "true"], "bad job range 'JOB=3:1'"),
        (["log/x.log"], "Usage: run.pl"),
        (["-l", "arch=*64", "log/x.log", "true"], "unknown option -l (options start with --)"),
    ],
)
def test_bad_command_lines(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run([RUN_PL, *args], tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "log").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_stops_tasks_and_footers_record_it(tmp_path: Path, sig: signal.Signals) -> None:
    marker = f"sleep 97.{sig.value}"
    proc = subprocess.Popen([RUN_PL, "JOB=1:2", "log/k.JOB.log", f"{marker} | cat"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    logs = [tmp_path / f"log/k.{t}.log" for t in (1, 2)]
    deadline = time.monotonic() + 20
    while not all(p.exists() for p in logs) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + sig.value
    assert f"caught {sig.name}" in err
    assert [log_record(p)["code"] for p in logs] == [128 + sig.value] * 2
    left = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    assert left == ""


def test_signal_to_run_pl_alone_reaches_whole_pipelines(tmp_path: Path) -> None:
    """kill <pid of run.pl> (not its group): the signal is passed on to every process of each task."""
    marker = "sleep 96.5"
    proc = subprocess.Popen([RUN_PL, "JOB=1:2", "log/t.JOB.log", f"{marker} | cat | cat"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    logs = [tmp_path / f"log/t.{t}.log" for t in (1, 2)]
    deadline = time.monotonic() + 20
    while not all(p.exists() for p in logs) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM.value, err
    assert [log_record(p)["code"] for p in logs] == [128 + signal.SIGTERM.value] * 2
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""
