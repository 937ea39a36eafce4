"""Sweeps that add seeds until decided (`sweep --until-decided`): the grid is trained on the
first seeds; then every point is compared with the reference point, seed by seed, and the
points not yet decided go on, with the reference, on as many new seeds again, until each
is decided or the budget (--max-seeds) is spent. The rule and its error rate are
stats/sequential.py's.

sweep.json's "until_decided" records the rule (α, the planned looks, those that count, the
level each spends), the reference point and every round: its seeds, its points, and once
its members are done, each comparison at that look. A round's members are ordinary members
(made when the round is planned, in the same write as the round); a resume trains what is
left of the round in progress and goes on from its look. New seeds are the integers after
the largest seed used so far, skipping held-out seeds.
"""

from __future__ import annotations

from pathlib import Path

from sincos_cli.store.runs import allocate_many
from sincos_cli.store.show import round_line
from sincos_cli.store.sweep_doc import Member, SweepDoc

from .jobs import Tally
from .plan import point_key, unfinished

DECIDED, UNDECIDED = "decided", "undecided"


def plan(grid_points: list[dict], seeds: list[int], max_seeds: int, alpha: float,
         reference: dict) -> dict:
    """sweep.json's "until_decided" for a new sweep: the rule and its first round."""
    from sincos_cli.stats.sequential import calibrated, looks

    planned = looks(len(seeds), max_seeds)
    tested, level = calibrated(planned, alpha, len(grid_points) - 1)
    return {"alpha": alpha, "max_seeds": max_seeds, "reference": reference,
            "comparisons": len(grid_points) - 1, "looks": planned, "tested": tested,
            "level": level, "rule": "level calibrated over the looks by a sign-flip simulation "
            "of the null, Bonferroni over the comparisons; Wilcoxon "
            "signed-rank interval of the log ratio", "outcome": None,
            "rounds": [{"n": len(seeds), "seeds": list(seeds), "points": grid_points,
                        "results": None}]}


def _value(path: Path) -> float | None:
    """A member's eval_mse for the comparison, as every statistic counts it
    (stats.groups.outcome): +inf when it diverged or failed, None while it has not ended."""
    from sincos_cli.stats.groups import outcome
    from sincos_cli.store.record import load_row

    return outcome(load_row(path))


def compare(home: Path, doc: SweepDoc, u: dict, points: list[dict]) -> list[dict]:
    """Each of `points` (not the reference) against the reference at this look."""
    from sincos_cli.stats.groups import log_ratio
    from sincos_cli.stats.sequential import look

    by: dict[str, dict] = {}
    for m in doc:
        if not m.holdout:
            v = _value(home / m.run)
            if v is not None:
                by.setdefault(point_key(m.point), {})[m.seed] = v
    ref = by.get(point_key(u["reference"]), {})
    n = u["rounds"][-1]["n"]
    tested = n in u["tested"]
    out = []
    for p in points:
        if point_key(p) == point_key(u["reference"]):
            continue
        mine = by.get(point_key(p), {})
        shared = sorted(set(mine) & set(ref))
        d = [log_ratio(mine[s], ref[s]) for s in shared]
        result = look(d, u["level"]).to_json()
        if not tested:  # a look the rule does not count: shown, never decided
            result["decision"] = UNDECIDED
        out.append({"point": p, **result, "tested": tested})
    return out


def _next_seeds(doc: SweepDoc, count: int) -> list[int]:
    used = {m.seed for m in doc}
    held = set((doc.holdout or {}).get("seeds") or [])
    out, s = [], max(used) + 1
    while len(out) < count:
        if s not in held and s not in used:
            out.append(s)
        s += 1
    return out


def _round_jobs(home: Path, doc: SweepDoc, argv: list[str], seeds: set | None) -> list:
    """Jobs for the unfinished members (of one round's seeds, or of every round)."""
    return unfinished(home, doc, [m for m in doc if not m.holdout and (
        seeds is None or m.seed in seeds)], argv)


def run(home: Path, sweep: Path, doc: SweepDoc, argv: list[str], execute_jobs, should_stop,
        on_round=None) -> Tally:
    """Train the round in progress (and what an earlier one left), look, plan the next
    round; until decided or the budget is spent. Returns the outcomes' counts, as
    driver.execute does; stops early when a round was interrupted. on_round(members, line):
    a round was planned (or the study ended: members 0)."""
    u = doc.until_decided
    totals = Tally()
    seeds = None  # the first pass takes every unfinished member: a resume's leftovers
    if u["outcome"] is not None:  # the study ended: a resume fills its holes (members
        # removed or failed since), which trains them as they were, and looks no further
        return execute_jobs(_round_jobs(home, doc, argv, None))
    while u["outcome"] is None:
        counts = execute_jobs(_round_jobs(home, doc, argv, seeds))
        totals.add(counts)
        if should_stop() or counts.broken():
            return totals
        current = u["rounds"][-1]
        current["results"] = compare(home, doc, u, current["points"])
        open_ = [r["point"] for r in current["results"] if r["decision"] == UNDECIDED]
        line = round_line(current, len(u["rounds"]))
        if not open_ or current["n"] >= u["max_seeds"]:
            u["outcome"] = UNDECIDED if open_ else DECIDED
            doc.save(sweep)
            if on_round:
                on_round(0, line)
            break
        n = u["looks"][u["looks"].index(current["n"]) + 1]
        new = _next_seeds(doc, n - current["n"])
        points = [u["reference"], *open_]
        template = {point_key(m.point): m.config for m in doc}
        folders = allocate_many(home, len(points) * len(new), sweep=doc.id)
        pairs = [(p, s) for p in points for s in new]
        doc.add(Member(point=point, seed=seed, run=path.name,
                       config={**template[point_key(point)], "seed": seed})
                for (point, seed), path in zip(pairs, folders, strict=True))
        u["rounds"].append({"n": n, "seeds": new, "points": points, "results": None})
        doc.save(sweep)
        if on_round:
            on_round(len(pairs), line + f"; {len(open_)} open, adding seeds "
                     f"{_span(new)}")
        seeds = set(new)
    return totals


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) \
        else ",".join(map(str, seeds))


def finished(doc: SweepDoc) -> bool:
    u = doc.until_decided
    return not u or u.get("outcome") is not None


def summary(sweep: Path) -> str | None:
    """The study's end in one line, or None while it is not over."""
    u = SweepDoc.load(sweep).until_decided
    if not u or u.get("outcome") is None:
        return None
    last = u["rounds"][-1]
    if u["outcome"] == DECIDED:
        return (f"decided after {last['n']} seeds (each comparison at level "
                f"{u['level']:.3g}, error rate ≤ {u['alpha']})")
    open_ = sum(r["decision"] == UNDECIDED for r in last["results"] or [])
    return (f"undecided at the budget of {u['max_seeds']} seeds: {open_} comparison"
            f"{'s' * (open_ != 1)} still open")
