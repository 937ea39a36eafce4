"""`sincos animate`: training replayed as a GIF or MP4."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sincos_cli.errors import SincosError

from .common import (
    MAX_THREADS,
    AnimFormat,
    Quiet,
    RunArg,
    RunsDir,
    View,
    ViewOpt,
    guarded,
    say,
)
from .output import Format, emit_json, output_options


def _size(value: str) -> tuple[int, int]:
    import re

    m = re.fullmatch(r"(\d+)[xX×](\d+)", value.strip())
    if not m or not all(16 <= int(v) <= 8192 for v in m.groups()):
        raise typer.BadParameter(f"expected WIDTHxHEIGHT in pixels (16 to 8192), got {value!r}",
                                 param_hint="--size")
    return int(m.group(1)), int(m.group(2))


def _internals(path: Path, trace: dict) -> dict:
    """The trace with the internals of its steps (views/internals_scene.attach)."""
    from sincos_cli.store import internals as recorded
    from sincos_cli.views.internals_scene import attach

    return attach(trace, recorded.read(path))


def _internals_size(trace: dict) -> tuple[int, int]:
    from sincos_cli.views.internals_scene import default_size

    return default_size(trace["internals_shape"])


def _fps(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= 100):
        raise typer.BadParameter(f"must be above 0 and at most 100, got {value:g}")
    return value


@guarded
@output_options(json="Print {path, format, frames, fps, size, bytes} instead of the path "
                "(size: [width, height] in pixels).")
def animate(
    run: RunArg,
    out: Annotated[str | None, typer.Option(
        "--out", "-o", help="Output file (.gif or .mp4), or '-' for stdout.",
        show_default="animation.gif in the run folder; animation-history.gif for "
        "--view history")] = None,
    fmt: Annotated[AnimFormat | None, typer.Option(
        "--format", help="gif or mp4.", show_default="from --out's suffix")] = None,
    fps: Annotated[float, typer.Option(callback=_fps, help="Frames per second.")] = 10.0,
    every: Annotated[int, typer.Option(min=1, help="Draw every Nth step.")] = 1,
    max_frames: Annotated[int, typer.Option(
        min=1, help="Thin evenly to at most this many frames.")] = 600,
    size: Annotated[str | None, typer.Option(
        help="Frame size WIDTHxHEIGHT in pixels.", show_default="640x480; with --internals "
        "960 wide, 330 + 230 a layer high")] = None,
    dpi: Annotated[int, typer.Option(min=20, max=600, help="Dots per inch (text scale).")] = 100,
    jobs: Annotated[int, typer.Option(
        min=0, max=4 * MAX_THREADS,
        help="Worker processes; 0 = one per CPU, at most 4 (never more than the chunks "
        "of frames to render).")] = 0,
    view: ViewOpt = View["window"],
    internals: Annotated[bool, typer.Option(
        "--internals", help="Under the window, what the network did on it: a heatmap "
        "(units × time steps) of each gate, the cell and the hidden state, every layer, "
        "over training (a run trained with --record-internals).")] = False,
    runs_dir: RunsDir = None,
    quiet: Quiet = False,
    output: Format = Format.TEXT,
):
    """Replay training as a GIF or MP4 (truth red, prediction blue dashed); prints the path.

    Examples:

    \b
        sincos animate run-01
        sincos animate latest --view history --out demo.mp4 --fps 20
        sincos animate run-02 --internals --out gates.gif
    """
    if internals and view.value != "window":
        raise typer.BadParameter("--internals draws the window view", param_hint="--view")
    fmt = _format(fmt, out, fps)
    from sincos_cli.store.files import read_json
    from sincos_cli.store.runs import check_output, resolve
    from sincos_cli.store.runs import runs_dir as pick_runs_dir
    from sincos_cli.training import budget

    path = resolve(pick_runs_dir(runs_dir), run)
    # each view its own default name, so one never replaces the other
    shown = "internals" if internals else view.value
    default = "animation" if shown == "window" else f"animation-{shown}"
    dest = None if out == "-" else Path(out) if out else path / f"{default}.{fmt.value}"
    if dest is not None:
        check_output(dest, "animation")
    from sincos_cli.store.trace import read as read_trace
    from sincos_cli.views import animate as anim
    from sincos_cli.views.progress import Progress
    from sincos_cli.views.scene import style_for

    trace = read_trace(path)
    try:
        cfg = read_json(path / "config.json")
    except SincosError as e:
        say(f"warning: {e}; drawing as sin → cos")
        cfg = {}
    if internals:
        trace = _internals(path, trace)
    width, height = _size(size) if size else \
        _internals_size(trace) if internals else (640, 480)
    style = style_for(str(cfg.get("task", "sin-cos")), int(cfg.get("horizon", 1)),
                      width, height, dpi)
    frames = anim.pick_frames(len(trace["step"]), every, max_frames)
    if fmt == "gif":
        _, warning = anim.gif_delay(fps)
        if warning and not quiet:
            say(f"warning: {warning}")
    # One per CPU by default, never more than there are chunks of frames to render.
    jobs = min(jobs or min(os.cpu_count() or 1, 4), max(1, -(-len(frames) // anim.CHUNK)))
    try:
        budget.check_animate(width, height, jobs)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--size") from None
    size = []
    with Progress(len(frames), quiet=quiet, label="animate") as bar:
        def produce(target):
            size[:] = anim.render(trace, frames, style, fmt.value, target, fps, jobs,
                                  on_frames=bar.update, view=shown)
        anim.write_atomically(dest, fmt.value, produce)
    if dest is None:
        return
    if output is Format.JSON:
        emit_json({"path": str(dest), "format": fmt.value, "frames": len(frames), "fps": fps,
                   "size": size, "bytes": dest.stat().st_size})
    else:
        print(dest)


def _format(fmt: AnimFormat | None, out: str | None, fps: float) -> AnimFormat:
    """--format, or the one --out's suffix names; refused where the output cannot be."""
    if fmt is None:
        suffix = Path(out).suffix.lower() if out not in (None, "-") else ".gif"
        if suffix not in (".gif", ".mp4"):
            raise typer.BadParameter(f"unknown suffix {suffix or '(none)'!r}: use .gif or "
                                     ".mp4, or --format", param_hint="--out")
        fmt = AnimFormat(suffix[1:])
    if fmt == "gif" and 100 / fps > 65535:
        raise typer.BadParameter(f"a GIF frame lasts at most 655.35 s (--fps 0.0016 or more), "
                                 f"got {fps:g}", param_hint="--fps")
    if out == "-" and sys.stdout.isatty():
        raise typer.BadParameter("stdout is a terminal: redirect it (> clip.gif) or give a "
                                 "file", param_hint="--out")
    return fmt
