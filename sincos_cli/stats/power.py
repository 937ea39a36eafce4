"""How many seeds a paired study needs ("How many random seeds?", 2018): the observed
seed-by-seed log-ratios of a pilot are taken as the spread, moved so that their
Hodges-Lehmann estimate (the location the Wilcoxon signed-rank test is about) is the effect
to detect, and resampled into simulated studies of N seeds; the power at N is the share of
those studies whose Wilcoxon test rejects "no difference" at α in the effect's direction.
Seeded: the same pilot gives the same answer on any machine."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .intervals import rng

ALPHA = 0.05
SIMULATIONS = 400  # studies simulated at each N: the power's standard error is at most 2.5%
MIN_SEEDS = 5  # the fewest shared seeds a paired comparison (groups.paired) is made on
MAX_SEEDS = 5000  # beyond this, "more than": no study here is that big


@dataclass(frozen=True)
class Power:
    """`needed` seeds give `target` power to detect a ratio of `effect` (None: more than
    MAX_SEEDS); with the `has` seeds it has, the study's power is `power_now`."""

    target: float
    effect: float
    has: int
    power_now: float
    needed: int | None
    alpha: float = ALPHA
    simulations: int = SIMULATIONS

    def to_json(self) -> dict:
        return {"target": self.target, "effect": self.effect, "has": self.has,
                "power_now": self.power_now, "needed": self.needed, "alpha": self.alpha,
                "simulations": self.simulations}


def parse_effect(text: str) -> float:
    """`0.8x` (or `0.8`): the ratio of eval_mse to detect, positive and not 1."""
    try:
        value = float(text.strip().lower().removesuffix("x").removesuffix("×"))
    except ValueError:
        raise ValueError(f"expected a ratio such as 0.8x, got {text!r}") from None
    if not (math.isfinite(value) and value > 0 and value != 1):
        raise ValueError(f"the effect is a ratio of eval_mse, positive and not 1: got {text!r}")
    return value


def power_at(log_ratios, effect: float, n: int, key: str) -> float:
    """The share of SIMULATIONS studies of n seeds that detect `effect`."""
    import numpy as np
    from scipy.stats import rankdata, wilcoxon

    d = np.asarray(log_ratios, dtype=float)
    shifted = d - hodges_lehmann(d) + math.log(effect)
    sims = shifted[rng(f"{key}/power/{n}").integers(0, len(d), size=(SIMULATIONS, n))]
    p = wilcoxon(sims, axis=1, method="approx").pvalue
    ranks = rankdata(np.abs(sims), axis=1)  # the test's own direction: R+ against R-
    lean = (ranks * np.sign(sims)).sum(axis=1)
    return float(np.mean((p < ALPHA) & (np.sign(lean) == np.sign(math.log(effect)))))


def hodges_lehmann(d) -> float:
    """The median of the Walsh averages (d_i + d_j) / 2, i ≤ j: the pseudomedian that the
    Wilcoxon signed-rank test is about."""
    import numpy as np

    d = np.asarray(d, dtype=float)
    i, j = np.triu_indices(len(d))
    return float(np.median((d[i] + d[j]) / 2))


def seeds_needed(log_ratios, effect: float, target: float, key: str = "") -> Power:
    """The fewest seeds whose simulated power reaches `target` (doubling from MIN_SEEDS,
    then halving the gap), and the power of the pilot's own size."""
    has = len(log_ratios)
    now = power_at(log_ratios, effect, has, key)
    lo, hi = MIN_SEEDS - 1, MIN_SEEDS  # power(lo) < target (or lo below the fewest)
    while power_at(log_ratios, effect, hi, key) < target:
        lo, hi = hi, hi * 2
        if hi > MAX_SEEDS:
            return Power(target, effect, has, now, None)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power_at(log_ratios, effect, mid, key) >= target:
            hi = mid
        else:
            lo = mid
    return Power(target, effect, has, now, hi)
