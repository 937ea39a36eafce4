"""A group of sweep members trained as one batched model (group.py), in a worker: each
member's run folder is written by the same Recorder as `sincos train`'s, and ends as
launch.run_to_end ends a run. Members leave the group as they complete, pause at a rung or
fail (alone, with their last finite checkpoint); a stop ends them all, each with its
checkpoint. The worker's life (signals, stop flag, folders) is worker.py's, as member.py's is.
"""

from __future__ import annotations

import math
from pathlib import Path

from sincos_cli.config import TrainConfig
from sincos_cli.errors import reason
from sincos_cli.status import RunStatus

from .jobs import Job, Outcome, Result, Unit
from .worker import clear, failed, serve, stopping_reason


def run_group(unit: Unit) -> list[Result]:
    """Train (or resume) the unit's members together; their results, in order. Each
    member's folder and files are what member.run would make of it alone."""
    return serve(unit, _train_group)


class _Slot:
    """One member in its group: its job, folder, lock, recorder and place."""

    def __init__(self, path: Path, job: Job, cfg: TrainConfig, ckpt, lock: int):
        self.path, self.job, self.cfg, self.ckpt, self.lock = path, job, cfg, ckpt, lock
        self.rec = self.view = None
        self.result: Result | None = None


def _train_group(paths: list[Path], jobs: list[Job], stop) -> list[Result]:
    """The group loop: members leave as they complete, pause at a rung, fail (alone, with
    their last finite checkpoint) or are stopped (all, each with its checkpoint)."""
    from sincos_cli.errors import Diverged
    from sincos_cli.store.files import release_lock
    from sincos_cli.training import checkpoint
    from sincos_cli.training.group import GroupTrainer, MemberView
    from sincos_cli.training.launch import lock_run
    from sincos_cli.training.recorder import Recorder

    everyone: list[_Slot] = []
    failed_early: dict[str, Result] = {}
    try:
        for path, job in zip(paths, jobs, strict=True):  # a refused member: as it was
            try:
                cfg = TrainConfig.from_dict(job.config)
                lock = lock_run(path)
            except Exception as e:  # noqa: BLE001 (reported as the member's failure)
                failed_early[job.id] = failed(job, e)
                continue
            s = _Slot(path, job, cfg, None, lock)
            everyone.append(s)
            try:
                if job.mode == "restart":
                    clear(path)
                if job.mode == "resume":
                    s.ckpt = checkpoint.read_for(path, job.config)
            except Exception as e:  # noqa: BLE001
                s.result = failed(job, e)
        slots = [s for s in everyone if s.result is None]
        group = _stack(slots, GroupTrainer) if slots else None
        slots = [s for s in slots if s.result is None]
        for j, s in enumerate(slots):
            s.view = MemberView(group, j)
            try:
                s.rec = Recorder(s.path, s.view, s.job.checkpoint_every)
                if s.ckpt is not None:
                    s.rec.resume(s.job.argv, "cpu", s.ckpt)
                else:
                    s.rec.start(s.job.argv, "cpu", sweep=s.job.sweep, holdout=s.job.holdout,
                                group=len(slots), meta=s.job.meta)
                s.ckpt = None
            except Exception as e:  # noqa: BLE001 (this member alone could not start)
                s.result = failed(s.job, e)
        slots = _keep(group, slots, [s for s in slots if s.result is None])
        if slots:
            group.start_clock()
        while slots:
            ending = [(s, why) for s in slots if (why := _ending(s, stop))]
            if ending:  # their last step's prediction first, then their final status
                owed = group.flush([s.view.j for s, _ in ending])
                for (s, why), info in zip(ending, owed, strict=True):
                    if info is None or _record(s, info):
                        _finish(s, why)
                slots = _keep(group, slots, [s for s in slots if s.result is None])
                continue
            try:
                done, losses = group.forward()
                for s, info in zip(slots, done, strict=True):
                    if info is not None:
                        _record(s, info)  # the group is as that step left it
                for s, loss in zip(slots, losses, strict=True):
                    if s.result is None and not math.isfinite(loss):
                        _fail(s, Diverged(s.view.step, loss))
                for s, info in zip(slots, group.update(), strict=False):
                    if s.result is None:
                        _record(s, info)
            except Exception as e:  # noqa: BLE001 (the group itself broke: all fail)
                for s in slots:
                    if s.result is None:
                        _fail(s, e)
                break
            slots = _keep(group, slots, [s for s in slots if s.result is None])
    finally:
        for s in everyone:
            release_lock(s.lock)
    out = {**failed_early, **{s.job.id: s.result for s in everyone}}
    return [out[j.id] for j in jobs]


def _stack(slots: list[_Slot], GroupTrainer):
    """The group of these members; a checkpoint that does not fit fails its member alone
    (None when none is left)."""
    from sincos_cli.errors import SincosError

    while slots:
        try:
            return GroupTrainer([s.cfg for s in slots], [s.ckpt for s in slots])
        except SincosError as e:
            j = getattr(e, "member", None)
            if j is None:
                raise
            slots[j].result = failed(slots[j].job, e)
            del slots[j]
    return None


def _keep(group, slots: list[_Slot], staying: list[_Slot]) -> list[_Slot]:
    """The members still training, the group cut down to them (each view re-pointed)."""
    if len(staying) != len(slots):
        for s in slots:
            if s not in staying:  # its seconds stop here
                s.view.freeze()
        group.keep([s.view.j for s in staying])
        for j, s in enumerate(staying):
            s.view.j = j
    return staying


def _ending(s: _Slot, stop) -> str | None:
    """Why member s stops training now: completed, stopped (the sweep was), paused (at a
    halving rung), or None: it goes on."""
    step, stop_at = s.view.step, s.job.stop_at
    if step >= s.cfg.steps:
        return RunStatus.COMPLETED
    if stop():
        return "interrupted"
    if stop_at is not None and step >= stop_at:
        return "paused"
    return None


def _record(s: _Slot, info) -> bool:
    """One step into member s's folder; a failure (a full disk, weights that stopped
    being finite at a checkpoint) fails s alone. True when it went in."""
    from sincos_cli.errors import SincosError

    try:
        s.rec.on_step(info)
        return True
    except (SincosError, OSError) as e:
        _fail(s, e)
        return False


def _finish(s: _Slot, why: str) -> None:
    """Member s's final status, as launch.run_to_end writes a run's."""
    step = s.view.step
    try:
        if why == RunStatus.COMPLETED:
            summary = s.rec.finish(RunStatus.COMPLETED, s.view.evaluate())
        elif why == "interrupted":
            summary = s.rec.finish("interrupted", s.view.evaluate() if step else None,
                                   stopping_reason())
        else:
            summary = s.rec.finish("interrupted", s.view.evaluate(),
                                   f"paused at step {step}: a successive-halving rung")
        s.result = Result(s.job.id, Outcome(why), summary=summary)
    except Exception as e:  # noqa: BLE001 (as run_to_end: the last checkpoint stays)
        _fail(s, e)


def _fail(s: _Slot, e: BaseException) -> None:
    """As launch.run_to_end fails a run: metrics and trace cut back to the last
    checkpoint, run.json `failed` with the reason; the member's result."""
    try:
        s.rec.close()
        s.rec.rewind()
        s.rec.mark("failed", reason(e))
    except Exception:  # noqa: BLE001 (a full disk: the result still says why)
        pass
    s.result = failed(s.job, e)
