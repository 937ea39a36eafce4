"""Tables on the terminal: compare's cells, columns fitted to the width, and the group and
paired tables (standard library and rich only: listing runs never imports torch)."""

from __future__ import annotations

import math

from sincos_cli.status import RunStatus
from sincos_cli.store.record import Row


def table_value(row: Row, col: str):
    """A row's value for a table column: a failed run's status carries its error."""
    if col == "status" and row.error and row.status in ("failed", "corrupt"):
        text = f"{row.status}: {row.error}"
        return text if len(text) <= 40 else text[:39] + "…"
    if col == "tags":
        return ",".join(row.tags) or None
    return row.value(col)


def cell(value, key: str) -> str:
    if value is None:
        return "-"
    if key == "created":
        return str(value).replace("T", " ")[:16]
    if isinstance(value, bool):
        return str(value).lower()  # as in CSV and JSON
    if isinstance(value, float):
        if key == "train_seconds":
            return f"{value:.2f}"
        if not math.isfinite(value):
            return str(value)
        if key == "vs_linear":
            return f"{value:.3g}×"
        return f"{value:.3e}" if key in ("final_loss", "best_loss", "eval_mse", "linear") \
            else f"{value:g}"
    return str(value)


def plain_table(header: list[str], body: list[list[str]]) -> str:
    """Aligned columns, two spaces apart: no box characters, no colour."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    return "\n".join(lines) + "\n"


SHORT = {"final_loss": "final", "best_loss": "best", "eval_mse": "eval",
         "train_seconds": "secs", RunStatus.COMPLETED: "done", "created": "created",
         "vs_linear_median": "vs_linear", "linear_median": "linear"}
# Never dropped to fit: what a run is, and how it did.
KEEP = ("id", "status", "eval_mse", "final_loss", "eval_median", "ok", "members")
# Dropped first: times, then spreads; settings go (from the right) before any result.
DROP_FIRST = ("created", "train_seconds", "tags", "loss_min", "loss_max", "linear_median",
              "eval_min", "eval_max", "loss_mean±std", "loss_iqm", "loss_median",
              "eval_mean±std", RunStatus.COMPLETED, RunStatus.FAILED, "eval_iqm")
DROP_LAST = ("steps", "best_loss", "eval_best", "grid")


def fit(cols: list[str], body: list[list[str]], width: int):
    """Columns that fit `width` characters with rich's simple table (a column's width plus
    3): shorter headers first, then columns dropped: times and spreads, then settings from
    the right, then steps and best_loss; never id, status and the main results (KEEP).
    Returns (headers, kept column indices, dropped column names)."""
    def need(heads, keep):
        return sum(max(len(heads[i]), *(len(r[i]) for r in body)) if body else len(heads[i])
                   for i in keep) + 3 * len(keep)

    keep = list(range(len(cols)))
    heads = list(cols)
    if need(heads, keep) > width:
        heads = [SHORT.get(c, c) for c in cols]
    settings = [c for c in reversed(cols)
                if c not in KEEP and c not in DROP_FIRST and c not in DROP_LAST]
    dropped = []
    for name in (*DROP_FIRST, *settings, *DROP_LAST):
        if need(heads, keep) <= width:
            break
        if name in cols and cols.index(name) in keep:
            keep.remove(cols.index(name))
            dropped.append(name)
    return heads, keep, dropped


def print_table(cols: list[str], body: list[list[str]]) -> None:
    """A rich table fitted to the terminal, one line a row; plain aligned text (no box
    characters, no colour, every column) when stdout is not a terminal."""
    import sys

    from sincos_cli.text import visible

    # text from folders: escaped, one line a cell (text.py)
    cols = [visible(c, lines=False) for c in cols]
    body = [[visible(c, lines=False) for c in row] for row in body]
    if not sys.stdout.isatty():
        sys.stdout.write(plain_table(cols, body))
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    heads, keep, dropped = fit(cols, body, console.width)
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False)
    for i in keep:
        left = cols[i] in ("id", "status", "created", "tags", "grid", "members")
        table.add_column(Text(heads[i]), no_wrap=True, overflow="ellipsis",
                         justify="left" if left else "right")
    for row in body:
        table.add_row(*[Text(row[i]) for i in keep])  # shown as text, never as markup
    console.print(table)
    if dropped:
        print(f"({len(dropped)} column{'s' * (len(dropped) > 1)} left out to fit the "
              f"terminal: {', '.join(dropped)}; --csv or --json show all)", file=sys.stderr)


def paired_table(pairs: list[dict], keys: list[str]) -> tuple[list[str], list[list[str]]]:
    """--paired's table: each group against the reference, over their shared seeds; the
    last column, how many of those seeds diverged or failed (each its seed's worst): the
    group's / the reference's."""
    cols = [*keys, "vs", "shared", "ratio_median", "p_improve", "wilcoxon_p", "wins", "losses",
            "ties", "diverged"]
    body = []
    for p in pairs:
        head = [cell(p[k], k) for k in keys]
        if p.get("is_reference"):
            body.append(head + ["(reference)", str(p["shared"]), "1", "-", "-", "-", "-", "-",
                                "-"])
        elif "note" in p:
            body.append(head + [p["reference"], str(p["shared"]), p["note"], "", "", "", "", "",
                                ""])
        else:
            body.append(head + [p["reference"], str(p["shared"]),
                                f"{p['ratio_median']:.3g}{_span(p['ratio_ci'], '{:.3g}')}",
                                f"{p['p_improve']:.2f}{_span(p['p_improve_ci'], '{:.2f}')}",
                                f"{p['wilcoxon_p']:.2g}", str(p["wins"]), str(p["losses"]),
                                str(p["ties"]),
                                f"{p['diverged']} / {p['reference_diverged']}"])
    return cols, body


def _span(ci, fmt: str) -> str:
    """ [low, high], or [n/a] where there are too few runs for an interval."""
    return " [n/a]" if ci is None else f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def group_table(stats: list[dict], keys: list[str]) -> tuple[list[str], list[list[str]]]:
    """--group-by's table: the keys, n, ok (with its 95% interval), completed, failed,
    diverged, then eval_mse and final_loss as median and IQM [95% interval], mean ± std, min
    and max, over the runs that ended (a failed or diverged one as the worst: inf). Where
    the runs have yardsticks, vs_linear's median [95% interval] and the linear filter's
    median MSE follow eval_mse's. An interval over too few runs (3 for ok, 6 for a median
    or IQM) reads n/a."""
    def num(v, fmt="{:.2e}"):
        return "-" if v is None else fmt.format(v)

    def ci(d, name, fmt="{:.1e}"):
        return _span(d[name], fmt) if name in d else ""

    def with_ci(d, stat, fmt="{:.2e}", ci_fmt="{:.1e}"):
        return num(d[stat], fmt) + (ci(d, f"{stat}_ci", ci_fmt) if d[stat] is not None else "")

    yard = bool(stats) and "vs_linear" in stats[0]
    cols = [*keys, "n", "ok", RunStatus.COMPLETED, RunStatus.FAILED, "diverged", "eval_median",
            "eval_iqm", "eval_mean±std", "eval_min", "eval_max",
            *(("vs_linear_median", "linear_median") if yard else ()), "loss_median",
            "loss_iqm", "loss_mean±std", "loss_min", "loss_max"]
    body = []
    for g in stats:
        row = [cell(g[k], k) for k in keys] + [str(g["n"]), g["ok"] + ci(g, "ok_ci", "{:.2f}"),
                                              str(g[RunStatus.COMPLETED]), str(g[RunStatus.FAILED]),
                                              str(g["diverged"])]
        for m in ("eval_mse", "final_loss"):
            d = g[m]
            row += [with_ci(d, "median"), with_ci(d, "iqm"),
                    f"{num(d['mean'])}±{num(d['std'], '{:.1e}')}" if d["mean"] is not None
                    else "-", num(d["min"]), num(d["max"])]
            if m == "eval_mse" and yard:
                row += [with_ci(g["vs_linear"], "median", "{:.3g}×", "{:.3g}"),
                        num(g["linear"]["median"])]
        body.append(row)
    return cols, body
