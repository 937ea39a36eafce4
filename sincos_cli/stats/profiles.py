"""Performance profiles (rliable, 2021): for each group, the share of its seeds whose
eval_mse is at most τ, over a log range of τ, with a 95% bootstrap band. One curve shows
the whole distribution over seeds: where a recipe is reliable, and how far its tail goes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .groups import group_rows
from .intervals import LEVEL, MIN_N, MIN_RESAMPLES, RESAMPLES, WORK, rng

POINTS = 120  # thresholds on the log axis


@dataclass(frozen=True)
class Profile:
    """One group's profile: share[i] of its n seeds have eval_mse ≤ taus[i]; lo and hi
    bound it (95%, seeds resampled; None under MIN_N seeds). A seed without a finite
    eval_mse (failed, diverged) counts as above every τ."""

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
    values = [[_finite(r.value("eval_mse")) for r in g] for g in parts]
    taus = taus or thresholds([v for vs in values for v in vs])
    t = np.asarray(taus)
    out = []
    for g, vs in zip(parts, values, strict=True):
        point = {k: g[0].setting(k) for k in keys}
        x = np.sort(np.asarray(vs))
        n = len(x)
        share = np.searchsorted(x, t, side="right") / n
        lo = hi = None
        if n >= MIN_N:
            resamples = max(MIN_RESAMPLES, min(RESAMPLES, WORK // n))
            idx = rng(f"profile/{sorted(point.items())!r}").integers(0, n, (resamples, n))
            shares = _shares(np.sort(x[idx], axis=1), t)
            lo_a, hi_a = np.quantile(shares, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
            lo, hi = lo_a.tolist(), hi_a.tolist()
        out.append(Profile(point, n, list(taus), share.tolist(), lo, hi))
    return out


def _finite(v) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else math.inf


def _shares(sorted_rows, taus):
    """(R, n) sorted resamples -> (R, T) shares at or under each τ."""
    import numpy as np

    n = sorted_rows.shape[1]
    return np.stack([np.searchsorted(row, taus, side="right") for row in sorted_rows]) / n
