"""Streaming speed: `sincos predict RUN -` on 1,000,000 numbers against the in-memory floor.

    python tests/bench/bench_predict.py [--points 1000000] [--repeats 3]

The floor is the same model run in one call on the whole array in memory (no parsing, no
output). The stream is the real command, fed from a file on stdin, output to /dev/null.
Peak memory is the stream process's max RSS for 1/10 of the input and for all of it: flat
means it does not grow with the input.
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

import numpy as np
import torch

from sincos_cli.training.predict import Predictor, load_model

MEASURE = ("import resource, subprocess, sys; "
           "subprocess.run(sys.argv[2:], check=True, stdin=open(sys.argv[1], 'rb'), "
           "stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def stream(exe, run, data: Path, env) -> tuple[float, int]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, str(data), exe, "predict", run, "-"],
                         check=True, env=env, capture_output=True, text=True)
    return time.perf_counter() - t0, int(out.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = Path(tempfile.mkdtemp(prefix="sincos-bench-pred-"))
    env = {**os.environ, "SINCOS_RUNS_DIR": str(tmp / "runs")}
    try:
        subprocess.run([exe, "train", "--steps", "501", "--seed", "1", "--quiet", "--name",
                        "p"], check=True, env=env, stdout=subprocess.DEVNULL)
        model, cfg = load_model(tmp / "runs" / "p")
        values = np.sin(np.arange(args.points) * cfg.x_spacing)
        big, small = tmp / "big.txt", tmp / "small.txt"
        np.savetxt(big, values, fmt="%.17g")
        np.savetxt(small, values[: args.points // 10], fmt="%.17g")
        floor, walls, smalls, rss_small, rss_big = [], [], [], 0, 0
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            Predictor(model)(values)
            floor.append(time.perf_counter() - t0)
            t, rss_big = stream(exe, "p", big, env)
            walls.append(t)
            t, rss_small = stream(exe, "p", small, env)
            smalls.append(t)
        f, w, ws = statistics.median(floor), statistics.median(walls), statistics.median(smalls)
        n = args.points
        # The cost of each further point, start-up (import torch ≈ 0.7 s) taken out.
        marginal = (w - ws) / (n - n // 10) * n
        print(f"{n:,} points, medians of {args.repeats}, {os.cpu_count()} CPUs")
        print("| what | seconds | points/s |\n| --- | --- | --- |")
        print(f"| floor: one model call on the in-memory array | {f:.2f} | {n / f:,.0f} |")
        print(f"| `sincos predict p -` (whole process, parse + write) | {w:.2f} | "
              f"{n / w:,.0f} |")
        print(f"| stream, start-up taken out: (t(N) - t(N/10)) scaled to N | {marginal:.2f} | "
              f"{n / marginal:,.0f} |")
        print(f"\nratio stream / floor: {w / f:.2f}× whole process, {marginal / f:.2f}× "
              "per point after start-up")
        print(f"\npeak RSS of the stream: {rss_small / 1024:.0f} MiB for {n // 10:,} points, "
              f"{rss_big / 1024:.0f} MiB for {n:,}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
