"""The run store as a whole: tags and notes, filters and sweeps folded to one row (standard
library only). `compare`, `show`, `tag`, `rm` (removal.py) and the Python API use it.

Tags and the note live in meta.json, the one file of a run that may change after it ends
(config.json never does).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

from sincos_cli.errors import FilterError, SincosError

from .meta import check_tag
from .record import BASELINES, NUMBERS, Row
from .runs import RunStatus, sort_key
from .sweep_doc import SweepDoc

# -- filters ----------------------------------------------------------------------------------

_OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "!=": lambda a, b: a != b,
        "=": lambda a, b: a == b, "<": lambda a, b: a < b, ">": lambda a, b: a > b}
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(<=|>=|!=|==|=|<|>)\s*(.*?)\s*$")
ORDERED = ("number", "date")  # the kinds that take <, <=, >, >=


@dataclass(frozen=True)
class Where:
    """One filter: the value was parsed as its key's kind (number, bool, a word from a
    setting's choices, status, sweep, set, id, date) before anything is selected."""

    key: str
    op: str
    value: object
    kind: str = "number"

    def __call__(self, row) -> bool:
        if self.key == "tag":
            has = self.value in row.tags
            return has if self.op == "=" else not has
        v = row_value(row, self.key)
        if self.kind == "date" and v is not None:
            v = parse_date(str(v))
        if v is None:
            return self.op == "!=" and self.value is not None
        if self.value is None:
            return self.op == "!="
        if not _same_kind(v, self.value):
            return self.op == "!="
        try:
            return _OPS[self.op](v, self.value)
        except TypeError:
            return False


def _same_kind(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True
    return type(a) is type(b)


def row_value(row, key: str):
    if key == "sweep":
        return row.sweep or "none"
    if key == "set":  # a sweep member's seeds: selection or holdout
        return row.setting("set")
    return row.setting(key) if key in row.config else row.value(key)


def key_kinds() -> dict[str, str]:
    """Every key --where takes and the kind its value is parsed as."""
    from dataclasses import fields

    from sincos_cli.config import CHOICES, TrainConfig

    kinds = {"tag": "tag", "status": "status", "sweep": "sweep", "id": "id", "set": "set",
             "created": "date", **dict.fromkeys((*NUMBERS, *BASELINES), "number")}
    for f in fields(TrainConfig):
        t = TrainConfig.kind(f.name)
        kinds[f.name] = ("choice" if f.name in CHOICES else "bool" if t == "bool" else
                         "number" if t in ("int", "float") else "text")
    return kinds


def parse_where(exprs: list[str]) -> list[Where]:
    """`KEY OP VALUE` filters (OP one of = != < <= > >=) on a setting, a result, status,
    sweep, tag, set, id or created. Unknown keys and operators are refused, and so is a value
    that is not of its key's kind (`hidden!=2O`, `status=complted`): a typo never selects."""
    kinds = key_kinds()
    known = sorted(kinds)
    out = []
    for expr in exprs:
        m = _WHERE.match(expr)
        if not m or not m.group(3):
            raise FilterError(f"{expr!r} is not KEY OP VALUE, with OP one of =, !=, <, "
                              "<=, >, >=")
        key, op, text = m.group(1).replace("-", "_"), m.group(2), m.group(3)
        op = "=" if op == "==" else op
        if key not in kinds:
            raise FilterError(f"unknown key {key!r}; choose from {', '.join(known)}")
        kind = kinds[key]
        if op not in ("=", "!=") and kind == "tag":
            raise FilterError("tags take only = and != (tag=NAME, tag!=NAME)")
        if op not in ("=", "!=") and kind not in ORDERED:
            raise FilterError(f"{expr!r}: {key} takes only = and != (<, <=, >, >= compare "
                              "numbers and dates)")
        out.append(Where(key, op, _parse_value(key, kind, text), kind))
    return out


def _parse_value(key: str, kind: str, text: str):
    """`text` as a value of `kind`, or a FilterError naming what the key takes. `none` (or
    `null`) is a missing value for every key but tag."""
    from sincos_cli.config import CHOICES

    from .runs import NAME_RE, SWEEP_RE, RunStatus

    low = text.lower()
    if kind == "tag":
        return check_tag(text)
    if kind == "sweep":  # `none`: a run outside sweeps
        if text != "none" and not SWEEP_RE.match(text):
            raise FilterError(f"sweep={text!r}: a sweep id (sweep-NN) or none")
        return text
    if low in ("none", "null"):
        return None
    if kind == "number":
        try:
            v = float(text)
        except ValueError:
            raise FilterError(f"{key}={text!r}: {key} is a number") from None
        if math.isnan(v):
            raise FilterError(f"{text!r} compares with nothing")
        return int(text) if re.fullmatch(r"[-+]?\d+", text) else v + 0.0
    if kind == "bool":
        if low not in ("true", "false"):
            raise FilterError(f"{key}={text!r}: {key} is true or false")
        return low == "true"
    words = {"choice": CHOICES.get(key, ()), "status": tuple(RunStatus),
             "set": ("selection", "holdout")}.get(kind)
    if words is not None:
        if text not in words:
            raise FilterError(f"{key}={text!r}: {key} is one of {', '.join(words)}")
        return str(text)
    if kind == "id":
        if not NAME_RE.match(text):
            raise FilterError(f"id={text!r}: a run id is letters, digits, '.', '_' and '-'")
        return text
    if kind == "date":
        d = parse_date(text)
        if d is None:
            raise FilterError(f"created={text!r}: a date or time, ISO 8601 (2026-12-07, "
                              "2026-12-07T08:30Z)")
        return d
    return text


def parse_date(text: str):
    """An ISO 8601 date or time as an aware datetime (UTC when it names no zone), or None."""
    from datetime import UTC, datetime

    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


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

@dataclass(frozen=True)
class SweepLine:
    """A sweep as one line of the folded table: its status, its members' number (as
    sweep.json names them) and how many are at each status, its grid keys, and the median
    and best eval_mse of its members."""

    id: str
    status: str
    size: int
    by_status: dict[str, int]
    grid: list[str]
    eval_median: float | None
    eval_best: float | None


def fold(rows, root: Path) -> tuple[list[SweepLine], list]:
    """Rows split into one line per sweep (in the order first seen) and the runs outside
    sweeps."""
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
            doc = SweepDoc.load(path)
            st, grid, total = doc.current_status(), list(doc.grid), len(doc.members)
        except SincosError:
            st, grid, total = "corrupt", [], len(members)
        counts: dict[str, int] = {}
        for m in members:
            counts[m.status] = counts.get(m.status, 0) + 1
        evals = [v for m in members if isinstance(v := m.value("eval_mse"), (int, float))]
        sweeps.append(SweepLine(sid, st, total, counts, grid,
                                statistics.median(evals) if evals else None,
                                min(evals) if evals else None))
    return sweeps, loose


def _sorted(items, key: str, value):
    """Items by value(item, name) (`-name` descending), missing values always last."""
    desc, name = key.startswith("-"), key.lstrip("-")
    present = [r for r in items if value(r, name) is not None]
    missing = [r for r in items if value(r, name) is None]

    def k(r):
        v = value(r, name)
        return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
    return sorted(present, key=k, reverse=desc) + missing


GROUP_SORT = {"eval_median": ("eval_mse", "median"), "eval_iqm": ("eval_mse", "iqm"),
              "eval_mean": ("eval_mse", "mean"), "eval_min": ("eval_mse", "min"),
              "eval_max": ("eval_mse", "max"), "loss_median": ("final_loss", "median"),
              "loss_iqm": ("final_loss", "iqm"), "loss_mean": ("final_loss", "mean"),
              "loss_min": ("final_loss", "min"), "loss_max": ("final_loss", "max"),
              "vs_linear_median": ("vs_linear", "median"), "vs_linear_iqm": ("vs_linear", "iqm"),
              "vs_linear_max": ("vs_linear", "max"), "linear_median": ("linear", "median")}


def group_value(g: dict, name: str):
    if name in GROUP_SORT:
        metric, stat = GROUP_SORT[name]
        return g[metric][stat] if metric in g else None
    if name == "ok":
        return g["ok_count"] / g["n"] if g["n"] else None
    return g.get(name)


def sort_groups(stats: list[dict], key: str | None, keys: list[str]) -> list[dict]:
    """--group-by rows by a column of their table (ok, n, eval_median…); ValueError naming
    the valid ones otherwise."""
    if not key:
        return stats
    known = [*keys, "n", "ok", RunStatus.COMPLETED, RunStatus.FAILED, *GROUP_SORT]
    if key.lstrip("-") not in known:
        raise ValueError(f"unknown column {key.lstrip('-')!r}; choose from {', '.join(known)}")
    return _sorted(stats, key, group_value)


def sort_rows(rows: list[Row], key: str | None, known: list[str]) -> list[Row]:
    """By run number, or by a column (`-col` descending); missing values always last."""
    rows = sorted(rows, key=lambda r: sort_key(r.id))
    if not key:
        return rows
    desc, name = key.startswith("-"), key.lstrip("-")
    if name not in known:
        raise ValueError(f"unknown column {name!r}; choose from {', '.join(known)}")
    if name == "id":
        return rows[::-1] if desc else rows
    return _sorted(rows, key, lambda r, n: r.value(n))
