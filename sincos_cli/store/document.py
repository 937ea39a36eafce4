"""A JSON file of a run or sweep folder as a dataclass (standard library only): its fields
in the file's order, each with the line the reference pages show, read from a file that may
come from anyone and written back whole, keeping the keys a newer sincos wrote.

run.json (run_doc.RunDoc), summary.json (summary_doc.Summary) and sweep.json
(sweep_doc.SweepDoc) are each a Document; docs/run-folder.md and docs/sweeps.md list their
keys from these fields (tests/cli_docs.py).
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field, fields
from typing import Any, ClassVar, Self


def described(text: str, *, when_set: bool = False, **kw) -> Any:
    """A field with its reference line; `when_set`: written only when it has a value (not
    None, empty or false), so a file holds only what applies to it."""
    return field(metadata={"doc": text, "when_set": when_set}, **kw)


def kept() -> Any:
    """The `extra` field: the keys this sincos does not know, kept as they were."""
    return field(default_factory=dict, repr=False, compare=False)


def _unset(v) -> bool:
    return v is None or v is False or (isinstance(v, (list, dict)) and not v)


def _default(f: Field):
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None


class Document:
    """The reading and writing every file type shares; a subclass is a kw_only dataclass
    whose last field is `extra: dict = kept()`."""

    extra: dict[str, Any]
    SHOWN: ClassVar[str] = "the file"  # its name in a reference page's table
    NOT_IN_FILE: ClassVar[tuple[str, ...]] = ("extra",)  # what a reader adds

    @classmethod
    def keys(cls) -> list[Field]:
        """Its fields as the file spells them, in the file's order."""
        return [f for f in fields(cls) if f.name not in cls.NOT_IN_FILE]

    @classmethod
    def parse(cls, d: dict, **given) -> Self:
        """The document from a JSON object: each field from its key (`given` replaces the
        ones a subclass converts), a missing key its default; values are taken as the file
        has them, for the readers to check, and unknown keys go to `extra`."""
        names = {f.name for f in cls.keys()}
        values = {f.name: given[f.name] if f.name in given
                  else d[f.name] if f.name in d else _default(f) for f in cls.keys()}
        values.update((k, v) for k, v in given.items() if k not in names)
        return cls(**values, extra={k: v for k, v in d.items() if k not in names})

    def to_json(self) -> dict:
        """The file: its fields in order (a `when_set` one only when it has a value, a
        nested document as its own JSON), then what a newer sincos wrote."""
        out = {}
        for f in self.keys():
            v = getattr(self, f.name)
            if f.metadata.get("when_set") and _unset(v):
                continue
            if isinstance(v, list):
                v = [x.to_json() if isinstance(x, Document) else x for x in v]
            out[f.name] = v.to_json() if isinstance(v, Document) else v
        return {**out, **self.extra}
