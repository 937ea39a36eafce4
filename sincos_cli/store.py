"""The run store as a whole: tags and notes, filters and sweeps folded to one row (standard
library only). `compare`, `show`, `tag`, `rm` (removal.py) and the Python API use it.

Tags and the note live in meta.json, the one file of a run that may change after it ends
(config.json never does).
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import SincosError
from .runs import atomic_write_json, read_json, status

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
META = "meta.json"


class FilterError(ValueError):
    """A bad --where, tag or selector: the CLI prints it as a usage error (exit 2)."""


# -- tags and notes ---------------------------------------------------------------------------

def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise FilterError(f"invalid tag {tag!r}: letters, digits, '.', '_' and '-', not "
                          "starting with '+', '-' or '.', no spaces")
    return tag


def read_meta(path: Path) -> dict:
    """{"tags": [...], "note": str | None, "problem": str | None}: a missing meta.json reads
    empty; one that cannot be read reads empty with the problem named."""
    empty = {"tags": [], "note": None, "problem": None}
    if not os.path.lexists(path / META):
        return empty
    try:
        meta = read_json(path / META)
    except SincosError as e:
        return {**empty, "problem": str(e)}
    tags, note = meta.get("tags", []), meta.get("note")
    if not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)) \
            or not (note is None or isinstance(note, str)):
        return {**empty, "problem": f"{path / META} is corrupt: tags must be a list of "
                                    "words and the note a string"}
    return {"tags": tags, "note": note, "problem": None}


@contextmanager
def _meta_lock(path: Path) -> Iterator[None]:
    """The run's meta lock (.meta.lock, apart from the lock a training run holds), waited
    for: concurrent tag and note commands take turns, and none loses another's change."""
    import fcntl

    try:
        fd = os.open(path / ".meta.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC
                     | os.O_NOFOLLOW, 0o644)
    except OSError as e:
        raise SincosError(f"cannot lock {path / META}: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_meta(path: Path, add=(), remove=(), note: str | None = None,
               set_note: bool = False) -> dict:
    """Change a run's tags or note: read, change and write under the meta lock. A meta.json
    that cannot be read is named and never written over."""
    with _meta_lock(path):
        meta = read_meta(path)
        if meta["problem"]:
            raise SincosError(f"{meta['problem']}; its tags and note are kept as they are "
                              f"(fix or remove {path / META})")
        tags = [t for t in meta["tags"] if t not in remove]
        tags += [t for t in add if t not in tags]
        meta = {"tags": tags, "note": (note or None) if set_note else meta["note"]}
        atomic_write_json(path / META, meta)
    return meta


# -- filters ----------------------------------------------------------------------------------

_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "!=": lambda a, b: a != b,
        "=": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Where:
    key: str
    op: str
    value: object

    def __call__(self, row) -> bool:
        if self.key == "tag":
            has = self.value in row.tags
            return has if self.op == "=" else not has
        v = row_value(row, self.key)
        if v is None:
            return self.op == "!=" and self.value is not None
        if isinstance(self.value, str) != isinstance(v, str):
            return self.op == "!="
        try:
            return _OPS[self.op](v, self.value)
        except TypeError:
            return False


def row_value(row, key: str):
    if key == "sweep":
        return row.sweep or "none"
    if key == "set":  # a sweep member's seeds: selection or holdout
        return row.setting("set")
    return row.setting(key) if key in row.config else row.value(key)


SUMMARY_KEYS = ("eval_mse", "final_loss", "best_loss", "best_step", "steps", "train_seconds",
                "steps_per_second", "created")


def parse_where(exprs: list[str]) -> list[Where]:
    """`KEY OP VALUE` filters (OP one of = != < <= > >=) on a setting, a result, status,
    sweep, tag or id. Unknown keys, operators and values are refused."""
    from dataclasses import fields

    from .config import TrainConfig

    known = sorted({*(f.name for f in fields(TrainConfig)), *SUMMARY_KEYS, "status",
                    "sweep", "tag", "id", "set"})
    out = []
    for expr in exprs:
        m = _WHERE.match(expr)
        if not m or not m.group(3):
            raise FilterError(f"{expr!r} is not KEY OP VALUE, with OP one of =, !=, <, "
                              "<=, >, >=")
        key, op, text = m.group(1).replace("-", "_"), m.group(2), m.group(3)
        op = "=" if op == "==" else op
        if key not in known:
            raise FilterError(f"unknown key {key!r}; choose from {', '.join(known)}")
        if key == "tag":
            if op not in ("=", "!="):
                raise FilterError("tags take only = and != (tag=NAME, tag!=NAME)")
            out.append(Where(key, op, check_tag(text)))
            continue
        text_keys = ("sweep", "status", "id", "created", "set")  # compared as written
        out.append(Where(key, op, text if key in text_keys else _parse_value(text)))
    return out


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        v = float(text)
    except ValueError:
        return text
    if math.isnan(v):
        raise FilterError(f"{text!r} compares with nothing")
    return int(v) if re.fullmatch(r"[-+]?\d+", text) else v + 0.0


def parse_age(text: str) -> float:
    """`7d`, `12h`, `30m`, `90s`, `2w` as seconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not m:
        raise FilterError(f"{text!r}: expected a number and a unit, e.g. 7d, 12h, 30m")
    return float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]


def created_epoch(row) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(row.created).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def select(rows, wheres=(), statuses=(), older_than: float | None = None):
    now = time.time()
    out = []
    for r in rows:
        if statuses and r.status not in statuses:
            continue
        if older_than is not None:
            t = created_epoch(r)
            if t is None or now - t < older_than:
                continue
        if all(w(r) for w in wheres):
            out.append(r)
    return out


# -- sweeps folded ----------------------------------------------------------------------------

def fold(rows, root: Path) -> tuple[list[dict], list]:
    """Rows split into one summary per sweep (in the order first seen) and the runs outside
    sweeps. A sweep's summary: id, status, members by status, grid keys, the median and the
    best eval_mse of its members."""
    import statistics

    by: dict[str, list] = {}
    loose = []
    for r in rows:
        if r.sweep:
            by.setdefault(r.sweep, []).append(r)
        else:
            loose.append(r)
    sweeps = []
    for sid, members in by.items():
        path = members[0].path.parent / sid
        try:
            doc = read_json(path / "sweep.json")
            st, grid, total = status(doc), list(doc.get("grid") or {}), len(doc["members"])
        except (SincosError, KeyError, TypeError):
            st, grid, total = "corrupt", [], len(members)
        counts: dict[str, int] = {}
        for m in members:
            counts[m.status] = counts.get(m.status, 0) + 1
        evals = [v for m in members if isinstance(v := m.value("eval_mse"), (int, float))]
        sweeps.append({"id": sid, "status": st, "members": total, "by_status": counts,
                       "grid": grid, "eval_median": statistics.median(evals) if evals else None,
                       "eval_best": min(evals) if evals else None})
    return sweeps, loose
