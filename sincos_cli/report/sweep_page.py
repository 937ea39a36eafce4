"""The report's sweep page: the grid and seeds, the groups with their intervals and bands,
the halving rungs, paired comparisons, every member, the best, median and worst members'
replays, and the failures."""

from __future__ import annotations

import shlex
from pathlib import Path

from sincos_cli.status import RunStatus
from sincos_cli.store.record import NUMBERS, Row, load_row
from sincos_cli.store.runs import is_member, sort_key
from sincos_cli.store.show import bounds, engine, ratio_words, seed_ranges
from sincos_cli.store.sweep_doc import Member, SweepDoc
from sincos_cli.views.table import cell, group_table, paired_table

from . import html as P
from .parts import (
    NUMERIC,
    Options,
    Report,
    failures,
    figure,
    replay,
    runs_table,
    status_counts,
    when,
)


def member_row(sweep: Path, m: Member, keys: list[str] | None = None) -> Row:
    """A member as compare reads it; one whose folder is gone (or is not a run folder of
    this sweep's) is `missing`. A member that cannot be read keeps the settings sweep.json
    gave it, so it still counts in its group. With `keys`, the row keeps only what the page
    reads (those settings, the seed, the summary's numbers): a few hundred bytes a member
    where the whole files would hold kilobytes."""
    path = sweep.parent / m.run
    if not is_member(sweep, path):
        row = Row(id=m.run, path=path, status="missing",
                  problem="its folder is gone, or is not this sweep's run folder (sincos "
                          "sweep --resume trains it again)")
    else:
        row = load_row(path)
    if not row.config:
        row.config = dict(m.config or {})
    row.holdout = row.holdout or m.holdout
    if keys is not None:
        kept = {"seed", *keys}
        row.config = {k: v for k, v in row.config.items() if k in kept}
        row.summary = {k: v for k, v in row.summary.items() if k in NUMBERS}
        row.argv, row.host, row.note, row.created = None, None, None, None
    return row


def sweep_page(sweep: Path, opts: Options) -> tuple[str, list[str]]:
    rep = Report(opts)
    doc = SweepDoc.load(sweep)
    keys = doc.group_keys()
    rows = [member_row(sweep, m, keys) for m in doc]
    for m in doc:  # the rows hold what the page needs of each member's settings
        m.config = {}
    sid = doc.id
    stats = []

    def groups() -> str:
        from sincos_cli.stats.groups import groups as make

        stats[:] = make(rows, keys, opts.threshold, intervals=True)
        return _groups(rep, rows, keys, stats)

    sections = [
        P.section("grid", "Grid and seeds", _grid(doc)),
        P.section("groups", "Groups", rep.part("the group statistics", groups)),
    ]
    if doc.halving:
        sections.append(P.section("halving", "Successive halving", rep.part(
            "the rungs", lambda: _halving(doc.halving))))
    if doc.until_decided:
        sections.append(P.section("rounds", "Rounds until decided", rep.part(
            "the rounds", lambda: _rounds(doc.until_decided))))
    if len(stats) > 1:
        sections.append(P.section("paired", "Paired comparisons", rep.part(
            "the paired comparisons", lambda: _paired(rows, keys, opts))))
    sections += [
        P.section("members", "Members", rep.part("the members table", lambda: _members(
            rows, keys, sid))),
        P.section("examples", "Best, median and worst members", rep.part(
            "the example members", lambda: _examples(rep, rows, keys))),
        P.section("failures", "Failures", failures(rows)),
    ]
    return rep.document(f"sincos · {sid}", _header(doc, sid, rows), sections), rep.warnings


def _header(doc: SweepDoc, sid: str, rows: list[Row]) -> str:
    st = doc.current_status()
    out = [f"<h1>{P.esc(sid)} {P.status(st)}</h1>",
           P.facts([("created", P.esc(when(doc.created))),
                    ("ended", P.esc(when(doc.ended))),
                    ("members", P.esc(f"{len(rows):,}: {status_counts(rows)}")),
                    ("engine", P.esc(engine(doc.batch)))])]
    if doc.argv:
        out.append(f"<p>Made with:</p><pre>{P.esc(shlex.join(map(str, doc.argv)))}</pre>")
    if st != RunStatus.COMPLETED:
        out.append(P.note(P.Html(f"Not finished: <code>sincos sweep --resume {P.esc(sid)}"
                                 "</code> trains what is left.")))
    return "\n".join(out)


def _grid(doc: SweepDoc) -> str:
    grid = doc.grid
    seeds = [m.seed for m in doc if not m.holdout]
    parts = []
    if grid:
        body = [[P.Cell(k, k), P.Cell(", ".join(cell(v, k) for v in vs)), len(vs)]
                for k, vs in grid.items()]
        n = 1
        for vs in grid.values():
            n *= len(vs)
        parts.append(P.table(["setting", "values", "count"], body,
                             f"{n} grid point{'s' * (n != 1)}", numeric={"count"},
                             id="grid-table"))
    else:
        parts.append(P.note("No grid: one setting, many seeds."))
    facts = [("seeds", P.esc(f"{seed_ranges(sorted(set(seeds)))} "
                             f"({len(set(seeds)):,} per point)"))]
    h = doc.holdout
    if h:
        chosen = "; ".join(" ".join(f"{k}={cell(v, k)}" for k, v in c["point"].items())
                           for c in h.get("chosen") or [])
        facts.append(("held-out seeds", P.esc(
            f"{seed_ranges(h['seeds'])}, for the top {h['top']} point"
            f"{'s' * (h['top'] != 1)} by {h.get('by', 'median')}"
            + (f": {chosen}" if chosen else " (not chosen yet)"))))
    base = doc.base
    if base:
        facts.append(("base settings", P.esc(" ".join(f"{k}={cell(v, k)}"
                                                      for k, v in base.items()))))
    parts.append(P.facts(facts))
    return "\n".join(parts)


GROUP_TITLES = {
    "n": "runs in the group, whatever their status; the statistics are over those that "
         "ended (completed or failed)",
    "ok": "runs that ended whose eval_mse is at most the threshold [95% exact Clopper-Pearson "
          "interval]",
    "diverged": "runs that failed or have no finite eval_mse: each counts as the worst (inf)",
    "eval_median": "median eval_mse [95% order-statistic interval, exact; n/a under 6 runs]",
    "eval_iqm": "interquartile mean of eval_mse, the mean of its middle half [95% expanded "
                "percentile bootstrap interval; n/a under 6 runs]",
    "eval_mean±std": "mean eval_mse ± its standard deviation (no interval: none covers a "
                     "skewed mean at tens of seeds)",
    "loss_median": "median final training loss [95% order-statistic interval]",
    "vs_linear_median": "median of each run's eval_mse over its best linear filter's [95% "
                        "order-statistic interval]; 1× is as good as a straight line",
    "linear_median": "median eval MSE of the best causal linear filter of the input "
                     "(the yardstick, fitted on each run's training stream)",
}


def _group_values(g: dict, keys: list[str]) -> list:
    """The exact numbers behind views.table.group_table's cells, in its column order."""
    vals = [g[k] for k in keys] + [
        g["n"], g["ok_count"] / g["counted"] if g["counted"] else None,
        g[RunStatus.COMPLETED], g[RunStatus.FAILED], g["diverged"]]
    for m in ("eval_mse", "final_loss"):
        d = g[m]
        vals += [d["median"], d["iqm"], d["mean"], d["min"], d["max"]]
        if m == "eval_mse" and "vs_linear" in g:
            vals += [g["vs_linear"]["median"], g["linear"]["median"]]
    return vals


def _groups(rep: Report, rows: list[Row], keys: list[str], stats: list[dict]) -> str:
    """compare --group-by's table, in two: eval_mse, then the final training loss (one
    table of sixteen columns would not fit a screen)."""
    from . import figures as F

    cols, body = group_table(stats, keys)
    cells = [[P.Cell(text, v) for text, v in zip(line, _group_values(g, keys), strict=True)]
             for line, g in zip(body, stats, strict=True)]
    first = len(keys) + 5  # the keys, n, ok, completed, failed, diverged
    evals = 5 + 2 * ("vs_linear_median" in cols)  # eval_mse's columns, then its yardsticks'
    loss = [i for i, c in enumerate(cols) if c.startswith("loss_")]
    parts = [(f"eval_mse (MSE on fresh windows after training) by grid point, over its seeds. "
              f"ok: eval_mse ≤ {rep.opts.threshold:g}. Over the members that ended; a failed or "
              "diverged one counts as the worst (inf). Brackets: 95% intervals (order "
              "statistics for a median, the expanded percentile bootstrap, seeded, for an "
              "IQM, exact Clopper-Pearson for ok), n/a under 6 runs (3 for ok).",
              list(range(first + evals)), "groups-table"),
             ("The final training loss by grid point, over its seeds.",
              list(range(len(keys))) + [len(keys)] + loss, "groups-loss-table")]
    tables = [P.table([cols[i] for i in idx], [[line[i] for i in idx] for line in cells],
                      caption, sortable=True, numeric=NUMERIC, id=id, titles=GROUP_TITLES)
              for caption, idx, id in parts]
    pic, warnings = F.bands(rows, keys, stats)
    rep.warnings += warnings
    label = ", ".join(keys) or "all members"
    prof = rep.part("the performance profile", lambda: figure(
        F.profile(rows, keys, rep.opts.threshold), f"Performance profile by group ({label})",
        "Performance profile: for each group, the share of its seeds whose eval_mse is at or "
        "under each threshold (log axis), with its pointwise exact 95% band. Higher and "
        "further left is better; a failed or diverged seed is above every threshold. "
        "Groups differ in dashes and "
        f"markers as well as colour; a dotted line marks the threshold, "
        f"{rep.opts.threshold:g}, when it falls among the seeds' values."))
    return tables[0] + prof + figure(
        pic, f"Median training loss by group ({label}) with 10–90 percentile bands",
        "Each group's median training loss by step (thick line) between its 10th and 90th "
        "percentiles over seeds (thin lines of the same colour and dashes, faint fill); the "
        "legend gives each group's median eval_mse and its 95% interval.") + tables[1]


def _halving(h: dict) -> str:
    out = [P.facts([("η", P.esc(h["eta"])), ("ranking rule", P.esc(h["rule"])),
                    ("rungs", P.esc(" → ".join(str(s) for s in h["rungs"]) + " steps"))])]
    history = h.get("history", [])
    if not history:
        return "\n".join(out + [P.note("No rung has been ranked yet.")])
    for rung in history:
        points = rung["points"]
        went = sum(1 for p in points if p["kept"])
        body = [[p["rank"], P.Cell(" ".join(f"{k}={cell(v, k)}"
                                            for k, v in p["point"].items())),
                 P.Cell("-" if p["score"] is None else f"{p['score']:.3e}", p["score"]),
                 P.Cell("✓ went on" if p["kept"] else f"✂ stopped at step {rung['step']}",
                        int(p["kept"]))]
                for p in points]
        out.append(P.table(["rank", "point", "score", "outcome"], body,
                           f"Step {rung['step']}: {len(points)} points ranked by "
                           f"{h['rule']}, {went} went on", numeric={"rank", "score"}))
    if h.get("audit"):
        out.append(_audit(h["audit"]))
    return "\n".join(out)


def _audit(a: dict) -> str:
    r = a.get("result")
    if r is None:
        return P.note(P.esc(f"Audit: {a['k']} pruned points are to be trained to the end; "
                            "not done yet."))
    out = ["<h3>Audit: the pruner against the truth</h3>"]
    if r.get("pick") is not None:
        def name(point):
            return " ".join(f"{k}={cell(v, k)}" for k, v in point.items())
        out.append(P.facts([
            ("audited", P.esc(f"{len(a['points'])} pruned points trained to the end: "
                              + "; ".join(name(p) for p in a["points"]))),
            ("the pick", P.esc(f"{name(r['pick'])}: final median {r['pick_median']:.3g}, "
                               f"{r['pick_place']} of {r['points']} points")),
            ("the best seen", P.esc(f"{name(r['best'])}: {r['best_median']:.3g}")),
            ("regret", P.esc("-" if r["regret"] is None else
                             f"{r['regret']:.3g}× (the pick's final median over the "
                             "best's; 1: the pick was the best)"))]))
    body = [[x["step"], x["points"], P.Cell("-" if x["spearman"] is None else
                                            f"{x['spearman']:.2f}", x["spearman"])]
            for x in r["rungs"]]
    out.append(P.table(["rung step", "points", "Spearman ρ"], body, "How each rung ranked "
                       "the points trained to the end, against their final median eval_mse "
                       "(1: the same order; 0: none; n/a under 3 points).",
                       numeric={"rung step", "points", "Spearman ρ"}, id="audit-table"))
    return "\n".join(out)


def _rounds(u: dict) -> str:
    ref = " ".join(f"{k}={cell(v, k)}" for k, v in u["reference"].items())
    out = [P.facts([
        ("reference", P.esc(ref)),
        ("outcome", P.esc(u.get("outcome") or "in progress")),
        ("error rate", P.esc(f"α = {u['alpha']}: each of {len(u['tested'])} look"
                             f"{'s' * (len(u['tested']) != 1)} × {u['comparisons']} "
                             f"comparison{'s' * (u['comparisons'] != 1)} spends "
                             f"{u['level']:.3g} ({_rule_name(u)})")),
        ("looks", P.esc(" → ".join(map(str, u["looks"])) + " seeds; counted: "
                        + (", ".join(map(str, u["tested"])) or "none")))])]
    body = []
    for i, r in enumerate(u["rounds"], 1):
        for res in r.get("results") or []:
            ci = res["ratio_ci"]
            decision = res["decision"] if res["tested"] else "not a counted look"
            body.append([i, r["n"], P.Cell(" ".join(f"{k}={cell(v, k)}"
                                                    for k, v in res["point"].items())),
                         res["shared"],
                         P.Cell("-" if not res["shared"] else ratio_words(res),
                                res["ratio"]),
                         P.Cell(bounds(ci) if ci else "n/a", ci[0] if ci else None),
                         P.Cell(decision)])
    if not body:
        return "\n".join(out + [P.note("No round has been looked at yet.")])
    out.append(P.table(["round", "seeds", "point", "shared", "ratio", "interval",
                        "decision"], body, "Each point against the reference after each "
                       "round: the Hodges-Lehmann ratio of eval_mse over the shared seeds "
                       "(below 1: better) and its Wilcoxon signed-rank interval at the "
                       "rule's level; a point is decided when its interval excludes 1, and "
                       "trains no further.", numeric={"round", "seeds", "shared", "ratio",
                                                      "interval"}, id="rounds-table"))
    return "\n".join(out)


def _rule_name(u: dict) -> str:
    """How the level was set: calibrated (since #39) or Bonferroni over the looks (before)."""
    return "calibrated" if "calibrated" in str(u.get("rule", "")) else "Bonferroni"


def _paired(rows: list[Row], keys: list[str], opts: Options) -> str:
    from sincos_cli.stats.groups import paired

    try:
        pairs = paired(rows, keys, opts.reference)
    except ValueError as e:
        return P.note(P.esc(str(e)))
    cols, body = paired_table(pairs, keys)
    return P.table(cols, body, "Each group against the reference, seed by seed on eval_mse: "
                   "the median ratio (below 1: better than the reference) and the "
                   "probability of improvement (the chance that a seed of the group does "
                   "better than a seed of the reference; 0.5: no difference), each with its "
                   "95% interval, a Wilcoxon signed-rank p-value, wins and losses over "
                   "the shared seeds, and how many of them diverged or failed (the group's / "
                   "the reference's), each counted as its seed's worst.", numeric=NUMERIC,
                   id="paired-table")


MEMBER_ROWS = 100  # a big sweep's member table: the best and the worst this many


def _members(rows: list[Row], keys: list[str], sid: str) -> str:
    """Every member, by id; past 2 × MEMBER_ROWS members, the best and the worst MEMBER_ROWS
    by eval_mse (the others not completed first among the worst), so the page stays small
    whatever the sweep's size."""
    cols = ["id", "seed", *keys, "status", "eval_mse", "final_loss", "best_loss", "steps",
            "train_seconds"]
    if len(rows) <= 2 * MEMBER_ROWS:
        return runs_table(rows, cols, "members-table", f"All {len(rows):,} members, by id. "
                          "Click a header to sort.")

    def order(r: Row):
        v = r.value("eval_mse")
        done = r.status == RunStatus.COMPLETED and isinstance(v, (int, float))
        return (0, v, "") if done else (1, 0.0, r.id)
    ranked = sorted(rows, key=order)
    shown = ranked[:MEMBER_ROWS] + ranked[-MEMBER_ROWS:]
    return runs_table(shown, cols, "members-table", (
        f"The best and the worst {MEMBER_ROWS} of {len(rows):,} members by eval_mse (members "
        f"that did not complete count as worst); the other {len(rows) - len(shown):,}: "
        f"sincos compare {sid} --json. Click a header to sort."))


def picks(rows: list[Row]) -> list[tuple[str, Row]]:
    """The best, median and worst completed members by eval_mse (fewer when fewer ran)."""
    done = sorted((r for r in rows if r.status == RunStatus.COMPLETED
                   and isinstance(r.value("eval_mse"), (int, float))),
                  key=lambda r: (r.value("eval_mse"), sort_key(r.id)))
    if not done:
        return []
    chosen = [("best", done[0]), ("median", done[(len(done) - 1) // 2]), ("worst", done[-1])]
    seen, out = set(), []
    for name, r in chosen:
        if r.id not in seen:
            seen.add(r.id)
            out.append((name, r))
    return out


def _examples(rep: Report, rows: list[Row], keys: list[str]) -> str:
    chosen = picks(rows)
    if not chosen or rep.opts.animation == "none":
        return P.note("No completed member to show." if not chosen else
                      "Left out (--animation none).")
    figs = []
    for name, r in chosen:
        point = " ".join(f"{k}={cell(r.setting(k), k)}" for k in keys if k != "set")
        point = f"seed {r.config.get('seed')}" + (f", {point}" if point else "")
        what = f"the {name} member, {r.id} ({point}; eval_mse {r.value('eval_mse'):.3e})"
        figs.append(f"<div><h3>{P.esc(name.capitalize())}: {P.esc(r.id)}</h3>"
                    + rep.part(f"{r.id}'s replay", lambda r=r, what=what: replay(
                        r.path, rep.opts, what)) + "</div>")
    return f'<div class="figs">{"".join(figs)}</div>'
