"""Deciding with seeds added in rounds (standard library only): a study that looks at its
data after each round and stops once it is sure must still be wrong at most α of the time.

The rule, fixed before the first seed is trained (alpha spending, Bonferroni's way):

- the looks are planned: the first round's seeds, then twice as many, four times … up to
  the budget (`looks`). A look whose sample cannot reject at any data is not counted;
- each of the K looks at each of the m comparisons spends α / (K·m): by the union bound the
  chance that any comparison is ever decided wrongly, at any look, is at most α, however
  the looks depend on each other;
- at a look, a comparison is the seed-by-seed log ratio of eval_mse against the reference,
  and its interval is the Wilcoxon signed-rank (Tukey) interval of their pseudomedian at
  level 1 − α/(K·m): exact without ties under the null of two equal recipes (the log ratio
  of two exchangeable runs is symmetric about 0), by the normal approximation past 50
  seeds. It is decided when the interval excludes a ratio of 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

EXACT_UP_TO = 50  # seeds: the signed-rank distribution is counted exactly up to here


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
    return Look(n, _exp(centre), (_exp(ci[0]), _exp(ci[1])) if ci else None, decision,
                sum(x == math.inf for x in log_ratios), sum(x == -math.inf for x in log_ratios))


def _exp(x: float) -> float:
    return math.inf if x == math.inf else math.exp(max(-700.0, min(700.0, x)))


def simulate(draw, first: int, most: int, alpha: float = 0.05) -> int | None:
    """One simulated study of a single comparison: draw(k) gives k new log ratios; the
    looks and levels are the rule's. Returns the seeds at which it decided (None: it did
    not). Used by the tests and the benchmark to measure the rule's error rate."""
    tested, level = spending(looks(first, most), alpha, 1)
    data: list[float] = []
    for n in looks(first, most):
        data += draw(n - len(data))
        if n in tested and look(data, level).decision != "undecided":
            return n
    return None
