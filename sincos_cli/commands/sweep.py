"""`sincos sweep`: seeds × a grid of train's settings, on local workers or a Dask cluster."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer._click.core import ParameterSource

from sincos_cli.sweep.design import MAX_MEMBERS
from sincos_cli.sweep.plan import GROUP_SIZE

from .common import (
    ARGV,
    MAX_THREADS,
    Note,
    Quiet,
    RunsDir,
    Tags,
    _positive_float,
    complete_sweeps,
    given_settings,
    guarded,
    meta_of,
    with_settings,
)
from .output import Format, emit_json, output_options


@guarded
@with_settings
@output_options(json="Print the group statistics instead of the sweep id.")
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
    tag: Tags = None,
    note: Note = None,
    halving: Annotated[bool, typer.Option(
        "--halving", help="Successive halving: every grid point starts on all its seeds; at "
        "each rung the points are ranked by a seed aggregate of the training loss (--rank) "
        "and the best 1/η go on; the others stop, pruned.")] = False,
    eta: Annotated[int, typer.Option(
        help="--halving: η, the factor between rungs (and 1/η of the points go on).")] = 3,
    first_rung: Annotated[int | None, typer.Option(
        min=1, help="--halving: the first rung's step; the next are ×η.",
        show_default="--steps / η^K, η^K ≤ the number of points")] = None,
    rank: Annotated[str, typer.Option(
        help="--halving: trend (the median over seeds of each seed's training loss "
        "extrapolated to --steps by a power law fitted since half the rung), median (the "
        "median over seeds of the training loss near the rung) or ok (the share of seeds at "
        "or under --threshold).")] = "trend",
    audit: Annotated[int | None, typer.Option(
        min=1, help="--halving: once every rung is done, train this many pruned points to "
        "the end as well (the runner-up first, then evenly down the order they were "
        "pruned in) and report how well the rungs ranked them: Spearman's ρ between rung "
        "scores and final medians, and the regret of the pick.", show_default=False)] = None,
    holdout_seeds: Annotated[str | None, typer.Option(
        help="Seeds the choice never sees (a range or list, as --seeds): once the sweep has "
        "chosen, its top points are trained on them and reported as a group of their own "
        "(set=holdout).", show_default=False)] = None,
    holdout_top: Annotated[int, typer.Option(
        min=1, help="--holdout-seeds: how many of the best points (by --holdout-by) go on "
        "to them.")] = 1,
    holdout_by: Annotated[str, typer.Option(
        help="--holdout-seeds: how the best points are chosen: median (the lowest median "
        "eval_mse), ok (the most members at or under --threshold) or worst (the lowest "
        "largest eval_mse: for a recipe that must work on every seed).")] = "median",
    until_decided: Annotated[bool, typer.Option(
        "--until-decided", help="Train in rounds: after each, compare every grid point with "
        "the reference seed by seed, and train the points not yet decided (and the "
        "reference) on as many new seeds again, until each is decided or --max-seeds is "
        "reached. The error rate stays at most --alpha however early it stops "
        "(docs/sweeps.md).")] = False,
    max_seeds: Annotated[int, typer.Option(
        min=1, help="--until-decided: the budget, in seeds per point.")] = 200,
    alpha: Annotated[float, typer.Option(
        help="--until-decided: the chance that any comparison is decided wrongly.")] = 0.05,
    reference: Annotated[str | None, typer.Option(
        help="--until-decided: the point the others are compared with, KEY=VALUE[,…].",
        show_default="the first grid point")] = None,
    batch: Annotated[bool, typer.Option(
        "--batch/--no-batch", help="Train members that share every shape setting (cell, "
        "hidden, layers, batch size, time steps) as one batched model, in groups; "
        "--no-batch trains each alone, exactly as `sincos train` would.")] = True,
    group_size: Annotated[int | None, typer.Option(
        min=1, help="--batch: at most this many members in a group.",
        show_default=str(GROUP_SIZE))] = None,
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
    output: Format = Format.TEXT,
    **settings,
):
    """Train many seeds and settings in one command; prints the sweep id.

    Every member is an ordinary run (what `sincos train` with its settings writes), made
    on local worker processes or a Dask cluster.

    Examples:

    \b
        sincos sweep --seeds 1-20 --set hidden=10,20,40 --set lr=0.003,0.006
        sincos compare sweep-01 --group-by hidden,lr
    """
    from sincos_cli.store.runs import runs_dir as pick_runs_dir
    from sincos_cli.sweep.design import HalvingAsk, HoldoutAsk, UntilAsk
    from sincos_cli.sweep.driver import run_sweep
    from sincos_cli.sweep.request import Request, plan

    meta = meta_of(tag, note)
    recipe = settings.pop("recipe")
    base = given_settings(ctx, settings)
    if _on_line(ctx, "recipe"):
        base["recipe"] = recipe.value
    todo = plan(Request(
        base=base, sets=set_ or [], seeds=seeds, resume=resume,
        restart_damaged=restart_damaged, tagged=meta is not None, threshold=threshold,
        yes=yes, workers=workers, cluster=bool(cluster), batch=batch, group_size=group_size,
        halving=HalvingAsk(eta, first_rung, rank, audit) if halving else None, audit=audit,
        holdout=HoldoutAsk(holdout_seeds, holdout_top, holdout_by) if holdout_seeds else None,
        holdout_by=holdout_by, reference=reference,
        until=UntilAsk(max_seeds, alpha, reference) if until_decided else None,
        typed=frozenset(n for n in ctx.params if _on_line(ctx, n))))
    if todo.design is not None and todo.design.note:
        print(f"note: {todo.design.note}", file=sys.stderr)
    result = run_sweep(
        pick_runs_dir(runs_dir), todo.design, resume=resume, workers=workers,
        cluster=cluster, argv=ARGV, checkpoint_every=checkpoint_every, quiet=quiet,
        threshold=threshold, restart_damaged=restart_damaged, meta=meta,
        batch=todo.batching)
    _print_result(result, output)


def _on_line(ctx: typer.Context, name: str) -> bool:
    """Whether the option `name` was given on the command line."""
    return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE


def _print_result(result, output: Format) -> None:
    """The sweep's id (or its groups as JSON), what it said, how to resume; its exit code."""
    if output is Format.JSON:
        emit_json(result.groups)
    else:
        print(result.sweep_id)
    if result.message:
        print(f"Error: {result.message}" if result.code else result.message, file=sys.stderr)
    if result.code in (129, 130, 143):
        print(f"interrupted; resume with: sincos sweep --resume {result.sweep_id}",
              file=sys.stderr)
    if result.code:
        raise typer.Exit(result.code)
