"""`sincos train --live`: the tutorial's plot while training, in a window or the terminal.

Both views take each step through on_step (cheap: a reference kept, a list appended) and
redraw from the latest step a few times a second, never once per step:
- LiveWindow: a matplotlib window (TkAgg) drawn by scene.py with blitting, redrawn from the
  training thread when 0.2 s have passed (Tk wants its own thread); closing it stops
  training as Ctrl-C does.
- LiveTerminal: rich.live.Live on stderr, its own thread redrawing four times a second a
  braille plot (2×4 dots a cell) with step, loss and speed above it.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
import time

import numpy as np

from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError
from sincos_cli.training.data import batch_indices

from .scene import HistoryScene, WindowScene, style_for

REDRAW_S = 0.2  # the window's redraw period; the terminal redraws at 4 per second


def choose(stream=None) -> str:
    """'window' with a display and Tk, else 'terminal' when stderr is one, else an error."""
    stream = stream or sys.stderr
    if os.environ.get("DISPLAY") and importlib.util.find_spec("tkinter") is not None:
        return "window"
    if stream.isatty():
        return "terminal"
    raise SincosError("--live needs a display (DISPLAY, with Tk) or a terminal on stderr, "
                      "and there is neither here")


def trail_xlim(cfg: TrainConfig, first_step: int) -> tuple[float, float]:
    """x of window row 0 from `first_step`'s first point to the last step's last point."""
    first = batch_indices(first_step, 1, cfg.time_steps)[0, 0]
    last = batch_indices(max(cfg.steps - 1, first_step), 1, cfg.time_steps)[0, -1]
    return first * cfg.x_spacing, last * cfg.x_spacing


def open_view(kind: str, view: str, cfg: TrainConfig, first_step: int):
    """The live view; in a terminal too narrow for the plot, the progress bar, with a note."""
    if kind == "terminal":
        from rich.console import Console

        width = Console(file=sys.stderr).width
        if width < LiveTerminal.MIN_WIDTH:
            from .progress import Progress

            print(f"note: the terminal is {width} columns wide; the live plot needs "
                  f"{LiveTerminal.MIN_WIDTH}: showing progress instead", file=sys.stderr)
            return Progress(cfg.steps, done=first_step)
    cls = LiveWindow if kind == "window" else LiveTerminal
    return cls(view, cfg, first_step)


class _Live:
    """What both views share: the latest step, the steps not drawn yet, the speed."""

    def __init__(self, view: str, cfg: TrainConfig, first_step: int):
        self.view, self.cfg, self.first_step = view, cfg, first_step
        self.latest = None
        self.pending: list = []  # history: steps since the last redraw
        self.lock = threading.Lock()
        self.closed = False
        self._t0 = time.perf_counter()

    def on_step(self, info) -> None:
        self.latest = info
        if self.view == "history":
            with self.lock:
                self.pending.append((info.x, info.target, info.prediction))

    def take_pending(self):
        with self.lock:
            got, self.pending = self.pending, []
        if not got:
            return None
        return tuple(np.concatenate([p[i] for p in got]) for i in range(3))

    def rate(self) -> float:
        info = self.latest
        done = 0 if info is None else info.step + 1 - self.first_step
        return done / max(time.perf_counter() - self._t0, 1e-9)


class LiveWindow(_Live):
    def __enter__(self) -> LiveWindow:
        import matplotlib

        matplotlib.use("TkAgg")
        import matplotlib.pyplot as plt

        self.plt = plt
        style = style_for(self.cfg.task, self.cfg.horizon, 800, 500, 100)
        fig = plt.figure(figsize=(8, 5), dpi=100)
        fig.canvas.manager.set_window_title("sincos train --live")
        if self.view == "history":
            self.scene = HistoryScene(style, trail_xlim(self.cfg, self.first_step), fig)
        else:
            self.scene = WindowScene(style, fig)
        self.pieces: list = []  # history: to redraw the trail after a resize
        fig.canvas.mpl_connect("close_event", self._on_close)
        plt.show(block=False)
        fig.canvas.flush_events()
        self._last = 0.0
        return self

    def _on_close(self, event) -> None:
        self.closed = True

    def on_step(self, info) -> None:
        super().on_step(info)
        now = time.perf_counter()
        if now - self._last >= REDRAW_S and not self.closed:
            self._last = now
            self.redraw()

    def redraw(self) -> None:
        scene, canvas, info = self.scene, self.scene.canvas, self.latest
        if canvas.get_width_height() != scene.size:  # resized: a new background
            scene.setup()
            if self.view == "history" and self.pieces:
                scene.extend(*(np.concatenate([p[i] for p in self.pieces]) for i in range(3)))
        if info is not None:
            if self.view == "history":
                piece = self.take_pending()
                if piece is not None:
                    self.pieces.append(piece)
                    scene.extend(*piece)
                scene.render(info.step, info.loss)
            else:
                scene.render(info.x, info.target, info.prediction, info.step, info.loss)
            canvas.blit(scene.fig.bbox)
        canvas.flush_events()

    def __exit__(self, *exc) -> None:
        if not self.closed:
            if exc[0] is None:
                self.redraw()  # the last step on screen
            self.plt.close(self.scene.fig)


# -- the terminal --------------------------------------------------------------------------

_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], np.uint16)


def raster(grid: np.ndarray, xs, ys, x0: float, x1: float, dash: int = 0) -> None:
    """Draw the polyline (xs, ys) onto a dot grid (rows, cols), y from 1.2 (top) to -1.2;
    dash > 0 leaves out every other run of `dash` columns."""
    rows, cols = grid.shape
    c = (np.asarray(xs, np.float64) - x0) / max(x1 - x0, 1e-12) * (cols - 1)
    r = (1.2 - np.clip(np.asarray(ys, np.float64), -1.3, 1.3)) / 2.4 * (rows - 1)
    if len(c) == 1:
        cc, rr = np.rint(c).astype(int), np.rint(r).astype(int)
    else:
        # Every segment sampled at one point a dot, so steep parts stay connected.
        n = (np.maximum(np.abs(np.diff(c)), np.abs(np.diff(r))).astype(int) + 1)
        seg = np.repeat(np.arange(len(n)), n)
        t = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
        cc = np.rint(np.append(c[seg] + np.diff(c)[seg] * t, c[-1])).astype(int)
        rr = np.rint(np.append(r[seg] + np.diff(r)[seg] * t, r[-1])).astype(int)
    keep = (cc >= 0) & (cc < cols) & (rr >= 0) & (rr < rows)
    if dash:
        keep &= (cc // dash) % 2 == 0
    grid[rr[keep], cc[keep]] = True


def braille(grid: np.ndarray) -> np.ndarray:
    """A dot grid (4R, 2C) as braille code points (R, C)."""
    r, c = grid.shape[0] // 4, grid.shape[1] // 2
    cells = grid[:4 * r, :2 * c].reshape(r, 4, c, 2)
    return 0x2800 + np.einsum("rdcj,dj->rc", cells.astype(np.uint16), _BITS)


class LiveTerminal(_Live):
    ROWS = 16  # character rows of the plot
    MIN_WIDTH = 68  # the y labels (6) and 60 columns of plot, unwrapped

    def __enter__(self) -> LiveTerminal:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(file=sys.stderr)
        self.cols = max(60, min(self.console.width - 8, 120))
        self.marks = self._legend()
        shape = (self.ROWS * 4, self.cols * 2)
        self.truth, self.pred = np.zeros(shape, bool), np.zeros(shape, bool)
        self.xlim = trail_xlim(self.cfg, self.first_step)
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)
        self.live.start()
        return self

    def _grids(self):
        info = self.latest
        if self.view == "history":
            piece = self.take_pending()
            if piece is not None:  # drawn onto the trail kept so far
                raster(self.truth, *piece[:2], *self.xlim)
                raster(self.pred, piece[0], piece[2], *self.xlim, dash=3)
            return self.truth, self.pred, self.xlim
        truth, pred = np.zeros_like(self.truth), np.zeros_like(self.pred)
        x0, x1 = float(info.x[0]), float(info.x[-1])
        raster(truth, info.x, info.target, x0, x1)
        raster(pred, info.x, info.prediction, x0, x1, dash=3)
        return truth, pred, (x0, x1)

    def __rich_console__(self, console, options):
        from rich.text import Text

        info = self.latest
        if info is None:
            yield Text("starting…", style="dim")
            return
        truth, pred, (x0, x1) = self._grids()
        t, p = braille(truth), braille(pred)
        chars = t | p
        head = Text.assemble(
            ("step ", "dim"), (f"{info.step + 1}/{self.cfg.steps}", "bold"),
            ("   loss ", "dim"), (f"{info.loss:.4g}", "bold"),
            ("   ", ""), (f"{self.rate():,.0f} steps/s", ""), *self.marks)
        yield head
        for i in range(chars.shape[0]):
            label = {0: " 1.2", chars.shape[0] // 2: " 0.0", chars.shape[0] - 1: "-1.2"}
            line = Text()
            line.append(f"{label.get(i, ''):>5} ", style="dim")
            has_t, has_p = t[i] != 0x2800, p[i] != 0x2800
            style = np.where(has_t & has_p, 1, np.where(has_p, 2, np.where(has_t, 3, 0)))
            row = "".join(map(chr, chars[i]))
            start = 0
            names = ("", "magenta", "blue", "red")
            for j in range(1, len(row) + 1):  # runs of one colour, one span each
                if j == len(row) or style[j] != style[start]:
                    line.append(row[start:j], style=names[style[start]] or None)
                    start = j
            yield line
        left, right = f"{x0:.4g}", f"x  {x1:.4g}"
        yield Text(" " * 6 + left + " " * max(1, self.cols - len(left) - len(right)) + right,
                   style="dim")

    def _legend(self) -> tuple:
        """The header's key: in colour, and by the marks alone when there is none (the
        truth is drawn solid, the prediction broken every 3 columns)."""
        if self.console.no_color or self.console.color_system is None:
            return (("   truth ", "dim"), ("solid", ""), (", prediction ", "dim"),
                    ("dashed", ""))
        return (("   truth ", "dim"), ("red solid", "red"), (", prediction ", "dim"),
                ("blue dashed", "blue"), (", both ", "dim"), ("magenta", "magenta"))

    def __exit__(self, *exc) -> None:
        self.live.refresh()
        self.live.stop()
