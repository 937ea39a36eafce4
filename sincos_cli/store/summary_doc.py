"""summary.json as a type (standard library only): how a run did, written at each checkpoint
and at its end, and read by every module through `Summary`.

Its numbers come from a file that may come from anyone: `checked()` names each value that
is not a result (a finite, non-negative number) and reads it as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .document import Document, described, kept
from .files import atomic_write_json, read_json

NAME = "summary.json"
# summary.json's "baselines": the yardsticks of eval_mse (training/baselines.py), each read
# as a column of its own (`linear`, `zero`, `persistence`) and checked as the numbers are.
BASELINES = ("linear", "zero", "persistence", "linear_taps")


@dataclass(kw_only=True)
class Summary(Document):
    """summary.json, its fields in the file's order."""

    final_loss: float | None = described("the last step's training loss", default=None)
    best_loss: float | None = described("the lowest training loss", default=None)
    best_step: int | None = described("the step of best_loss", default=None)
    eval_mse: float | None = described("MSE of the trained model on eval_batches fresh "
                                       "batches (null until the run ends)", default=None)
    steps: int | None = described("the steps done", default=None)
    train_seconds: float | None = described("seconds spent training", default=None)
    steps_per_second: float | None = described("steps / train_seconds", default=None)
    baselines: dict | None = described(
        "the yardsticks of eval_mse on the same batches: zero, persistence, linear, "
        "linear_taps, linear_by_taps (docs/baselines.md); once it has an eval_mse",
        when_set=True, default=None)
    vs_linear: float | None = described("eval_mse / linear (null when linear is 0); "
                                         "written with baselines", default=None)
    extra: dict[str, Any] = kept()

    SHOWN = "summary.json"

    @classmethod
    def load(cls, run: Path) -> Summary:
        """A run folder's summary.json; a one-line SincosError when it cannot be read."""
        return cls.parse(read_json(run / NAME))

    def save(self, run: Path) -> None:
        atomic_write_json(run / NAME, self.to_json())

    def to_json(self) -> dict:
        out = super().to_json()
        if self.baselines is None:
            out.pop("vs_linear")  # no yardsticks (nothing scored yet, or an older run)
        return out

    @classmethod
    def numbers(cls) -> tuple[str, ...]:
        """The keys that hold results: every field but the baselines block."""
        return tuple(f.name for f in cls.keys() if f.name != "baselines")

    def checked(self) -> dict[str, str]:
        """{key: why} for each value that is not a result, each then read as missing (a
        baselines block that is not an object, as a whole)."""
        bad = {}
        for k in self.numbers():
            why = _problem(getattr(self, k))
            if why:
                bad[k] = f"{shown(getattr(self, k))}: {why}"
                setattr(self, k, None)
        b = self.baselines
        if b is not None and not isinstance(b, dict):
            bad["baselines"] = f"{shown(b)}: not an object"
            self.baselines = None
        for k in BASELINES if isinstance(self.baselines, dict) else ():
            why = _problem(self.baselines.get(k))
            if why:
                bad[k] = f"{shown(self.baselines[k])}: {why}"
                self.baselines[k] = None
        return bad


def _problem(v) -> str | None:
    return None if v is None else number_problem(v)


def number_problem(v) -> str | None:
    """Why a value is not a result (a finite, non-negative number, not a bool), or None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return f"{'a bool' if isinstance(v, bool) else type(v).__name__}, not a number"
    if not math.isfinite(v):
        return "not finite"
    return "negative" if v < 0 else None


def shown(v) -> str:
    """A value as the file spells it, cut to 40 characters."""
    import json

    try:
        text = json.dumps(v)
    except ValueError:  # NaN, Infinity: as the file spells them
        text = repr(v).replace("nan", "NaN").replace("inf", "Infinity")
    return text if len(text) <= 40 else text[:37] + "..."
