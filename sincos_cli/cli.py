"""The `sincos` command line: parse, call the library, print. The only typer importer.

Heavy modules (torch, numpy, matplotlib) are imported inside the commands so that
`sincos --help` stays instant.
"""

from __future__ import annotations

import json
import math
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import ParameterSource
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup
from typer.exceptions import Abort

from .errors import SincosError

ARGV: list[str] = ["sincos"]  # the command line as given, recorded in run.json


class SincosGroup(TyperGroup):
    """Every error, typer's own included, becomes one `Error: …` line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        global ARGV
        ARGV = ["sincos", *(sys.argv[1:] if args is None else args)]
        try:
            rv = super().main(args, prog_name or "sincos", complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
        except NoArgsIsHelpError as e:
            print(e.format_message(), file=sys.stderr)
            code = e.exit_code
        except ClickException as e:
            print(f"Error: {e.format_message()}", file=sys.stderr)
            code = e.exit_code
        except Abort:
            print("Error: aborted", file=sys.stderr)
            code = 1
        except BrokenPipeError:
            # `sincos … | head`: the reader left; not an error worth a traceback.
            sys.stdout = open(os.devnull, "w")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=SincosGroup, no_args_is_help=True, add_completion=False,
    help="Train a small LSTM to predict cos(x) from sin(x), keep every run under runs/, "
         "replay training as a GIF or MP4, and compare runs.",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from . import __version__

        print(f"sincos {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool | None, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = None,
) -> None:
    """Train a small LSTM to predict cos(x) from sin(x), keep every run under runs/, replay
    training as a GIF or MP4, and compare runs."""


def fail(message: str, code: int = 1):
    print(f"Error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def guarded(fn):
    """Run a command body; SincosError and OS errors become one line and exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SincosError as e:
            fail(str(e))
        except OSError as e:
            if os.environ.get("SINCOS_DEBUG"):
                raise
            where = f" {e.filename}" if e.filename else ""
            fail(f"{e.strerror or e}:{where}".rstrip(":"))
    return wrapper


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


# -- shared options ------------------------------------------------------------------------

def _positive_float(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"must be a positive number, got {value}")
    return value


def _nonneg_float(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise typer.BadParameter(f"must be zero or a positive number, got {value}")
    return value


RunsDir = Annotated[Path | None, typer.Option(
    "--runs-dir", help="Where runs live [default: $SINCOS_RUNS_DIR or ./runs].",
    show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead.")]


class Device(StrEnum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


class Cell(StrEnum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class Schedule(StrEnum):
    constant = "constant"
    cosine = "cosine"
    onecycle = "onecycle"


class Task(StrEnum):
    sin_cos = "sin-cos"
    cos_sin = "cos-sin"
    sin_forecast = "sin-forecast"


class Recipe(StrEnum):
    seed = "seed"
    robust = "robust"


# -- train -------------------------------------------------------------------------------

TRAIN_SETTINGS = ("steps", "batch_size", "time_steps", "hidden", "lr", "seed", "cell",
                  "layers", "stateful", "schedule", "warmup_steps", "clip", "task",
                  "horizon", "noise")


@app.command()
@guarded
def train(
    ctx: typer.Context,
    steps: Annotated[int, typer.Option(
        min=1, help="Optimiser updates (the new total, on resume).")] = 501,
    batch_size: Annotated[int, typer.Option(min=1, help="Windows per batch.")] = 50,
    time_steps: Annotated[int, typer.Option(min=1, help="Points per window.")] = 20,
    hidden: Annotated[int, typer.Option(min=1, help="Recurrent units.")] = 20,
    lr: Annotated[float, typer.Option(
        callback=_positive_float, help="Adam (peak) learning rate.")] = 0.006,
    seed: Annotated[int | None, typer.Option(
        min=0, max=2**32 - 1, show_default="random",
        help="Torch seed; drawn and recorded if not given.")] = None,
    recipe: Annotated[Recipe, typer.Option(help="seed: the tutorial's settings; robust: "
                                           "cosine decay, warm-up and clipping.")] = Recipe.seed,
    schedule: Annotated[Schedule, typer.Option(help="Learning-rate schedule.")] = Schedule.constant,
    warmup_steps: Annotated[int, typer.Option(min=0, help="Linear lr warm-up steps.")] = 0,
    clip: Annotated[float, typer.Option(callback=_nonneg_float,
                                        help="Clip the gradient norm to this; 0 = off.")] = 0.0,
    cell: Annotated[Cell, typer.Option(help="Recurrent cell.")] = Cell.lstm,
    layers: Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")] = 1,
    stateful: Annotated[bool, typer.Option("--stateful/--no-stateful",
                                           help="Carry the state from batch to batch.")] = True,
    task: Annotated[Task, typer.Option(help="What to predict from what.")] = Task.sin_cos,
    horizon: Annotated[int, typer.Option(min=1, help="sin-forecast: points ahead.")] = 1,
    noise: Annotated[float, typer.Option(callback=_nonneg_float,
                                         help="Std of Gaussian noise on the input.")] = 0.0,
    log_every: Annotated[int, typer.Option(min=1, help="Plain progress line every N steps.")] = 10,
    checkpoint_every: Annotated[int, typer.Option(
        min=0, help="Save checkpoint and trace every N steps; 0 = only at the end.")] = 100,
    runs_dir: RunsDir = None,
    name: Annotated[str | None, typer.Option(help="Run id instead of the next run-NN.")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue an interrupted or crashed run (id, number, latest or path).")] = None,
    threads: Annotated[int, typer.Option(
        min=0, help="Torch CPU threads; 0 = torch's default. 1 is fastest for this model.")] = 1,
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device.cpu,
    quiet: Quiet = False,
    as_json: Json = False,
):
    """Train the LSTM; prints the run id (or the summary with --json)."""
    from .config import resolve as resolve_config
    from .launch import train_run
    from .runs import check_name
    from .runs import runs_dir as pick_runs_dir

    local = locals()
    given = {k: getattr(local[k], "value", local[k]) for k in TRAIN_SETTINGS
             if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE,
                                                ParameterSource.ENVIRONMENT)}
    root = pick_runs_dir(runs_dir)
    cfg = None
    if resume is not None:
        if name is not None:
            raise typer.BadParameter("--name cannot be used with --resume", param_hint="--name")
        if ctx.get_parameter_source("recipe") == ParameterSource.COMMANDLINE:
            given["recipe"] = recipe.value
    else:
        if name is not None:
            try:
                check_name(name)
            except SincosError as e:
                raise typer.BadParameter(str(e), param_hint="--name") from None
        if "seed" not in given:
            import secrets

            given["seed"] = secrets.randbelow(2**31)
        cfg = resolve_config(given, recipe.value)
        try:
            cfg.validate()
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    path, summary, code = train_run(
        cfg, root=root, name=name, device=device.value, threads=threads,
        checkpoint_every=checkpoint_every, argv=ARGV, quiet=quiet,
        log_every=log_every, resume=resume, given=given)
    if as_json:
        emit_json({"id": path.name, "status": "completed" if code == 0 else "interrupted",
                   **summary})
    else:
        print(path.name)
    if code:
        raise typer.Exit(code)


def main() -> None:
    app()
