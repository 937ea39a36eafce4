"""A run's status, one word for every reader and writer (standard library only): run.json
holds it, `rm --status` and `--where status=` take it, and the statistics count by it."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """Every status a reader may report for a run folder. run.json holds the first six
    (`queued`: a sweep member allocated, not yet started); the others are a reader's words:
    `crashed` (running, but its process is gone), `corrupt` and `unreadable` (its files
    cannot be read), `unknown` (run.json names no status)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    PRUNED = "pruned"
    CRASHED = "crashed"
    CORRUPT = "corrupt"
    UNREADABLE = "unreadable"
    UNKNOWN = "unknown"
