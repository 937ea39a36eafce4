"""Keras's initialisation (the default), PyTorch's on request, and the predict() quirk."""

import json
import math

import numpy as np
import pytest
import torch
from conftest import TINY, read

from sincos_cli.config import TrainConfig
from sincos_cli.training.data import make_batch
from sincos_cli.training.model import Regressor
from sincos_cli.training.train import Trainer


def _orthonormal_columns(w: torch.Tensor) -> bool:
    return torch.allclose(w.T @ w, torch.eye(w.shape[1]), atol=1e-5)


@pytest.mark.parametrize("cell,gates", [("lstm", 4), ("gru", 3), ("rnn", 1)])
@pytest.mark.parametrize("layers", [1, 2])
def test_keras_init_statistics(cell, gates, layers):
    torch.manual_seed(0)
    H = 32
    m = Regressor(hidden=H, cell=cell, layers=layers, init="keras")
    for k in range(layers):
        fan_in = 1 if k == 0 else H
        w_ih = getattr(m.rnn, f"weight_ih_l{k}")
        bound = math.sqrt(6 / (fan_in + gates * H))  # glorot over the whole kernel
        assert w_ih.abs().max() <= bound
        if fan_in * gates * H > 1000:  # enough draws to fill the range
            assert w_ih.abs().max() > 0.9 * bound
            assert w_ih.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)
        assert _orthonormal_columns(getattr(m.rnn, f"weight_hh_l{k}").detach())
        b_ih, b_hh = getattr(m.rnn, f"bias_ih_l{k}"), getattr(m.rnn, f"bias_hh_l{k}")
        expect = torch.zeros(gates * H)
        if cell == "lstm":
            expect[H:2 * H] = 1.0  # forget gate (PyTorch order i, f, g, o)
        assert torch.equal(b_ih.detach(), expect)
        assert torch.equal(b_hh.detach(), torch.zeros(gates * H))
        # One bias vector as in Keras's LSTM/SimpleRNN; Keras's GRU has two (reset_after).
        assert b_hh.requires_grad == (cell == "gru")
    assert m.head.weight.abs().max() <= math.sqrt(6 / (H + 1))
    assert torch.equal(m.head.bias.detach(), torch.zeros(1))


def test_torch_init_trains_every_parameter():
    m = Regressor(hidden=8, init="torch")
    assert all(p.requires_grad for p in m.parameters())
    assert m.rnn.bias_hh_l0.abs().sum() > 0


def test_frozen_bias_stays_zero_through_training():
    cfg = TrainConfig(steps=30, batch_size=8, time_steps=10, hidden=8, seed=4, layers=2)
    tr = Trainer(cfg)
    before = {n: p.detach().clone() for n, p in tr.model.named_parameters()}
    tr.fit()
    for n, p in tr.model.named_parameters():
        if n.startswith("rnn.bias_hh"):
            assert torch.equal(p, torch.zeros_like(p)) and p.grad is None, n
        else:
            assert not torch.equal(p, before[n]), n  # everything else learned
    # the optimiser holds moments only for what trains
    assert len(tr.opt.params) == sum(p.requires_grad for p in tr.model.parameters())


def test_torch_init_keeps_todays_losses():
    # The first losses of the default before --init existed (PyTorch's init), seed 1, taken
    # at 7ca3d70. Early steps only, with a tolerance: small differences between CPUs grow.
    pinned = [0.5115206, 0.5007683, 0.4938245, 0.4965297, 0.5029768, 0.5031612, 0.4954976,
              0.4891069, 0.4915382, 0.4981497, 0.4985985, 0.4898493]
    tr = Trainer(TrainConfig(seed=1, init="torch"))
    losses = []
    tr.fit(lambda i: losses.append(i.loss), should_stop=lambda: tr.step >= len(pinned))
    np.testing.assert_allclose(losses, pinned, rtol=1e-5)


def test_keras_init_is_the_default_and_leaves_the_plateau():
    assert TrainConfig().init == "keras"
    tr = Trainer(TrainConfig(seed=1, steps=150))
    losses = []
    tr.fit(lambda i: losses.append(i.loss))
    assert max(losses[-10:]) < 0.1  # torch's init sits near 0.5 on this seed at step 150


def test_quirk_advances_the_state_exactly_as_a_second_forward_pass():
    cfg = TrainConfig(steps=3, batch_size=4, time_steps=5, hidden=6, seed=0,
                      predict_advances_state=True)
    tr = Trainer(cfg)
    tr.train_step()
    info = tr.train_step()
    # Step 1 by hand, the same operations in the same order as the trainer: the training
    # forward and update, then a second pass over the whole batch with the new weights,
    # from the state the training forward left. Identical computations, so bit-equal.
    by_hand = Trainer(cfg)
    by_hand.train_step()
    _, inp, tgt = make_batch(1, cfg)
    xin, y = (torch.from_numpy(a).unsqueeze(-1) for a in (inp, tgt))
    pred, trained = by_hand.model(xin, by_hand.state)
    by_hand.opt.zero_grad()
    torch.mean((pred - y) ** 2).backward()
    by_hand.opt.step(cfg.lr)
    with torch.no_grad():
        again_pred, again = by_hand.model(xin, tuple(s.detach() for s in trained))
    for a, b in zip(again, tr.state, strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(info.prediction, again_pred[0, :, 0].numpy())
    # and without the quirk the carried state is the training forward's, a different one
    plain = Trainer(TrainConfig(**{**cfg.to_dict(), "predict_advances_state": False}))
    plain.fit(should_stop=lambda: plain.step >= 2)
    assert max((a - b).abs().max().item() for a, b in zip(plain.state, tr.state)) > 1e-3


def test_cli_records_init_and_quirk(cli, runs_dir):
    res = cli("train", *TINY, "--init", "torch", "--predict-advances-state")
    assert res.exit_code == 0, res.stderr
    cfg = read(runs_dir / "run-01" / "config.json")
    assert cfg["init"] == "torch" and cfg["predict_advances_state"] is True
    assert cli("train", *TINY).exit_code == 0
    table = cli("compare", "--csv").stdout.splitlines()
    head = table[0].split(",")
    assert "init" in head and "predict_advances_state" in head


def test_unknown_init_is_refused(cli, runs_dir):
    res = cli("train", *TINY, "--init", "glorot")
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "--init" in res.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


def test_init_is_frozen_on_resume(cli, runs_dir):
    assert cli("train", *TINY, "--name", "a").exit_code == 0
    res = cli("train", "--resume", "a", "--steps", "50", "--init", "torch")
    assert res.exit_code == 1 and "cannot change init" in res.stderr


def test_run_from_before_init_reads_as_torch(cli, runs_dir, tmp_path):
    """A config.json without init/predict_advances_state (every run before them) is a
    PyTorch-init run: predict, animate and resume keep working exactly."""
    assert cli("train", *TINY, "--init", "torch", "--name", "old").exit_code == 0
    path = runs_dir / "old"
    cfg = read(path / "config.json")
    del cfg["init"], cfg["predict_advances_state"]
    (path / "config.json").write_text(json.dumps(cfg))
    before = json.loads(cli("predict", "old", "--points", "50", "--json").stdout)
    assert TrainConfig.from_dict(cfg).init == "torch"
    res = cli("animate", "old", "--out", tmp_path / "a.gif", "-q")
    assert res.exit_code == 0, res.stderr
    res = cli("train", "--resume", "old", "--steps", "45")
    assert res.exit_code == 0, res.stderr
    assert read(path / "config.json")["init"] == "torch"
    # the trained-straight twin, with init torch explicitly, ends on the same losses
    assert cli("train", *[a if a != "40" else "45" for a in TINY], "--init", "torch",
               "--name", "twin").exit_code == 0
    loss = [json.loads(ln)["loss"] for ln in (path / "metrics.jsonl").read_text().splitlines()]
    twin = [json.loads(ln)["loss"] for ln in
            (runs_dir / "twin" / "metrics.jsonl").read_text().splitlines()]
    assert loss == twin
    assert len(before["points"]) == 50
