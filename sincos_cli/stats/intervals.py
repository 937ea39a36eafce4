"""95% intervals for statistics over seeds, each chosen because it covers what it says on
eval_mse-like samples (skewed: log-normal of log-sd 0.75 and 1.5) at 10 to 30 seeds, as
tests/bench/bench_coverage.py measures (figures in docs/sweeps.md):

- a median: the order-statistic interval, exact and distribution-free (at least 95% for
  any continuous distribution), from MIN_MEDIAN values;
- an IQM: the expanded percentile bootstrap (Hesterberg, 2015): the percentile bootstrap
  with its tails moved out to Φ(√(n/(n−1))·t_{n−1}), for the plain one's narrowness at small
  n (it covers 92–94% there), from MIN_MEDIAN values;
- a share (the ok share, a profile's share at each τ): the Clopper-Pearson interval, exact:
  at least 95% at every true share (Wilson's dips to 84% near a share of 0.98 at n = 10, the
  regime of a recipe that converges on almost every seed), from MIN_N runs;
- the probability of improvement: Newcombe's score interval for the Mann-Whitney statistic
  (2006, his method 5), with n* = n so that its variance is exact under no difference.

The mean has none: no interval tried (percentile, expanded percentile, bootstrap-t) covers
the mean of log-sd 1.5 samples at n = 10–30 (70–89%), so its point is printed alone.

A seed that diverged or failed is +inf here (the worst result: stats.groups.outcome); an
interval whose end is such a seed says so (an infinite bound). Fewer values than an interval
needs give None (shown as `n/a`), never a number. The bootstrap is seeded from the group's
own key, so an interval does not depend on which other groups were asked for, nor on their
order, and it resamples in chunks, so its memory does not grow with the group.
"""

from __future__ import annotations

import math
import zlib
from statistics import NormalDist

MIN_N = 3
MIN_MEDIAN = 6  # 1 - 2 / 2**6 = 0.97: the first n whose range can hold 95% of a median
LEVEL = 0.95
# Resamples: 4,000 for the groups a study usually has (tens of seeds), fewer for groups of
# thousands, whose intervals are narrow: at most about a million resampled values, never
# under 1,000 resamples, drawn CHUNK values at a time.
RESAMPLES, MIN_RESAMPLES, WORK, CHUNK = 4000, 1000, 1_000_000, 250_000
SEED = 20_261_201
Z95 = NormalDist().inv_cdf((1 + LEVEL) / 2)  # 1.95996…: a two-sided 95% interval


def rng(key: str):
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(key.encode())])


def numbers(values) -> list[float]:
    """The numbers among values, NaN dropped, ±inf kept (a diverged seed is +inf)."""
    return [float(v) for v in values
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)]


def median_interval(values) -> list[float] | None:
    """[x_(k), x_(n+1−k)], the widest k with P(Binomial(n, ½) < k) ≤ 2.5%: it holds the
    median with probability at least 95% for any continuous distribution (None under
    MIN_MEDIAN values)."""
    x = sorted(numbers(values))
    n = len(x)
    if n < MIN_MEDIAN:
        return None
    k = order_rank(n)
    return [x[k - 1], x[n - k]]


def order_rank(n: int) -> int:
    """The largest k (1-based) with P(Binomial(n, ½) ≤ k − 1) ≤ (1 − LEVEL)/2: counted
    exactly below 1,000 values, by the continuity-corrected normal from there (within one
    rank of the exact count)."""
    tail = (1 - LEVEL) / 2
    if n >= 1000:
        return max(1, math.floor(n / 2 + NormalDist().inv_cdf(tail) * math.sqrt(n) / 2 + 0.5))
    cum, k = 0.0, 0
    while cum + math.comb(n, k) / 2 ** n <= tail:
        cum += math.comb(n, k) / 2 ** n
        k += 1
    return max(k, 1)


def iqm_interval(values, key: str = "") -> list[float] | None:
    """The expanded percentile bootstrap interval of the IQM (the mean of the middle half,
    int(n/4) cut from each end, as scipy's trim_mean and rliable cut it), or None under
    MIN_MEDIAN values."""
    import numpy as np

    vals = np.asarray(numbers(values))
    n = len(vals)
    if n < MIN_MEDIAN:
        return None
    if np.all(vals == vals[0]):  # no spread to resample
        return [float(vals[0])] * 2
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // n))
    cut, gen = int(0.25 * n), rng(f"{key}/bootstrap")
    rows = max(1, CHUNK // n)
    estimates = []
    for start in range(0, resamples, rows):
        x = np.sort(vals[gen.integers(0, n, size=(min(rows, resamples - start), n))], axis=1)
        with np.errstate(invalid="ignore"):  # a middle half holding +inf is +inf
            estimates.append(x[:, cut:n - cut].mean(axis=1))
    est = np.concatenate(estimates)
    tail = expanded_tail(n)
    lo = np.quantile(est, tail, method="lower")  # order statistics: no inf − inf
    hi = np.quantile(est, 1 - tail, method="higher")
    return [float(lo), float(hi)]


def expanded_tail(n: int) -> float:
    """Hesterberg's expanded percentile: the bootstrap quantile Φ(√(n/(n−1))·t_{n−1,2.5%})
    in place of 2.5% (0.8% at n = 10, 1.9% at n = 30)."""
    return NormalDist().cdf(math.sqrt(n / (n - 1)) * t_quantile((1 - LEVEL) / 2, n - 1))


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile by its Cornish-Fisher expansion in the normal one (Abramowitz
    and Stegun 26.7.5, to df⁻⁴): within 3e-4 of the exact value from df = 5."""
    z, v = NormalDist().inv_cdf(p), df
    return (z + (z ** 3 + z) / (4 * v) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * v ** 2)
            + (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / (384 * v ** 3)
            + (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z)
            / (92160 * v ** 4))


def exact_share(k: int, n: int) -> list[float] | None:
    """The Clopper-Pearson 95% interval of a share k/n (the beta quantiles that invert the
    binomial's two tails), or None under MIN_N."""
    return exact_shares([k], n)[0] if n >= MIN_N else None


def exact_shares(ks, n: int) -> list[list[float] | None]:
    """exact_share of each k out of the same n, at once (a profile's every τ)."""
    if n < MIN_N:
        return [None] * len(ks)
    import numpy as np
    from scipy.special import betaincinv

    k = np.asarray(ks, dtype=float)
    tail = (1 - LEVEL) / 2
    with np.errstate(all="ignore"):
        lo = np.where(k > 0, betaincinv(k, n - k + 1, tail), 0.0)
        hi = np.where(k < n, betaincinv(k + 1, n - k, 1 - tail), 1.0)
    return [[float(a), float(b)] for a, b in zip(lo, hi, strict=True)]


def wilson(k: int, n: int) -> list[float] | None:
    """Wilson's 95% score interval of a share k/n, or None under MIN_N (the closed form; the
    benchmarks give their own rates with it; sincos prints exact_share)."""
    if n < MIN_N:
        return None
    z = Z95
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def improvement(mine, theirs) -> tuple[float, list[float] | None]:
    """P(mine < theirs) in the Mann-Whitney form (every pair of a value of one and a value
    of the other; a tie counts ½), lower being better, and Newcombe's 95% score interval
    for it (None under MIN_N values a side). 0.5 is no difference; the point is rliable's
    "probability of improvement"."""
    a, b = sorted(numbers(mine)), numbers(theirs)
    m, n = len(a), len(b)
    if not m or not n:
        return math.nan, None
    from bisect import bisect_left, bisect_right

    point = sum(bisect_left(a, y) + bisect_right(a, y) for y in b) / (2 * m * n)
    if min(m, n) < MIN_N:
        return point, None
    return point, newcombe(point, m, n)


def newcombe(theta: float, m: int, n: int) -> list[float]:
    """The θ on either side of the estimate where (θ̂ − θ)² = z²·V(θ), V the Hanley-McNeil
    variance of a Mann-Whitney share with n* = (m + n)/2 (exact at θ = ½)."""
    star = (m + n) / 2

    def excess(t: float) -> float:
        v = t * (1 - t) / (m * n) * (1 + (star - 1) * (1 - t) / (2 - t)
                                     + (star - 1) * t / (1 + t))
        return (theta - t) ** 2 - Z95 * Z95 * v

    def root(inside: float, outside: float) -> float:  # excess(inside) ≤ 0 < excess(outside)
        if excess(outside) <= 0:
            return outside
        for _ in range(60):
            mid = (inside + outside) / 2
            inside, outside = (mid, outside) if excess(mid) <= 0 else (inside, mid)
        return inside
    return [root(theta, 0.0), root(theta, 1.0)]
