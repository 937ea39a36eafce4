"""What crosses from a sweep's driver to its workers and back: small picklable dataclasses.

A Job is one member to train; a Unit is what one task trains (one member, or a batched
group) with the cluster's stop control; a Result is how a member ended; a Tally counts
the Results.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum

from sincos_cli.status import RunStatus
from sincos_cli.store.meta import Meta
from sincos_cli.store.summary_doc import Summary


class Outcome(StrEnum):
    """How a member's task ended (a StrEnum: counted, compared and printed as its word)."""

    COMPLETED = RunStatus.COMPLETED
    INTERRUPTED = "interrupted"  # stopped with a checkpoint: resumable
    PAUSED = "paused"  # at a successive-halving rung (run.json: interrupted)
    PRUNED = "pruned"  # its grid point was dropped at a rung
    FAILED = "failed"
    CRASHED = "crashed"  # its worker died, again and again
    LIMIT = "limit"  # the machine's limit (no files, no memory): the sweep stops
    SKIPPED = "skipped"  # never started: the sweep stopped first


@dataclass(frozen=True)
class Job:
    """One member for a worker to train (or resume) in its run folder."""

    id: str  # the run folder's name
    config: dict  # TrainConfig as a dict, as sweep.json holds it
    mode: str  # new | resume | restart (started, but left nothing to resume from)
    argv: list[str]
    sweep: str  # the sweep's id, for the member's run.json
    checkpoint_every: int
    meta: Meta | None = None  # tags and note given to the sweep
    holdout: bool = False  # trained on held-out seeds
    stop_at: int | None = None  # a successive-halving rung: pause at this step
    dir: str | None = None  # a shared filesystem: the run folder to write in place
    files: dict[str, bytes] | None = None  # a cluster: the member's files to resume from

    def again(self, mode: str) -> Job:
        return replace(self, mode=mode)


@dataclass(frozen=True)
class Control:
    """A cluster's stop signal: a Dask Variable the driver beats, and how long a worker
    waits without a beat before it stops its members (the driver is gone)."""

    variable: str
    heartbeat_timeout: float


@dataclass(frozen=True)
class Unit:
    """One task: its members (one, or a batched group) and the cluster's control (None on
    the local engine, whose workers share an Event and signals instead)."""

    jobs: list[Job]
    control: Control | None = None


@dataclass
class Result:
    """How one member ended, with its files when it trained away from the run folder."""

    id: str
    status: Outcome
    summary: Summary | None = None
    error: str | None = None
    files: dict[str, bytes] | None = field(default=None, repr=False)


@dataclass
class Tally:
    """How the members a sweep trained ended: a count for each Outcome, and why the cluster
    was lost, if it was. The driver's loop returns one per batch of jobs; a study (rungs,
    rounds, an audit, a held-out set) adds them up."""

    by: Counter = field(default_factory=Counter)
    lost: str | None = None

    def __getitem__(self, outcome: str) -> int:
        return self.by[outcome]

    def add(self, other: Tally) -> Tally:
        self.by.update(other.by)
        self.lost = self.lost or other.lost
        return self

    def broken(self) -> bool:
        """A batch that ended so that the study must not go on: the cluster is lost or a
        member's worker died."""
        return bool(self.lost or self.by[Outcome.CRASHED])
