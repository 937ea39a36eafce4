"""internals.bin: what the network's gates and states did, per step, for window row 0.

Written when a run is trained with --record-internals. Each record is one step: for every
layer, every panel of its cell (an LSTM's four gates, its cell state and its hidden state;
a GRU's two gates, its candidate and hidden state; a plain RNN's hidden state) over the
window's time steps, float32, after the step's update and from the state row 0 started the
step with: the same pass as trace.bin's prediction. Append-only as trace.bin is
(store/records.py): the header is checked, a torn last record ignored, and a resume cuts the
file back to its checkpoint, so a resumed run's file equals a straight-through run's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sincos_cli.errors import SincosError

from .records import RecordWriter, read_records

NAME = "internals.bin"
MAGIC = b"SCINTERN"
VERSION = 1
HEADER = struct.Struct("<8sIIIII")  # magic, version, cell, layers, T, hidden: 28 bytes
CELLS = ("lstm", "gru", "rnn")
# Each cell's panels, in the order a record holds them, and what each is.
PANELS = {
    "lstm": ("i", "f", "g", "o", "c", "h"),
    "gru": ("r", "z", "n", "h"),
    "rnn": ("h",),
}
TITLES = {"i": "input gate i", "f": "forget gate f", "g": "candidate g",
          "o": "output gate o", "c": "cell state c", "h": "hidden state h",
          "r": "reset gate r", "z": "update gate z", "n": "candidate n"}
MAX_SIDE = 1 << 16  # more layers, steps or units than this: the header is damaged


def record_dtype(cell: str, layers: int, T: int, hidden: int) -> np.dtype:
    P = len(PANELS[cell])
    return np.dtype([("step", "<i8"), ("values", "<f4", (layers, P, T, hidden))])


@dataclass(frozen=True)
class Shape:
    """What internals.bin's header says: the cell and the sizes of every record."""

    cell: str
    layers: int
    T: int
    hidden: int

    @classmethod
    def of(cls, cfg) -> Shape:
        """The shape a run's config (a TrainConfig) records."""
        return cls(cfg.cell, cfg.layers, cfg.time_steps, cfg.hidden)

    @property
    def panels(self) -> tuple[str, ...]:
        return PANELS[self.cell]

    def dtype(self) -> np.dtype:
        return record_dtype(self.cell, self.layers, self.T, self.hidden)

    def header(self) -> bytes:
        return HEADER.pack(MAGIC, VERSION, CELLS.index(self.cell), self.layers, self.T,
                           self.hidden)


class InternalsWriter(RecordWriter):
    def __init__(self, path: Path, shape: Shape):
        super().__init__(path, shape.header(), shape.dtype(), lambda p: _check(p, shape))

    def append(self, step: int, values: np.ndarray) -> None:
        self.write(step=step, values=values)


def _shape(path: Path) -> Shape:
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    if len(head) < HEADER.size:
        raise SincosError(f"{path} holds no steps yet")
    magic, version, cell, layers, T, hidden = HEADER.unpack(head)
    if magic != MAGIC or version != VERSION or cell >= len(CELLS) or \
            not all(1 <= v <= MAX_SIDE for v in (layers, T, hidden)):
        raise SincosError(f"{path} is not a sincos internals file")
    return Shape(CELLS[cell], layers, T, hidden)


def _check(path: Path, shape: Shape) -> None:
    if _shape(path) != shape:
        raise SincosError(f"{path} was recorded for another model ({_shape(path)})")


@dataclass(frozen=True)
class Internals:
    """A run's internals: `steps` (N,) and `values` (N, layers, panels, T, hidden)."""

    shape: Shape
    steps: np.ndarray
    values: np.ndarray

    def at(self, step: int) -> np.ndarray | None:
        """The record of `step` (layers, panels, T, hidden), or None when none was kept."""
        i = int(np.searchsorted(self.steps, step))
        return self.values[i] if i < len(self.steps) and self.steps[i] == step else None


def read(folder: Path) -> Internals:
    """The run's internals.bin (a run holds at most a record a step of its config's, as
    trace.bin does), or a one-line SincosError naming what to do when it has none."""
    from .trace import MAX_UNCONFIGURED, configured

    path = folder / NAME
    if not path.exists():
        raise SincosError(f"{folder.name} was trained without its internals: train it with "
                          "--record-internals (sweep: --record-internals), or resume it "
                          "with it to record the steps still to come")
    shape = _shape(path)
    steps = configured(folder)[1]
    dtype = shape.dtype()
    most = steps if steps is not None else MAX_UNCONFIGURED // dtype.itemsize
    recs = read_records(path, HEADER.size, dtype, most)
    return Internals(shape, recs["step"], recs["values"])
