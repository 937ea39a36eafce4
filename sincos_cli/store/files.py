"""A run or sweep folder's files: atomic writes, locks, and safe readers (standard library
only)."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sincos_cli.errors import SincosError


@functools.cache
def _umask() -> int:
    """The process's umask, read once when first needed (never at import): from the kernel
    where it says (Linux 4.7+), else by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary file beside `path` to write; renamed onto `path` when the block ends
    without error, removed when it fails: readers never see half a file."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        err = SincosError(f"cannot write to {path.parent}: {e.strerror}")
        err.errno = e.errno
        raise err from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; keep the user's usual mode
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_target(path) as tmp:
        try:
            tmp.write_bytes(data)
        except OSError as e:  # a full disk, say: name the file, keep the errno
            err = SincosError(f"cannot write {path}: {e.strerror}")
            err.errno = e.errno
            raise err from None


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def write_json_in_place(path: Path, obj) -> None:
    """Last resort when a temporary file cannot be made (a full disk): overwrite the file's
    own blocks. Used only to record a run's final status."""
    data = (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode()
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()


# Descriptors of the locks this process holds. A forked worker inherits them, and a flock
# lives as long as any copy is open: workers close theirs (forget_inherited_locks), so a
# worker that outlives its driver never holds the driver's lock.
HELD_LOCKS: set[int] = set()


def hold_lock(folder: Path, busy: str) -> int:
    """An exclusive lock on a run or sweep folder for this process's life (a second resume
    of the same one is refused with `busy`); returns the descriptor to release_lock."""
    import fcntl

    try:
        fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW,
                     0o644)
    except OSError as e:
        raise SincosError(f"cannot lock {folder}: {e.strerror} (.lock)") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SincosError(busy) from None
    HELD_LOCKS.add(fd)
    return fd


def release_lock(fd: int) -> None:
    HELD_LOCKS.discard(fd)
    os.close(fd)


def forget_inherited_locks() -> None:
    """In a forked child: close the copies of the parent's lock descriptors."""
    for fd in list(HELD_LOCKS):
        try:
            os.close(fd)
        except OSError:
            pass
    HELD_LOCKS.clear()


def refuse_links(path: Path) -> None:
    """Before a command writes into an existing run folder: any symlink in it is named and
    refused, since writing through it (a resume truncates and appends) would change a file
    anywhere."""
    for f in sorted(path.iterdir()):
        if f.is_symlink():
            raise SincosError(f"{f} is a symlink: sincos never writes through one (put the "
                              "file itself in the run folder)")


# What a reader loads whole is bounded: a run's JSON files are a few KB (sweep.json grows by
# about 600 bytes a member), a metrics line about 100 bytes, and no file sincos writes nests
# deeper than a few levels. Anything past these is damage, found in constant memory.
MAX_JSON = 16 << 20
MAX_SWEEP_JSON = 512 << 20
MAX_DEPTH = 64
MAX_METRICS_LINE = 64 << 10


def decode_json(data: bytes):
    """JSON text as an object; ValueError for anything a reader cannot use: bad syntax, bad
    UTF-8, nesting past MAX_DEPTH (which would break the parser itself, or a writer later)."""
    try:
        obj = json.loads(data)
    except (RecursionError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot be decoded ({type(e).__name__})") from None
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return obj  # too few brackets to nest that deep: the walk below is not needed
    stack = [(obj, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"nests deeper than {MAX_DEPTH} levels")
            stack += [(x, depth + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return obj


def read_json(path: Path) -> dict:
    """A JSON object from a run folder, or a one-line SincosError naming the file. The file
    is sized before it is read (MAX_JSON; MAX_SWEEP_JSON for sweep.json)."""
    limit = MAX_SWEEP_JSON if path.name == "sweep.json" else MAX_JSON
    try:
        with open(path, "rb") as f:
            # sized first: read(limit + 1) would allocate the whole limit on every call
            data = f.read(limit + 1) if os.fstat(f.fileno()).st_size > limit else f.read()
    except FileNotFoundError:
        raise SincosError(f"{path} is missing") from None
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > limit:
        raise SincosError(f"{path} is damaged: over {limit >> 20} MB, far more than sincos "
                          "writes")
    try:
        obj = decode_json(data)
    except ValueError:
        raise SincosError(f"{path} is not valid JSON") from None
    if not isinstance(obj, dict):
        raise SincosError(f"{path} does not hold a JSON object")
    return obj


def read_metrics(path: Path) -> list[dict]:
    """metrics.jsonl rows; a truncated or garbled line (a crash mid-write), or one longer
    than any sincos writes, ends the read."""
    rows = []
    try:
        with open(path, "rb") as f:
            while line := f.readline(MAX_METRICS_LINE):
                if len(line) == MAX_METRICS_LINE and not line.endswith(b"\n"):
                    break  # no line sincos writes is this long: damaged from here
                try:
                    row = decode_json(line)
                    step = row["step"]
                    if not isinstance(step, int) or isinstance(step, bool) or \
                            not 0 <= step < 2**62:
                        break  # not a step sincos writes: the file is damaged from here
                    rows.append({**row, "step": step, "loss": float(row["loss"])})
                except (ValueError, KeyError, TypeError, OverflowError):
                    break
    except (FileNotFoundError, NotADirectoryError):  # no such file: no steps
        pass
    except OSError as e:
        raise SincosError(f"cannot read {path}: {e.strerror}") from None
    return rows


def truncate_metrics(path: Path, steps: int) -> list[dict]:
    """Keep the rows of steps 0 … steps-1, so a resumed run writes no step twice; return them."""
    keep = [r for r in read_metrics(path) if r["step"] < steps]
    atomic_write_bytes(path, b"".join(json.dumps(r).encode() + b"\n" for r in keep))
    return keep
