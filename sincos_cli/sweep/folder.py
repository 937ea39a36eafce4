"""A sweep's folder and its sweep.json: made with its members' empty folders, locked while
it runs, reopened for a resume, and closed with its final status."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from sincos_cli.errors import SincosError
from sincos_cli.store.files import hold_lock
from sincos_cli.store.meta import Meta
from sincos_cli.store.run_doc import RunDoc
from sincos_cli.store.runs import allocate_many, process_start, remove_empty, unstarted, utc_now
from sincos_cli.store.sweep_doc import Member, SweepDoc

from .design import Design


def create(root: Path, argv: list[str], d: Design, checkpoint_every: int,
           meta: Meta | None = None) -> tuple[Path, SweepDoc]:
    """The sweep folder, its members' (empty) folders and sweep.json; on any failure or
    signal halfway, none of them is left behind."""
    sweep = allocate_many(root, 1, "sweep")[0]
    runs: list[Path] = []
    try:
        runs = allocate_many(root, d.count, sweep=sweep.name)
        doc = SweepDoc(
            id=sweep.name, status="running", argv=argv, pid=os.getpid(),
            pid_start=process_start(os.getpid()), host=socket.gethostname(),
            created=utc_now(), base=d.base, grid=d.grid, seeds=d.seeds,
            checkpoint_every=checkpoint_every, meta=meta.to_json() if meta else None,
            halving=d.halving, holdout=d.holdout, until_decided=d.until, batch=d.batch,
            members=[Member(point=m["point"], seed=m["seed"], run=p.name, config=m["config"])
                     for m, p in zip(d.members, runs, strict=True)])
        doc.save(sweep)
    except BaseException:
        remove_empty(runs)
        shutil.rmtree(sweep, ignore_errors=True)
        raise
    return sweep, doc


def reclaim(sweep: Path, doc: SweepDoc) -> list[str]:
    """Under the sweep's lock: remove the unstarted folders that name this sweep but that
    sweep.json does not (a driver killed while it planned a round or a held-out set), so
    their ids go back to the store; returns their names."""
    from sincos_cli.store.runs import list_runs

    named = set(doc.runs())
    found = []
    for p in list_runs(sweep.parent):
        if p.name in named or not unstarted(p):
            continue
        try:
            if RunDoc.load(p).sweep == sweep.name:
                found.append(p)
        except SincosError:
            continue
    remove_empty(found)
    return [p.name for p in found]


def lock(sweep: Path) -> int:
    """Held while a sweep runs: a second `--resume` of it is refused."""
    return hold_lock(sweep, f"sweep {sweep.name} is running in another sincos process")


def check_resumable(doc: SweepDoc, sweep: Path) -> None:
    """Refuse (writing nothing) a sweep that is still running, here or on another host."""
    if doc.current_status() == "running":
        where = "" if doc.host == socket.gethostname() else f" on {doc.host}"
        raise SincosError(f"sweep {sweep.name} is still running{where} (pid {doc.pid})")


def open_for_resume(sweep: Path, doc: SweepDoc, argv: list[str]) -> SweepDoc:
    doc.resumes.append({"time": utc_now(), "argv": argv, "from_status": doc.current_status()})
    doc.status, doc.pid, doc.pid_start = "running", os.getpid(), process_start(os.getpid())
    doc.host, doc.ended = socket.gethostname(), None
    doc.save(sweep)
    return doc


def finish(sweep: Path, status_: str) -> None:
    """The sweep's final status, written over what sweep.json says now (read again: a
    round, a rung or a choice may have been written since the caller read it)."""
    doc = SweepDoc.load(sweep)
    doc.status, doc.ended = status_, utc_now()
    doc.save(sweep)
