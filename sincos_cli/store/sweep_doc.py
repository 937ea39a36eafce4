"""sweep.json as a type (standard library only): `SweepDoc` and its `Member`s, read once
with every entry checked, and written back whole, atomically, keeping the keys a newer
sincos wrote that this one does not know.

Every module that reads or writes a sweep does so through `SweepDoc.load` / `save`; the
blocks that one study design owns (halving, holdout, until_decided) stay JSON objects here,
read by the module that owns them (sweep/halving.py, holdout.py, rounds.py, audit.py), and
their values are checked (store/checks.py) before anything uses the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sincos_cli.errors import SincosError

from .checks import seed_problem, until_problem
from .files import atomic_write_json, read_json
from .process import live_status

SCHEMA = 1
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")  # a plain run name (store.runs.NAME_RE)


def _doc(text: str):
    """A field's line on the reference page (docs/sweeps.md, generated from these types)."""
    return field(metadata={"doc": text})


@dataclass(kw_only=True)
class Member:
    """One entry of sweep.json's "members": a grid point on a seed, trained into the run
    folder `run` beside the sweep."""

    point: dict[str, Any] = _doc("the grid point: {setting: value} of the grid's keys")
    seed: int = _doc("the member's seed")
    run: str = _doc("its run id: the folder beside the sweep it trains into")
    config: dict[str, Any] = _doc("its whole config (the base, the point and the seed)")
    holdout: bool = field(default=False, metadata={
        "doc": "true for a member on a held-out seed (--holdout-seeds), written only then"})
    audit: bool = field(default=False, metadata={
        "doc": "true for a pruned point's member that a halving audit trains to the end, "
               "written only then"})
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: dict) -> Member:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(point=d["point"], seed=d["seed"], run=d["run"], config=d["config"],
                   holdout=bool(d.get("holdout")), audit=bool(d.get("audit")),
                   extra={k: v for k, v in d.items() if k not in known})

    def to_json(self) -> dict:
        return {"point": self.point, "seed": self.seed, "run": self.run,
                "config": self.config, **({"holdout": True} if self.holdout else {}),
                **({"audit": True} if self.audit else {}), **self.extra}

    @property
    def chosen_from(self) -> bool:
        """A member of the search (not held out, not trained for an audit)."""
        return not (self.holdout or self.audit)


OPTIONAL = ("meta", "halving", "holdout", "until_decided", "batch")  # written when set
WRITTEN_WHEN_SET = (*OPTIONAL, "resumes")


@dataclass(kw_only=True)
class SweepDoc:
    """sweep.json: what the sweep is, who is running it, and its members (the fields in
    the file's order)."""

    id: str = _doc("the sweep's id, its folder's name (sweep-NN)")
    schema: int = field(default=SCHEMA, metadata={"doc": "the file's version (1)"})
    status: str = _doc("running, completed, failed or interrupted (a reader says crashed "
                       "for a running sweep whose driver is gone)")
    argv: list[str] = _doc("the command line that made it")
    pid: int | None = field(default=None, metadata={
        "doc": "the driver's process id (with pid_start and host: is it alive?)"})
    pid_start: str | None = field(default=None, metadata={
        "doc": "the kernel's start tick of that process, to tell a reused pid"})
    host: str | None = field(default=None, metadata={"doc": "the driver's host name"})
    created: str = _doc("when it was made (UTC, ISO 8601)")
    ended: str | None = field(default=None, metadata={
        "doc": "when its driver last stopped (null while running)"})
    base: dict[str, Any] = _doc("the settings every member shares (train's defaults "
                                "and the sweep's options)")
    grid: dict[str, list] = _doc("{setting: [values]} of --set; the points are their "
                                 "product")
    seeds: list[int] = _doc("the seeds of --seeds, each point trained on every one")
    checkpoint_every: int = _doc("steps between a member's checkpoints")
    meta: dict | None = field(default=None, metadata={
        "doc": "tags and note given to every member (--tag, --note)"})
    halving: dict | None = field(default=None, metadata={
        "doc": "--halving: η, the rule, the rungs, each rung's scores and choice; an "
               "`audit` block with --audit"})
    holdout: dict | None = field(default=None, metadata={
        "doc": "--holdout-seeds: the seeds, how many points go, and once chosen which"})
    until_decided: dict | None = field(default=None, metadata={
        "doc": "--until-decided: the rule, its level, the reference point and every "
               "round with its comparisons"})
    batch: dict | None = field(default=None, metadata={
        "doc": "{\"group_size\": N}: members trained in batched groups of at most N "
               "(0: one by one)"})
    members: list[Member] = _doc("one entry a member (below), in training order")
    resumes: list[dict] = field(default_factory=list, metadata={
        "doc": "each --resume: its time, command line and the status it resumed from"})
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # -- reading and writing ----------------------------------------------------------------

    @classmethod
    def load(cls, sweep: Path) -> SweepDoc:
        """sweep.json with every member entry checked before anything uses it: a plain run
        name in the sweep's own folder (no path, no `..`, not a symlink), a grid point, a
        config object and a seed. Anything else makes the file corrupt: a one-line
        SincosError, nothing touched."""
        path = sweep / "sweep.json"
        d = read_json(path)
        members = d.get("members")
        if not isinstance(members, list):
            raise SincosError(f"{path} is corrupt: 'members' is not a list")
        for i, m in enumerate(members, 1):
            why = _member_problem(m, sweep)
            if why:
                raise SincosError(f"{path} is corrupt: member {i} {why}")
        if d.get("until_decided") is not None:
            why = until_problem(d["until_decided"])
            if why:
                raise SincosError(f"{path} is corrupt: until_decided {why}")
        return cls.from_json(d, sweep.name)

    @classmethod
    def from_json(cls, d: dict, name: str) -> SweepDoc:
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(id=d.get("id", name), status=d.get("status", "unknown"),
                   argv=d.get("argv") or [], created=d.get("created"),
                   base=d.get("base") or {}, grid=d.get("grid") or {},
                   seeds=d.get("seeds") or [], checkpoint_every=d.get("checkpoint_every"),
                   members=[Member.from_json(m) for m in d["members"]],
                   schema=d.get("schema", SCHEMA), pid=d.get("pid"),
                   pid_start=d.get("pid_start"), host=d.get("host"), ended=d.get("ended"),
                   resumes=d.get("resumes") or [],
                   **{k: d.get(k) for k in OPTIONAL},
                   extra={k: v for k, v in d.items() if k not in known})

    def to_json(self) -> dict:
        """The file, in its fields' order; the optional blocks only when set, then what a
        newer sincos wrote."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "extra" or (f.name in WRITTEN_WHEN_SET and not v):
                continue
            out[f.name] = [m.to_json() for m in v] if f.name == "members" else v
        return {**out, **self.extra}

    def save(self, sweep: Path) -> None:
        atomic_write_json(sweep / "sweep.json", self.to_json())

    # -- what readers ask of it -------------------------------------------------------------

    def current_status(self) -> str:
        """The status a reader reports: `running` whose driver is gone is `crashed`."""
        return live_status(self.status, self.host, self.pid, self.pid_start)

    def group_keys(self) -> list[str]:
        """The keys its members are grouped by: its grid's, then `set` (selection or
        holdout) when it held seeds out."""
        return list(self.grid) + (["set"] if self.holdout else [])

    def runs(self) -> list[str]:
        return [m.run for m in self.members]

    def chosen_from(self) -> list[Member]:
        """The members of the search: not held out, not trained for an audit."""
        return [m for m in self.members if m.chosen_from]

    def held_out(self) -> list[Member]:
        return [m for m in self.members if m.holdout]

    def audited(self) -> list[Member]:
        return [m for m in self.members if m.audit]

    def add(self, members: Iterable[Member]) -> None:
        self.members.extend(members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)


def _member_problem(m, sweep: Path) -> str | None:
    run = m.get("run") if isinstance(m, dict) else None
    if not isinstance(run, str) or not RUN_NAME_RE.match(run) or run.startswith("."):
        return f"names {run!r}, not a run folder beside the sweep"
    if not isinstance(m.get("config"), dict):
        return f"({run}) has no config"
    if (sweep.parent / run).is_symlink():
        return f"({run}) is a symlink; members must live beside the sweep"
    if not isinstance(m.get("point"), dict):
        return f"({run}) has no grid point"
    why = seed_problem(m.get("seed"))
    return f"({run}) has {why}" if why else None


def run_names(sweep: Path) -> list[str]:
    """The run ids a sweep.json names, read leniently (entries that are not plain names
    skipped); [] when it cannot be read: the sweep's own commands say so."""
    try:
        members = read_json(sweep / "sweep.json").get("members")
        return [m["run"] for m in members if isinstance(m.get("run"), str)]
    except (SincosError, AttributeError, TypeError):
        return []
