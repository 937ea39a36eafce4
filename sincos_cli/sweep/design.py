"""A new sweep's design, checked and sized before anything is made: the grid times the
seeds, the memory its workers will need, the size of its batched groups, and its halving
rungs and held-out seeds. A bad request is an OptionError naming the option (exit 2)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sincos_cli.errors import OptionError
from sincos_cli.store.checks import MAX_SEED

from . import grid as gridmod
from .plan import GROUP_SIZE

MAX_MEMBERS = 10_000  # more asks for --yes


@dataclass(frozen=True)
class HalvingAsk:
    """--halving's settings as given."""

    eta: int = 3
    first: int | None = None  # the first rung's step (None: chosen from the steps)
    rank: str = "trend"
    audit: int | None = None  # pruned points to train to the end as well


@dataclass(frozen=True)
class HoldoutAsk:
    """--holdout-seeds and --holdout-top as given."""

    seeds: str
    top: int = 1
    by: str = "median"  # median | ok | worst (holdout.BY)


@dataclass(frozen=True)
class UntilAsk:
    """--until-decided's settings as given: the budget, the error rate, the reference (None:
    the first grid point)."""

    max_seeds: int = 200
    alpha: float = 0.05
    reference: str | None = None  # KEY=VALUE[,KEY=VALUE]


@dataclass(frozen=True)
class Design:
    """What sweep.json will say of a new sweep, and how its members will be trained."""

    base: dict  # the settings every member shares
    grid: dict  # key -> values
    seeds: list[int]
    members: list[dict]  # point, seed and config of each, in order
    batch: dict  # {"group_size": N}; 0 trains each member alone
    halving: dict | None = None  # sweep.json's "halving"
    holdout: dict | None = None  # sweep.json's "holdout"
    until: dict | None = None  # sweep.json's "until_decided"
    note: str | None = None  # why groups are smaller than asked (memory)

    @property
    def count(self) -> int:
        return len(self.members)


def design(base: dict, sets: list[str], seeds: str, *, threshold: float, yes: bool = False,
           workers: int | None = None, cluster: bool = False, batch: bool = True,
           group_size: int | None = None, halving: HalvingAsk | None = None,
           holdout: HoldoutAsk | None = None, until: UntilAsk | None = None) -> Design:
    """The sweep that `sincos sweep` with these options makes, or an OptionError."""
    from sincos_cli.training import budget

    try:
        grid = gridmod.parse_sets(sets)
        most = until.max_seeds if until else gridmod.count_seeds(seeds)
        count = gridmod.count(grid, max(most, gridmod.count_seeds(seeds)))
        if count > gridmod.MAX_COUNT:
            raise gridmod.GridError(f"{count:,} members is more than one sweep can hold "
                                    f"({gridmod.MAX_COUNT:,}): split the study")
        if count > MAX_MEMBERS and not yes:
            raise OptionError(f"{count:,} members: pass --yes to make that many", "--yes")
        points = gridmod.points(base, grid)
        seed_list = gridmod.parse_seeds(seeds)
    except gridmod.GridError as e:
        raise OptionError(str(e)) from None
    biggest = max((cfg for _, cfg in points), key=budget.train_bytes)
    at_once = 1 if cluster else (workers or os.cpu_count() or 1)
    try:  # the member that needs the most memory, times the workers training at once
        budget.check_train(biggest, workers=at_once)
        size, why = budget.fit_group(biggest, group_size or GROUP_SIZE, at_once) \
            if batch else (0, None)
    except ValueError as e:
        raise OptionError(str(e)) from None
    holdout_doc = _holdout(holdout, seed_list, len(points), threshold) if holdout else None
    return Design(
        base=base, grid=grid, seeds=seed_list,
        members=list(gridmod.members(base, grid, seed_list)), batch={"group_size": size},
        halving=_halving(halving, points, grid, threshold) if halving else None,
        holdout=holdout_doc,
        until=_until(until, grid, [p for p, _ in points], seed_list, halving,
                     len(holdout_doc["seeds"]) if holdout_doc else 0) if until else None,
        note=why)


def resumed_batching(batch: bool, group_size: int | None) -> dict:
    """sweep.json's "batch" for a resume that gives --batch/--no-batch or --group-size."""
    return {"group_size": (group_size or GROUP_SIZE) if batch else 0}


def _halving(ask: HalvingAsk, points, grid: dict, threshold: float) -> dict:
    """sweep.json's "halving"."""
    from . import halving

    if len(points) < 2:
        raise OptionError("--halving ranks grid points: give at least two (--set KEY=A,B)",
                          "--halving")
    if ask.eta < 2:
        raise OptionError(f"η must be 2 or more, got {ask.eta}", "--eta")
    if ask.rank not in halving.RULES:
        raise OptionError(f"choose from {', '.join(halving.RULES)}, got {ask.rank!r}",
                          "--rank")
    if "steps" in grid:
        raise OptionError("--halving compares points at the same steps: give --steps, not "
                          "--set steps", "--halving")
    steps = points[0][1].steps
    try:
        rungs = halving.rungs(steps, len(points), ask.eta, ask.first,
                              max(cfg.warmup_steps for _, cfg in points))
    except ValueError as e:
        raise OptionError(str(e), "--first-rung") from None
    return {"eta": ask.eta, "rule": ask.rank, "threshold": threshold, "rungs": rungs,
            "history": [], **({"audit": {"k": ask.audit, "points": None, "result": None}}
                              if ask.audit else {})}


def _holdout(ask: HoldoutAsk, seeds: list[int], points: int, threshold: float) -> dict:
    """sweep.json's "holdout": seeds that share none with --seeds."""
    if ask.seeds.strip().isdigit() and "-" not in ask.seeds:
        raise OptionError("give held-out seeds as a range or a list (101-130), not a count: "
                          "they must be known not to overlap --seeds", "--holdout-seeds")
    try:
        held = gridmod.parse_seeds(ask.seeds)
    except gridmod.GridError as e:
        raise OptionError(str(e).replace("--seeds", "--holdout-seeds"),
                          "--holdout-seeds") from None
    both = sorted(set(held) & set(seeds))
    if both:
        shown = ", ".join(map(str, both[:5])) + (" …" if len(both) > 5 else "")
        raise OptionError(f"{len(both)} held-out seed{'s' * (len(both) > 1)} also in "
                          f"--seeds ({shown}): the choice would have seen them",
                          "--holdout-seeds")
    if ask.top > points:
        raise OptionError(f"--holdout-top {ask.top} is more than the {points} grid points",
                          "--holdout-top")
    from .holdout import BY

    if ask.by not in BY:
        raise OptionError(f"choose from {', '.join(BY)}, got {ask.by!r}", "--holdout-by")
    return {"seeds": held, "top": ask.top, "chosen": None,
            **({"by": ask.by, "threshold": threshold} if ask.by != "median" else {})}


MIN_ALPHA = 1e-6  # below this, a study's levels leave what its tail sums compute reliably


def _until(ask: UntilAsk, grid: dict, points: list[dict], seeds: list[int], halving,
           held: int = 0) -> dict:
    """sweep.json's "until_decided"; `held`: the held-out seeds, which new rounds skip."""
    from . import rounds

    if halving is not None:
        raise OptionError("--halving stops points on their training loss; --until-decided "
                          "adds seeds to compare them: choose one", "--until-decided")
    if len(points) < 2:
        raise OptionError("--until-decided compares grid points with a reference: give at "
                          "least two (--set KEY=A,B)", "--until-decided")
    if ask.max_seeds < len(seeds):
        raise OptionError(f"--max-seeds {ask.max_seeds} is fewer than the {len(seeds)} "
                          f"seeds of the first round", "--max-seeds")
    if not MIN_ALPHA <= ask.alpha < 0.5:
        raise OptionError(f"α is an error rate between {MIN_ALPHA:g} and 0.5, got "
                          f"{ask.alpha:g}", "--alpha")
    top = max(seeds) + (ask.max_seeds - len(seeds)) + held  # the largest seed a round adds
    if top > MAX_SEED:
        raise OptionError(f"--max-seeds {ask.max_seeds} would add seeds up to {top}, past "
                          f"the largest seed {MAX_SEED}: start from lower seeds",
                          "--max-seeds")
    reference = points[0]
    if ask.reference is not None:
        wanted = _reference(ask.reference, grid)
        found = [p for p in points if all(repr(p[k]) == repr(v) for k, v in wanted.items())]
        if not found:
            raise OptionError(f"no grid point has {ask.reference}", "--reference")
        reference = found[0]
    u = rounds.plan(points, seeds, ask.max_seeds, ask.alpha, reference)
    if not u["tested"]:
        raise OptionError(f"{ask.max_seeds} seeds can never decide {len(points) - 1} "
                          f"comparison{'s' * (len(points) > 2)} at α={ask.alpha}: raise "
                          f"--max-seeds", "--max-seeds")
    return u


def _reference(text: str, grid: dict) -> dict:
    """--reference KEY=VALUE[,KEY=VALUE], its keys the grid's, its values parsed as --set's."""
    try:
        return gridmod.parse_reference(text, list(grid))
    except gridmod.GridError as e:
        raise OptionError(str(e), "--reference") from None
