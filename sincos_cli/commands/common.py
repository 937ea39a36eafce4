"""What every command shares: errors as one line, JSON out, option types and validators,
shell completion of run and sweep ids, and train's settings (shared by train and sweep)."""

from __future__ import annotations

import errno
import math
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import ParameterSource
from typer._click.exceptions import ClickException

from sincos_cli.config import CHOICES, VIEWS, TrainConfig
from sincos_cli.errors import OptionError, SincosError, debugging, first_line
from sincos_cli.text import visible

ARGV: list[str] = ["sincos"]  # the command line as given (set by the group), for run.json
# More threads or processes than CPUs only makes them wait for each other (and thousands
# exhaust the machine's process limit): --threads and --jobs stop here.
MAX_THREADS = os.cpu_count() or 1


class ReaderLeft(Exception):
    """stdout's reader closed the pipe."""


def fail(message: str, code: int = 1):
    say(f"Error: {message}")
    raise typer.Exit(code)


def say(message: str) -> None:
    """One line on stderr; text from a folder in it is shown, never acted on (text.py)."""
    print(visible(message, lines=False), file=sys.stderr)


def guarded(fn):
    """Run a command body; SincosError and OS errors become one line and exit 1, an
    OptionError a usage error (exit 2)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except OptionError as e:  # the library found a bad option as it planned: exit 2
            raise typer.BadParameter(str(e), param_hint=e.option) from None
        except SincosError as e:
            fail(str(e))
        except BrokenPipeError:
            # The reader left (`| head`): SincosGroup ends quietly. Not as an OSError,
            # which click would turn into exit 1.
            raise ReaderLeft from None
        except OSError as e:
            if debugging():
                raise
            where = f" {e.filename}" if e.filename else ""
            limit = (" (a limit of this machine: see ulimit -a)"
                     if e.errno in (errno.EMFILE, errno.ENFILE, errno.EAGAIN) else "")
            fail(f"{e.strerror or e}:{where}".rstrip(":") + limit)
        except (typer.Exit, typer.Abort, ClickException, KeyboardInterrupt):
            raise
        except Exception as e:
            # A bug, not bad input: still one line; SINCOS_DEBUG=1 shows the traceback.
            if debugging():
                raise
            fail(f"internal error: {type(e).__name__}: {first_line(e)} "
                 "(SINCOS_DEBUG=1 for details)")
    return wrapper


# -- shared options ------------------------------------------------------------------------

def _positive_float(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def _finite_float(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"must be a finite number, got {value}")
    return value


def _nonneg_float(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be zero or a positive number, got {value}")
    return None if value is None else value + 0.0  # -0.0 is 0.0


RunsDir = Annotated[Path | None, typer.Option(
    "--runs-dir", help="Where runs live.", show_default="$SINCOS_RUNS_DIR or ./runs")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]


def _complete(ctx: typer.Context, incomplete: str, sweeps: bool, runs: bool = True):
    """Run ids (and 'latest') and/or sweep ids in the runs dir, for the shell."""
    from sincos_cli.store.runs import SWEEP_RE, list_runs
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    root = pick_runs_dir(ctx.params.get("runs_dir"))
    names = ([p.name for p in list_runs(root)] + ["latest"]) if runs else []
    if sweeps:
        try:
            names += sorted(p.name for p in root.iterdir() if SWEEP_RE.match(p.name))
        except OSError:
            pass
    return [n for n in names if n.startswith(incomplete)]


def complete_runs(ctx: typer.Context, incomplete: str) -> list[str]:
    return _complete(ctx, incomplete, sweeps=False)


def complete_runs_and_sweeps(ctx: typer.Context, incomplete: str) -> list[str]:
    return _complete(ctx, incomplete, sweeps=True)


def complete_sweeps(ctx: typer.Context, incomplete: str) -> list[str]:
    return _complete(ctx, incomplete, sweeps=True, runs=False)


def _choices(name: str, values: tuple[str, ...]) -> type[StrEnum]:
    """A typer choice type from one of config.py's tuples, the single list of valid values."""
    return StrEnum(name, {v: v for v in values})


Device = _choices("Device", ("cpu", "cuda", "auto"))
# The settings that take one of a few words (config.CHOICES), each as a typer choice type.
CHOICE_TYPES = {name: _choices(name.title(), words) for name, words in CHOICES.items()}
View = _choices("View", VIEWS)
ViewOpt = Annotated[View, typer.Option(
    help="window: the current step's window, x following it; history: the original's "
    "never-cleared axes, every step's window left along x.")]
AnimFormat = _choices("AnimFormat", ("gif", "mp4"))


# -- train's settings, shared by train and sweep -----------------------------------------

# Train's settings, shared by `train` and `sweep` (injected into both signatures by
# with_settings): name -> (annotated type, default), made from TrainConfig's fields, where
# each setting's default, help and bound are told once.
BOUNDS = {("int", "positive"): {"min": 1}, ("int", "nonneg"): {"min": 0},
          ("float", "positive"): {"callback": _positive_float},
          ("float", "nonneg"): {"callback": _nonneg_float}}


def _settings() -> dict:
    out = {}
    for f in TrainConfig.options():
        kind, meta = TrainConfig.kind(f.name), f.metadata
        if f.name in CHOICE_TYPES:
            kind_type, default = CHOICE_TYPES[f.name], CHOICE_TYPES[f.name][f.default]
        else:
            kind_type, default = {"int": int, "float": float, "bool": bool}[kind], f.default
        option = typer.Option(*([meta["flag"]] if meta["flag"] else []), help=meta["help"],
                              **BOUNDS.get((kind, meta["bound"]), {}))
        out[f.name] = (Annotated[kind_type, option], default)
    return out


SETTINGS = _settings()


def with_settings(fn):
    """Add SETTINGS as keyword options to a command, before its own options (help shows
    them first); the command takes them as **settings."""
    import inspect

    sig = inspect.signature(fn, eval_str=True)
    kw = inspect.Parameter.KEYWORD_ONLY
    own = [p for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
    ctx = [p for p in own if p.name == "ctx"]
    params = ctx + [inspect.Parameter(k, kw, annotation=ann, default=d)
                    for k, (ann, d) in SETTINGS.items()]
    params += [p.replace(kind=kw) for p in own if p.name != "ctx"]
    fn.__signature__ = sig.replace(parameters=params)
    fn.__annotations__ = {p.name: p.annotation for p in params}
    return fn


def given_settings(ctx, settings: dict) -> dict:
    """The settings typed on the command line (or set in the environment), as plain values."""
    return {k: getattr(v, "value", v) for k, v in settings.items()
            if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE,
                                               ParameterSource.ENVIRONMENT)}


RunArg = Annotated[str, typer.Argument(
    metavar="RUN",
    help="The run: its id (run-01), number (1), 'latest', or a path to its folder.",
    autocompletion=complete_runs)]


# -- selecting runs (compare) -----------------------------------------------------------------

Where = Annotated[list[str] | None, typer.Option(
    "--where", help="KEY OP VALUE (OP: = != < <= > >=) on a setting, a result, status, "
    "sweep, tag or set (selection or holdout); repeat to combine, e.g. --where hidden=20 "
    "--where 'eval_mse<1e-3' --where tag=baseline.", show_default=False)]


def parse_where(where: list[str]):
    """--where filters, checked before any run is read (exit 2 on an unknown key)."""
    from sincos_cli.errors import FilterError
    from sincos_cli.store.query import parse_where as parse

    try:
        return parse(where)
    except FilterError as e:
        raise typer.BadParameter(str(e), param_hint="--where") from None


def select_rows(root: Path, runs: list[str] | None, where: list[str]):
    """compare's selection: the runs named (a sweep stands for its members), or every run,
    then --where; damaged runs are warned of."""
    from sincos_cli.store.query import select
    from sincos_cli.store.record import load_row, value_warnings
    from sincos_cli.store.runs import expand, list_runs

    wheres = parse_where(where)
    rows = [load_row(p) for p in (expand(root, runs) if runs else list_runs(root))]
    for r in rows:
        if r.problem:
            say(f"warning: {r.id} is {r.status}: {r.problem}")
    for w in value_warnings(rows):
        say(f"warning: {w}")
    return select(rows, wheres)


def parse_reference(text: str, keys: list[str]) -> dict:
    """--reference KEY=VALUE[,KEY=VALUE]: a group of `keys`, its values parsed as the grid
    parses them (exit 2 on a key not grouped by, named twice, or a bad value)."""
    from sincos_cli.sweep.grid import GridError
    from sincos_cli.sweep.grid import parse_reference as parse

    try:
        return parse(text, keys, as_text=("status", "set"))
    except GridError as e:
        raise typer.BadParameter(str(e), param_hint="--reference") from None


def no_runs(root: Path) -> None:
    print(f"No runs in {root.resolve()} yet: start one with `sincos train`, or point "
          "elsewhere with --runs-dir DIR or SINCOS_RUNS_DIR=DIR.", file=sys.stderr)


Tags = Annotated[list[str] | None, typer.Option(
    "--tag", help="A tag for the run (repeat for more): a plain word; `sincos tag` changes "
    "them later.", show_default=False)]
Note = Annotated[str | None, typer.Option(
    help="A note for the run; `sincos note` changes it later.", show_default=False)]


def meta_of(tags: list[str] | None, note: str | None):
    """meta.json's content (a store.meta.Meta) for --tag and --note, checked (exit 2 on a
    bad tag); None without either."""
    if not tags and not note:
        return None
    from sincos_cli.errors import FilterError
    from sincos_cli.store.meta import Meta, check_tag

    try:
        checked = [check_tag(t) for t in tags or []]
    except FilterError as e:
        raise typer.BadParameter(str(e), param_hint="--tag") from None
    return Meta(tags=list(dict.fromkeys(checked)), note=note or None)
