"""Batched members: `sincos sweep` (groups trained as one model) against `--no-batch`.

    python tests/bench/bench_batched.py [--repeats 3] [--seeds 100] [--big 1000]
                                        [--big-unbatched] [--sizes 8,16,32,64]

Whole `sincos sweep --workers 2` processes, run folders written, 501 steps, the seed's
model; alternating, medians of the repeats. Then:
- the big sweep (--big seeds), batched, once: its time and the largest resident memory of
  any of its processes (the workers'), against the unbatched time per member measured
  above (or measured, with --big-unbatched: about 25 minutes at 1,000 seeds);
- member-steps per second per core by group size, one process, one thread (the choice of
  the default --group-size);
- the floor: the matrix products alone (one per time step forward, two backward: the
  step's and the weight gradient's), timed at the same shapes, beside what a group does.
Targets (2 cores): ≥ 3× at 100 seeds; ≥ 3× and ≤ 200 s at 1,000 seeds, ≤ 2 GB per worker.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")


def sweep(seeds: int, *flags: str) -> tuple[float, float]:
    """Seconds of one `sincos sweep --seeds 1-N --workers 2`, and the largest resident
    memory (MB) of its processes."""
    d = Path(tempfile.mkdtemp(prefix="bench-batched-"))
    try:
        code = (
            "import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
            "print(time.perf_counter() - t,"
            " resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n")
        out = subprocess.run(
            [sys.executable, "-c", code, EXE, "sweep", "--seeds", f"1-{seeds}", "--steps",
             "501", "--workers", "2", "-q", *flags],
            env={**os.environ, "SINCOS_RUNS_DIR": str(d)}, check=True, capture_output=True,
            text=True)
        secs, mb = out.stdout.split()
        return float(secs), float(mb)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def by_group_size(sizes: list[int]) -> dict[int, float]:
    import torch

    from sincos_cli.config import TrainConfig
    from sincos_cli.training.group import GroupTrainer

    torch.set_num_threads(1)
    out = {}
    for k in sizes:
        group = GroupTrainer([TrainConfig(seed=s) for s in range(k)], [None] * k)
        for _ in range(3):
            group.forward()
            group.update()
        n = max(10, 3000 // k)
        best = []
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):  # as a sweep's worker steps a group
                group.forward()
                group.update()
            best.append(k * n / (time.perf_counter() - t))
        out[k] = statistics.median(best)
    return out


def floor(k: int) -> float:
    """Member-steps per second if a step were only its matrix products (the seed's LSTM:
    per time step (K, 80, 21) @ (K, 21, 50) forward; backward its transpose and the
    weight gradient's (K, 80, 50) @ (K, 50, 21)), one thread."""
    import torch

    torch.set_num_threads(1)
    w, z = torch.randn(k, 80, 21), torch.randn(k, 21, 50)
    g, wt = torch.randn(k, 80, 50), torch.randn(k, 21, 80)
    dw = torch.zeros(k, 80, 21)
    zt = z.transpose(1, 2)

    def step() -> None:
        for _ in range(20):
            torch.bmm(w, z)
        for _ in range(20):
            torch.bmm(wt, g)
            dw.baddbmm_(g, zt)
    for _ in range(3):
        step()
    n = max(10, 3000 // k)
    t = time.perf_counter()
    for _ in range(n):
        step()
    return k * n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--big-unbatched", action="store_true")
    ap.add_argument("--sizes", default="1,4,8,16,32,64,128")
    args = ap.parse_args()
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the start")

    times: dict[str, list[float]] = {"batched": [], "unbatched": []}
    for _ in range(args.repeats):
        for name, flags in (("unbatched", ("--no-batch",)), ("batched", ())):
            secs, _ = sweep(args.seeds, *flags)
            times[name].append(secs)
    b, u = (statistics.median(times[k]) for k in ("batched", "unbatched"))
    steps = args.seeds * 501
    print(f"\n{args.seeds} seeds × 501 steps, --workers 2 (medians of {args.repeats}):")
    print(f"  --no-batch  {u:7.1f} s  ({', '.join(f'{t:.1f}' for t in times['unbatched'])})")
    print(f"  batched     {b:7.1f} s  ({', '.join(f'{t:.1f}' for t in times['batched'])})")
    print(f"  speed-up    {u / b:7.2f}×   "
          f"{steps / b / 2:,.0f} member-steps/s per core batched, {steps / u / 2:,.0f} not")

    if args.big:
        secs, mb = sweep(args.big)
        per_member = u / args.seeds
        line = f"\n{args.big} seeds × 501 steps, batched: {secs:.1f} s, largest process " \
               f"{mb:,.0f} MB; "
        if args.big_unbatched:
            base, _ = sweep(args.big, "--no-batch")
            line += f"--no-batch {base:.1f} s: {base / secs:.2f}×"
        else:
            line += (f"--no-batch at {per_member:.2f} s a member (measured above) would take "
                     f"{per_member * args.big:.0f} s: {per_member * args.big / secs:.2f}×")
        print(line)
        print(f"  {args.big * 501 / secs / 2:,.0f} member-steps/s per core")

    sizes = [int(s) for s in args.sizes.split(",")]
    print("\nmember-steps/s, one process, one thread, by group size (medians of 3):")
    rates = by_group_size(sizes)
    for k, r in rates.items():
        print(f"  {k:4d}  {r:7,.0f}   floor {floor(k):9,.0f}   ({r / floor(k):.0%} of it)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end; this process {own:.0f} MB")


if __name__ == "__main__":
    main()
