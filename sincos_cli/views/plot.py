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

from sincos_cli.errors import SincosError
from sincos_cli.store.files import atomic_target, read_metrics

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
    except (FileNotFoundError, NotADirectoryError):  # no such file: no steps
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


# Labelled curves: ten hues that stay apart (matplotlib's tab10, made for this), each
# solid, then dashed: twenty curves told apart by colour, and in greyscale by dashes.
STYLES = ("-", (0, (5, 2)), (0, (1, 1.5)), (0, (5, 1.5, 1, 1.5)))


def style(i: int, colors: list[str]) -> dict:
    return {"color": colors[i % len(colors)],
            "linestyle": STYLES[(i // len(colors)) % len(STYLES)]}


def ranked(rows, by_sort: bool):
    """The rows to label first: in the order given when the user sorted them, else the best
    eval_mse first (runs without one last)."""
    if by_sort:
        return list(rows)
    def key(r):
        ev = r.summary.get("eval_mse")
        return (0, ev) if isinstance(ev, (int, float)) else (1, 0.0)
    return sorted(rows, key=key)


def loss_curves(rows, out: Path, size=(8.0, 5.0), dpi: int = 100,
                curves: Curves | None = None, by_sort: bool = False,
                x_range: tuple[float, float] | None = None,
                labelled: int = LEGEND_MAX) -> list[str]:
    """Loss curves overlaid on a log y axis; returns warnings (runs with no metrics).

    The best `labelled` runs (by eval_mse, or in the order given with by_sort) are drawn in
    distinct colours and dashes and named in a legend beside the axes; the rest are drawn
    faint behind them (a density image past LINES_MAX). `curves`, when given, was started
    earlier over the same runs (Curves); `x_range` limits the step axis."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = ranked(rows, by_sort)
    named = min(len(rows), labelled)
    # the legend beside the axes, never over the curves: the figure widens to hold it
    fig = Figure(figsize=(size[0] + (3.2 if named else 0), size[1]), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    fig.subplots_adjust(left=max(0.1 * size[0], 1.0) / fig.get_figwidth(),
                        right=1 - 0.03 * size[0] / fig.get_figwidth() - (
                            3.2 / fig.get_figwidth() if named else 0),
                        bottom=0.11, top=0.92)
    width_px = columns_of(size, dpi)
    if curves is None or curves.columns != width_px:
        curves = Curves([r.path for r in rows], width_px)
    reduced = curves.by_path()
    colors = line_colors()
    warnings, rest, named_rows = [], [], []
    for r in rows:
        steps, loss = reduced[r.path]
        if not len(steps):
            warnings.append(f"{r.id}: no metrics to plot")
        elif len(named_rows) < labelled:
            named_rows.append((r, steps, loss))
        else:
            rest.append((steps.astype(np.float32), loss.astype(np.float32)))
    ax.set_yscale("log")
    more = _draw_rest(ax, rest, width_px, int(size[1] * dpi * 0.81)) if rest else None
    for i, (r, steps, loss) in enumerate(named_rows):
        ev = r.summary.get("eval_mse")
        label = f"{r.id}  eval_mse {ev:.2e}" if isinstance(ev, (int, float)) else \
            f"{r.id}  ({r.status})"
        ax.plot(steps, loss, linewidth=1.3, label=label, zorder=3, **style(i, colors))
    if x_range is not None:
        ax.set_xlim(*x_range)
    from . import yardsticks

    refs = yardsticks.draw(ax, yardsticks.of_runs([r.summary for r in rows]))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE); yardsticks: eval MSE")
    ax.set_title("loss curves")
    ax.grid(True, which="both", alpha=0.25)
    if named_rows:
        total = len(named_rows) + len(rest)
        title = (f"the {len(named_rows)} best of {total:,} by eval_mse" if not by_sort
                 else f"the first {len(named_rows)} of {total:,} as sorted") \
            if total > len(named_rows) else None
        handles = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
        leg = ax.legend(handles=handles + ([more] if more is not None else []) + refs,
                        fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                        borderaxespad=0, title=title, title_fontsize="small")
        leg.set_zorder(5)
    save_figure(fig, out)
    return warnings


def bands(rows, keys: list[str], out: Path, size=(8.0, 5.0), dpi: int = 100,
          stats: list[dict] | None = None) -> list[str]:
    """Each group's median loss curve with its 10–90 percentile band over runs, log y.
    `stats` (stats.groups over the same rows and keys) puts each group's median eval_mse
    and its 95% interval in the legend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    columns = max(int(size[0] * dpi * 0.87), 10)
    colors = line_colors()
    from sincos_cli.stats.groups import group_rows

    warnings, refs = [], []
    parts = group_rows(rows, keys)
    for i, members in enumerate(parts):
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
        # A faint fill outlined in the group's own colour and dashes: bands that overlap
        # stay apart, in colour and in greyscale.
        st = {"color": colors[i % len(colors)], "linestyle": STYLES[i % len(STYLES)]}
        ax.fill_between(idx, lo[idx], hi[idx], color=st["color"], alpha=0.10, linewidth=0)
        for edge in (lo, hi):
            ax.plot(idx, edge[idx], linewidth=0.7, alpha=0.8, **st)
        ax.plot(idx, med[idx], linewidth=2.0, label=f"{label}  (n={len(curves)})"
                + (_eval_note(stats[i]) if stats and i < len(stats) else ""), **st)
    ax.set_yscale("log")
    if ax.lines:
        refs = _group_yardsticks(ax, parts, keys, colors)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE); yardsticks: eval MSE")
    ax.set_title("median loss by group, 10–90 percentile band")
    ax.grid(True, which="both", alpha=0.25)
    if ax.lines:  # beside the axes, never over a band
        handles = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
        ax.legend(handles=handles + refs, fontsize="small", loc="upper left",
                  bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    extra = 3.3 if stats else 2.4  # room for the legend beside the axes
    fig.set_figwidth(size[0] + extra)
    fig.subplots_adjust(left=max(0.1 * size[0], 1.0) / fig.get_figwidth(),
                        right=1 - (extra + 0.1) / fig.get_figwidth(), bottom=0.11, top=0.92)
    save_figure(fig, out)
    return warnings


def _group_yardsticks(ax, parts: list[list], keys: list[str], colors: list[str]) -> list:
    """The yardsticks of bands(): one line for every group where the groups' data agree
    (noise-free: the same filter), else a linear filter a group, in its colour."""
    from dataclasses import replace

    from . import yardsticks

    everyone = yardsticks.of_runs([r.summary for g in parts for r in g])
    if all(y.shared for y in everyone):
        return yardsticks.draw(ax, everyone)
    refs = []
    for i, members in enumerate(parts):
        point = ", ".join(f"{k}={members[0].setting(k)}" for k in keys)
        refs += [replace(y, color=colors[i % len(colors)])
                 for y in yardsticks.of_runs([r.summary for r in members], point)
                 if y.kind == "linear"]
    return yardsticks.draw(ax, refs + [y for y in everyone if y.kind == "zero"])


def _eval_note(group: dict) -> str:
    d = group["eval_mse"]
    if d["median"] is None:
        return ""
    ci = d.get("median_ci")
    span = "" if "median_ci" not in d else (
        " [n/a]" if ci is None else f" [{ci[0]:.1e}, {ci[1]:.1e}]")
    return f"\neval_mse median {d['median']:.1e}{span}"


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


def _draw_rest(ax, rest, width_px: int, height_px: int):
    """The runs past the labelled ones, behind them: faint grey lines, or a density image.
    Returns the legend handle that names them."""
    if len(rest) <= LINES_MAX:
        from matplotlib.collections import LineCollection

        lines = LineCollection(
            [np.column_stack(c) for c in rest], linewidths=0.6, alpha=0.35, colors="0.55",
            zorder=2, label=f"{len(rest):,} more runs")
        ax.add_collection(lines)
        ax.autoscale_view()
        return lines
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
    return Patch(color="#4a7fbf", label=f"{len(rest):,} more runs (density)")


def save_figure(fig, out: Path) -> None:
    with atomic_target(out) as tmp:
        fig.savefig(tmp, format=out.suffix[1:].lower())


def line_colors() -> list[str]:
    from matplotlib import rcParams

    return rcParams["axes.prop_cycle"].by_key()["color"]
