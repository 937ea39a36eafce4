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

from sincos_cli.status import RunStatus
from sincos_cli.store.files import atomic_write_json
from sincos_cli.store.runs import allocate_many

from .plan import job_for, member_state, mode_for, point_evals, point_key

BY = ("median", "ok", "worst")  # --holdout-by: how the top points are chosen


def _choose(home: Path, doc: dict, top: int, by: str = "median",
            threshold: float = 1e-4) -> list[dict]:
    """The `top` grid points by `by` over their members (with halving: the points that
    reached the end, not those an audit trained on): median, the lowest median eval_mse
    of the completed members; ok, the largest share of members at or under the threshold
    (ties: the lower median); worst, the lowest largest eval_mse (a member that did not
    complete counts as the worst)."""
    chosen_from = [m for m in doc["members"] if not (m.get("holdout") or m.get("audit"))]
    points = {point_key(m["point"]): m["point"] for m in chosen_from}
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


def run(home: Path, sweep: Path, doc: dict, argv: list[str], execute_jobs) -> dict:
    """Choose (once), make the held-out members (once), train what is left of them."""
    h = doc["holdout"]
    if h.get("chosen") is None:
        h["chosen"] = _choose(home, doc, h["top"], h.get("by", "median"),
                              h.get("threshold", 1e-4))
        template = {point_key(m["point"]): m for m in doc["members"]}
        wanted = [(c["point"], s) for c in h["chosen"] for s in h["seeds"]]
        folders = allocate_many(home, len(wanted), sweep=doc["id"])
        for (point, seed), path in zip(wanted, folders, strict=True):
            config = {**template[point_key(point)]["config"], "seed": seed}
            doc["members"].append({"point": point, "seed": seed, "run": path.name,
                                   "config": config, "holdout": True})
        atomic_write_json(sweep / "sweep.json", doc)
    jobs = []
    for m in doc["members"]:
        if not m.get("holdout"):
            continue
        path = home / m["run"]
        state, _ = member_state(path, m["config"])
        if state != RunStatus.COMPLETED:
            jobs.append(job_for(m, mode_for(path, state), doc, argv))
    return execute_jobs(jobs)


def finished(home: Path, doc: dict) -> bool:
    h = doc.get("holdout")
    if not h:
        return True
    if h.get("chosen") is None:
        return False
    return all(member_state(home / m["run"], m["config"])[0] == RunStatus.COMPLETED
               for m in doc["members"] if m.get("holdout"))
