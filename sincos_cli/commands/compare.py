"""`sincos compare`: runs side by side (sweeps folded to a row each), or statistics over
groups of them."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from .common import (
    RunsDir,
    Where,
    _positive_float,
    complete_runs_and_sweeps,
    guarded,
    no_runs,
    parse_reference,
    say,
    select_rows,
)
from .output import Format, Rows, output_options, write_rows


@guarded
@output_options(json="A JSON list: each run's status, error, sweep, tags, note, argv, host, "
                "config and summary (with --group-by: each group's statistics).",
                csv="CSV rows.")
def compare(
    runs: Annotated[list[str] | None, typer.Argument(
        metavar="RUN|SWEEP",
        help="Runs to compare (id, number, latest or path; a sweep id stands for its "
        "members).", show_default="every run, sweeps folded",
        autocompletion=complete_runs_and_sweeps)] = None,
    where: Where = None,
    last: Annotated[int | None, typer.Option(
        min=1, help="Only the N most recently created runs (after --where).",
        show_default=False)] = None,
    best: Annotated[int | None, typer.Option(
        min=1, help="Only the best N by --sort (default: eval_mse).", show_default=False)
    ] = None,
    sort: Annotated[str | None, typer.Option(
        help="Sort by a column: id, status, eval_mse, final_loss, best_loss, steps, "
        "train_seconds, created, or a setting (hidden, lr…); -NAME sorts descending. With "
        "--group-by: a key, n, ok, completed, failed, eval_median, eval_mean, eval_min, "
        "eval_max, vs_linear_median, linear_median, loss_median…", show_default="by id")] = None,
    flat: Annotated[bool, typer.Option(
        "--flat", help="Every run on its own row (with no run named, sweeps are folded "
        "to one row each in the table).")] = False,
    show_all: Annotated[bool, typer.Option(
        "--all", help="Show every setting, not only those that differ.")] = False,
    plot: Annotated[Path | None, typer.Option(
        help="Also draw the loss curves to this .png, .svg or .pdf (with --group-by: each "
        "group's median and 10–90 percentile band).", show_default=False)] = None,
    x_range: Annotated[str | None, typer.Option(
        help="--plot: the steps to show, START:END (either may be left out: 500:).",
        show_default="every step")] = None,
    group_by: Annotated[str | None, typer.Option(
        help="KEY[,KEY]: one row per group of runs with statistics over them (for a sweep, "
        "default: its grid keys).", show_default=False)] = None,
    intervals: Annotated[bool, typer.Option(
        "--intervals/--no-intervals", help="--group-by: a 95% interval with every median "
        "(order statistics), IQM (interquartile mean; expanded percentile bootstrap, seeded) "
        "and ok share (exact, Clopper-Pearson); n/a under 6 runs (3 for ok). The mean has "
        "none.")] = True,
    profile: Annotated[Path | None, typer.Option(
        help="--group-by: draw each group's performance profile (the share of its seeds "
        "with eval_mse at or under each threshold, with a pointwise exact 95% band) to "
        "this .png, .svg or .pdf.", show_default=False)] = None,
    paired: Annotated[bool, typer.Option(
        "--paired", help="--group-by: each group against a reference, seed by seed: the "
        "median eval_mse ratio and the probability of improvement with their 95% "
        "intervals, a Wilcoxon signed-rank p-value, and wins/losses over the shared "
        "seeds.")] = False,
    power: Annotated[float | None, typer.Option(
        min=0.5, max=0.99, help="--paired: the power wanted (0.8): how many seeds a study "
        "needs to detect --effect, simulated from the shared seeds' spread.",
        show_default=False)] = None,
    effect: Annotated[str | None, typer.Option(
        help="--power: the eval_mse ratio to detect against the reference (0.8x: 20% "
        "lower).", show_default="0.8x")] = None,
    reference: Annotated[str | None, typer.Option(
        help="--paired: the reference group, KEY=VALUE[,KEY=VALUE].",
        show_default="the first group")] = None,
    threshold: Annotated[float, typer.Option(
        callback=_positive_float, help="--group-by: a run is ok when its eval_mse is at "
        "most this.")] = 1e-4,
    runs_dir: RunsDir = None,
    output: Format = Format.TEXT,
):
    """Show runs side by side: how each did, then what differs. With no run named, every
    run, each sweep folded to one row (--flat: every run).

    Examples:

    \b
        sincos compare --sort eval_mse --best 10
        sincos compare --where hidden=20 --where 'eval_mse<1e-3'
        sincos compare sweep-01 --group-by hidden --plot bands.png
    """
    from sincos_cli.store.record import columns
    from sincos_cli.store.runs import runs_dir as pick_runs_dir
    from sincos_cli.views.table import cell, print_table, table_value

    for path, hint in ((plot, "--plot"), (profile, "--profile")):
        if path is not None:
            _check_figure(path, hint)
    if effect is not None and not power:
        raise typer.BadParameter("is for --power (the seeds a study needs to detect it)",
                                 param_hint="--effect")
    pairing = Pairing(paired, reference, power, _effect(effect or "0.8x") if power else None)
    xr = _x_range(x_range) if x_range is not None else None
    root = pick_runs_dir(runs_dir)
    keys = _group_keys(root, group_by, runs)
    curves = None
    if plot is not None and keys is None and not (where or best or last):
        # start reading the curves while the rows load
        from sincos_cli.store.runs import expand, list_runs
        from sincos_cli.views.plot import Curves, columns_of

        curves = Curves(expand(root, runs) if runs else list_runs(root), columns_of())
    rows = select_rows(root, runs, where or [])
    if not rows:
        if output is Format.JSON:
            write_rows(output, Rows([], [], records=[]))
        elif not (where or runs):
            no_runs(root)
        else:
            print("No runs match.", file=sys.stderr)
        return
    if keys is not None:
        return _compare_groups(rows, keys, threshold, sort, output, plot, intervals,
                               pairing, profile)
    for given, hint in ((paired or reference or power, "--paired"), (profile, "--profile")):
        if given:
            raise typer.BadParameter(f"{hint} compares groups: use it with --group-by",
                                     param_hint=hint)
    cols = columns(rows, show_all)
    rows = _sorted_rows(rows, cols, sort, best, last)
    if plot is not None:
        from sincos_cli.views.plot import loss_curves

        for w in loss_curves(rows, plot, curves=curves, by_sort=sort is not None,
                             x_range=xr):
            say(f"warning: {w}")
        if output is not Format.TEXT:
            print(f"wrote {plot}", file=sys.stderr)
    if output is not Format.TEXT:
        write_rows(output, _run_rows(rows, cols))
    elif plot is not None:
        print(plot)
    elif not (runs or flat or best or last):
        _folded(rows, root, show_all)
    else:
        print_table(cols, [[cell(table_value(r, c), c) for c in cols]
                               for r in rows])


def _run_rows(rows: list, cols: list[str]) -> Rows:
    """The runs as rows: for CSV the table's columns, the error beside the status, the tags
    last; for JSON each run's whole record."""
    from sincos_cli.views.table import table_value

    cols = [*cols[:2], "error", *cols[2:]] if "tags" in cols else \
        [*cols[:2], "error", *cols[2:], "tags"]
    return Rows(cols, [[table_value(r, c) if c == "tags" else
                        (r.error if c == "error" else r.value(c)) for c in cols]
                       for r in rows], records=[r.to_json() for r in rows])


def _group_keys(root, group_by: str | None, runs: list[str] | None) -> list[str] | None:
    """--group-by's keys (each once), or a lone sweep's grouping keys, or None."""
    keys = [k.strip().replace("-", "_") for k in group_by.split(",")] if group_by else None
    twice = sorted({k for k in keys or [] if keys.count(k) > 1})
    if twice:
        raise typer.BadParameter(f"names {', '.join(twice)} twice", param_hint="--group-by")
    if keys is None and runs and len(runs) == 1:
        from sincos_cli.store.runs import sweep_path
        from sincos_cli.store.sweep_doc import SweepDoc

        sweep = sweep_path(root, runs[0])
        if sweep is not None:  # a sweep groups by its grid keys (and held-out seeds apart)
            keys = SweepDoc.load(sweep).group_keys() or None
    return keys


def _sorted_rows(rows: list, cols: list[str], sort: str | None, best: int | None,
                 last: int | None) -> list:
    """The rows by --sort (eval_mse for --best), the best N, the newest N."""
    from sincos_cli.store.query import sort_rows

    known = sorted({*cols, *(k for r in rows for k in (*r.config, *r.summary))} - {"tags"})
    try:
        rows = sort_rows(rows, sort or ("eval_mse" if best else None), known)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--sort") from None
    if best:
        rows = rows[:best]
    if last:
        newest = sorted(rows, key=lambda r: str(r.created or ""))[-last:]
        rows = [r for r in rows if r in newest]
    return rows


def _x_range(text: str) -> tuple[float | None, float | None]:
    import math

    lo, sep, hi = text.partition(":")
    try:
        pair = (float(lo) if lo.strip() else None, float(hi) if hi.strip() else None)
    except ValueError:
        pair = None
    if not sep or pair is None or not all(v is None or math.isfinite(v) for v in pair) or \
            (None not in pair and pair[0] >= pair[1]):
        raise typer.BadParameter(f"expected START:END with START < END, got {text!r}",
                                 param_hint="--x-range")
    return pair


@dataclass(frozen=True)
class Pairing:
    """--paired and what goes with it, as given."""

    paired: bool = False
    reference: str | None = None
    power: float | None = None
    effect: float | None = None

    @property
    def asked(self) -> bool:
        return bool(self.paired or self.reference or self.power)


def _check_figure(path: Path, hint: str) -> None:
    from sincos_cli.store.runs import check_output

    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise typer.BadParameter(f"unknown suffix {path.suffix or '(none)'!r}: use .png, "
                                 ".svg or .pdf", param_hint=hint)
    check_output(path, None)


def _effect(text: str) -> float:
    from sincos_cli.stats.power import parse_effect

    try:
        return parse_effect(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--effect") from None


def _paired(rows, keys: list[str], pairing: Pairing):
    from sincos_cli.stats.groups import paired as pair

    ref = parse_reference(pairing.reference, keys) if pairing.reference is not None else None
    power = (pairing.power, pairing.effect) if pairing.power else None
    try:
        return pair(rows, keys, ref, power)
    except ValueError as e:
        hint = "--reference" if str(e).startswith("no group has") else "--paired"
        raise typer.BadParameter(str(e), param_hint=hint) from None


def _folded(rows, root: Path, show_all: bool) -> None:
    """The table with each sweep as one row, then the runs outside sweeps."""
    from sincos_cli.store.query import fold
    from sincos_cli.store.record import columns
    from sincos_cli.views.table import cell, print_table, table_value

    sweeps, loose = fold(rows, root)
    if sweeps:
        cols = ["id", "status", "members", "eval_median", "eval_best", "grid"]
        body = []
        for sw in sweeps:
            counts = ", ".join(f"{n} {st}" for st, n in sorted(sw.by_status.items()))
            body.append([sw.id, sw.status, f"{sw.size}: {counts}",
                         cell(sw.eval_median, "eval_mse"), cell(sw.eval_best, "eval_mse"),
                         " × ".join(sw.grid) or "seeds"])
        print_table(cols, body)
        if loose:
            print(file=sys.stdout)
    if loose:
        cols = columns(loose, show_all)
        print_table(cols, [[cell(table_value(r, c), c) for c in cols]
                               for r in loose])
    if sweeps:
        print(f"({len(sweeps)} sweep{'s' * (len(sweeps) > 1)} folded: name one, e.g. "
              f"`sincos compare {sweeps[0].id}`, or --flat for every run)", file=sys.stderr)


def _compare_groups(rows, keys: list[str], threshold: float, sort: str | None,
                    output: Format, plot: Path | None, intervals: bool,
                    pairing: Pairing, profile: Path | None = None) -> None:
    from sincos_cli.stats.groups import flatten, groups
    from sincos_cli.store.query import sort_groups
    from sincos_cli.views.table import group_table, paired_table, print_table

    known = {k for r in rows for k in (*r.config, "status", "set")}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise typer.BadParameter(f"unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(sorted(known))}", param_hint="--group-by")
    try:
        stats = groups(rows, keys, threshold, intervals)  # first-seen order, as the plot's
        shown = sort_groups(stats, sort, keys)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--sort") from None
    pairs = _paired(rows, keys, pairing) if pairing.asked else None
    if pairs is not None:
        by_point = {repr([p[k] for k in keys]): p for p in pairs}
        for g in stats:
            p = by_point[repr([g[k] for k in keys])]
            g["paired"] = {k: v for k, v in p.items() if k not in keys}
    if plot is not None:
        from sincos_cli.views.plot import bands

        for w in bands(rows, keys, plot, stats=stats):
            say(f"warning: {w}")
        if output is not Format.TEXT:
            print(f"wrote {plot}", file=sys.stderr)
    if profile is not None:
        from sincos_cli.stats.profiles import profiles
        from sincos_cli.views.profiles import profile_figure

        profile_figure(profiles(rows, keys), profile, threshold=threshold)
        print(f"wrote {profile}", file=sys.stderr)
    if output is not Format.TEXT:
        flat = [flatten(g) for g in shown]
        cols = list(dict.fromkeys(k for f in flat for k in f))  # every column any row has
        write_rows(output, Rows(cols, [[f.get(c) for c in cols] for f in flat], shown))
    elif plot is not None:
        print(plot)
    else:
        print_table(*group_table(shown, keys))
        if pairs is not None:
            print()
            print_table(*paired_table(pairs, keys))
            if pairing.power:
                _print_power(pairs, keys, pairing)


def _print_power(pairs: list[dict], keys: list[str], pairing: Pairing) -> None:
    """How many seeds each comparison needs, one line each, after the paired table."""
    from sincos_cli.stats.power import ALPHA, MAX_SEEDS, RANGE_PILOTS

    print(f"\nseeds for {pairing.power:.0%} power to detect {pairing.effect:g}× eval_mse "
          f"(the exact Wilcoxon signed-rank test, α = {ALPHA:g}, on studies simulated from "
          f"the shared seeds' spread; [the middle half of the answers at {RANGE_PILOTS} "
          "spreads the pilot could have come from]):")
    for p in pairs:
        if p.get("is_reference") or "power" not in p:
            continue
        pw = p["power"]
        need = f"{pw['needed']:,}" if pw["needed"] is not None else f"more than {MAX_SEEDS:,}"
        span = pw.get("needed_range")
        if span and pw["needed"] is not None:
            hi = f"{span[1]:,}" if span[1] is not None else "more"
            need += f" [{span[0]:,}, {hi}]"
        point = ", ".join(f"{k}={p[k]}" for k in keys)
        print(f"  {point} vs {p['reference']}: {need} needed, {pw['has']} here "
              f"(power now {pw['power_now']:.2f})")
