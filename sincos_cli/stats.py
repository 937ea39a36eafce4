"""Group statistics over runs: plain functions over rows, no printing (standard library only).

`compare --group-by` and `sweep` both use them.
"""

from __future__ import annotations

import math
import statistics

METRICS = ("eval_mse", "final_loss")
STATS = ("mean", "std", "median", "min", "max")


def describe(values: list[float]) -> dict:
    """mean, std (sample, n-1; 0 for one value), median, min, max of the finite values;
    None for each when there are none."""
    vals = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return dict.fromkeys(STATS)
    return {"mean": statistics.fmean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "median": statistics.median(vals), "min": min(vals), "max": max(vals)}


def group_rows(rows, keys: list[str]) -> list[list]:
    """Rows split by the configured values of `keys`, groups in first-seen order."""
    by: dict[tuple, list] = {}
    for r in rows:
        by.setdefault(tuple(repr(r.setting(k)) for k in keys), []).append(r)
    return list(by.values())


def groups(rows, keys: list[str], threshold: float, intervals: bool = True) -> list[dict]:
    """One object per distinct combination of `keys` (in first-seen order):
    {KEY: value…, "n", "ok" ("18/20"), "ok_count", "ok_ci", "completed", "failed",
    "eval_mse": {…, "median_ci", "mean_ci"}, "final_loss": {…}}.

    With intervals, each median and mean carries its 95% bootstrap interval and `ok` its
    Wilson interval ([low, high], or None under 3 runs); intervals.py computes them.

    `n` counts every run of the group, whatever its status.

    `ok` counts the group's runs whose eval_mse is at most `threshold`, out of n (a run
    without eval_mse, e.g. failed, is not ok). `rows` need .status, .setting(key) and
    .value(key).
    """
    out = []
    for members in group_rows(rows, keys):
        evals = [r.value("eval_mse") for r in members]
        ok = sum(1 for v in evals if isinstance(v, (int, float)) and v <= threshold)
        point = {k: members[0].setting(k) for k in keys}
        metrics = {m: describe([r.value(m) for r in members]) for m in METRICS}
        ok_ci = None
        if intervals:
            from .intervals import bootstrap, wilson

            name = repr(sorted(point.items()))
            for m in METRICS:
                values = [r.value(m) for r in members]
                metrics[m]["median_ci"] = bootstrap(values, "median", f"{name}/{m}")
                metrics[m]["mean_ci"] = bootstrap(values, "mean", f"{name}/{m}")
            ok_ci = wilson(ok, len(members))
        out.append({**point, "n": len(members), "ok": f"{ok}/{len(members)}",
                    "ok_count": ok, **({"ok_ci": ok_ci} if intervals else {}),
                    "completed": sum(r.status == "completed" for r in members),
                    "failed": sum(r.status == "failed" for r in members), **metrics})
    return out


def flatten(group: dict) -> dict:
    """A group object as one CSV row: eval_mse_mean, eval_mse_std, …; an interval becomes
    two columns, …_lo and …_hi (empty under 3 runs)."""
    flat = {}

    def put(name, x):
        if name.endswith("_ci"):
            lo, hi = x if x is not None else (None, None)
            flat[name[:-3] + "_lo"], flat[name[:-3] + "_hi"] = lo, hi
        else:
            flat[name] = x
    for k, v in group.items():
        if isinstance(v, dict):
            for s, x in v.items():
                put(f"{k}_{s}", x)
        else:
            put(k, v)
    return flat
