"""The halving pruner against the truth: `sweep --halving --audit K` with K = every pruned
point, on three grids, so every point is trained to 501 steps and each rung's ranking can
be set against the points' final median eval_mse.

    python tests/bench/bench_audit.py [--grids findings,hidden,schedule] [--seeds 1-10]
                                      [--keep DIR]

For each grid: the sweep's own audit (the default --rank trend): Spearman's ρ between each
rung's scores and the final medians, the pick's place among all points and its regret (its
final median over the best point's). Then, from the same members' metrics (every member
has every step), the same halving replayed with each ranking rule: ρ at the first rung,
the pick, its place and regret. One run a grid on a machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRIDS = {
    # the search behind the README's result (docs/findings.md): 32 points
    "findings": ["--warmup-steps", "25", "--set", "cell=lstm,gru", "--set", "layers=1,2",
                 "--set", "schedule=constant,cosine", "--set", "lr=0.004,0.01", "--set",
                 "clip=0,0.5"],
    # hidden size against lr: 15 points
    "hidden": ["--set", "hidden=5,10,20,40,80", "--set", "lr=0.003,0.006,0.01"],
    # schedules against lr, after a warm-up: 12 points
    "schedule": ["--warmup-steps", "25", "--set", "schedule=constant,cosine,onecycle",
                 "--set", "lr=0.002,0.004,0.008,0.016"],
}


def replay(home: Path, doc: dict, rule: str) -> dict:
    """The halving of sweep.json's rungs with `rule`, from the members' full metrics."""
    from sincos_cli.stats.rank import spearman
    from sincos_cli.sweep import halving
    from sincos_cli.sweep.audit import finals

    h = doc["halving"]
    p = halving.plan(doc)
    final = finals(home, doc)
    active = list(p["keys"])
    first_rho = None
    for step in h["rungs"][:-1]:
        scores = {k: halving.score(home, p["members"][k], step, rule, h["threshold"],
                                   h["rungs"][-1]) for k in active}
        if first_rho is None:
            pairs = [(scores[k], final[k]) for k in active
                     if k in final and math.isfinite(scores[k])]
            first_rho = spearman([a for a, _ in pairs], [b for _, b in pairs])
        active = sorted(active, key=lambda k: (scores[k], active.index(k)))[
            :max(1, math.ceil(len(active) / h["eta"]))]
    pick = min((k for k in active if k in final), key=final.get)
    order = sorted(final, key=final.get)
    return {"rho": first_rho, "pick": p["points"][pick], "place": order.index(pick) + 1,
            "of": len(order), "regret": final[pick] / final[order[0]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grids", default=",".join(GRIDS))
    ap.add_argument("--seeds", default="1-10")
    ap.add_argument("--keep", type=Path)
    args = ap.parse_args()
    exe = str(Path(sys.executable).with_name("sincos"))
    top = args.keep or Path(tempfile.mkdtemp(prefix="bench-audit-"))
    for name in args.grids.split(","):
        root = top / name
        if not (root / "sweep-01" / "sweep.json").exists():
            shutil.rmtree(root, ignore_errors=True)
            t0 = time.perf_counter()
            subprocess.run([exe, "sweep", "--seeds", args.seeds, *GRIDS[name], "--halving",
                            "--audit", "1000", "-q", "--runs-dir", str(root)], check=True,
                           stdout=subprocess.DEVNULL)
            print(f"{name}: swept in {time.perf_counter() - t0:.0f} s")
        doc = json.loads((root / "sweep-01" / "sweep.json").read_text())
        r = doc["halving"]["audit"]["result"]
        rungs = ", ".join(f"step {x['step']}: ρ {x['spearman']:.2f} over {x['points']}"
                          if x["spearman"] is not None else f"step {x['step']}: -"
                          for x in r["rungs"])
        print(f"{name} ({r['points']} points, rungs {doc['halving']['rungs']}): {rungs}")
        print(f"  trend picked {r['pick']}: {r['pick_place']} of {r['points']}, median "
              f"{r['pick_median']:.3g}; best {r['best']} {r['best_median']:.3g}; regret "
              f"{r['regret']:.2f}x")
        for rule in ("trend", "median", "ok"):
            x = replay(root, doc, rule)
            rho = "-" if x["rho"] is None else f"{x['rho']:.2f}"
            print(f"  replayed with {rule:<6}: first-rung ρ {rho}, pick {x['pick']} "
                  f"{x['place']} of {x['of']}, regret {x['regret']:.2f}x")


if __name__ == "__main__":
    main()
