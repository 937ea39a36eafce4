"""compare --plot's reading and reduction: fast and exact, and many runs as a density."""

import json
import math

import numpy as np
import pytest
from conftest import read
from PIL import Image

from sincos_cli.store.files import read_metrics
from sincos_cli.store.record import load_row
from sincos_cli.views import plot


def fake_run(path, losses, start=0):
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"id": path.name, "status": "completed"}))
    (path / "config.json").write_text(json.dumps({"hidden": 8}))
    (path / "summary.json").write_text(json.dumps({"eval_mse": float(losses[-1])}))
    (path / "metrics.jsonl").write_text("".join(
        json.dumps({"step": start + s, "loss": float(v), "lr": 0.006, "elapsed_s": 0.1}) + "\n"
        for s, v in enumerate(losses)))
    return path


def test_fast_read_equals_the_careful_reader(trained):
    steps, loss = plot.read_losses(trained / "metrics.jsonl")
    rows = read_metrics(trained / "metrics.jsonl")
    assert steps.tolist() == [r["step"] for r in rows]
    assert loss.tolist() == [r["loss"] for r in rows]  # exact, not approximately


def test_odd_files_take_the_careful_path(tmp_path):
    gap = fake_run(tmp_path / "gap", [0.5, 0.4, 0.3])
    text = (gap / "metrics.jsonl").read_text().replace('"step": 1,', '"step": 7,')
    (gap / "metrics.jsonl").write_text(text)
    assert plot.read_losses(gap / "metrics.jsonl")[0].tolist() == [0, 7, 2]
    torn = fake_run(tmp_path / "torn", [0.5, 0.4, 0.3])
    with open(torn / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')
    assert plot.read_losses(torn / "metrics.jsonl")[1].tolist() == [0.5, 0.4, 0.3]


def test_reduce_keeps_each_columns_extremes():
    rng = np.random.default_rng(0)
    steps = np.arange(100_000)
    loss = np.exp(rng.normal(size=steps.size))
    s, v = plot.reduce(steps, loss, 500)
    assert len(s) <= 2 * 500 + 2 and np.all(np.diff(s) > 0)
    assert v.max() == loss.max() and v.min() == loss.min()
    bins = np.minimum(steps * 500 // steps[-1], 499)
    for b in (0, 17, 499):
        inside = (np.minimum(s * 500 // steps[-1], 499) == b)
        assert v[inside].max() == loss[bins == b].max()
        assert v[inside].min() == loss[bins == b].min()
    small = plot.reduce(np.arange(10), np.r_[np.linspace(1, 0.1, 9), np.nan], 500)
    assert len(small[0]) == 9  # short curves stay whole; non-finite points dropped


def test_many_runs_become_a_density_image(tmp_path, monkeypatch):
    monkeypatch.setattr(plot, "LEGEND_MAX", 2)
    monkeypatch.setattr(plot, "LINES_MAX", 5)
    rows = [load_row(fake_run(tmp_path / f"run-{i:02d}",
                              [0.5 * math.exp(-s / (20 + i)) for s in range(200)]))
            for i in range(1, 31)]
    out = tmp_path / "many.png"
    assert plot.loss_curves(rows, out) == []
    px = np.asarray(Image.open(out).convert("RGB")).astype(int)
    r, b = px[..., 0], px[..., 2]
    assert ((b > r + 40) & (b > 120)).sum() > 1000  # the blue density band
    assert read(tmp_path / "run-01" / "summary.json")  # nothing was written into runs


@pytest.mark.slow
def test_many_runs_label_the_best_beside_the_axes(tmp_path, monkeypatch):
    """600 runs: the 20 best by eval_mse are named, in a legend outside the axes, in
    twenty distinct colour and dash pairs; the x-axis takes a range."""
    from matplotlib.figure import Figure

    rng = np.random.default_rng(0)
    paths = [fake_run(tmp_path / f"run-{i:03d}",
                      0.5 * np.exp(-np.arange(501 if i % 50 else 3000) / rng.uniform(50, 200)))
             for i in range(1, 601)]
    rows = [load_row(p) for p in paths]
    seen = {}
    save = plot.save_figure

    def keep(fig, out):
        seen["fig"] = fig
        save(fig, out)
    monkeypatch.setattr(plot, "save_figure", keep)
    plot.loss_curves(rows, tmp_path / "many.png", x_range=(0, 501))
    fig: Figure = seen["fig"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    best = sorted(rows, key=lambda r: r.summary["eval_mse"])[:20]
    assert [lb.split()[0] for lb in labels[:20]] == [r.id for r in best]
    assert labels[20] == "580 more runs (density)"
    fig.canvas.draw()
    box = legend.get_window_extent()
    assert box.x0 > ax.get_window_extent().x1  # beside the axes, not over the curves
    named = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert len({(ln.get_color(), str(ln.get_linestyle())) for ln in named}) == 20
    assert ax.get_xlim() == (0, 501)  # the 3,000-step runs do not squeeze the rest
    assert Image.open(tmp_path / "many.png").size[0] > 800


def test_group_bands_stay_apart_in_colour_and_in_greyscale(tmp_path, monkeypatch):
    from sincos_cli.store.record import Row

    rows = []
    for g, lr in enumerate((0.001, 0.003, 0.006, 0.01)):
        for s in range(3):
            p = fake_run(tmp_path / f"run-{g}{s}", 0.5 * np.exp(-np.arange(100) / (20 + g)))
            cfg = {"lr": lr, "seed": s}
            (p / "config.json").write_text(json.dumps(cfg))
            rows.append(load_row(p))
    assert all(isinstance(r, Row) for r in rows)
    seen = {}
    monkeypatch.setattr(plot, "save_figure", lambda fig, out: seen.setdefault("fig", fig))
    plot.bands(rows, ["lr"], tmp_path / "b.png")
    ax = seen["fig"].axes[0]
    medians = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert len(medians) == 4
    # told apart without colour: four dash patterns
    assert len({str(ln._unscaled_dash_pattern) for ln in medians}) == 4
    assert len({ln.get_color() for ln in medians}) == 4
    assert len(ax.lines) == 4 * 3  # each band outlined: its median and both edges


def test_profiles_stay_apart_in_greyscale_and_name_their_axes(tmp_path, monkeypatch):
    from sincos_cli.stats.profiles import profiles
    from sincos_cli.store.record import Row
    from sincos_cli.views.profiles import profile_figure

    rows = [Row(id=f"run-{lr}-{s}", path=None, status="completed",
                config={"lr": lr, "seed": s}, summary={"eval_mse": 10 ** -(3 + s / 5 + g)})
            for g, lr in enumerate((0.001, 0.003, 0.006, 0.01)) for s in range(6)]
    seen = {}
    monkeypatch.setattr(plot, "save_figure", lambda fig, out: seen.setdefault("fig", fig))
    profile_figure(profiles(rows, ["lr"]), tmp_path / "p.png", threshold=1e-4)
    ax = seen["fig"].axes[0]
    curves = [ln for ln in ax.lines if not ln.get_label().startswith("_")]
    assert [ln.get_label().split("  ")[0] for ln in curves] == [
        "lr=0.001", "lr=0.003", "lr=0.006", "lr=0.01"]
    # without colour: four dash patterns and four markers
    assert len({str(ln._unscaled_dash_pattern) for ln in curves}) == 4
    assert len({ln.get_marker() for ln in curves}) == 4
    assert "eval_mse threshold" in ax.get_xlabel() and "share of seeds" in ax.get_ylabel()
    assert ax.get_xscale() == "log" and len(ax.collections) == 4  # a band each
