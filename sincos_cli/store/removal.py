"""Removing runs and sweeps (`sincos rm`), safely, when folders may come from someone else
(standard library only).

A removal takes a folder out of the store with one rename to a dot-name, which every reader
skips, then deletes it: no reader ever sees half a run, and a removal that was stopped is
finished by the next `rm`. It removes only what was selected, only inside the runs dir it
was pointed at, never through a symlink, and only the sweep members whose run.json points
back at their sweep; each folder's lock is taken at its rename.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from sincos_cli.errors import FilterError, SincosError

from .query import select
from .run_doc import RunDoc
from .runs import NAME_RE, pid_alive, unstarted
from .sweep_doc import SweepDoc

TRASH = ".rm-"  # a folder being removed: .rm-PID-NAME


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


def members(sweep: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """A sweep's member folders that exist and whose run.json points back at it, and (name,
    why) for each entry that does not: a name in sweep.json alone makes nothing a member."""
    found, kept = [], []
    home = sweep.parent
    for run in SweepDoc.load(sweep).runs():
        p = home / run
        if not os.path.lexists(p):
            continue
        if not p.is_dir():
            kept.append((p.name, f"not a run folder (named by {sweep.name})"))
            continue
        if not os.path.lexists(p / "run.json") and unstarted(p):
            found.append(p)  # allocated by the sweep (before members said so), never started
            continue
        try:
            owner = RunDoc.load(p).sweep
        except SincosError:
            kept.append((p.name, f"its run.json cannot be read, so it may not be "
                         f"{sweep.name}'s"))
            continue
        if owner != sweep.name:
            said = "no sweep" if owner is None else f"sweep {owner!r}"
            kept.append((p.name, f"its run.json names {said}, not {sweep.name}"))
            continue
        found.append(p)
    return found, kept


def _run(path: Path) -> RunDoc | None:
    try:
        return RunDoc.load(path)
    except SincosError:
        return None


def _sweep(path: Path) -> SweepDoc | None:
    try:
        return SweepDoc.load(path) if os.path.lexists(path / "sweep.json") else None
    except SincosError:
        return None


def _owner(run: Path):
    doc = _run(run)
    return doc.sweep if doc else None


def _elsewhere(doc: RunDoc | SweepDoc | None, name: str) -> str | None:
    """Why a folder whose `name` (run.json, sweep.json) says it is running on another host
    (a shared runs dir) is kept: this host cannot see that process, so it is taken at its
    word."""
    if doc is not None and doc.current_status() == "running" \
            and doc.host != socket.gethostname():
        return f"it is running on {doc.host} (pid {doc.pid}), its {name} says"
    return None


def why_kept(path: Path, held: frozenset[Path] = frozenset()) -> str | None:
    """Why a folder may not be removed now, or None. `held`: sweeps whose lock this process
    holds (their members are not kept for it)."""
    if path not in held and busy(path):
        return "it is running (its lock is held)"
    run = _run(path)
    why = _elsewhere(run, "run.json") or _elsewhere(_sweep(path), "sweep.json")
    if why:
        return why
    sid = run.sweep if run else None
    if isinstance(sid, str) and NAME_RE.match(sid) and path.parent / sid not in held:
        if busy(path.parent / sid):
            return f"its sweep {sid} is running"
        why = _elsewhere(_sweep(path.parent / sid), "sweep.json")
        if why:
            return f"its sweep {sid} is running: {why}"
    return None


@dataclass
class Removal:
    root: Path  # the runs dir: nothing outside it is removed
    paths: list[Path]  # folders to remove, members before their sweep
    runs: int
    sweeps: int
    kept: list[tuple[str, str]]  # (name, why) of what was selected but may not go
    leftovers: list[str]  # .rm-* entries of removals that were stopped, finished first

    def bytes(self) -> int:
        return sum(folder_bytes(p) for p in self.paths)


def _inside(root: Path, selector: str) -> None:
    """A run or sweep named by path: refused unless the folder itself (not a symlink) is
    in the runs dir: rm removes nothing outside the store it was pointed at."""
    path = Path(selector)
    if path.is_symlink():
        raise FilterError(f"{selector} is a symlink: rm never removes through one")
    if path.resolve().parent != root.resolve():
        raise FilterError(f"{selector} is not in the runs dir {root}: rm removes only "
                          f"inside it (pass --runs-dir)")


def plan_removal(root: Path, targets: list[str], wheres, statuses,
                 older_than) -> Removal:
    """What `rm` would remove. Named runs and sweeps must exist in the runs dir and be idle
    (FilterError otherwise: nothing is removed); runs a filter matches that are running are
    kept, with the reason, and so is an entry of a sweep that is not its member. A sweep
    named (without filters) goes with its members."""
    from .record import load_row
    from .runs import list_runs, resolve, sweep_path

    paths: list[Path] = []
    sweeps, kept = 0, []
    filtering = bool(wheres or statuses or older_than is not None)
    named: list[Path] = []
    direct: set[Path] = set()  # named runs and sweeps themselves: refused, not kept
    for t in targets:
        try:
            if os.sep in t or t.startswith("."):
                _inside(root, t)
            sweep = sweep_path(root, t)
            if sweep is not None:
                found, not_members = members(sweep)
                kept += not_members
                if not filtering:
                    found.append(sweep)
                    direct.add(sweep)
                    sweeps += 1
            else:
                found = [resolve(root, t)]
                direct.add(found[0])
        except SincosError as e:
            raise FilterError(str(e)) from None
        named += found
    if filtering:
        rows = [load_row(p) for p in (named if targets else list_runs(root))]
        candidates = [r.path for r in select(rows, wheres, statuses, older_than)]
    else:
        candidates = named
    for p in candidates:
        why = why_kept(p)
        if why is None:
            paths.append(p)
        elif filtering or p not in direct:
            kept.append((p.name, why))  # matched by a filter, or a named sweep's member
        else:
            raise FilterError(f"{p.name} cannot be removed: {why}")
    for sweep in [p for p in direct if (p / "sweep.json").exists()]:
        busy_members = [n for n, why in kept if why.startswith("it is running")
                        and _owner(sweep.parent / n) == sweep.name]
        if busy_members:  # removing the sweep would leave its members without it
            shown = ", ".join(busy_members[:3]) + (" …" if len(busy_members) > 3 else "")
            raise FilterError(f"{sweep.name} cannot be removed: its members are still "
                              f"running ({shown}); nothing was removed, try again when "
                              "they end")
    seen: set[Path] = set()
    paths = [p for p in paths if not (p in seen or seen.add(p))]
    runs = sum(1 for p in paths if not (p / "sweep.json").exists())
    return Removal(root, paths, runs, sweeps, kept, leftovers(root))


def remove(plan: Removal) -> tuple[int, list[tuple[str, str]]]:
    """Take each folder out of the store with one rename, then delete them all; returns how
    many were removed and (name, why) for those kept. Each folder's lock is taken before its
    rename and why_kept asked again under it: a run or sweep that started since the plan is
    kept and named. A sweep's lock is held until its members are gone. Leftovers of an
    earlier removal that was stopped go too."""
    from .files import hold_lock, release_lock

    purge_leftovers(plan.root)
    locks: dict[Path, int] = {}
    moved, kept = [], []
    try:
        for p in [q for q in plan.paths if (q / "sweep.json").exists()]:
            try:
                locks[p] = hold_lock(p, "busy")
            except (SincosError, OSError):
                kept.append((p.name, "it started running since (its lock is held)"))
        lost = {q.name for q in plan.paths if q not in locks and (q / "sweep.json").exists()}
        for p in plan.paths:
            if p.name in lost:
                continue
            if (p / "sweep.json").exists() and any(_owner(p.parent / n) == p.name
                                                   for n, _ in kept):
                kept.append((p.name, "its members are still running"))
                continue
            fd = None
            try:
                if p not in locks:
                    fd = hold_lock(p, "busy")
                why = why_kept(p, frozenset(locks) | {p})
                if why is not None:
                    kept.append((p.name, why))
                    continue
                aside = p.with_name(f"{TRASH}{os.getpid()}-{p.name}")
                os.rename(p, aside)
                moved.append(aside)
            except SincosError:
                kept.append((p.name, "it started running since (its lock is held)"))
            finally:
                if fd is not None:
                    release_lock(fd)
    finally:
        for fd in locks.values():
            release_lock(fd)
    for aside in moved:
        shutil.rmtree(aside, ignore_errors=True)
    return len(moved), kept


_LEFTOVER = re.compile(rf"^{re.escape(TRASH)}(\d+)-[A-Za-z0-9._-]+$")


def leftovers(root: Path) -> list[str]:
    """The entries of the runs dir that a removal renamed aside but did not delete (its
    process is gone): sincos's own exact pattern, nothing else."""
    try:
        names = os.listdir(root)
    except OSError:
        return []
    out = []
    for name in sorted(names):
        m = _LEFTOVER.match(name)
        if m and not pid_alive(int(m.group(1))):
            out.append(name)
    return out


def purge_leftovers(root: Path) -> list[str]:
    """Finish the removals that were stopped (leftovers()), in the runs dir alone."""
    done = leftovers(root)
    for name in done:
        p = root / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
    return done
