"""Checks of the values sweep.json holds beyond its member entries (standard library only):
each returns what is wrong, naming the field, or None; SweepDoc.load turns it into a one-line
"sweep.json is corrupt" error before anything uses the file."""

from __future__ import annotations

import math

MAX_SEED = 2**32 - 1  # train's largest seed


def seed_problem(v) -> str | None:
    return None if _whole(v, 0, MAX_SEED) else f"seed {_said(v)}, not one from 0 to 2**32-1"


def _whole(v, lo: int, hi: float = float("inf")) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _number(v, lo: float, hi: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
        and lo < v < hi


def _said(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def until_problem(u) -> str | None:
    """What is wrong with sweep.json's until_decided block (the field, named), or None."""
    if not isinstance(u, dict):
        return "is not an object"
    if not _number(u.get("alpha"), 0, 0.5):
        return f"alpha is {_said(u.get('alpha'))}, not an error rate below 0.5"
    if not _number(u.get("level"), 0, 1):
        return f"level is {_said(u.get('level'))}, not a level between 0 and 1"
    if not _whole(u.get("max_seeds"), 1):
        return f"max_seeds is {_said(u.get('max_seeds'))}, not a positive whole number"
    if not _whole(u.get("comparisons"), 1):
        return f"comparisons is {_said(u.get('comparisons'))}, not a positive whole number"
    if u.get("outcome") not in (None, "decided", "undecided"):
        return f"outcome is {_said(u.get('outcome'))}, not null, decided or undecided"
    if not isinstance(u.get("reference"), dict):
        return "reference is not a grid point"
    looks = u.get("looks")
    if not (isinstance(looks, list) and looks and all(_whole(n, 1, u["max_seeds"])
                                                      for n in looks)
            and looks == sorted(set(looks))):
        return f"looks is {_said(looks)}, not rising seed counts up to max_seeds"
    tested = u.get("tested")
    if not (isinstance(tested, list) and all(n in looks for n in tested)):
        return f"tested is {_said(tested)}, not some of the looks"
    rounds = u.get("rounds")
    if not (isinstance(rounds, list) and rounds):
        return "rounds is not a list of rounds"
    for i, r in enumerate(rounds, 1):
        if not isinstance(r, dict):
            return f"round {i} is not an object"
        if r.get("n") not in looks:
            return f"round {i}'s n is {_said(r.get('n'))}, not one of the looks"
        seeds = r.get("seeds")
        if not (isinstance(seeds, list) and all(_whole(x, 0, MAX_SEED) for x in seeds)):
            return f"round {i}'s seeds are {_said(seeds)}, not seeds"
        points = r.get("points")
        if not (isinstance(points, list) and points and
                all(isinstance(x, dict) for x in points)):
            return f"round {i}'s points are {_said(points)}, not grid points"
        results = r.get("results")
        if results is None:
            continue
        if not isinstance(results, list):
            return f"round {i}'s results are {_said(results)}, not a list"
        for j, res in enumerate(results, 1):
            if not (isinstance(res, dict) and isinstance(res.get("point"), dict)
                    and res.get("decision") in ("better", "worse", "undecided")
                    and _whole(res.get("shared"), 0) and isinstance(res.get("tested"), bool)
                    and (res.get("ratio") is None or _number(res["ratio"], 0, float("inf")))
                    and (res.get("ratio_ci") is None or (
                        isinstance(res["ratio_ci"], list) and len(res["ratio_ci"]) == 2
                        and all(x is None or _number(x, 0, float("inf"))
                                for x in res["ratio_ci"])))):
                return f"round {i}'s result {j} is {_said(res)}, not a comparison"
    return None
