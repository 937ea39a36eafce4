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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sincos_cli.errors import SincosError

from .checks import seed_problem, until_problem
from .document import Document, described, kept
from .files import atomic_write_json, read_json
from .process import live_status

SCHEMA = 1
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9._-]+$")  # a plain run name (store.runs.NAME_RE)


@dataclass(kw_only=True)
class Member(Document):
    """One entry of sweep.json's "members": a grid point on a seed, trained into the run
    folder `run` beside the sweep."""

    point: dict[str, Any] = described("the grid point: {setting: value} of the grid's keys")
    seed: int = described("the member's seed")
    run: str = described("its run id: the folder beside the sweep it trains into")
    config: dict[str, Any] = described("its whole config (the base, the point and the seed)")
    holdout: bool = described("true for a member on a held-out seed (--holdout-seeds)",
                              when_set=True, default=False)
    audit: bool = described("true for a pruned point's member that a halving audit trains "
                            "to the end", when_set=True, default=False)
    extra: dict[str, Any] = kept()

    SHOWN = "each entry of `members`"

    @classmethod
    def from_json(cls, d: dict) -> Member:
        return cls.parse(d, holdout=bool(d.get("holdout")), audit=bool(d.get("audit")))

    @property
    def chosen_from(self) -> bool:
        """A member of the search (not held out, not trained for an audit)."""
        return not (self.holdout or self.audit)


@dataclass(kw_only=True)
class SweepDoc(Document):
    """sweep.json: what the sweep is, who is running it, and its members (the fields in
    the file's order)."""

    id: str = described("the sweep's id, its folder's name (sweep-NN)")
    schema: int = described("the file's version (1)", default=SCHEMA)
    status: str = described("running, completed, failed or interrupted (a reader says "
                            "crashed for a running sweep whose driver is gone)")
    argv: list[str] = described("the command line that made it")
    pid: int | None = described("the driver's process id (with pid_start and host: is it "
                                "alive?)", default=None)
    pid_start: str | None = described("the kernel's start tick of that process, to tell a "
                                       "reused pid", default=None)
    host: str | None = described("the driver's host name", default=None)
    created: str = described("when it was made (UTC, ISO 8601)")
    ended: str | None = described("when its driver last stopped (null while running)",
                                  default=None)
    base: dict[str, Any] = described("the settings every member shares (train's defaults "
                                     "and the sweep's options)")
    grid: dict[str, list] = described("{setting: [values]} of --set; the points are their "
                                      "product")
    seeds: list[int] = described("the seeds of --seeds, each point trained on every one")
    checkpoint_every: int = described("steps between a member's checkpoints")
    meta: dict | None = described("tags and note given to every member (--tag, --note)",
                                  when_set=True, default=None)
    halving: dict | None = described("--halving: η, the rule, the rungs, each rung's scores "
                                     "and choice; an `audit` block with --audit",
                                     when_set=True, default=None)
    holdout: dict | None = described("--holdout-seeds: the seeds, how many points go, and "
                                     "once chosen which", when_set=True, default=None)
    until_decided: dict | None = described("--until-decided: the rule, its level, the "
                                           "reference point and every round with its "
                                           "comparisons", when_set=True, default=None)
    batch: dict | None = described("{\"group_size\": N}: members trained in batched groups "
                                   "of at most N (0: one by one)", when_set=True, default=None)
    members: list[Member] = described("one entry a member (below), in training order")
    resumes: list[dict] = described("each --resume: its time, command line and the status "
                                    "it resumed from", when_set=True, default_factory=list)
    extra: dict[str, Any] = kept()

    SHOWN = "sweep.json"

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
        return cls.parse(d, id=d.get("id", name), status=d.get("status", "unknown"),
                         argv=d.get("argv") or [], base=d.get("base") or {},
                         grid=d.get("grid") or {}, seeds=d.get("seeds") or [],
                         resumes=d.get("resumes") or [],
                         members=[Member.from_json(m) for m in d["members"]])

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
