"""`animate --internals`: the window's curves above, and under them what the network did
on that window, one heatmap a panel (units × time steps): an LSTM's four gates, its cell
state and its hidden state, a GRU's gates, candidate and hidden state, a plain RNN's hidden
state; one row of panels a layer.

Each panel keeps one colour scale for the whole animation (gates 0 to 1, candidates and
hidden states −1 to 1, the cell state ± its largest size over the run), printed on its
colour bar; the colour map (cividis) darkens monotonically, so a frame reads in grey too.
The figure is laid out once; each frame restores the background drawn without the moving
artists (the images, the two lines, the title, the x axis of the curves) and draws only
those: a frame costs a fifth of a full redraw, whose time goes to the many static axes.
"""

from __future__ import annotations

import numpy as np

from sincos_cli.store.internals import TITLES, Shape

from .scene import Style

WIDTH = 960  # the default frame: the panels stay legible down to 800 px wide


def default_size(shape: Shape) -> tuple[int, int]:
    return WIDTH, 330 + 230 * shape.layers


def limits(shape: Shape, values: np.ndarray) -> list[tuple[float, float]]:
    """Each panel's colour range, fixed for the whole animation."""
    out = []
    for j, p in enumerate(shape.panels):
        if p in ("i", "f", "o", "r", "z"):
            out.append((0.0, 1.0))
        elif p == "c":
            top = float(np.nanmax(np.abs(values[:, :, j]))) if values.size else 1.0
            top = max(top, 1e-6) if np.isfinite(top) else 1.0
            out.append((-top, top))
        else:
            out.append((-1.0, 1.0))
    return out


class InternalsScene:
    """One Agg figure, updated in place; render() returns an (H, W, 3) uint8 frame."""

    def __init__(self, style: Style, shape: Shape, ranges: list[tuple[float, float]]):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        self.shape = shape
        fig = self.fig = Figure(figsize=(style.width / style.dpi, style.height / style.dpi),
                                dpi=style.dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(fig)
        P, L = len(shape.panels), shape.layers
        grid = fig.add_gridspec(1 + L, P, height_ratios=[1.25] + [1] * L)
        ax = self.ax = fig.add_subplot(grid[0, :])
        ax.set_ylim(-1.2, 1.2)
        ax.set_xlabel("x")
        ax.set_ylabel(style.truth_label)
        self.truth, = ax.plot([], [], "r-", label="truth")
        self.pred, = ax.plot([], [], "b--", label=f"prediction from {style.input_name}")
        # Above the axes, where no curve can cross them: the step and loss, and the legend
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False,
                  fontsize="small", borderaxespad=0.2)
        self.title = ax.text(0.0, 1.03, "step 0", transform=ax.transAxes, va="bottom")
        T, H = shape.T, shape.hidden
        self.images = []
        for k in range(L):
            for j, p in enumerate(shape.panels):
                pax = fig.add_subplot(grid[1 + k, j])
                lo, hi = ranges[j]
                im = pax.imshow(np.zeros((H, T)), aspect="auto", origin="lower",
                                cmap="cividis", vmin=lo, vmax=hi, interpolation="nearest",
                                extent=(0.5, T + 0.5, 0.5, H + 0.5))
                layer = f" · layer {k + 1}" if L > 1 else ""
                pax.set_title(TITLES[p] + layer, fontsize="small")
                pax.tick_params(labelsize="x-small", labelleft=j == 0)
                for axis in (pax.xaxis, pax.yaxis):
                    axis.set_major_locator(MaxNLocator(nbins=4, integer=True))
                if k == L - 1:
                    pax.set_xlabel("time step", fontsize="small")
                if j == 0:
                    pax.set_ylabel("unit", fontsize="small")
                bar = fig.colorbar(im, ax=pax, fraction=0.06, pad=0.03, aspect=14,
                                   ticks=[lo, 0, hi] if lo < 0 else [0, 0.5, 1],
                                   format="%.2g")
                bar.ax.tick_params(labelsize="x-small")
                self.images.append(im)
        self.canvas.draw()
        fig.set_layout_engine("none")  # laid out once: nothing moves between frames
        self.moving = [*self.images, self.truth, self.pred, self.title, ax.xaxis]
        for a in self.moving:
            a.set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)
        for a in self.moving:
            a.set_visible(True)
        self.size = self.canvas.get_width_height()

    def render(self, x, target, prediction, step, loss, values: np.ndarray) -> np.ndarray:
        """values: (layers, panels, T, hidden), this frame's record."""
        self.ax.set_xlim(float(x[0]), float(x[-1]))
        self.truth.set_data(x, target)
        self.pred.set_data(x, prediction)
        self.title.set_text(f"step {int(step) + 1}    loss {float(loss):.4g}")
        for im, panel in zip(self.images, values.reshape(-1, *values.shape[2:]), strict=True):
            im.set_data(panel.T)  # rows: units, columns: time steps
        self.canvas.restore_region(self.background)
        for a in self.moving:
            a.axes.draw_artist(a)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def attach(trace: dict, found) -> dict:
    """The trace cut to the steps whose internals were recorded (a store.internals.
    Internals), each with its record, for the animation's workers."""
    keep = np.isin(trace["step"], found.steps)
    out = {k: v[keep] for k, v in trace.items()}
    values = found.values[np.isin(found.steps, out["step"])]
    return {**out, "internals": values, "internals_shape": found.shape,
            "internals_ranges": limits(found.shape, values)}
