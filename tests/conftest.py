"""Shared fixtures: every test gets its own runs dir; one tiny trained run is shared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sincos_cli.cli import app
from sincos_cli.training import numerics

numerics.strict_env()  # as the CLI does, before this session's torch does any product

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")  # the real console script
# A run small enough to train in well under a second, big enough to learn something.
TINY = ["--steps", "40", "--batch-size", "8", "--time-steps", "10", "--hidden", "8",
        "--seed", "3", "--quiet"]
# A sweep member's shape, small: 8 windows of 10 steps (the steps and width each test says).
SMALL = ["--batch-size", "8", "--time-steps", "10"]


def small(steps: int | None = None, hidden: int | None = None) -> list[str]:
    """SMALL with the steps and hidden size a test needs."""
    return ([] if steps is None else ["--steps", str(steps)]) + SMALL + (
        [] if hidden is None else ["--hidden", str(hidden)])


KINDS = ("dask", "browser", "display")  # markers that make a test slow as well


def pytest_collection_modifyitems(items):
    """A test that starts a cluster, a browser or a display is slow too, so `-m 'not slow'`
    leaves out all of them; a test that uses the browser fixture is a browser test."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
        if any(item.get_closest_marker(k) for k in KINDS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "runs"
    monkeypatch.setenv("SINCOS_RUNS_DIR", str(d))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return d


@pytest.fixture
def cli(runs_dir):
    """Invoke the app in-process; returns typer's Result (stdout and stderr apart)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(app, [str(a) for a in args], input=input)
    return invoke


def in_process(*args, root: Path | None = None, input: str | None = None,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """The app run in this process, for commands where no signal is involved: no start-up
    and no second torch import. Returns what `sincos()` does (returncode, stdout, stderr);
    `root` is the runs dir (else the test's own)."""
    env = {**(env or {}), **({"SINCOS_RUNS_DIR": str(root)} if root is not None else {})}
    res = CliRunner().invoke(app, [str(a) for a in args], input=input, env=env)
    return subprocess.CompletedProcess(["sincos", *map(str, args)], res.exit_code, res.stdout,
                                       res.stderr)


def sincos(*args: str, env: dict | None = None, input: str | None = None, cwd=None,
           timeout: float = 120, text: bool = True) -> subprocess.CompletedProcess:
    """Run the real `sincos` console script in a subprocess."""
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    return subprocess.run([exe, *map(str, args)], capture_output=True, text=text,
                          env={**os.environ, **(env or {})}, input=input, cwd=cwd,
                          timeout=timeout)


def stdout_a_terminal(*args: str, runs_dir: Path) -> subprocess.CompletedProcess:
    """Run the real `sincos` with its stdout on a pseudo-terminal (stderr captured)."""
    import pty

    master, slave = pty.openpty()
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    try:
        return subprocess.run([exe, *map(str, args)], stdout=slave, stderr=subprocess.PIPE,
                              env={**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)},
                              timeout=120)
    finally:
        os.close(slave)
        os.close(master)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """One tiny completed run, trained once through the real CLI and reused read-only."""
    root = tmp_path_factory.mktemp("shared") / "runs"
    out = sincos("train", *TINY, "--checkpoint-every", "10", "--runs-dir", root)
    assert out.returncode == 0, out.stderr
    return root / out.stdout.strip()


@pytest.fixture
def trained_copy(trained, runs_dir) -> Path:
    """A private copy of the shared run inside this test's runs dir, safe to damage."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    dst = runs_dir / trained.name
    shutil.copytree(trained, dst)
    return dst


@pytest.fixture
def small_disk(tmp_path):
    """mount(size) -> a folder on a tmpfs of that size (a disk that fills up); skips where
    a tmpfs cannot be mounted (not root). Unmounted at the end of the test."""
    mounted = []

    def mount(size: str) -> Path:
        d = tmp_path / f"disk{len(mounted)}"
        d.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                             capture_output=True)
        if res.returncode != 0:
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        mounted.append(d)
        return d
    yield mount
    for d in mounted:
        subprocess.run(["umount", d])


def drain(fd: int) -> bytes:
    """Everything a pseudo-terminal's master side holds, until the other side closed."""
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    return out


def read(path: Path):
    return json.loads(path.read_text())


def losses(path: Path) -> list[float]:
    """A run's training losses, step by step, from its metrics.jsonl."""
    return [json.loads(ln)["loss"] for ln in (path / "metrics.jsonl").read_text().splitlines()]


def steps_of(path: Path) -> list[int]:
    return [json.loads(ln)["step"] for ln in (path / "metrics.jsonl").read_text().splitlines()]


def start(*args, root: Path, **kw) -> subprocess.Popen:
    """The real `sincos` with these arguments, running in the background on `root`."""
    return subprocess.Popen([EXE, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SINCOS_RUNS_DIR": str(root)}, **kw)


def wait_for(cond, what: str, timeout: float = 90, proc=None) -> None:
    """Poll cond() until it holds; fail naming `what` on timeout, or when proc ends first."""
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before {what}: {proc.communicate()}")
        time.sleep(0.02)


def steps_written(path: Path) -> int:
    """Lines in a run's metrics.jsonl so far (0 before it exists)."""
    try:
        with open(path / "metrics.jsonl", "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def gone(pids) -> bool:
    """Every one of these processes has ended (a zombie waiting for its parent counts)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return False
        except OSError:
            pass
    return True


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (workers, ffmpeg, their children)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    pairs = [tuple(map(int, ln.split())) for ln in out.splitlines()]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {c for c, p in pairs if p in frontier} - found
        found |= frontier
    return found
