"""The run record: one Row per run folder from run.json, config.json, summary.json and meta.json.

Standard library only: listing a thousand runs costs little more than start-up, and never
loads a checkpoint or imports torch."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sincos_cli.config import LEGACY
from sincos_cli.errors import SincosError
from sincos_cli.store.files import read_json
from sincos_cli.store.run_doc import RunDoc
from sincos_cli.store.summary_doc import BASELINES, Summary

RESULTS = ("eval_mse", "final_loss", "best_loss")  # shown right after id and status


TIMES = ("train_seconds", "created")


HIDDEN_SETTINGS = ("steps", "eval_batches")  # steps done has its own column

# summary.json's numbers (each a finite, non-negative number or not a result) and the
# yardsticks of its "baselines" block, each read as a column of its own.
NUMBERS = Summary.numbers()
YARDSTICKS = ("linear", "vs_linear")  # shown beside eval_mse where any run has them


@dataclass
class Row:
    id: str
    path: Path
    status: str
    created: str | None = None
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    problem: str | None = None  # why the row is `corrupt`
    error: str | None = None  # a failed or interrupted run's one-line reason
    sweep: str | None = None
    argv: list | None = None
    host: str | None = None
    tags: list = field(default_factory=list)
    note: str | None = None
    holdout: bool = False  # a sweep member trained on held-out seeds
    meta_problem: str | None = None  # why meta.json (tags, note) cannot be read
    # summary.json's values that are not results, with why: each reads as missing
    bad_values: dict = field(default_factory=dict)

    def value(self, key: str):
        if key in ("id", "status", "created"):
            return getattr(self, key)
        if key == "steps":
            return self.summary.get("steps")
        if key in self.summary:
            return self.summary[key]
        if key in BASELINES:
            b = self.summary.get("baselines")
            return b.get(key) if isinstance(b, dict) else None
        return _plain(self.config.get(key))

    def setting(self, key: str):
        """A key as configured (what --group-by groups on): `steps` is the steps asked
        for, not those done, so a failed or interrupted member stays in its group."""
        if key in self.config:
            return _plain(self.config[key])
        if key == "set":  # a sweep's members: chosen on (selection) or held out
            return "holdout" if self.holdout else "selection"
        return self.value(key)

    def to_json(self) -> dict:
        """What run.json, config.json, summary.json and meta.json say of the run."""
        return {"id": self.id, "status": self.status, "error": self.error,
                "created": self.created, "sweep": self.sweep, "tags": self.tags,
                "note": self.note, "host": self.host, "argv": self.argv,
                "path": str(self.path), "config": self.config, "summary": self.summary,
                **({"problem": self.problem} if self.problem else {}),
                **({"bad_values": self.bad_values} if self.bad_values else {}),
                **({"meta_problem": self.meta_problem} if self.meta_problem else {})}


def _plain(v):
    return 0.0 if isinstance(v, float) and v == 0 else v  # -0.0 is 0.0


def load_row(path: Path) -> Row:
    """Everything `compare` shows about one run; a damaged run becomes a `corrupt` row."""
    row = Row(id=path.name, path=path, status="corrupt")
    if not os.access(path, os.R_OK | os.X_OK):
        row.status, row.problem = "unreadable", "permission denied"
        return row
    try:
        run = RunDoc.load(path)
        row.created, row.error, row.sweep = run.created, run.error, run.sweep
        row.argv, row.host, row.holdout = run.argv, run.host, run.holdout
        if run.queued and not (path / "config.json").exists():
            row.status = "queued"  # a sweep member allocated, not started: no files yet
            return row
        # A setting added after the run was made reads as what it was trained with.
        config = read_json(path / "config.json")
        row.config = {**config, **{k: v for k, v in LEGACY.items() if k not in config}}
    except SincosError as e:
        row.problem = str(e)
        return row
    row.status = run.current_status()
    if os.path.lexists(path / "meta.json"):
        from sincos_cli.store.meta import read_meta

        meta = read_meta(path)
        row.tags, row.note, row.meta_problem = meta.tags, meta.note, meta.problem
    if (path / "summary.json").exists():
        try:
            summary = Summary.load(path)
        except SincosError as e:
            row.status, row.problem = "corrupt", str(e)
        else:
            row.bad_values = summary.checked()
            row.summary = summary.to_json()
    return row


def value_warnings(rows: list[Row]) -> list[str]:
    """One line a run whose summary.json holds values that are not results."""
    return [f"{r.id}: summary.json's " + "; ".join(f"{k} is {why}" for k, why in
                                                   r.bad_values.items()) + "; skipped"
            for r in rows if r.bad_values]


def differing(rows: list[Row]) -> list[str]:
    """Settings whose values are not the same in every (readable) run, in config order."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r.config if k not in keys]
    good = [r for r in rows if r.status not in ("corrupt", "unreadable")]
    return [k for k in keys if k not in HIDDEN_SETTINGS
            and len({repr(r.config.get(k)) for r in good}) > 1]


def columns(rows: list[Row], show_all: bool) -> list[str]:
    """Results first (id, status, eval_mse, final_loss, best_loss, steps), then the
    settings that differ (all with show_all), then times, then tags where any run has one."""
    settings = differing(rows)
    if show_all:
        settings = []
        for r in rows:
            settings += [k for k in r.config if k not in settings and k not in HIDDEN_SETTINGS]
    tags = ["tags"] if any(r.tags for r in rows) else []
    yard = list(YARDSTICKS) if any(r.value("linear") is not None for r in rows) else []
    return ["id", "status", RESULTS[0], *yard, *RESULTS[1:], "steps", *settings, *TIMES,
            *tags]
