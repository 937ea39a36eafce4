"""Yardsticks on a loss axis: a labelled horizontal line at each one's MSE on the eval
batches (the best linear filter's, predicting zero's; training/baselines.py computes them),
or, where one lies far below the curves (a noise-free task's filter is exact, about 1e-13),
a note at the foot of the axes saying where it is, so that it does not squash the curves
into the top of the figure. Each is styled apart from the curves (black or grey, dotted or
dash-dotted) and named with its value in the legend, so it reads without colour.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

DECADES = 2  # a yardstick more than this many decades under the axis is a note, not a line
LINEAR = {"color": "black", "linestyle": (0, (1.2, 1.6))}
ZERO = {"color": "#555555", "linestyle": (0, (6, 2, 1.5, 2))}


@dataclass(frozen=True)
class Yardstick:
    """One reference line: what it is, its MSE, and how it is drawn."""

    kind: str  # summary.json's baselines key: linear or zero
    label: str
    value: float
    detail: str = ""  # a second legend line: its taps, over how many runs
    shared: bool = True  # every run it stands for has this value (no median taken)
    color: str = LINEAR["color"]
    linestyle: object = LINEAR["linestyle"]


def _number(v) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0
    return float(v) if ok else None


def _baselines(summary: dict) -> dict:
    b = summary.get("baselines")
    return b if isinstance(b, dict) else {}


def of_runs(summaries: list[dict], what: str = "") -> list[Yardstick]:
    """The linear filter and predicting zero for runs (their summary.json objects): the
    value itself for one run, or for runs that all share it (noise-free data); the median
    over them otherwise, said so. Nothing for runs without yardsticks. `what` names the
    runs in the label (a group's point)."""
    out = []
    for key, name, look in (("linear", "linear filter", LINEAR), ("zero", "predicting 0", ZERO)):
        vals = [v for s in summaries if (v := _number(_baselines(s).get(key))) is not None]
        if not vals:
            continue
        taps = {_baselines(s).get("linear_taps") for s in summaries} if key == "linear" else ()
        shared = max(vals) <= min(vals) * 1.0001
        detail = [f"{taps.pop()} taps"] if len(taps) == 1 and None not in taps else []
        detail += [] if shared else [f"median of {len(vals)} runs"]
        out.append(Yardstick(key, f"{name}{', ' + what if what else ''}",
                             statistics.median(vals), ", ".join(detail), shared, **look))
    return out


def draw(ax, yardsticks: list[Yardstick]) -> list:
    """Draw them on `ax` (a log y axis whose curves are drawn already) and return their
    legend handles. A yardstick within DECADES of the axis is a line and the axis grows to
    hold it; one further below is written at the axes' foot instead."""
    from matplotlib.lines import Line2D

    lo, hi = ax.get_ylim()
    handles, below, drawn = [], [], []
    for y in yardsticks:
        if not (y.value > 0 and math.isfinite(y.value)):
            continue
        text = f"{y.label}: {y.value:.2g}"
        far = y.value < lo / 10 ** DECADES
        detail = ", ".join(d for d in (y.detail, "below the axis" if far else "") if d)
        if far:
            below.append(text)
        else:
            ax.axhline(y.value, color=y.color, linestyle=y.linestyle, linewidth=1.3,
                       zorder=2.5, label="_nolegend_")
            drawn.append(y.value)
        handles.append(Line2D([], [], color=y.color, linestyle=y.linestyle, linewidth=1.3,
                              label=text + (f"\n({detail})" if detail else "")))
    if drawn:
        ax.set_ylim(min(lo, min(drawn) / 1.6), max(hi, max(drawn) * 1.6))
    if below:
        ax.annotate("below the axis: " + "\n".join(below) + " ↓", xy=(0.99, 0.015),
                    xycoords="axes fraction", ha="right", va="bottom", fontsize="small",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": "white",
                          "edgecolor": "#999999", "alpha": 0.9}, zorder=6)
    return handles
