"""The pictures of `sincos report`, as bytes ready to embed: (data, mime type, (width,
height) in pixels).

Small figures (one run's loss and learning rate, its prediction) are SVG with text kept as
text: sharp at any zoom and in print, and a few tens of kilobytes. Figures of many curves
(the overlaid curves of a set, a sweep's bands) are PNG, whose size does not grow with the
number of points. The training replay is the GIF `sincos animate` makes, or its last frame
as a PNG.
"""

from __future__ import annotations

import io
import math
import tempfile
from pathlib import Path

import numpy as np

from sincos_cli.errors import SincosError, reason
from sincos_cli.store.files import read_json, read_metrics

Picture = tuple[bytes, str, tuple[int, int]]
WIDTH = 8.0  # inches at 100 dpi: 800 px, the page's main column
SVG_RC = {"svg.fonttype": "none", "svg.hashsalt": "sincos"}  # real text; stable ids


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _svg(fig) -> Picture:
    from matplotlib import rc_context

    buf = io.BytesIO()
    with rc_context(SVG_RC):
        fig.savefig(buf, format="svg")
    w, h = fig.get_size_inches() * fig.dpi
    return buf.getvalue(), "image/svg+xml", (round(w), round(h))


def _file(draw, suffix: str, mime: str) -> tuple[Picture, list[str]]:
    """A figure that plot.py writes to a file (atomically), read back as bytes, and the
    drawing's warnings."""
    with tempfile.TemporaryDirectory(prefix="sincos-report-") as d:
        out = Path(d) / f"figure{suffix}"
        warnings = draw(out) or []  # a drawing with nothing to warn of returns None
        data = out.read_bytes()
    from PIL import Image

    size = Image.open(io.BytesIO(data)).size if suffix == ".png" else (0, 0)
    return (data, mime, size), warnings


def run_loss(path: Path, summary: dict) -> Picture:
    """The training loss (log scale, solid) and the learning rate (right axis, dashed) by
    step, the best step marked."""
    from sincos_cli.views.plot import reduce

    rows = read_metrics(path / "metrics.jsonl")
    if not rows:
        raise SincosError("metrics.jsonl has no steps")
    steps = np.array([r["step"] for r in rows], np.int64)
    loss = np.array([r["loss"] for r in rows], np.float64)
    lr = np.array([r.get("lr", math.nan) for r in rows], np.float64)
    xs, ys = reduce(steps, loss, 700)
    fig = _figure(WIDTH, 4.6)
    ax = fig.add_subplot()
    ax.set_yscale("log")
    lines = ax.plot(xs, ys, color="#1f4e8c", linewidth=1.4, label="training loss (MSE)")
    best, at = summary.get("best_loss"), summary.get("best_step")
    if isinstance(best, (int, float)) and isinstance(at, int) and best > 0:
        lines += ax.plot([at], [best], linestyle="none", marker="o", markersize=7,
                         markerfacecolor="none", markeredgecolor="black",
                         label=f"best: {best:.2e} at step {at}")
    from sincos_cli.views import yardsticks

    lines += yardsticks.draw(ax, yardsticks.of_runs([summary]))
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (MSE, log scale)")
    ax.grid(True, which="both", alpha=0.25)
    if np.isfinite(lr).any():
        ax2 = ax.twinx()
        pick = np.unique(np.linspace(0, len(lr) - 1, min(len(lr), 1400)).round().astype(int))
        lines += ax2.plot(steps[pick], lr[pick], color="#b35806", linestyle=(0, (5, 2)),
                          linewidth=1.3, label="learning rate (right axis)")
        ax2.set_ylabel("learning rate")
        ax2.set_ylim(0, float(np.nanmax(lr)) * 1.08)
    # below the axes, where no curve can run under it
    ax.legend(handles=lines, loc="upper left", bbox_to_anchor=(0.0, -0.16), ncol=3,
              frameon=False, fontsize="small")
    fig.subplots_adjust(left=1.05 / WIDTH, right=0.89, bottom=0.24, top=0.96)  # room for 6×10⁻¹
    return _svg(fig)


def later(fn, *args):
    """fn(*args) in a forked process started now (where fork exists and this process has
    not imported torch, whose threads do not survive a fork; otherwise here, now); returns
    get() -> its result, raising what it raised as a one-line SincosError. The process is a
    daemon: this one ends it when it exits, on an error or a signal too."""
    import multiprocessing as mp
    import sys

    if "torch" in sys.modules or "fork" not in mp.get_all_start_methods():
        try:
            value = fn(*args)
        except Exception as e:
            error = reason(e)

            def failed():
                raise SincosError(error)
            return failed
        return lambda: value
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child() -> None:
        try:
            result = ("ok", fn(*args))
        except BaseException as e:  # whatever it was (Ctrl-C too), the parent says it
            result = ("error", reason(e))
        try:
            send.send(result)
        except BaseException:  # the parent is gone, or going: nobody to tell
            pass

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    send.close()

    def get():
        try:
            kind, value = recv.recv()
        except EOFError:
            raise SincosError(f"its process ended (exit code {proc.exitcode})") from None
        finally:
            recv.close()
            proc.join()
        if kind == "error":
            raise SincosError(value)
        return value
    return get


PERIODS_BEFORE, PERIODS_AFTER = 2, 6


def prediction(path: Path, cfg: dict, steps_done: int) -> tuple[Picture, dict]:
    """The model against the truth over a range that ends past the training data: two
    periods before the last x training saw and six after it, fed from a zero state four
    windows earlier. Returns the picture and {"mse_past", "mse_before", "x_end"}."""
    import torch

    from sincos_cli.training.data import range_series
    from sincos_cli.training.predict import Predictor, load_model

    torch.set_num_threads(1)
    model, conf = load_model(path)
    T, B = conf.time_steps, conf.batch_size
    last_index = (max(steps_done, 1) - 1) * T + B * T - 1  # the last point training saw
    x_end = last_index * conf.x_spacing
    period = 2 * math.pi
    warm = 4 * T
    lo = max(0.0, x_end - PERIODS_BEFORE * period - warm * conf.x_spacing)
    points = int(round((x_end + PERIODS_AFTER * period - lo) / conf.x_spacing)) + 1
    x, inp, target = range_series(lo, points, conf)
    pred = Predictor(model)(inp).astype(np.float64)
    if not np.isfinite(pred).all():
        raise SincosError("the model's output is not finite")
    shown = x >= x_end - PERIODS_BEFORE * period
    past = x > x_end
    before = shown & ~past
    mse_past = float(np.mean((pred[past] - target[past]) ** 2))
    mse_before = float(np.mean((pred[before] - target[before]) ** 2)) if before.any() \
        else None
    style = _style(cfg)
    fig = _figure(WIDTH, 3.6)
    ax = fig.add_subplot()
    ax.axvspan(x_end, float(x[-1]), color="0.93", zorder=0)
    ax.axvline(x_end, color="black", linestyle=(0, (1, 2)), linewidth=1.2, zorder=1)
    ax.plot(x[shown], target[shown], "r-", linewidth=1.5, label=f"truth: {style.truth_label}")
    ax.plot(x[shown], pred[shown], "b--", linewidth=1.5,
            label=f"prediction from {style.input_name}")
    ax.text(x_end, 1.32, " end of the training data → past it", ha="left", va="bottom",
            fontsize="small")
    ax.set_ylim(-1.25, 1.25)
    ax.set_xlim(float(x[shown][0]), float(x[-1]))
    ax.set_xlabel("x (radians)")
    ax.set_ylabel(style.truth_label)
    ax.grid(True, alpha=0.25)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), ncol=2, frameon=False,
              fontsize="small")
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.3, top=0.9)
    return _svg(fig), {"mse_past": mse_past, "mse_before": mse_before, "x_end": x_end}


def _style(cfg: dict, size: tuple[int, int] = (640, 480)):
    """animate's picture (640×480 unless told) for a run's task."""
    from sincos_cli.views.scene import style_for

    return style_for(str(cfg.get("task", "sin-cos")), int(cfg.get("horizon", 1)), *size, 100)


def _config(path: Path) -> dict:
    """config.json, or {} when it cannot be read (the replay draws as sin → cos then)."""
    try:
        return read_json(path / "config.json")
    except SincosError:
        return {}


def still(path: Path) -> tuple[Picture, int]:
    """The replay's last frame (the window of the last step traced) as a PNG, and its
    step, counted from 1 as the frame's title counts it."""

    from sincos_cli.store.trace import read
    from sincos_cli.views.scene import WindowScene

    trace = read(path)
    if not len(trace["step"]):
        raise SincosError("trace has no steps")
    scene = WindowScene(_style(_config(path)))
    i = len(trace["step"]) - 1
    pixels = scene.render_full(trace["x"][i], trace["target"][i], trace["prediction"][i],
                               trace["step"][i], trace["loss"][i])
    return _png(pixels), int(trace["step"][i]) + 1


def _png(pixels: np.ndarray) -> Picture:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", optimize=True)
    h, w = pixels.shape[:2]
    return buf.getvalue(), "image/png", (w, h)


def internals_still(path: Path) -> tuple[Picture, int]:
    """`animate --internals`'s frame of the last step whose internals were recorded, 800
    pixels wide, and its step counted from 1."""
    from sincos_cli.store import internals
    from sincos_cli.store.trace import read
    from sincos_cli.views.internals_scene import InternalsScene, attach, default_size

    cfg = _config(path)
    found = attach(read(path), internals.read(path))
    if not len(found["step"]):
        raise SincosError("internals.bin holds none of the traced steps")
    shape = found["internals_shape"]
    size = (800, default_size(shape)[1] * 800 // default_size(shape)[0])
    scene = InternalsScene(_style(cfg, size), shape, found["internals_ranges"])
    i = len(found["step"]) - 1
    pixels = scene.render(*(found[k][i] for k in ("x", "target", "prediction", "step",
                                                  "loss", "internals")))
    return _png(pixels), int(found["step"][i]) + 1


def animation(path: Path, max_frames: int, fps: float = 10.0) -> tuple[Picture, int]:
    """The replay as `sincos animate` draws it by default (640×480, the window view) as a
    GIF of at most max_frames frames, and how many frames it has."""
    import os

    from sincos_cli.store.trace import read
    from sincos_cli.views import animate as anim

    trace = read(path)
    if not len(trace["step"]):
        raise SincosError("trace has no steps")
    frames = anim.pick_frames(len(trace["step"]), 1, max_frames)
    # as animate: one process per CPU, at most 4, never more than the chunks of frames
    jobs = min(os.cpu_count() or 1, 4, max(1, -(-len(frames) // anim.CHUNK)))
    with tempfile.TemporaryDirectory(prefix="sincos-report-") as d:
        out = Path(d) / "animation.gif"
        size = anim.render(trace, frames, _style(_config(path)), "gif", out, fps, jobs)
        data = out.read_bytes()
    return (data, "image/gif", tuple(size)), len(frames)


def curves(rows, labelled: int) -> tuple[Picture, list[str]]:
    """Loss curves of many runs overlaid, the best `labelled` named (plot.loss_curves)."""
    from sincos_cli.views.plot import loss_curves

    return _file(lambda out: loss_curves(rows, out, labelled=labelled), ".png", "image/png")


def bands(rows, keys: list[str], stats: list[dict]) -> tuple[Picture, list[str]]:
    """Each group's median loss and its 10–90 percentile band (plot.bands)."""
    from sincos_cli.views.plot import bands as draw

    return _file(lambda out: draw(rows, keys, out, stats=stats), ".png", "image/png")


def profile(rows, keys: list[str], threshold: float) -> Picture:
    """Each group's performance profile with its 95% band (views.profiles)."""
    from sincos_cli.stats.profiles import profiles
    from sincos_cli.views.profiles import profile_figure

    pic, _ = _file(lambda out: profile_figure(profiles(rows, keys), out, threshold=threshold),
                   ".png", "image/png")
    return pic
