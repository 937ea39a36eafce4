"""The runs dir: run ids and names, allocation, selectors, sweeps' members, and a run's
status (standard library only)."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sincos_cli.errors import SincosError
from sincos_cli.status import RunStatus

from .process import pid_alive, process_start  # noqa: F401 (re-exported)
from .run_doc import SCHEMA, RunDoc  # noqa: F401 (SCHEMA re-exported)
from .sweep_doc import RUN_NAME_RE as NAME_RE
from .sweep_doc import SweepDoc, run_names

ID_RE = re.compile(r"^run-(\d+)$")
@dataclass(frozen=True)
class RunFile:
    """A file of a run folder and what it holds (docs/run-folder.md's list is made from
    RUN_FILES by tests/cli_docs.py)."""

    name: str
    what: str


RUN_FILES = (
    RunFile("run.json", "who made the run, where and when, its status and its resumes "
            "(store.run_doc.RunDoc: its keys below)"),
    RunFile("config.json", "every training setting, resolved (init, predict_advances_state…)"),
    RunFile("metrics.jsonl", 'one line per step: {"step", "loss", "lr", "elapsed_s"}, '
            "appended as it goes; strict JSON (a loss that stops being finite ends the run "
            "instead)"),
    RunFile("summary.json", "how it did, written at each checkpoint and at its end; once "
            "it has an eval_mse, its yardsticks (store.summary_doc.Summary: its keys below)"),
    RunFile("checkpoint.pt", "model, optimiser, carried LSTM state, data cursor, RNG state, "
            "config, and where metrics.jsonl ended and the best loss so far"),
    RunFile("trace.bin", "per step: x, target and post-update prediction of window row 0 "
            "(trace.npz in schema 1)"),
    RunFile("internals.bin", "with --record-internals: per step, every layer's gates, cell and "
            "hidden state of window row 0 (store/internals.py; `sincos animate --internals`)"),
    RunFile("meta.json", "tags and note, only when the run has any (store.meta.Meta: its "
            "keys below)"),
    RunFile(".lock", "empty; held (flock) while a process trains or resumes the run, so a "
            "second resume, or `rm`, is refused while it runs"),
    RunFile("animation.gif", "written by `sincos animate` (animation-history.gif for "
            "--view history)"),
)


def runs_dir(option: str | os.PathLike | None = None) -> Path:
    """--runs-dir, else $SINCOS_RUNS_DIR, else ./runs."""
    return Path(option or os.environ.get("SINCOS_RUNS_DIR") or "runs")


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_name(name: str) -> str:
    """A --name a selector reads the same way: not `latest`, not all digits (a run
    number), no leading `.` or `-` (hidden, or an option), not `sweep-*` (sweeps)."""
    if not NAME_RE.match(name):
        raise SincosError(
            f"invalid run name {name!r}: use letters, digits, '.', '_' and '-' only")
    if name == "latest" or name.isdigit() or name[0] in ".-":
        raise SincosError(f"invalid run name {name!r}: 'latest', numbers and names starting "
                          "with '.' or '-' mean something else to the commands that take runs")
    if name.startswith("sweep-"):
        raise SincosError(f"invalid run name {name!r}: sweep-* names are for sweeps")
    return name


def check_output(path: Path, prefix: str | None) -> None:
    """An output file a command is asked to write must not be a file of a run or sweep
    folder (after resolving symlinks and `..`): only `{prefix}.*` may be written there, and
    nothing when prefix is None."""
    target = path.resolve()
    folder = target.parent
    if (folder / "run.json").exists() or (folder / "sweep.json").exists():
        if prefix is None:
            raise SincosError(f"refusing to write {path}: it is in the run folder "
                              f"{folder.name}, and this command never writes into runs")
        if not re.match(rf"{re.escape(prefix)}[.-]", target.name):
            raise SincosError(f"refusing to write {path}: it is in the run folder "
                              f"{folder.name}, where this command writes only {prefix}.* "
                              f"and {prefix}-*")


def allocate(root: Path, name: str | None = None) -> Path:
    """Create a new, empty run folder and return it; never reuses an existing one."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SincosError(f"cannot create runs dir {root}: {e.strerror}") from None
    if name is not None:
        path = root / check_name(name)
        if name in named_by_sweeps(root):
            raise SincosError(f"run {name!r} is named by a sweep in {root}: its id stays "
                              "that sweep's (sincos sweep --resume trains it again)")
        try:
            path.mkdir()
        except FileExistsError:
            raise SincosError(f"run {name!r} already exists in {root}") from None
        except OSError as e:
            raise SincosError(f"cannot create run folder in {root}: {e.strerror}") from None
        return path
    return allocate_many(root, 1)[0]


def named_by_sweeps(root: Path) -> list[str]:
    """Every run id a sweep in `root` names, made or not: such an id is never handed to
    another run (a removed member leaves a hole that the sweep's resume fills)."""
    names = []
    for p in _children(root):
        if not SWEEP_RE.match(p.name) or p.is_symlink():
            continue
        names += run_names(p)
    return names


def allocate_many(root: Path, count: int, prefix: str = "run",
                  sweep: str | None = None) -> list[Path]:
    """`count` new, empty folders `{prefix}-NN` numbered after the highest there; mkdir is
    atomic, so concurrent allocations never share one (the loser moves on). With `sweep`,
    each folder says what it is from the moment it exists: a run.json of status `queued`
    naming its sweep, written before a signal is let in, so every reader, `rm` and resume
    know a member that never started."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SincosError(f"cannot create runs dir {root}: {e.strerror}") from None
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d+)$")
    taken = [p.name for p in _children(root)] + (named_by_sweeps(root) if prefix == "run"
                                                  else [])
    nums = (pattern.match(name) for name in taken)
    n = max((int(m.group(1)) for m in nums if m), default=0) + 1
    out: list[Path] = []
    try:
        while len(out) < count:
            path = root / f"{prefix}-{n:02d}"
            with _signals_held():  # a signal lands before the mkdir or after the append
                try:
                    path.mkdir()
                    out.append(path)
                except FileExistsError:
                    pass
                else:
                    if sweep is not None:
                        RunDoc(id=path.name, status=RunStatus.QUEUED, sweep=sweep,
                               created=utc_now()).save(path)
            n += 1
    except BaseException as e:
        # A full disk or a signal halfway: the folders made so far are empty; none stays.
        remove_empty(out)
        if isinstance(e, OSError):
            raise SincosError(f"cannot create a folder in {root}: {e.strerror}") from None
        raise
    return out


@contextmanager
def _signals_held():
    """Ctrl-C, SIGTERM and SIGHUP wait until the block is done (then arrive as usual)."""
    import signal

    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def unstarted(path: Path) -> bool:
    """A folder that allocation made and nothing has trained into yet: empty (a `.lock`
    alone does not count), or holding only a `queued` run.json."""
    try:
        names = {f.name for f in path.iterdir()} - {".lock"}
    except OSError:
        return False
    if not names:
        return True
    if names != {"run.json"}:
        return False
    try:
        return RunDoc.load(path).queued
    except SincosError:
        return False


def remove_empty(folders) -> None:
    """Remove folders that allocation made and nothing has trained into (unstarted)."""
    for path in folders:
        try:
            if unstarted(path):
                for name in ("run.json", ".lock"):
                    (path / name).unlink(missing_ok=True)
                path.rmdir()
        except OSError:
            pass


# -- finding runs ------------------------------------------------------------------------

def run_number(name: str) -> int | None:
    m = ID_RE.match(name)
    return int(m.group(1)) if m else None


def sort_key(name: str):
    n = run_number(name)
    return (0, n, name) if n is not None else (1, 0, name)


def _children(root: Path):
    try:
        return [p for p in root.iterdir() if not p.name.startswith(".")]
    except FileNotFoundError:
        return []
    except OSError as e:
        raise SincosError(f"cannot read runs dir {root}: {e.strerror}") from None


def _is_run(p: Path) -> bool:
    try:
        return p.is_dir() and not p.is_symlink() and (p / "run.json").exists()
    except PermissionError:  # a folder we may not look into: listed, readers say so
        return not SWEEP_RE.match(p.name)


def list_runs(root: Path) -> list[Path]:
    """Run folders in `root` ordered by number (run-100 after run-99), then named ones.

    Symlinks are skipped: a run folder must live inside the runs dir.
    """
    found = [p for p in _children(root) if _is_run(p)]
    return sorted(found, key=lambda p: sort_key(p.name))


def _names(root: Path) -> str:
    names = [p.name for p in list_runs(root)]
    return ", ".join(names) if names else "none"


def resolve(root: Path, selector: str) -> Path:
    """A run named by id, number, `latest`, or a path to its folder."""
    if os.sep in selector or selector.startswith("."):
        path = Path(selector)
        if not (path / "run.json").is_file():
            raise SincosError(f"{selector} is not a run folder (no run.json)")
        return path.resolve()
    if selector == "latest":
        runs = list_runs(root)
        if not runs:
            raise SincosError(f"no runs in {root}")
        return max(runs, key=lambda p: (_created(p), sort_key(p.name)))
    name = f"run-{int(selector):02d}" if selector.isdigit() else selector
    if not NAME_RE.match(name):
        raise SincosError(f"invalid run name {selector!r}")
    path = root / name
    if path.is_symlink():
        raise SincosError(f"run {name} is a symlink; run folders must live in {root}")
    if not (path / "run.json").is_file():
        raise SincosError(f"no run {selector!r} in {root} (runs: {_names(root)})")
    return path


SWEEP_RE = re.compile(r"^sweep-\d+$")


def sweep_path(root: Path, selector: str) -> Path | None:
    """The sweep folder a selector names (`sweep-01` or a path to one), else None. Its
    members live beside it (sweep.parent), whatever the runs dir is."""
    if os.sep in selector:
        path = Path(selector)
        return path.resolve() if (path / "sweep.json").is_file() else None
    if not SWEEP_RE.match(selector):
        return None
    if (root / selector).is_symlink():
        raise SincosError(f"sweep {selector} is a symlink; sweep folders must live in {root}")
    if not (root / selector / "sweep.json").is_file():
        raise SincosError(f"no sweep {selector!r} in {root}")
    return root / selector


def expand(root: Path, selectors: list[str]) -> list[Path]:
    """Run folders for selectors; a sweep stands for its members (those made so far),
    read from the folder that holds the sweep."""
    out: list[Path] = []
    for sel in selectors:
        sweep = sweep_path(root, sel)
        if sweep is None:
            out.append(resolve(root, sel))
            continue
        home = sweep.parent
        ids = SweepDoc.load(sweep).runs()
        out += [home / i for i in ids if is_member(sweep, home / i)]
    return out


def is_member(sweep: Path, run: Path) -> bool:
    """A run folder is a sweep's member when its run.json points back at the sweep (a name
    in sweep.json alone makes nothing a member); a run.json that cannot be read counts, so
    its readers can name it as damaged."""
    if not (run / "run.json").is_file():
        return False
    try:
        return RunDoc.load(run).sweep == sweep.name
    except SincosError:
        return True


def _created(path: Path) -> str:
    try:
        return str(RunDoc.load(path).created or "")
    except SincosError:
        return ""
