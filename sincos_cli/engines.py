"""Where sweep members run, behind one interface: a concurrent.futures.Executor.

- local: a ProcessPoolExecutor of long-lived workers, each importing torch once (its
  initializer) and training members one at a time with one torch thread;
- dask: an existing Dask distributed cluster, through `Client.get_executor()`; members
  run as tasks on its workers and send their files back (no shared filesystem assumed).

The sweep loop only submits `member.run` and reads results, whichever engine it has.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

from .errors import SincosError, first_line


class Engine:
    """An executor plus what the sweep needs around it: how to ask workers to stop, whether
    they share our filesystem, and how to shut down."""

    def __init__(self, executor, name: str, shared_fs: bool, stop, job_extra: dict,
                 close, kill=None):
        self.executor, self.name, self.shared_fs = executor, name, shared_fs
        self.stop, self.job_extra, self._close, self.kill = stop, job_extra, close, kill

    def close(self) -> None:
        self._close()


def local(workers: int) -> Engine:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    from . import member

    # fork where there is one: workers start without re-importing sincos (torch comes in
    # the initializer, once per worker).
    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    stop = ctx.Event()
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=member.init_local,
                               initargs=(stop,))

    def kill() -> None:
        for p in list(getattr(pool, "_processes", {}).values()):
            if p.is_alive():
                p.kill()

    return Engine(pool, f"local ({workers} worker{'s' * (workers != 1)})", True, stop.set,
                  {}, lambda: pool.shutdown(wait=True, cancel_futures=True), kill)


def dask(address: str, timeout: float = 10.0) -> Engine:
    """`tcp://HOST:PORT` (or any Dask address), or the path of a scheduler file."""
    try:
        from distributed import Client, Event
    except ImportError:
        raise SincosError("--cluster needs Dask: pip install 'sincos[dask]'") from None
    try:
        if "://" in address or not Path(address).exists():
            client = Client(address, timeout=f"{timeout}s")
        else:
            client = Client(scheduler_file=address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as e:
        raise SincosError(f"cannot reach the Dask cluster at {address} "
                          f"({first_line(e, 100)})") from None
    name = f"sincos-stop-{uuid.uuid4().hex}"
    event = Event(name, client=client)
    n = len(client.scheduler_info().get("workers", {}))

    def close() -> None:
        client.close()

    return Engine(client.get_executor(pure=False), f"dask {address} ({n} workers)", False,
                  event.set, {"stop_event": name}, close)


def default_workers() -> int:
    return os.cpu_count() or 1
