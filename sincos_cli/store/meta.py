"""A run's meta.json: the tags and note a user gives it, written under a lock, never lost."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sincos_cli.errors import FilterError, SincosError

from .files import atomic_write_json, read_json

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


META = "meta.json"


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
