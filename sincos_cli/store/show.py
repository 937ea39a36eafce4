"""`sincos show`: what one run or one sweep is, as a dict (for --json) and as text (standard
library only: reads JSON files, never a checkpoint)."""

from __future__ import annotations

import shlex
from dataclasses import fields
from pathlib import Path

from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError

from .record import load_row
from .run_doc import RunDoc
from .runs import RunStatus, is_member
from .sweep_doc import SweepDoc

NOT_FLAGS = ("eval_batches", "x_spacing")  # settings no train flag sets


def reproduce(config: dict) -> str:
    """The `sincos train` line that trains this run again: its seed, its recipe, and every
    setting off the defaults (flags given win over the recipe's)."""
    default = TrainConfig()
    words = ["sincos", "train", "--seed", str(config.get("seed", 0))]
    if config.get("recipe", "seed") != "seed":
        words += ["--recipe", str(config["recipe"])]
    for f in fields(TrainConfig):
        k = f.name
        if k in ("seed", "recipe", *NOT_FLAGS) or k not in config:
            continue
        v = config[k]
        if v == getattr(default, k):
            continue
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            words.append(flag if v else f"--no-{k.replace('_', '-')}")
        else:
            words += [flag, str(v)]
    return shlex.join(words)


def off_defaults(config: dict) -> list[str]:
    default = TrainConfig()
    return [f.name for f in fields(TrainConfig)
            if f.name in config and f.name != "seed"
            and config[f.name] != getattr(default, f.name)]


def run_info(path: Path, row=None) -> dict:
    """What show prints of a run; `row`: its load_row(path), when the caller has it."""
    row = row if row is not None else load_row(path)
    try:
        run = RunDoc.load(path)
    except SincosError:
        run = RunDoc(id=path.name)
    files = []
    for f in sorted(path.iterdir()):
        if f.is_file():
            files.append({"name": f.name, "bytes": f.stat().st_size})
    return {"kind": "run", "id": row.id, "path": str(path.resolve()), "status": row.status,
            "error": row.error or row.problem, "created": row.created,
            "ended": run.ended, "host": row.host, "sweep": row.sweep,
            "group": run.group, "tags": row.tags, "note": row.note,
            "meta_problem": row.meta_problem, "config": row.config,
            "off_defaults": off_defaults(row.config), "summary": row.summary,
            **({"bad_values": row.bad_values} if row.bad_values else {}),
            "resumes": run.resumes if isinstance(run.resumes, list) else [], "files": files,
            "reproduce": reproduce(row.config) if row.config else None}


def seed_ranges(seeds: list[int]) -> str:
    out, start, prev = [], None, None
    for s in sorted(seeds):
        if start is None:
            start = prev = s
        elif s == prev + 1:
            prev = s
        else:
            out.append(f"{start}-{prev}" if prev != start else str(start))
            start = prev = s
    if start is not None:
        out.append(f"{start}-{prev}" if prev != start else str(start))
    return ",".join(out)


def sweep_info(sweep: Path) -> dict:
    doc = SweepDoc.load(sweep)
    home = sweep.parent
    counts: dict[str, int] = {}
    missing, ranked = [], []
    for m in doc:
        p = home / m.run
        if not is_member(sweep, p):  # gone, or another run's folder now
            missing.append(m.run)
            counts["missing"] = counts.get("missing", 0) + 1
            continue
        row = load_row(p)
        counts[row.status] = counts.get(row.status, 0) + 1
        ev = row.value("eval_mse")
        if isinstance(ev, (int, float)) and row.status == RunStatus.COMPLETED:
            ranked.append({"run": m.run, "seed": m.seed, "point": m.point, "eval_mse": ev,
                           "vs_linear": row.value("vs_linear")})
    ranked.sort(key=lambda r: r["eval_mse"])  # completed members (not pruned at a rung)
    return {"kind": "sweep", "id": doc.id, "path": str(sweep.resolve()),
            "status": doc.current_status(), "created": doc.created, "ended": doc.ended,
            "argv": doc.argv, "base": doc.base, "grid": doc.grid,
            "seeds": seed_ranges(sorted({m.seed for m in doc if not m.holdout})),
            "members": len(doc.members), "by_status": counts, "missing": missing,
            "best": ranked[:3], "worst": ranked[::-1][:3], "resumes": doc.resumes,
            "halving": doc.halving, "until_decided": doc.until_decided, "batch": doc.batch}


def engine(batch: dict | None) -> str:
    """How a sweep's members were trained, from sweep.json's "batch"."""
    size = (batch or {}).get("group_size")
    return f"batched, groups of at most {size} members" if size else \
        "one member at a time (--no-batch)"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, bool):
        return str(v).lower()
    return "-" if v is None else str(v)


def render(doc: dict) -> str:
    lines = []
    add = lines.append
    if doc["kind"] == "run":
        err = f" ({doc['error']})" if doc["error"] else ""
        add(f"{doc['id']}  {doc['status']}{err}")
        add(f"  path      {doc['path']}")
        add(f"  created   {_fmt(doc['created'])}   ended {_fmt(doc['ended'])}   "
            f"host {_fmt(doc['host'])}")
        if doc["sweep"]:
            group = f" (trained in a batched group of {doc['group']})" if doc["group"] else ""
            add(f"  sweep     {doc['sweep']}{group}")
        if doc.get("meta_problem"):
            add(f"  meta      damaged: {doc['meta_problem']}")
        if doc["tags"] or doc["note"]:
            add(f"  tags      {' '.join(doc['tags']) or '-'}")
            if doc["note"]:
                add(f"  note      {doc['note']}")
        s = doc["summary"]
        add("results")
        for k in ("eval_mse", "final_loss", "best_loss", "best_step", "steps",
                  "train_seconds", "steps_per_second"):
            if k in doc.get("bad_values", {}):
                add(f"  {k:<17} damaged: {doc['bad_values'][k]}")
            elif k in s:
                add(f"  {k:<17} {_fmt(s[k])}")
        b = s.get("baselines") if isinstance(s.get("baselines"), dict) else {}
        if b:
            add("yardsticks (on the batches eval_mse scores; docs/baselines.md)")
            taps = b.get("linear_taps")
            for k, what in (("linear", f"best linear filter, {taps} taps"),
                            ("zero", "predicting 0"), ("persistence", "the input itself")):
                add(f"  {k:<17} {_fmt(b.get(k))}  ({what})")
            if s.get("vs_linear") is not None:
                add(f"  {'vs_linear':<17} {_fmt(s['vs_linear'])}  (eval_mse over linear)")
        add("settings (* off the defaults)")
        for k, v in doc["config"].items():
            add(f"  {'*' if k in doc['off_defaults'] else ' '} {k:<22} {_fmt(v)}")
        if doc["resumes"]:
            add("resumes")
            for r in doc["resumes"]:
                add(f"  at step {r.get('at_step')} ({_fmt(r.get('time'))}, from "
                    f"{r.get('from_status')})")
        add("files")
        for f in doc["files"]:
            add(f"  {f['name']:<17} {f['bytes']:>12,} bytes")
        if doc["reproduce"]:
            add("reproduce")
            add(f"  {doc['reproduce']}")
        return "\n".join(lines) + "\n"
    add(f"{doc['id']}  {doc['status']}  ({doc['members']} members)")
    add(f"  path      {doc['path']}")
    add(f"  created   {_fmt(doc['created'])}   ended {_fmt(doc['ended'])}")
    add(f"  grid      {' × '.join(f'{k}={v}' for k, v in doc['grid'].items()) or '(seeds only)'}")
    add(f"  seeds     {doc['seeds']}")
    add(f"  engine    {engine(doc['batch'])}")
    if doc["base"]:
        add(f"  base      {' '.join(f'{k}={_fmt(v)}' for k, v in doc['base'].items())}")
    add("members   " + ", ".join(f"{n} {st}" for st, n in sorted(doc["by_status"].items())))
    if doc["missing"]:
        shown = ", ".join(doc["missing"][:10]) + (" …" if len(doc["missing"]) > 10 else "")
        add(f"  missing   {shown} (sincos sweep --resume {doc['id']} trains them again)")
    h = doc.get("halving")
    if h:
        add(f"halving   η={h['eta']}, rule {h['rule']}, rungs "
            + " → ".join(str(s) for s in h["rungs"]))
        for rung in h.get("history", []):
            went = [r for r in rung["points"] if r["kept"]]
            add(f"  step {rung['step']}: {len(rung['points'])} points, {len(went)} went on: "
                + "; ".join(" ".join(f"{k}={_fmt(v)}" for k, v in r["point"].items())
                            + f" ({_fmt(r['score'])})" for r in went))
        if h.get("audit"):
            add("  " + audit_line(h["audit"]))
    u = doc.get("until_decided")
    if u:
        ref = " ".join(f"{k}={_fmt(v)}" for k, v in u["reference"].items())
        add(f"until     decided or {u['max_seeds']} seeds, α={_fmt(u['alpha'])}, looks "
            + " → ".join(map(str, u["looks"])) + f", against {ref}: "
            + (u.get("outcome") or "in progress"))
        for i, r in enumerate(u["rounds"], 1):
            add("  " + (round_line(r, i) if r.get("results") is not None else
                        f"round {i} ({r['n']} seeds): training"))
    for title in ("best", "worst"):
        if doc[title]:
            add(f"{title} by eval_mse")
            for r in doc[title]:
                point = " ".join(f"{k}={_fmt(v)}" for k, v in r["point"].items())
                vs = r.get("vs_linear")
                vs = f"  {vs:.3g}× linear" if isinstance(vs, (int, float)) else ""
                add(f"  {r['run']:<10} {_fmt(r['eval_mse']):>10}{vs}  seed {r['seed']}  {point}")
    return "\n".join(lines) + "\n"


def round_line(r: dict, number: int) -> str:
    """One round of `sweep --until-decided` (sweep.json's record of it) in a line: each
    comparison's ratio against the reference, its interval and what it decided."""
    parts = []
    for res in r.get("results") or []:
        point = " ".join(f"{k}={_fmt(v)}" for k, v in res["point"].items())
        ci, ratio = res["ratio_ci"], ratio_words(res)
        if not res["shared"]:
            shown = "no shared seeds"
        elif not res["tested"] or not ci:
            shown = f"{ratio} (too few seeds to decide at the rule's level)"
        else:
            shown = f"{ratio} {bounds(ci)} {res['decision']}"
        parts.append(f"{point} {shown}")
    return f"round {number} ({r['n']} seeds): " + "; ".join(parts)


def ratio_words(res: dict) -> str:
    """A look's ratio: `0.42x`, or `diverged on 12 of 12 seeds` where the point diverged
    on so many shared seeds that its ratio is past every finite one (None in sweep.json)."""
    if res.get("ratio") is None:
        return f"diverged on {res.get('diverged', 0)} of {res['shared']} seeds"
    return f"{_fmt(res['ratio'])}x"


def bounds(ci: list) -> str:
    """[low, high] of a ratio, an unbounded end (None) as ∞."""
    return "[" + ", ".join("∞" if x is None else _fmt(x) for x in ci) + "]"


def audit_line(a: dict) -> str:
    """The halving audit (sweep.json's halving "audit") in a line."""
    r = a.get("result")
    if r is None:
        return f"audit: {a['k']} pruned point{'s' * (a['k'] != 1)} to train to the end"
    rho = ", ".join(f"step {x['step']} {_fmt(x['spearman'])} ({x['points']} points)"
                    for x in r["rungs"])
    words = [f"audit: {len(a['points'])} pruned points trained to the end; Spearman ρ of "
             f"rung score and final median: {rho}"]
    if r.get("pick") is not None:
        point = " ".join(f"{k}={_fmt(v)}" for k, v in r["pick"].items())
        words.append(f"the pick ({point}) is {r['pick_place']} of {r['points']} by final "
                     f"median, regret {_fmt(r['regret'])}x")
    return "; ".join(words)
