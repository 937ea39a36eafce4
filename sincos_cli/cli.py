"""The `sincos` command line: parse, call the library, print. The only typer importer.

Heavy modules (torch, numpy, matplotlib) are imported inside the commands so that
`sincos --help` stays instant.
"""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import ParameterSource
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup
from typer.exceptions import Abort

from .config import CELLS, INITS, RECIPES, SCHEDULES, TASKS, VIEWS
from .errors import SincosError, first_line

ARGV: list[str] = ["sincos"]  # the command line as given, recorded in run.json
# More threads or processes than CPUs only makes them wait for each other (and thousands
# exhaust the machine's process limit): --threads and --jobs stop here.
MAX_THREADS = os.cpu_count() or 1


_SIGNAL = [None]  # the signal that interrupted a command, if one did


def _sigterm_is_ctrl_c() -> None:
    """SIGTERM raises KeyboardInterrupt, as Ctrl-C does, so every command's clean-up runs
    (train and sweep install their own handlers, which finish the step first)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        _SIGNAL[0] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)  # the terminal closed: the same clean-up
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, handler)


class SincosGroup(TyperGroup):
    """Every error, typer's own included, becomes one `Error: …` line on stderr."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        global ARGV
        ARGV = ["sincos", *(sys.argv[1:] if args is None else args)]
        _sigterm_is_ctrl_c()
        try:
            rv = super().main(args, prog_name or "sincos", complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            if _SIGNAL[0] is not None:
                # Ctrl-C or SIGTERM outside training (typer turns KeyboardInterrupt into
                # exit 130): whatever was under way was cleaned up on the way out
                # (temporary files removed, workers ended).
                print("Error: interrupted", file=sys.stderr)
                code = {signal.SIGTERM: 143, signal.SIGHUP: 129}.get(_SIGNAL[0], 130)
        except NoArgsIsHelpError as e:
            print(e.format_message(), file=sys.stderr)
            code = e.exit_code
        except ClickException as e:
            # typer's enum check says "Value error, 'x' is not one of …": plain words
            print(f"Error: {e.format_message().replace('Value error, ', '')}",
                  file=sys.stderr)
            code = e.exit_code
        except Abort:
            print("Error: aborted", file=sys.stderr)
            code = 1
        except (BrokenPipeError, ReaderLeft):
            # `sincos … | head`: the reader left early, which is not an error.
            _quiet_stdout()
            code = 0
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=SincosGroup, no_args_is_help=True, add_completion=True,
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


class ReaderLeft(Exception):
    """stdout's reader closed the pipe."""


def _quiet_stdout() -> None:
    """After a broken pipe: nothing more reaches the reader, and the interpreter's flush of
    stdout at exit must not complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.stdout = open(os.devnull, "w")


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
        except BrokenPipeError:
            # The reader left (`| head`): SincosGroup ends quietly. Not as an OSError,
            # which click would turn into exit 1.
            raise ReaderLeft from None
        except OSError as e:
            if os.environ.get("SINCOS_DEBUG"):
                raise
            where = f" {e.filename}" if e.filename else ""
            limit = (" (a limit of this machine: see ulimit -a)"
                     if e.errno in (errno.EMFILE, errno.ENFILE, errno.EAGAIN) else "")
            fail(f"{e.strerror or e}:{where}".rstrip(":") + limit)
        except (typer.Exit, typer.Abort, ClickException, KeyboardInterrupt):
            raise
        except Exception as e:
            # A bug, not bad input: still one line; SINCOS_DEBUG=1 shows the traceback.
            if os.environ.get("SINCOS_DEBUG"):
                raise
            fail(f"internal error: {type(e).__name__}: {first_line(e)} "
                 "(SINCOS_DEBUG=1 for details)")
    return wrapper


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


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
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead.")]


def _complete(ctx: typer.Context, incomplete: str, sweeps: bool, runs: bool = True):
    """Run ids (and 'latest') and/or sweep ids in the runs dir, for the shell."""
    from .runs import SWEEP_RE, list_runs
    from .runs import runs_dir as pick_runs_dir

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
Cell = _choices("Cell", CELLS)
Schedule = _choices("Schedule", SCHEDULES)
Task = _choices("Task", TASKS)
Recipe = _choices("Recipe", RECIPES)
Init = _choices("Init", INITS)
View = _choices("View", VIEWS)
ViewOpt = Annotated[View, typer.Option(
    help="window: the current step's window, x following it; history: the original's "
    "never-cleared axes, every step's window left along x.")]
AnimFormat = _choices("AnimFormat", ("gif", "mp4"))


# -- train -------------------------------------------------------------------------------

# Train's settings, one definition shared by `train` and `sweep` (injected into both
# signatures by with_settings): name -> (annotated type, default).
SETTINGS = {
    'steps': (Annotated[int, typer.Option(
        min=1, help="Optimiser updates (the new total, on resume).")], 501),
    'batch_size': (Annotated[int, typer.Option(min=1, help="Windows per batch.")], 50),
    'time_steps': (Annotated[int, typer.Option(min=1, help="Points per window.")], 20),
    'hidden': (Annotated[int, typer.Option(min=1, help="Recurrent units.")], 20),
    'lr': (Annotated[float, typer.Option(
        callback=_positive_float, help="Adam (peak) learning rate.")], 0.006),
    'recipe': (Annotated[Recipe, typer.Option(
        help="seed: the tutorial's settings; robust: the same LSTM with cosine decay from "
        "0.004 after 25 warm-up steps, gradient norm clipped at 0.5 (flags given still "
        "win).")], Recipe["seed"]),
    'schedule': (Annotated[Schedule, typer.Option(
        help="Learning-rate schedule.")], Schedule["constant"]),
    'warmup_steps': (Annotated[int, typer.Option(min=0, help="Linear lr warm-up steps.")], 0),
    'clip': (Annotated[float, typer.Option(callback=_nonneg_float,
                                        help="Clip the gradient norm to this; 0 = off.")], 0.0),
    'cell': (Annotated[Cell, typer.Option(help="Recurrent cell.")], Cell["lstm"]),
    'layers': (Annotated[int, typer.Option(min=1, help="Stacked recurrent layers.")], 1),
    'stateful': (Annotated[bool, typer.Option("--stateful/--no-stateful",
                                           help="Carry the state from batch to batch.")], True),
    'task': (Annotated[Task, typer.Option(help="What to predict from what.")], Task["sin-cos"]),
    'horizon': (Annotated[int, typer.Option(min=1, help="sin-forecast: points ahead.")], 1),
    'noise': (Annotated[float, typer.Option(callback=_nonneg_float,
                                         help="Std of Gaussian noise on the input.")], 0.0),
    'init': (Annotated[Init, typer.Option(
        help="Weight initialisation: keras (the original's: glorot, orthogonal, forget bias "
        "1) or torch (PyTorch's defaults).")], Init["keras"]),
    'predict_advances_state': (Annotated[bool, typer.Option(
        "--predict-advances-state",
        help="Reproduce the original's predict() after each update, which runs the batch "
        "again and advances the carried state a second time.")], False),
}


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



@app.command()
@guarded
@with_settings
def train(
    ctx: typer.Context,
    seed: Annotated[int | None, typer.Option(
        min=0, max=2**32 - 1, show_default="random",
        help="Torch seed; drawn and recorded if not given.")] = None,
    log_every: Annotated[int, typer.Option(min=1, help="Plain progress line every N steps.")] = 10,
    checkpoint_every: Annotated[int, typer.Option(
        min=0, help="Save checkpoint and trace every N steps; 0 = only at the end.")] = 100,
    runs_dir: RunsDir = None,
    name: Annotated[str | None, typer.Option(help="Run id instead of the next run-NN.")] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue an interrupted, crashed or completed run in place (id, number, "
        "latest or path); --steps gives the new total.", autocompletion=complete_runs)] = None,
    threads: Annotated[int, typer.Option(
        min=0, max=MAX_THREADS, help="Torch CPU threads; 0 = torch's default. 1 is fastest "
        "for this model.")] = 1,
    live: Annotated[bool, typer.Option(
        "--live", help="Show the tutorial's plot while training: in a window where there is "
        "a display, else in the terminal (stderr); replaces the progress bar.")] = False,
    view: ViewOpt = View["window"],
    device: Annotated[Device, typer.Option(help="Where to train.")] = Device["cpu"],
    quiet: Quiet = False,
    as_json: Json = False,
    **settings,
):
    """Train the LSTM; prints the run id (or the summary with --json).

    Examples:

        sincos train --steps 501

        RUN=$(sincos train --hidden 32 --lr 0.003 --quiet)

        sincos train --live --view history

        sincos train --resume run-07 --steps 1000
    """
    from . import budget
    from .config import resolve as resolve_config
    from .launch import train_run
    from .runs import check_name
    from .runs import runs_dir as pick_runs_dir

    recipe = settings.pop("recipe")
    given = given_settings(ctx, {**settings, "seed": seed})
    root = pick_runs_dir(runs_dir)
    shown = None
    if live:
        from .live import choose

        try:
            shown = (choose(), view.value)
        except SincosError as e:
            raise typer.BadParameter(str(e), param_hint="--live") from None
    elif ctx.get_parameter_source("view") == ParameterSource.COMMANDLINE:
        raise typer.BadParameter("--view is for --live (or sincos animate)",
                                 param_hint="--view")
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
            budget.check_train(cfg)
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
    path, summary, code = train_run(
        cfg, root=root, name=name, device=device.value, threads=threads,
        checkpoint_every=checkpoint_every, argv=ARGV, quiet=quiet,
        log_every=log_every, resume=resume, given=given, live=shown)
    if as_json:
        emit_json({"id": path.name, "status": "completed" if code == 0 else "interrupted",
                   **summary})
    else:
        print(path.name)
    if code:
        # Even with --quiet: how to continue is not progress chatter.
        print(f"interrupted at step {summary['steps']}; resume with: sincos train "
              f"--resume {path.name}", file=sys.stderr)
        raise typer.Exit(code)


# -- sweep -------------------------------------------------------------------------------

MAX_MEMBERS = 10_000  # more asks for --yes


@app.command()
@guarded
@with_settings
def sweep(
    ctx: typer.Context,
    seeds: Annotated[str | None, typer.Option(
        help="Seeds: a range (1-20), a list (1,5,9) or a count (20, drawn once and "
        "recorded).", show_default=False)] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="KEY=V1,V2,…: one axis of the grid (repeat for more); keys are "
        "train's settings (hidden, lr, cell, init, recipe, steps…).", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, max=4 * MAX_THREADS, show_default="one per CPU",
        help="Local worker processes.")] = None,
    cluster: Annotated[str | None, typer.Option(
        help="Run on a Dask cluster: its scheduler address (tcp://HOST:PORT) or "
        "scheduler file.", show_default=False)] = None,
    resume: Annotated[str | None, typer.Option(
        help="Continue a sweep: train what is missing, failed, interrupted or crashed.",
        show_default=False, autocompletion=complete_sweeps)] = None,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help=f"Allow more than {MAX_MEMBERS:,} members.")] = False,
    restart_damaged: Annotated[bool, typer.Option(
        "--restart-damaged", help="--resume: move members whose files cannot be read "
        "aside (to RUN.damaged) and train them again; without it they stop the resume.")
    ] = False,
    checkpoint_every: Annotated[int, typer.Option(
        min=0, help="Each member's checkpoint period, as in train.")] = 100,
    threshold: Annotated[float, typer.Option(
        callback=_positive_float, help="--json: a member is ok when eval_mse ≤ this.")] = 1e-4,
    runs_dir: RunsDir = None,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the group statistics instead of the sweep id.")] = False,
    **settings,
):
    """Train many seeds and settings in one command; prints the sweep id.

    Every member is an ordinary run (what `sincos train` with its settings writes), made
    on local worker processes or a Dask cluster.

    Examples:

        sincos sweep --seeds 1-20 --set hidden=10,20,40 --set lr=0.003,0.006

        sincos compare sweep-01 --group-by hidden,lr
    """
    from . import grid as gridmod
    from .runs import runs_dir as pick_runs_dir
    from .sweep import run_sweep

    root = pick_runs_dir(runs_dir)
    recipe = settings.pop("recipe")
    base = given_settings(ctx, settings)
    if ctx.get_parameter_source("recipe") == ParameterSource.COMMANDLINE:
        base["recipe"] = recipe.value
    if resume is not None:
        if base or seeds or set_:
            raise typer.BadParameter("a resumed sweep keeps its settings, seeds and grid",
                                     param_hint="--resume")
        plan = None
    elif restart_damaged:
        raise typer.BadParameter("--restart-damaged is for --resume",
                                 param_hint="--restart-damaged")
    else:
        if seeds is None:
            raise typer.BadParameter("a sweep needs seeds, e.g. --seeds 1-10",
                                     param_hint="--seeds")
        try:
            grid = gridmod.parse_sets(set_ or [])
            count = gridmod.count(grid, gridmod.count_seeds(seeds))
            if count > gridmod.MAX_COUNT:
                raise gridmod.GridError(f"{count:,} members is more than one sweep can "
                                        f"hold ({gridmod.MAX_COUNT:,}): split the study")
            if count > MAX_MEMBERS and not yes:
                raise typer.BadParameter(f"{count:,} members: pass --yes to make that many",
                                         param_hint="--yes")
            points = gridmod.points(base, grid)
            seed_list = gridmod.parse_seeds(seeds)
        except gridmod.GridError as e:
            raise typer.BadParameter(str(e)) from None
        from . import budget

        try:  # the member that needs the most memory, times the workers training at once
            budget.check_train(max((cfg for _, cfg in points), key=budget.train_bytes),
                               workers=1 if cluster else (workers or os.cpu_count() or 1))
        except ValueError as e:
            raise typer.BadParameter(str(e)) from None
        plan = (base, grid, seed_list, gridmod.members(base, grid, seed_list), count)
    sweep_id, groups, code, message, _ = run_sweep(
        root, plan, resume=resume, workers=workers, cluster=cluster, argv=ARGV,
        checkpoint_every=checkpoint_every, quiet=quiet, threshold=threshold,
        restart_damaged=restart_damaged)
    if as_json:
        emit_json(groups)
    else:
        print(sweep_id)
    if message:
        print(f"Error: {message}" if code else message, file=sys.stderr)
    if code in (129, 130, 143):
        print(f"interrupted; resume with: sincos sweep --resume {sweep_id}", file=sys.stderr)
    if code:
        raise typer.Exit(code)


# -- animate -----------------------------------------------------------------------------

def _size(value: str) -> tuple[int, int]:
    import re

    m = re.fullmatch(r"(\d+)[xX×](\d+)", value.strip())
    if not m or not all(16 <= int(v) <= 8192 for v in m.groups()):
        raise typer.BadParameter(f"expected WIDTHxHEIGHT in pixels (16 to 8192), got {value!r}",
                                 param_hint="--size")
    return int(m.group(1)), int(m.group(2))


def _fps(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= 100):
        raise typer.BadParameter(f"must be above 0 and at most 100, got {value:g}")
    return value


RunArg = Annotated[str, typer.Argument(
    help="The run: its id (run-01), number (1), 'latest', or a path to its folder.",
    autocompletion=complete_runs)]


@app.command()
@guarded
def animate(
    run: RunArg,
    out: Annotated[str | None, typer.Option(
        "--out", "-o", help="Output file (.gif or .mp4), or '-' for stdout.",
        show_default="animation.gif in the run folder")] = None,
    fmt: Annotated[AnimFormat | None, typer.Option(
        "--format", help="gif or mp4.", show_default="from --out's suffix")] = None,
    fps: Annotated[float, typer.Option(callback=_fps, help="Frames per second.")] = 10.0,
    every: Annotated[int, typer.Option(min=1, help="Draw every Nth step.")] = 1,
    max_frames: Annotated[int, typer.Option(
        min=1, help="Thin evenly to at most this many frames.")] = 600,
    size: Annotated[str, typer.Option(help="Frame size WIDTHxHEIGHT in pixels.")] = "640x480",
    dpi: Annotated[int, typer.Option(min=20, max=600, help="Dots per inch (text scale).")] = 100,
    jobs: Annotated[int, typer.Option(
        min=0, max=4 * MAX_THREADS,
        help="Worker processes; 0 = one per CPU, at most 4 (never more than the chunks "
        "of frames to render).")] = 0,
    view: ViewOpt = View["window"],
    runs_dir: RunsDir = None,
    quiet: Quiet = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print {path, format, frames, fps, bytes} instead of the path.")] = False,
):
    """Replay training as a GIF or MP4 (truth red, prediction blue dashed); prints the path.

    Examples:

        sincos animate run-01

        sincos animate latest --view history --out demo.mp4 --fps 20
    """
    width, height = _size(size)
    if fmt is None:
        suffix = Path(out).suffix.lower() if out not in (None, "-") else ".gif"
        if suffix not in (".gif", ".mp4"):
            raise typer.BadParameter(f"unknown suffix {suffix or '(none)'!r}: use .gif or "
                                     ".mp4, or --format", param_hint="--out")
        fmt = AnimFormat(suffix[1:])
    if fmt == "gif" and 100 / fps > 65535:
        raise typer.BadParameter(f"a GIF frame lasts at most 655.35 s (--fps 0.0016 or more), "
                                 f"got {fps:g}", param_hint="--fps")
    if out == "-" and sys.stdout.isatty():
        raise typer.BadParameter("stdout is a terminal: redirect it (> clip.gif) or give a "
                                 "file", param_hint="--out")
    from . import budget
    from .runs import check_output, read_json, resolve
    from .runs import runs_dir as pick_runs_dir

    path = resolve(pick_runs_dir(runs_dir), run)
    dest = None if out == "-" else Path(out) if out else path / f"animation.{fmt.value}"
    if dest is not None:
        check_output(dest, "animation")
    from . import animate as anim
    from .progress import Progress
    from .scene import style_for
    from .trace import read as read_trace

    trace = read_trace(path)
    try:
        cfg = read_json(path / "config.json")
    except SincosError as e:
        print(f"warning: {e}; drawing as sin → cos", file=sys.stderr)
        cfg = {}
    style = style_for(str(cfg.get("task", "sin-cos")), int(cfg.get("horizon", 1)),
                      width, height, dpi)
    frames = anim.pick_frames(len(trace["step"]), every, max_frames)
    if fmt == "gif":
        _, warning = anim.gif_delay(fps)
        if warning and not quiet:
            print(f"warning: {warning}", file=sys.stderr)
    # One per CPU by default, never more than there are chunks of frames to render.
    jobs = min(jobs or min(os.cpu_count() or 1, 4), max(1, -(-len(frames) // anim.CHUNK)))
    try:
        budget.check_animate(width, height, jobs)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--size") from None
    size = []
    with Progress(len(frames), quiet=quiet, label="animate") as bar:
        def produce(target):
            size[:] = anim.render(trace, frames, style, fmt.value, target, fps, jobs,
                                  on_frames=bar.update, view=view.value)
        anim.write_atomically(dest, fmt.value, produce)
    if dest is None:
        return
    if as_json:
        emit_json({"path": str(dest), "format": fmt.value, "frames": len(frames), "fps": fps,
                   "size": size, "bytes": dest.stat().st_size})
    else:
        print(dest)


# -- predict -----------------------------------------------------------------------------

@app.command()
@guarded
def predict(
    ctx: typer.Context,
    run: RunArg,
    source: Annotated[str | None, typer.Argument(
        help="'-' to read numbers from stdin (or a file path); omit for a range of x.",
        show_default=False)] = None,
    start: Annotated[float, typer.Option(callback=_finite_float,
                                         help="Range: first x, in radians.")] = 0.0,
    points: Annotated[int, typer.Option(
        min=1, help="Range: how many points, at the run's x spacing.")] = 1000,
    input_file: Annotated[Path | None, typer.Option(
        "--input", "-i", help="Read numbers from this file.", show_default=False)] = None,
    column: Annotated[str | None, typer.Option(
        help="Input is CSV with a header: the column to feed the model.")] = None,
    target_column: Annotated[str | None, typer.Option(
        help="CSV column with the true values, to report mse.")] = None,
    warmup: Annotated[int | None, typer.Option(
        min=0, show_default="4 windows",
        help="Points skipped by mse_after_warmup while the state settles.")] = None,
    as_csv: Annotated[bool, typer.Option(
        "--csv", help="CSV rows (the default for ranges).")] = False,
    as_json: Json = False,
    header: Annotated[bool, typer.Option("--header/--no-header", help="CSV header row.")] = True,
    runs_dir: RunsDir = None,
):
    """Run a trained model on new input; rows to stdout.

    A range (--start, --points) feeds the run's input curve, sin(x) for sin-cos, and scores
    the prediction against the true target. A stream (-, a file, or --input) feeds your
    numbers, one per line or a CSV --column. Either way the sequence goes through the
    recurrent layer in order from a zero state, the state carried across chunks, so output
    starts before the input ends and memory stays flat. Output: CSV
    (x,input,target,prediction; empty where unknown), --json (one object with points and
    mse), or, for streams with no format asked, one prediction per line.

    Examples:

        sincos predict run-01 --start 400 --points 300 > pred.csv

        sincos predict run-01 --input series.csv --column sin --target-column cos
    """
    if as_csv and as_json:
        raise typer.BadParameter("choose one of --csv and --json", param_hint="--json")
    if source is not None and input_file is not None:
        raise typer.BadParameter("give either SOURCE or --input, not both", param_hint="--input")
    stream = source if source is not None else input_file
    if stream is not None and any(ctx.get_parameter_source(p) == ParameterSource.COMMANDLINE
                                  for p in ("start", "points")):
        raise typer.BadParameter("--start and --points describe a range, not a stream",
                                 param_hint="--points")
    if target_column and not column:
        raise typer.BadParameter("--target-column needs --column", param_hint="--column")
    if stream is None and (column or target_column):
        raise typer.BadParameter("--column and --target-column need a stream (- or --input)",
                                 param_hint="--column")
    from .runs import resolve
    from .runs import runs_dir as pick_runs_dir

    path = resolve(pick_runs_dir(runs_dir), run)
    import torch

    from . import predict as pr

    torch.set_num_threads(1)
    model, cfg = pr.load_model(path)
    warm = cfg.time_steps * 4 if warmup is None else warmup
    out = sys.stdout
    if as_json:
        writer = pr.JsonOut(out, {"run": path.name, "task": cfg.task,
                                  "mode": "range" if stream is None else "stream"})
    elif as_csv or stream is None:
        writer = pr.CsvOut(out, header)
    else:
        writer = pr.PlainOut(out)
    if stream is None:
        chunks = pr.range_chunks(start, points, cfg)
        result = pr.run(chunks, model, writer, warm, out)
    else:
        import contextlib

        with (contextlib.nullcontext(sys.stdin.buffer) if str(stream) == "-"
              else open(stream, "rb")) as f:
            result = pr.run(pr.stream_chunks(f, column, target_column), model, writer, warm,
                            out)
    if not as_json and result["mse"] is not None:
        late = result["mse_after_warmup"]
        late = f"{late:.4g}" if late is not None else "n/a"
        print(f"mse {result['mse']:.4g}  mse_after_warmup {late}  "
              f"({result['scored_points']} points, warm-up {warm})", file=sys.stderr)


# -- compare -----------------------------------------------------------------------------

@app.command()
@guarded
def compare(
    runs: Annotated[list[str] | None, typer.Argument(
        help="Runs to compare (id, number, latest or path; a sweep id stands for its "
        "members).", show_default="every run",
        autocompletion=complete_runs_and_sweeps)] = None,
    sort: Annotated[str | None, typer.Option(
        help="Sort by a column, e.g. eval_mse; -eval_mse for descending.")] = None,
    show_all: Annotated[bool, typer.Option(
        "--all", help="Show every setting, not only those that differ.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="A JSON list with each run's full config and summary.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV rows.")] = False,
    plot: Annotated[Path | None, typer.Option(
        help="Also draw the loss curves to this .png, .svg or .pdf (with --group-by: each "
        "group's median and 10–90 percentile band).", show_default=False)] = None,
    group_by: Annotated[str | None, typer.Option(
        help="KEY[,KEY]: one row per group of runs with statistics over them (for a sweep, "
        "default: its grid keys).", show_default=False)] = None,
    threshold: Annotated[float, typer.Option(
        callback=_positive_float, help="--group-by: `ok` is the share of runs with "
        "eval_mse at most this.")] = 1e-4,
    runs_dir: RunsDir = None,
):
    """Show runs side by side: what differs, how each did. With no run named, lists all.

    Examples:

        sincos compare --sort eval_mse

        sincos compare sweep-01 --group-by hidden --plot bands.png
    """
    from . import compare as cmp
    from .runs import expand, list_runs, sweep_path
    from .runs import runs_dir as pick_runs_dir

    if as_json and as_csv:
        raise typer.BadParameter("choose one of --csv and --json", param_hint="--json")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise typer.BadParameter(f"unknown suffix {plot.suffix or '(none)'!r}: use .png, "
                                 ".svg or .pdf", param_hint="--plot")
    if plot is not None:
        from .runs import check_output

        check_output(plot, None)
    root = pick_runs_dir(runs_dir)
    paths = expand(root, runs) if runs else list_runs(root)
    keys = [k.strip().replace("-", "_") for k in group_by.split(",")] if group_by else None
    if keys is None and runs:
        sweeps = [sweep_path(root, r) for r in runs]
        if len(runs) == 1 and sweeps[0] is not None:  # a sweep groups by its grid keys
            from .runs import read_json

            keys = list(read_json(sweeps[0] / "sweep.json").get("grid", {})) or None
    if not paths:
        if as_json:
            emit_json([])
        else:
            print(f"No runs in {root} yet: start one with `sincos train`.", file=sys.stderr)
        return
    curves = None
    if plot is not None and keys is None:  # start reading the curves while rows load
        from .plot import Curves, columns_of

        curves = Curves(paths, columns_of())
    rows = [cmp.load_row(p) for p in paths]
    for r in rows:
        if r.problem:
            print(f"warning: {r.id} is {r.status}: {r.problem}", file=sys.stderr)
    if keys is not None:
        return _compare_groups(rows, keys, threshold, as_json, as_csv, plot)
    cols = cmp.columns(rows, show_all)
    known = sorted({*cols, *(k for r in rows for k in (*r.config, *r.summary))})
    try:
        rows = cmp.sort_rows(rows, sort, known)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--sort") from None
    if plot is not None:
        from .plot import loss_curves

        for w in loss_curves(rows, plot, curves=curves):
            print(f"warning: {w}", file=sys.stderr)
        if as_json or as_csv:
            print(f"wrote {plot}", file=sys.stderr)
    if as_json:
        emit_json([r.to_json() for r in rows])
    elif as_csv:
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(cols)
        writer.writerows([["" if r.value(c) is None else r.value(c) for c in cols]
                          for r in rows])
    elif plot is not None:
        print(plot)
    else:
        cmp.print_table(cols, [[cmp.cell(r.value(c), c) for c in cols] for r in rows])


def _compare_groups(rows, keys: list[str], threshold: float, as_json: bool, as_csv: bool,
                    plot: Path | None) -> None:
    from . import compare as cmp
    from .stats import flatten, groups

    known = {k for r in rows for k in (*r.config, "status")}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise typer.BadParameter(f"unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(sorted(known))}", param_hint="--group-by")
    stats = groups(rows, keys, threshold)
    if plot is not None:
        from .plot import bands

        for w in bands(rows, keys, plot):
            print(f"warning: {w}", file=sys.stderr)
        if as_json or as_csv:
            print(f"wrote {plot}", file=sys.stderr)
    if as_json:
        emit_json(stats)
    elif as_csv:
        import csv

        flat = [flatten(g) for g in stats]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(flat[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows([{k: "" if v is None else v for k, v in f.items()} for f in flat])
    elif plot is not None:
        print(plot)
    else:
        cmp.print_table(*cmp.group_table(stats, keys))


def main() -> None:
    from . import launch

    launch.LATE_SIGNALS_IGNORED = True
    app()
