"""The "Faithful to the original" table: init keras/torch × the predict() quirk, 30 seeds,
each share with its Wilson 95% interval and the median eval_mse with its bootstrap interval
(the same functions `compare --group-by` uses).

    python tests/bench/bench_faithful.py [--seeds 1-30] [--steps 501] [--jobs 2]

"stuck at step 100": the training loss at step 100 is still above 0.3 (the "predict 0"
plateau, where the MSE of cos against 0 is 0.5); "never leaves": still above 0.3 at the end.
Trains in process with the library (one thread), exactly what `sincos train` runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from sincos_cli.config import TrainConfig  # noqa: E402
from sincos_cli.stats.intervals import exact_share, median_interval  # noqa: E402
from sincos_cli.training.train import Trainer  # noqa: E402

PLATEAU = 0.3
VARIANTS = [("keras", False), ("keras", True), ("torch", False), ("torch", True)]


def seeds(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def one(task) -> tuple:
    init, quirk, seed, steps = task
    torch.set_num_threads(1)
    tr = Trainer(TrainConfig(seed=seed, steps=steps, init=init, predict_advances_state=quirk))
    losses = []
    tr.fit(lambda i: losses.append(i.loss))
    return (init, quirk, losses[min(100, len(losses) - 1)] > PLATEAU,
            min(losses[-10:]) > PLATEAU, tr.evaluate())


def share(k: int, n: int) -> str:
    ci = exact_share(k, n)
    return f"{k}/{n}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else " [n/a]")


def main() -> None:
    import multiprocessing as mp

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-30")
    ap.add_argument("--steps", type=int, default=501)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    tasks = [(init, quirk, seed, args.steps) for init, quirk in VARIANTS
             for seed in seeds(args.seeds)]
    with mp.get_context("fork").Pool(args.jobs) as pool:
        results = pool.map(one, tasks, chunksize=1)
    print("| init | predict quirk | stuck at step 100 | never leaves | median eval_mse "
          "[95% CI] | ≤ 1e-3 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for init, quirk in VARIANTS:
        mine = [r for r in results if r[:2] == (init, quirk)]
        n = len(mine)
        evals = [r[4] for r in mine]
        ci = median_interval(evals)
        med = f"{statistics.median(evals):.1e}" + (
            f" [{ci[0]:.1e}, {ci[1]:.1e}]" if ci else " [n/a]")
        print(f"| {init} | {'on' if quirk else 'off'} | {share(sum(r[2] for r in mine), n)} "
              f"| {share(sum(r[3] for r in mine), n)} | {med} "
              f"| {share(sum(e <= 1e-3 for e in evals), n)} |", flush=True)


if __name__ == "__main__":
    main()
