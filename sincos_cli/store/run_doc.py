"""run.json as a type (standard library only): who made a run, where and when, its status,
and each resume. Every module reads and writes run.json through `RunDoc`.

Values are taken as the file holds them (a file may come from anyone): readers that use
one check it, as `is_member` compares `sweep` and `current_status` asks whether `pid` lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sincos_cli.errors import SincosError
from sincos_cli.status import RunStatus

from .document import Document, described, kept
from .files import atomic_write_json, read_json, write_json_in_place
from .process import live_status

NAME = "run.json"
SCHEMA = 2  # 2: trace.bin appended (1: trace.npz rewritten at each checkpoint)


@dataclass(kw_only=True)
class RunDoc(Document):
    """run.json, its fields in the file's order."""

    id: str = described("the run's id, its folder's name")
    schema: int = described("the run folder's version (2: trace.bin; 1: trace.npz)",
                            default=SCHEMA)
    status: str = described("queued → running → completed | failed | interrupted | pruned "
                            "(`queued`: a sweep member allocated, not started yet; a reader "
                            "says crashed for a running run whose process is gone)",
                            default="unknown")
    argv: list[str] | None = described("the command line that made it", when_set=True,
                                       default=None)
    pid: int | None = described("the training process's id (null until one starts)",
                                default=None)
    pid_start: str | None = described("the kernel's start tick of that process, to tell a "
                                       "reused pid", when_set=True, default=None)
    host: str | None = described("the host it trains on", when_set=True, default=None)
    created: str | None = described("when it was made (UTC, ISO 8601)", default=None)
    ended: str | None = described("when its process last stopped (null while running)",
                                  default=None)
    seed: int | None = described("its seed (as config.json says)", when_set=True,
                                 default=None)
    versions: dict[str, str] | None = described("sincos's, torch's, numpy's and Python's",
                                                when_set=True, default=None)
    device: str | None = described("where it trained (cpu, cuda…)", when_set=True,
                                   default=None)
    resumes: list[dict] = described(
        "each resume: at_step, time, argv, pid, from_status and the steps asked for",
        default_factory=list)
    sweep: str | None = described("the sweep it is a member of", when_set=True, default=None)
    holdout: bool = described("true for a sweep member on a held-out seed", when_set=True,
                              default=False)
    group: int | None = described("the size of the batched group it trained in",
                                  when_set=True, default=None)
    error: str | None = described("why it failed, was interrupted or pruned (one line)",
                                  when_set=True, default=None)
    extra: dict[str, Any] = kept()

    SHOWN = "run.json"

    @classmethod
    def load(cls, run: Path) -> RunDoc:
        """A run folder's run.json; a one-line SincosError when it cannot be read."""
        d = read_json(run / NAME)
        return cls.parse(d, holdout=d.get("holdout") is True)

    def save(self, run: Path, last_resort: bool = False) -> None:
        """Written whole, atomically; with `last_resort` (a run's final status on a full
        disk, where no temporary file can be made) over the file's own blocks instead."""
        try:
            atomic_write_json(run / NAME, self.to_json())
        except (OSError, SincosError):
            if not last_resort:
                raise
            write_json_in_place(run / NAME, self.to_json())

    def current_status(self) -> str:
        """The status a reader reports: `running` whose process is gone is `crashed`."""
        return live_status(self.status, self.host, self.pid, self.pid_start)

    @property
    def queued(self) -> bool:
        return self.status == RunStatus.QUEUED
