"""`sweep --until-decided`, measured: how many seeds it takes to decide seed vs robust, and
how often it wrongly decides between two equal recipes.

    python tests/bench/bench_rounds.py [--pool 200] [--studies 1000] [--keep DIR]

1. A real study, whole `sincos sweep` processes at the seed task's 501 steps:
   `--set recipe=seed,robust --seeds 1-10 --until-decided --max-seeds 200`. Reports the
   seeds at which it decided, the members trained and the wall time.
2. Two equal recipes: the seed recipe trained on --pool seeds (1001 on) gives the real
   distribution of eval_mse; each simulated study draws both of its recipes from it (with
   replacement, a fresh pair per seed) and applies the rule, 10 seeds growing to 200.
   Reports the share of studies left undecided at the budget (the target: ≥ 95%) with its
   Wilson interval, under the calibrated rule and under Bonferroni's (the rule before #39),
   and, for contrast, the share that the same looks each tested at 5% without spending
   would decide.
3. A 0.8x effect with the same spread (each robust draw of a pair scaled by 0.8): the share
   of studies each rule decides by 200 seeds, and the mean seeds trained, on the same
   simulated studies.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep(exe: str, root: Path, args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run([exe, "sweep", *args, "-q", "--runs-dir", str(root)], check=True,
                         capture_output=True, text=True)
    return time.perf_counter() - t0, out.stderr.strip()


def main() -> None:
    from sincos_cli.stats import sequential as sq
    from sincos_cli.stats.intervals import wilson

    ap = argparse.ArgumentParser()
    ap.add_argument("--pool", type=int, default=200)
    ap.add_argument("--studies", type=int, default=1000)
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("sincos"))
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-rounds-"))

    secs, said = sweep(exe, root / "study", ["--set", "recipe=seed,robust", "--seeds", "1-10",
                                             "--until-decided", "--max-seeds", "200"])
    doc = json.loads((root / "study" / "sweep-01" / "sweep.json").read_text())
    u = doc["until_decided"]
    print(f"seed vs robust: {said}")
    for i, r in enumerate(u["rounds"], 1):
        for res in r["results"]:
            ci = res["ratio_ci"] or [math.nan, math.nan]
            print(f"  round {i}: {r['n']} seeds, robust/seed {res['ratio']:.3g}x "
                  f"[{ci[0]:.3g}, {ci[1]:.3g}] {res['decision']}")
    print(f"  {len(doc['members'])} members in {secs:.1f} s; decided at "
          f"{u['rounds'][-1]['n']} seeds (target: ≤ 20)")

    last = args.pool + 1000
    secs, _ = sweep(exe, root / "pool", ["--seeds", f"1001-{last}"])
    pool = []
    for p in sorted((root / "pool").glob("run-*/summary.json")):
        v = json.loads(p.read_text()).get("eval_mse")
        if isinstance(v, (int, float)) and v > 0:  # the seed recipe never diverges here
            pool.append(math.log(v))
    print(f"pool: {len(pool)} seeds of the seed recipe in {secs:.1f} s, log eval_mse "
          f"median {sorted(pool)[len(pool) // 2]:.2f}")
    rnd = random.Random(2026)

    def draw(k: int) -> list[float]:
        return [rnd.choice(pool) - rnd.choice(pool) for _ in range(k)]
    for name, rule in (("calibrated", None), ("Bonferroni", sq.spending)):
        undecided = sum(sq.simulate(draw, 10, 200, rule=rule) is None
                        for _ in range(args.studies))
        lo, hi = wilson(undecided, args.studies)
        level = (rule or sq.calibrated)(sq.looks(10, 200), 0.05, 1)[1]
        print(f"equal recipes, {name} (level {level:.4f}): "
              f"{undecided}/{args.studies} studies undecided at 200 seeds = "
              f"{undecided / args.studies:.1%} [95% {lo:.1%}, {hi:.1%}] (target: ≥ 95%)")
    naive = 0
    for _ in range(args.studies):
        data = []
        for n in sq.looks(10, 200):
            data += draw(n - len(data))
            if sq.look(data, 0.05).decision != "undecided":
                naive += 1
                break
    print(f"  the same looks at 5% each, without spending: {naive / args.studies:.1%} "
          f"decided wrongly")
    paths = [[rnd.choice(pool) + math.log(0.8) - rnd.choice(pool) for _ in range(200)]
             for _ in range(args.studies)]
    for name, rule in (("calibrated", None), ("Bonferroni", sq.spending)):
        when = []
        for path in paths:
            taken = iter(path)
            when.append(sq.simulate(lambda k, t=taken: [next(t) for _ in range(k)], 10, 200,
                                    rule=rule))
        found = [n for n in when if n is not None]
        seeds = sum(n if n is not None else 200 for n in when) / len(when)
        print(f"0.8x effect, {name}: decided in {len(found) / len(when):.1%} of studies, "
              f"{seeds:.1f} seeds a study on average")


if __name__ == "__main__":
    main()
