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


def groups(rows, keys: list[str], threshold: float) -> list[dict]:
    """One object per distinct combination of `keys` (in first-seen order):
    {KEY: value…, "n", "ok" ("18/20"), "ok_count", "completed", "failed",
    "eval_mse": {…}, "final_loss": {…}}.

    `n` counts every run of the group, whatever its status.

    `ok` counts the group's runs whose eval_mse is at most `threshold`, out of n (a run
    without eval_mse, e.g. failed, is not ok). `rows` need .status, .setting(key) and
    .value(key).
    """
    out = []
    for members in group_rows(rows, keys):
        evals = [r.value("eval_mse") for r in members]
        ok = sum(1 for v in evals if isinstance(v, (int, float)) and v <= threshold)
        out.append({**{k: members[0].setting(k) for k in keys}, "n": len(members),
                    "ok": f"{ok}/{len(members)}", "ok_count": ok,
                    "completed": sum(r.status == "completed" for r in members),
                    "failed": sum(r.status == "failed" for r in members),
                    **{m: describe([r.value(m) for r in members]) for m in METRICS}})
    return out


def flatten(group: dict) -> dict:
    """A group object as one CSV row: eval_mse_mean, eval_mse_std, …"""
    flat = {}
    for k, v in group.items():
        if isinstance(v, dict):
            flat.update({f"{k}_{s}": x for s, x in v.items()})
        else:
            flat[k] = v
    return flat
