"""The seed recipe against `--recipe robust`, seeds 1–5, 501 steps, through the real CLI.

    python tests/bench/bench_recipes.py [--seeds 1 2 3 4 5]

Prints eval_mse per seed (MSE on the 10 batches after training, from the carried state)
and how many seeds reach eval_mse ≤ 1e-4.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

TARGET = 1e-4


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = ap.parse_args()
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = tempfile.mkdtemp(prefix="sincos-bench-recipes-")
    env = {**os.environ, "SINCOS_RUNS_DIR": tmp}
    rows = {}
    try:
        for recipe in ("seed", "robust"):
            rows[recipe] = []
            for seed in args.seeds:
                out = subprocess.run([exe, "train", "--recipe", recipe, "--seed", str(seed),
                                      "--json", "--quiet"], env=env, check=True,
                                     capture_output=True, text=True)
                s = json.loads(out.stdout)
                rows[recipe].append((s["eval_mse"], s["train_seconds"]))
        cfg = json.loads(open(os.path.join(tmp, "run-%02d" % (len(args.seeds) + 1),
                                           "config.json")).read())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    robust = {k: cfg[k] for k in ("cell", "layers", "schedule", "lr", "warmup_steps", "clip")}
    print(f"501 steps, batch 50 × 20, hidden 20; robust = {robust}")
    print("| recipe | " + " | ".join(f"seed {s}" for s in args.seeds) +
          f" | ≤ {TARGET:g} | train s (median) |")
    print("| --- " * (len(args.seeds) + 3) + "|")
    for recipe, vals in rows.items():
        ok = sum(v <= TARGET for v, _ in vals)
        secs = sorted(t for _, t in vals)[len(vals) // 2]
        print(f"| {recipe} | " + " | ".join(f"{v:.1e}" for v, _ in vals) +
              f" | {ok}/{len(vals)} | {secs:.2f} |")


if __name__ == "__main__":
    main()
