"""Animation speed: `sincos animate` against the usual FuncAnimation + PillowWriter/FFMpegWriter.

    python tests/bench/bench_animate.py [--repeats 3]

Trains one 501-step run, then renders its 501 frames at 640×480 with the matplotlib
tutorial way (pyplot figure, FuncAnimation, full redraw of every frame, PillowWriter for GIF,
FFMpegWriter with imageio-ffmpeg's binary for MP4) and with `sincos animate`, alternating,
each as a whole process. Then peak memory of `sincos animate` for 125, 500 and 2,000 frames
(frames are streamed, so it should not grow). Medians; read the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
           "stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def baseline(trace_path: str, out: str) -> None:
    """The tutorial way: a pyplot figure redrawn in full for every frame."""
    import imageio_ffmpeg
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    z = np.load(trace_path)
    x, tgt, pred, step, loss = z["x"], z["target"], z["prediction"], z["step"], z["loss"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    truth, = ax.plot([], [], "r-", label="truth")
    guess, = ax.plot([], [], "b--", label="prediction")
    ax.set_ylim(-1.2, 1.2)
    ax.set_xlabel("x")
    ax.set_ylabel("cos(x)")
    ax.legend(loc="upper right")

    def update(i):
        ax.set_xlim(x[i][0], x[i][-1])
        truth.set_data(x[i], tgt[i])
        guess.set_data(x[i], pred[i])
        ax.set_title(f"step {step[i]}    loss {loss[i]:.4g}")
        return truth, guess

    anim = FuncAnimation(fig, update, frames=len(x), blit=False)
    if out.endswith(".gif"):
        writer = PillowWriter(fps=10)
    else:
        plt.rcParams["animation.ffmpeg_path"] = imageio_ffmpeg.get_ffmpeg_exe()
        writer = FFMpegWriter(fps=10, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])
    anim.save(out, writer=writer)


def timed(cmd: list[str], env) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, *cmd], check=True, env=env,
                         capture_output=True, text=True)
    return time.perf_counter() - t0, int(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", nargs=2, metavar=("TRACE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline:
        return baseline(*args.baseline)
    sincos = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = Path(tempfile.mkdtemp(prefix="sincos-bench-anim-"))
    env = {**os.environ, "SINCOS_RUNS_DIR": str(tmp / "runs")}
    try:
        subprocess.run([sincos, "train", "--steps", "501", "--seed", "1", "--quiet",
                        "--name", "r501"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run([sincos, "train", "--steps", "2000", "--seed", "1", "--quiet",
                        "--name", "r2000"], check=True, env=env, stdout=subprocess.DEVNULL)
        trace = str(tmp / "runs" / "r501" / "trace.npz")
        print(f"501 frames at 640×480, medians of {args.repeats}, {os.cpu_count()} CPUs")
        print("| format | FuncAnimation baseline | sincos animate | ratio |")
        print("| --- | --- | --- | --- |")
        for fmt in ("gif", "mp4"):
            base, ours = [], []
            for i in range(args.repeats):
                base.append(timed([sys.executable, __file__, "--baseline", trace,
                                   str(tmp / f"base{i}.{fmt}")], env)[0])
                ours.append(timed([sincos, "animate", "r501", "--quiet", "--out",
                                   str(tmp / f"ours{i}.{fmt}")], env)[0])
            mb, mo = statistics.median(base), statistics.median(ours)
            print(f"| {fmt.upper()} | {mb:.2f} s | {mo:.2f} s | {mo / mb:.2f}× |")
        print("\npeak memory (max RSS of any one process) of `sincos animate`, by frame count")
        print("| frames | GIF | MP4 |\n| --- | --- | --- |")
        for frames, extra in ((125, ["--every", "4"]), (500, []), (2000, [])):
            run = "r501" if frames < 2000 else "r2000"
            cells = []
            for fmt in ("gif", "mp4"):
                _, rss = timed([sincos, "animate", run, "--quiet", "--max-frames", "2000",
                                "--out", str(tmp / f"mem.{fmt}"), *extra], env)
                cells.append(f"{rss / 1024:.0f} MiB")
            print(f"| {frames} | {cells[0]} | {cells[1]} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
