import copy

import pytest
import torch

from sincos_cli.config import TrainConfig
from sincos_cli.training.model import Adam, Regressor, lr_at


@pytest.mark.parametrize("cell,n_state", [("lstm", 2), ("gru", 1), ("rnn", 1)])
@pytest.mark.parametrize("layers", [1, 2])
def test_shapes(cell, n_state, layers):
    m = Regressor(hidden=7, cell=cell, layers=layers)
    state = m.zero_state(5)
    assert len(state) == n_state and state[0].shape == (layers, 5, 7)
    y, new = m(torch.randn(5, 11, 1), state)
    assert y.shape == (5, 11, 1)
    assert [s.shape for s in new] == [s.shape for s in state]


def test_seed_model_matches_the_tutorial():
    m = Regressor.from_config(TrainConfig())
    assert isinstance(m.rnn, torch.nn.LSTM) and m.rnn.hidden_size == 20
    assert m.head.in_features == 20 and m.head.out_features == 1


@pytest.mark.slow
def test_adam_is_torch_adam_bit_for_bit():
    torch.manual_seed(0)
    a = Regressor(hidden=6)
    b = copy.deepcopy(a)
    ours = Adam(a.parameters())
    ref = torch.optim.Adam(b.parameters(), lr=0.006, foreach=False)
    for _ in range(25):
        x = torch.randn(4, 9, 1)
        for model, opt in ((a, ours), (b, ref)):
            y, _ = model(x, model.zero_state(4))
            opt.zero_grad()
            torch.mean((y - x.cos()) ** 2).backward()
        ours.step(0.006)
        ref.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_adam_state_round_trip():
    torch.manual_seed(1)
    m = Regressor(hidden=4)
    opt = Adam(m.parameters())
    y, _ = m(torch.randn(2, 3, 1), m.zero_state(2))
    y.sum().backward()
    opt.step(0.01)
    other = Adam(Regressor(hidden=4).parameters())
    other.load_state_dict(opt.state_dict())
    assert other.t == 1
    assert all(torch.equal(x, y) for x, y in zip(other.exp_avg, opt.exp_avg, strict=True))
    with pytest.raises(ValueError):
        Adam(Regressor(hidden=5).parameters()).load_state_dict(opt.state_dict())


def test_constant_schedule_is_the_seed():
    cfg = TrainConfig()
    assert {lr_at(s, cfg) for s in range(501)} == {0.006}


def test_warmup_and_cosine():
    cfg = TrainConfig(steps=110, lr=1.0, schedule="cosine", warmup_steps=10)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(10, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.5)
    assert lr_at(109, cfg) == pytest.approx(0.0, abs=1e-3)
    lrs = [lr_at(s, cfg) for s in range(10, 110)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))  # decays monotonically


def test_onecycle_rises_then_falls():
    cfg = TrainConfig(steps=100, lr=1.0, schedule="onecycle")
    lrs = [lr_at(s, cfg) for s in range(100)]
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(1 / 25)
    assert 25 <= peak <= 35 and max(lrs) == pytest.approx(1.0, rel=0.05)
    assert lrs[-1] < 0.01
