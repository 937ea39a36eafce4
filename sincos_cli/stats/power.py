"""How many seeds a paired study needs ("How many random seeds?", 2018), simulated with the
test that will be run on it.

The pilot's seed-by-seed log ratios are the spread: moved so that their Hodges-Lehmann
estimate (the location the Wilcoxon signed-rank test is about) is the effect to detect, then
drawn with a smoothed bootstrap (a resampled pilot value plus a little Gaussian noise,
rescaled to the pilot's unbiased variance: real eval_mse has no ties, a plain resample of 30
values has many) into simulated studies of N seeds. Each runs the test `compare --paired`
runs, the exact signed-rank test to 50 seeds and its normal form beyond
(stats.groups._wilcoxon), at α, in the effect's direction. The same draws serve every N
(common random numbers: the power curve is smooth in N, and the search is not fooled by
noise).

A pilot's spread is itself a guess, and power is not linear in it: the N that gives 80% at
the pilot's own spread delivers 68–75% on average (tests/bench/bench_power.py). So the power
at N is averaged over RANGE_PILOTS spreads the pilot could have come from (its deviations
scaled by √((n−1)/χ²ₙ₋₁), the normal-theory uncertainty of a variance from n values), and the
answer is the fewest N whose average reaches the target; its range, "43 [37, 52]", is the
middle half of the answers at each of those spreads. Seeded: the same pilot gives the same
answer on any machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .intervals import rng
from .sequential import positive_rank_sums, signed_rank_counts

ALPHA = 0.05
SIMULATIONS = 4000  # studies at each N from a pilot past RANGE_UP_TO seeds
RANGE_PILOTS = 60  # spreads the pilot could have come from
RANGE_SIMULATIONS = 300  # studies at each N from each of those: 18,000 in all
RANGE_UP_TO = 500  # a pilot past this is taken as it is: its own noise is small
MIN_SEEDS = 5  # the fewest shared seeds a paired comparison (groups.paired) is made on
MAX_SEEDS = 5000  # beyond this, "more than": no study here is that big
EXACT_UP_TO = 50  # the signed-rank test is exact to here, as groups._wilcoxon runs it


@dataclass(frozen=True)
class Power:
    """`needed` seeds give `target` power to detect a ratio of `effect` (None: more than
    MAX_SEEDS); with the `has` seeds it has, the study's power is `power_now`. `needed_range`
    is the middle half of the answers at the spreads the pilot could have come from (its
    high end None: more than four times `needed`; the range None past RANGE_UP_TO seeds)."""

    target: float
    effect: float
    has: int
    power_now: float
    needed: int | None
    needed_range: tuple[int | None, int | None] | None = None
    alpha: float = ALPHA
    simulations: int = SIMULATIONS

    def to_json(self) -> dict:
        return {"target": self.target, "effect": self.effect, "has": self.has,
                "power_now": self.power_now, "needed": self.needed,
                "needed_range": list(self.needed_range) if self.needed_range else None,
                "alpha": self.alpha, "simulations": self.simulations}


def parse_effect(text: str) -> float:
    """`0.8x` (or `0.8`): the ratio of eval_mse to detect, positive and not 1."""
    try:
        value = float(text.strip().lower().removesuffix("x").removesuffix("×"))
    except ValueError:
        raise ValueError(f"expected a ratio such as 0.8x, got {text!r}") from None
    if not (math.isfinite(value) and value > 0 and value != 1):
        raise ValueError(f"the effect is a ratio of eval_mse, positive and not 1: got {text!r}")
    return value


def hodges_lehmann(d) -> float:
    """The median of the Walsh averages (d_i + d_j) / 2, i ≤ j: the pseudomedian that the
    Wilcoxon signed-rank test is about."""
    import numpy as np

    d = np.asarray(d, dtype=float)
    i, j = np.triu_indices(len(d))
    return float(np.median((d[i] + d[j]) / 2))


class Simulator:
    """Simulated studies from one pilot, drawn once and grown as larger N are asked for."""

    def __init__(self, log_ratios, effect: float, key: str, studies: int = SIMULATIONS):
        import numpy as np

        d = np.asarray(log_ratios, dtype=float)
        self.direction = math.copysign(1.0, math.log(effect))
        self.centred = d - hodges_lehmann(d) + math.log(effect)
        spread = float(d.std())
        q1, q3 = np.quantile(d, [0.25, 0.75])
        robust = min(spread, float(q3 - q1) / 1.34) or spread
        # Silverman's robust bandwidth (a heavy tail does not blur the middle, which is what
        # a rank test sees), and the rescaling that gives the draws the pilot's unbiased
        # variance (n − 1 in the denominator: a plain resample's is (n − 1)/n of it)
        self.h = 0.9 * robust * len(d) ** -0.2 if spread > 0 else 1e-9
        unbiased = spread ** 2 * len(d) / max(1, len(d) - 1)
        self.shrink = math.sqrt(unbiased / (spread ** 2 + self.h ** 2)) if spread > 0 else 1.0
        self.mean = float(self.centred.mean())
        self.gen, self.studies = rng(f"{key}/power"), studies
        self.draws = np.empty((studies, 0))

    def sample(self, n: int):
        import numpy as np

        if n > self.draws.shape[1]:
            k = max(n, 2 * self.draws.shape[1]) - self.draws.shape[1]
            idx = self.gen.integers(0, len(self.centred), (self.studies, k))
            noise = self.gen.standard_normal((self.studies, k))
            more = self.mean + (self.centred[idx] - self.mean + self.h * noise) * self.shrink
            self.draws = np.concatenate([self.draws, more], axis=1)
        return self.draws[:, :n]

    def power(self, n: int) -> float:
        """The share of the studies of n seeds whose signed-rank test finds the effect."""
        if n < 1:
            return 0.0
        return float(rejects(self.sample(n), self.direction).mean())


def rejects(sims, direction: float):
    """Row by row: the two-sided signed-rank test rejects at ALPHA, the shift in
    `direction` (exact to EXACT_UP_TO values, normal beyond; no ties: the draws are
    continuous)."""
    import numpy as np

    n = sims.shape[1]
    r_plus = positive_rank_sums(np.abs(sims), sims > 0)
    lean = np.sign(2 * r_plus - n * (n + 1) / 2)
    if n <= EXACT_UP_TO:
        cdf = _cdf(n)
        low = cdf[r_plus]  # P(T ≤ r)
        high = 1 - np.where(r_plus > 0, cdf[np.maximum(r_plus - 1, 0)], 0.0)  # P(T ≥ r)
        p = np.minimum(1.0, 2 * np.minimum(low, high))
    else:
        from statistics import NormalDist

        mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
        z = np.abs(r_plus - mean) / sd
        p = np.asarray([2 * (1 - NormalDist().cdf(x)) for x in z.tolist()])
    return (p < ALPHA) & (lean == direction)


_CDFS: dict[int, object] = {}


def _cdf(n: int):
    import numpy as np

    if n not in _CDFS:
        counts = np.asarray(signed_rank_counts(n), dtype=float)
        _CDFS[n] = np.cumsum(counts) / 2 ** n
    return _CDFS[n]


def fewest(power, target: float, most: int = MAX_SEEDS) -> int | None:
    """The fewest n whose power(n) reaches target (doubling from MIN_SEEDS, then halving
    the gap; power uses the same draws at every n), or None past `most`."""
    lo, hi = MIN_SEEDS - 1, MIN_SEEDS  # power(lo) < target (or lo below the fewest)
    while power(hi) < target:
        lo, hi = hi, hi * 2
        if hi > most:
            if power(most) < target:
                return None
            hi = most
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def seeds_needed(log_ratios, effect: float, target: float, key: str = "") -> Power:
    """The fewest seeds whose power, averaged over the spreads the pilot could have come
    from, reaches `target`; the middle half of the answers at each of those spreads; and the
    power at the pilot's own size. A pilot of more than RANGE_UP_TO seeds is its own spread,
    with no range."""
    import numpy as np

    d = np.asarray(log_ratios, dtype=float)
    has = len(d)
    if has > RANGE_UP_TO:
        sim = Simulator(d, effect, key)
        return Power(target, effect, has, sim.power(has), fewest(sim.power, target))
    gen = rng(f"{key}/power/pilots")
    centre = hodges_lehmann(d)
    scales = np.sqrt((has - 1) / gen.chisquare(has - 1, RANGE_PILOTS))
    sims = [Simulator(centre + (d - centre) * g, effect, f"{key}/{i}", RANGE_SIMULATIONS)
            for i, g in enumerate(scales)]

    def power(n: int) -> float:
        return float(np.mean([s.power(n) for s in sims]))
    needed = fewest(power, target)
    span = None
    if needed is not None:
        most = 4 * needed  # past it: "more than"
        answers = [fewest(s.power, target, most) for s in sims]
        big = [a if a is not None else most + 1 for a in answers]
        q1, q3 = (int(x) for x in np.quantile(big, [0.25, 0.75], method="nearest"))
        span = (q1, q3 if q3 <= most else None)
    return Power(target, effect, has, power(has), needed, span, simulations=RANGE_PILOTS
                 * RANGE_SIMULATIONS)
