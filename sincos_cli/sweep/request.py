"""What `sincos sweep` was asked, and the rules between its options: which need another,
which a resume may not change. `plan` checks them and sizes a new sweep's Design; a bad
request is an OptionError naming the option (exit 2), before anything is made."""

from __future__ import annotations

from dataclasses import dataclass, field

from sincos_cli.errors import OptionError

from .design import Design, HalvingAsk, HoldoutAsk, UntilAsk, design, resumed_batching


@dataclass(frozen=True)
class Request:
    """The sweep's options as given; `typed`: the names of those typed on the command line
    (a default and a value typed equal to it differ only there)."""

    base: dict = field(default_factory=dict)  # train's settings typed
    sets: list[str] = field(default_factory=list)
    seeds: str | None = None
    resume: str | None = None
    restart_damaged: bool = False
    tagged: bool = False  # --tag or --note
    threshold: float = 1e-4
    yes: bool = False
    workers: int | None = None
    cluster: bool = False
    batch: bool = True
    group_size: int | None = None
    halving: HalvingAsk | None = None  # --halving
    audit: int | None = None
    holdout: HoldoutAsk | None = None  # --holdout-seeds
    holdout_by: str = "median"
    until: UntilAsk | None = None  # --until-decided
    reference: str | None = None
    typed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    """What to do: make the `design` (a new sweep), or resume with `batching` changed (None:
    as sweep.json says)."""

    design: Design | None = None
    batching: dict | None = None


def plan(r: Request) -> Plan:
    """The request checked, then a new sweep's design sized (or a resume's batching)."""
    if r.group_size is not None and not r.batch:
        raise OptionError("--group-size is for batched members; drop --no-batch",
                          "--group-size")
    if r.resume is not None:
        return Plan(batching=_resumed(r))
    if r.restart_damaged:
        raise OptionError("--restart-damaged is for --resume", "--restart-damaged")
    if r.audit and r.halving is None:
        raise OptionError("audits successive halving: add --halving", "--audit")
    if r.seeds is None:
        raise OptionError("a sweep needs seeds, e.g. --seeds 1-10", "--seeds")
    for given, hint in ((r.reference, "--reference"), ("max_seeds" in r.typed, "--max-seeds"),
                        ("alpha" in r.typed, "--alpha")):
        if given and r.until is None:
            raise OptionError("is for --until-decided", hint)
    if r.holdout_by != "median" and r.holdout is None:
        raise OptionError("is for --holdout-seeds", "--holdout-by")
    return Plan(design=design(
        r.base, r.sets, r.seeds, threshold=r.threshold, yes=r.yes, workers=r.workers,
        cluster=r.cluster, batch=r.batch, group_size=r.group_size, halving=r.halving,
        holdout=r.holdout, until=r.until))


def _resumed(r: Request) -> dict | None:
    """A resumed sweep keeps its settings; its batching changes when given."""
    new_study = r.base or r.seeds or r.sets or r.tagged or r.holdout or r.reference
    if new_study or r.typed & {"until_decided", "max_seeds", "alpha", "holdout_by"}:
        raise OptionError("a resumed sweep keeps its settings, seeds and grid", "--resume")
    if r.halving is not None or r.audit:
        raise OptionError("a resumed sweep keeps its halving settings", "--halving")
    if r.typed & {"batch", "group_size"}:
        return resumed_batching(r.batch, r.group_size)
    return None
