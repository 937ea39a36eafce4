"""95% intervals for statistics over seeds: a seeded bootstrap for medians, interquartile
means (IQM) and means, and for the probability of improvement; Wilson's interval for a share
(scipy's, imported only when intervals are asked for).

Fewer than MIN_N values give no interval (None, shown as `n/a`), never a number; a median
needs MIN_MEDIAN: the widest interval its own values can give, their minimum to their
maximum, covers the median with probability 1 - 2 / 2^n, under 95% below six values. The
bootstrap's generator is seeded from the group's own key, so an interval does not depend on
which other groups were asked for, nor on their order: the same runs give the same interval
on any machine with the same scipy.
"""

from __future__ import annotations

import math
import zlib

MIN_N = 3
MIN_MEDIAN = 6  # 1 - 2 / 2**6 = 0.97: the first n whose range can hold 95% of a median
LEVEL = 0.95
# Resamples: 4,000 for the groups a study usually has (tens of seeds), fewer for groups of
# thousands, whose intervals are narrow and whose resampling would cost seconds: at most
# about a million resampled values a statistic, never under 1,000 resamples.
RESAMPLES, MIN_RESAMPLES, WORK = 4000, 1000, 1_000_000
SEED = 20_261_201


def rng(key: str):
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(key.encode())])


def iqm(x, axis=-1):
    """The interquartile mean: the mean of the middle half (scipy's trim_mean at 25%, as
    rliable computes it), robust to a few diverged seeds and less noisy than the median."""
    from scipy.stats import trim_mean

    return trim_mean(x, 0.25, axis=axis)


def bootstrap(values, stat: str, key: str = "") -> list[float] | None:
    """[low, high] of the median, IQM or mean of the finite values, or None under MIN_N
    (MIN_MEDIAN for a median)."""
    import numpy as np

    vals = np.asarray([float(v) for v in values
                       if isinstance(v, (int, float)) and math.isfinite(v)])
    if len(vals) < (MIN_MEDIAN if stat == "median" else MIN_N):
        return None
    if np.all(vals == vals[0]):  # no spread to resample
        return [float(vals[0]), float(vals[0])]
    from scipy.stats import bootstrap as scipy_bootstrap

    fn = {"median": np.median, "iqm": iqm, "mean": np.mean}[stat]
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // len(vals)))
    res = scipy_bootstrap((vals,), fn, n_resamples=resamples, confidence_level=LEVEL,
                          method="percentile", vectorized=True, rng=rng(f"{key}/{stat}"))
    lo, hi = res.confidence_interval
    return [float(lo), float(hi)]


def wilson(k: int, n: int) -> list[float] | None:
    """Wilson's 95% interval of a share k/n, or None under MIN_N."""
    if n < MIN_N:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return [float(ci.low), float(ci.high)]


def improvement(mine, theirs, key: str = "") -> tuple[float, list[float] | None]:
    """P(mine < theirs) over shared seeds in the Mann-Whitney form (every pair of a value of
    one and a value of the other; a tie counts ½), lower being better, and its 95%
    bootstrap interval: the seeds are resampled, each with both its values (None under
    MIN_N seeds). 0.5 is no difference; rliable's "probability of improvement"."""
    import numpy as np
    from scipy.stats import rankdata

    a = np.asarray(mine, dtype=float)
    b = np.asarray(theirs, dtype=float)
    n = len(a)

    def p(a, b):  # (…, n) each: U of b over a, from midranks of the two together
        ranks = rankdata(np.concatenate([a, b], axis=-1), axis=-1)
        u = ranks[..., n:].sum(axis=-1) - n * (n + 1) / 2
        return u / (n * n)
    point = float(p(a, b))
    if n < MIN_N:
        return point, None
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // (2 * n)))
    idx = rng(f"{key}/improvement").integers(0, n, size=(resamples, n))
    values = p(a[idx], b[idx])
    lo, hi = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return point, [float(lo), float(hi)]
