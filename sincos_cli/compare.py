"""Runs side by side: one row per run from run.json, config.json and summary.json.

Standard library only (the plot imports matplotlib itself): listing a thousand runs costs
little more than start-up, and never loads a checkpoint or imports torch.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from .config import LEGACY
from .errors import SincosError
from .runs import read_json, sort_key, status

RESULTS = ("eval_mse", "final_loss", "best_loss")  # shown right after id and status
TIMES = ("train_seconds", "created")
HIDDEN_SETTINGS = ("steps", "eval_batches")  # steps done has its own column


@dataclass
class Row:
    id: str
    path: Path
    status: str
    created: str | None = None
    config: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    problem: str | None = None  # why the row is `corrupt`
    error: str | None = None  # a failed or interrupted run's one-line reason
    sweep: str | None = None
    argv: list | None = None
    host: str | None = None
    tags: list = field(default_factory=list)
    note: str | None = None
    holdout: bool = False  # a sweep member trained on held-out seeds
    meta_problem: str | None = None  # why meta.json (tags, note) cannot be read

    def value(self, key: str):
        if key in ("id", "status", "created"):
            return getattr(self, key)
        if key == "steps":
            return self.summary.get("steps")
        if key in self.summary:
            return self.summary[key]
        return _plain(self.config.get(key))

    def setting(self, key: str):
        """A key as configured (what --group-by groups on): `steps` is the steps asked
        for, not those done, so a failed or interrupted member stays in its group."""
        if key in self.config:
            return _plain(self.config[key])
        if key == "set":  # a sweep's members: chosen on (selection) or held out
            return "holdout" if self.holdout else "selection"
        return self.value(key)

    def to_json(self) -> dict:
        """What run.json, config.json, summary.json and meta.json say of the run."""
        return {"id": self.id, "status": self.status, "error": self.error,
                "created": self.created, "sweep": self.sweep, "tags": self.tags,
                "note": self.note, "host": self.host, "argv": self.argv,
                "path": str(self.path), "config": self.config, "summary": self.summary,
                **({"problem": self.problem} if self.problem else {}),
                **({"meta_problem": self.meta_problem} if self.meta_problem else {})}


def _plain(v):
    return 0.0 if isinstance(v, float) and v == 0 else v  # -0.0 is 0.0


def load_row(path: Path) -> Row:
    """Everything `compare` shows about one run; a damaged run becomes a `corrupt` row."""
    row = Row(id=path.name, path=path, status="corrupt")
    if not os.access(path, os.R_OK | os.X_OK):
        row.status, row.problem = "unreadable", "permission denied"
        return row
    try:
        run = read_json(path / "run.json")
        row.created = run.get("created")
        row.error, row.sweep = run.get("error"), run.get("sweep")
        row.argv, row.host = run.get("argv"), run.get("host")
        row.holdout = run.get("holdout") is True
        # A setting added after the run was made reads as what it was trained with.
        config = read_json(path / "config.json")
        row.config = {**config, **{k: v for k, v in LEGACY.items() if k not in config}}
    except SincosError as e:
        row.problem = str(e)
        return row
    row.status = status(run)
    if os.path.lexists(path / "meta.json"):
        from .store import read_meta

        meta = read_meta(path)
        row.tags, row.note, row.meta_problem = meta["tags"], meta["note"], meta["problem"]
    if (path / "summary.json").exists():
        try:
            row.summary = read_json(path / "summary.json")
        except SincosError as e:
            row.status, row.problem = "corrupt", str(e)
    return row


def differing(rows: list[Row]) -> list[str]:
    """Settings whose values are not the same in every (readable) run, in config order."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r.config if k not in keys]
    good = [r for r in rows if r.status not in ("corrupt", "unreadable")]
    return [k for k in keys if k not in HIDDEN_SETTINGS
            and len({repr(r.config.get(k)) for r in good}) > 1]


def columns(rows: list[Row], show_all: bool) -> list[str]:
    """Results first (id, status, eval_mse, final_loss, best_loss, steps), then the
    settings that differ (all with show_all), then times, then tags where any run has one."""
    settings = differing(rows)
    if show_all:
        settings = []
        for r in rows:
            settings += [k for k in r.config if k not in settings and k not in HIDDEN_SETTINGS]
    tags = ["tags"] if any(r.tags for r in rows) else []
    return ["id", "status", *RESULTS, "steps", *settings, *TIMES, *tags]


def table_value(row: Row, col: str):
    """A row's value for a table column: a failed run's status carries its error."""
    if col == "status" and row.error and row.status in ("failed", "corrupt"):
        text = f"{row.status}: {row.error}"
        return text if len(text) <= 40 else text[:39] + "…"
    if col == "tags":
        return ",".join(row.tags) or None
    return row.value(col)


def _sorted(items, key: str, value):
    """Items by value(item, name) (`-name` descending), missing values always last."""
    desc, name = key.startswith("-"), key.lstrip("-")
    present = [r for r in items if value(r, name) is not None]
    missing = [r for r in items if value(r, name) is None]

    def k(r):
        v = value(r, name)
        return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))
    return sorted(present, key=k, reverse=desc) + missing


GROUP_SORT = {"eval_median": ("eval_mse", "median"), "eval_mean": ("eval_mse", "mean"),
              "eval_min": ("eval_mse", "min"), "eval_max": ("eval_mse", "max"),
              "loss_median": ("final_loss", "median"), "loss_mean": ("final_loss", "mean"),
              "loss_min": ("final_loss", "min"), "loss_max": ("final_loss", "max")}


def group_value(g: dict, name: str):
    if name in GROUP_SORT:
        metric, stat = GROUP_SORT[name]
        return g[metric][stat]
    if name == "ok":
        return g["ok_count"] / g["n"] if g["n"] else None
    return g.get(name)


def sort_groups(stats: list[dict], key: str | None, keys: list[str]) -> list[dict]:
    """--group-by rows by a column of their table (ok, n, eval_median…); ValueError naming
    the valid ones otherwise."""
    if not key:
        return stats
    known = [*keys, "n", "ok", "completed", "failed", *GROUP_SORT]
    if key.lstrip("-") not in known:
        raise ValueError(f"unknown column {key.lstrip('-')!r}; choose from {', '.join(known)}")
    return _sorted(stats, key, group_value)


def sort_rows(rows: list[Row], key: str | None, known: list[str]) -> list[Row]:
    """By run number, or by a column (`-col` descending); missing values always last."""
    rows = sorted(rows, key=lambda r: sort_key(r.id))
    if not key:
        return rows
    desc, name = key.startswith("-"), key.lstrip("-")
    if name not in known:
        raise ValueError(f"unknown column {name!r}; choose from {', '.join(known)}")
    if name == "id":
        return rows[::-1] if desc else rows
    return _sorted(rows, key, lambda r, n: r.value(n))


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
        return f"{value:.3e}" if key in ("final_loss", "best_loss", "eval_mse") else f"{value:g}"
    return str(value)


def plain_table(header: list[str], body: list[list[str]]) -> str:
    """Aligned columns, two spaces apart: no box characters, no colour."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *body]]
    return "\n".join(lines) + "\n"


SHORT = {"final_loss": "final", "best_loss": "best", "eval_mse": "eval",
         "train_seconds": "secs", "completed": "done", "created": "created"}
# Never dropped to fit: what a run is, and how it did.
KEEP = ("id", "status", "eval_mse", "final_loss", "eval_median", "ok", "members")
# Dropped first: times, then spreads; settings go (from the right) before any result.
DROP_FIRST = ("created", "train_seconds", "tags", "loss_min", "loss_max", "eval_min",
              "eval_max", "loss_mean±std", "loss_median", "eval_mean±std", "completed",
              "failed")
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

    from .text import visible

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
    """--paired's table: each group against the reference, over their shared seeds."""
    cols = [*keys, "vs", "shared", "ratio_median", "wilcoxon_p", "wins", "losses", "ties"]
    body = []
    for p in pairs:
        head = [cell(p[k], k) for k in keys]
        if p.get("is_reference"):
            body.append(head + ["(reference)", str(p["shared"]), "1", "-", "-", "-", "-"])
        elif "note" in p:
            body.append(head + [p["reference"], str(p["shared"]), p["note"], "", "", "", ""])
        else:
            ci = p["ratio_ci"]
            span = " [n/a]" if ci is None else f" [{ci[0]:.3g}, {ci[1]:.3g}]"
            body.append(head + [p["reference"], str(p["shared"]),
                                f"{p['ratio_median']:.3g}{span}", f"{p['wilcoxon_p']:.2g}",
                                str(p["wins"]), str(p["losses"]), str(p["ties"])])
    return cols, body


def group_table(stats: list[dict], keys: list[str]) -> tuple[list[str], list[list[str]]]:
    """--group-by's table: the keys, n, ok (with its 95% interval), completed, failed, then
    eval_mse and final_loss as median [95% interval], mean ± std, min and max. An
    interval over fewer than 3 runs reads n/a."""
    def num(v, fmt="{:.2e}"):
        return "-" if v is None else fmt.format(v)

    def ci(d, name, fmt="{:.1e}"):
        if name not in d:
            return ""
        v = d[name]
        return " [n/a]" if v is None else f" [{fmt.format(v[0])}, {fmt.format(v[1])}]"

    cols = [*keys, "n", "ok", "completed", "failed", "eval_median", "eval_mean±std",
            "eval_min", "eval_max", "loss_median", "loss_mean±std", "loss_min", "loss_max"]
    body = []
    for g in stats:
        row = [cell(g[k], k) for k in keys] + [str(g["n"]), g["ok"] + ci(g, "ok_ci", "{:.2f}"),
                                              str(g["completed"]), str(g["failed"])]
        for m in ("eval_mse", "final_loss"):
            d = g[m]
            row += [num(d["median"]) + (ci(d, "median_ci") if d["median"] is not None else ""),
                    f"{num(d['mean'])}±{num(d['std'], '{:.1e}')}" if d["mean"] is not None
                    else "-", num(d["min"]), num(d["max"])]
        body.append(row)
    return cols, body
