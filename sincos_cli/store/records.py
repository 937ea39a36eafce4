"""Append-only files of fixed-size records (trace.bin, internals.bin): a header, then one
numpy structured record a step, appended unbuffered as training goes.

A checkpoint costs the same at step 1,000 and at step 1,000,000; resume cuts the file back
to the checkpoint's step with os.truncate. Readers read what is there into memory, sized
first, and ignore a torn last record: a memory map would die of SIGBUS when a resume
shortens the file under it. Every record starts with its step ("<i8"), in ascending order.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from sincos_cli.errors import SincosError


class RecordWriter:
    """Appends records after `header` (written when the file is new, else checked by
    `check(path)`); cut() trims the file back for a resume."""

    def __init__(self, path: Path, header: bytes, dtype: np.dtype,
                 check: Callable[[Path], object]):
        self.path, self.dtype, self.head = path, dtype, len(header)
        new = not path.exists() or path.stat().st_size < len(header)
        self.f = open(path, "ab", buffering=0)
        if new:
            os.ftruncate(self.f.fileno(), 0)
            self.f.write(header)
        else:
            check(path)
        self._rec = np.zeros(1, dtype)

    def write(self, **values) -> None:
        r = self._rec[0]
        for k, v in values.items():
            r[k] = v
        self.f.write(self._rec.tobytes())  # unbuffered: on disk (in the page cache) now

    def cut(self, steps: int) -> int:
        """Keep the records of steps before `steps`, and no torn one; return how many are
        kept. Records go in step order, so a binary search over the memory-mapped steps
        finds the cut without reading the history."""
        size = os.fstat(self.f.fileno()).st_size
        whole = (size - self.head) // self.dtype.itemsize
        keep = 0
        if whole:
            recs = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.head,
                             shape=(whole,))
            keep = int(np.searchsorted(recs["step"], steps))
            del recs
        os.ftruncate(self.f.fileno(), self.head + keep * self.dtype.itemsize)
        return keep

    def close(self) -> None:
        self.f.close()


def read_records(path: Path, head: int, dtype: np.dtype, most: int) -> np.ndarray:
    """The whole records after a `head`-byte header, at most `most` of them (more is
    damage, found before a byte of them is read); a torn last one left out; a file that
    shrinks while it is read gives the records that were there."""
    try:
        size = os.stat(path).st_size
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    n = (size - head) // dtype.itemsize
    if n > most:
        raise SincosError(f"{path} is damaged: it holds {n} records, more than the run's "
                          f"{most} steps")
    try:
        with open(path, "rb") as f:
            f.seek(head)
            data = f.read(n * dtype.itemsize)
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    n = len(data) // dtype.itemsize
    if n == 0:
        raise SincosError(f"{path} holds no steps yet")
    recs = np.frombuffer(data, dtype=dtype, count=n)
    if n > 1 and not bool(np.all(np.diff(recs["step"]) > 0)):
        raise SincosError(f"{path} is damaged (its steps are out of order)")
    return recs
