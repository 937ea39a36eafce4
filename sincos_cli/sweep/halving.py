"""Seed-aware successive halving: every grid point starts on all its seeds; at each rung the
points are ranked by a seed aggregate of the training loss and the best 1/η go on.

Rungs are r, rη, rη², … steps (below --steps, and while more than one point is left), then
--steps. By default r is the warm-up plus (--steps − warm-up) / η^K (rounded up), with η^K
the largest power of η not above the number of points: no point is judged while its lr is
still ramping up, the last rung before the end keeps about one point in η, and the final
one trains what is left to the end.

A point that stops has its members marked `pruned` at the rung's step (each an ordinary run
with its checkpoint: `train --resume` continues one). sweep.json's "halving" records η, the
rule, the rungs, and per rung every point's score and whether it went on; a resume reads it
and continues the rung in progress, never retraining one that is done.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from sincos_cli.errors import SincosError
from sincos_cli.status import RunStatus
from sincos_cli.store.files import read_metrics
from sincos_cli.store.run_doc import RunDoc
from sincos_cli.store.summary_doc import Summary
from sincos_cli.store.sweep_doc import Member, SweepDoc

from .jobs import Outcome, Result, Tally
from .plan import all_completed, job_for, member_state, mode_for, plan_jobs, point_key

RULES = ("trend", "median", "ok")


def rungs(steps: int, points: int, eta: int, first: int | None = None,
          warmup: int = 0) -> list[int]:
    """The steps at which points are ranked, then `steps` itself. By default the first
    rung comes after the warm-up (a loss still ramping up with the lr ranks nothing).
    ValueError when the first rung is not below --steps."""
    if first is None:
        k = int(math.floor(math.log(points, eta) + 1e-9)) if points > 1 else 0
        first = warmup + max(1, -(-(steps - warmup) // eta ** max(k, 1)))
    if first >= steps:
        raise ValueError(f"the first rung ({first} steps) must come before --steps "
                         f"({steps})")
    out, r, left = [], first, points
    while r < steps and left > 1:  # past one point left, a rung ranks nothing
        out.append(r)
        left = math.ceil(left / eta)
        r *= eta
    return out + [steps]


@dataclass(frozen=True)
class Points:
    """A halving sweep's grid points, in the order they first appear among the members:
    each point's key (plan.point_key), members and grid point."""

    keys: list[str]
    members: dict[str, list[Member]]
    points: dict[str, dict]


def plan(doc: SweepDoc) -> Points:
    """The point each member belongs to, in the order points first appear."""
    keys, members = [], {}
    for m in doc:
        if m.holdout:  # trained once the choice is made (holdout.py)
            continue
        key = point_key(m.point)
        if key not in members:
            keys.append(key)
            members[key] = []
        members[key].append(m)
    return Points(keys, members, {k: members[k][0].point for k in keys})


def score(home: Path, members: list[Member], step: int, rule: str, threshold: float,
          final: int | None = None):
    """A point's seed aggregate at a rung, lower is better:
    - trend: the median over seeds of each member's training loss extrapolated to the
      final step: a power law (a straight line in log loss against log step) fitted by
      least squares to the second half of the steps before the rung;
    - median: the median over seeds of each member's mean training loss over the last
      fifth of the steps before the rung;
    - ok: minus the share of members whose loss there is at most the threshold."""
    window = max(1, step // 5)
    losses = []
    for m in members:
        rows = [r for r in read_metrics(home / m.run / "metrics.jsonl")
                if (step // 2 if rule == "trend" else step - window) <= r["step"] < step]
        pairs = [(r["step"], r["loss"]) for r in rows if math.isfinite(r["loss"])]
        if len(pairs) != len(rows) or not pairs:
            losses.append(math.inf)
        elif rule == "trend":
            losses.append(_extrapolate(pairs, final or step))
        else:
            losses.append(statistics.fmean(v for _, v in pairs))
    if rule == "ok":
        return -sum(v <= threshold for v in losses) / len(losses)
    finite = [v for v in losses if math.isfinite(v)]
    return statistics.median(losses) if len(finite) == len(losses) else math.inf


def _extrapolate(pairs: list[tuple[int, float]], final: int) -> float:
    """log loss = a + b · log(step + 1), fitted, at the final step (a loss of 0 counts as
    1e-12). Too few or too flat steps to fit: their mean."""
    xs = [math.log(s + 1) for s, _ in pairs]
    ys = [math.log(max(v, 1e-12)) for _, v in pairs]
    if len(pairs) < 3 or max(xs) - min(xs) < 1e-9:
        return statistics.fmean(v for _, v in pairs)
    slope, intercept = statistics.linear_regression(xs, ys)
    return math.exp(min(intercept + slope * math.log(final), 700.0))


def steps_done(path: Path) -> int:
    try:
        return int(Summary.load(path).steps or 0)
    except (SincosError, ValueError, TypeError):
        return 0


def run(home: Path, sweep: Path, doc: SweepDoc, argv: list[str], execute_jobs, should_stop,
        restart_damaged: bool = False, on_result=None) -> Tally:
    """Train the rungs from the one in progress; returns the outcomes' counts (as
    sweep.driver.execute does), stopping early when a rung was interrupted."""
    plan_jobs(home, doc, argv, restart_damaged)  # damaged or running members stop it here
    h = doc.halving
    p = plan(doc)
    history = h.setdefault("history", [])
    active = history[-1]["kept"] if history else list(p.keys)
    totals = Tally()
    holes = _holes(home, doc, p)
    if holes:  # members of points pruned earlier, removed since: trained back to their rung
        totals.add(execute_jobs([replace(job_for(m, mode_for(home / m.run, st), doc, argv),
                                         stop_at=step) for m, st, step, _ in holes]))
        for m, _, step, why in holes:
            if steps_done(home / m.run) >= step:
                _mark_pruned(home / m.run, why)
        if should_stop() or totals.broken():
            return totals
    for i in range(len(history), len(h["rungs"])):
        step, last = h["rungs"][i], i == len(h["rungs"]) - 1
        jobs = []
        for key in active:
            for m in p.members[key]:
                path = home / m.run
                state, _ = member_state(path, m.config)
                if state == RunStatus.COMPLETED or (not last and steps_done(path) >= step):
                    continue
                job = job_for(m, mode_for(path, state), doc, argv)
                jobs.append(replace(job, stop_at=None if last else step))
        counts = execute_jobs(jobs)
        totals.add(counts)
        if should_stop() or counts.broken():
            return totals
        if last:
            break
        scores = {k: score(home, p.members[k], step, h["rule"], h["threshold"],
                           h["rungs"][-1])
                  for k in active}
        ranked = sorted(active, key=lambda k: (scores[k], active.index(k)))
        keep = ranked[:max(1, math.ceil(len(active) / h["eta"]))]
        record = []
        for place, key in enumerate(ranked, 1):
            s = scores[key]
            record.append({"point": p.points[key], "score": s if math.isfinite(s) else None,
                           "rank": place, "kept": key in keep})
            if key not in keep:
                why = _why(step, place, len(ranked), h)
                for m in p.members[key]:
                    _mark_pruned(home / m.run, why)
                    if on_result is not None:  # progress counts it as done
                        on_result(Result(m.run, Outcome.PRUNED,
                                         error=why.removeprefix("pruned ")))
                totals.by[Outcome.PRUNED] += len(p.members[key])
        history.append({"step": step, "points": record, "kept": keep})
        doc.save(sweep)
        active = keep
    return totals


def _why(step: int, place: int, of: int, h: dict) -> str:
    return f"pruned at step {step}: rank {place} of {of} by the {h['rule']} rule (η={h['eta']})"


def _holes(home: Path, doc: SweepDoc, p: Points) -> list[tuple[Member, str, int, str]]:
    """(member, state, rung step, why) of each member of a point pruned at a recorded rung
    that is not there at that rung any more (removed, or stopped short of it)."""
    h = doc.halving
    out = []
    for rec in h.get("history", []):
        for pt in rec["points"]:
            if pt["kept"]:
                continue
            for m in p.members.get(point_key(pt["point"]), []):
                state, _ = member_state(home / m.run, m.config)
                if state == "new" or (state in ("interrupted", "crashed") and
                                      steps_done(home / m.run) < rec["step"]):
                    out.append((m, state, rec["step"],
                                _why(rec["step"], pt["rank"], len(rec["points"]), h)))
    return out


def finished(home: Path, doc: SweepDoc) -> bool:
    """Every rung ranked, every member of the points that went on completed, and every
    member of a pruned point there at its rung."""
    h = doc.halving
    history = h.get("history", [])
    if len(history) < len(h["rungs"]) - 1:
        return False
    p = plan(doc)
    if _holes(home, doc, p):
        return False
    active = history[-1]["kept"] if history else p.keys
    return all_completed(home, (m for k in active for m in p.members[k]))


def _mark_pruned(path: Path, why: str) -> None:
    """A member whose point stopped: its status says so (resumable, like interrupted)."""
    run = RunDoc.load(path)
    if run.status in ("interrupted", "pruned"):
        run.status, run.error = "pruned", why
        run.save(path)
