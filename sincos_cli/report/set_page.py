"""A page for a set of runs: their table, loss curves and failures."""

from __future__ import annotations

from sincos_cli.store.record import Row, columns
from sincos_cli.store.runs import sort_key

from . import html as P
from .parts import Options, Report, failures, figure, runs_table, status_counts


def set_page(rows: list[Row], opts: Options, selection: str) -> tuple[str, list[str]]:
    rep = Report(opts)
    rows = sorted(rows, key=lambda r: sort_key(r.id))
    cols = columns(rows, False)
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


def _curves(rep: Report, rows: list[Row]) -> str:
    from . import figures as F

    labelled = min(rep.opts.labelled, len(rows))
    pic, warnings = F.curves(rows, rep.opts.labelled)
    rep.warnings += warnings
    rest = len(rows) - labelled
    named = f"The {labelled} best by eval_mse are named" if rest else "Each is named"
    return figure(pic, f"Training loss curves of {len(rows)} runs, the best {labelled} named",
                  f"Training loss by step, log scale. {named}, each a colour and a dash "
                  "pattern" + (f"; the other {rest:,} are drawn faint behind them." if rest
                               else "."))
