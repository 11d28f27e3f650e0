"""Safe loading: a model file that would run code when unpickled is refused by every program that loads
models, and the package contains no code path that executes data (a static scan of ssd/).

The hostile file is real: at the end of the test, plain ``torch.load(weights_only=False)`` runs its
command, proving that the refusals above it were what kept the command from running.
test/test_detector.py::test_code_in_an_archive_is_never_executed checks Detector.load on archives.
"""

from __future__ import annotations

import ast
import io
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import REPO, debug_dumps, speech, train_argv, write_dump, write_flac

from ssd.bin import infer
from ssd.bin import train as train_bin
from ssd.bin.detect import main as detect_main
from ssd.bin.pack import main as pack_main
from ssd.packing.archive import MANIFEST, WEIGHTS, sha256_hex, write_packed
from ssd.utils.checkpoint import FORMAT, load_checkpoint

PACKAGE = REPO / "ssd"
# The one module allowed to start a shell: Kaldi wav.scp pipe entries are trusted commands, by contract.
SHELL_ALLOWED = {"ssd/frontend/audio.py"}


class _Payload:
    """Unpickling this runs ``touch MARKER``: what a hostile model file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


def _hostile_checkpoint(path: Path, marker: Path) -> Path:
    """A checkpoint in every other respect (format tag, config, epoch) whose weights are the payload."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "config": {"model": {}}, "epoch": 1, "speakers": ["s1"],
                "model": {"backbone.fc.weight": _Payload(marker)}, "dev_eer": 0.1}, path)
    return path


def _hostile_archive(path: Path, marker: Path) -> Path:
    """A packed detector whose weights.pt is the payload, with a matching checksum in its manifest."""
    clean = path.with_name("clean.zip")
    write_packed(clean, {"tag": "hostile"}, {"backbone.fc.weight": torch.zeros(2, 2)}, {"model": {}}, "")
    buffer = io.BytesIO()
    torch.save({"backbone.fc.weight": _Payload(marker)}, buffer)
    payload = buffer.getvalue()
    with zipfile.ZipFile(clean) as src, zipfile.ZipFile(path, "w") as dst:
        manifest = json.loads(src.read(MANIFEST))
        manifest["files"][WEIGHTS] = {"sha256": sha256_hex(payload), "bytes": len(payload)}
        dst.writestr(MANIFEST, json.dumps(manifest))
        for name in src.namelist():
            if name not in (MANIFEST, WEIGHTS):
                dst.writestr(name, src.read(name))
        dst.writestr(WEIGHTS, payload)
    return path


def _exit_status(call) -> int:
    try:
        status = call()
    except SystemExit as exit_info:
        return int(exit_info.code)
    return int(status or 0)


def test_hostile_model_files_are_refused_by_every_loader(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    marker = tmp_path / "pwned"
    exp = tmp_path / "exp"
    best = _hostile_checkpoint(exp / "best.pt", marker)
    _hostile_checkpoint(exp / "last.pt", marker)
    train = write_dump(tmp_path / "train", 8, ["s1"], seed=0)
    dev = write_dump(tmp_path / "dev", 4, ["s2"], seed=1, prefix="D")
    argv = train_argv(debug_dumps(tmp_path, train, dev), exp)
    audio = write_flac(tmp_path / "probe.flac", speech(0.5))
    archive = _hostile_archive(tmp_path / "hostile.zip", marker)

    with pytest.raises(ValueError, match="best.pt: not a loadable checkpoint"):
        load_checkpoint(best)
    loaders = {
        "infer (stage 4)": lambda: infer.main(["--exp-dir", str(exp), "--data-dir", str(dev),
                                               "--out", str(tmp_path / "scores.txt")]),
        "train resuming last.pt (stage 3)": lambda: train_bin.main(argv),
        "pack (stage 6)": lambda: pack_main(["--exp-dir", str(exp), "--out", str(tmp_path / "p.zip")]),
        "ssd-detect on the experiment": lambda: detect_main([str(audio), "--model", str(exp)]),
        "ssd-detect on an archive": lambda: detect_main([str(audio), "--model", str(archive)]),
    }
    for name, call in loaders.items():
        assert _exit_status(call) == 1, name
        err = capsys.readouterr().err
        assert "not a loadable checkpoint" in err or "refused to load weights.pt" in err, (name, err)
        assert not marker.exists(), f"{name} executed code from a model file"
    assert not (tmp_path / "scores.txt").exists() and not (tmp_path / "p.zip").exists()

    torch.load(best, weights_only=False)  # the unsafe way: the payload runs
    assert marker.exists()


# --- static scan of the package --------------------------------------------------------------------

_FORBIDDEN_GROUPS = {
    "evaluates a string as code": ("eval", "exec", "compile"),
    "imports a module named by data": ("__import__",),
    "runs a shell": ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"),
    "unpickles arbitrary objects": ("pickle.load", "pickle.loads", "shelve.open", "dill.load", "dill.loads"),
    "loads code objects": ("marshal.load", "marshal.loads"),
    "constructs arbitrary objects (use yaml.safe_load)": ("yaml.load", "yaml.unsafe_load", "yaml.full_load"),
    "loads TorchScript code": ("torch.jit.load",),
}
FORBIDDEN_CALLS = {name: why for why, names in _FORBIDDEN_GROUPS.items() for name in names}
SUBPROCESS_CALLS = {"subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
                    "subprocess.check_output", "os.execv", "os.execvp", "os.execl", "os.execlp"}
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash", "zsh", "dash"}


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` of a Name/Attribute chain, with import aliases resolved (np.load -> numpy.load)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def unsafe_calls(source: str, filename: str) -> list[str]:
    """Every call in ``source`` that may execute data: forbidden functions, torch.load without
    weights_only=True, numpy.load with allow_pickle=True, shell=True, and shells started outside
    :data:`SHELL_ALLOWED`."""
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases) or ""
        where = f"{filename}:{node.lineno}"
        keywords = {k.arg: k.value for k in node.keywords}
        if name in FORBIDDEN_CALLS:
            found.append(f"{where}: {name}() {FORBIDDEN_CALLS[name]}")
        if name == "torch.load" and not _is_true(keywords.get("weights_only")):
            found.append(f"{where}: torch.load without weights_only=True")
        if name == "numpy.load" and _is_true(keywords.get("allow_pickle")):
            found.append(f"{where}: numpy.load with allow_pickle=True")
        if _is_true(keywords.get("shell")):
            found.append(f"{where}: {name or 'a call'} with shell=True")
        if name in SUBPROCESS_CALLS and node.args and isinstance(node.args[0], ast.List | ast.Tuple):
            argv = [a.value for a in node.args[0].elts if isinstance(a, ast.Constant)]
            if argv and argv[0] in SHELLS and filename not in SHELL_ALLOWED:
                found.append(f"{where}: starts a shell ({argv[0]}) outside {sorted(SHELL_ALLOWED)}")
    return found


def test_package_never_executes_data() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30  # the scan sees the package
    problems = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        problems += unsafe_calls(path.read_text(encoding="utf-8"), rel)
    assert not problems, "\n".join(problems)


def test_the_documented_pipe_reader_is_the_only_shell() -> None:
    source = (REPO / "ssd/frontend/audio.py").read_text()
    assert unsafe_calls(source, "ssd/frontend/audio.py") == []
    line = next(n for n, text in enumerate(source.splitlines(), 1) if '(["bash"' in text)
    assert unsafe_calls(source, "ssd/elsewhere.py") == [
        f"ssd/elsewhere.py:{line}: starts a shell (bash) outside ['ssd/frontend/audio.py']"]
    assert "Trust model" in source  # and its documentation says what may run


@pytest.mark.parametrize(("snippet", "problem"), [
    ("import torch\ntorch.load(f)", "torch.load without weights_only=True"),
    ("import torch as t\nt.load(f, weights_only=False)", "torch.load without weights_only=True"),
    ("import torch\ntorch.load(f, pickle_module=RESTRICTED_PICKLE, weights_only=False)",
     "torch.load without weights_only=True"),  # a pickle module of one's own is no excuse
    ("from torch import load\nload(f, map_location='cpu')", "torch.load without weights_only=True"),
    ("import numpy as np\nnp.load(f, allow_pickle=True)", "numpy.load with allow_pickle=True"),
    ("x = eval(line)", "eval() evaluates"),
    ("exec(code)", "exec() evaluates"),
    ("import os\nos.system(cmd)", "os.system() runs a shell"),
    ("import pickle\npickle.loads(b)", "pickle.loads() unpickles"),
    ("from pickle import load as l\nl(f)", "pickle.load() unpickles"),
    ("import yaml\nyaml.load(s, Loader=yaml.Loader)", "yaml.load() constructs"),
    ("import subprocess\nsubprocess.run(cmd, shell=True)", "subprocess.run with shell=True"),
    ("import subprocess as sp\nsp.Popen(['sh', '-c', cmd])", "starts a shell (sh)"),
])
def test_the_scan_catches_each_unsafe_pattern(snippet: str, problem: str) -> None:
    found = unsafe_calls(snippet, "ssd/x.py")
    assert len(found) == 1 and problem in found[0], found


def test_the_scan_accepts_the_safe_forms() -> None:
    safe = ("import torch, yaml, subprocess\nimport numpy as np\n"
            "torch.load(f, map_location='cpu', weights_only=True)\nmodel.eval()\nyaml.safe_load(s)\n"
            "np.load(f)\nsubprocess.run(['git', 'rev-parse', 'HEAD'], check=False)\n")
    assert unsafe_calls(safe, "ssd/x.py") == []
