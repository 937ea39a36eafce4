"""What each member's folder says, and the jobs a sweep still has to run (standard library
only). Every member is looked at before anything is touched: a running or damaged member
stops a resume with a one-line error, and nothing of a folder that cannot be read is ever
deleted or appended to; `--restart-damaged` moves such folders aside first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sincos_cli.config import SHAPE, TrainConfig
from sincos_cli.config import disagreement as config_disagreement
from sincos_cli.errors import SincosError
from sincos_cli.status import RunStatus
from sincos_cli.store.files import read_json
from sincos_cli.store.meta import Meta
from sincos_cli.store.run_doc import RunDoc
from sincos_cli.store.sweep_doc import Member, SweepDoc

from .jobs import Job


def point_key(point: dict) -> str:
    """A grid point as a key (sweep.json's halving records keep points so)."""
    return repr(sorted(point.items()))


def point_evals(home: Path, members) -> dict[str, list[float]]:
    """Each point's eval_mse over its members (by point_key): a member that did not
    complete counts as inf; a pruned one (it stopped at a rung, by design) not at all."""
    import math

    from sincos_cli.store.record import load_row

    out: dict[str, list[float]] = {}
    for m in members:
        row = load_row(home / m.run)
        if row.status == "pruned":
            continue
        ev = row.value("eval_mse")
        done = row.status == RunStatus.COMPLETED and isinstance(ev, (int, float))
        out.setdefault(point_key(m.point), []).append(float(ev) if done else math.inf)
    return out


def _files(path: Path) -> list[str]:
    try:
        return sorted(f.name for f in path.iterdir() if f.name != ".lock")
    except FileNotFoundError:
        return []


def member_state(path: Path, config: dict) -> tuple[str, str | None]:
    """(state, what is wrong): new (no folder, or an empty one) | completed | failed |
    interrupted | crashed | running | damaged. A folder with files is never new."""
    if os.path.lexists(path) and not path.is_dir():
        return "damaged", "it is a file, not a run folder"
    files = _files(path)
    if not files:
        return "new", None
    if "run.json" not in files:
        return "damaged", f"run.json is missing, but the folder holds {', '.join(files[:4])}"
    try:
        st = RunDoc.load(path).current_status()
        if st == "queued" and files == ["run.json"]:
            return "new", None  # allocated, never started
        own = read_json(path / "config.json") if "config.json" in files else None
    except SincosError as e:
        return "damaged", str(e).replace(f"{path}/", "").replace(str(path), "the folder")
    if own is not None:
        keys = config_disagreement(own, config)
        if keys:
            return "damaged", f"config.json disagrees with sweep.json on {', '.join(keys)}"
    return st, None


def mode_for(path: Path, state: str) -> str:
    """new | resume (from its checkpoint) | restart (started, but nothing to resume from)."""
    if state == "new":
        return "new"
    if state in ("interrupted", "crashed", "failed", "pruned") and \
            (path / "checkpoint.pt").exists():
        return "resume"
    return "restart"


def plan_jobs(home: Path, doc: SweepDoc, argv: list[str], restart_damaged: bool = False):
    """Jobs for the members still to train, and how many are already completed. Every
    member is looked at before anything is touched: a running or damaged member stops the
    plan with a one-line error (damaged ones are moved aside first with restart_damaged)."""
    plans, done, damaged = [], 0, []
    for m in doc:
        path = home / m.run
        state, problem = member_state(path, m.config)
        if state == RunStatus.COMPLETED:
            done += 1
        elif state == "running":
            raise SincosError(f"member {m.run} is running in another process")
        elif state == "damaged":
            damaged.append((m, problem))
        else:
            plans.append((m, mode_for(path, state)))
    if damaged and not restart_damaged:
        shown = "; ".join(f"{m.run}: {p}" for m, p in damaged[:3])
        more = f" (and {len(damaged) - 3} more)" if len(damaged) > 3 else ""
        raise SincosError(
            f"{len(damaged)} damaged member{'s' * (len(damaged) > 1)}: {shown}{more}. "
            f"Nothing was changed; --restart-damaged moves them aside (to RUN.damaged) and "
            f"trains them again")
    for m, _ in damaged:
        aside = _move_aside(home / m.run)
        print(f"note: {m.run} was damaged; moved to {aside.name}, training it again",
              file=sys.stderr)
        plans.append((m, "new"))
    order = {run: i for i, run in enumerate(doc.runs())}
    plans.sort(key=lambda p: order[p[0].run])
    jobs = [job_for(m, mode, doc, argv) for m, mode in plans]
    return jobs, done


def job_for(m: Member, mode: str, doc: SweepDoc, argv: list[str]) -> Job:
    """What a worker needs to train member `m` (a held-out member says so in its run.json)."""
    return Job(id=m.run, config=m.config, mode=mode, argv=argv, sweep=doc.id,
               checkpoint_every=doc.checkpoint_every,
               meta=Meta.parse(doc.meta) if isinstance(doc.meta, dict) else None,
               holdout=m.holdout)


def unfinished(home: Path, doc: SweepDoc, members, argv: list[str]) -> list[Job]:
    """A job for each of `members` that has not completed, resuming from what its folder
    holds (the member loop of a held-out set, a round, an audit and a rung)."""
    jobs = []
    for m in members:
        path = home / m.run
        state, _ = member_state(path, m.config)
        if state != RunStatus.COMPLETED:
            jobs.append(job_for(m, mode_for(path, state), doc, argv))
    return jobs


def all_completed(home: Path, members) -> bool:
    return all(member_state(home / m.run, m.config)[0] == RunStatus.COMPLETED
               for m in members)


def _move_aside(path: Path) -> Path:
    """A damaged member's folder, renamed beside it to RUN.damaged (RUN.damaged-2, …)."""
    for n in range(1, 10_000):
        aside = path.with_name(f"{path.name}.damaged" + (f"-{n}" if n > 1 else ""))
        if not aside.exists():
            path.rename(aside)
            return aside
    raise SincosError(f"too many damaged copies of {path.name}")


# Members in a batched group, at most: from tests/bench/bench_batched.py (docs/sweeps.md,
# "Batched members"): throughput per core peaks between 16 and 48 members and falls past 64,
# when a group's buffers leave the cache.
GROUP_SIZE = 32


def group_units(jobs: list[Job], cap: int, workers: int) -> list[list[Job]]:
    """Jobs in groups to train as one batched model: members that share every shape
    setting (config.SHAPE), in member order, at most `cap` to a group and split evenly
    into a multiple of the workers' number of groups while members last (none idles at
    the end). Which members
    share a group changes no member's numbers (tests/test_batched.py), so how the sweep
    is scheduled never shows in its results."""
    classes: dict[tuple, list[Job]] = {}
    for job in jobs:
        cfg = TrainConfig.from_dict(job.config)
        classes.setdefault(tuple(getattr(cfg, k) for k in SHAPE), []).append(job)
    units = []
    for members in classes.values():
        n = len(members)
        count = -(-n // cap)  # groups, a multiple of the workers (while members last)
        count = min(n, -(-count // workers) * workers)
        size = -(-n // count)
        units += [members[i:i + size] for i in range(0, n, size)]
    return units
