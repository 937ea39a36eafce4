"""`sincos train`: one run, new or resumed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from typer._click.core import ParameterSource

from sincos_cli.errors import SincosError
from sincos_cli.status import RunStatus

from .common import (
    ARGV,
    MAX_THREADS,
    Device,
    Note,
    Quiet,
    RunsDir,
    Tags,
    View,
    ViewOpt,
    complete_runs,
    given_settings,
    guarded,
    meta_of,
    with_settings,
)
from .output import Format, emit_json, output_options


def closing_line(run: str, status: str, summary) -> str:
    """How the run did (a store.summary_doc.Summary), in one line on stderr (what --json's
    summary says)."""
    def num(k, fmt="{:.3e}"):
        v = getattr(summary, k)
        return "-" if v is None else fmt.format(v)
    b = summary.baselines or {}
    yard = "" if b.get("linear") is None else (
        f" · linear filter {b['linear']:.3e} ({b['linear_taps']} taps) · zero {b['zero']:.2f}")
    return (f"{run} {status}: {summary.steps} steps in {num('train_seconds', '{:.1f}')} "
            f"s, final_loss {num('final_loss')}, eval_mse {num('eval_mse')}{yard}")


@guarded
@with_settings
@output_options(json="Print the run's summary as JSON instead of its id.")
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
    tag: Tags = None,
    note: Note = None,
    quiet: Quiet = False,
    output: Format = Format.TEXT,
    **settings,
):
    """Train the LSTM; prints the run id (or the summary with --json).

    Examples:

    \b
        sincos train --steps 501
        RUN=$(sincos train --hidden 32 --lr 0.003 --quiet)
        sincos train --live --view history
        sincos train --resume run-07 --steps 1000
    """
    from sincos_cli.config import resolve as resolve_config
    from sincos_cli.store.runs import runs_dir as pick_runs_dir
    from sincos_cli.training import budget
    from sincos_cli.training.launch import train_run

    recipe = settings.pop("recipe")
    given = given_settings(ctx, {**settings, "seed": seed})
    root = pick_runs_dir(runs_dir)
    shown = _live(ctx, live, view.value)
    cfg = None
    meta = meta_of(tag, note)
    if resume is not None:
        if name is not None:
            raise typer.BadParameter("--name cannot be used with --resume", param_hint="--name")
        if meta is not None:
            raise typer.BadParameter("--tag and --note are for new runs (sincos tag and "
                                     "sincos note change a run's)", param_hint="--tag")
        if ctx.get_parameter_source("recipe") == ParameterSource.COMMANDLINE:
            given["recipe"] = recipe.value
    else:
        _check_new_name(root, name)
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
        checkpoint_every=checkpoint_every, argv=ARGV, resume=resume, given=given, meta=meta,
        display=lambda cfg, done: _display(cfg, done, quiet, log_every, shown))
    status = RunStatus.COMPLETED if code == 0 else RunStatus.INTERRUPTED
    if output is Format.JSON:
        emit_json({"id": path.name, "status": status, **summary.to_json()})
    else:
        print(path.name)
    if not quiet:
        print(closing_line(path.name, status, summary), file=sys.stderr)
    if code:
        # Even with --quiet: how to continue is not progress chatter.
        print(f"interrupted at step {summary.steps}; resume with: sincos train "
              f"--resume {path.name}", file=sys.stderr)
        raise typer.Exit(code)


def _live(ctx: typer.Context, live: bool, view: str) -> tuple[str, str] | None:
    """--live's (display, view), or None; --view without --live is refused."""
    if live:
        from sincos_cli.views.live import choose

        try:
            return choose(), view
        except SincosError as e:
            raise typer.BadParameter(str(e), param_hint="--live") from None
    if ctx.get_parameter_source("view") == ParameterSource.COMMANDLINE:
        raise typer.BadParameter("--view is for --live (or sincos animate)",
                                 param_hint="--view")
    return None


def _check_new_name(root: Path, name: str | None) -> None:
    """--name for a new run: a valid name, not taken (refused before torch is imported)."""
    if name is None:
        return
    from sincos_cli.store.runs import check_name

    try:
        check_name(name)
    except SincosError as e:
        raise typer.BadParameter(str(e), param_hint="--name") from None
    if (root / name).exists():
        raise SincosError(f"run {name!r} already exists in {root}")


def _display(cfg, done: int, quiet: bool, log_every: int, live: tuple[str, str] | None):
    """What train shows as it trains: the live plot (a window or the terminal) when asked,
    else the progress bar or log lines."""
    if live is not None:
        from sincos_cli.views.live import open_view

        return open_view(*live, cfg, done)
    from sincos_cli.views.progress import Progress

    return Progress(cfg.steps, done=done, quiet=quiet, log_every=log_every)
