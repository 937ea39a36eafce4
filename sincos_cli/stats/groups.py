"""Group statistics over runs: plain functions over rows, no printing (standard library only).

`compare --group-by` and `sweep` both use them.
"""

from __future__ import annotations

import math
import statistics

from sincos_cli.status import RunStatus

from .intervals import numbers
from .power import MIN_SEEDS  # shared seeds below which a paired comparison is not made
from .sequential import ratio_of, signed_rank_counts

METRICS = ("eval_mse", "final_loss")
# With the yardsticks (summary.json's baselines): the linear filter's own eval MSE, and each
# run's eval_mse over it. Only where some run of the rows has them.
YARDSTICKS = ("vs_linear", "linear")
STATS = ("mean", "std", "median", "iqm", "min", "max")
WORST = math.inf  # what a diverged or failed run counts as: worse than any that finished


def outcome(row, metric: str = "eval_mse") -> float | None:
    """What a run counts as in every statistic over seeds: its value when it completed
    with a finite one; WORST (+inf) when it diverged or failed (a completed run without a
    finite value diverged at its evaluation); None when it has not ended (queued, running,
    interrupted, pruned, unreadable), so it is left out and the tables say how many."""
    v = row.value(metric)
    if row.status == RunStatus.COMPLETED:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return float(v) if ok else WORST
    return WORST if row.status == "failed" else None


def yardstick_outcome(row, key: str) -> float | None:
    """What a run counts as in the statistics of a yardstick. vs_linear: its value when it
    completed with a finite eval_mse and the filter was not exact (vs_linear null: left
    out), WORST when it diverged or failed, as `outcome`; linear, a property of the run's
    data and not of its training: its value wherever the run has one."""
    v = row.value(key)
    finite = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if key == "linear":
        return float(v) if finite else None
    ev = outcome(row)
    if ev is None or math.isinf(ev):
        return ev
    return float(v) if finite else None


def has_yardsticks(rows) -> bool:
    return any(row.value("linear") is not None for row in rows)


def log_ratio(a: float, b: float) -> float:
    """log(a / b) of two outcomes: ±inf where one diverged and the other did not, 0 where
    both did (a tie: neither is better)."""
    if a == b:
        return 0.0
    if a <= 0 or b <= 0 or math.isinf(a) or math.isinf(b):
        return -math.inf if a < b else math.inf
    return math.log(a) - math.log(b)


def describe(values: list[float]) -> dict:
    """mean, std (sample, n-1; 0 for one value), median, IQM (the interquartile mean),
    min, max of the outcomes (None dropped; +inf, a diverged seed, kept: it is the worst,
    so it moves the median and IQM as a worst seed does, and makes the mean +inf and the
    std None); None for each when there are none."""
    vals = numbers(values)
    if not vals:
        return dict.fromkeys(STATS)
    if any(math.isinf(v) for v in vals):
        spread = None
    else:
        spread = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return {"mean": statistics.fmean(vals), "std": spread,
            "median": statistics.median(vals), "iqm": interquartile_mean(vals),
            "min": min(vals), "max": max(vals)}


def interquartile_mean(vals: list[float]) -> float:
    """The mean of the middle half: int(n/4) values cut from each end, as scipy's
    trim_mean(x, 0.25) cuts them (the bootstrap uses that one)."""
    cut = int(0.25 * len(vals))
    middle = sorted(vals)[cut:len(vals) - cut]
    return statistics.fmean(middle)


def group_rows(rows, keys: list[str]) -> list[list]:
    """Rows split by the configured values of `keys`, groups in first-seen order."""
    by: dict[tuple, list] = {}
    for r in rows:
        by.setdefault(tuple(repr(r.setting(k)) for k in keys), []).append(r)
    return list(by.values())


def groups(rows, keys: list[str], threshold: float, intervals: bool = True) -> list[dict]:
    """One object per distinct combination of `keys` (in first-seen order):
    {KEY: value…, "n", "ok" ("18/20"), "ok_count", "ok_ci", `completed`, "failed",
    "counted", "diverged", "eval_mse": {…, "median_ci", "iqm_ci"}, "final_loss": {…}}.

    `n` counts every run of the group, whatever its status; the statistics are over the
    `counted` ones, those that ended (completed or failed: `outcome`), a failed or
    diverged one as the worst; `diverged` says how many of those have no finite eval_mse.
    `ok` counts the counted runs whose eval_mse is at most `threshold`. Where any run has
    yardsticks, "vs_linear" and "linear" are described as well, each with its own
    "counted" (`yardstick_outcome`: a run whose filter is exact has no vs_linear).

    With intervals, each median and IQM carries its 95% interval and `ok` its exact
    (Clopper-Pearson) interval ([low, high], or None under 6 runs, 3 for ok); the mean has none
    (intervals.py says why). `rows` need .status, .setting(key) and .value(key).
    """
    out = []
    yard = YARDSTICKS if has_yardsticks(rows) else ()
    for members in group_rows(rows, keys):
        point = {k: members[0].setting(k) for k in keys}
        values = {m: [v for r in members if (v := outcome(r, m)) is not None]
                  for m in METRICS}
        values |= {m: [v for r in members if (v := yardstick_outcome(r, m)) is not None]
                   for m in yard}
        evals = values["eval_mse"]
        ok = sum(1 for v in evals if v <= threshold)
        metrics = {m: describe(values[m]) | ({"counted": len(values[m])} if m in yard else {})
                   for m in (*METRICS, *yard)}
        ok_ci = None
        if intervals:
            from .intervals import exact_share, iqm_interval, median_interval

            name = repr(sorted(point.items()))
            for m in (*METRICS, *yard):
                metrics[m].update(median_ci=median_interval(values[m]),
                                  iqm_ci=iqm_interval(values[m], f"{name}/{m}"))
            ok_ci = exact_share(ok, len(evals))
        out.append({**point, "n": len(members), "ok": f"{ok}/{len(evals)}", "ok_count": ok,
                    **({"ok_ci": ok_ci} if intervals else {}),
                    **{s: sum(r.status == s for r in members)
                       for s in (RunStatus.COMPLETED, RunStatus.FAILED)},
                    "counted": len(evals), "diverged": sum(math.isinf(v) for v in evals),
                    **metrics})
    return out


def flatten(group: dict) -> dict:
    """A group object as one CSV row: eval_mse_mean, eval_mse_std, paired_power_needed, …;
    an interval becomes two columns, …_lo and …_hi (empty where it is n/a)."""
    flat = {}

    def put(name, x):
        if isinstance(x, dict):
            for s, y in x.items():
                put(f"{name}_{s}", y)
        elif name.endswith("_ci"):
            lo, hi = x if x is not None else (None, None)
            flat[name[:-3] + "_lo"], flat[name[:-3] + "_hi"] = lo, hi
        else:
            flat[name] = x
    for k, v in group.items():
        put(k, v)
    return flat


def paired(rows, keys: list[str], reference: dict | None = None,
           power: tuple[float, float] | None = None) -> list[dict]:
    """Each group against a reference group (the first, or the one whose keys equal
    `reference`), seed by seed, on eval_mse: {"reference": {KEY: value…}, "shared": n,
    "ratio_median", "ratio_ci" (bootstrap), "p_improve" and "p_improve_ci" (the probability
    that this group's eval_mse is lower than the reference's, over the shared seeds),
    "wilcoxon_p", "wins", "losses", "ties"} (a win: a lower eval_mse than the reference on
    the same seed), or {"shared": n, "note": …} when fewer than MIN_SEEDS seeds are shared.
    One object per group, the reference's first. ValueError when the reference names no
    group or no group shares a seed with it.

    power=(target, effect): each comparison also says how many seeds a study needs to
    detect a ratio of `effect` with that power, its shared seeds the pilot (power.py)."""
    from .intervals import improvement, median_interval

    parts = group_rows(rows, keys)
    points = [{k: g[0].setting(k) for k in keys} for g in parts]
    if reference is None:
        ref_i = 0
    else:
        found = [i for i, p in enumerate(points)
                 if all(repr(p.get(k)) == repr(v) for k, v in reference.items())]
        if not found:
            raise ValueError(f"no group has {_point(reference)}; groups: "
                             f"{'; '.join(_point(p) for p in points)}")
        ref_i = found[0]

    def by_seed(group):  # a seed that diverged or failed is its worst: it stays paired
        return {r.setting("seed"): v for r in group if (v := outcome(r)) is not None}
    ref = by_seed(parts[ref_i])
    out, any_shared = [], False
    for i, g in enumerate(parts):
        if i == ref_i:
            continue
        mine = by_seed(g)
        seeds = sorted(set(mine) & set(ref), key=repr)
        any_shared |= bool(seeds)
        row = {**points[i], "reference": _point(points[ref_i]), "shared": len(seeds)}
        if len(seeds) < MIN_SEEDS:
            row["note"] = (f"{len(seeds)} shared seed{'s' * (len(seeds) != 1)}: too few for "
                           f"a paired comparison (at least {MIN_SEEDS})")
            out.append(row)
            continue
        logs = [log_ratio(mine[s], ref[s]) for s in seeds]
        ratios = [ratio_of(x) for x in logs]
        wins = sum(x < 0 for x in logs)
        losses = sum(x > 0 for x in logs)
        better, better_ci = improvement([mine[s] for s in seeds], [ref[s] for s in seeds])
        row.update(ratio_median=statistics.median(ratios), ratio_ci=median_interval(ratios),
                   p_improve=better, p_improve_ci=better_ci, wilcoxon_p=_wilcoxon(logs),
                   wins=wins, losses=losses, ties=len(seeds) - wins - losses,
                   diverged=sum(math.isinf(mine[s]) for s in seeds),
                   reference_diverged=sum(math.isinf(ref[s]) for s in seeds))
        if power is not None:
            from .power import seeds_needed

            target, effect = power
            row["power"] = seeds_needed(_ranked_finite(logs), effect, target,
                                        f"paired/{_point(points[i])}").to_json()
        out.append(row)
    if len(parts) > 1 and not any_shared:
        raise ValueError("the groups share no seed: nothing to compare seed by seed")
    return [{**points[ref_i], "reference": _point(points[ref_i]), "shared": len(ref),
             "is_reference": True}] + out


def _wilcoxon(diffs: list[float]) -> float | None:
    """The two-sided p-value of Wilcoxon's signed-rank test on the log ratios, as scipy's
    wilcoxon gives it (zeros dropped): its exact null distribution up to 50 values without
    ties or zeros, its normal approximation (with the tie correction) above 50. Both are
    computed here, so a comparison of thousands of seeds needs no scipy; the small cases
    with ties, where scipy runs a permutation test, are left to scipy itself."""
    diffs = _ranked_finite(diffs)
    if all(d == 0 for d in diffs):
        return 1.0
    nonzero = [d for d in diffs if d != 0]
    n = len(nonzero)
    order = sorted(range(n), key=lambda i: abs(nonzero[i]))
    ranks, ties, i = [0.0] * n, [], 0
    while i < n:  # midranks over runs of equal |d|
        j = i
        while j + 1 < n and abs(nonzero[order[j + 1]]) == abs(nonzero[order[i]]):
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    r_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    if len(diffs) > 50:
        mean = n * (n + 1) / 4
        se = math.sqrt((n * (n + 1) * (2 * n + 1) - sum(t ** 3 - t for t in ties) / 2) / 24)
        return math.erfc(abs(r_plus - mean) / se / math.sqrt(2))
    if len(nonzero) == len(diffs) and max(ties) == 1:
        counts = signed_rank_counts(n)
        k = int(round(r_plus))
        total = 2 ** n
        return min(1.0, 2 * min(sum(counts[k:]), sum(counts[:k + 1])) / total)
    from scipy.stats import wilcoxon

    return float(wilcoxon(diffs).pvalue)


def _ranked_finite(diffs: list[float]) -> list[float]:
    """±inf (one side diverged) as a value beyond every finite one: the same ranks."""
    big = 2 * max((abs(d) for d in diffs if math.isfinite(d)), default=1.0) + 1
    return [d if math.isfinite(d) else math.copysign(big, d) for d in diffs]


def _point(p: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in p.items()) or "(all)"
