"""Training speed: sincos against a bare PyTorch loop, and whole processes against a script.

    python tests/bench/bench_train.py [--repeats 5]

1. In one process, alternating: the sincos loop with its run folder (metrics, trace and
   checkpoint writes) against bare_seed.run(), the same experiment with nothing around it.
2. Whole processes, alternating: `sincos train --steps 501 --quiet` against
   `python bare_seed.py` (both 1 thread), and sincos with --threads 1 against --threads 2.
Medians of several runs; ratios are what to read, the machine is shared and noisy.
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

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bare_seed  # noqa: E402

from sincos_cli.config import TrainConfig  # noqa: E402
from sincos_cli.training.recorder import Recorder  # noqa: E402
from sincos_cli.training.train import Trainer  # noqa: E402


def sincos_loop(root: Path, i: int) -> float:
    path = root / f"run-{i:03d}"
    path.mkdir()
    t0 = time.perf_counter()
    tr = Trainer(TrainConfig(seed=0))
    rec = Recorder(path, tr, checkpoint_every=100)
    rec.start(["bench"], "cpu")
    tr.fit(rec.on_step)
    rec.finish("completed", tr.evaluate())
    return time.perf_counter() - t0


def bare_loop() -> float:
    t0 = time.perf_counter()
    bare_seed.run()
    return time.perf_counter() - t0


def wall(cmd: list[str], env=None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - t0


def row(name, base, ours):
    mb, mo = statistics.median(base), statistics.median(ours)
    print(f"| {name} | {mb:.3f} s | {mo:.3f} s | {mo / mb:.2f}× |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-busy", action="store_true",
                    help="skip the busy-machine rows (2 threads there take minutes a run)")
    args = ap.parse_args()
    n = args.repeats
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="sincos-bench-"))
    try:
        bare_loop(), sincos_loop(root, 999)  # warm caches and lazy imports
        base, ours = [], []
        for i in range(n):
            base.append(bare_loop())
            ours.append(sincos_loop(root, i))
        sincos = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
        env = {**os.environ, "SINCOS_RUNS_DIR": str(root / "cli")}
        p_base, p_ours, t1, t2 = [], [], [], []
        for _ in range(n):
            p_base.append(wall([sys.executable, str(HERE / "bare_seed.py")]))
            p_ours.append(wall([sincos, "train", "--steps", "501", "--quiet"], env))
        for _ in range(n):
            t1.append(wall([sincos, "train", "--quiet", "--threads", "1"], env))
            t2.append(wall([sincos, "train", "--quiet", "--threads", "2"], env))
        # The same with every core kept busy by another process, as on a shared machine.
        hogs = [] if args.no_busy else [
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(os.cpu_count() or 1)]
        b1, b2 = [], []
        try:
            for _ in range(0 if args.no_busy else n):
                b1.append(wall([sincos, "train", "--quiet", "--threads", "1"], env))
                b2.append(wall([sincos, "train", "--quiet", "--threads", "2"], env))
        finally:
            for h in hogs:
                h.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"seed experiment, 501 steps, medians of {n}; {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}")
    print("| what | baseline | sincos | ratio |\n| --- | --- | --- | --- |")
    row("training loop (in process; sincos writes its run folder)", base, ours)
    row("whole process: bare_seed.py vs `sincos train --steps 501 --quiet`", p_base, p_ours)
    row("`sincos train`: --threads 1 (baseline) vs --threads 2", t1, t2)
    if b1:
        row("same, every core busy with another process", b1, b2)


if __name__ == "__main__":
    main()
