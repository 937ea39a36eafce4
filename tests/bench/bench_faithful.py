"""The "Faithful to the original" table: init keras/torch × the predict() quirk, 10 seeds.

    python tests/bench/bench_faithful.py [--seeds 1-10] [--steps 501]

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
from sincos_cli.train import Trainer  # noqa: E402

PLATEAU = 0.3
VARIANTS = [("keras", False), ("keras", True), ("torch", False), ("torch", True)]


def seeds(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--steps", type=int, default=501)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| init | predict quirk | stuck at step 100 | never leaves | median eval_mse "
          "| ≤ 1e-3 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for init, quirk in VARIANTS:
        stuck = never = ok = 0
        evals = []
        for seed in seeds(args.seeds):
            tr = Trainer(TrainConfig(seed=seed, steps=args.steps, init=init,
                                     predict_advances_state=quirk))
            losses = []
            tr.fit(lambda i, losses=losses: losses.append(i.loss))
            ev = tr.evaluate()
            evals.append(ev)
            stuck += losses[min(100, len(losses) - 1)] > PLATEAU
            never += min(losses[-10:]) > PLATEAU
            ok += ev <= 1e-3
        n = len(evals)
        print(f"| {init} | {'on' if quirk else 'off'} | {stuck}/{n} | {never}/{n} "
              f"| {statistics.median(evals):.1e} | {ok}/{n} |", flush=True)


if __name__ == "__main__":
    main()
