"""95% intervals for statistics over seeds: a seeded bootstrap for medians and means, and
Wilson's interval for a share (scipy's, imported only when intervals are asked for).

Fewer than MIN_N values give no interval (None, shown as `n/a`), never a number. The
bootstrap's generator is seeded from the group's own key, so an interval does not depend on
which other groups were asked for, nor on their order: the same runs give the same interval
on any machine with the same scipy.
"""

from __future__ import annotations

import math
import zlib

MIN_N = 3
LEVEL = 0.95
# Resamples: 4,000 for the groups a study usually has (tens of seeds), fewer for groups of
# thousands, whose intervals are narrow and whose resampling would cost seconds: at most
# about a million resampled values a statistic, never under 1,000 resamples.
RESAMPLES, MIN_RESAMPLES, WORK = 4000, 1000, 1_000_000
SEED = 20_261_201


def _rng(key: str):
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(key.encode())])


def bootstrap(values, stat: str, key: str = "") -> list[float] | None:
    """[low, high] of the median or mean of the finite values, or None under MIN_N."""
    import numpy as np

    vals = np.asarray([float(v) for v in values
                       if isinstance(v, (int, float)) and math.isfinite(v)])
    if len(vals) < MIN_N:
        return None
    if np.all(vals == vals[0]):  # no spread to resample
        return [float(vals[0]), float(vals[0])]
    from scipy.stats import bootstrap as scipy_bootstrap

    fn = np.median if stat == "median" else np.mean
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // len(vals)))
    res = scipy_bootstrap((vals,), fn, n_resamples=resamples, confidence_level=LEVEL,
                          method="percentile", vectorized=True, rng=_rng(f"{key}/{stat}"))
    lo, hi = res.confidence_interval
    return [float(lo), float(hi)]


def wilson(k: int, n: int) -> list[float] | None:
    """Wilson's 95% interval of a share k/n, or None under MIN_N."""
    if n < MIN_N:
        return None
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=LEVEL, method="wilson")
    return [float(ci.low), float(ci.high)]
