"""95% intervals for statistics over seeds: a seeded percentile bootstrap for medians,
interquartile means (IQM) and means, and for the probability of improvement; Wilson's score
interval for a share. numpy only, imported when intervals are asked for.

Fewer than MIN_N values give no interval (None, shown as `n/a`), never a number; a median
needs MIN_MEDIAN: the widest interval its own values can give, their minimum to their
maximum, covers the median with probability 1 - 2 / 2^n, under 95% below six values. The
bootstrap's generator is seeded from the group's own key, so an interval does not depend on
which other groups were asked for, nor on their order: the same runs give the same interval
on any machine with the same numpy.
"""

from __future__ import annotations

import math
import zlib

STATS = ("median", "iqm", "mean")  # what the bootstrap gives intervals for
MIN_N = 3
MIN_MEDIAN = 6  # 1 - 2 / 2**6 = 0.97: the first n whose range can hold 95% of a median
LEVEL = 0.95
# Resamples: 4,000 for the groups a study usually has (tens of seeds), fewer for groups of
# thousands, whose intervals are narrow and whose resampling would cost seconds: at most
# about a million resampled values a statistic, never under 1,000 resamples.
RESAMPLES, MIN_RESAMPLES, WORK = 4000, 1000, 1_000_000
SEED = 20_261_201
Z95 = 1.959963984540054  # the normal quantile of 97.5%: a two-sided 95% interval


def rng(key: str):
    import numpy as np

    return np.random.default_rng([SEED, zlib.crc32(key.encode())])


def bootstrap(values, stat: str, key: str = "") -> list[float] | None:
    """[low, high] of the median, IQM or mean of the finite values, or None under MIN_N
    (MIN_MEDIAN for a median)."""
    return bootstraps(values, key, (stat,))[stat]


def bootstraps(values, key: str = "", stats=STATS) -> dict[str, list[float] | None]:
    """Percentile-bootstrap 95% intervals of several statistics of the finite values, all
    from the same resamples: one draw, one gather and one partial sort serve the median,
    the IQM (the mean of the middle half, int(n/4) cut from each end, as scipy's trim_mean
    and rliable cut it) and the mean, three times cheaper than a bootstrap each."""
    import numpy as np

    vals = np.asarray([float(v) for v in values
                       if isinstance(v, (int, float)) and math.isfinite(v)])
    n = len(vals)
    out: dict[str, list[float] | None] = dict.fromkeys(stats)
    wanted = [s for s in stats if n >= (MIN_MEDIAN if s == "median" else MIN_N)]
    if not wanted:
        return out
    if np.all(vals == vals[0]):  # no spread to resample
        return {**out, **{s: [float(vals[0]), float(vals[0])] for s in wanted}}
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // n))
    x = vals[rng(f"{key}/bootstrap").integers(0, n, size=(resamples, n))]
    cut = int(0.25 * n)
    part = np.partition(x, sorted({cut, (n - 1) // 2, n // 2, n - cut - 1}), axis=1)
    estimates = {"mean": lambda: x.mean(axis=1),
                 "median": lambda: (part[:, (n - 1) // 2] + part[:, n // 2]) / 2,
                 "iqm": lambda: part[:, cut:n - cut].mean(axis=1)}
    for s in wanted:
        lo, hi = np.quantile(estimates[s](), [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        out[s] = [float(lo), float(hi)]
    return out


def wilson(k: int, n: int) -> list[float] | None:
    """Wilson's 95% score interval of a share k/n, or None under MIN_N (the closed form:
    no scipy to import for it)."""
    if n < MIN_N:
        return None
    z = Z95
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    return [max(0.0, centre - half), min(1.0, centre + half)]


def improvement(mine, theirs, key: str = "") -> tuple[float, list[float] | None]:
    """P(mine < theirs) over shared seeds in the Mann-Whitney form (every pair of a value of
    one and a value of the other; a tie counts ½), lower being better, and its 95%
    bootstrap interval: the seeds are resampled, each with both its values (None under
    MIN_N seeds). 0.5 is no difference; rliable's "probability of improvement"."""
    import numpy as np

    a = np.asarray(mine, dtype=float)
    b = np.asarray(theirs, dtype=float)
    n = len(a)
    point = _improvement(np.sort(a)[None, :], b[None, :])[0]
    if n < MIN_N:
        return point, None
    resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // (2 * n)))
    idx = rng(f"{key}/improvement").integers(0, n, size=(resamples, n))
    values = _improvement(np.sort(a[idx], axis=1), np.sort(b[idx], axis=1))  # sorted: faster
    lo, hi = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return point, [float(lo), float(hi)]


def _improvement(a_sorted, b) -> list[float]:
    """Row by row: the share of pairs (a_i, b_j) with a_i < b_j, a tie counting ½ (each
    value of b counts the values of a below it, and half those equal to it)."""
    import numpy as np

    n = a_sorted.shape[1]
    return [float((np.searchsorted(row, other, "left") + np.searchsorted(row, other, "right"))
                  .sum() / (2 * n * n)) for row, other in zip(a_sorted, b, strict=True)]
