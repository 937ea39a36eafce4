"""train --live: in a pseudo-terminal, in a window under Xvfb, and refused where neither."""

import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
from conftest import EXE, TINY, read

from sincos_cli.views.live import braille, raster

pytestmark = pytest.mark.display

BRAILLE = range(0x2801, 0x2900)


def no_display_env(runs_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return {**env, "SINCOS_RUNS_DIR": str(runs_dir), "COLUMNS": "100", "LINES": "40"}


def run_in_pty(args, env, timeout=60):
    """stderr (and the controlling terminal) a pty, stdout a pipe: as `RUN=$(sincos …)`."""
    master, slave = pty.openpty()
    p = subprocess.Popen([EXE, *args], stdout=subprocess.PIPE, stderr=slave, stdin=slave,
                         env=env)
    os.close(slave)
    chunks, deadline = [], time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                data = os.read(master, 1 << 16)
            except OSError:  # the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
        elif p.poll() is not None:
            break
    out = p.stdout.read().decode()
    p.wait(timeout=10)
    os.close(master)
    return p.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("view", ["window", "history"])
def test_terminal_view_draws_in_a_pty(runs_dir, view):
    code, out, screen = run_in_pty(["train", *TINY[:-1], "--steps", "300", "--live",
                                    "--view", view], no_display_env(runs_dir))
    assert code == 0, screen[-2000:]
    assert out.strip() == "run-01"
    drawn = {ch for ch in screen if ord(ch) in BRAILLE}
    assert len(drawn) > 5  # a plot, not a progress bar
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "step 300/300" in plain and "loss" in plain and "steps/s" in plain
    assert re.search(r"\x1b\[[0-9;]*31m[\u2800-\u28ff]", screen)  # red braille: the truth
    assert read(runs_dir / "run-01" / "run.json")["status"] == "completed"


def test_live_with_neither_display_nor_terminal_is_refused(runs_dir):
    p = subprocess.run([EXE, "train", *TINY, "--live"], capture_output=True, text=True,
                       env=no_display_env(runs_dir))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--live" in p.stderr
    assert "display" in p.stderr and "terminal" in p.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_view_needs_live_and_known_values(cli, runs_dir):
    res = cli("train", *TINY, "--view", "history")
    assert res.exit_code == 2 and "--view" in res.stderr
    res = cli("train", *TINY, "--live", "--view", "sideways")
    assert res.exit_code == 2 and "--view" in res.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_raster_and_braille():
    grid = np.zeros((8, 8), bool)  # 2 × 4 cells
    raster(grid, [0.0, 1.0], [0.0, 0.0], 0.0, 1.0)  # y = 0: the middle dot rows
    assert grid.sum() == 8 and set(np.flatnonzero(grid.any(1))) <= {3, 4}
    cells = braille(grid)
    assert cells.shape == (2, 4) and (cells[1] != 0x2800).all()
    steep = np.zeros((40, 4), bool)
    raster(steep, [0.0, 1.0], [1.2, -1.2], 0.0, 1.0)
    assert steep.any(1).all()  # a steep segment stays connected, every row has a dot
    dashed = np.zeros((8, 60), bool)
    raster(dashed, [0.0, 1.0], [0.0, 0.0], 0.0, 1.0, dash=3)
    assert 0 < dashed.sum() < 60


# -- the window, under Xvfb -----------------------------------------------------------------

@pytest.fixture(scope="module")
def xvfb():
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    r, w = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(w), "-screen", "0", "1024x768x24",
                             "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    number = b""
    while not number.endswith(b"\n"):
        chunk = os.read(r, 16)
        if not chunk:
            break
        number += chunk
    os.close(r)
    if not number.strip():
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number.decode().strip()}"
    proc.terminate()
    proc.wait(timeout=10)


def window_env(runs_dir, display):
    return {**os.environ, "DISPLAY": display, "SINCOS_RUNS_DIR": str(runs_dir)}


def find_window(display, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = subprocess.run(["xdotool", "search", "--name", "sincos train"],
                             capture_output=True, text=True, env={**os.environ,
                                                                  "DISPLAY": display})
        if out.stdout.strip():
            return out.stdout.split()[0]
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError("no live window appeared")


@pytest.mark.parametrize("view", ["window", "history"])
def test_window_view_trains_under_xvfb(runs_dir, xvfb, view):
    p = subprocess.run([EXE, "train", *TINY[:-1], "--steps", "200", "--live", "--view", view],
                       capture_output=True, text=True, env=window_env(runs_dir, xvfb),
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert read(runs_dir / "run-01" / "run.json")["status"] == "completed"


def test_closing_the_window_stops_like_ctrl_c(runs_dir, xvfb):
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool is not installed (.ci/run installs it)")
    p = subprocess.Popen([EXE, "train", *TINY[:-1], "--steps", "1000000", "--live",
                          "--name", "shut"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=window_env(runs_dir, xvfb))
    win = find_window(xvfb, p)
    time.sleep(1.0)
    # 'q' is matplotlib's close-the-figure key: the same path as the window's close button
    subprocess.run(["xdotool", "key", "--window", win, "q"], env={**os.environ,
                                                                  "DISPLAY": xvfb})
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
        raise
    assert p.returncode == 130, err
    assert out == "shut\n"
    run = read(runs_dir / "shut" / "run.json")
    assert run["status"] == "interrupted" and "window was closed" in run["error"]
    assert (runs_dir / "shut" / "checkpoint.pt").exists()


def test_without_colour_the_header_names_marks_not_colours(runs_dir):
    env = {**no_display_env(runs_dir), "NO_COLOR": "1"}
    code, out, screen = run_in_pty(["train", *TINY[:-1], "--steps", "60", "--live"], env)
    assert code == 0, screen[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    assert "truth solid, prediction dashed" in plain
    assert "red solid" not in plain and "blue" not in plain and "magenta" not in plain
    assert not re.search(r"\x1b\[[0-9;]*3[1-6]m", screen)  # no colour at all


def test_a_terminal_too_narrow_for_the_plot_gets_the_progress_bar(runs_dir):
    env = {**no_display_env(runs_dir), "COLUMNS": "50"}
    code, out, screen = run_in_pty(["train", *TINY[:-1], "--steps", "60", "--live"], env)
    assert code == 0, screen[-2000:]
    assert "the terminal is 50 columns wide; the live plot needs 68" in screen
    assert not {ch for ch in screen if ord(ch) in BRAILLE}  # no plot to wrap and garble
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    bar = [ln for ln in plain.replace("\r", "\n").splitlines()
           if not ln.startswith(("note:", "run-01 completed"))]  # plain lines, not redrawn
    assert bar and all(len(ln) <= 50 for ln in bar)  # the redrawn bar fits: nothing garbles
