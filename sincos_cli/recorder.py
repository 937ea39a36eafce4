"""Writes a training run into its folder: metrics as they come, trace and checkpoint."""

from __future__ import annotations

import io
import json
import math
import os
import platform
import socket
import sys
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .runs import (
    SCHEMA,
    atomic_write_bytes,
    atomic_write_json,
    process_start,
    read_json,
    truncate_metrics,
    utc_now,
)
from .runs import status as run_status
from .train import StepInfo, Trainer


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "sincos": __version__}


class Recorder:
    """The on_step callback that keeps a run folder up to date."""

    def __init__(self, path: Path, trainer: Trainer, checkpoint_every: int):
        self.path, self.trainer, self.checkpoint_every = path, trainer, checkpoint_every
        self.trace: dict[str, list] = {k: [] for k in ("step", "loss", "x", "target",
                                                       "prediction")}
        self.best = (math.inf, -1)
        self.last_loss = math.nan
        self._metrics = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, argv: list[str], device: str) -> None:
        cfg = self.trainer.cfg
        atomic_write_json(self.path / "config.json", cfg.to_dict())
        atomic_write_json(self.path / "run.json", {
            "id": self.path.name, "schema": SCHEMA, "status": "running", "argv": argv,
            "pid": os.getpid(), "pid_start": process_start(os.getpid()),
            "host": socket.gethostname(), "created": utc_now(), "ended": None,
            "seed": cfg.seed, "versions": versions(), "device": device, "resumes": [],
        })
        self._open_metrics()

    def resume(self, argv: list[str], device: str, trace: dict | None) -> None:
        """Continue in place: metrics and trace are cut back to the checkpoint's step."""
        step = self.trainer.step
        rows = truncate_metrics(self.path / "metrics.jsonl", step)
        for row in rows:
            self._note_loss(row["step"], row["loss"])
        if len(rows) != step:
            print(f"warning: metrics.jsonl holds {len(rows)} of the {step} steps before the "
                  "checkpoint (damaged?); training continues after them", file=sys.stderr)
        if trace is not None:
            for key in self.trace:
                self.trace[key] = list(trace[key][:step])
        run = read_json(self.path / "run.json")
        run["resumes"] = [*run.get("resumes", []), {
            "at_step": step, "time": utc_now(), "argv": argv, "pid": os.getpid(),
            "from_status": run_status(run), "steps": self.trainer.cfg.steps}]
        run.update(status="running", pid=os.getpid(), pid_start=process_start(os.getpid()),
                   host=socket.gethostname(), ended=None, device=device, error=None)
        atomic_write_json(self.path / "config.json", self.trainer.cfg.to_dict())
        atomic_write_json(self.path / "run.json", run)
        self._open_metrics()

    def _open_metrics(self) -> None:
        self._metrics = open(self.path / "metrics.jsonl", "a", buffering=1)  # line-buffered

    def _note_loss(self, step: int, loss: float) -> None:
        self.last_loss = loss
        if loss < self.best[0]:
            self.best = (loss, step)

    def on_step(self, info: StepInfo) -> None:
        self._note_loss(info.step, info.loss)
        self._metrics.write(json.dumps({"step": info.step, "loss": info.loss, "lr": info.lr,
                                        "elapsed_s": round(info.elapsed_s, 6)}) + "\n")
        t = self.trace
        t["step"].append(info.step)
        t["loss"].append(info.loss)
        t["x"].append(info.x)
        t["target"].append(info.target)
        t["prediction"].append(info.prediction)
        if self.checkpoint_every and (info.step + 1) % self.checkpoint_every == 0:
            self.save_checkpoint()

    def save_checkpoint(self, summary: dict | None = None) -> None:
        """Trace first, then the checkpoint: the trace never ends before the checkpoint.

        summary.json follows (without eval_mse until the end), so `compare` shows a running
        or crashed run's progress as of its last checkpoint without opening the checkpoint.
        """
        self._metrics.flush()
        self.write_trace()
        buf = io.BytesIO()
        torch.save(self.trainer.checkpoint(), buf)
        atomic_write_bytes(self.path / "checkpoint.pt", buf.getvalue())
        atomic_write_json(self.path / "summary.json", summary or self.summary(None))

    def write_trace(self) -> None:
        t, T = self.trace, self.trainer.cfg.time_steps
        arrays = {
            "step": np.asarray(t["step"], dtype=np.int64),
            "loss": np.asarray(t["loss"], dtype=np.float64),
            "x": np.asarray(t["x"], dtype=np.float64).reshape(-1, T),
            "target": np.asarray(t["target"], dtype=np.float32).reshape(-1, T),
            "prediction": np.asarray(t["prediction"], dtype=np.float32).reshape(-1, T),
        }
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(self.path / "trace.npz", buf.getvalue())

    def summary(self, eval_mse: float | None) -> dict:
        tr = self.trainer
        secs = tr.elapsed
        return {
            "final_loss": _finite(self.last_loss), "best_loss": _finite(self.best[0]),
            "best_step": self.best[1] if self.best[1] >= 0 else None,
            "eval_mse": _finite(eval_mse), "steps": tr.step, "train_seconds": round(secs, 4),
            "steps_per_second": round(tr.step / secs, 2) if secs > 0 else None,
        }

    def finish(self, status: str, eval_mse: float | None, error: str | None = None) -> dict:
        """Checkpoint, summary, then run.json last: its status is the commit point."""
        summary = self.summary(eval_mse)
        if self.trainer.step > 0:
            self.save_checkpoint(summary)
        else:
            atomic_write_json(self.path / "summary.json", summary)
        if self._metrics is not None:
            self._metrics.close()
        self.mark(status, error)
        return summary

    def mark(self, status: str, error: str | None = None) -> None:
        run = read_json(self.path / "run.json")
        run.update(status=status, ended=utc_now())
        if error:
            run["error"] = error.strip().splitlines()[0][:300] if error.strip() else error
        atomic_write_json(self.path / "run.json", run)


def _finite(v):
    return v if v is not None and math.isfinite(v) else None
