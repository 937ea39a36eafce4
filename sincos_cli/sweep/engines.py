"""Where sweep members run, behind one interface: a concurrent.futures.Executor plus what the
sweep loop needs around it.

- local: a ProcessPoolExecutor of long-lived workers, each importing torch once (its
  initializer) and training members one at a time with one torch thread. Workers die with
  their driver (even a kill -9), never hold its locks, and a broken pool is rebuilt;
- dask: an existing Dask distributed cluster, through `Client.get_executor()`; members run
  as tasks on its workers and send their files back (no shared filesystem assumed). The
  driver beats a heartbeat in a Dask Variable: members stop when asked, or when the beat
  stops (a driver that was killed collects nothing, so its members should not go on).

The sweep loop only submits units (member.run, group_run.run_group) and reads results,
whichever engine it has.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import uuid
from pathlib import Path

from sincos_cli.errors import SincosError, first_line

from .jobs import Control

HEARTBEAT_S = 1.0
# How long to wait for a cluster's answer before giving up on it, in one line.
CONNECT_TIMEOUT_S = float(os.environ.get("SINCOS_CLUSTER_TIMEOUT", "10"))
# A member on a cluster stops after this long without a beat from its driver.
HEARTBEAT_TIMEOUT_S = float(os.environ.get("SINCOS_HEARTBEAT_TIMEOUT", "30"))


class LocalEngine:
    shared_fs = True
    control = None  # the workers share an Event and signals instead

    def __init__(self, workers: int):
        import multiprocessing as mp

        # fork where there is one: workers start without re-importing sincos (torch comes
        # in the initializer, once per worker).
        self._ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        self.workers, self.slots = workers, 2 * workers
        self.name = f"local ({workers} worker{'s' * (workers != 1)})"
        self._stop = self._ctx.Event()
        self.executor = self._pool()

    def _pool(self):
        from concurrent.futures import ProcessPoolExecutor

        from . import worker

        return ProcessPoolExecutor(self.workers, mp_context=self._ctx,
                                   initializer=worker.init_local,
                                   initargs=(self._stop, os.getpid()))

    def stop(self) -> None:
        self._stop.set()

    def restart(self) -> None:
        """A fresh pool after a worker died (the old one's workers are all gone first)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.executor = self._pool()

    def kill(self) -> None:
        for proc in list((getattr(self.executor, "_processes", None) or {}).values()):
            if proc.is_alive():
                proc.kill()

    def close(self, abort: bool = False) -> None:
        if abort:  # an error or a limit hit: never wait on workers nobody will feed
            self.stop()
            self.kill()
            self.executor.shutdown(wait=False, cancel_futures=True)
        else:
            self.executor.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def classify(e: BaseException) -> str:
        from concurrent.futures.process import BrokenProcessPool

        return "broken" if isinstance(e, BrokenProcessPool) else "failed"

    @staticmethod
    def lost_reason(text: str) -> str:
        return text


def local(workers: int) -> LocalEngine:
    return LocalEngine(workers)


# -- Dask ------------------------------------------------------------------------------------

def _address(spec: str, seen_file: str | None = None) -> str:
    """A tcp:// address from `tcp://HOST:PORT`, `HOST:PORT` or a scheduler file."""
    if re.fullmatch(r"[\w.\-\[\]:]+:\d+", spec) and "://" not in spec:
        spec = f"tcp://{spec}"
    if "://" in spec:
        scheme = spec.split("://", 1)[0]
        if scheme != "tcp":
            what = f"the scheduler file {seen_file} names" if seen_file else "--cluster"
            raise SincosError(f"{what} {spec}: only tcp:// clusters are supported "
                              f"({scheme}:// needs settings sincos does not pass)")
        return spec
    if seen_file is not None:
        raise SincosError(f"the scheduler file {seen_file} holds no tcp:// address")
    path = Path(spec)
    if not path.is_file():
        raise SincosError(f"--cluster {spec}: no such scheduler file (or give tcp://HOST:PORT)")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        raise SincosError(f"--cluster {spec}: not a Dask scheduler file (not JSON)") from None
    if not isinstance(info, dict) or not isinstance(info.get("address"), str):
        raise SincosError(f"--cluster {spec}: not a Dask scheduler file (no 'address')")
    return _address(info["address"], seen_file=spec)


def _connect(address: str, timeout: float):
    """A Client, or a one-line SincosError within about `timeout` seconds, whatever listens
    there (a silent socket or a web server would otherwise hold the handshake open)."""
    import dask
    from distributed import Client

    box: dict = {}

    def attempt() -> None:
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
                box["client"] = Client(address, timeout=f"{timeout}s",
                                       set_as_default=False)
        except BaseException as e:  # noqa: BLE001 (reported below, in one line)
            box["error"] = e

    t = threading.Thread(target=attempt, daemon=True, name="sincos-connect")
    t.start()
    t.join(timeout)
    if "client" in box:
        return box["client"]
    why = first_line(box["error"], 100) if "error" in box else f"no answer in {timeout:g} s"
    raise SincosError(f"cannot reach the Dask cluster at {address} ({why})")


def _silence_dask() -> None:
    """The library logs its own view of a lost connection as tracebacks on stderr; sincos
    reports it in one line. Its loggers carry levels of their own, so each is set."""
    import distributed  # noqa: F401 (configures its loggers)

    names = [n for n in logging.root.manager.loggerDict
             if n.split(".")[0] in ("distributed", "tornado", "asyncio")]
    for name in {"distributed", "tornado", "asyncio", *names}:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


class DaskEngine:
    shared_fs = False

    def __init__(self, spec: str, timeout: float = CONNECT_TIMEOUT_S):
        self.address = _address(spec)
        _silence_dask()
        self.client = _connect(self.address, timeout)
        from distributed import Variable

        self._control = f"sincos-control-{uuid.uuid4().hex}"
        self._var = Variable(self._control, client=self.client)
        self._beat, self._stopped = 0, False
        self._var.set({"stop": False, "beat": 0})
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                        name="sincos-heartbeat")
        self._thread.start()
        info = self.client.scheduler_info()
        workers = info.get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        self.slots = max(2, 2 * threads)
        self.workers = max(1, threads)  # tasks the cluster runs at once
        self.name = f"dask {self.address} ({len(workers)} workers)"
        self.control = Control(self._control, HEARTBEAT_TIMEOUT_S)
        self.executor = self.client.get_executor(pure=False)

    def _heartbeat(self) -> None:
        while not self._quit.wait(HEARTBEAT_S):
            self._beat += 1
            try:
                self._var.set({"stop": self._stopped, "beat": self._beat}, timeout=5)
            except Exception:  # noqa: BLE001 (a lost cluster shows in the futures)
                pass

    def stop(self) -> None:
        self._stopped = True
        try:
            self._var.set({"stop": True, "beat": self._beat}, timeout=5)
        except Exception:  # noqa: BLE001
            pass

    def restart(self) -> None:  # a cluster reruns lost tasks itself
        pass

    def kill(self) -> None:
        self._quit.set()

    def close(self, abort: bool = False) -> None:
        self._quit.set()
        try:
            self._var.delete()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001
            pass

    @staticmethod
    def classify(e: BaseException) -> str:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        if isinstance(e, KilledWorker):
            return "crashed"
        if isinstance(e, (CancelledError, CommClosedError, OSError, TimeoutError)):
            return "lost"
        return "failed"

    def lost_reason(self, text: str) -> str:
        why = text.strip().splitlines()[0][:80] if text.strip() else "no answer"
        return f"lost the Dask cluster at {self.address} ({why})"


def dask(spec: str, timeout: float = CONNECT_TIMEOUT_S) -> DaskEngine:
    """`tcp://HOST:PORT`, `HOST:PORT`, or the path of a scheduler file."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SincosError("--cluster needs Dask: pip install 'sincos[dask]'") from None
    return DaskEngine(spec, timeout)


def default_workers() -> int:
    return os.cpu_count() or 1
