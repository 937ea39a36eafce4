"""Successive halving against the full grid, on the recipe grid of docs/findings.md: 32
settings × 10 seeds, 501 steps, whole `sincos sweep` processes, 2 workers, run folders written.

    python tests/bench/bench_halving.py [--seeds 1-10] [--steps 501] [--workers 2]
                                        [--keep DIR] [--halving-args '--rank median']

Reports the best point of each (the lowest median eval_mse over its completed members),
whether halving's lies inside the full grid's 95% interval for the best, and the ratios of
member-steps (metrics lines written) and of wall time. One run of each, halving first, on a
machine otherwise idle: the full grid alone takes minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRID = ["--warmup-steps", "25", "--set", "cell=lstm,gru", "--set", "layers=1,2", "--set",
        "schedule=constant,cosine", "--set", "lr=0.004,0.01", "--set", "clip=0,0.5"]


def sweep(exe: str, root: Path, args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([exe, "sweep", *args, "-q", "--runs-dir", str(root)], check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def groups(exe: str, root: Path) -> list[dict]:
    out = subprocess.run([exe, "compare", str(root / "sweep-01"), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def member_steps(root: Path) -> int:
    return sum(sum(1 for _ in open(p)) for p in root.glob("run-*/metrics.jsonl"))


def best(rows: list[dict], keys: list[str]) -> dict:
    done = [g for g in rows if g["completed"] and g["eval_mse"]["median"] is not None]
    return min(done, key=lambda g: g["eval_mse"]["median"])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--steps", type=int, default=501)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--keep", type=Path, help="keep the sweeps here (and reuse a full grid "
                    "already there)")
    ap.add_argument("--halving-args", default="", help="more flags for the halving sweep, "
                    "e.g. '--first-rung 78' or '--eta 2'")
    args = ap.parse_args()
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="sincos-bench-halving-"))
    common = ["--steps", str(args.steps), "--seeds", args.seeds, "--workers",
              str(args.workers), *GRID]
    try:
        shutil.rmtree(tmp / "halving", ignore_errors=True)
        t_half = sweep(exe, tmp / "halving", [*common, "--halving",
                                              *args.halving_args.split()])
        reuse = args.keep and (tmp / "full" / "sweep-01").exists()
        t_full = float(json.loads((tmp / "full.json").read_text())) if reuse else \
            sweep(exe, tmp / "full", common)
        (tmp / "full.json").write_text(json.dumps(t_full))
        keys = ["cell", "layers", "schedule", "lr", "clip"]
        full, half = groups(exe, tmp / "full"), groups(exe, tmp / "halving")
        b_full, b_half = best(full, keys), best(half, keys)
        point = {k: b_half[k] for k in keys}
        same = all(b_full[k] == point[k] for k in keys)
        in_full = next(g for g in full if all(g[k] == point[k] for k in keys))
        lo, hi = b_full["eval_mse"]["median_ci"]
        inside = lo <= in_full["eval_mse"]["median"] <= hi
        s_full, s_half = member_steps(tmp / "full"), member_steps(tmp / "halving")
        rungs = json.loads((tmp / "halving" / "sweep-01" / "sweep.json").read_text())[
            "halving"]
        print(f"32 settings × seeds {args.seeds}, {args.steps} steps, {args.workers} workers")
        print(f"rungs {rungs['rungs']}, points kept " +
              " → ".join(str(len(r["kept"])) for r in rungs["history"]))
        fmt = ", ".join
        print(f"full grid best: {fmt(f'{k}={b_full[k]}' for k in keys)}  median eval_mse "
              f"{b_full['eval_mse']['median']:.2e} [{lo:.2e}, {hi:.2e}], ok {b_full['ok']}")
        print(f"halving best:   {fmt(f'{k}={point[k]}' for k in keys)}  (full grid's "
              f"median for it {in_full['eval_mse']['median']:.2e}, ok {in_full['ok']}): "
              f"{'the same point' if same else 'inside the interval' if inside else 'OUTSIDE'}")
        print("| | full grid | halving | halving ÷ full |\n| --- | --- | --- | --- |")
        print(f"| member-steps | {s_full:,} | {s_half:,} | {s_half / s_full:.1%} |")
        print(f"| wall seconds | {t_full:.1f} | {t_half:.1f} | {t_half / t_full:.1%} |")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
