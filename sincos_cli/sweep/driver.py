"""A sweep: its folder (sweep.json), its members' run folders, and the loop that trains them.

    runs/sweep-01/sweep.json   store/sweep_doc.py's SweepDoc (its keys: docs/sweeps.md)

Members live beside their sweep: whatever --runs-dir says, `sweep.parent` is their home.
Member run ids are allocated when the sweep is made (empty folders, so no concurrent
`sincos train` takes them) and written once into sweep.json; a member's own run.json says
how far it got. So sweep.json stays small in writes whatever the sweep's size, and resume
reads each member's state from its run folder.

Faults, as the loop sees them: nothing is ever cancelled. At most a few jobs per worker are
submitted at a time, so on a stop the driver stops submitting and waits for the members in
flight, which checkpoint and end `interrupted`. A local worker that dies breaks the pool:
its member is `crashed`, the others were ended by the pool; the pool is rebuilt and each
member re-planned from what its folder says. A lost cluster ends the sweep `interrupted`.
"""

from __future__ import annotations

import sys
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, replace
from pathlib import Path

from sincos_cli.errors import SincosError, reason
from sincos_cli.status import RunStatus
from sincos_cli.store.files import (
    atomic_write_bytes,
    release_lock,
)
from sincos_cli.store.meta import Meta
from sincos_cli.store.sweep_doc import SweepDoc

from . import audit, halving, holdout, rounds
from .design import Design
from .folder import check_resumable, create, finish, lock, open_for_resume, reclaim
from .jobs import Job, Outcome, Result, Tally, Unit
from .plan import group_units, member_state, mode_for, plan_jobs

CRASHES_ALLOWED = 1  # a member whose worker died is tried again once, then left `crashed`
POOL_RESTARTS = 3  # broken local pools rebuilt before the sweep stops


@dataclass(frozen=True)
class SweepResult:
    """How a sweep's run ended: what the command prints and exits with."""

    sweep_id: str
    groups: list[dict]  # the group statistics (stats.groups) over its members
    code: int  # the exit code: 0, 1, or 129/130/143 for a signal
    message: str | None  # what to tell the user (an error when code is not 0)
    status: str  # sweep.json's final status


def _files_of(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in path.iterdir()
            if f.is_file() and not f.name.startswith(".")}


def _write_back(path: Path, files: dict[str, bytes]) -> None:
    """A cluster member's files into its run folder, each atomically, run.json last (its
    status is the commit point)."""
    path.mkdir(exist_ok=True)
    for name in sorted(files, key=lambda n: n == "run.json"):
        if "/" in name or name.startswith("."):
            continue
        atomic_write_bytes(path / name, files[name])


# -- the loop ------------------------------------------------------------------------------

def execute(home: Path, jobs: list[Job], engine, should_stop, on_result,
            grouping=None) -> Tally:
    """Train the jobs, a few units per worker in flight; collect results as they come. A
    unit is one member (today's engine) or, with `grouping`, a group of members trained
    as one batched model. On should_stop(): submit nothing more and ask the members in
    flight to stop (they end `interrupted` with a checkpoint). Returns the count of each
    outcome, and the reason the cluster was lost, if it was."""
    regroup = grouping or (lambda js: [[j] for j in js])
    queue = deque(regroup(jobs))
    pending: dict = {}
    counts: Counter = Counter()
    crashes: Counter = Counter()
    broken: list[list[Job]] = []
    lost, stopped, restarts = None, False, 0
    while queue or pending or broken:
        if not stopped and should_stop():
            stopped = True
            engine.stop()
        if broken and not pending:  # every future of the broken pool has answered
            members = [job for unit in broken for job in unit]
            broken = []
            if stopped or restarts >= POOL_RESTARTS:
                if not stopped:
                    lost = lost or f"the local worker pool broke {restarts + 1} times"
                for job in members:
                    _settle(home, job, counts, on_result)
                continue
            restarts += 1
            engine.restart()  # the old workers are gone: their folders say where they got
            again = []
            for job in members:
                path = home / job.id
                state, _ = member_state(path, job.config)
                if state in ("running", "crashed"):
                    crashes[job.id] += 1
                if crashes[job.id] > CRASHES_ALLOWED:
                    _settle(home, job, counts, on_result)
                    continue
                again.append(job.again(mode_for(path, state)))
            queue.extendleft(reversed(regroup(again)))
        while queue and not (stopped or lost or broken) and len(pending) < engine.slots:
            unit = queue.popleft()
            try:
                future = engine.executor.submit(*_submission(home, unit, engine, grouping))
            except Exception as e:  # a worker died while idle: the pool refuses work
                if engine.classify(e) != "broken":
                    raise
                queue.appendleft(unit)
                if not pending:  # nothing in flight to wait for: rebuild it now
                    if restarts >= POOL_RESTARTS:
                        lost = f"the local worker pool broke {restarts + 1} times"
                    else:
                        restarts += 1
                        engine.restart()
                break
            pending[future] = unit
        if not pending:
            if stopped or lost:
                break
            continue
        done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
        for f in done:
            unit = pending.pop(f)
            results, kind = _outcome(f, unit, engine)
            if kind == "broken":
                broken.append(unit)
                continue
            if kind == "lost":
                lost = lost or results[0].error
                counts[Outcome.SKIPPED] += len(unit)
                continue
            for job, result in zip(unit, results, strict=True):
                if result.files:
                    _write_back(home / job.id, result.files)
                if result.status == Outcome.LIMIT:  # the machine's limit: stop, don't fail all
                    lost = lost or f"{result.error} (a limit of this machine: see ulimit -a)"
                    counts[Outcome.SKIPPED] += 1
                    continue
                counts[result.status] += 1
                on_result(result)
    counts[Outcome.SKIPPED] += sum(len(unit) for unit in queue)
    return Tally(counts, lost)


def _submission(home: Path, unit: list[Job], engine, grouping) -> tuple:
    """(function, Unit) for the executor: one member alone, or a group."""
    task = Unit([_prepared(home, job, engine) for job in unit], engine.control)
    return (_call if grouping is None else _call_group), task


def _prepared(home: Path, job: Job, engine) -> Job:
    if engine.shared_fs:
        (home / job.id).mkdir(exist_ok=True)
        return replace(job, dir=str((home / job.id).resolve()))
    if job.mode == "resume":
        return replace(job, files=_files_of(home / job.id))
    return job


def _outcome(f, unit: list[Job], engine) -> tuple[list[Result], str]:
    """A finished future as (each member's result, kind): kind is "result", "broken" (the
    local pool broke: re-plan from disk) or "lost" (the cluster is gone)."""
    def each(status: Outcome, error: str) -> list[Result]:
        return [Result(job.id, status, error=error) for job in unit]

    if f.cancelled():  # we never cancel: the cluster cancelled it
        return each(Outcome.SKIPPED, engine.lost_reason("its tasks were cancelled")), "lost"
    e = f.exception()
    if e is None:
        return f.result(), "result"
    kind = engine.classify(e)
    if kind == "lost":
        return each(Outcome.SKIPPED, engine.lost_reason(str(e))), "lost"
    if kind == "broken":
        return [], "broken"
    if kind == "crashed":  # a task that killed every worker it ran on
        return each(Outcome.CRASHED, f"its workers died ({type(e).__name__})"), "result"
    return each(Outcome.FAILED, reason(e)), "result"


def _settle(home: Path, job: Job, counts: Counter, on_result) -> None:
    """A member of a broken pool that is not tried again: counted as its folder says."""
    state, _ = member_state(home / job.id, job.config)
    kind = Outcome({"running": "crashed", "new": "skipped"}.get(state, state))
    counts[kind] += 1
    if kind != Outcome.SKIPPED:
        on_result(Result(job.id, kind,
                         error="its worker died" if kind == Outcome.CRASHED else None))


def _call(unit: Unit) -> list[Result]:
    from .member import run

    return [run(unit)]


def _call_group(unit: Unit) -> list[Result]:
    from .group_run import run_group

    return run_group(unit)


def verdict(counts: Tally, total: int, signum, sweep_id: str) -> tuple[str, int, str | None]:
    """The sweep's final (status, exit code, message) from the outcomes of its members."""
    from sincos_cli.training.launch import EXIT_CODES

    failed, crashed = counts[Outcome.FAILED], counts[Outcome.CRASHED]
    again = f"resume with: sincos sweep --resume {sweep_id}"
    if signum is not None:
        return "interrupted", EXIT_CODES[signum], None
    if counts.lost:
        return "interrupted", 1, f"{counts.lost}; {again}"
    if crashed:
        return "interrupted", 1, (f"{crashed} of {total} members crashed (their worker "
                                  f"died); {again}")
    stopped = counts[Outcome.INTERRUPTED]
    if stopped:  # no signal here: their workers stopped them (a driver paused past the
        # cluster's heartbeat, say); the sweep is not done
        return "interrupted", 1, (f"{stopped} of {total} members were interrupted (their "
                                  f"workers stopped them); {again}")
    if failed:
        return "failed", 1, f"{failed} of {total} members failed"
    return RunStatus.COMPLETED, 0, None


def run_sweep(root: Path, design: Design | None, *, resume: str | None, workers: int | None,
              cluster: str | None, argv: list[str], checkpoint_every: int, quiet: bool,
              threshold: float, restart_damaged: bool = False, meta: Meta | None = None,
              batch: dict | None = None) -> SweepResult:
    """Make the designed sweep (or resume one) and train its members. batch, on a resume:
    {"group_size": N} to change how members are trained (0: one by one); None keeps what
    sweep.json says (a sweep made before batching existed goes on one by one, exactly)."""
    from sincos_cli.store.runs import sweep_path
    from sincos_cli.training.launch import Stop
    from sincos_cli.views.progress import SweepProgress

    from . import engines

    if resume is not None:
        sweep = sweep_path(root, resume)
        if sweep is None:
            raise SincosError(f"{resume!r} is not a sweep (sweep-NN or a path to one)")
        check_resumable(SweepDoc.load(sweep), sweep)  # before a cluster is even asked
    # The engine first: an unreachable cluster is reported before anything is made.
    engine = engines.dask(cluster) if cluster else engines.local(
        workers or engines.default_workers())
    fd, stop, owned, ok = None, None, False, False
    try:
        if resume is not None:
            fd = lock(sweep)
            doc = SweepDoc.load(sweep)
            check_resumable(doc, sweep)
            home = sweep.parent
            for name in reclaim(sweep, doc):
                print(f"note: removed {name}, allocated by a driver that was stopped as it "
                      "planned, never trained", file=sys.stderr)
            jobs, done = plan_jobs(home, doc, argv, restart_damaged)  # may refuse: no writes
            if doc.halving and halving.finished(home, doc):
                jobs = []
            if not jobs and holdout.finished(home, doc) and rounds.finished(doc) and \
                    audit.finished(home, doc):
                ok = True
                n = len(doc.members)
                pruned = sum(member_state(home / m.run, m.config)[0] == "pruned"
                             for m in doc) if doc.halving else 0
                what = (f"all {n} member{'s' * (n != 1)} completed" if not pruned else
                        f"every rung is done ({n - pruned} completed, {pruned} pruned)")
                if doc.status != RunStatus.COMPLETED:  # stopped as its last member ended
                    finish(sweep, RunStatus.COMPLETED)
                return SweepResult(sweep.name, group_stats(home, doc, threshold), 0,
                                   f"nothing to do: {what}", RunStatus.COMPLETED)
            if batch is not None:
                doc.batch = batch
            doc = open_for_resume(sweep, doc, argv)
        else:
            sweep, doc = create(root, argv, design, checkpoint_every, meta)
            fd = lock(sweep)
            home = sweep.parent
            jobs, done = plan_jobs(home, doc, argv)
        owned = True

        def on_second() -> None:
            engine.kill()
            finish(sweep, "interrupted")

        stop = Stop(on_second=on_second)
        b = doc.batch or {}
        grouping = (lambda js: group_units(js, b["group_size"], engine.workers)) \
            if b.get("group_size") else None

        def train(js: list[Job]) -> Tally:
            return execute(home, js, engine, stop, bar.on_result, grouping)
        h = doc.holdout
        total = len(doc.members) + (
            h["top"] * len(h["seeds"]) if h and h.get("chosen") is None else 0)
        with stop, SweepProgress(total, done=done, quiet=quiet) as bar:
            if doc.halving:
                counts = halving.run(home, sweep, doc, argv, train, stop, restart_damaged,
                                     bar.on_result)
                if doc.halving.get("audit") and not (stop() or counts.broken()):
                    counts.add(audit.run(home, sweep, doc, argv, train, bar.grow))
            elif doc.until_decided:
                counts = rounds.run(home, sweep, doc, argv, train, stop, bar.grow)
            else:
                counts = train(jobs)
            if h and not (stop() or counts.broken()):
                counts.add(holdout.run(home, sweep, doc, argv, train))
            state, code, message = verdict(counts, bar.total, stop.signum, sweep.name)
            study = rounds.summary(sweep) if doc.until_decided else None
            if study:
                message = f"{message}. {study}" if message else study
            finish(sweep, state)  # the commit point: a later signal changes nothing
            stop.committed = True
        ok = True
    except BaseException:
        if owned and not (stop is not None and stop.committed):
            finish(sweep, "failed")
        raise
    finally:
        engine.close(abort=not ok)
        if fd is not None:
            release_lock(fd)
    return SweepResult(sweep.name, group_stats(home, doc, threshold), code, message, state)


def group_stats(home: Path, doc: SweepDoc, threshold: float) -> list[dict]:
    from sincos_cli.stats.groups import groups
    from sincos_cli.store.record import load_row

    return groups([load_row(home / run) for run in doc.runs()], doc.group_keys(), threshold)
