"""utils/slurm.pl against a real Slurm and utils/queue.pl against a real Grid Engine.

Start the single-node clusters first (as root): test/shell/slurm_cluster.sh start and
test/shell/sge_cluster.sh start. Without them these tests are skipped, except under CI=true where
they fail.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import need
from shell_helpers import UTILS, log_record, max_overlap, run

TEST_SLURM_CONF = Path(os.environ.get("SSD_SLURM_DIR", "/tmp/ssd-slurm")) / "etc" / "slurm.conf"


def answers(args: list[str], env: dict[str, str]) -> bool:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=20, env=env)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and proc.stdout.strip() != ""


@dataclass
class Backend:
    name: str
    prog: str
    env: dict[str, str]
    array_arg: Callable[[str, str], str]  # (task spec, max) -> how the submit line shows the array
    queued: Callable[[str], bool]  # is the job still known to the scheduler as queued/running?


@functools.cache
def slurm_env() -> tuple[dict[str, str], bool]:
    """The environment reaching the test Slurm, and whether its controller answers (checked once)."""
    env = dict(os.environ)
    if "SLURM_CONF" not in env and not Path("/etc/slurm/slurm.conf").exists() and TEST_SLURM_CONF.exists():
        env["SLURM_CONF"] = str(TEST_SLURM_CONF)
    # scontrol ping answers at once when the controller is down (sinfo retries for seconds).
    up = answers(["scontrol", "ping"], env) and answers(["sinfo", "-h", "-o", "%T"], env)
    return env, up


@functools.cache
def sge_up() -> bool:
    return answers(["qselect"], dict(os.environ))


def slurm_backend() -> Backend:
    env, up = slurm_env()
    need(up, "no Slurm controller answers: start one with test/shell/slurm_cluster.sh start (as root)")

    def queued(job: str) -> bool:
        return answers(["squeue", "-h", "-j", job, "-o", "%i"], env)

    return Backend(
        "slurm", str(UTILS / "slurm.pl"), env,
        lambda spec, mx: f"--array={spec}" + (f"%{mx}" if mx else ""), queued,
    )


def sge_backend() -> Backend:
    env = dict(os.environ)
    need(sge_up(), "no Grid Engine answers: start one with test/shell/sge_cluster.sh start (as root)")

    def queued(job: str) -> bool:
        return subprocess.run(["qstat", "-j", job], capture_output=True, env=env).returncode == 0

    return Backend(
        "sge", str(UTILS / "queue.pl"), env,
        lambda spec, mx: f"-t {spec}" + (f" -tc {mx}" if mx else ""), queued,
    )


@pytest.fixture(params=["slurm", "sge"])
def backend(request: pytest.FixtureRequest) -> Backend:
    return slurm_backend() if request.param == "slurm" else sge_backend()


def submit(b: Backend, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return run([b.prog, *args], cwd, env=b.env, timeout=180)


def submitted_with(script: Path) -> str:
    """The submit command recorded in the job script's header."""
    lines = script.read_text().splitlines()
    assert lines[1].startswith("# Written by"), lines[:3]
    return lines[2]


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def test_array_with_one_failing_task(backend: Backend, tmp_path: Path) -> None:
    proc = submit(backend, tmp_path, "JOB=1:4", "log/f.JOB.log", "echo task JOB; sleep 1; [ JOB -ne 3 ]")
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last == f"{Path(backend.prog).name}: 1 / 4 failed, log is in log/f.3.log"
    records = [log_record(tmp_path / f"log/f.{t}.log") for t in (1, 2, 3, 4)]
    assert [r["code"] for r in records] == [0, 0, 1, 0]
    assert [r["cmd"] for r in records] == [f"echo task {t}; sleep 1; [ {t} -ne 3 ]" for t in (1, 2, 3, 4)]
    assert all(f"\ntask {t}\n" in r["text"] for t, r in zip((1, 2, 3, 4), records, strict=True))
    assert backend.array_arg("1-4", None) in submitted_with(tmp_path / "log/q/f.sh")
    assert max_overlap(records) >= 2  # the node runs two at a time when nothing limits it


def test_max_jobs_run_limits_concurrency(backend: Backend, tmp_path: Path) -> None:
    submit(backend, tmp_path, "--max-jobs-run", "1", "JOB=1:3", "log/m.JOB.log", "sleep", "1")
    assert backend.array_arg("1-3", 1) in submitted_with(tmp_path / "log/q/m.sh")
    records = [log_record(tmp_path / f"log/m.{t}.log") for t in (1, 2, 3)]
    assert [r["code"] for r in records] == [0, 0, 0]
    assert max_overlap(records) == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_cancels_the_job(backend: Backend, tmp_path: Path, sig: signal.Signals) -> None:
    marker = f"sleep 95{sig.value}.{os.getpid() % 1000}"
    proc = subprocess.Popen([backend.prog, "JOB=1:3", f"log/k{sig.value}.JOB.log", marker], cwd=tmp_path,
                            env=backend.env, stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = tmp_path / f"log/k{sig.value}.1.log"
    wait_until(first.exists, 60, "the first task to start")
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig.value, err
    found = re.search(rf"caught {sig.name}, cancelled job (\d+) of log/k{sig.value}\.JOB\.log", err)
    assert found, err
    job = found.group(1)
    wait_until(lambda: not backend.queued(job), 60, f"job {job} to leave the queue")

    def tasks_gone() -> bool:
        return subprocess.run(["pgrep", "-f", marker], capture_output=True).stdout == b""

    wait_until(tasks_gone, 30, f"the processes of job {job} to end")
    assert not (tmp_path / f"log/k{sig.value}.3.log").exists()  # the pending task never ran


def test_pick_failed_reruns_only_failed_tasks(backend: Backend, tmp_path: Path) -> None:
    proc = submit(backend, tmp_path, "JOB=1:5", "log/p.JOB.log", "echo first JOB; [ $((JOB % 2)) -eq 1 ]")
    assert proc.returncode == 1
    assert "2 / 5 failed, logs are in log/p.2.log log/p.4.log" in proc.stderr
    before = {t: (tmp_path / f"log/p.{t}.log").read_text() for t in (1, 3, 5)}
    proc = submit(backend, tmp_path, "--pick", "failed", "JOB=1:5", "log/p.JOB.log", "echo second JOB")
    assert proc.returncode == 0, proc.stderr
    assert {t: (tmp_path / f"log/p.{t}.log").read_text() for t in (1, 3, 5)} == before
    for t in (2, 4):
        rec = log_record(tmp_path / f"log/p.{t}.log")
        assert (rec["cmd"], rec["code"]) == (f"echo second {t}", 0)
    expected = backend.array_arg("2,4", None) if backend.name == "slurm" else backend.array_arg("1-2", None)
    assert expected in submitted_with(tmp_path / "log/q/p.sh")
    script = (tmp_path / "log/q/p.sh").stat().st_mtime_ns
    proc = submit(backend, tmp_path, "--pick", "failed", "JOB=1:5", "log/p.JOB.log", "echo third JOB")
    assert proc.returncode == 0
    assert "nothing to run" in proc.stderr
    assert (tmp_path / "log/q/p.sh").stat().st_mtime_ns == script


def test_resource_options_reach_the_job(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "slurm":
        opts, expected = ["--num-threads", "2", "--mem", "1G"], "2 1024"
        show = "$SLURM_CPUS_PER_TASK $SLURM_MEM_PER_NODE"
    else:
        opts, show, expected = ["--num-threads", "2"], "$NSLOTS", "2"
    submit(backend, tmp_path, *opts, "log/o.log", f"echo {show}")
    rec = log_record(tmp_path / "log/o.log")
    assert rec["code"] == 0
    assert f"\n{expected}\n" in rec["text"]
    assert "threads=2\n" in rec["text"]


def test_slurm_multi_task_job_starts_ranks_with_srun(tmp_path: Path) -> None:
    b = slurm_backend()
    ranks = "srun bash -c 'echo rank $SLURM_PROCID of $SLURM_NTASKS'"
    proc = submit(b, tmp_path, "--ntasks-per-node", "2", "log/r.log", ranks)
    assert proc.returncode == 0, proc.stderr
    text = log_record(tmp_path / "log/r.log")["text"]
    assert sorted(li for li in text.splitlines() if li.startswith("rank ")) == ["rank 0 of 2", "rank 1 of 2"]


@pytest.mark.parametrize("prog", ["slurm.pl", "queue.pl"])
def test_option_not_described_by_conf_is_an_error(tmp_path: Path, prog: str) -> None:
    proc = run([str(UTILS / prog), "--gpus", "1", "log/x.log", "true"], tmp_path)
    assert proc.returncode == 1
    assert f"{prog}: option --gpus 1 is not described in built-in {prog} defaults" in proc.stderr
    assert not (tmp_path / "log").exists()


@pytest.mark.parametrize("prog", ["slurm.pl", "queue.pl"])
def test_conf_file_errors_name_the_line(tmp_path: Path, prog: str) -> None:
    conf = tmp_path / "site.conf"
    conf.write_text("command sbatch\n# comment\noptoin gpu=* --gres=gpu:$0\n")
    proc = run([str(UTILS / prog), "--config", str(conf), "log/x.log", "true"], tmp_path)
    assert proc.returncode == 1
    assert f"{conf}:3: unknown line type 'optoin'" in proc.stderr
    conf.write_text("option mem=* --mem=$0\n")
    proc = run([str(UTILS / prog), "--config", str(conf), "log/x.log", "true"], tmp_path)
    assert f"{conf}: no 'command' line" in proc.stderr
    conf.write_text("command qsub\noption mem=* -l mem_free=$0\n")
    opts = ["--mem", "2G", "--time", "1:0:0"]
    proc = run([str(UTILS / prog), "--config", str(conf), *opts, "log/x.log", "true"], tmp_path)
    assert f"option --time 1:0:0 is not described in {conf} (it describes: mem=*)" in proc.stderr


def without_scheduler(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH has perl and bash but no scheduler commands: submission fails."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("perl", "bash", "nproc"):
        found = subprocess.run(["which", tool], capture_output=True, text=True, check=True).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    return {**os.environ, "PATH": str(bin_dir)}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("slurm.conf", "sbatch --export=ALL --parsable --job-name=x --output=Q/x.out --gres=gpu:2 "
         "--mem=3G --ntasks-per-node=2 --nodes=3 --cpus-per-task=4 --time=1:00:00 Q/x.sh"),
        ("queue.conf", "qsub -V -cwd -S /bin/bash -j y -terse -N x -o Q/x.out -l gpu=2 -l mem_free=3G "
         "-pe smp 4 -l h_rt=1:00:00 Q/x.sh"),
    ],
)
def test_recipe_conf_maps_the_generic_options(tmp_path: Path, name: str, expected: str) -> None:
    """The shipped confs turn cmd.sh's options into these submit commands (recorded in the job script)."""
    conf = Path(__file__).resolve().parents[2] / "egs" / "asvspoof2019_la" / "conf" / name
    prog = "slurm.pl" if name == "slurm.conf" else "queue.pl"
    opts = ["--gpu", "2", "--mem", "3G", "--num-threads", "4", "--time", "1:00:00"]
    if prog == "slurm.pl":
        opts += ["--num-nodes", "3", "--ntasks-per-node", "2"]
    proc = run([str(UTILS / prog), "--config", str(conf), *opts, "log/x.log", "true"], tmp_path,
               env=without_scheduler(tmp_path))
    assert proc.returncode == 1
    assert "submission failed" in proc.stderr
    assert submitted_with(tmp_path / "log/q/x.sh") == "#   " + expected.replace("Q/", f"{tmp_path}/log/q/")
    if prog == "queue.pl":
        proc = run([str(UTILS / prog), "--config", str(conf), "--num-nodes", "3", "log/x.log", "true"],
                   tmp_path)
        assert "option --num-nodes 3 is not described" in proc.stderr
