"""The run store as a whole: tags and notes, filters, sweeps folded to one row, and removal
(standard library only). `compare`, `show`, `rm`, `tag` and the Python API all use it.

Tags and the note live in meta.json, the one file of a run that may change after it ends
(config.json never does). A removal takes a folder out of the store with one rename to a
dot-name, which every reader skips, then deletes it: no reader ever sees half a run, and a
removal that crashed halfway is finished by the next `rm`.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import SincosError
from .runs import NAME_RE, atomic_write_json, pid_alive, read_json, read_sweep, status

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")
META = "meta.json"
TRASH = ".rm-"  # a folder being removed: .rm-PID-NAME


class FilterError(ValueError):
    """A bad --where, tag or selector: the CLI prints it as a usage error (exit 2)."""


# -- tags and notes ---------------------------------------------------------------------------

def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise FilterError(f"invalid tag {tag!r}: letters, digits, '.', '_' and '-', not "
                          "starting with '+', '-' or '.', no spaces")
    return tag


def read_meta(path: Path) -> dict:
    """{"tags": [...], "note": str | None}; a missing or unreadable meta.json reads empty."""
    try:
        meta = read_json(path / META)
    except SincosError:
        return {"tags": [], "note": None}
    tags = meta.get("tags")
    note = meta.get("note")
    return {"tags": [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
            "note": note if isinstance(note, str) else None}


def write_meta(path: Path, add=(), remove=(), note: str | None = None,
               set_note: bool = False) -> dict:
    meta = read_meta(path)
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


# -- removal ----------------------------------------------------------------------------------

def folder_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def busy(path: Path) -> bool:
    """Is the folder's lock held (a run training, a sweep running)?"""
    import fcntl

    try:
        fd = os.open(path / ".lock", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def sweep_targets(sweep: Path) -> list[Path]:
    """A sweep folder and its members' folders (those that exist), members first."""
    home = sweep.parent
    members = [home / m["run"] for m in read_sweep(sweep)["members"]]
    return [p for p in members if p.exists()] + [sweep]


def why_kept(path: Path) -> str | None:
    """Why a folder may not be removed now, or None."""
    if busy(path):
        return "it is running (its lock is held)"
    try:
        run = read_json(path / "run.json")
    except SincosError:
        return None
    sid = run.get("sweep")
    if isinstance(sid, str) and NAME_RE.match(sid) and busy(path.parent / sid):
        return f"its sweep {sid} is running"
    return None


@dataclass
class Removal:
    paths: list[Path]  # folders to remove, members before their sweep
    runs: int
    sweeps: int
    kept: list[tuple[str, str]]  # (name, why) of what a filter matched but may not go

    def bytes(self) -> int:
        return sum(folder_bytes(p) for p in self.paths)


def plan_removal(root: Path, targets: list[str], wheres, statuses,
                 older_than) -> Removal:
    """What `rm` would remove. Named runs and sweeps must exist and be idle (FilterError
    otherwise: nothing is removed); runs a filter matches that are running are kept, with
    the reason. A sweep named (without filters) goes with its members."""
    from .compare import load_row
    from .runs import list_runs, resolve, sweep_path

    paths: list[Path] = []
    sweeps, kept = 0, []
    filtering = bool(wheres or statuses or older_than is not None)
    named: list[Path] = []
    for t in targets:
        try:
            sweep = sweep_path(root, t)
            if sweep is not None and not filtering:
                if busy(sweep):
                    raise FilterError(f"{sweep.name} is running: a running sweep is never "
                                      "removed")
                found = sweep_targets(sweep)
                sweeps += 1
            elif sweep is not None:
                found = [sweep.parent / m["run"] for m in read_sweep(sweep)["members"]
                         if (sweep.parent / m["run"]).exists()]
            else:
                found = [resolve(root, t)]
        except SincosError as e:
            raise FilterError(str(e)) from None
        named += found
    if filtering:
        rows = [load_row(p) for p in (named if targets else list_runs(root))]
        candidates = [r.path for r in select(rows, wheres, statuses, older_than)]
    else:
        candidates = named
    for p in candidates:
        why = why_kept(p) if (p / "run.json").exists() or (p / ".lock").exists() else None
        if why is None:
            paths.append(p)
        elif filtering:
            kept.append((p.name, why))
        else:
            raise FilterError(f"{p.name} cannot be removed: {why}")
    seen: set[Path] = set()
    paths = [p for p in paths if not (p in seen or seen.add(p))]
    runs = sum(1 for p in paths if not (p / "sweep.json").exists())
    return Removal(paths, runs, sweeps, kept)


def remove(paths: list[Path]) -> int:
    """Take each folder out of the store with one rename, then delete them all; returns how
    many were removed. Leftovers of an earlier removal that crashed go too."""
    root_of = {p.parent for p in paths}
    moved = []
    for p in paths:
        aside = p.with_name(f"{TRASH}{os.getpid()}-{p.name}")
        os.rename(p, aside)
        moved.append(aside)
    for aside in moved:
        shutil.rmtree(aside, ignore_errors=True)
    for root in root_of:
        purge_leftovers(root)
    return len(moved)


def purge_leftovers(root: Path) -> None:
    """Folders a crashed removal renamed aside but did not delete (their pid is gone)."""
    try:
        names = [n for n in os.listdir(root) if n.startswith(TRASH)]
    except OSError:
        return
    for name in names:
        pid = name[len(TRASH):].split("-", 1)[0]
        if pid.isdigit() and pid_alive(int(pid)):
            continue
        shutil.rmtree(root / name, ignore_errors=True)

