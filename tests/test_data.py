import math

import numpy as np
import pytest

from sincos_cli.config import TrainConfig
from sincos_cli.training.data import batch_indices, make_batch, range_series


def test_batch_covers_documented_indices():
    idx = batch_indices(3, batch_size=50, time_steps=20)
    assert idx.shape == (50, 20)
    assert idx[0, 0] == 60 and idx[-1, -1] == 60 + 50 * 20 - 1
    assert np.all(np.diff(idx.ravel()) == 1)  # row-major


@pytest.mark.parametrize("k", [0, 1, 7])
def test_each_row_continues_the_same_row_of_the_previous_batch(k):
    a, b = batch_indices(k, 5, 4), batch_indices(k + 1, 5, 4)
    assert np.array_equal(b[:, 0], a[:, -1] + 1)


def test_seed_batch_is_sin_to_cos_at_the_seed_spacing():
    cfg = TrainConfig()
    x, inp, tgt = make_batch(0, cfg)
    assert x.shape == inp.shape == tgt.shape == (50, 20)
    assert x[0, 1] == pytest.approx(1 / (10 * math.pi))
    np.testing.assert_allclose(inp, np.sin(x), atol=1e-6)
    np.testing.assert_allclose(tgt, np.cos(x), atol=1e-6)
    assert inp.dtype == np.float32


def test_tasks_and_noise():
    base = TrainConfig(batch_size=2, time_steps=5)
    x, inp, tgt = make_batch(1, TrainConfig(batch_size=2, time_steps=5, task="cos-sin"))
    np.testing.assert_allclose(inp, np.cos(x), atol=1e-6)
    np.testing.assert_allclose(tgt, np.sin(x), atol=1e-6)
    cfg = TrainConfig(batch_size=2, time_steps=5, task="sin-forecast", horizon=3)
    x, inp, tgt = make_batch(1, cfg)
    np.testing.assert_allclose(tgt, np.sin(x + 3 * cfg.x_spacing), atol=1e-6)
    # the target k points ahead is the input k points later
    np.testing.assert_allclose(tgt[0, :2], inp[0, 3:], atol=1e-6)
    noisy = TrainConfig(batch_size=2, time_steps=5, noise=0.1, seed=4)
    _, a, t = make_batch(2, noisy)
    _, b, _ = make_batch(2, noisy)
    _, clean, t0 = make_batch(2, base)
    assert np.array_equal(a, b)  # reproducible per (seed, batch)
    assert 0.02 < np.std(a - clean) < 0.3
    assert np.array_equal(t, t0)  # targets stay clean


def test_range_series_uses_run_spacing():
    x, inp, tgt = range_series(2.0, 4, TrainConfig(x_spacing=0.5))
    np.testing.assert_allclose(x, [2.0, 2.5, 3.0, 3.5])
    np.testing.assert_allclose(inp, np.sin(x))
    np.testing.assert_allclose(tgt, np.cos(x))
