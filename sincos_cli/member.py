"""One sweep member, trained in a worker: the same Trainer and Recorder as `sincos train`.

With a shared filesystem (the local engine) the worker writes the member's run folder in
place, as `sincos train` would. On a cluster (no shared filesystem assumed) it trains in a
temporary folder, fed the member's files when resuming, and returns every file; the driver
writes them into the run folder.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from pathlib import Path

from .config import TrainConfig

_STOP = None  # the local engine's multiprocessing.Event, set by init_local


def init_local(stop_event) -> None:
    """ProcessPoolExecutor initializer: torch imported once, one thread; Ctrl-C in a
    terminal reaches the whole process group, but only the driver decides what it means."""
    global _STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the driver's handler, forked along
    _STOP = stop_event
    _torch_once()


def _torch_once() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def _stopper(job: dict):
    """should_stop for the training loop: the local Event (cheap), or the cluster's named
    Event, asked at most twice a second (each ask is a round trip to the scheduler)."""
    if job.get("stop_event") is None:
        return _STOP.is_set if _STOP is not None else (lambda: False)
    from distributed import Event

    event, last, seen = Event(job["stop_event"]), [0.0], [False]

    def stop() -> bool:
        now = time.monotonic()
        if not seen[0] and now - last[0] > 0.5:
            last[0] = now
            seen[0] = event.is_set()
        return seen[0]
    return stop


def run(job: dict) -> dict:
    """Train (or resume) one member. job: id, config, mode (new | resume | restart), argv,
    sweep, checkpoint_every, and either dir (shared filesystem) or files (cluster)."""
    _torch_once()
    stop = _stopper(job)
    if stop():  # the sweep was stopped before this member began: leave it as it was
        return {"id": job["id"], "status": "skipped", "files": None}
    if job.get("dir"):
        return {**_train(Path(job["dir"]), job, stop), "files": None}
    with tempfile.TemporaryDirectory(prefix="sincos-member-") as d:
        path = Path(d) / job["id"]
        path.mkdir()
        for name, data in (job.get("files") or {}).items():
            (path / name).write_bytes(data)
        result = _train(path, job, stop)
        result["files"] = {f.name: f.read_bytes() for f in path.iterdir()
                           if f.is_file() and not f.name.startswith(".")}
        return result


def _train(path: Path, job: dict, stop) -> dict:
    from .launch import _lock, failure_reason, run_to_end
    from .recorder import Recorder
    from .train import Trainer, load_checkpoint_file

    cfg = TrainConfig.from_dict(job["config"])
    lock = _lock(path)
    try:
        if job["mode"] == "restart":  # failed, or crashed before its first checkpoint
            for f in path.iterdir():
                if f.is_file() and f.name != ".lock":
                    f.unlink()
        trainer = Trainer(cfg)
        rec = Recorder(path, trainer, job["checkpoint_every"])
        if job["mode"] == "resume":
            ckpt = load_checkpoint_file(path / "checkpoint.pt")
            trainer.load_checkpoint(ckpt)
            rec.resume(job["argv"], "cpu", ckpt)
        else:
            rec.start(job["argv"], "cpu", extra={"sweep": job["sweep"]})
        status, summary, error = run_to_end(
            trainer, rec, rec.on_step, stop, lambda: "stopped: the sweep was interrupted")
        if status == "failed":
            return {"id": job["id"], "status": status, "error": failure_reason(error)}
        return {"id": job["id"], "status": status, "summary": summary}
    except Exception as e:  # could not even start: the run folder says nothing yet
        return {"id": job["id"], "status": "failed", "error": failure_reason(e)}
    finally:
        os.close(lock)
