"""Does `compare --paired --power 0.8` deliver 80% power? By simulation (#39 item 3).

    python tests/bench/bench_power.py [--pilots 100] [--quick]

A true distribution of seed-by-seed log ratios (normal of sd 1, and a heavy-tailed t of 3
degrees of freedom scaled to sd 1), shifted so that the test's location is log(0.6) (an
effect of 0.6x). Its true power at each N is measured with 20,000 simulated studies of the
test sincos runs (power.rejects), and so is the true N for 80%. Then pilots of 10, 20 and 30
seeds are drawn from it; each pilot's recommendation N̂ (stats.power.seeds_needed) is
scored by the true power at N̂. One line a distribution and pilot size:

    DIST PILOT TRUE_N MEDIAN_N DELIVERED_MEAN IN_RANGE

DELIVERED_MEAN is the mean over pilots of the true power at their N̂ (target 0.80 ± 0.03);
IN_RANGE the share of pilots whose printed range holds the true N.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sincos_cli.stats.power import rejects, seeds_needed  # noqa: E402

EFFECT = 0.6
TARGET = 0.8


def draw(dist: str, gen, shape):
    if dist == "normal":
        x = gen.standard_normal(shape)
    else:
        x = gen.standard_t(3, shape) / math.sqrt(3)  # sd 1
    return x + math.log(EFFECT)  # both symmetric: the pseudomedian is the shift


def true_power(dist: str, n: int, gen, studies: int = 20_000) -> float:
    return float(rejects(draw(dist, gen, (studies, n)), -1.0).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pilots", type=int, default=100)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dists", default="normal,t3")
    ap.add_argument("--sizes", default="10,20,30")
    args = ap.parse_args()
    pilots = 20 if args.quick else args.pilots
    gen = np.random.default_rng(20261207)
    print("DIST PILOT TRUE_N MEDIAN_N DELIVERED_MEAN IN_RANGE")
    for dist in args.dists.split(","):
        curve: dict[int, float] = {}

        def power(n: int, dist=dist, curve=curve) -> float:
            if n not in curve:
                curve[n] = true_power(dist, n, gen)
            return curve[n]
        true_n = next(n for n in range(5, 400) if power(n) >= TARGET)
        for size in ((10,) if args.quick else [int(x) for x in args.sizes.split(",")]):
            got, delivered, inside = [], [], 0
            for i in range(pilots):
                pilot = draw(dist, gen, size)
                rec = seeds_needed(pilot, EFFECT, TARGET, f"bench/{dist}/{size}/{i}")
                n = rec.needed if rec.needed is not None else 5000
                got.append(n)
                delivered.append(power(min(n, 399)) if n < 400 else 1.0)
                lo, hi = getattr(rec, "needed_range", None) or (None, None)
                inside += lo is not None and lo <= true_n and (hi is None or true_n <= hi)
            print(f"{dist} {size} {true_n} {statistics.median(got):.0f} "
                  f"{statistics.fmean(delivered):.3f} {inside / pilots:.2f}", flush=True)


if __name__ == "__main__":
    main()
