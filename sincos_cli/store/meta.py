"""A run's meta.json: the tags and note a user gives it, written under a lock, never lost."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sincos_cli.errors import FilterError, SincosError

from .document import Document, described, kept
from .files import atomic_write_json, read_json

TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")


META = "meta.json"


def check_tag(tag: str) -> str:
    if not TAG_RE.match(tag):
        raise FilterError(f"invalid tag {tag!r}: letters, digits, '.', '_' and '-', not "
                          "starting with '+', '-' or '.', no spaces")
    return tag


@dataclass(kw_only=True)
class Meta(Document):
    """meta.json: the tags and note a user gives a run (the file exists only when it has
    any); `problem`: why the file cannot be read, which a reader adds (not in the file)."""

    tags: list[str] = described("its tags (`sincos tag`)", default_factory=list)
    note: str | None = described("its note (`sincos note`)", default=None)
    problem: str | None = None
    extra: dict[str, Any] = kept()

    SHOWN = "meta.json"
    NOT_IN_FILE = ("extra", "problem")

    def __bool__(self) -> bool:
        return bool(self.tags or self.note)


def read_meta(path: Path) -> Meta:
    """A run's tags and note: a missing meta.json reads empty; one that cannot be read
    reads empty with the problem named."""
    if not os.path.lexists(path / META):
        return Meta()
    try:
        d = read_json(path / META)
    except SincosError as e:
        return Meta(problem=str(e))
    meta = Meta.parse(d)
    if not (isinstance(meta.tags, list) and all(isinstance(t, str) for t in meta.tags)) \
            or not (meta.note is None or isinstance(meta.note, str)):
        return Meta(problem=f"{path / META} is corrupt: tags must be a list of words and "
                            "the note a string")
    return meta


def save_meta(path: Path, meta: Meta) -> None:
    atomic_write_json(path / META, meta.to_json())


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
               set_note: bool = False) -> Meta:
    """Change a run's tags or note: read, change and write under the meta lock. A meta.json
    that cannot be read is named and never written over."""
    with _meta_lock(path):
        meta = read_meta(path)
        if meta.problem:
            raise SincosError(f"{meta.problem}; its tags and note are kept as they are "
                              f"(fix or remove {path / META})")
        meta.tags = [t for t in meta.tags if t not in remove]
        meta.tags += [t for t in add if t not in meta.tags]
        if set_note:
            meta.note = note or None
        save_meta(path, meta)
    return meta
