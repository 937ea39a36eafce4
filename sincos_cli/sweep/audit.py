"""The halving audit (`sweep --halving --audit K`): once every rung is done, K of the pruned
points are trained to the end as well, so the pruner can be checked against the truth.

Which K: the pruned points in the order they nearly made it (pruned at a later rung first,
then by their rank there), taken evenly from the first to the last of that order: K=1 is
the runner-up, K = every pruned point trains the whole grid. Their members resume from
their checkpoints and are marked `"audit": true` in sweep.json; a held-out choice never
picks an audited point (the search did not).

What it reports (sweep.json's halving "audit" "result"): for each rung, Spearman's ρ
between the points' scores there and their final median eval_mse, over the points trained
to the end; the halving's pick (the best finalist by final median) against the best point
the audit saw, and the regret, the pick's final median over the best's (1: the pick was
the best).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from sincos_cli.status import RunStatus
from sincos_cli.store.sweep_doc import SweepDoc

from . import halving
from .jobs import Tally
from .plan import all_completed, member_state, point_evals, point_key, unfinished


def choose(history: list[dict], k: int) -> list[str]:
    """The keys of the K pruned points to train to the end, from the halving's rungs."""
    reached: dict[str, tuple] = {}
    for i, rung in enumerate(history):
        for p in rung["points"]:
            reached[point_key(p["point"])] = (-i, p["rank"])
    finalists = set(history[-1]["kept"]) if history else set()
    pruned = sorted((key for key in reached if key not in finalists), key=reached.get)
    if k >= len(pruned):
        return pruned
    if k == 1:
        return pruned[:1]
    return [pruned[round(i * (len(pruned) - 1) / (k - 1))] for i in range(k)]


def run(home: Path, sweep: Path, doc: SweepDoc, argv: list[str], execute_jobs,
        grow=None) -> Tally:
    """Choose (once), train the audited points' members to the end, then report."""
    a = doc.halving["audit"]
    p = halving.plan(doc)
    if a.get("points") is None:
        a["points"] = [p.points[key] for key in choose(doc.halving["history"], a["k"])]
        chosen = {point_key(pt) for pt in a["points"]}
        for m in doc:
            if not m.holdout and point_key(m.point) in chosen:
                m.audit = True
        doc.save(sweep)
    jobs = unfinished(home, doc, doc.audited(), argv)
    if grow is not None and jobs:
        grow(len(jobs), f"audit: training {len(a['points'])} pruned point"
             f"{'s' * (len(a['points']) != 1)} to the end ({len(jobs)} members)")
    counts = execute_jobs(jobs)
    if all(member_state(home / m.run, m.config)[0] in (RunStatus.COMPLETED, RunStatus.FAILED)
           for m in doc.audited()):  # settled: what it shows is final
        a["result"] = result(home, doc)
        doc.save(sweep)
    return counts


def finals(home: Path, doc: SweepDoc) -> dict[str, float]:
    """The final median eval_mse of each point trained to the end (finalists and audited),
    over its completed members."""
    evals = point_evals(home, (m for m in doc if not m.holdout))
    done = {k: [x for x in v if math.isfinite(x)] for k, v in evals.items()}
    return {k: statistics.median(v) for k, v in done.items() if v}


def result(home: Path, doc: SweepDoc) -> dict:
    from sincos_cli.stats.rank import spearman

    h = doc.halving
    final = finals(home, doc)
    p = halving.plan(doc)
    rungs = []
    for rung in h["history"]:
        pairs = [(x["score"], final[point_key(x["point"])]) for x in rung["points"]
                 if x["score"] is not None and point_key(x["point"]) in final]
        rho = spearman([s for s, _ in pairs], [f for _, f in pairs]) if pairs else None
        rungs.append({"step": rung["step"], "points": len(pairs), "spearman": rho})
    finalists = [k for k in (h["history"][-1]["kept"] if h["history"] else []) if k in final]
    out = {"rungs": rungs, "points": len(final)}
    if finalists and final:
        pick = min(finalists, key=final.get)
        best = min(final, key=final.get)
        order = sorted(final, key=final.get)
        out.update(pick=p.points[pick], pick_median=final[pick], pick_place=order.index(
            pick) + 1, best=p.points[best], best_median=final[best],
            regret=final[pick] / final[best] if final[best] > 0 else None)
    return out


def finished(home: Path, doc: SweepDoc) -> bool:
    a = (doc.halving or {}).get("audit")
    if not a:
        return True
    if a.get("points") is None or a.get("result") is None:
        return False
    return all_completed(home, doc.audited())
