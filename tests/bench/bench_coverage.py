"""How often each interval sincos prints holds the true value, by simulation (#39).

    python tests/bench/bench_coverage.py [--studies 2000] [--quick]

Each study draws n seeds' eval_mse from a log-normal of log-sd LOGSD (the shape of real
eval_mse over seeds), computes the interval with sincos's own function, and checks it
against the value known in closed form. One line a statistic, spread and size:

    STAT LOGSD N COVERAGE

- median: a group's median eval_mse (order statistics);
- iqm: a group's interquartile mean (expanded percentile bootstrap);
- ok: a group's ok share at the true 97% quantile, and profile the same share at the true
  90% quantile (both exact Clopper-Pearson, as the table and the profile band give them);
- ratio: a paired comparison's median ratio (order statistics over the seeds' ratios);
- p_improve: the probability of improvement at a true 0.97 and at 0.5 (Newcombe's score
  interval); p_improve's LOGSD column is the true value, since the statistic is invariant
  to the spread;
- mean: none is printed; its line says what the percentile bootstrap would give.

Then the paired test's false "better" calls when two recipes are the same and the first
one's worst 6 of 30 seeds diverged (counted as the worst, as sincos counts them; dropped,
as it did before), at α = 5%:

    paired-diverged-dropped 30 RATE
    paired-diverged-counted 30 RATE
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sincos_cli.stats.groups import _wilcoxon, log_ratio  # noqa: E402
from sincos_cli.stats.intervals import (  # noqa: E402
    exact_share,
    improvement,
    iqm_interval,
    median_interval,
)

Z25, Z75 = norm.ppf([0.25, 0.75])


def true_iqm(s: float) -> float:
    """The mean of a log-normal(0, s) between its quartiles: E[e^{sZ}; Z in (z25, z75)]/½."""
    return math.exp(s * s / 2) * (norm.cdf(Z75 - s) - norm.cdf(Z25 - s)) / 0.5


def covered(ci, truth: float) -> bool:
    return ci is not None and ci[0] <= truth <= ci[1]


def coverage(draw, interval, truth, studies: int) -> float:
    return sum(covered(interval(draw()), truth) for _ in range(studies)) / studies


def percentile_mean(x, gen) -> list[float]:
    means = x[gen.integers(0, len(x), (2000, len(x)))].mean(axis=1)
    return list(np.quantile(means, [0.025, 0.975]))


def group_lines(gen, s: float, n: int, studies: int) -> dict[str, float]:
    """The coverage of each group interval on n log-normal(0, s) seeds."""
    q97, q90 = math.exp(s * norm.ppf(0.97)), math.exp(s * norm.ppf(0.90))

    def draw():
        return gen.lognormal(0.0, s, n)
    return {
        "median": coverage(draw, median_interval, 1.0, studies),
        "iqm": coverage(draw, lambda x: iqm_interval(x, str(gen.random())), true_iqm(s),
                        studies),
        "ok": coverage(draw, lambda x: exact_share(int((x <= q97).sum()), n), 0.97, studies),
        "profile": coverage(draw, lambda x: exact_share(int((x <= q90).sum()), n), 0.90,
                            studies),
        # the ratio of two independent log-normals: log-normal, median 1
        "ratio": coverage(lambda: draw() / draw(), median_interval, 1.0, studies),
        "mean(percentile; not printed)": coverage(
            draw, lambda x: percentile_mean(x, gen), math.exp(s * s / 2), studies),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--studies", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="n = 10 only, 500 studies")
    args = ap.parse_args()
    studies = 500 if args.quick else args.studies
    sizes = (10,) if args.quick else (10, 20, 30)
    gen = np.random.default_rng(20261207)
    print("STAT LOGSD N COVERAGE")
    for s in (0.75, 1.5):
        for n in sizes:
            for stat, c in group_lines(gen, s, n, studies).items():
                print(f"{stat} {s} {n} {c:.3f}", flush=True)
    for theta in (0.97, 0.5):
        delta = norm.ppf(theta) * math.sqrt(2)  # P(A < B) = theta for unit log-sd
        for n in sizes:
            def pair(n=n, delta=delta):
                return gen.normal(0, 1, n), gen.normal(delta, 1, n)
            c = coverage(pair, lambda ab: improvement(*ab)[1], theta, studies)
            print(f"p_improve {theta} {n} {c:.3f}", flush=True)
    for how in ("dropped", "counted"):
        calls = 0
        for _ in range(studies):
            a, b = gen.lognormal(0, 1.0, 30), gen.lognormal(0, 1.0, 30)
            worst = np.argsort(a)[-6:]
            a[worst] = math.inf  # the worst 6 of A's seeds diverged
            keep = [i for i in range(30) if how == "counted" or math.isfinite(a[i])]
            d = [log_ratio(a[i], b[i]) for i in keep]
            p = _wilcoxon(d)
            calls += p < 0.05 and statistics.median(d) < 0
        print(f"paired-diverged-{how} 30 {calls / studies:.3f}", flush=True)


if __name__ == "__main__":
    main()
