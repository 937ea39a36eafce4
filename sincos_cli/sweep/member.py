"""One sweep member, trained in a worker: the same Trainer and Recorder as `sincos train`.

With a shared filesystem (the local engine) the worker writes the member's run folder in
place, as `sincos train` would. On a cluster (no shared filesystem assumed) it trains in a
temporary folder, fed the member's files when resuming, and returns every file; the driver
writes them into the run folder.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from sincos_cli.config import TrainConfig

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
    from sincos_cli.store.files import forget_inherited_locks

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

    from sincos_cli.errors import SincosError
    from sincos_cli.training.numerics import strict_mkl

    why = strict_mkl()  # a Dask worker's process may have started without it
    if why:
        raise SincosError(why)
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
    from sincos_cli.training.launch import failure_reason

    code = getattr(e, "errno", None)  # an OSError, or a SincosError that names a file
    if code in LIMITS:
        return {"id": job["id"], "status": "limit", "error": os.strerror(code)}
    return {"id": job["id"], "status": "failed", "error": failure_reason(e)}


def _train(path: Path, job: dict, stop) -> dict:
    from sincos_cli.errors import SincosError
    from sincos_cli.store.files import release_lock
    from sincos_cli.training.launch import _lock, check_checkpoint_config, run_to_end
    from sincos_cli.training.recorder import Recorder
    from sincos_cli.training.train import Trainer, load_checkpoint_file

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

