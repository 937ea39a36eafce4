"""The run store: `sincos show`, `sincos rm`, `sincos tag`, `sincos note` and `sincos
baselines` (yardsticks for runs made before they were kept)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sincos_cli.text import visible

from .common import (
    RunsDir,
    Where,
    complete_runs_and_sweeps,
    guarded,
    parse_where,
    say,
)
from .output import Format, Rows, emit_json, output_options, write_rows


@guarded
@output_options()
def show(
    target: Annotated[str, typer.Argument(
        metavar="RUN|SWEEP",
        help="A run (id, number, latest or path) or a sweep (sweep-NN or path).",
        autocompletion=complete_runs_and_sweeps)],
    runs_dir: RunsDir = None,
    output: Format = Format.TEXT,
):
    """One run or one sweep on one screen.

    A run: status and error, settings (* marks those off their defaults), summary, times
    and resumes, sweep, tags and note, files with sizes, and the command that reproduces
    it. A sweep: grid, seeds, members by status, its best and worst members, and any
    member whose folder is missing.

    Examples:

    \b
        sincos show latest
        sincos show sweep-01 --json
    """
    from sincos_cli.store import show as sh
    from sincos_cli.store.runs import resolve, sweep_path
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    root = pick_runs_dir(runs_dir)
    sweep = sweep_path(root, target)
    doc = sh.sweep_info(sweep) if sweep is not None else sh.run_info(resolve(root, target))
    if output is Format.JSON:
        emit_json(doc)
    else:
        sys.stdout.write(visible(sh.render(doc)))


@guarded
def rm(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="RUN|SWEEP",
        help="Runs and sweeps to remove (a sweep goes with its members).",
        show_default=False, autocompletion=complete_runs_and_sweeps)] = None,
    where: Where = None,
    status: Annotated[str | None, typer.Option(
        help="Only runs with one of these statuses, e.g. failed,interrupted,crashed.",
        show_default=False)] = None,
    older_than: Annotated[str | None, typer.Option(
        help="Only runs created longer ago than this: 7d, 12h, 30m.",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", "-n", help="List what would go and the space it would free; remove "
        "nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    runs_dir: RunsDir = None,
):
    """Remove runs and sweeps, safely: each leaves the store in one rename, then is deleted.

    A running run and the members of a running sweep are never removed. Removing a sweep
    removes its members; a member removed alone leaves a hole that `sincos sweep --resume`
    trains again. On a terminal it asks first.

    Examples:

    \b
        sincos rm run-07 --dry-run
        sincos rm --status failed,interrupted --older-than 7d --yes
        sincos rm sweep-02 --yes
    """
    from sincos_cli.errors import FilterError
    from sincos_cli.store import removal
    from sincos_cli.store.query import parse_age
    from sincos_cli.store.runs import RunStatus
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    if not (targets or where or status or older_than):
        raise typer.BadParameter("name runs or sweeps, or select with --where, --status or "
                                 "--older-than", param_hint="TARGETS")
    wheres = parse_where(where or [])
    try:
        age = parse_age(older_than) if older_than else None
    except FilterError as e:
        raise typer.BadParameter(str(e), param_hint="--older-than") from None
    statuses = [s.strip() for s in status.split(",")] if status else []
    known = tuple(RunStatus)
    for s in statuses:
        if s not in known:
            raise typer.BadParameter(f"unknown status {s!r}; choose from {', '.join(known)}",
                                     param_hint="--status")
    root = pick_runs_dir(runs_dir)
    try:
        plan = removal.plan_removal(root, targets or [], wheres, statuses, age)
    except FilterError as e:
        raise typer.BadParameter(str(e), param_hint="TARGETS") from None
    for name, why in plan.kept:
        say(f"kept {name}: {why}")
    for name in plan.leftovers:
        say(f"{'would finish' if dry_run else 'finishing'} the removal of {name} (left by "
            "an rm that was stopped)")
    if not plan.paths:
        if not dry_run:
            removal.purge_leftovers(root)
        print("Nothing to remove.", file=sys.stderr)
        return
    if not (yes or dry_run or sys.stdin.isatty()):
        raise typer.BadParameter("no terminal to ask on: pass --yes to remove",
                                 param_hint="--yes")
    for p in plan.paths:
        print(visible(p.name, lines=False))
    what = _what(plan.runs, plan.sweeps)
    if dry_run:
        print(f"would remove {what}, freeing {_size(plan.bytes())}", file=sys.stderr)
        return
    if not yes:
        if not typer.confirm(f"Remove {what} ({_size(plan.bytes())})?", default=False,
                             err=True):
            raise typer.Exit(1)
    removed, kept = removal.remove(plan)
    for name, why in kept:
        say(f"kept {name}: {why}")
    print(f"removed {removed} folder{'s' * (removed != 1)}" if kept else f"removed {what}",
          file=sys.stderr)


def _what(runs: int, sweeps: int) -> str:
    return f"{runs} run{'s' * (runs != 1)}" + (
        f" and {sweeps} sweep{'s' * (sweeps != 1)}" if sweeps else "")


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


@guarded
@output_options(json="A JSON list: each run's id and tags.", csv="CSV rows: id, tags.")
def tag(
    items: Annotated[list[str], typer.Argument(
        help="Runs or sweeps (a sweep stands for its members), then +TAG to add and -TAG "
        "to remove.", metavar="RUN|+TAG|-TAG",
        autocompletion=complete_runs_and_sweeps)],
    runs_dir: RunsDir = None,
    output: Format = Format.TEXT,
):
    """Add (+TAG) and remove (-TAG) tags: plain words, kept in each run's meta.json.

    Examples:

    \b
        sincos tag run-03 run-04 +baseline -draft
        sincos compare --where tag=baseline
    """
    from sincos_cli.errors import FilterError
    from sincos_cli.store.meta import check_tag, write_meta
    from sincos_cli.store.runs import expand
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    marks = [i for i in items if i[:1] in "+-" and len(i) > 1]
    selectors = [i for i in items if i not in marks]
    if not marks or not selectors:
        raise typer.BadParameter("give runs, then +TAG or -TAG", param_hint="ITEMS")
    try:
        add = [check_tag(m[1:]) for m in marks if m[0] == "+"]
        remove = [check_tag(m[1:]) for m in marks if m[0] == "-"]
    except FilterError as e:
        raise typer.BadParameter(str(e), param_hint="ITEMS") from None
    paths = expand(pick_runs_dir(runs_dir), selectors)
    tagged = [(p.name, write_meta(p, add, remove).tags) for p in paths]
    write_rows(output, Rows(["id", "tags"], [[i, " ".join(t)] for i, t in tagged],
                            records=[{"id": i, "tags": t} for i, t in tagged]))


@guarded
def note(
    target: Annotated[str, typer.Argument(
        metavar="RUN|SWEEP",
        help="A run, or a sweep (for all of its members).",
        autocompletion=complete_runs_and_sweeps)],
    text: Annotated[str, typer.Argument(metavar="TEXT", help="The note; '' clears it.")],
    runs_dir: RunsDir = None,
):
    """Set a run's note (one string, kept in its meta.json).

    Examples:

    \b
        sincos note run-03 "lr too high: diverges after warm-up"
    """
    from sincos_cli.store.meta import write_meta
    from sincos_cli.store.runs import expand
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    for p in expand(pick_runs_dir(runs_dir), [target]):
        write_meta(p, note=text, set_note=True)
        print(visible(p.name, lines=False))


@guarded
@output_options(json="A JSON list: each run's id and what was done.",
                csv="CSV rows: id, done.")
def baselines(
    targets: Annotated[list[str], typer.Argument(
        metavar="RUN|SWEEP...", help="Runs, or sweeps (for all of their members).",
        autocompletion=complete_runs_and_sweeps)],
    runs_dir: RunsDir = None,
    output: Format = Format.TEXT,
):
    """Add the yardsticks (zero, the input, the best linear filter) to runs made before
    sincos kept them; a run that has them is left as it is.

    Prints each run and what was done (added, kept, or skipped and why). Only
    summary.json's "baselines" and "vs_linear" are written, under the run's lock.
    docs/baselines.md says what they are.

    Examples:

    \b
        sincos baselines run-03
        sincos baselines sweep-01
    """
    from sincos_cli.store.runs import expand
    from sincos_cli.store.runs import runs_dir as pick_runs_dir
    from sincos_cli.training.baselines import fill_in

    done = []
    for p in expand(pick_runs_dir(runs_dir), targets):
        done.append([p.name, fill_in(p)])
        if output is Format.TEXT:  # each as it is done: a large sweep takes a while
            write_rows(output, Rows(["id", "done"], done[-1:]))
    if output is not Format.TEXT:
        write_rows(output, Rows(["id", "done"], done))


def register(app) -> None:
    app.command()(show)
    app.command()(rm)
    app.command(context_settings={"ignore_unknown_options": True})(tag)
    app.command()(note)
    app.command()(baselines)

