"""`sincos compare`: runs side by side, or statistics over groups of them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import (
    RunsDir,
    _positive_float,
    complete_runs_and_sweeps,
    emit_json,
    guarded,
)


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
    from sincos_cli import compare as cmp
    from sincos_cli.runs import expand, list_runs, sweep_path
    from sincos_cli.runs import runs_dir as pick_runs_dir

    if as_json and as_csv:
        raise typer.BadParameter("choose one of --csv and --json", param_hint="--json")
    if plot is not None and plot.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise typer.BadParameter(f"unknown suffix {plot.suffix or '(none)'!r}: use .png, "
                                 ".svg or .pdf", param_hint="--plot")
    if plot is not None:
        from sincos_cli.runs import check_output

        check_output(plot, None)
    root = pick_runs_dir(runs_dir)
    paths = expand(root, runs) if runs else list_runs(root)
    keys = [k.strip().replace("-", "_") for k in group_by.split(",")] if group_by else None
    if keys is None and runs:
        sweeps = [sweep_path(root, r) for r in runs]
        if len(runs) == 1 and sweeps[0] is not None:  # a sweep groups by its grid keys
            from sincos_cli.runs import read_json

            keys = list(read_json(sweeps[0] / "sweep.json").get("grid", {})) or None
    if not paths:
        if as_json:
            emit_json([])
        else:
            print(f"No runs in {root} yet: start one with `sincos train`.", file=sys.stderr)
        return
    curves = None
    if plot is not None and keys is None:  # start reading the curves while rows load
        from sincos_cli.plot import Curves, columns_of

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
        from sincos_cli.plot import loss_curves

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
    from sincos_cli import compare as cmp
    from sincos_cli.stats import flatten, groups

    known = {k for r in rows for k in (*r.config, "status")}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise typer.BadParameter(f"unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(sorted(known))}", param_hint="--group-by")
    stats = groups(rows, keys, threshold)
    if plot is not None:
        from sincos_cli.plot import bands

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
