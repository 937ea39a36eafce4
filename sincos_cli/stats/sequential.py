"""Deciding with seeds added in rounds (numpy for the calibration): a study that looks at its
data after each round and stops once it is sure must still be wrong at most α of the time.

The rule, fixed before the first seed is trained:

- the looks are planned: the first round's seeds, then twice as many, four times … up to
  the budget (`looks`). A look whose sample cannot reject at any data is not counted;
- at a look, a comparison is the seed-by-seed log ratio of eval_mse against the reference,
  and its interval is the Wilcoxon signed-rank (Tukey) interval of their pseudomedian at
  level 1 − λ. It is decided when the interval excludes a ratio of 1, which is the
  signed-rank test rejecting at λ;
- λ is calibrated (`calibrated`): the largest level at which the whole schedule of looks
  decides a comparison wrongly at most α/m of the time (m comparisons: Bonferroni over
  them, since they share the reference). Under the null of two equal recipes the log
  ratios are symmetric about 0, so the signed-rank statistics of every look have one joint
  distribution whatever the recipes' own (signs fair coins, ranks a random order), and a
  simulation of it gives λ exactly up to its Monte Carlo error. Bonferroni over the looks
  (`spending`, α/(K·m) each), the rule before, is valid too but spends about half of α.
  Exact without ties; past 50 seeds the normal approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

EXACT_UP_TO = 50  # seeds: the signed-rank distribution is counted exactly up to here
PATHS = 20_000  # null studies simulated to calibrate the level (its SE: about 0.0015 at 5%)
CALIBRATION_SEED = 20_261_207


@dataclass(frozen=True)
class Look:
    """One comparison at one look: the ratio (Hodges-Lehmann, exp of the pseudomedian of the
    log ratios) and its interval at the look's level; `decision` is better (the point's
    eval_mse is lower than the reference's), worse, or undecided. `diverged` counts the
    shared seeds where only the point diverged (or failed), `reference_diverged` those where
    only the reference did. A ratio past every finite one (the point diverged on most
    seeds) is None in JSON, and so is an interval's unbounded end."""

    shared: int
    ratio: float | None
    ratio_ci: tuple[float, float] | None  # None: no interval can exclude 1 at this level
    decision: str
    diverged: int = 0
    reference_diverged: int = 0

    def to_json(self) -> dict:
        return {"shared": self.shared, "ratio": _finite(self.ratio),
                "ratio_ci": [_finite(x) for x in self.ratio_ci] if self.ratio_ci else None,
                "decision": self.decision, "diverged": self.diverged,
                "reference_diverged": self.reference_diverged}


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def looks(first: int, most: int) -> list[int]:
    """The planned sample sizes: first, 2·first, 4·first … below most, then most."""
    if first < 1 or most < first:
        raise ValueError(f"the budget ({most} seeds) must be at least the first round's "
                         f"({first})")
    out, n = [], first
    while n < most:
        out.append(n)
        n *= 2
    return out + [most]


def spending(planned: list[int], alpha: float, comparisons: int) -> tuple[list[int], float]:
    """(the looks that count, the level each spends): a look too small to reject at the
    level is dropped, which raises the level of the others, until none is dropped. ([], α)
    when not even the last look can decide."""
    tested = list(planned)
    while tested:
        level = alpha / (len(tested) * comparisons)
        able = [n for n in tested if smallest_p(n) <= level]
        if able == tested:
            return tested, level
        tested = able
    return [], alpha


def calibrated(planned: list[int], alpha: float, comparisons: int,
               paths: int = PATHS) -> tuple[list[int], float]:
    """(the looks that count, the level λ each tests at): the largest λ at which the
    schedule's false-decision rate under the null, by a seeded sign-flip simulation of
    `paths` studies, is at most α/comparisons. ([], α) when not even the last look can
    decide."""
    import numpy as np

    budget = alpha / comparisons
    if smallest_p(planned[-1]) > budget:
        return [], alpha
    stats = _null_statistics(planned, paths)

    def rate(level: float) -> float:
        wrong = np.zeros(len(stats[0]), dtype=bool)
        for n, t in zip(planned, stats, strict=True):
            c = _depth(n, level)  # rejects when T+ ≤ c − 1 or T+ ≥ N − c + 1
            if c:
                wrong |= (t <= c - 1) | (t >= n * (n + 1) // 2 - c + 1)
        return float(wrong.mean())
    lo, hi = budget / len(planned), budget  # rate(lo) ≤ budget (Bonferroni's bound)
    if rate(hi) <= budget:
        lo = hi
    for _ in range(40):
        if hi - lo <= 1e-6 * budget:
            break
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if rate(mid) <= budget else (lo, mid)
    return [n for n in planned if smallest_p(n) <= lo], lo


def _null_statistics(planned: list[int], paths: int) -> list:
    """T+ at each look of `paths` null studies: fair signs on values in a random order of
    magnitude, the first n of them at a look of n (what the signed-rank test sees)."""
    import numpy as np

    gen = np.random.default_rng([CALIBRATION_SEED, *planned])
    out = [np.empty(paths, dtype=np.int64) for _ in planned]
    chunk = max(1, 4_000_000 // planned[-1])
    for start in range(0, paths, chunk):
        k = min(chunk, paths - start)
        mags = gen.random((k, planned[-1]))
        positive = gen.random((k, planned[-1])) < 0.5
        for i, n in enumerate(planned):
            out[i][start:start + k] = positive_rank_sums(mags[:, :n], positive[:, :n])
    return out


def positive_rank_sums(magnitudes, positive):
    """Row by row, T+: the sum of the ranks of the magnitudes (1 the smallest, no ties)
    where `positive` is true; the signed-rank statistic, for numpy arrays of studies."""
    ranks = magnitudes.argsort(axis=1).argsort(axis=1) + 1
    return (ranks * positive).sum(axis=1)


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value of the signed-rank test on n values: every sign the
    same."""
    return min(1.0, 2.0 / 2 ** n) if n <= EXACT_UP_TO else 2 * NormalDist().cdf(
        -math.sqrt(3 * n * (n + 1) / (2 * (2 * n + 1))))


def signed_rank_counts(n: int) -> list[int]:
    """counts[s]: the subsets of the ranks 1…n whose sum is s (the exact null distribution
    of the signed-rank statistic, times 2^n)."""
    counts = [1] + [0] * (n * (n + 1) // 2)
    for r in range(1, n + 1):
        for s in range(r * (r + 1) // 2, r - 1, -1):
            counts[s] += counts[s - r]
    return counts


def _depth(n: int, level: float) -> int:
    """C, the largest count with P(T ≤ C − 1) ≤ level/2 under the null: the interval runs
    from the C-th smallest Walsh average to the C-th largest (0: no interval)."""
    if n <= EXACT_UP_TO:
        counts, total, cum, c = signed_rank_counts(n), 2 ** n, 0, 0
        while c < len(counts) and (cum + counts[c]) / total <= level / 2:
            cum += counts[c]
            c += 1
        return c
    mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
    # the lower tail's quantile: 1 − level/2 rounds to 1.0 for a tiny level
    return max(0, int(math.floor(mean + NormalDist().inv_cdf(level / 2) * sd)))


def interval(log_ratios: list[float], level: float) -> tuple[float, tuple | None]:
    """(the pseudomedian, its Tukey interval at 1 − level or None) of the log ratios. An
    infinite value (a run that diverged against one that did not) stays infinite: its
    Walsh averages are ±inf, and two opposite ones average to 0."""
    d = sorted(log_ratios)
    n = len(d)
    walsh = sorted(_mid(d[i], d[j]) for i in range(n) for j in range(i, n))
    middle = walsh[(len(walsh) - 1) // 2:len(walsh) // 2 + 1]
    centre = _mid(middle[0], middle[-1])
    c = _depth(n, level)
    if c == 0:
        return centre, None
    return centre, (walsh[c - 1], walsh[len(walsh) - c])


def _mid(a: float, b: float) -> float:
    s = a + b
    return 0.0 if math.isnan(s) else s / 2  # +inf and −inf: neither side is ahead


def look(log_ratios: list[float], level: float) -> Look:
    """A comparison at a look: decided when its interval excludes a ratio of 1."""
    n = len(log_ratios)
    if n == 0:
        return Look(0, None, None, "undecided")
    centre, ci = interval(log_ratios, level)
    decision = "undecided"
    if ci is not None and ci[0] > 0:
        decision = "worse"
    elif ci is not None and ci[1] < 0:
        decision = "better"
    return Look(n, ratio_of(centre), (ratio_of(ci[0]), ratio_of(ci[1])) if ci else None,
                decision,
                sum(x == math.inf for x in log_ratios), sum(x == -math.inf for x in log_ratios))


def ratio_of(log_ratio: float) -> float:
    """exp of a log ratio: +inf stays +inf (a point that diverged), the rest clamped so that
    no finite log ratio overflows."""
    if log_ratio == math.inf:
        return math.inf
    return math.exp(max(-700.0, min(700.0, log_ratio)))


def simulate(draw, first: int, most: int, alpha: float = 0.05, rule=None) -> int | None:
    """One simulated study of a single comparison: draw(k) gives k new log ratios; the
    looks and levels are the rule's (`rule`: calibrated or spending, the Bonferroni one).
    Returns the seeds at which it decided (None: it did not). Used by the tests and the
    benchmark to measure the rule's error rate."""
    tested, level = (rule or _calibrated_cached)(looks(first, most), alpha, 1)
    data: list[float] = []
    for n in looks(first, most):
        data += draw(n - len(data))
        if n in tested and look(data, level).decision != "undecided":
            return n
    return None


_CALIBRATIONS: dict[tuple, tuple[list[int], float]] = {}


def _calibrated_cached(planned: list[int], alpha: float, comparisons: int):
    key = (tuple(planned), alpha, comparisons)
    if key not in _CALIBRATIONS:
        _CALIBRATIONS[key] = calibrated(planned, alpha, comparisons)
    return _CALIBRATIONS[key]
