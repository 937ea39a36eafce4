"""Sweep speed: 20 members × 501 steps, `sincos sweep` against the ways people do it today.

    python tests/bench/bench_sweep.py [--repeats 3] [--members 20] [--no-dask]

Alternating, medians of the repeats, whole processes:
- 20 × `sincos train --steps 501 --seed N -q`, one after another (the shell loop);
- the same 20 trainings, run folders and all, in one process, one after another (the work
  a pool of two can at best halve);
- `sincos sweep --seeds 1-20 --workers 2` (the local engine);
- `sincos sweep --seeds 1-20 --cluster FILE` on a local Dask cluster (a scheduler and two
  single-threaded worker processes started here), against the local pool.
Targets (2 cores): sweep ≥ 3.5× faster than the loop, and within 1.15× of in-process / 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")
DASK = os.path.join(os.path.dirname(sys.executable), "dask")
# What `sincos train` does for each run (Trainer and Recorder: the run folder written as
# it goes), 20 times in one process, one thread: the work a pool of two can at best halve.
IN_PROCESS = """
import sys, tempfile, torch
from pathlib import Path
from sincos_cli.config import TrainConfig
from sincos_cli.training.recorder import Recorder
from sincos_cli.training.train import Trainer
torch.set_num_threads(1)
root = Path(tempfile.mkdtemp())
for seed in range(1, int(sys.argv[1]) + 1):
    (root / str(seed)).mkdir()
    tr = Trainer(TrainConfig(seed=seed))
    rec = Recorder(root / str(seed), tr, 100)
    rec.start(["bench"], "cpu")
    tr.fit(rec.on_step)
    rec.finish("completed", tr.evaluate())
"""


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def start_dask(d: Path):
    sched = d / "scheduler.json"
    procs = [subprocess.Popen([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--dashboard-address", ":0", "--scheduler-file", str(sched)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d)]
    while not sched.exists():
        time.sleep(0.1)
    procs.append(subprocess.Popen([DASK, "worker", "--scheduler-file", str(sched),
                                   "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=d))
    from distributed import Client

    with Client(scheduler_file=str(sched)) as c:
        c.wait_for_workers(2, timeout=60)
    return procs, sched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--members", type=int, default=20)
    ap.add_argument("--no-dask", action="store_true")
    args = ap.parse_args()
    n = args.members
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    procs, sched = ([], None) if args.no_dask else start_dask(tmp)

    def fresh() -> dict:
        root = tmp / "runs"
        shutil.rmtree(root, ignore_errors=True)
        return {**os.environ, "SINCOS_RUNS_DIR": str(root)}

    cases = {
        f"{n} × sincos train, one after another": lambda: [subprocess.run(
            [EXE, "train", "--seed", str(s), "-q"], env=env, check=True,
            stdout=subprocess.DEVNULL) for env in [fresh()] for s in range(1, n + 1)],
        f"the same {n} trainings in one process": lambda: subprocess.run(
            [sys.executable, "-c", IN_PROCESS, str(n)], check=True),
        "sincos sweep --workers 2": lambda: subprocess.run(
            [EXE, "sweep", "--seeds", f"1-{n}", "--workers", "2", "-q"], env=fresh(),
            check=True, stdout=subprocess.DEVNULL),
    }
    if sched is not None:
        cases["sincos sweep --cluster (local Dask, 2 workers)"] = lambda: subprocess.run(
            [EXE, "sweep", "--seeds", f"1-{n}", "--cluster", str(sched), "-q"], env=fresh(),
            check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {k: [] for k in cases}
    try:
        for _ in range(args.repeats):
            for k, fn in cases.items():
                times[k].append(timed(fn))
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in times.items()}
    loop, floor = list(med.values())[0], list(med.values())[1]
    print(f"{n} members × 501 steps, 2 cores, medians of {args.repeats}")
    print("| how | seconds | loop ÷ this | this ÷ (in-process / 2) |")
    print("| --- | --- | --- | --- |")
    for k, v in med.items():
        print(f"| {k} | {v:.1f} | {loop / v:.2f}× | {v / (floor / 2):.2f} |")


if __name__ == "__main__":
    main()
