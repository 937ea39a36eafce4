"""Progress on stderr: a rich bar on a terminal, plain lines otherwise, nothing with --quiet."""

from __future__ import annotations

import sys
import time

from sincos_cli.status import RunStatus


def rich_bar(stream, *middle):
    """A started rich progress bar on `stream`: description, bar, done/total, the given
    columns, elapsed and ETA, refreshed a few times a second."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress

    bar = RichProgress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        *(TextColumn(c) for c in middle), TimeElapsedColumn(), TextColumn("eta"),
        TimeRemainingColumn(), console=Console(file=stream), refresh_per_second=8)
    bar.start()
    return bar


class Progress:
    """Use as a context manager; call update(step_done, loss) after each step."""

    def __init__(self, total: int, *, done: int = 0, quiet: bool = False, log_every: int = 10,
                 label: str = "train", unit: str = "loss", stream=None):
        self.total, self.done, self.quiet = total, done, quiet
        self.log_every, self.label, self.unit = log_every, label, unit
        self.stream = stream or sys.stderr
        self.bar = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if not self.quiet and self.stream.isatty():
            self.bar = rich_bar(self.stream, "{task.fields[metric]}", "{task.fields[rate]}")
            self.task = self.bar.add_task(self.label, total=self.total, completed=self.done,
                                          metric="", rate="")
            self._t0, self._n0 = time.perf_counter(), self.done
        return self

    def update(self, done: int, value: float | None = None, step: int | None = None) -> None:
        """`done` items finished; `step` (0-based, as metrics.jsonl numbers it) for the
        plain log line, which counts updates done (1…N), as every display does."""
        if self.quiet:
            return
        if self.bar is None:
            n = done if step is None else step + 1
            if value is not None and (n == 1 or n % self.log_every == 0 or done == self.total):
                print(f"step {n} {self.unit} {value:.6g}", file=self.stream, flush=True)
            return
        now = time.perf_counter()
        # Redrawing costs more than a training step: update the bar a few times a second.
        if now - self._last < 0.1 and done < self.total:
            return
        self._last = now
        rate = (done - self._n0) / max(now - self._t0, 1e-9)
        metric = f"{self.unit} {value:.3e}" if value is not None else ""
        self.bar.update(self.task, completed=done, metric=metric, rate=f"{rate:,.0f}/s")

    def on_step(self, info) -> None:
        """The training loop's callback: one step done."""
        self.update(info.step + 1, info.loss, info.step)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()


class SweepProgress:
    """One bar over a sweep's members (done/total, failed, best eval_mse, ETA) on a
    terminal; a plain line per finished member otherwise; nothing with --quiet."""

    def __init__(self, total: int, *, done: int = 0, quiet: bool = False, stream=None):
        self.total, self.done, self.quiet = total, done, quiet
        self.failed, self.best = 0, None
        self.stream = stream or sys.stderr
        self.bar = None

    def __enter__(self) -> SweepProgress:
        if not self.quiet and self.stream.isatty():
            self.bar = rich_bar(self.stream, "{task.fields[info]}")
            self.task = self.bar.add_task("sweep", total=self.total, completed=self.done,
                                          info=self._info())
        return self

    def _info(self) -> str:
        best = f"best eval_mse {self.best:.3g}" if self.best is not None else ""
        return f"failed {self.failed}  {best}".rstrip()

    def on_result(self, result) -> None:
        """A member ended (a sweep.jobs.Result: id, status, summary, error)."""
        status = result.status
        if status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.PRUNED):
            self.done += 1
        self.failed += status == "failed"
        ev = result.summary.eval_mse if result.summary else None
        if isinstance(ev, (int, float)) and (self.best is None or ev < self.best):
            self.best = ev
        if self.quiet or status == "skipped":
            return
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, info=self._info())
            return
        what = f"eval_mse {ev:.4g}" if isinstance(ev, (int, float)) else result.error
        vs = result.summary.vs_linear if result.summary else None
        if isinstance(ev, (int, float)) and isinstance(vs, float):
            from .table import cell

            what += f" ({cell(vs, 'vs_linear')} linear)"
        words = [result.id, status, what, f"({self.done}/{self.total} done, "
                 f"{self.failed} failed)"]
        print(" ".join(w for w in words if w), file=self.stream, flush=True)

    def grow(self, more: int, line: str | None = None) -> None:
        """More members to train (a sweep's next round), with a line saying why."""
        self.total += more
        if self.bar is not None:
            self.bar.update(self.task, total=self.total)
        if line and not self.quiet:
            from sincos_cli.text import visible

            line = visible(line, lines=False)
            if self.bar is not None:
                self.bar.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=self.stream, flush=True)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
