"""How commands print rows: one set of output options and one row writer.

`output_options` gives a command its format flags (--json, --csv: those it offers, each with
its own help) and hands it the chosen `Format`; `write_rows` prints a `Rows` in it. A new
format is one `Format` member, its flag in FLAGS and its writer in WRITERS. Standard library
and typer only: `sincos --help` loads this.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import typer


class Format(StrEnum):
    TEXT = "text"  # the command's own lines or table, for a person
    JSON = "json"
    CSV = "csv"


FLAGS = {Format.JSON: "--json", Format.CSV: "--csv"}


@dataclass
class Rows:
    """What a command prints: `columns` and one list of values a row (CSV, the table), and
    `records` for JSON where they say more than the columns (a run's whole config, say);
    without them JSON is one object a row, keyed by the columns."""

    columns: list[str]
    rows: list[list[Any]]
    records: Any = None

    def as_records(self):
        if self.records is not None:
            return self.records
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def emit_json(obj) -> None:
    """JSON on stdout; a float that JSON cannot hold (NaN, ±Infinity from a file someone
    else wrote) is null, so --json never fails on what a file holds."""
    sys.stdout.write(json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n")


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def write_csv(cols: Sequence[str], rows) -> None:
    """CSV on stdout: empty for missing values, booleans as true/false (as the table and
    JSON write them)."""
    import csv

    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(cols)
    writer.writerows([["" if v is None else str(v).lower() if isinstance(v, bool) else v
                       for v in row] for row in rows])


def _text(rows: Rows) -> None:
    """Plain lines, a row's values tab-separated, each made visible (store names may hold
    control characters)."""
    from sincos_cli.text import visible

    for row in rows.rows:
        print("\t".join(visible("" if v is None else str(v), lines=False) for v in row))


WRITERS: dict[Format, Callable[[Rows], None]] = {
    Format.TEXT: _text,
    Format.JSON: lambda rows: emit_json(rows.as_records()),
    Format.CSV: lambda rows: write_csv(rows.columns, rows.rows),
}


def write_rows(fmt: Format, rows: Rows, text: Callable[[Rows], None] | None = None) -> None:
    """Print `rows` in `fmt`; `text`: the command's own drawing for people (a table)."""
    (text if fmt is Format.TEXT and text is not None else WRITERS[fmt])(rows)


def output_options(json: str | None = "Print JSON instead.", csv: str | None = None):
    """A command's format flags: --json and --csv with the help given (None: not offered).
    The command takes `output: Format` (TEXT when no flag is given); asking for two formats
    is a usage error (exit 2), said once here for every command."""
    offered = {f: h for f, h in ((Format.JSON, json), (Format.CSV, csv)) if h is not None}

    def decorate(fn):
        sig = inspect.signature(fn, eval_str=True)
        params = [p for p in sig.parameters.values() if p.name != "output"]
        # before --runs-dir (help lists it last), else before **settings, else last
        at = next((i for i, p in enumerate(params) if p.name == "runs_dir"
                   or p.kind is p.VAR_KEYWORD), len(params))
        kind = inspect.Parameter.KEYWORD_ONLY if at == len(params) or \
            params[at].kind is inspect.Parameter.VAR_KEYWORD else params[at].kind
        params[at:at] = [
            inspect.Parameter(f"as_{f.value}", kind, default=False,
                              annotation=Annotated[bool, typer.Option(FLAGS[f], help=h)])
            for f, h in offered.items()]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            chosen = [f for f in offered if kwargs.pop(f"as_{f.value}", False)]
            if len(chosen) > 1:
                raise typer.BadParameter(
                    "choose one of " + " and ".join(sorted(FLAGS[f] for f in chosen)),
                    param_hint=FLAGS[chosen[0]])
            return fn(*args, output=chosen[0] if chosen else Format.TEXT, **kwargs)

        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        return wrapper

    return decorate
