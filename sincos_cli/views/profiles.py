"""Performance profiles as a figure (`compare --profile`, the sweep report): each group's
share of seeds at or under each eval_mse threshold, a step curve on a log x axis, with its
95% band. Groups differ in grey level, dash pattern and marker, so print in greyscale
keeps them apart."""

from __future__ import annotations

from pathlib import Path

# Told apart without colour: a dash pattern and a marker each, and a grey for print.
DASHES = ("-", (0, (6, 2)), (0, (1, 1.5)), (0, (6, 1.5, 1, 1.5)), (0, (3, 1)))
MARKERS = ("o", "s", "^", "D", "v", "x", "+")


def profile_figure(profiles, out: Path, size=(8.0, 4.5), dpi: int = 100,
                   threshold: float | None = None) -> None:
    """Draw the profiles to out (.png, .svg or .pdf, written atomically)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .plot import line_colors, save_figure

    fig = Figure(figsize=size, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = line_colors()
    for i, p in enumerate(profiles):
        st = {"color": colors[i % len(colors)], "linestyle": DASHES[i % len(DASHES)]}
        if p.lo is not None:
            ax.fill_between(p.taus, p.lo, p.hi, step="post", color=st["color"], alpha=0.12,
                            linewidth=0)
        label = ", ".join(f"{k}={v}" for k, v in p.point.items()) or "all runs"
        every = max(1, len(p.taus) // 8)
        ax.step(p.taus, p.share, where="post", linewidth=2.0, marker=MARKERS[i % len(MARKERS)],
                markevery=(i % every, every), markersize=5, label=f"{label}  (n={p.n})", **st)
    span = (profiles[0].taus[0], profiles[0].taus[-1]) if profiles else (0, 0)
    if threshold is not None and span[0] <= threshold <= span[1]:  # else it would squeeze
        ax.axvline(threshold, color="0.3", linewidth=1.0, linestyle=(0, (1, 2)))
        ax.annotate(f"threshold {threshold:g}", (threshold, 0.02), xytext=(4, 0),
                    textcoords="offset points", fontsize="small", color="0.3")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("eval_mse threshold τ (log scale)")
    ax.set_ylabel("share of seeds with eval_mse ≤ τ")
    ax.set_title("performance profile: higher and further left is better; "
                 "band: pointwise 95% (exact)")
    ax.grid(True, which="both", alpha=0.25)
    if profiles:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                  borderaxespad=0)
    extra = 2.6
    fig.set_figwidth(size[0] + extra)
    fig.subplots_adjust(left=0.9 / fig.get_figwidth(),
                        right=1 - (extra + 0.1) / fig.get_figwidth(), bottom=0.12, top=0.92)
    save_figure(fig, out)
