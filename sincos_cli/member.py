"""One sweep member, trained in a worker: the same Trainer and Recorder as `sincos train`.

With a shared filesystem (the local engine) the worker writes the member's run folder in
place, as `sincos train` would. On a cluster (no shared filesystem assumed) it trains in a
temporary folder, fed the member's files when resuming, and returns every file; the driver
writes them into the run folder.
"""

from __future__ import annotations

import errno
import math
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from .config import TrainConfig

_STOP = None  # the local engine's multiprocessing.Event, set by init_local
_TERM = False  # a local worker was sent SIGTERM (its driver died, or the pool broke)
_BUSY = False  # a local worker is training a member
# The machine's limits, not the member's fault: the sweep stops (resumable) instead of
# failing member after member.
LIMITS = (errno.EMFILE, errno.ENFILE, errno.EAGAIN, errno.ENOMEM, errno.ENOSPC, errno.EDQUOT)


def init_local(stop_event, driver: int) -> None:
    """ProcessPoolExecutor initializer. Torch is imported once, with one thread. Ctrl-C and
    a closed terminal reach the whole process group, but only the driver decides what
    they mean. SIGTERM, also sent when the driver dies (even by kill -9), stops the member
    in training with a checkpoint, then ends the worker; an idle worker ends at once."""
    global _STOP
    from .runs import forget_inherited_locks

    forget_inherited_locks()  # the sweep's lock stays the driver's alone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    _die_with_parent()
    if os.getppid() != driver:  # the driver died before the line above took effect
        os._exit(0)
    _STOP = stop_event
    _torch_once()


def _on_term(signum, frame) -> None:
    global _TERM
    _TERM = True
    if not _BUSY:
        os._exit(0)


def _die_with_parent() -> None:
    """Linux's PR_SET_PDEATHSIG: SIGTERM to this worker when its driver ends."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _torch_once() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    # Torch reads /proc/cpuinfo on its first vectorised kernel: here, while the worker has
    # descriptors to spare, not among a group's open files (at a limit it would print an
    # error line of its own).
    torch.zeros(64).sigmoid_()


def _stopper(job: dict):
    """should_stop for the training loop: the local Event and SIGTERM flag (cheap), or the
    cluster's control Variable, asked at most twice a second (each ask is a round trip to
    the scheduler). On a cluster, a driver whose heartbeat stopped counts as a stop."""
    if job.get("control") is None:
        if _STOP is None:
            return lambda: _TERM
        return lambda: _TERM or _STOP.is_set()
    from distributed import Variable

    var, timeout = Variable(job["control"]), float(job.get("heartbeat_timeout", 30))
    st = {"next": 0.0, "beat": None, "seen": time.monotonic(), "stop": False}

    def stop() -> bool:
        now = time.monotonic()
        if st["stop"] or now < st["next"]:
            return st["stop"]
        st["next"] = now + 0.5
        try:
            value = var.get(timeout=2)
        except Exception:  # noqa: BLE001 (no answer: the beat does not move)
            value = None
        if isinstance(value, dict):
            st["stop"] = bool(value.get("stop"))
            if value.get("beat") != st["beat"]:
                st["beat"], st["seen"] = value.get("beat"), now
        if now - st["seen"] > timeout:
            st["stop"] = True  # the driver is gone: nobody would collect this member
        return st["stop"]
    return stop


def run(job: dict) -> dict:
    """Train (or resume) one member. job: id, config, mode (new | resume | restart), argv,
    sweep, checkpoint_every, and either dir (shared filesystem) or files (cluster)."""
    global _BUSY
    _torch_once()
    stop = _stopper(job)
    if stop():  # the sweep was stopped before this member began: leave it as it was
        return {"id": job["id"], "status": "skipped", "files": None}
    if job.get("dir"):
        _BUSY = True
        try:
            return {**_train(Path(job["dir"]), job, stop), "files": None}
        finally:
            _BUSY = False
            if _TERM:  # the member is on disk; the driver is gone or the pool broke
                os._exit(0)
    with tempfile.TemporaryDirectory(prefix="sincos-member-") as d:
        path = Path(d) / job["id"]
        path.mkdir()
        for name, data in (job.get("files") or {}).items():
            (path / name).write_bytes(data)
        result = _train(path, job, stop)
        result["files"] = {f.name: f.read_bytes() for f in path.iterdir()
                           if f.is_file() and not f.name.startswith(".")}
        return result


def _failed(job: dict, e: BaseException) -> dict:
    from .launch import failure_reason

    code = getattr(e, "errno", None)  # an OSError, or a SincosError that names a file
    if code in LIMITS:
        return {"id": job["id"], "status": "limit", "error": os.strerror(code)}
    return {"id": job["id"], "status": "failed", "error": failure_reason(e)}


def _train(path: Path, job: dict, stop) -> dict:
    from .errors import SincosError
    from .launch import _lock, check_checkpoint_config, run_to_end
    from .recorder import Recorder
    from .runs import release_lock
    from .train import Trainer, load_checkpoint_file

    cfg = TrainConfig.from_dict(job["config"])
    lock = _lock(path)
    try:
        if job["mode"] == "restart":  # started, but left nothing to resume from
            for f in path.iterdir():
                if f.is_file() and f.name != ".lock":
                    f.unlink()
        trainer = Trainer(cfg)
        rec = Recorder(path, trainer, job["checkpoint_every"])
        if job["mode"] == "resume":
            ckpt = load_checkpoint_file(path / "checkpoint.pt")
            check_checkpoint_config(path, ckpt, job["config"])
            trainer.load_checkpoint(ckpt)
            rec.resume(job["argv"], "cpu", ckpt)
        else:
            extra = {"sweep": job["sweep"], **({"holdout": True} if job.get("holdout") else {})}
            rec.start(job["argv"], "cpu", extra=extra, meta=job.get("meta"))

        stop_at = job.get("stop_at")  # a successive-halving rung: pause there

        def paused() -> bool:
            return stop_at is not None and trainer.step >= stop_at

        def reason() -> str:
            if stop():
                return ("stopped: the sweep's driver ended" if _TERM
                        else "stopped: the sweep was interrupted")
            return f"paused at step {stop_at}: a successive-halving rung"
        status, summary, error = run_to_end(trainer, rec, rec.on_step,
                                            lambda: stop() or paused(), reason)
        if status == "interrupted" and paused() and not stop():
            status = "paused"  # run.json says interrupted: resumable, as a pause is
        if status == "failed":
            return _failed(job, error)
        return {"id": job["id"], "status": status, "summary": summary}
    except SincosError as e:  # refused before it started: its folder is as it was
        return _failed(job, e)
    except Exception as e:  # could not even start: the run folder says nothing yet
        return _failed(job, e)
    finally:
        release_lock(lock)


# -- a group of members, trained as one batched model (group.py) ----------------------------

def run_group(job: dict) -> dict:
    """Train (or resume) the members of job["members"] together; their results, in order.
    Each member's folder and files are what `run` would make of it alone."""
    global _BUSY
    _torch_once()
    stop = _stopper(job)
    members = job["members"]
    if stop():
        return {"results": [{"id": m["id"], "status": "skipped", "files": None}
                            for m in members]}
    if all(m.get("dir") for m in members):
        _BUSY = True
        try:
            results = _train_group([Path(m["dir"]) for m in members], members, stop)
            return {"results": [{**r, "files": None} for r in results]}
        finally:
            _BUSY = False
            if _TERM:
                os._exit(0)
    with tempfile.TemporaryDirectory(prefix="sincos-group-") as d:
        paths = []
        for m in members:
            path = Path(d) / m["id"]
            path.mkdir()
            for name, data in (m.get("files") or {}).items():
                (path / name).write_bytes(data)
            paths.append(path)
        results = _train_group(paths, members, stop)
        for r, path in zip(results, paths, strict=True):
            r["files"] = {f.name: f.read_bytes() for f in path.iterdir()
                          if f.is_file() and not f.name.startswith(".")}
        return {"results": results}


class _Slot:
    """One member in its group: its job, folder, lock, recorder and place."""

    def __init__(self, path: Path, job: dict, cfg: TrainConfig, ckpt, lock: int):
        self.path, self.job, self.cfg, self.ckpt, self.lock = path, job, cfg, ckpt, lock
        self.rec = self.view = None
        self.result: dict | None = None


def _train_group(paths: list[Path], jobs: list[dict], stop) -> list[dict]:
    """The group loop: members leave as they complete, pause at a rung, fail (alone, with
    their last finite checkpoint) or are stopped (all, each with its checkpoint)."""
    from .errors import Diverged
    from .group import GroupTrainer, MemberView
    from .launch import _lock, check_checkpoint_config
    from .recorder import Recorder
    from .runs import release_lock
    from .train import load_checkpoint_file

    everyone: list[_Slot] = []
    failed_early: dict[str, dict] = {}
    try:
        for path, job in zip(paths, jobs, strict=True):  # a refused member: as it was
            try:
                cfg = TrainConfig.from_dict(job["config"])
                lock = _lock(path)
            except Exception as e:  # noqa: BLE001 (reported as the member's failure)
                failed_early[job["id"]] = _failed(job, e)
                continue
            s = _Slot(path, job, cfg, None, lock)
            everyone.append(s)
            try:
                if job["mode"] == "restart":
                    for f in path.iterdir():
                        if f.is_file() and f.name != ".lock":
                            f.unlink()
                if job["mode"] == "resume":
                    s.ckpt = load_checkpoint_file(path / "checkpoint.pt")
                    check_checkpoint_config(path, s.ckpt, job["config"])
            except Exception as e:  # noqa: BLE001
                s.result = _failed(job, e)
        slots = [s for s in everyone if s.result is None]
        group = _stack(slots, GroupTrainer)
        slots = [s for s in slots if s.result is None]
        for j, s in enumerate(slots):
            s.view = MemberView(group, j)
            try:
                s.rec = Recorder(s.path, s.view, s.job["checkpoint_every"])
                if s.ckpt is not None:
                    s.rec.resume(s.job["argv"], "cpu", s.ckpt)
                else:
                    extra = {"sweep": s.job["sweep"], "group": len(slots),
                             **({"holdout": True} if s.job.get("holdout") else {})}
                    s.rec.start(s.job["argv"], "cpu", extra=extra, meta=s.job.get("meta"))
                s.ckpt = None
            except Exception as e:  # noqa: BLE001 (this member alone could not start)
                s.result = _failed(s.job, e)
        slots = _keep(group, slots, [s for s in slots if s.result is None])
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
    out = {**failed_early, **{s.job["id"]: s.result for s in everyone}}
    return [out[j["id"]] for j in jobs]


def _stack(slots: list[_Slot], GroupTrainer):
    """The group of these members; a checkpoint that does not fit fails its member alone."""
    from .errors import SincosError

    while True:
        try:
            return GroupTrainer([s.cfg for s in slots], [s.ckpt for s in slots])
        except SincosError as e:
            j = getattr(e, "member", None)
            if j is None:
                raise
            slots[j].result = _failed(slots[j].job, e)
            del slots[j]


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
    step, stop_at = s.view.step, s.job.get("stop_at")
    if step >= s.cfg.steps:
        return "completed"
    if stop():
        return "interrupted"
    if stop_at is not None and step >= stop_at:
        return "paused"
    return None


def _record(s: _Slot, info) -> bool:
    """One step into member s's folder; a failure (a full disk, weights that stopped
    being finite at a checkpoint) fails s alone. True when it went in."""
    from .errors import SincosError

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
        if why == "completed":
            summary = s.rec.finish("completed", s.view.evaluate())
        elif why == "interrupted":
            reason = ("stopped: the sweep's driver ended" if _TERM
                      else "stopped: the sweep was interrupted")
            summary = s.rec.finish("interrupted", s.view.evaluate() if step else None, reason)
        else:
            summary = s.rec.finish("interrupted", s.view.evaluate(),
                                   f"paused at step {step}: a successive-halving rung")
        s.result = {"id": s.job["id"], "status": why, "summary": summary}
    except Exception as e:  # noqa: BLE001 (as run_to_end: the last checkpoint stays)
        _fail(s, e)


def _fail(s: _Slot, e: BaseException) -> None:
    """As launch.run_to_end fails a run: metrics and trace cut back to the last
    checkpoint, run.json `failed` with the reason; the member's result."""
    from .launch import failure_reason

    try:
        s.rec.close()
        s.rec.rewind()
        s.rec.mark("failed", failure_reason(e))
    except Exception:  # noqa: BLE001 (a full disk: the result still says why)
        pass
    s.result = _failed(s.job, e)
