"""A sweep's folder and its sweep.json: made with its members' empty folders, locked while
it runs, reopened for a resume, and closed with its final status."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

from sincos_cli.errors import SincosError
from sincos_cli.store.files import atomic_write_json, hold_lock, read_json
from sincos_cli.store.runs import (
    allocate_many,
    process_start,
    remove_empty,
    status,
    unstarted,
    utc_now,
)

from .design import Design

SCHEMA = 1


def create(root: Path, argv: list[str], d: Design, checkpoint_every: int,
           meta: dict | None = None) -> tuple[Path, dict]:
    """The sweep folder, its members' (empty) folders and sweep.json; on any failure or
    signal halfway, none of them is left behind."""
    sweep = allocate_many(root, 1, "sweep")[0]
    runs: list[Path] = []
    try:
        runs = allocate_many(root, d.count, sweep=sweep.name)
        doc = {"id": sweep.name, "schema": SCHEMA, "status": "running", "argv": argv,
               "pid": os.getpid(), "pid_start": process_start(os.getpid()),
               "host": socket.gethostname(), "created": utc_now(), "ended": None,
               "base": d.base, "grid": d.grid, "seeds": d.seeds,
               "checkpoint_every": checkpoint_every, **({"meta": meta} if meta else {}),
               **({"halving": d.halving} if d.halving else {}),
               **({"holdout": d.holdout} if d.holdout else {}),
               **({"until_decided": d.until} if d.until else {}),
               **({"batch": d.batch} if d.batch else {}),
               "members": [{"point": m["point"], "seed": m["seed"], "run": p.name,
                            "config": m["config"]} for m, p in zip(d.members, runs,
                                                                   strict=True)]}
        atomic_write_json(sweep / "sweep.json", doc)
    except BaseException:
        remove_empty(runs)
        shutil.rmtree(sweep, ignore_errors=True)
        raise
    return sweep, doc


def reclaim(sweep: Path, doc: dict) -> list[str]:
    """Under the sweep's lock: remove the unstarted folders that name this sweep but that
    sweep.json does not (a driver killed while it planned a round or a held-out set), so
    their ids go back to the store; returns their names."""
    from sincos_cli.store.runs import list_runs

    named = {m["run"] for m in doc["members"]}
    found = []
    for p in list_runs(sweep.parent):
        if p.name in named or not unstarted(p):
            continue
        try:
            if read_json(p / "run.json").get("sweep") == sweep.name:
                found.append(p)
        except SincosError:
            continue
    remove_empty(found)
    return [p.name for p in found]


def lock(sweep: Path) -> int:
    """Held while a sweep runs: a second `--resume` of it is refused."""
    return hold_lock(sweep, f"sweep {sweep.name} is running in another sincos process")


def check_resumable(doc: dict, sweep: Path) -> None:
    """Refuse (writing nothing) a sweep that is still running, here or on another host."""
    if status(doc) == "running":
        where = "" if doc.get("host") == socket.gethostname() else f" on {doc.get('host')}"
        raise SincosError(f"sweep {sweep.name} is still running{where} (pid {doc.get('pid')})")


def open_for_resume(sweep: Path, doc: dict, argv: list[str]) -> dict:
    doc.setdefault("resumes", []).append({"time": utc_now(), "argv": argv,
                                          "from_status": status(doc)})
    doc.update(status="running", pid=os.getpid(), pid_start=process_start(os.getpid()),
               host=socket.gethostname(), ended=None)
    atomic_write_json(sweep / "sweep.json", doc)
    return doc


def finish(sweep: Path, status_: str) -> None:
    doc = read_json(sweep / "sweep.json")
    doc.update(status=status_, ended=utc_now())
    atomic_write_json(sweep / "sweep.json", doc)
