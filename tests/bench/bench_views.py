"""animate --view history against --view window: 501 and 5,000 frames, time and memory.

    python tests/bench/bench_views.py [--repeats 3]

Trains one 5,000-step run (small sizes, so it is quick), then renders the first 501 and all
5,000 steps, one frame a step, as GIF at 640×480 with each view, alternating, each a whole
`sincos animate` process. Peak RSS is the largest of the process and its render workers.
Target: history ≤ 1.5× window, memory flat. Medians; read the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")
MEASURE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
           "stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(args: list[str], env: dict) -> tuple[float, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", MEASURE, EXE, *args], env=env, check=True,
                         capture_output=True, text=True)
    return time.perf_counter() - t0, int(out.stdout.strip()) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-views-"))
    env = {**os.environ, "SINCOS_RUNS_DIR": str(root)}
    subprocess.run([EXE, "train", "--steps", "5000", "--batch-size", "8", "--hidden", "8",
                    "--seed", "1", "--name", "long", "-q", "--checkpoint-every", "1000"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    print("| frames | view | seconds (median) | × window | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- |")
    for frames in (501, 5000):
        res: dict[str, list] = {"window": [], "history": []}
        for _ in range(args.repeats):
            for view in res:
                # 501 frames: every 10th step of the 5,000 (history still draws them all)
                every = 5000 // frames if frames < 5000 else 1
                res[view].append(run(["animate", "long", "--view", view, "--every",
                                      str(every), "--max-frames", str(frames), "-q",
                                      "--out", str(root / f"{view}.gif")], env))
        base = statistics.median(t for t, _ in res["window"])
        for view, rows in res.items():
            t = statistics.median(t for t, _ in rows)
            rss = max(m for _, m in rows)
            print(f"| {frames:,} | {view} | {t:.2f} | {t / base:.2f}× | {rss:.0f} |",
                  flush=True)


if __name__ == "__main__":
    main()
