"""Run a trained model on new input: a range of x, or numbers streamed from a file or stdin.

The sequence is fed in order from a zero state, in chunks with the state carried between
them, so memory stays flat for any length and output starts before the input ends.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError, first_line
from sincos_cli.store.files import read_json

from . import checkpoint
from .data import range_series
from .model import Regressor

CHUNK = 8192  # points per model call for ranges and files


def load_model(path: Path) -> tuple[Regressor, TrainConfig]:
    """Rebuild the model from config.json and load checkpoint.pt (weights only)."""
    from .budget import check_model

    cfg = TrainConfig.from_dict(read_json(path / "config.json"))
    try:
        check_model(cfg, CHUNK)
    except ValueError as e:
        raise SincosError(f"{path.name}: {e}") from None
    ckpt = checkpoint.read(path / checkpoint.NAME)
    model = Regressor.from_config(cfg)
    try:
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, TypeError) as e:
        raise SincosError(f"{path / 'checkpoint.pt'} does not fit config.json "
                          f"({first_line(e)})") from None
    return model.eval(), cfg


@dataclass
class Chunk:
    x: np.ndarray | None  # positions, when known (range mode)
    input: np.ndarray  # (n,) float64
    target: np.ndarray | None  # (n,) float64, when known


class Predictor:
    """Feeds chunks through the model, carrying the state from one chunk to the next."""

    def __init__(self, model: Regressor):
        self.model = model
        self.state = model.zero_state(1)

    @torch.inference_mode()
    def __call__(self, values: np.ndarray) -> np.ndarray:
        if len(values) == 0:
            return np.empty(0, np.float32)
        x = torch.from_numpy(np.asarray(values, np.float32)).view(1, -1, 1)  # (1, n, 1)
        y, self.state = self.model(x, self.state)
        return y.view(-1).numpy()


class Scores:
    """Running MSE over all points and over those after the first `warmup`."""

    def __init__(self, warmup: int):
        self.warmup, self.n, self.sse, self.n_late, self.sse_late = warmup, 0, 0.0, 0, 0.0

    def add(self, target: np.ndarray, prediction: np.ndarray) -> None:
        err = (prediction.astype(np.float64) - target) ** 2
        skip = min(max(self.warmup - self.n, 0), len(err))
        self.n += len(err)
        self.sse += float(err.sum())
        self.n_late += len(err) - skip
        self.sse_late += float(err[skip:].sum())

    def result(self) -> dict:
        return {"mse": self.sse / self.n if self.n else None,
                "mse_after_warmup": self.sse_late / self.n_late if self.n_late else None,
                "scored_points": self.n, "warmup": self.warmup}


# -- inputs --------------------------------------------------------------------------------

def range_chunks(start: float, points: int, cfg: TrainConfig) -> Iterator[Chunk]:
    for s in range(0, points, CHUNK):
        x, inp, tgt = range_series(start + s * cfg.x_spacing, min(CHUNK, points - s), cfg)
        yield Chunk(x, inp, tgt)


def _blocks(f) -> Iterator[list[bytes]]:
    """Complete lines as they arrive: whatever one read returns, so a slow pipe is answered
    line by line and a fast one in large blocks. A UTF-8 byte-order mark is dropped."""
    rest = b""
    read = getattr(f, "read1", f.read)
    first = True
    while True:
        data = read(1 << 16)
        if first and data:
            while len(data) < 3 and data == b"\xef\xbb\xbf"[:len(data)]:
                more = read(3 - len(data))
                if not more:
                    break
                data += more
            data = data.removeprefix(b"\xef\xbb\xbf")
            first = False
        if not data:
            break
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        if lines:
            yield lines
    if rest.strip():
        yield [rest]


def _number(text: bytes | str, line: int, what: str = "value") -> float:
    try:
        v = float(text)
    except ValueError:
        shown = text.decode(errors="replace") if isinstance(text, bytes) else text
        raise SincosError(f"line {line}: {shown.strip()[:40]!r} is not a number") from None
    if not math.isfinite(v):
        raise SincosError(f"line {line}: {what} {v} is not finite")
    return v


def _parse_plain(lines: list[bytes], lineno: int) -> np.ndarray:
    """One number a line; blank lines are skipped (as in CSV input)."""
    lines = [ln.rstrip(b"\r") for ln in lines]
    if not all(ln.strip() for ln in lines):
        numbered = [(lineno + i, ln) for i, ln in enumerate(lines) if ln.strip()]
        return np.array([_number(ln, n) for n, ln in numbered], np.float64)
    try:
        values = np.array(lines, dtype=np.bytes_).astype(np.float64)  # fast path
    except ValueError:
        values = None
    if values is None or not np.isfinite(values).all():
        # Slow path, only to name the first bad line.
        for i, ln in enumerate(lines):
            _number(ln, lineno + i)
    return values


def stream_chunks(f, column: str | None = None,
                  target_column: str | None = None) -> Iterator[Chunk]:
    """Numbers from a binary file: one per line, or CSV columns by header name."""
    line = 1
    if column is None and target_column is None:
        for block in _blocks(f):
            yield Chunk(None, _parse_plain(block, line), None)
            line += len(block)
        return
    header = None
    for block in _blocks(f):
        rows = list(csv.reader(io.StringIO(b"\n".join(block).decode(errors="replace"))))
        if header is None:
            if not rows:
                continue
            header, rows, line = [h.strip() for h in rows[0]], rows[1:], line + 1
            dup = sorted({h for h in header if header.count(h) > 1})
            if dup:
                raise SincosError(f"the CSV header names column {dup[0][:40]!r} twice")
            names = [("--column", column or "")] + ([("--target-column", target_column)]
                                                    if target_column else [])
            for flag, name in names:
                if name not in header:
                    raise SincosError(f"no column {name!r} for {flag} (columns: "
                                      f"{', '.join(header) or 'none'})")
            ci = header.index(column)
            ti = header.index(target_column) if target_column else None
        numbered = [(line + i, row) for i, row in enumerate(rows)
                     if any(field.strip() for field in row)]  # blank lines are skipped
        inp = np.empty(len(numbered))
        tgt = np.empty(len(numbered)) if ti is not None else None
        for i, (n, row) in enumerate(numbered):
            if len(row) <= max(ci, ti or 0):
                raise SincosError(f"line {n}: too few fields")
            inp[i] = _number(row[ci], n, column)
            if tgt is not None:
                tgt[i] = _number(row[ti], n, target_column)
        line += len(rows)
        yield Chunk(None, inp, tgt)
    if header is None:
        raise SincosError("the input is empty (no CSV header)")


# -- outputs --------------------------------------------------------------------------------

def _fmt(a: np.ndarray | None, n: int) -> list[str]:
    """Shortest text that reads back to the same number (%.9g is exact for float32)."""
    if a is None:
        return [""] * n
    if a.dtype == np.float32:
        return ("%.9g\n" * n % tuple(a.tolist())).split("\n")[:n]
    return list(map(repr, a.tolist()))


class CsvOut:
    def __init__(self, out, header: bool):
        self.out = out
        if header:
            out.write("x,input,target,prediction\n")

    def write(self, c: Chunk, pred: np.ndarray) -> None:
        n = len(pred)
        cols = zip(_fmt(c.x, n), _fmt(c.input, n), _fmt(c.target, n), _fmt(pred, n),
                   strict=True)
        self.out.write("".join(f"{a},{b},{t},{p}\n" for a, b, t, p in cols))

    def close(self, extra: dict) -> None:
        pass


class PlainOut(CsvOut):
    def __init__(self, out):
        self.out = out

    def write(self, c: Chunk, pred: np.ndarray) -> None:
        self.out.write("".join(f"{p}\n" for p in _fmt(pred, len(pred))))


class JsonOut:
    """One JSON object, streamed: {"run": …, "points": [...], "mse": …}."""

    def __init__(self, out, head: dict):
        self.out, self.first = out, True
        out.write(json.dumps(head)[:-1] + ', "points": [')

    def write(self, c: Chunk, pred: np.ndarray) -> None:
        n = len(pred)
        cols = (c.x, c.input, c.target, pred)
        lists = [a.tolist() if a is not None else [None] * n for a in cols]
        parts = [json.dumps({"x": x, "input": i, "target": t, "prediction": p})
                 for x, i, t, p in zip(*lists, strict=True)]
        if parts:
            self.out.write(("" if self.first else ", ") + ", ".join(parts))
            self.first = False

    def close(self, extra: dict) -> None:
        self.out.write("], " + json.dumps(extra)[1:] + "\n")


def run(chunks: Iterator[Chunk], model: Regressor, writer, warmup: int, out) -> dict:
    """Predict every chunk, write it, flush (so a pipe sees output early); return metrics."""
    predict, scores = Predictor(model), Scores(warmup)
    for c in chunks:
        pred = predict(c.input)
        if not np.isfinite(pred).all():
            raise SincosError("the model's output is not finite (was the run trained to "
                              "divergence?)")
        if c.target is not None:
            scores.add(c.target, pred)
        writer.write(c, pred)
        out.flush()
    result = scores.result()
    writer.close(result)
    return result
