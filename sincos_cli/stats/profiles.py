"""Performance profiles (rliable, 2021): for each group, the share of its seeds whose
eval_mse is at most τ, over a log range of τ, with a pointwise 95% band (each τ's share
has its own exact Clopper-Pearson interval, the one the group table's ok share has at its
threshold; the band is not a simultaneous one). One curve shows the whole distribution over
seeds: where a recipe is reliable, and how far its tail goes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .groups import group_rows, outcome
from .intervals import exact_shares

POINTS = 120  # thresholds on the log axis


@dataclass(frozen=True)
class Profile:
    """One group's profile: share[i] of its n seeds have eval_mse ≤ taus[i]; lo and hi
    bound it (the exact 95% interval at each τ; None under 3 seeds). The seeds are those
    that ended (stats.groups.outcome); one that failed or diverged is above every τ."""

    point: dict
    n: int
    taus: list[float]
    share: list[float]
    lo: list[float] | None
    hi: list[float] | None


def thresholds(values: list[float], points: int = POINTS) -> list[float]:
    """τ from half the lowest eval_mse to twice the highest, evenly on a log axis."""
    good = [v for v in values if v > 0 and math.isfinite(v)]
    if not good:
        return [1e-6, 1.0]
    lo, hi = math.log10(min(good) / 2), math.log10(max(good) * 2)
    return [10 ** (lo + (hi - lo) * i / (points - 1)) for i in range(points)]


def profiles(rows, keys: list[str], taus: list[float] | None = None) -> list[Profile]:
    """Each group's profile (groups as stats.groups makes them, in first-seen order), all
    on the same thresholds."""
    import numpy as np

    parts = group_rows(rows, keys)
    values = [[v for r in g if (v := outcome(r)) is not None] for g in parts]
    taus = taus or thresholds([v for vs in values for v in vs])
    t = np.asarray(taus)
    out = []
    for g, vs in zip(parts, values, strict=True):
        point = {k: g[0].setting(k) for k in keys}
        n = len(vs)
        counts = np.searchsorted(np.sort(np.asarray(vs, dtype=float)), t, side="right")
        share = (counts / n if n else np.zeros(len(t))).tolist()
        bands = exact_shares(counts.tolist(), n)
        lo = hi = None
        if bands[0] is not None:  # None under MIN_N seeds
            lo, hi = [b[0] for b in bands], [b[1] for b in bands]
        out.append(Profile(point, n, list(taus), share, lo, hi))
    return out
