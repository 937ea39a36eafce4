"""What every report page shares: its options, the page being made (a damaged part becomes a
note), the runs table, status cells, failures and the replay.

The numbers come from the functions `show` and `compare` use (show.run_info,
stats.groups (groups, paired), compare's cell formats), so the page and the terminal agree; the
pictures from figures.py; the HTML from html.py.

A part that cannot be shown (a damaged file, a missing checkpoint) becomes a note on the page
saying what and why, and a warning for the caller: the rest of the page is still made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sincos_cli import __version__
from sincos_cli.errors import debugging, reason
from sincos_cli.status import RunStatus
from sincos_cli.store.record import Row
from sincos_cli.store.runs import utc_now
from sincos_cli.views.table import cell

from . import html as P

Picture = tuple[bytes, str, tuple[int, int]]
FAILED = ("failed", "crashed", "corrupt", "unreadable", "missing")


@dataclass
class Options:
    animation: str = "gif"  # the replay: gif, still (its last frame) or none
    max_frames: int = 600  # frames of a GIF at most (animate's default)
    threshold: float = 1e-4  # a run is ok when its eval_mse is at most this
    reference: dict | None = None  # the paired comparisons' reference group
    labelled: int = 20  # curves named in the legend of a set's plot
    command: str = "sincos report"  # what made the page, for its footer


@dataclass
class Report:
    """One page being made: its options and the warnings of the parts that could not be."""

    opts: Options
    warnings: list[str] = field(default_factory=list)

    def part(self, what: str, build) -> str:
        """build()'s HTML, or a note saying why `what` cannot be shown."""
        try:
            return build()
        except Exception as e:  # a damaged file of any kind: the page goes on without it
            if debugging():
                raise
            why = reason(e)
            self.warnings.append(f"{what}: {why}")
            return P.note(f"{what[:1].upper() + what[1:]} cannot be shown: {why}", "damaged")

    def document(self, title: str, header: str, sections: list[str]) -> str:
        made = utc_now()[:16].replace("T", " ")
        footer = (f"Made by sincos {P.esc(__version__)} on {P.esc(made)} UTC with "
                  f"<code>{P.esc(self.opts.command)}</code>. This page is one "
                  "file: it needs no network and no other file.")
        return P.document(title, header, sections, footer)


def figure(pic: Picture, alt: str, caption: str) -> str:
    data, mime, size = pic
    return P.figure(data, mime, alt, caption, size if size[0] else None)


# -- cells ----------------------------------------------------------------------------------

def status_cell(row: Row) -> P.Cell:
    why = row.error or row.problem
    # a pruned member's reason is its rung's (the halving section shows them)
    extra = f'<br><span class="note">{P.esc(why)}</span>' if why and row.status in (
        *FAILED, "interrupted") else ""
    return P.Cell(value=row.status, html=P.Html(P.status(row.status) + extra))


def value_cell(value, col: str) -> P.Cell:
    return P.Cell(cell(value, col), value)


NUMERIC = {"eval_mse", "final_loss", "best_loss", "steps", "train_seconds", "seed", "n",
           "ok", RunStatus.COMPLETED, RunStatus.FAILED, "eval_median", "eval_iqm", "eval_mean±std",
           "eval_min", "eval_max", "loss_median", "loss_iqm", "loss_mean±std", "loss_min",
           "loss_max", "vs_linear_median", "linear_median", "vs_linear", "linear", "shared",
           "ratio_median", "p_improve", "wilcoxon_p", "wins", "losses",
           "ties", "step", "rank", "score", "value", "default"}


def runs_table(rows: list[Row], cols: list[str], id: str, caption: str) -> str:
    """Rows as compare's table (its columns and formats), sortable, status with its error."""
    body = []
    for r in rows:
        line = []
        for c in cols:
            if c == "status":
                line.append(status_cell(r))
            elif c == "tags":
                line.append(P.Cell(", ".join(r.tags) or None, ",".join(r.tags) or None))
            else:
                line.append(value_cell(r.value(c), c))
        body.append(line)
    numeric = NUMERIC | {c for c in cols if any(isinstance(r.value(c), (int, float))
                                                and not isinstance(r.value(c), bool)
                                                for r in rows)}
    return P.table(cols, body, caption, sortable=True, numeric=numeric, id=id, wrap=("status",))


def failures(rows: list[Row]) -> str:
    bad = [r for r in rows if r.status in FAILED]
    if not bad:
        return P.note("None: every run was read, and none failed.")
    body = [[P.Cell(r.id, r.id), status_cell(r)] for r in bad]
    return P.table(["id", "status and error"], body,
                   f"{len(bad)} run{'s' * (len(bad) != 1)} failed or could not be read",
                   id="failures", wrap=("status and error",))


# -- a run ----------------------------------------------------------------------------------


def when(iso) -> str:
    return "" if not iso else str(iso).replace("T", " ")[:19] + " UTC"


def replay(path: Path, opts: Options, what: str) -> str:
    """The GIF of training, or its last frame, as opts.animation says."""
    from . import figures as F

    if opts.animation == "gif":
        pic, frames = F.animation(path, opts.max_frames)
        return figure(pic, f"Animation of {what}: each step's window, truth against "
                      "prediction", f"{what[:1].upper() + what[1:]}, {frames} frames at 10 per "
                      "second: truth red (solid), prediction blue (dashed). "
                      f"{len(pic[0]) / 1e6:.1f} MB.")
    pic, step = F.still(path)
    return figure(pic, f"The last traced step ({step}) of {what}: truth against prediction",
                  P.Html(f"The window of step {P.esc(step)}, the last traced, of "
                         f"{P.esc(what)}: truth red (solid), prediction blue (dashed). "
                         "<code>--animation gif</code> puts the whole replay here."))


# -- a set of runs ----------------------------------------------------------------------------


def status_counts(rows: list[Row]) -> str:
    """`3 completed, 1 failed`: the rows by status, in status order."""
    by: dict[str, int] = {}
    for r in rows:
        by[r.status] = by.get(r.status, 0) + 1
    return ", ".join(f"{n:,} {st}" for st, n in sorted(by.items()))


