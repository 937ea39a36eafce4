"""The training trace: per step, window row 0's x, target and post-update prediction.

Schema 2 (trace.bin) is append-only (store/records.py): a 16-byte header (magic, version,
T), then one fixed-size record a step (a numpy structured dtype). Schema 1 (trace.npz,
rewritten whole at each checkpoint) is still read.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from sincos_cli.errors import SincosError

from .records import RecordWriter, read_records

NAME = "trace.bin"
OLD_NAME = "trace.npz"  # schema 1
MAGIC = b"SCTRACE\0"
VERSION = 1
HEADER = struct.Struct("<8sII")  # magic, record version, T: 16 bytes
KEYS = ("step", "loss", "x", "target", "prediction")
MAX_T = 1 << 20  # windows longer than this are no run's: the header is damaged


def record_dtype(T: int) -> np.dtype:
    return np.dtype([("step", "<i8"), ("loss", "<f8"), ("x", "<f8", (T,)),
                     ("target", "<f4", (T,)), ("prediction", "<f4", (T,))])


class TraceWriter(RecordWriter):
    """Appends one record a step to trace.bin; cut() trims it back for a resume."""

    def __init__(self, path: Path, T: int):
        super().__init__(path, HEADER.pack(MAGIC, VERSION, T), record_dtype(T),
                         lambda p: _check_header(p, T))

    def append(self, step: int, loss: float, x, target, prediction) -> None:
        self.write(step=step, loss=loss, x=x, target=target, prediction=prediction)


def _check_header(path: Path, T: int | None = None) -> int:
    with open(path, "rb") as f:
        head = f.read(HEADER.size)
    if len(head) < HEADER.size:
        raise SincosError(f"{path} holds no steps yet")
    magic, version, t = HEADER.unpack(head)
    if magic != MAGIC or version != VERSION or not 1 <= t <= MAX_T:
        raise SincosError(f"{path} is not a sincos trace")
    if T is not None and t != T:
        raise SincosError(f"{path} has windows of {t} points, the run {T}")
    return t


MAX_UNCONFIGURED = 1 << 26  # bytes read of a trace whose run names no step count


def read(folder: Path) -> dict[str, np.ndarray]:
    """The run's trace as arrays in memory: a one-line SincosError when missing or damaged.
    A torn last record (a crash mid-write) is left out; a file that shrinks while it is
    read (a resume cutting it) gives the records that were there. The file is sized against
    its header and the run's steps before a byte of it is read: a damaged trace costs
    constant memory, whatever its size."""
    path = folder / NAME
    if path.exists():
        want_T, steps = configured(folder)
        T = _check_header(path, want_T)
        dtype = record_dtype(T)
        most = steps if steps is not None else MAX_UNCONFIGURED // dtype.itemsize
        recs = read_records(path, HEADER.size, dtype, most)
        trace = {k: recs[k] for k in KEYS}
    else:
        trace = _read_npz(folder / OLD_NAME)
    n = len(trace["step"])
    shapes = {trace[k].shape for k in ("x", "target", "prediction")}
    if len(shapes) != 1 or len(trace["loss"]) != n or next(iter(shapes))[0] != n:
        raise SincosError(f"{path} is inconsistent (arrays of different lengths)")
    return trace


def configured(folder: Path) -> tuple[int | None, int | None]:
    """The run's window length and steps from config.json, to check the trace against (a
    step is recorded once, so a trace never holds more records than the run has steps)."""
    from .files import read_json

    try:
        cfg = read_json(folder / "config.json")
    except SincosError:
        return None, None

    def whole(v):
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
    return whole(cfg.get("time_steps")), whole(cfg.get("steps"))


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            trace = {k: np.asarray(z[k]) for k in KEYS}
    except FileNotFoundError:
        raise SincosError(f"{path.parent / NAME} is missing: the run has no trace yet") \
            from None
    except KeyError as e:
        raise SincosError(f"{path} lacks {e.args[0]!r}") from None
    except Exception as e:  # zipfile, numpy and pickle refusals all mean "damaged"
        raise SincosError(f"{path} is not a readable trace ({type(e).__name__})") from None
    if len(trace["step"]) == 0:
        raise SincosError(f"{path} holds no steps yet")
    return trace


def migrate(folder: Path, T: int, steps: int) -> TraceWriter:
    """A schema-1 run being resumed: its trace.npz (steps before `steps`) becomes trace.bin,
    then trace.npz goes. An unreadable trace.npz starts trace.bin empty (with a warning
    from the caller)."""
    old = folder / OLD_NAME
    writer = TraceWriter(folder / NAME, T)
    writer.cut(0)
    try:
        trace = _read_npz(old)
    except SincosError:
        return writer
    keep = trace["step"] < steps
    for i in np.flatnonzero(keep):
        writer.append(*(trace[k][i] for k in KEYS))
    old.unlink()
    return writer
