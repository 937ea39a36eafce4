"""One `sincos train`: a new or resumed run folder, signals, progress, and the final status."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

from sincos_cli.config import FROZEN_ON_RESUME, TrainConfig
from sincos_cli.errors import Diverged, SincosError, debugging, reason
from sincos_cli.status import RunStatus
from sincos_cli.store.files import hold_lock, read_json, release_lock
from sincos_cli.store.meta import Meta
from sincos_cli.store.run_doc import RunDoc
from sincos_cli.store.runs import allocate, resolve

# Ctrl-C, SIGTERM and SIGHUP (the terminal closed) all stop a run the same way.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
# Set by the console script: once a run's final status is written, a late Ctrl-C or SIGTERM
# is ignored for the few milliseconds left, so the exit code always agrees with run.json.
# (Not in-process callers such as tests, whose own signal handling must come back.)
LATE_SIGNALS_IGNORED = False


# A second signal this soon after the first is the same stop delivered twice: `timeout`,
# for one, signals its child and then the child's whole process group, the child again.
SAME_STOP_S = 1.0


class Stop:
    """First SIGINT/SIGTERM/SIGHUP: finish the step, save, exit 130/143/129. Second (more
    than SAME_STOP_S later): exit at once."""

    def __init__(self, on_second):
        self.signum = None
        self.on_second = on_second
        self.committed = False  # the final status is on disk
        self._old = {}
        self._first = 0.0

    def __enter__(self) -> Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in EXIT_CODES:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.signum is not None:
            if time.monotonic() - self._first < SAME_STOP_S:
                return
            self.on_second()
            os._exit(EXIT_CODES[signum])
        self.signum, self._first = signum, time.monotonic()

    def __call__(self) -> bool:
        return self.signum is not None

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            late = self.committed and LATE_SIGNALS_IGNORED
            signal.signal(sig, signal.SIG_IGN if late else old)


def lock_run(path: Path) -> int:
    """The run folder's lock for this process's life: a second trainer of it is refused."""
    return hold_lock(path, f"run {path.name} is in use by another sincos process")


def setup_torch(threads: int, device: str):
    import torch

    from .train import resolve_device

    if threads > 0:
        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError:  # already set in this process (tests train several runs)
            pass
    return resolve_device(device)


def prepare_resume(root: Path, selector: str, given: dict):
    """Check a run can be resumed with the given settings; return (path, cfg, ckpt)."""
    from . import checkpoint

    path = resolve(root, selector)
    run = RunDoc.load(path)
    if run.current_status() == "running":
        raise SincosError(f"run {path.name} is still running (pid {run.pid})")
    written = read_json(path / "config.json")
    old = TrainConfig.from_dict(written)
    for key in FROZEN_ON_RESUME:
        if key in given and given[key] != getattr(old, key):
            raise SincosError(f"cannot change {key.replace('_', '-')} on resume "
                              f"(run has {getattr(old, key)!r}, asked {given[key]!r})")
    cfg = replace(old, steps=given.get("steps", old.steps),
                  record_internals=given.get("record_internals", old.record_internals))
    ckpt = checkpoint.read_for(path, written)  # Trainer.load_checkpoint checks the fit
    done = int(ckpt.get("step", 0))
    if done >= cfg.steps:
        raise SincosError(f"run {path.name} already has {done} steps; "
                          f"pass --steps N (N > {done}) to train further")
    return path, cfg, ckpt


def train_run(cfg: TrainConfig | None, *, root: Path, name: str | None, device: str,
              threads: int, checkpoint_every: int, argv: list[str], display,
              resume: str | None = None, given: dict | None = None, meta: Meta | None = None):
    """Train (or resume) one run; return (run folder, summary, exit code).

    display(cfg, steps_done): the caller's context manager that is shown each step
    (`.on_step(info)`; a live window may set `.closed`): progress lines, a bar, a plot.
    """
    from .recorder import Recorder
    from .train import Trainer

    dev = setup_torch(threads, device)
    if resume is not None:
        path, cfg, ckpt = prepare_resume(root, resume, given or {})
        lock = lock_run(path)
        trainer = Trainer(cfg, dev)
        trainer.load_checkpoint(ckpt)
    else:
        trainer = Trainer(cfg, dev)
    # The display opens before the run folder is made or marked running: if it cannot,
    # nothing was written. Signals are caught from the moment the folder may exist: one
    # that lands while it is being set up stops training before its first step, with a
    # checkpoint, like any other interrupt.
    recs: list = []
    stop = Stop(on_second=lambda: recs and recs[0].mark(
        "interrupted", "interrupted twice; stopped without saving"))
    with display(cfg, trainer.step) as shown, stop:
        if resume is not None:
            rec = Recorder(path, trainer, checkpoint_every)
            rec.resume(argv, str(dev), ckpt)
        else:
            path = allocate(root, name)
            try:
                lock = lock_run(path)
                rec = Recorder(path, trainer, checkpoint_every)
                rec.start(argv, str(dev), meta=meta)
            except BaseException:
                # Nothing was trained yet: leave no half-made folder behind.
                import shutil

                shutil.rmtree(path, ignore_errors=True)
                raise
        recs.append(rec)
        try:
            return _train(trainer, rec, path, shown, stop)
        finally:
            release_lock(lock)


def _train(trainer, rec, path: Path, display, stop: Stop):
    closed = lambda: getattr(display, "closed", False)  # noqa: E731 (a live window)

    def on_step(info):
        rec.on_step(info)
        display.on_step(info)

    def why_stopped() -> str:
        return (f"stopped by signal {signal.Signals(stop.signum).name}" if stop()
                else "stopped: the live window was closed")

    status, summary, error = run_to_end(trainer, rec, on_step, lambda: stop() or closed(),
                                        why_stopped)
    stop.committed = True  # run.json holds the final status: a later signal changes nothing
    if status == RunStatus.COMPLETED:
        return path, summary, 0
    if status == "interrupted":
        return path, summary, EXIT_CODES[stop.signum] if stop() else 130
    if isinstance(error, Diverged):
        kept = (f"the last finite checkpoint (step {rec.saved_step}) is kept"
                if rec.saved_step else "no checkpoint was written")
        raise SincosError(f"training {error}; {kept}")
    raise SincosError(f"training failed: {reason(error)}")


def run_to_end(trainer, rec, on_step, should_stop, why_stopped):
    """Train until done or should_stop(), then commit the final status in the run folder:
    (completed | interrupted, summary, None), or (failed, None, the exception) with
    metrics and trace cut back to the last checkpoint. `sincos train` and sweep members
    both end their runs here."""
    try:
        trainer.fit(on_step, should_stop=should_stop)
        if should_stop():
            summary = rec.finish("interrupted", trainer.evaluate() if trainer.step else None,
                                 why_stopped())
            return "interrupted", summary, None
        return RunStatus.COMPLETED, rec.finish(RunStatus.COMPLETED, trainer.evaluate()), None
    except Exception as e:  # Diverged: the last checkpoint (all finite) stays
        rec.close()
        rec.rewind()
        rec.mark("failed", reason(e))
        if debugging() and not isinstance(e, Diverged):
            raise
        return "failed", None, e
