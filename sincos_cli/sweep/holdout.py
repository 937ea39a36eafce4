"""Held-out seeds: once a sweep has chosen, its top points are trained again on seeds the
choice never saw, and reported as a group of their own (`set=holdout` beside
`set=selection` in `compare`).

sweep.json's "holdout" records the seeds, how many points go (`top`) and, once chosen,
which points and why; the held-out members are ordinary members with `"holdout": true`
(in sweep.json and in their run.json), made only when the choice is made.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from sincos_cli.store.files import atomic_write_json
from sincos_cli.store.runs import allocate_many

from .plan import job_for, member_state, mode_for


def _choose(home: Path, doc: dict, top: int) -> list[dict]:
    """The `top` grid points with the lowest median eval_mse over their completed members
    (with halving: the points that reached the end, not those an audit trained on)."""
    from sincos_cli.store.record import load_row

    by: dict[str, list] = {}
    points: dict[str, dict] = {}
    for m in doc["members"]:
        if m.get("holdout") or m.get("audit"):  # the search never chose an audited point
            continue
        row = load_row(home / m["run"])
        ev = row.value("eval_mse")
        key = repr(sorted(m["point"].items()))
        points[key] = m["point"]
        if row.status == "completed" and isinstance(ev, (int, float)):
            by.setdefault(key, []).append(ev)
    ranked = sorted(by, key=lambda k: statistics.median(by[k]))
    return [{"point": points[k], "median_eval_mse": statistics.median(by[k]),
             "n": len(by[k])} for k in ranked[:top]]


def run(home: Path, sweep: Path, doc: dict, argv: list[str], execute_jobs) -> dict:
    """Choose (once), make the held-out members (once), train what is left of them."""
    h = doc["holdout"]
    if h.get("chosen") is None:
        h["chosen"] = _choose(home, doc, h["top"])
        template = {repr(sorted(m["point"].items())): m for m in doc["members"]}
        wanted = [(c["point"], s) for c in h["chosen"] for s in h["seeds"]]
        folders = allocate_many(home, len(wanted))
        for (point, seed), path in zip(wanted, folders, strict=True):
            config = {**template[repr(sorted(point.items()))]["config"], "seed": seed}
            doc["members"].append({"point": point, "seed": seed, "run": path.name,
                                   "config": config, "holdout": True})
        atomic_write_json(sweep / "sweep.json", doc)
    jobs = []
    for m in doc["members"]:
        if not m.get("holdout"):
            continue
        path = home / m["run"]
        state, _ = member_state(path, m["config"])
        if state != "completed":
            jobs.append(job_for(m, mode_for(path, state), doc, argv))
    return execute_jobs(jobs)


def finished(home: Path, doc: dict) -> bool:
    h = doc.get("holdout")
    if not h:
        return True
    if h.get("chosen") is None:
        return False
    return all(member_state(home / m["run"], m["config"])[0] == "completed"
               for m in doc["members"] if m.get("holdout"))
