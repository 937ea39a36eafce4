"""Loss curves of many runs in one picture, reading and drawing only what it can show.

Each curve is reduced to at most a min and a max per pixel column of the axes. The first
LEGEND_MAX runs are labelled lines; up to LINES_MAX more are one line collection; past that
they become a density image (how many runs pass through each pixel), which is both what a
reader can see of ten thousand curves and far cheaper to draw.
"""

from __future__ import annotations

import functools
import math
import re
from pathlib import Path
from warnings import catch_warnings, simplefilter

import numpy as np

from .errors import SincosError
from .runs import atomic_target, read_metrics

FORMATS = (".png", ".svg", ".pdf")
LEGEND_MAX = 20
LINES_MAX = 500

_LOSS = re.compile(rb'^\{"step": \d+, "loss": ([-+0-9.eE]+|NaN|-?Infinity)[,}].*\n',
                   re.MULTILINE)
_STEP = re.compile(rb'^\{"step": (\d+),', re.MULTILINE)


@functools.lru_cache(maxsize=8)
def _counting(first: int, n: int) -> list[bytes]:
    return [b"%d" % i for i in range(first, first + n)]


def read_losses(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) from metrics.jsonl as arrays, fast: when every complete line is in
    the form sincos writes, one regex pass and numpy's own number parsing; otherwise the
    careful reader (which stops at a truncated line)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return np.empty(0, np.int64), np.empty(0)
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    found = _LOSS.findall(data)
    n = len(found)
    if n and n == data.count(b"\n"):
        # Steps as sincos writes them, one a line counting up (a resumed run's file is cut
        # back, never left with a gap or a repeat): compared as bytes, not parsed.
        steps = _STEP.findall(data)
        first = int(steps[0])
        if steps == _counting(first, n):
            return (np.arange(first, first + n, dtype=np.int64),
                    np.fromiter(map(float, found), np.float64, n))
    rows = read_metrics(path)
    return (np.array([r["step"] for r in rows], np.int64),
            np.array([r["loss"] for r in rows], np.float64))


def reduce(steps: np.ndarray, loss: np.ndarray, columns: int):
    """At most the min and the max of each of `columns` bins of steps, in step order: the
    same picture at that width (positive, finite losses only)."""
    keep = np.isfinite(loss) & (loss > 0)
    steps, loss = steps[keep], loss[keep]
    if len(steps) <= 2 * columns:
        return steps.astype(np.float64), loss
    lo, hi = steps[0], steps[-1]
    b = np.minimum(((steps - lo) * columns) // max(hi - lo, 1), columns - 1)
    starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
    imin = _argreduce(loss, starts, np.minimum)
    imax = _argreduce(loss, starts, np.maximum)
    idx = np.sort(np.unique(np.concatenate([imin, imax, [0, len(loss) - 1]])))
    return steps[idx].astype(np.float64), loss[idx]


def _argreduce(a: np.ndarray, starts: np.ndarray, op) -> np.ndarray:
    """Per bin (bins start at `starts`), the index of the bin's op-extreme value."""
    ext = op.reduceat(a, starts)
    bins = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(a)]))
    hit = np.flatnonzero(a == ext[bins])
    first = np.unique(bins[hit], return_index=True)[1]
    return hit[first]


def loss_curves(rows, out: Path, size=(8.0, 5.0), dpi: int = 100,
                curves: Curves | None = None) -> list[str]:
    """Loss curves overlaid on a log y axis; returns warnings (runs with no metrics).
    `curves`, when given, was started earlier over the same runs (Curves)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.11, top=0.92)
    width_px = columns_of(size, dpi)
    if curves is None or curves.columns != width_px:
        curves = Curves([r.path for r in rows], width_px)
    reduced = curves.by_path()
    colors = _colors()
    warnings, rest, drawn = [], [], 0
    for r in rows:
        steps, loss = reduced[r.path]
        if not len(steps):
            warnings.append(f"{r.id}: no metrics to plot")
            continue
        if drawn < LEGEND_MAX:
            ev = r.summary.get("eval_mse")
            label = f"{r.id}  eval_mse {ev:.2e}" if isinstance(ev, (int, float)) else \
                f"{r.id}  ({r.status})"
            ax.plot(steps, loss, linewidth=1.0, color=colors[drawn % len(colors)],
                    label=label)
        else:
            rest.append((steps.astype(np.float32), loss.astype(np.float32)))
        drawn += 1
    ax.set_yscale("log")
    if rest:
        _draw_rest(ax, rest, colors, width_px, int(size[1] * dpi * 0.81))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("loss curves")
    ax.grid(True, which="both", alpha=0.25)
    if drawn:
        leg = ax.legend(fontsize="small", loc="upper right")
        if drawn > LEGEND_MAX:
            leg.set_title(f"first {LEGEND_MAX} of {drawn} runs", prop={"size": "small"})
    _save(fig, out)
    return warnings


def bands(rows, keys: list[str], out: Path, size=(8.0, 5.0), dpi: int = 100) -> list[str]:
    """Each group's median loss curve with its 10–90 percentile band over runs, log y."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    columns = max(int(size[0] * dpi * 0.87), 10)
    colors = _colors()
    from .stats import group_rows

    warnings = []
    for i, members in enumerate(group_rows(rows, keys)):
        curves = [read_losses(r.path / "metrics.jsonl")[1] for r in members]
        curves = [np.where(np.isfinite(c) & (c > 0), c, np.nan) for c in curves if len(c)]
        label = ", ".join(f"{k}={members[0].setting(k)}" for k in keys)
        if not curves:
            warnings.append(f"{label}: no metrics to plot")
            continue
        n = max(len(c) for c in curves)
        grid = np.full((len(curves), n), np.nan)
        for j, c in enumerate(curves):
            grid[j, :len(c)] = c
        with catch_warnings():
            simplefilter("ignore", RuntimeWarning)  # steps no run reached: all-NaN columns
            lo, med, hi = np.nanpercentile(grid, [10, 50, 90], axis=0)
        idx = np.unique(np.linspace(0, n - 1, min(n, 2 * columns)).round().astype(int))
        color = colors[i % len(colors)]
        ax.fill_between(idx, lo[idx], hi[idx], color=color, alpha=0.2, linewidth=0)
        ax.plot(idx, med[idx], color=color, linewidth=1.2,
                label=f"{label}  (n={len(curves)})")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE)")
    ax.set_title("median loss by group, 10–90 percentile band")
    ax.grid(True, which="both", alpha=0.25)
    if ax.lines:
        ax.legend(fontsize="small", loc="upper right")
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.11, top=0.92)
    _save(fig, out)
    return warnings


def _reduced(paths: list[Path], columns: int) -> list:
    return [tuple(a.astype(np.float32) for a in reduce(*read_losses(p / "metrics.jsonl"),
                                                        columns)) for p in paths]


def columns_of(size=(8.0, 5.0), dpi: int = 100) -> int:
    """The axes' width in pixels: the most points a curve needs."""
    return max(int(size[0] * dpi * 0.87), 10)


class Curves:
    """Each run's reduced curve, computed from the moment this is made: parsing is most of
    the cost of a big plot, so past a few thousand runs it starts at once on worker
    processes (forked, no re-imports) while the caller reads the runs' summaries."""

    def __init__(self, paths: list[Path], columns: int, chunk: int = 500):
        import os

        self.paths, self.columns, self.pool, self.parts = list(paths), columns, None, None
        jobs = min(os.cpu_count() or 1, 8)
        if len(self.paths) >= 2000 and jobs >= 2 and hasattr(os, "fork"):
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork"))
            chunks = [self.paths[i:i + chunk] for i in range(0, len(self.paths), chunk)]
            self.parts = self.pool.map(_reduced, chunks, [columns] * len(chunks))

    def by_path(self) -> dict[Path, tuple]:
        try:
            if self.pool is None:
                curves = _reduced(self.paths, self.columns)
            else:
                curves = [c for part in self.parts for c in part]
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        return dict(zip(self.paths, curves, strict=True))


def _draw_rest(ax, rest, colors, width_px: int, height_px: int) -> None:
    if len(rest) <= LINES_MAX:
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(
            [np.column_stack(c) for c in rest], linewidths=0.8, alpha=0.6,
            colors=[colors[(LEGEND_MAX + i) % len(colors)] for i in range(len(rest))]))
        ax.autoscale_view()
        return
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    x1 = max(float(s[-1]) for s, _ in rest)
    x0 = min(float(s[0]) for s, _ in rest)
    y0 = min(float(np.log10(v.min())) for _, v in rest)
    y1 = max(float(np.log10(v.max())) for _, v in rest)
    lo, hi = ax.get_ylim() if ax.lines else (10 ** y0, 10 ** y1)
    y0, y1 = min(y0, math.log10(lo)), max(y1, math.log10(hi))
    W, H = width_px, height_px
    centers = x0 + (np.arange(W) + 0.5) * (x1 - x0) / W
    counts = np.zeros(W * H, np.int64)
    batch: list[np.ndarray] = []
    for s, loss in rest:
        m = np.flatnonzero((centers >= s[0]) & (centers <= s[-1]))
        ys = np.interp(centers[m], s, np.log10(loss))
        row = np.clip(((ys - y0) / max(y1 - y0, 1e-12) * (H - 1)).round(), 0, H - 1)
        batch.append(row.astype(np.int64) * W + m)
        if len(batch) >= 1000:
            counts += np.bincount(np.concatenate(batch), minlength=W * H)
            batch = []
    if batch:
        counts += np.bincount(np.concatenate(batch), minlength=W * H)
    grid = np.ma.masked_equal(counts.reshape(H, W), 0)
    xe = np.linspace(x0, x1, W + 1)
    ye = 10 ** np.linspace(y0 - 0.5 * (y1 - y0) / (H - 1), y1 + 0.5 * (y1 - y0) / (H - 1), H + 1)
    ax.pcolormesh(xe, ye, grid, cmap="Blues", norm=LogNorm(vmin=0.3, vmax=max(grid.max(), 2)),
                  shading="flat", zorder=1, rasterized=True)
    ax.set_xlim(x0, x1)
    ax.set_ylim(ye[0], ye[-1])
    ax.add_artist(ax.legend(handles=[Patch(color="#4a7fbf",
                                           label=f"{len(rest):,} more runs (density)")],
                            loc="lower left", fontsize="small"))


def _save(fig, out: Path) -> None:
    with atomic_target(out) as tmp:
        fig.savefig(tmp, format=out.suffix[1:].lower())


def _colors() -> list[str]:
    from matplotlib import rcParams

    return rcParams["axes.prop_cycle"].by_key()["color"]
