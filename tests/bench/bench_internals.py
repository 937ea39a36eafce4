"""What --record-internals costs: training with and without it, in one process, alternating,
medians of CPU seconds (the recorder's files included: each run trains into a folder).

    python tests/bench/bench_internals.py [--repeats 5] [--members 25]

- a default run (501 steps, the seed's model), through train_run as `sincos train` does;
- a batched group of --members seeds (GroupTrainer, 501 steps), internals computed for
  every member.

Prints each ratio and internals.bin's size.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path


class Quiet:
    """A display that shows nothing (train_run's `display`, as --quiet gives it)."""

    def __init__(self, cfg=None, done=0):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def on_step(self, info) -> None:
        pass


def cpu(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--members", type=int, default=25)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from sincos_cli.config import TrainConfig
    from sincos_cli.training.group import GroupTrainer
    from sincos_cli.training.launch import train_run

    cfg = TrainConfig()
    runs, size = {False: [], True: []}, 0
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for flag in (False, True) if r % 2 == 0 else (True, False):
                root = Path(tmp) / f"{r}-{flag}"
                c = replace(cfg, record_internals=flag)
                runs[flag].append(cpu(lambda c=c, root=root: train_run(
                    c, root=root, name=None, device="cpu", threads=1, checkpoint_every=100,
                    argv=["bench"], display=Quiet)))
                if flag:
                    size = (root / "run-01" / "internals.bin").stat().st_size
    a, b = statistics.median(runs[False]), statistics.median(runs[True])
    print(f"default run: {a:.2f} s, with internals {b:.2f} s: {b / a:.3f}× "
          f"(internals.bin {size / 1e6:.1f} MB)")
    group = {False: [], True: []}
    for r in range(max(2, args.repeats // 2)):
        for flag in (False, True) if r % 2 == 0 else (True, False):
            cfgs = [replace(cfg, seed=s, record_internals=flag)
                    for s in range(1, args.members + 1)]
            g = GroupTrainer(cfgs, [None] * len(cfgs))
            group[flag].append(cpu(lambda g=g: [g.train_step() for _ in range(cfg.steps)]))
    a, b = statistics.median(group[False]), statistics.median(group[True])
    print(f"batched group of {args.members}: {a:.2f} s, with internals {b:.2f} s: "
          f"{b / a:.3f}× (not counting the files)")


if __name__ == "__main__":
    main()
