"""What the yardsticks (training/baselines.py) cost beside the training they measure, in
one process, alternating, medians of CPU seconds.

    python tests/bench/bench_yardsticks.py [--repeats 5] [--members 25]

- a default run: `Trainer(TrainConfig()).fit()` (501 steps, the seed's model) against
  `baselines.compute` of the same run;
- a batched sweep's group of --members seeds, noise-free (the default: every member sees
  the same data, so add_to computes once and the others share it) and with
  --noise 0.05 (each member its own stream: computed for each), against GroupTrainer
  training the group.

Target (#36): at most 5% of a default run and of a batched sweep. Prints each ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace


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

    from sincos_cli.config import TrainConfig
    from sincos_cli.store.summary_doc import Summary
    from sincos_cli.training import baselines
    from sincos_cli.training.group import GroupTrainer
    from sincos_cli.training.train import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig()
    print(f"torch {torch.__version__}, capability {torch.backends.cpu.get_cpu_capability()}, "
          "1 thread")
    train, yard = [], []
    for _ in range(args.repeats):
        train.append(cpu(lambda: Trainer(cfg).fit(lambda info: None)))
        yard.append(cpu(lambda: baselines.compute(cfg, cfg.steps)))
    t, y = statistics.median(train), statistics.median(yard)
    print(f"default run: training {t:.2f} s, yardsticks {y:.3f} s: {y / t:.1%}")

    for noise in (0.0, 0.05):
        cfgs = [replace(cfg, seed=s, noise=noise) for s in range(1, args.members + 1)]
        group, share = [], []
        for _ in range(max(2, args.repeats // 2)):
            g = GroupTrainer(cfgs, [None] * len(cfgs))
            group.append(cpu(lambda g=g: [g.train_step() for _ in range(cfg.steps)]))
            baselines._CACHE.clear()
            share.append(cpu(lambda cfgs=cfgs: [
                baselines.add_to(Summary(eval_mse=1e-3, steps=c.steps), c) for c in cfgs]))
        g, s = statistics.median(group), statistics.median(share)
        print(f"batched group of {args.members}, noise {noise}: training {g:.2f} s, "
              f"yardsticks {s:.3f} s: {s / g:.1%}")


if __name__ == "__main__":
    main()
