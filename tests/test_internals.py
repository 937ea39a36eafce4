"""#36: what the network did: `train --record-internals` keeps every step's gates, cell and
hidden states of window row 0 (internals.bin), solo and in batched sweep members, through
kill -9 and resume; `animate --internals` draws them."""

from __future__ import annotations

import json

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from conftest import TINY, read, small, start, steps_written, wait_for
from PIL import Image

from sincos_cli.config import TrainConfig
from sincos_cli.store import internals as recorded
from sincos_cli.store.trace import read as read_trace
from sincos_cli.training.group import GroupTrainer
from sincos_cli.training.internals import head, unroll
from sincos_cli.training.train import Trainer

RECORD = [*small(steps=30, hidden=6), "--record-internals", "-q"]


def _weights(model) -> dict:
    return {n: t.detach().numpy() for n, t in model.state_dict().items()}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers", [1, 2])
def test_the_hidden_state_through_the_head_is_the_prediction(cell, layers):
    """The unrolled equations are PyTorch's: their last hidden state through the Linear
    head gives the trace's prediction, and a batched member records what it would solo."""
    cfg = TrainConfig(steps=4, batch_size=6, time_steps=7, hidden=5, cell=cell,
                      layers=layers, record_internals=True)
    solo = Trainer(cfg)
    infos = [solo.train_step() for _ in range(3)]
    last = infos[-1]
    assert last.internals.shape == (layers, len(recorded.PANELS[cell]), 7, 5)
    np.testing.assert_allclose(head(_weights(solo.model), last.internals), last.prediction,
                               atol=1e-6)
    group = GroupTrainer([cfg, cfg], [None, None])
    member = [group.train_step()[1] for _ in range(3)][-1]
    np.testing.assert_allclose(member.internals, last.internals, atol=1e-5)
    if cell == "lstm":  # gates are gates: sigmoids in [0, 1], h = o · tanh(c)
        i, f, g, o, c, h = last.internals[0]
        assert 0 <= min(i.min(), f.min(), o.min()) and max(i.max(), f.max(), o.max()) <= 1
        np.testing.assert_allclose(h, o * np.tanh(c), atol=1e-6)


def test_unroll_reads_the_state_it_is_given():
    """From a non-zero state the first step's hidden state is the cell's, by hand."""
    torch.manual_seed(3)
    rnn = torch.nn.RNN(1, 4, batch_first=True)
    w = {f"rnn.{n}": p.detach().numpy() for n, p in rnn.named_parameters()}
    h0 = np.linspace(-0.5, 0.5, 4)[None]
    x = np.array([0.3, -0.2, 0.9])
    out, _ = rnn(torch.tensor(x, dtype=torch.float32).reshape(1, 3, 1),
                 torch.tensor(h0, dtype=torch.float32)[:, None])
    got = unroll("rnn", 1, w, x, (h0,))
    np.testing.assert_allclose(got[0, 0], out[0].detach().numpy(), atol=1e-6)


def test_train_records_them_and_animate_draws_them(cli, runs_dir, tmp_path):
    out = cli("train", *RECORD)
    assert out.exit_code == 0, out.stderr
    path = runs_dir / "run-01"
    found = recorded.read(path)
    assert found.shape == recorded.Shape("lstm", 1, 10, 6)
    assert found.steps.tolist() == list(range(30)) and np.isfinite(found.values).all()
    assert (path / recorded.NAME).stat().st_size == \
        recorded.HEADER.size + 30 * found.shape.dtype().itemsize
    trace = read_trace(path)
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
    np.testing.assert_allclose(head({k: v.numpy() for k, v in ckpt["model"].items()},
                                    found.values[-1]), trace["prediction"][-1], atol=1e-6)

    gif = tmp_path / "x.gif"
    res = cli("animate", "run-01", "--internals", "--out", gif, "--json", "-q")
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    with Image.open(gif) as im:
        assert im.n_frames == info["frames"] == 30 and im.size == (960, 560)
    mp4 = tmp_path / "x.mp4"
    res = cli("animate", "run-01", "--internals", "--out", mp4, "--every", "3", "-q")
    assert res.exit_code == 0, res.stderr
    assert imageio_ffmpeg.count_frames_and_secs(str(mp4))[0] == 10
    narrow = cli("animate", "run-01", "--internals", "--out", tmp_path / "n.gif", "--size",
                 "800x560", "--max-frames", "4", "--json", "-q")
    assert json.loads(narrow.stdout)["size"] == [800, 560]


def test_a_run_without_them_says_how_to_record_them(cli, runs_dir, tmp_path):
    assert cli("train", *small(steps=5, hidden=4), "-q").exit_code == 0
    assert not (runs_dir / "run-01" / recorded.NAME).exists()
    res = cli("animate", "run-01", "--internals", "--out", tmp_path / "x.gif")
    assert res.exit_code == 1 and "--record-internals" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.gif").exists()
    res = cli("animate", "run-01", "--internals", "--view", "history")
    assert res.exit_code == 2


def test_a_batched_sweep_member_records_them(cli, runs_dir):
    res = cli("sweep", *small(steps=12, hidden=4), "--seeds", "1-2", "--workers", "1",
              "--record-internals", "-q")
    assert res.exit_code == 0, res.stderr
    for run in ("run-01", "run-02"):
        path = runs_dir / run
        assert read(path / "run.json")["group"] == 2
        found = recorded.read(path)
        ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
        np.testing.assert_allclose(
            head({k: v.numpy() for k, v in ckpt["model"].items()}, found.values[-1]),
            read_trace(path)["prediction"][-1], atol=1e-6)


@pytest.mark.slow
def test_kill_9_then_resume_keeps_them_as_a_straight_run_does(cli, runs_dir):
    """internals.bin is cut back to the checkpoint on resume: after a kill -9 mid-training
    and a resume, the file is byte for byte a straight-through run's."""
    long = [a if a != "40" else "1000000" for a in TINY]
    p = start("train", *long, "--name", "dead", "--checkpoint-every", "25",
              "--record-internals", root=runs_dir)
    path = runs_dir / "dead"
    wait_for(lambda: steps_written(path) >= 80, "80 steps", 60, p)
    p.kill()
    p.wait()
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
    total = ckpt["step"] + 20
    assert (path / recorded.NAME).stat().st_size > recorded.HEADER.size + \
        ckpt["step"] * recorded.Shape("lstm", 1, 10, 8).dtype().itemsize  # ran past it
    res = cli("train", "--resume", "dead", "--steps", total, "-q")
    assert res.exit_code == 0, res.stderr
    ref = cli("train", *TINY, "--steps", total, "--name", "ref", "--record-internals", "-q")
    assert ref.exit_code == 0, ref.stderr
    assert (path / recorded.NAME).read_bytes() == (runs_dir / "ref" / recorded.NAME).read_bytes()
    assert recorded.read(path).steps.tolist() == list(range(total))
