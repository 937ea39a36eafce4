"""`sincos compare` over 1,000 runs against `sincos --help` (the start-up floor).

    python tests/bench/bench_compare.py [--runs 1000] [--repeats 3]

Makes synthetic run folders (run.json, config.json, summary.json and a 501-line
metrics.jsonl each, as `sincos train` writes them), then times whole processes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sincos_cli.config import TrainConfig


def make_runs(root: Path, n: int) -> None:
    rnd = random.Random(0)
    for i in range(1, n + 1):
        d = root / f"run-{i:02d}"
        d.mkdir(parents=True)
        cfg = TrainConfig(seed=i, hidden=rnd.choice([10, 20, 40]),
                          lr=rnd.choice([0.003, 0.006])).to_dict()
        (d / "config.json").write_text(json.dumps(cfg, indent=2))
        (d / "run.json").write_text(json.dumps({
            "id": d.name, "schema": 1, "status": "completed", "argv": ["sincos", "train"],
            "pid": 1, "host": "bench", "created": f"2026-11-26T10:{i % 60:02d}:00.000Z",
            "ended": "2026-11-26T11:00:00.000Z", "seed": i, "resumes": []}, indent=2))
        losses = [0.5 * math.exp(-s / rnd.uniform(50, 200)) + 1e-5 for s in range(501)]
        (d / "metrics.jsonl").write_text("".join(
            json.dumps({"step": s, "loss": v, "lr": 0.006, "elapsed_s": s * 1e-3}) + "\n"
            for s, v in enumerate(losses)))
        (d / "summary.json").write_text(json.dumps({
            "final_loss": losses[-1], "best_loss": min(losses), "best_step": 500,
            "eval_mse": losses[-1] * 1.1, "steps": 501, "train_seconds": 0.5,
            "steps_per_second": 1000.0}, indent=2))


def timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = Path(tempfile.mkdtemp(prefix="sincos-bench-cmp-"))
    env = {**os.environ, "SINCOS_RUNS_DIR": str(tmp / "runs")}
    try:
        make_runs(tmp / "runs", args.runs)
        cases = {"sincos --help (start-up floor)": [exe, "--help"],
                 "sincos compare (plain table)": [exe, "compare"],
                 "sincos compare --json": [exe, "compare", "--json"],
                 "sincos compare --plot loss.png": [exe, "compare", "--plot",
                                                    str(tmp / "loss.png")]}
        times = {k: [] for k in cases}
        for _ in range(args.repeats):
            for k, cmd in cases.items():
                times[k].append(timed(cmd, env))
        floor = statistics.median(times["sincos --help (start-up floor)"])
        print(f"{args.runs} runs × 501 metrics lines, medians of {args.repeats}")
        print("| command | seconds | × start-up |\n| --- | --- | --- |")
        for k, ts in times.items():
            m = statistics.median(ts)
            print(f"| `{k}` | {m:.2f} | {m / floor:.1f}× |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
