"""A sweep: its folder (sweep.json), its members' run folders, and the loop that trains them.

    runs/sweep-01/sweep.json   id, schema, status, argv, created/ended, base settings, grid,
                               seeds, members (grid point + seed -> run id)

Member run ids are allocated when the sweep is made (empty folders, so no concurrent
`sincos train` takes them) and written once into sweep.json; a member's own run.json says
how far it got. So sweep.json stays small in writes whatever the sweep's size, and resume
reads each member's state from its run folder.
"""

from __future__ import annotations

import os
import shutil
import socket
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

from .errors import SincosError
from .runs import (
    allocate_many,
    atomic_write_bytes,
    atomic_write_json,
    hold_lock,
    process_start,
    read_json,
    status,
    utc_now,
)

SCHEMA = 1


def create(root: Path, argv: list[str], base: dict, grid: dict, seeds: list[int],
           members: list[dict], checkpoint_every: int) -> tuple[Path, dict]:
    sweep = allocate_many(root, 1, "sweep")[0]
    try:
        runs = allocate_many(root, len(members))
    except BaseException:
        shutil.rmtree(sweep, ignore_errors=True)
        raise
    doc = {"id": sweep.name, "schema": SCHEMA, "status": "running", "argv": argv,
           "pid": os.getpid(), "pid_start": process_start(os.getpid()),
           "host": socket.gethostname(), "created": utc_now(), "ended": None,
           "base": base, "grid": grid, "seeds": seeds, "checkpoint_every": checkpoint_every,
           "members": [{"point": m["point"], "seed": m["seed"], "run": p.name,
                        "config": m["config"]} for m, p in zip(members, runs, strict=True)]}
    atomic_write_json(sweep / "sweep.json", doc)
    return sweep, doc


def lock(sweep: Path) -> int:
    """Held while a sweep runs: a second `--resume` of it is refused."""
    return hold_lock(sweep, f"sweep {sweep.name} is running in another sincos process")


def open_for_resume(root: Path, sweep: Path, argv: list[str]) -> dict:
    doc = read_json(sweep / "sweep.json")
    if status(doc) == "running":
        raise SincosError(f"sweep {sweep.name} is still running (pid {doc.get('pid')})")
    doc.setdefault("resumes", []).append({"time": utc_now(), "argv": argv,
                                          "from_status": status(doc)})
    doc.update(status="running", pid=os.getpid(), pid_start=process_start(os.getpid()),
               host=socket.gethostname(), ended=None)
    atomic_write_json(sweep / "sweep.json", doc)
    return doc


def member_state(path: Path) -> str:
    """missing | completed | failed | interrupted | crashed | running | corrupt."""
    if not (path / "run.json").exists():
        return "missing"
    try:
        return status(read_json(path / "run.json"))
    except SincosError:
        return "corrupt"


def plan_jobs(root: Path, doc: dict, argv: list[str]) -> tuple[list[dict], int]:
    """Jobs for the members still to train, and how many are already completed."""
    jobs, done = [], 0
    for m in doc["members"]:
        path = root / m["run"]
        state = member_state(path)
        if state == "completed":
            done += 1
            continue
        if state == "running":
            raise SincosError(f"member {m['run']} is running in another process")
        mode = "new"
        if state in ("interrupted", "crashed") and (path / "checkpoint.pt").exists():
            mode = "resume"
        elif state != "missing":
            mode = "restart"  # failed, corrupt, or stopped before its first checkpoint
        path.mkdir(exist_ok=True)
        jobs.append({"id": m["run"], "config": m["config"], "mode": mode, "argv": argv,
                     "sweep": doc["id"], "checkpoint_every": doc["checkpoint_every"]})
    return jobs, done


def _files_of(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in path.iterdir()
            if f.is_file() and not f.name.startswith(".")}


def _write_back(path: Path, files: dict[str, bytes]) -> None:
    """A cluster member's files into its run folder, each atomically, run.json last (its
    status is the commit point)."""
    for name in sorted(files, key=lambda n: n == "run.json"):
        if "/" in name or name.startswith("."):
            continue
        atomic_write_bytes(path / name, files[name])


def execute(root: Path, jobs: list[dict], engine, should_stop, on_result) -> dict:
    """Submit every job, collect results as they come; on should_stop(), ask the workers to
    stop (members in flight end `interrupted` with a checkpoint) and cancel the rest.
    Returns counts by status."""
    counts = {"completed": 0, "failed": 0, "interrupted": 0, "skipped": 0}
    pending = {}
    for job in jobs:
        job = {**job, **engine.job_extra}
        if engine.shared_fs:
            job["dir"] = str((root / job["id"]).resolve())
        elif job["mode"] == "resume":
            job["files"] = _files_of(root / job["id"])
        pending[engine.executor.submit(_call, job)] = job["id"]
    stopped = False
    while pending:
        done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
        if should_stop() and not stopped:
            stopped = True
            engine.stop()
            for f in pending:
                f.cancel()
        for f in done:
            rid = pending.pop(f)
            if f.cancelled():
                counts["skipped"] += 1
                continue
            try:
                result = f.result()
            except Exception as e:  # the task itself broke: a worker died, say
                result = {"id": rid, "status": "failed",
                          "error": f"{type(e).__name__}: {e}".splitlines()[0][:200]}
            if result.get("files"):
                _write_back(root / rid, result["files"])
            counts[result["status"]] = counts.get(result["status"], 0) + 1
            on_result(result)
    return counts


def _call(job: dict) -> dict:
    from .member import run

    return run(job)


def finish(sweep: Path, status_: str) -> None:
    doc = read_json(sweep / "sweep.json")
    doc.update(status=status_, ended=utc_now())
    atomic_write_json(sweep / "sweep.json", doc)


def run_sweep(root: Path, plan, *, resume: str | None, workers: int | None,
              cluster: str | None, argv: list[str], checkpoint_every: int, quiet: bool,
              threshold: float):
    """Make (or resume) a sweep and train its members; return (sweep id, group statistics,
    exit code, error message or None)."""
    from . import engines
    from .launch import EXIT_CODES, Stop
    from .progress import SweepProgress
    from .runs import sweep_path

    if resume is not None:
        sweep = sweep_path(root, resume)
        if sweep is None:
            raise SincosError(f"{resume!r} is not a sweep (sweep-NN or a path to one)")
    # The engine first: an unreachable cluster is reported before anything is made.
    engine = engines.dask(cluster) if cluster else engines.local(
        workers or engines.default_workers())
    fd, stop = None, None
    try:
        if resume is not None:
            fd = lock(sweep)
            doc = open_for_resume(root, sweep, argv)
        else:
            base, grid, seeds, members = plan
            sweep, doc = create(root, argv, base, grid, seeds, members, checkpoint_every)
            fd = lock(sweep)
        jobs, done = plan_jobs(root, doc, argv)

        def on_second() -> None:
            if engine.kill is not None:
                engine.kill()
            finish(sweep, "interrupted")

        stop = Stop(on_second=on_second)
        with stop, SweepProgress(len(doc["members"]), done=done, quiet=quiet) as bar:
            counts = execute(root, jobs, engine, stop, bar.on_result)
            total, failed = len(doc["members"]), counts.get("failed", 0)
            if stop():
                state, code, message = "interrupted", EXIT_CODES[stop.signum], None
            elif failed:
                state, code, message = "failed", 1, f"{failed} of {total} members failed"
            else:
                state, code, message = "completed", 0, None
            finish(sweep, state)  # the commit point: a later signal changes nothing
            stop.committed = True
    except BaseException:
        if fd is not None and not (stop is not None and stop.committed):
            finish(sweep, "failed")
        raise
    finally:
        engine.close()
        if fd is not None:
            os.close(fd)
    return sweep.name, group_stats(root, doc, threshold), code, message


def group_stats(root: Path, doc: dict, threshold: float) -> list[dict]:
    from .compare import load_row
    from .stats import groups

    rows = [load_row(root / m["run"]) for m in doc["members"]]
    return groups(rows, list(doc["grid"]), threshold)
