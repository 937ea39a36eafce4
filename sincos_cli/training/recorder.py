"""Writes a training run into its folder: metrics as they come, trace and checkpoint."""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from sincos_cli import __version__
from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError
from sincos_cli.store import internals, trace
from sincos_cli.store.files import atomic_write_json, refuse_links, truncate_metrics
from sincos_cli.store.meta import Meta, save_meta
from sincos_cli.store.run_doc import SCHEMA, RunDoc
from sincos_cli.store.runs import process_start, utc_now
from sincos_cli.store.summary_doc import Summary

from . import baselines, checkpoint
from .train import Diverged, StepInfo


@runtime_checkable
class Trainee(Protocol):
    """The face an engine gives a Recorder for one run: a train.Trainer, or a
    group.MemberView for one member of a batched group."""

    @property
    def cfg(self) -> TrainConfig: ...

    @property
    def step(self) -> int: ...  # updates done

    @property
    def elapsed(self) -> float: ...  # training seconds, across resumes

    def finite(self) -> bool: ...  # weights and carried state all finite

    def checkpoint(self) -> dict: ...  # checkpoint.document(...) of where it is

    def evaluate(self) -> float: ...  # eval_mse from the carried state


def versions() -> dict:
    return {"python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "sincos": __version__}


class Recorder:
    """The on_step callback that keeps a run folder up to date.

    Every file it writes while training grows by appending (metrics.jsonl, trace.bin) or
    stays the same size (checkpoint.pt, summary.json, run.json): a checkpoint costs the same
    at any step, and nothing of the history is kept in memory.
    """

    def __init__(self, path: Path, trainer: Trainee, checkpoint_every: int):
        self.path, self.trainer, self.checkpoint_every = path, trainer, checkpoint_every
        self.best = (math.inf, -1)
        self.last_loss = math.nan
        self._metrics = None
        self._trace = self._internals = None
        self.metrics_bytes = 0
        self.saved_step = None  # the step of the last checkpoint written by this process
        self.saved_metrics_bytes = 0

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, argv: list[str], device: str, *, sweep: str | None = None,
              holdout: bool = False, group: int | None = None,
              meta: Meta | None = None) -> None:
        """A new run; a sweep member names its `sweep` (a held-out seed's says so, a
        batched one its group's size); `meta` is its tags and note (meta.json), when it
        has any."""
        if meta:
            save_meta(self.path, meta)
        cfg = self.trainer.cfg
        atomic_write_json(self.path / "config.json", cfg.to_dict())
        RunDoc(id=self.path.name, status="running", argv=argv, pid=os.getpid(),
               pid_start=process_start(os.getpid()), host=socket.gethostname(),
               created=utc_now(), seed=cfg.seed, versions=versions(), device=device,
               resumes=[], sweep=sweep, holdout=holdout, group=group).save(self.path)
        self._open(trace.TraceWriter(self.path / trace.NAME, cfg.time_steps))
        self._open_internals(0)

    def resume(self, argv: list[str], device: str, ckpt: dict) -> None:
        """Continue in place: metrics and trace are cut back to the checkpoint's step.

        Schema 2 checkpoints say where metrics.jsonl ended and the best loss so far, so the
        cut is one truncate whatever the length of the history; a schema-1 run's metrics
        are read once and its trace.npz becomes a trace.bin."""
        refuse_links(self.path)
        step, T = self.trainer.step, self.trainer.cfg.time_steps
        metrics = self.path / "metrics.jsonl"
        rec = ckpt.get("recorder")
        size = metrics.stat().st_size if metrics.exists() else 0
        if rec is not None and size >= rec["metrics_bytes"]:
            os.truncate(metrics, rec["metrics_bytes"])
            self.best = (rec["best_loss"], rec["best_step"])
            self.last_loss = rec["last_loss"]
        else:
            rows = truncate_metrics(metrics, step)
            for row in rows:
                self._note_loss(row["step"], row["loss"])
            if len(rows) != step:
                print(f"warning: metrics.jsonl holds {len(rows)} of the {step} steps before "
                      "the checkpoint (damaged?); training continues after them",
                      file=sys.stderr)
        if (self.path / trace.NAME).exists():
            writer = trace.TraceWriter(self.path / trace.NAME, T)
        else:  # schema 1
            writer = trace.migrate(self.path, T, step)
        kept = writer.cut(step)
        if kept != step:
            print(f"warning: the trace holds {kept} of the {step} steps before the checkpoint; "
                  "it continues from here", file=sys.stderr)
        run = RunDoc.load(self.path)
        run.resumes = [*(run.resumes if isinstance(run.resumes, list) else []), {
            "at_step": step, "time": utc_now(), "argv": argv, "pid": os.getpid(),
            "from_status": run.current_status(), "steps": self.trainer.cfg.steps}]
        run.status, run.pid, run.pid_start = "running", os.getpid(), process_start(os.getpid())
        run.host, run.ended, run.device, run.error = socket.gethostname(), None, device, None
        run.schema = SCHEMA
        atomic_write_json(self.path / "config.json", self.trainer.cfg.to_dict())
        run.save(self.path)
        self._open(writer)
        self._open_internals(step)
        self.saved_step, self.saved_metrics_bytes = step, self.metrics_bytes

    def _open(self, writer) -> None:
        # Unbuffered binary appends: each line is in the file (the page cache) when written.
        self._metrics = open(self.path / "metrics.jsonl", "ab", buffering=0)
        self.metrics_bytes = os.fstat(self._metrics.fileno()).st_size
        self._trace = writer

    def _open_internals(self, step: int) -> None:
        """internals.bin, when the run records them, cut back to `step` (a resume)."""
        cfg = self.trainer.cfg
        if cfg.record_internals:
            self._internals = internals.InternalsWriter(self.path / internals.NAME,
                                                        internals.Shape.of(cfg))
            self._internals.cut(step)

    def _note_loss(self, step: int, loss: float) -> None:
        self.last_loss = loss
        if loss < self.best[0]:
            self.best = (loss, step)

    def on_step(self, info: StepInfo) -> None:
        self._note_loss(info.step, info.loss)
        line = json.dumps({"step": info.step, "loss": info.loss, "lr": info.lr,
                           "elapsed_s": round(info.elapsed_s, 6)}, allow_nan=False) + "\n"
        self.metrics_bytes += self._metrics.write(line.encode())
        self._trace.append(info.step, info.loss, info.x, info.target, info.prediction)
        if self._internals is not None and info.internals is not None:
            self._internals.append(info.step, info.internals)
        if self.checkpoint_every and (info.step + 1) % self.checkpoint_every == 0:
            self.save_checkpoint()

    def save_checkpoint(self, summary: Summary | None = None) -> None:
        """Metrics and trace are already on disk (appended each step); then the checkpoint,
        which records where they end, then summary.json (without eval_mse until the end), so
        `compare` shows a running or crashed run's progress without opening the checkpoint.
        """
        if not self.trainer.finite():
            raise Diverged(self.trainer.step)  # keep the last finite checkpoint
        ckpt = self.trainer.checkpoint()
        ckpt["recorder"] = {"metrics_bytes": self.metrics_bytes,
                            "best_loss": self.best[0], "best_step": self.best[1],
                            "last_loss": self.last_loss}  # inf and nan before the first step
        checkpoint.write(self.path, ckpt)
        (summary or self.summary(None)).save(self.path)
        self.saved_step, self.saved_metrics_bytes = self.trainer.step, self.metrics_bytes

    def summary(self, eval_mse: float | None) -> Summary:
        tr = self.trainer
        secs = tr.elapsed
        return Summary(
            final_loss=_finite(self.last_loss), best_loss=_finite(self.best[0]),
            best_step=self.best[1] if self.best[1] >= 0 else None,
            eval_mse=_finite(eval_mse), steps=tr.step, train_seconds=round(secs, 4),
            steps_per_second=round(tr.step / secs, 2) if secs > 0 else None)

    def finish(self, status: str, eval_mse: float | None,
               error: str | None = None) -> Summary:
        """Checkpoint (unless the last one is at this step), summary, then run.json last:
        its status is the commit point."""
        summary = self.summary(eval_mse)
        baselines.add_to(summary, self.trainer.cfg)
        if self.saved_step != self.trainer.step:
            # Even at step 0 (stopped before the first step): a run that ends always has a
            # checkpoint to resume from, never a half-made folder.
            self.save_checkpoint(summary)
        else:
            summary.save(self.path)
        self.close()
        self.mark(status, error)
        return summary

    def rewind(self) -> None:
        """A failed run: metrics and trace cut back to the last checkpoint, so the folder
        holds no step the checkpoint cannot continue from (truncating needs no space)."""
        if self.saved_step is None:
            return
        T = self.trainer.cfg.time_steps
        try:
            os.truncate(self.path / "metrics.jsonl", self.saved_metrics_bytes)
            writer = trace.TraceWriter(self.path / trace.NAME, T)
            writer.cut(self.saved_step)
            writer.close()
            if (self.path / internals.NAME).exists():
                kept = internals.InternalsWriter(self.path / internals.NAME,
                                                 internals.Shape.of(self.trainer.cfg))
                kept.cut(self.saved_step)
                kept.close()
        except (OSError, SincosError):
            pass  # resume cuts them anyway

    def close(self) -> None:
        for f in (self._metrics, self._trace, self._internals):
            if f is not None:
                f.close()
        self._metrics = self._trace = self._internals = None

    def mark(self, status: str, error: str | None = None) -> None:
        run = RunDoc.load(self.path)
        run.status, run.ended = status, utc_now()
        if error:
            run.error = error.strip().splitlines()[0][:300] if error.strip() else error
        # No room for a temporary file (a full disk): the status still has to land.
        run.save(self.path, last_resort=True)


def _finite(v):
    return v if v is not None and math.isfinite(v) else None
