"""`sincos report`: one self-contained HTML page for a run, a sweep or a set of runs.

The numbers come from the functions `show` and `compare` use (show.run_info,
stats.groups, stats.paired, compare's cell formats), so the page and the terminal agree; the
pictures from report_figures; the HTML from page.py.

A part that cannot be shown (a damaged file, a missing checkpoint) becomes a note on the page
saying what and why, and a warning for the caller: the rest of the page is still made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import __version__
from . import compare as cmp
from . import page as P
from .compare import Row, load_row
from .config import TrainConfig
from .errors import SincosError, reason
from .runs import read_json, sort_key, utc_now
from .show import run_info

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
            if os.environ.get("SINCOS_DEBUG"):
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
    return P.Cell(cmp.cell(value, col), value)


NUMERIC = {"eval_mse", "final_loss", "best_loss", "steps", "train_seconds", "seed", "n",
           "ok", "completed", "failed", "eval_median", "eval_mean±std", "eval_min",
           "eval_max", "loss_median", "loss_mean±std", "loss_min", "loss_max", "shared",
           "ratio_median", "wilcoxon_p", "wins", "losses", "ties", "step", "rank", "score",
           "value", "default"}


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

def run_page(path: Path, opts: Options) -> tuple[str, list[str]]:
    rep = Report(opts)
    row = load_row(path)
    info = run_info(path, row)
    if not info["summary"] and (path / "summary.json").exists():
        # compare reads no further than a damaged config.json; the summary may be fine
        try:
            info["summary"] = read_json(path / "summary.json")
        except SincosError as e:
            rep.warnings.append(f"the summary: {e}")
    # The prediction needs torch (about a second to import): it runs in a process of its
    # own from here, while this one draws the loss and the replay, and is collected last.
    steps = int(info["summary"].get("steps") or info["config"].get("steps") or 1)
    pending = _start_prediction(path, info, steps)
    summary = rep.part("the summary", lambda: _summary(info))
    settings = rep.part("the settings", lambda: _settings(info, row))
    loss = rep.part("the loss curve", lambda: _loss(path, info))
    replayed = rep.part("the replay", lambda: replay(path, opts, f"{info['id']}'s training")) \
        if opts.animation != "none" else None
    predicted = rep.part("the prediction", lambda: _prediction(pending, info))
    sections = [P.section("summary", "Summary", summary),
                P.section("settings", "Settings", settings),
                P.section("loss", "Loss and learning rate", loss),
                P.section("prediction", "Prediction past training", predicted)]
    if replayed is not None:
        sections.append(P.section("replay", "Training replay", replayed))
    return rep.document(f"sincos · {info['id']}", _run_header(info, row), sections), \
        rep.warnings


def _run_header(info: dict, row: Row) -> str:
    s = info["summary"]
    secs = s.get("train_seconds")
    rate = s.get("steps_per_second")
    time = (f"{secs:.1f} s" + (f" ({rate:,.0f} steps/s)" if isinstance(rate, (int, float))
                               else "")) if isinstance(secs, (int, float)) else None
    group = f" (trained in a batched group of {info['group']})" if info.get("group") else ""
    out = [f"<h1>{P.esc(info['id'])} {P.status(info['status'])}</h1>"]
    if info["error"]:
        kind = "damaged" if row.problem else "error"
        out.append(P.note(P.esc(info["error"]), kind) if kind == "damaged" else
                   f'<p class="error">{P.esc(info["error"])}</p>')
    out.append(P.facts([
        ("created", P.esc(when(info["created"]))), ("ended", P.esc(when(info["ended"]))),
        ("training time", P.esc(time) if time else ""), ("host", P.esc(info["host"] or "")),
        ("sweep", P.esc(f"{info['sweep']}{group}") if info["sweep"] else ""),
        ("seed", P.esc(info["config"].get("seed", ""))),
        ("resumed", P.esc(", ".join(f"at step {r.get('at_step')}"
                                    for r in info["resumes"]))),
        ("tags", P.esc(" ".join(info["tags"]))), ("note", P.esc(info["note"] or ""))]))
    if info["reproduce"]:
        out.append(f"<p>Train it again:</p><pre>{P.esc(info['reproduce'])}</pre>")
    return "\n".join(out)


def when(iso) -> str:
    return "" if not iso else str(iso).replace("T", " ")[:19] + " UTC"


def _summary(info: dict) -> str:
    s = info["summary"]
    if not s:
        return P.note("No summary yet: the run has not ended" if info["status"] in (
            "running", "interrupted", "crashed") else "No summary.json", "note")
    steps_asked = info["config"].get("steps")
    rows = [["eval_mse", value_cell(s.get("eval_mse"), "eval_mse"),
             "MSE on fresh windows after training (what compare ranks by)"],
            ["final_loss", value_cell(s.get("final_loss"), "final_loss"),
             "training loss at the last step"],
            ["best_loss", value_cell(s.get("best_loss"), "best_loss"),
             f"lowest training loss, at step {s.get('best_step', '-')}"],
            ["steps", value_cell(s.get("steps"), "steps"),
             f"of {steps_asked} asked for" if steps_asked is not None else ""],
            ["train_seconds", value_cell(s.get("train_seconds"), "train_seconds"),
             "wall time of the training loop"]]
    return P.table(["result", "value", "meaning"], rows, numeric={"value"}, id="summary-table",
                   wrap=("meaning",))


def _settings(info: dict, row: Row) -> str:
    if not info["config"]:
        raise SincosError(row.problem or "config.json has no settings")
    default = TrainConfig()
    names = {f.name for f in fields(TrainConfig)}
    off = set(info["off_defaults"])
    body = []
    for k, v in info["config"].items():
        d = getattr(default, k) if k in names and k != "seed" else None  # no default seed
        mark = "✱ changed" if k in off else ""
        body.append([P.Cell(k, k), value_cell(v, k), value_cell(d, k), P.Cell(mark, mark)])
    caption = (f"{len(off)} setting{'s' * (len(off) != 1)} off the defaults (✱, in bold): "
               + ", ".join(k for k in info["config"] if k in off)) if off else \
        "Every setting at its default."
    return P.table(["setting", "value", "default", "off default"], body, P.esc(caption),
                   id="settings-table",
                   classes=["changed" if k in off else None for k in info["config"]])


def _loss(path: Path, info: dict) -> str:
    from . import report_figures as F

    pic = F.run_loss(path, info["summary"])
    return figure(pic, f"Training loss of {info['id']} by step, log scale, with the learning "
                  "rate", "Training loss by step (solid, log scale, left axis) and the learning "
                  "rate (dashed, right axis); the circle marks the best step.")


def _start_prediction(path: Path, info: dict, steps: int):
    """The prediction figure, started now; returns get() -> (picture, its numbers), which
    raises what computing it raised."""
    from . import report_figures as F

    if not (path / "checkpoint.pt").exists():
        def missing():
            raise SincosError("the run has no checkpoint.pt")
        return missing
    return F.later(F.prediction, path, info["config"], steps)


def _prediction(pending, info: dict) -> str:
    from . import report_figures as F

    pic, m = pending()
    before = f"{m['mse_before']:.3e}" if m["mse_before"] is not None else "-"
    return figure(pic, f"{info['id']}'s prediction against the truth before and past the end "
                  "of its training data", P.Html(
                      "The trained model fed from a zero state, against "
                  f"the truth (red, solid; prediction blue, dashed). The training data ends at "
                  f"x = {m['x_end']:.1f} (dotted line); the shaded part is new to the model. "
                  f"MSE past training: <b>{m['mse_past']:.3e}</b> over "
                  f"{F.PERIODS_AFTER} periods; over the {F.PERIODS_BEFORE} periods before: "
                  f"{before}."))


def replay(path: Path, opts: Options, what: str) -> str:
    """The GIF of training, or its last frame, as opts.animation says."""
    from . import report_figures as F

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

def set_page(rows: list[Row], opts: Options, selection: str) -> tuple[str, list[str]]:
    rep = Report(opts)
    rows = sorted(rows, key=lambda r: sort_key(r.id))
    cols = cmp.columns(rows, False)
    counts = status_counts(rows)
    sweeps = sorted({r.sweep for r in rows if r.sweep}, key=sort_key)
    header = "\n".join([
        f"<h1>{len(rows):,} run{'s' * (len(rows) != 1)}</h1>",
        P.facts([("selection", P.esc(selection)), ("status", P.esc(counts)),
                 ("sweeps", P.esc(", ".join(sweeps)))])])
    sections = [
        P.section("runs", "Runs", rep.part("the table", lambda: runs_table(
            rows, cols, "runs-table", "Results first, then the settings that differ. Click a "
            "header to sort."))),
        P.section("curves", "Loss curves", rep.part("the loss curves", lambda: _curves(
            rep, rows))),
        P.section("failures", "Failures", failures(rows)),
    ]
    return rep.document(f"sincos · {len(rows)} runs", header, sections), rep.warnings


def status_counts(rows: list[Row]) -> str:
    """`3 completed, 1 failed`: the rows by status, in status order."""
    by: dict[str, int] = {}
    for r in rows:
        by[r.status] = by.get(r.status, 0) + 1
    return ", ".join(f"{n:,} {st}" for st, n in sorted(by.items()))


def _curves(rep: Report, rows: list[Row]) -> str:
    from . import report_figures as F

    labelled = min(rep.opts.labelled, len(rows))
    pic, warnings = F.curves(rows, rep.opts.labelled)
    rep.warnings += warnings
    rest = len(rows) - labelled
    named = f"The {labelled} best by eval_mse are named" if rest else "Each is named"
    return figure(pic, f"Training loss curves of {len(rows)} runs, the best {labelled} named",
                  f"Training loss by step, log scale. {named}, each a colour and a dash "
                  "pattern" + (f"; the other {rest:,} are drawn faint behind them." if rest
                               else "."))


def sweep_page(sweep: Path, opts: Options) -> tuple[str, list[str]]:
    from .report_sweep import sweep_page as page

    return page(sweep, opts)
