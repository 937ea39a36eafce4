"""Replay a run's trace as a GIF or MP4: the tutorial's live plot, one frame per step, fast.

Speed comes from four things, each measured in tests/bench/bench_animate.py:
- one Agg figure updated in place, blitting: a background without the moving artists is
  drawn once; each frame restores it and redraws only the x axis, the two lines, the spines,
  legend and title (the artists a new x range or new data can touch), in the order a full
  draw uses, so frames equal a full redraw;
- GIF frames mapped to one fixed palette with a numpy lookup table (white stays white, no
  per-frame palette drift) and LZW-encoded by Pillow frame by frame, cropped to what changed;
- MP4 frames piped raw into the ffmpeg that imageio-ffmpeg ships;
- frames split across worker processes in small chunks, consumed in order with a bounded
  number in flight, so memory stays flat in the number of frames.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sincos_cli.errors import SincosError
from sincos_cli.store.files import atomic_target

from .scene import HistoryScene, Style, WindowScene

CHUNK = 16  # frames per worker task


# -- frames ---------------------------------------------------------------------------------

def pick_frames(n: int, every: int = 1, max_frames: int | None = None) -> np.ndarray:
    """Indices of the steps to draw: every `every`-th, then evenly thinned to max_frames."""
    idx = np.arange(0, n, every)
    if max_frames and len(idx) > max_frames:
        idx = idx[np.unique(np.linspace(0, len(idx) - 1, max_frames).round().astype(int))]
    return idx


# -- GIF -----------------------------------------------------------------------------------

def palette() -> np.ndarray:
    """256 fixed colours: the 6×6×6 web cube and 40 greys between its levels."""
    levels = np.array([0, 51, 102, 153, 204, 255])
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    greys = np.setdiff1d(np.linspace(0, 255, 46).round().astype(int), levels)[:40]
    pal = np.concatenate([cube, np.repeat(greys[:, None], 3, 1)])
    return np.pad(pal, ((0, 256 - len(pal)), (0, 0))).astype(np.uint8)


def palette_lut(pal: np.ndarray) -> np.ndarray:
    """Nearest palette index for every colour at 5 bits a channel (32,768 entries)."""
    v = np.round(np.arange(32) * 255 / 31)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 1, 3)
    used = pal[: 216 + 40].astype(np.float64)
    out = np.empty(len(rgb), np.uint8)
    for s in range(0, len(rgb), 4096):  # chunks keep the distance matrix small
        out[s:s + 4096] = np.argmin(((rgb[s:s + 4096] - used) ** 2).sum(-1), axis=1)
    return out


def to_indices(frame: np.ndarray, lut: np.ndarray) -> np.ndarray:
    f = frame.astype(np.uint16) >> 3
    return lut[(f[..., 0] << 10) | (f[..., 1] << 5) | f[..., 2]]


def gif_header(width: int, height: int, pal: np.ndarray) -> bytes:
    screen = struct.pack("<6sHHBBB", b"GIF89a", width, height, 0xF7, 0, 0)
    loop = b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    return screen + pal.tobytes() + loop


def gif_frame(idx: np.ndarray, prev: np.ndarray | None, delay_cs: int) -> bytes:
    """One GIF frame: the rectangle that changed since `prev` (the whole frame if None)."""
    from PIL import GifImagePlugin, Image

    y0, x0, y1, x1 = 0, 0, idx.shape[0], idx.shape[1]
    if prev is not None:
        diff = idx != prev
        rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
        if len(rows):
            y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        else:
            y0, y1, x0, x1 = 0, 1, 0, 1  # nothing changed: a 1-pixel frame holds the delay
    crop = np.ascontiguousarray(idx[y0:y1, x0:x1])
    im = Image.frombuffer("P", (crop.shape[1], crop.shape[0]), crop, "raw", "P", 0, 1)
    # disposal 1: leave the frame in place, so the next one only paints what changes
    parts = GifImagePlugin.getdata(im, offset=(int(x0), int(y0)), duration=delay_cs * 10,
                                   disposal=1)
    return b"".join(bytes(p) for p in parts)


# -- workers ------------------------------------------------------------------------------

_W: dict = {}


def _init_worker(style: Style, fmt: str, delay_cs: int, view: str, trace: dict) -> None:
    if view == "history":
        xs = trace["x"]
        scene = HistoryScene(style, (float(xs[0][0]), float(xs[-1][-1])))
    elif view == "internals":
        from .internals_scene import InternalsScene

        scene = InternalsScene(style, trace["internals_shape"], trace["internals_ranges"])
    else:
        scene = WindowScene(style)
    _W.update(scene=scene, view=view, drawn=0, fmt=fmt, delay=delay_cs)
    if fmt == "gif":
        _W["palette"] = palette()
        _W["lut"] = palette_lut(_W["palette"])


def _chunk(frames: np.ndarray, c: int) -> np.ndarray:
    return frames[c * CHUNK:(c + 1) * CHUNK]


def _n_chunks(frames: np.ndarray) -> int:
    return -(-len(frames) // CHUNK)


def _piece(trace: dict, frames: np.ndarray, j: int):
    """The steps a history frame j adds to frame j-1's trail: (frames[j-1], frames[j]]."""
    lo = frames[j - 1] + 1 if j > 0 else 0
    hi = frames[j] + 1
    return trace["x"][lo:hi], trace["target"][lo:hi], trace["prediction"][lo:hi]


def _frames_of(trace: dict, frames: np.ndarray, c: int):
    """Chunk c's frames as pictures, in order."""
    scene, sel = _W["scene"], _chunk(frames, c)
    if _W["view"] == "internals":
        for i in sel:
            yield scene.render(trace["x"][i], trace["target"][i], trace["prediction"][i],
                               trace["step"][i], trace["loss"][i], trace["internals"][i])
        return
    if _W["view"] == "window":
        for i in sel:
            yield scene.render(trace["x"][i], trace["target"][i], trace["prediction"][i],
                               trace["step"][i], trace["loss"][i])
        return
    first = c * CHUNK
    # A worker renders every jobs-th chunk: bring its trail up to this chunk, piece by
    # piece exactly as a single process would, so the output is the same for any --jobs.
    while _W["drawn"] < first:
        scene.extend(*_piece(trace, frames, _W["drawn"]))
        _W["drawn"] += 1
    for j, i in enumerate(sel, first):
        scene.extend(*_piece(trace, frames, j))
        _W["drawn"] = j + 1
        yield scene.render(trace["step"][i], trace["loss"][i])


def _work(trace: dict, frames: np.ndarray, c: int) -> bytes:
    """Render (and, for GIF, encode) chunk c of the frames."""
    out, prev = [], None
    for frame in _frames_of(trace, frames, c):
        if _W["fmt"] == "gif":
            idx = to_indices(frame, _W["lut"])
            out.append(gif_frame(idx, prev, _W["delay"]))
            prev = idx
        else:
            out.append(frame.tobytes())
    return b"".join(out)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _worker(wid, jobs, fd, turn, cond, trace, frames, init_args, forked) -> None:
    """Worker `wid` renders chunks wid, wid+jobs, …; each waits its turn to write, in order.

    Frames go straight from the worker to the output (file or ffmpeg's stdin), never
    through the parent, and no worker runs more than one chunk ahead of the writer.
    """
    # Ctrl-C and a closed terminal reach the whole process group: the parent decides, and
    # ends us with SIGTERM, which ends a worker at once and quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not forked:  # a forked worker inherits the parent's renderer and palette table
        _init_worker(*init_args)
    for c in range(wid, _n_chunks(frames), jobs):
        data = _work(trace, frames, c)
        with cond:
            cond.wait_for(lambda c=c: turn.value == c)
        _write_all(fd, data)
        with cond:
            turn.value = c + 1
            cond.notify_all()


def _run_workers(fd, trace, frames, init_args, jobs, on_frames) -> None:
    """Render all frames into fd, in order; _init_worker must have run in this process."""
    n_chunks = _n_chunks(frames)
    if jobs <= 1 or n_chunks < 3:
        for c in range(n_chunks):
            _write_all(fd, _work(trace, frames, c))
            if on_frames:
                on_frames(min((c + 1) * CHUNK, len(frames)))
        return
    import multiprocessing as mp

    # fork: workers inherit matplotlib, the trace and the output fd (spawn re-imports).
    forked = sys.platform.startswith("linux")
    ctx = mp.get_context("fork" if forked else "spawn")
    turn, cond = ctx.Value("i", 0), ctx.Condition()
    procs = [ctx.Process(target=_worker, daemon=True, args=(
                 w, jobs, fd, turn, cond, trace, frames, init_args, forked))
             for w in range(min(jobs, n_chunks))]
    for p in procs:
        p.start()
    try:
        while turn.value < n_chunks:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise SincosError("a render worker failed")
            if on_frames:
                on_frames(min(turn.value * CHUNK, len(frames)))
            with cond:
                cond.wait(0.1)
        if on_frames:
            on_frames(len(frames))
    finally:
        for p in procs:
            if p.is_alive() and turn.value < n_chunks:
                p.terminate()
            p.join()


# -- writing ------------------------------------------------------------------------------

def gif_delay(fps: float) -> tuple[int, str | None]:
    """GIF delays are whole hundredths of a second; say so when fps cannot be kept exactly."""
    delay = max(1, round(100 / fps))
    warn = None
    if not math.isclose(100 / fps, delay):
        warn = (f"GIF stores delays in 10 ms units: --fps {fps:g} becomes a {delay * 10} ms "
                f"delay ({100 / delay:.3g} fps)")
    elif delay < 2:
        warn = "most viewers slow GIF delays under 20 ms (fps over 50) down to 100 ms"
    return delay, warn


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as e:  # not installed, or its binary missing for this platform
        raise SincosError(f"no ffmpeg for MP4 output ({e})") from None


def render(trace: dict, frames: np.ndarray, style: Style, fmt: str, dest: Path, fps: float,
           jobs: int = 1, on_frames: Callable[[int], None] | None = None,
           view: str = "window") -> tuple[int, int]:
    """Write the animation of `frames` (indices into the trace) to the file `dest`.

    Returns the frame size in pixels (Agg's rounding of inches × dpi)."""
    delay = gif_delay(fps)[0] if fmt == "gif" else 0
    init_args = (style, fmt, delay, view, trace)
    _init_worker(*init_args)  # once, here: forked workers inherit it
    w, h = _W["scene"].size
    if fmt == "gif":
        fd = os.open(dest, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o644)
        try:
            _write_all(fd, gif_header(w, h, _W["palette"]))
            _run_workers(fd, trace, frames, init_args, jobs, on_frames)
            _write_all(fd, b";")
        finally:
            os.close(fd)
        return w, h
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo",
           "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-",
           # H.264 in yuv420p needs even sides; veryfast: half the CPU of the default
           # preset for files 2% larger
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "veryfast",
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", "-y", str(dest)]
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=errf)
        try:
            _run_workers(proc.stdin.fileno(), trace, frames, init_args, jobs, on_frames)
        except BrokenPipeError:
            pass  # ffmpeg stopped reading: its exit code and message say why
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdin.close()
            code = proc.wait()
        if code != 0:
            errf.seek(0)
            err = errf.read().decode(errors="replace").strip()
            raise SincosError(f"ffmpeg failed: {err.splitlines()[-1] if err else code}")
    return w, h


def write_atomically(out: Path | None, fmt: str, produce: Callable[[Path], None]) -> None:
    """produce(path) into a temporary file, renamed to `out`, or copied to stdout when None.

    An error or Ctrl-C leaves no partial output behind.
    """
    if out is not None:
        with atomic_target(out) as tmp:
            produce(tmp)
        return
    with tempfile.TemporaryDirectory(prefix="sincos-anim-") as d:
        tmp = Path(d) / f"animation.{fmt}"
        produce(tmp)
        with open(tmp, "rb") as f:
            shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)
        sys.stdout.buffer.flush()
