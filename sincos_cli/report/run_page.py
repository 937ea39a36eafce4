"""One run's page: its header, summary, settings, loss, prediction and replay."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError
from sincos_cli.store.record import Row, load_row
from sincos_cli.store.show import run_info
from sincos_cli.store.summary_doc import Summary

from . import html as P
from .parts import Options, Report, figure, replay, value_cell, when


def run_page(path: Path, opts: Options) -> tuple[str, list[str]]:
    rep = Report(opts)
    row = load_row(path)
    info = run_info(path, row)
    if not info["summary"] and (path / "summary.json").exists():
        # compare reads no further than a damaged config.json; the summary may be fine
        try:
            info["summary"] = Summary.load(path).to_json()
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
    inside = rep.part("the internals", lambda: _internals(path, info))
    sections.append(P.section("internals", "Inside the network", inside))
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
    b = s.get("baselines") if isinstance(s.get("baselines"), dict) else {}
    if b:  # the yardsticks, right under the figure they measure (docs/baselines.md)
        rows[1:1] = [
            ["vs_linear", value_cell(s.get("vs_linear"), "vs_linear"),
             "eval_mse over the linear filter's: 1× is as good as a straight line"],
            ["linear", value_cell(b.get("linear"), "linear"),
             f"the best causal linear filter of the input ({b.get('linear_taps', '-')} taps),"
             " on the same windows"],
            ["zero", value_cell(b.get("zero"), "linear"), "predicting 0 on the same windows"],
            ["persistence", value_cell(b.get("persistence"), "linear"),
             "predicting the input itself"]]
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
    from . import figures as F

    pic = F.run_loss(path, info["summary"])
    return figure(pic, f"Training loss of {info['id']} by step, log scale, with the learning "
                  "rate", "Training loss by step (solid, log scale, left axis) and the learning "
                  "rate (dashed, right axis); the circle marks the best step.")


def _internals(path: Path, info: dict) -> str:
    from sincos_cli.store.internals import NAME

    from . import figures as F

    if not (path / NAME).exists():
        return P.note(P.Html(
            f"{P.esc(info['id'])} was trained without its internals. <code>sincos train "
            "--record-internals</code> keeps every step's gates, cell and hidden states (or "
            f"<code>sincos train --resume {P.esc(info['id'])} --record-internals --steps "
            "N</code>, for the steps still to come); <code>sincos animate RUN "
            "--internals</code> replays them."), "note")
    pic, step = F.internals_still(path)
    return figure(pic, f"The gates, cell and hidden states of {info['id']} at step {step}",
                  P.Html(f"Step {P.esc(step)}, the last recorded: window row 0's curves, and "
                         "under them one heatmap a gate and state (units × time steps), on "
                         "the scale of its colour bar. <code>sincos animate RUN "
                         "--internals</code> replays every step."))


def _start_prediction(path: Path, info: dict, steps: int):
    """The prediction figure, started now; returns get() -> (picture, its numbers), which
    raises what computing it raised."""
    from . import figures as F

    if not (path / "checkpoint.pt").exists():
        def missing():
            raise SincosError("the run has no checkpoint.pt")
        return missing
    return F.later(F.prediction, path, info["config"], steps)


def _prediction(pending, info: dict) -> str:
    from . import figures as F

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
