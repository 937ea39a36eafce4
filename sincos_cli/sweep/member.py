"""One sweep member, trained in a worker: the same Trainer and Recorder as `sincos train`."""

from __future__ import annotations

from pathlib import Path

from sincos_cli.config import TrainConfig

from .jobs import Job, Outcome, Result, Unit
from .worker import clear, failed, serve, stopping_reason


def run(unit: Unit) -> Result:
    """Train (or resume) the unit's one member (worker.serve: in place or away)."""
    return serve(unit, lambda paths, jobs, stop: [_train(paths[0], jobs[0], stop)])[0]


def _train(path: Path, job: Job, stop) -> Result:
    from sincos_cli.store.files import release_lock
    from sincos_cli.training import checkpoint
    from sincos_cli.training.launch import lock_run, run_to_end
    from sincos_cli.training.recorder import Recorder
    from sincos_cli.training.train import Trainer

    cfg = TrainConfig.from_dict(job.config)
    lock = lock_run(path)
    try:
        if job.mode == "restart":
            clear(path)
        trainer = Trainer(cfg)
        rec = Recorder(path, trainer, job.checkpoint_every)
        if job.mode == "resume":
            ckpt = checkpoint.read_for(path, job.config)
            trainer.load_checkpoint(ckpt)
            rec.resume(job.argv, "cpu", ckpt)
        else:
            rec.start(job.argv, "cpu", sweep=job.sweep, holdout=job.holdout, meta=job.meta)

        stop_at = job.stop_at  # a successive-halving rung: pause there

        def paused() -> bool:
            return stop_at is not None and trainer.step >= stop_at

        def reason() -> str:
            if stop():
                return stopping_reason()
            return f"paused at step {stop_at}: a successive-halving rung"
        status, summary, error = run_to_end(trainer, rec, rec.on_step,
                                            lambda: stop() or paused(), reason)
        if status == "interrupted" and paused() and not stop():
            status = "paused"  # run.json says interrupted: resumable, as a pause is
        if status == "failed":
            return failed(job, error)
        return Result(job.id, Outcome(status), summary=summary)
    except Exception as e:  # refused or could not start: its folder is as it was
        return failed(job, e)
    finally:
        release_lock(lock)

