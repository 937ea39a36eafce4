"""compare --plot's reading and reduction: fast and exact, and many runs as a density."""

import json
import math

import numpy as np
from conftest import read
from PIL import Image

from sincos_cli import plot
from sincos_cli.compare import load_row
from sincos_cli.runs import read_metrics


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
