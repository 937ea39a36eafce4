"""A sweep's worker process: how it starts, stops and trains its members, whether one at a
time (member) or as a batched group (group_run).

On the local engine the worker writes each member's run folder in place, as `sincos train`
would; on a cluster (no shared filesystem assumed) it trains in a temporary folder, fed the
member's files when resuming, and returns every file for the driver to write back.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from sincos_cli.errors import reason

from .jobs import Control, Job, Outcome, Result, Unit

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
    torch_once()


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


def torch_once() -> None:
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


def stopper(control: Control | None):
    """should_stop for the training loop: the local Event and SIGTERM flag (cheap), or the
    cluster's control Variable, asked at most twice a second (each ask is a round trip to
    the scheduler). On a cluster, a driver whose heartbeat stopped counts as a stop."""
    if control is None:
        if _STOP is None:
            return lambda: _TERM
        return lambda: _TERM or _STOP.is_set()
    from distributed import Variable

    var, timeout = Variable(control.variable), control.heartbeat_timeout
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


def stopping_reason() -> str:
    """Why a member stopped when its worker was told to."""
    return ("stopped: the sweep's driver ended" if _TERM
            else "stopped: the sweep was interrupted")


def failed(job: Job, e: BaseException) -> Result:
    """A member that failed, or could not start: a limit of the machine stops the sweep
    (resumable) instead of failing member after member."""
    code = getattr(e, "errno", None)  # an OSError, or a SincosError that names a file
    if code in LIMITS:
        return Result(job.id, Outcome.LIMIT, error=os.strerror(code))
    return Result(job.id, Outcome.FAILED, error=reason(e))


Train = Callable[[list[Path], list[Job], Callable[[], bool]], list[Result]]


def serve(unit: Unit, train: Train) -> list[Result]:
    """Run `train` over the unit's members in their folders: in place on a shared
    filesystem, else in a temporary folder whose files go back with the results. A sweep
    stopped before the unit began leaves its members as they were."""
    torch_once()
    stop = stopper(unit.control)
    if stop():
        return [Result(job.id, Outcome.SKIPPED) for job in unit.jobs]
    if all(job.dir for job in unit.jobs):
        with _busy():
            return train([Path(job.dir) for job in unit.jobs], unit.jobs, stop)
    with tempfile.TemporaryDirectory(prefix="sincos-member-") as d:
        paths = []
        for job in unit.jobs:
            path = Path(d) / job.id
            path.mkdir()
            for name, data in (job.files or {}).items():
                (path / name).write_bytes(data)
            paths.append(path)
        results = train(paths, unit.jobs, stop)
        for result, path in zip(results, paths, strict=True):
            result.files = {f.name: f.read_bytes() for f in path.iterdir()
                            if f.is_file() and not f.name.startswith(".")}
        return results


@contextmanager
def _busy():
    """While members train: a SIGTERM waits for their checkpoints, then ends the worker
    (the members are on disk; the driver is gone or the pool broke)."""
    global _BUSY
    _BUSY = True
    try:
        yield
    finally:
        _BUSY = False
        if _TERM:
            os._exit(0)


def clear(path: Path) -> None:
    """A member that started but left nothing to resume from: its files go (not its lock)."""
    for f in path.iterdir():
        if f.is_file() and f.name != ".lock":
            f.unlink()
