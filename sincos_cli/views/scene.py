"""The tutorial's picture on a matplotlib figure, redrawn fast with blitting.

Two views of the same training trace (red truth, blue dashed prediction, y fixed at ±1.2,
step and loss in the title):
- `window`: the current step's window, x following it (WindowScene);
- `history`: the original's never-cleared axes, every step's window left on the figure
  along x, early steps on the left (HistoryScene). Each step's segments are drawn onto what
  is already drawn, so a frame costs the same at step 10 and at step 100,000.

`animate` gives each worker its own Agg figure; `train --live` passes the figure of a
window (TkAgg, itself an Agg canvas) and blits what changed to the screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    width: int = 640
    height: int = 480
    dpi: int = 100
    truth_label: str = "cos(x)"
    input_name: str = "sin(x)"


def style_for(task: str, horizon: int, width: int, height: int, dpi: int) -> Style:
    truth = {"sin-cos": "cos(x)", "cos-sin": "sin(x)"}.get(task, f"sin(x + {horizon}Δx)")
    return Style(width, height, dpi, truth, "cos(x)" if task == "cos-sin" else "sin(x)")


class _Scene:
    """The figure both views share: axes, the two lines, the legend above, the title."""

    def __init__(self, style: Style, fig=None):
        if fig is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=(style.width / style.dpi, style.height / style.dpi),
                         dpi=style.dpi)
            FigureCanvasAgg(fig)
        self.fig, self.canvas = fig, fig.canvas
        ax = self.ax = fig.add_subplot()
        ax.set_autoscale_on(False)
        ax.set_ylim(-1.2, 1.2)
        ax.set_xlim(0, 1)
        ax.set_ylabel(style.truth_label)
        self.truth, = ax.plot([], [], "r-", label="truth")
        self.pred, = ax.plot([], [], "b--", label=f"prediction from {style.input_name}")
        # Above the axes, where no line can cross it: the legend is drawn once, in the
        # background, instead of on every frame (it cost a third of a frame).
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False,
                  borderaxespad=0.2)
        # The title sits a row above the legend, so the two never overlap at any width.
        self.title = ax.set_title("step 0", loc="left", pad=20)
        self.style = style

    def _margins(self, bottom: float) -> None:
        # In inches: text keeps its size in points whatever the frame size.
        w_in, h_in = self.fig.get_size_inches()
        self.fig.subplots_adjust(left=min(0.75 / w_in, 0.4), right=1 - min(0.25 / w_in, 0.1),
                                 bottom=min(bottom / h_in, 0.4), top=1 - min(0.62 / h_in, 0.4))

    def _capture(self, moving) -> None:
        """The background without the moving artists; `moving` in the order Axes.draw uses
        (children sorted stably by zorder), so blitted frames equal a full redraw."""
        ids = {id(a) for a in moving}
        self.moving = sorted((a for a in self.ax.get_children() if id(a) in ids),
                             key=lambda a: a.get_zorder())
        for a in self.moving:
            a.set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        for a in self.moving:
            a.set_visible(True)
        # A full draw last: it lays out what the hidden draw skipped (the title's position).
        self.canvas.draw()
        self.size = self.canvas.get_width_height()

    def _draw_moving(self) -> None:
        for a in self.moving:
            self.ax.draw_artist(a)

    def _set_title(self, step, loss) -> None:
        # updates done (1…N), as the live view and the progress lines count them
        self.title.set_text(f"step {int(step) + 1}    loss {float(loss):.4g}")

    def pixels(self) -> np.ndarray:
        # buffer_rgba() is a view the next draw overwrites: copy out the RGB planes now.
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


class WindowScene(_Scene):
    """The current window only. render() returns an (H, W, 3) uint8 frame."""

    def __init__(self, style: Style, fig=None):
        super().__init__(style, fig)
        from matplotlib.lines import TICKDOWN
        from matplotlib.ticker import MaxNLocator, NullLocator
        from matplotlib.transforms import ScaledTranslation

        ax = self.ax
        ax.set_xlabel("x", labelpad=19)  # below the tick labels drawn by hand (below)
        # The moving x ticks, drawn as matplotlib draws them (TICKDOWN markers, labels
        # below) but by us: Axis.draw lays every label out twice and re-places the axis
        # label on each frame, half of a frame's cost. The x axis itself stays static.
        ax.xaxis.set_major_locator(NullLocator())
        self.locator = MaxNLocator(nbins=5)
        along_x = ax.get_xaxis_transform()  # x in data, y in axes fraction
        self.tick_marks, = ax.plot([], [], linestyle="none", marker=TICKDOWN, color="black",
                                   markersize=3.5, markeredgewidth=0.8, clip_on=False,
                                   transform=along_x, zorder=2.01)
        below = along_x + ScaledTranslation(0, -7 / 72, self.fig.dpi_scale_trans)
        self.tick_labels = [ax.text(0, 0, "", transform=below, ha="center", va="top",
                                    fontsize="medium", clip_on=False, zorder=2.02)
                            for _ in range(12)]
        self._margins(0.55)
        self.setup()

    def setup(self) -> None:
        """(Re)capture the background: after creation, and after a window resize."""
        self._capture((self.truth, self.pred, self.title, self.tick_marks, *self.tick_labels,
                       *self.ax.spines.values()))

    def _ticks(self, lo: float, hi: float) -> None:
        ticks = [t for t in self.locator.tick_values(lo, hi) if lo <= t <= hi]
        step = self.locator.tick_values(lo, hi)[1:3]
        step = float(step[1] - step[0]) if len(step) == 2 else 1.0
        decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
        if not math.isclose(round(step * 10**decimals), step * 10**decimals, abs_tol=1e-6):
            decimals += 1
        self.tick_marks.set_data(ticks, [0.0] * len(ticks))
        for i, label in enumerate(self.tick_labels):
            if i < len(ticks):
                label.set_position((ticks[i], 0.0))
                label.set_text(f"{ticks[i]:.{decimals}f}".replace("-", "\N{MINUS SIGN}"))
            else:
                label.set_text("")

    def _update(self, x, target, prediction, step, loss) -> None:
        lo, hi = float(x[0]), float(x[-1])
        self.ax.set_xlim(lo, hi)
        self._ticks(lo, hi)
        self.truth.set_data(x, target)
        self.pred.set_data(x, prediction)
        self._set_title(step, loss)

    def render(self, x, target, prediction, step, loss) -> np.ndarray:
        self._update(x, target, prediction, step, loss)
        self.canvas.restore_region(self.background)
        self._draw_moving()
        return self.pixels()

    def render_full(self, x, target, prediction, step, loss) -> np.ndarray:
        """A complete redraw, the slow way: what render() must equal (used by tests)."""
        self._update(x, target, prediction, step, loss)
        self.canvas.draw()
        return self.pixels()


class HistoryScene(_Scene):
    """The trail: x fixed to the whole run's range; extend() draws new steps onto it."""

    def __init__(self, style: Style, xlim: tuple[float, float], fig=None):
        super().__init__(style, fig)
        self.ax.set_xlabel("x")
        lo, hi = xlim
        self.ax.set_xlim(lo, hi if hi > lo else lo + 1)
        self._margins(0.55)
        self.setup()

    def setup(self) -> None:
        """(Re)capture the background; the trail starts empty."""
        self._capture((self.truth, self.pred, self.title, *self.ax.spines.values()))
        # The trail is drawn under the spines and title, which are redrawn on each frame.
        self.trail_moving = [a for a in self.moving if a not in (self.truth, self.pred)]
        self.trail = self.background
        self._last = None

    @staticmethod
    def _joined(piece, last):
        """A piece's points as flat arrays, starting where the previous piece ended."""
        x, t, p = (np.asarray(a, np.float64).reshape(-1) for a in piece)
        if last is not None:
            x, t, p = (np.concatenate([[a0], a]) for a0, a in zip(last, (x, t, p), strict=True))
        return x, t, p

    def _draw_piece(self, x, t, p) -> None:
        self.truth.set_data(x, t)
        self.pred.set_data(x, p)
        self.ax.draw_artist(self.truth)
        self.ax.draw_artist(self.pred)

    def extend(self, x, target, prediction) -> None:
        """Draw windows (n, T) (or one (T,)) onto the trail, joined to the last one drawn."""
        x, t, p = self._joined((x, target, prediction), self._last)
        self._last = (x[-1], t[-1], p[-1])
        self.canvas.restore_region(self.trail)
        self._draw_piece(x, t, p)
        self.trail = self.canvas.copy_from_bbox(self.fig.bbox)

    def render(self, step, loss) -> np.ndarray:
        self._set_title(step, loss)
        self.canvas.restore_region(self.trail)
        for a in self.trail_moving:
            self.ax.draw_artist(a)
        return self.pixels()

    def render_scratch(self, pieces, step, loss) -> np.ndarray:
        """The same frame drawn from nothing, with no saved trail: the static background,
        every piece in order, then title and spines (what render() must equal; tests)."""
        self.canvas.restore_region(self.background)
        last = None
        for piece in pieces:
            x, t, p = self._joined(piece, last)
            last = (x[-1], t[-1], p[-1])
            self._draw_piece(x, t, p)
        self._set_title(step, loss)
        for a in self.trail_moving:
            self.ax.draw_artist(a)
        return self.pixels()
