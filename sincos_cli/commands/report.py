"""`sincos report`: one self-contained HTML page for a run, a sweep or a set of runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from sincos_cli.config import ANIMATIONS
from sincos_cli.errors import SincosError

from .common import (
    RunsDir,
    Where,
    _choices,
    _positive_float,
    complete_runs_and_sweeps,
    guarded,
    no_runs,
    parse_reference,
    say,
    select_rows,
)

Animation = _choices("Animation", ANIMATIONS)


@guarded
def report(
    runs: Annotated[list[str] | None, typer.Argument(
        metavar="RUN|SWEEP|SELECTORS…",
        help="One run (id, number, latest or path): its page. One sweep: its page. "
        "Several, or --where: a page for the set (a sweep stands for its members).",
        show_default="every run", autocompletion=complete_runs_and_sweeps)] = None,
    where: Where = None,
    out: Annotated[str | None, typer.Option(
        "--out", "-o", help="The HTML file to write, or '-' for stdout (when it is not a "
        "terminal). Never inside a run or sweep folder.",
        show_default="report-ID.html, or report.html for a set, here")] = None,
    animation: Annotated[Animation | None, typer.Option(
        help="The training replay: gif (the whole replay as `sincos animate` draws it, about "
        "7 KB a frame), still (its last frame, about 30 KB) or none. A sweep shows its "
        "best, median and worst members'.",
        show_default="gif for a run, still for a sweep")] = None,
    max_frames: Annotated[int, typer.Option(
        min=1, help="--animation gif: at most this many frames in each replay.")] = 600,
    threshold: Annotated[float, typer.Option(
        callback=_positive_float, help="A run is ok when its eval_mse is at most this.")
    ] = 1e-4,
    reference: Annotated[str | None, typer.Option(
        help="A sweep's paired comparisons: the reference group, KEY=VALUE[,KEY=VALUE].",
        show_default="the first group")] = None,
    labels: Annotated[int, typer.Option(
        min=1, max=20, help="A set's loss plot: name this many of the best curves.")] = 20,
    runs_dir: RunsDir = None,
):
    """Write one HTML page that holds everything it shows (no network, no other file);
    prints its path.

    A run: its header, settings, summary, loss and learning rate, its prediction past the
    training data and its replay. A sweep: its grid and seeds, groups with 95% intervals
    and bands, halving rungs, paired comparisons, every member (a table that sorts by its
    headers), the best, median and worst members, and failures. A set: the compare table
    and the loss curves.

    Examples:

    \b
        sincos report run-01
        sincos report sweep-01 --out study.html
        sincos report --where tag=baseline --out baseline.html
    """
    from sincos_cli.report.parts import Options
    from sincos_cli.report.run_page import run_page
    from sincos_cli.report.set_page import set_page
    from sincos_cli.report.sweep_page import sweep_page
    from sincos_cli.store.runs import check_output, resolve, sweep_path
    from sincos_cli.store.runs import runs_dir as pick_runs_dir

    _check_out(out)
    root = pick_runs_dir(runs_dir)
    single = runs[0] if runs and len(runs) == 1 and not where else None
    sweep = sweep_path(root, single) if single else None
    run = resolve(root, single) if single and sweep is None else None
    name = sweep.name if sweep else run.name if run else None
    dest = None if out == "-" else Path(out or (f"report-{name}.html" if name else
                                                "report.html"))
    if dest is not None:
        check_output(dest, None)
    ref = _reference(reference, sweep)
    rows = None
    if name is None:  # a set: compare's selection
        rows = select_rows(root, runs, where or [])
        if not rows:
            if not (runs or where):
                no_runs(root)
                raise typer.Exit(1)
            raise SincosError("no runs match: nothing to report")
    kind = "gif" if run is not None else "still"
    opts = Options(animation=(animation.value if animation else kind),
                      max_frames=max_frames, threshold=threshold, reference=ref,
                      labelled=labels, command=_command())
    if sweep is not None:
        html, warnings = sweep_page(sweep, opts)
    elif run is not None:
        html, warnings = run_page(run, opts)
    else:
        what = " ".join(runs or ["every run"]) + (
            f" where {' and '.join(where)}" if where else "")
        html, warnings = set_page(rows, opts, what)
    for w in warnings:
        say(f"warning: {w}")
    if dest is None:
        sys.stdout.write(html)
        sys.stdout.flush()
        return
    from sincos_cli.store.files import atomic_target

    with atomic_target(dest) as tmp:
        tmp.write_text(html, encoding="utf-8", errors="replace")
    print(dest)


def _check_out(out: str | None) -> None:
    if out == "-" and sys.stdout.isatty():
        raise typer.BadParameter("stdout is a terminal: redirect it (> report.html) or give "
                                 "a file", param_hint="--out")
    if out not in (None, "-") and Path(out).suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(f"expected an .html file, got {out!r}", param_hint="--out")


def _reference(reference: str | None, sweep: Path | None) -> dict | None:
    """--reference, parsed against the sweep's grouping keys (a sweep's page only)."""
    if reference is None:
        return None
    if sweep is None:
        raise typer.BadParameter("--reference is for a sweep's page", param_hint="--reference")
    from sincos_cli.store.sweep_doc import SweepDoc

    return parse_reference(reference, SweepDoc.load(sweep).group_keys())


def _command() -> str:
    import shlex

    from .common import ARGV

    return shlex.join(ARGV)
