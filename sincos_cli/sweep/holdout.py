"""Held-out seeds: once a sweep has chosen, its top points are trained again on seeds the
choice never saw, and reported as a group of their own (`set=holdout` beside
`set=selection` in `compare`).

sweep.json's "holdout" records the seeds, how many points go (`top`) and, once chosen,
which points and why; the held-out members are ordinary members with `"holdout": true`
(in sweep.json and in their run.json), made only when the choice is made.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from sincos_cli.store.runs import allocate_many
from sincos_cli.store.sweep_doc import Member, SweepDoc

from .jobs import Tally
from .plan import all_completed, point_evals, point_key, unfinished

BY = ("median", "ok", "worst")  # --holdout-by: how the top points are chosen


def _choose(home: Path, doc: SweepDoc, top: int, by: str = "median",
            threshold: float = 1e-4) -> list[dict]:
    """The `top` grid points by `by` over their members (with halving: the points that
    reached the end, not those an audit trained on): median, the lowest median eval_mse
    of the completed members; ok, the largest share of members at or under the threshold
    (ties: the lower median); worst, the lowest largest eval_mse (a member that did not
    complete counts as the worst)."""
    chosen_from = doc.chosen_from()
    points = {point_key(m.point): m.point for m in chosen_from}
    evals = point_evals(home, chosen_from)  # the search never chose an audited point
    done = {k: [x for x in v if math.isfinite(x)] for k, v in evals.items()}
    medians = {k: statistics.median(v) for k, v in done.items() if v}

    def rank(k):
        v = evals[k]
        if by == "ok":
            return (-sum(x <= threshold for x in v) / len(v), medians[k])
        if by == "worst":
            return (max(v), medians[k])
        return (medians[k],)
    ranked = sorted(medians, key=rank)
    return [{"point": points[k], "median_eval_mse": medians[k], "n": len(done[k]),
             **({"by": by, "score": _finite(rank(k)[0])} if by != "median" else {})}
            for k in ranked[:top]]


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def run(home: Path, sweep: Path, doc: SweepDoc, argv: list[str], execute_jobs) -> Tally:
    """Choose (once), make the held-out members (once), train what is left of them."""
    h = doc.holdout
    if h.get("chosen") is None:
        h["chosen"] = _choose(home, doc, h["top"], h.get("by", "median"),
                              h.get("threshold", 1e-4))
        template = {point_key(m.point): m for m in doc}
        wanted = [(c["point"], s) for c in h["chosen"] for s in h["seeds"]]
        folders = allocate_many(home, len(wanted), sweep=doc.id)
        doc.add(Member(point=point, seed=seed, run=path.name, holdout=True,
                       config={**template[point_key(point)].config, "seed": seed})
                for (point, seed), path in zip(wanted, folders, strict=True))
        doc.save(sweep)
    return execute_jobs(unfinished(home, doc, doc.held_out(), argv))


def finished(home: Path, doc: SweepDoc) -> bool:
    h = doc.holdout
    if not h:
        return True
    if h.get("chosen") is None:
        return False
    return all_completed(home, doc.held_out())
