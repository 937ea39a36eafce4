"""What a user types cannot destroy a run, leave debris, or print a traceback (real CLI)."""

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import time

import pytest
from conftest import EXE, TINY, descendants, drain, read, sincos, stdout_a_terminal


@pytest.mark.parametrize("target", ["{run}/checkpoint.pt", "{run}/run.json",
                                    "{run}/../{name}/trace.bin", "link/config.json"])
def test_animate_never_writes_over_a_run_file(cli, trained_copy, runs_dir, target):
    (runs_dir / "link").symlink_to(trained_copy)
    before = {f.name: f.read_bytes() for f in trained_copy.iterdir() if f.is_file()}
    out = target.format(run=trained_copy, name=trained_copy.name)
    out = out if out.startswith("/") else str(runs_dir / out)
    res = cli("animate", trained_copy.name, "--format", "gif", "--out", out)
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "refusing to write" in res.stderr
    assert {f.name: f.read_bytes() for f in trained_copy.iterdir() if f.is_file()} == before


def test_compare_plot_never_writes_into_a_run(cli, trained_copy):
    res = cli("compare", "--plot", trained_copy / "loss.png")
    assert res.exit_code == 1 and "never writes into runs" in res.stderr
    assert not (trained_copy / "loss.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_animate_ends_workers_and_ffmpeg_and_removes_temporaries(
        runs_dir, tmp_path, sig, code):
    env = {**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)}
    args = [a if a != "40" else "600" for a in TINY]
    assert subprocess.run([EXE, "train", *args, "--name", "long"], env=env).returncode == 0
    outdir = tmp_path / "out"
    outdir.mkdir()
    out = outdir / "x.mp4"
    # As from a terminal: a runner started in the background (`cmd &`, nohup) hands its
    # children Ctrl-C ignored, and sincos, like any Unix tool, keeps a signal it inherits
    # ignored.
    p = subprocess.Popen([EXE, "animate", "long", "--out", out, "--jobs", "2", "--size",
                          "1280x960", "--max-frames", "600", "-q"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not list(outdir.glob(".x.mp4.*.tmp")) or len(descendants(p.pid)) < 3:
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.05)
    kids = descendants(p.pid)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert err.strip() == "Error: interrupted"
    time.sleep(0.3)
    assert not [k for k in kids if os.path.exists(f"/proc/{k}")], "children left behind"
    assert list(outdir.iterdir()) == []


@pytest.mark.parametrize("args", [["train", *TINY, "--threads", "100000"],
                                  ["animate", "x", "--jobs", "1000"],
                                  ["sweep", "--seeds", "1", "--workers", "100000"]])
def test_thread_and_process_counts_are_bounded(cli, runs_dir, args):
    res = cli(*args)
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("name", ["latest", "1", "007", ".hidden", "-x", "sweep-01"])
def test_names_the_selectors_read_otherwise_are_refused(runs_dir, name):
    res = sincos("train", *TINY, f"--name={name}", env={"SINCOS_RUNS_DIR": str(runs_dir)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "invalid run name" in res.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.parametrize("args,needle", [
    (["--batch-size", "10000000"], "--batch-size 10000000"),
    (["--time-steps", "10000000"], "--time-steps 10000000"),
    (["--hidden", "100000"], "--hidden 100000"),
    (["--batch-size", str(10**18)], "needs about"),
])
def test_sizes_that_cannot_fit_fail_fast(runs_dir, args, needle):
    t0 = time.time()
    res = sincos("train", *args, "-q", env={"SINCOS_RUNS_DIR": str(runs_dir)})
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr and "available" in res.stderr
    assert time.time() - t0 < 20
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_animate_size_times_jobs_is_checked(cli, trained_copy, monkeypatch):
    from sincos_cli.training import budget

    monkeypatch.setattr(budget, "available", lambda: 200 * 2**20)
    res = cli("animate", trained_copy.name, "--size", "8000x8000", "--jobs", "2")
    assert res.exit_code == 2 and "8000x8000 frames × 2 jobs" in res.stderr
    assert not list(trained_copy.glob("animation.*")) and not list(trained_copy.glob(".*tmp"))


@pytest.mark.slow
def test_full_disk_ends_the_run_failed_and_resumable(runs_dir, small_disk):
    tiny = small_disk("300k")
    res = sincos("train", "--steps", "3000", "--checkpoint-every", "50", "-q",
                 env={"SINCOS_RUNS_DIR": str(tiny)})
    assert res.returncode == 1 and "No space left on device" in res.stderr
    run = read(tiny / "run-01" / "run.json")
    assert run["status"] == "failed" and "No space left" in run["error"]
    import torch

    step = torch.load(tiny / "run-01" / "checkpoint.pt", weights_only=True)["step"]
    lines = (tiny / "run-01" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == step  # no step past what the checkpoint continues from
    shutil.copytree(tiny / "run-01", runs_dir / "run-01")
    res = sincos("train", "--resume", "run-01", "--steps", step + 10, "-q",
                 env={"SINCOS_RUNS_DIR": str(runs_dir)})
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_late_signals_do_not_change_the_exit_code(runs_dir):
    """Signals landing around the final save: exit code and status always agree."""
    env = {**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)}
    expect = {"completed": {0}, "interrupted": {130, 143}}
    for i, delay in enumerate([0.6, 0.8, 1.0, 1.2, 1.4, 1.6]):
        p = subprocess.Popen([EXE, "train", *TINY, "--steps", "60", "--name", f"r{i}"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(delay)
        for _ in range(3):
            try:
                p.send_signal(signal.SIGTERM if i % 2 else signal.SIGINT)
            except ProcessLookupError:
                break
            time.sleep(0.002)
        p.communicate(timeout=60)
        path = runs_dir / f"r{i}" / "run.json"
        if not path.exists():
            continue  # stopped before the run folder was made
        status = read(path)["status"]
        assert p.returncode in expect.get(status, {-1}), (status, p.returncode)


def test_an_unreadable_run_does_not_hide_the_others(cli, runs_dir, trained):
    runs_dir.mkdir(parents=True)
    for name in ("run-01", "run-02", "run-03"):
        shutil.copytree(trained, runs_dir / name)
    os.chmod(runs_dir / "run-02", 0)
    # As a user without the right to read it: root, here, minus the capabilities that let
    # root read anything.
    drop = []
    if os.getuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot make a folder unreadable")
        drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    try:
        res = subprocess.run([*drop, EXE, "compare"], capture_output=True, text=True,
                             env={**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)})
    finally:
        os.chmod(runs_dir / "run-02", 0o755)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == ["run-01", "run-02", "run-03"]
    assert lines[2].split()[1] == "unreadable"
    assert "warning: run-02 is unreadable" in res.stderr


def test_gif_fps_below_what_gif_can_store_is_refused(cli, trained_copy):
    res = cli("animate", trained_copy.name, "--fps", "0.001")
    assert res.exit_code == 2 and "655.35 s" in res.stderr
    assert res.stderr.count("\n") == 1


def test_animate_to_stdout_refuses_a_terminal(runs_dir, trained_copy):
    p = stdout_a_terminal("animate", trained_copy.name, "--out", "-", runs_dir=runs_dir)
    assert p.returncode == 2 and b"stdout is a terminal" in p.stderr


@pytest.mark.parametrize("data,args,expect", [
    (b"\xef\xbb\xbf0.1\n0.2\n", [], 2),
    (b"0.1\n\n0.2\n\n\n", [], 2),
    (b"\xef\xbb\xbfsin,cos\n0.1,1\n\n0.2,1\n\n", ["--column", "sin"], 2),
])
def test_predict_takes_input_as_files_really_come(cli, trained_copy, data, args, expect):
    res = cli("predict", trained_copy.name, "-", *args, "--json", input=data)
    assert res.exit_code == 0, res.stderr
    assert len(json.loads(res.stdout)["points"]) == expect


def test_predict_refuses_duplicate_columns_and_quotes_bad_values_briefly(cli, trained_copy):
    res = cli("predict", trained_copy.name, "-", "--column", "a", input=b"a,b,a\n1,2,3\n")
    assert res.exit_code == 1 and "names column 'a' twice" in res.stderr
    res = cli("predict", trained_copy.name, "-", input=b"0.1\n" + b"\x1b[31m" + b"y" * 200)
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "\\x1b" in res.stderr and "y" * 50 not in res.stderr


@pytest.mark.slow
def test_ctrl_c_says_how_to_continue(runs_dir):
    env = {**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)}
    p = subprocess.Popen([EXE, "train", *[a if a != "40" else "1000000" for a in TINY],
                          "--name", "cut"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (runs_dir / "cut" / "metrics.jsonl").exists():
        assert time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert "resume with: sincos train --resume cut" in err


def _complete(shell, words, runs_dir):
    env = {**os.environ, "SINCOS_RUNS_DIR": str(runs_dir), "_SINCOS_COMPLETE": f"complete_{shell}"}
    if shell == "bash":
        env.update(COMP_WORDS=words, COMP_CWORD=str(len(words.split(" ")) - 1))
    else:
        env["_TYPER_COMPLETE_ARGS"] = words
        env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    return subprocess.run([EXE], capture_output=True, text=True, env=env).stdout


@pytest.mark.slow
def test_shell_completion_offers_run_and_sweep_ids(runs_dir):
    for name in ("run-01", "run-02", "sweep-01"):
        (runs_dir / name).mkdir(parents=True)
    for name in ("run-01", "run-02"):
        (runs_dir / name / "run.json").write_text("{}")
    (runs_dir / "sweep-01" / "sweep.json").write_text("{}")
    assert _complete("bash", "sincos animate run-", runs_dir).split() == ["run-01", "run-02"]
    assert _complete("bash", "sincos train --resume ", runs_dir).split() == [
        "run-01", "run-02", "latest"]
    assert "sweep-01" in _complete("zsh", "sincos compare sw", runs_dir)
    assert "sweep-01" in _complete("fish", "sincos sweep --resume sw", runs_dir)
    assert "run-01" not in _complete("bash", "sincos sweep --resume ", runs_dir)
    for shell in ("bash", "zsh", "fish"):
        script = sincos("--show-completion", shell).stdout
        assert "_SINCOS_COMPLETE" in script, (shell, sincos("--show-completion", shell).stderr)


@pytest.mark.parametrize("command", ["train", "sweep", "animate", "predict", "compare",
                                     "show", "rm", "tag", "note"])
def test_help_is_clean_and_has_examples(command):
    res = sincos(command, "--help", env={"COLUMNS": "200"})
    assert res.returncode == 0
    assert "Examples:" in res.stdout and f"sincos {command}" in res.stdout
    import re

    assert not re.search(r" \.(\s|$)", res.stdout)  # no stray space before a full stop


def test_compare_fits_the_terminal_without_wrapping(trained, runs_dir):
    runs_dir.mkdir(parents=True)
    for i in range(1, 4):
        shutil.copytree(trained, runs_dir / f"run-0{i}")
    for cols in (80, 120):
        master, slave = pty.openpty()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        p = subprocess.run([EXE, "compare", "--all"], stdout=slave, stderr=subprocess.PIPE,
                           env={**env, "SINCOS_RUNS_DIR": str(runs_dir)})
        os.close(slave)
        out = drain(master)
        os.close(master)
        import re

        lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in
                 out.decode().replace("\r", "").splitlines() if ln.strip()]
        assert p.returncode == 0
        assert all(len(ln) <= cols for ln in lines), lines
        assert sum(ln.lstrip().startswith("run-") for ln in lines) == 3  # one line a row
        assert b"left out to fit the terminal" in p.stderr


@pytest.mark.slow
def test_every_commands_help_reads_at_80_columns():
    """Piped help at 80 columns: every option's full name, no line past 80, no metavar on
    a flag, and the choices a user must know (compare --sort, animate --json's fields)."""
    import typer

    from sincos_cli.cli import app

    group = typer.main.get_command(app)
    for name, command in group.commands.items():
        res = sincos(name, "--help", env={"COLUMNS": "80"})
        assert res.returncode == 0, name
        lines = res.stdout.splitlines()
        assert all(len(ln) <= 80 for ln in lines), (name, max(lines, key=len))
        for param in command.params:
            for opt in (*param.opts, *param.secondary_opts):
                if opt.startswith("-"):
                    assert opt in res.stdout, (name, opt)
            if getattr(param, "is_flag", False):
                assert not re.search(rf"{re.escape(param.opts[0])} <", res.stdout), (name, param)
    out = sincos("compare", "--help", env={"COLUMNS": "80"}).stdout
    assert "eval_mse, final_loss" in re.sub(r"\s+", " ", out)  # --sort's columns
    out = sincos("animate", "--help", env={"COLUMNS": "80"}).stdout
    assert "size" in out.split("--json")[1][:200]
