"""Yardsticks beside every eval_mse (#36): zero, the input itself and the best causal
linear filter, on exactly the batches eval_mse scores; checked against numpy's lstsq of the
design matrix built sample by sample, and read back through the CLI."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import TINY, read

from sincos_cli.config import TrainConfig
from sincos_cli.store.summary_doc import Summary
from sincos_cli.training import baselines
from sincos_cli.training.data import make_batch

SMALL_CFG = TrainConfig(batch_size=4, time_steps=5, steps=60, eval_batches=3, noise=0.1)


def _streams(cfg: TrainConfig, steps: int):
    """make_batch's batches as streams: a row through every batch (stateful), or each
    window alone (not), float64 of the float32 the model sees."""
    bs = [make_batch(k, cfg) for k in range(steps + cfg.eval_batches)]
    inp = np.stack([b[1] for b in bs]).astype(float)
    tgt = np.stack([b[2] for b in bs]).astype(float)
    if cfg.stateful:
        return (inp.transpose(1, 0, 2).reshape(cfg.batch_size, -1),
                tgt.transpose(1, 0, 2).reshape(cfg.batch_size, -1), inp, tgt)
    return inp.reshape(-1, cfg.time_steps), tgt.reshape(-1, cfg.time_steps), inp, tgt


def _design(u, y, p, rows, lo, hi):
    """[u[n], u[n-1], …, u[n-p+1], 1] for samples lo … hi-1 of the given streams (zeros
    before a stream starts), and their targets: built one sample at a time."""
    X, t = [], []
    for s in rows:
        padded = np.concatenate([np.zeros(p), u[s]])
        for n in range(lo, hi):
            X.append(np.r_[padded[n + p - np.arange(p)], 1.0])
            t.append(y[s, n])
    return np.array(X), np.array(t)


@pytest.mark.parametrize("task", ["sin-cos", "cos-sin", "sin-forecast"])
def test_the_stateful_filter_is_numpys_least_squares(task):
    """Fitted on every training sample with its whole history (those of the stream's
    first p_max - 1 samples left out, as the filter's fit leaves them), scored on the eval
    batches with the history carried: the same MSE as lstsq of the design matrix."""
    cfg = replace(SMALL_CFG, task=task, horizon=4)
    b = baselines.compute(cfg, cfg.steps)
    u, y, _, _ = _streams(cfg, cfg.steps)
    L, skip = cfg.steps * cfg.time_steps, max(b.linear_by_taps) - 1
    assert sorted(b.linear_by_taps) == [2, 5, 20, 80]
    for p, mse in b.linear_by_taps.items():
        X, t = _design(u, y, p, range(cfg.batch_size), skip, L)
        w = np.linalg.lstsq(X, t, rcond=None)[0]
        Xe, te = _design(u, y, p, range(cfg.batch_size), L, u.shape[1])
        assert mse == pytest.approx(np.mean((Xe @ w - te) ** 2), rel=1e-8), p


def test_a_model_that_is_not_stateful_is_measured_against_a_filter_that_is_not_either():
    cfg = replace(SMALL_CFG, stateful=False)
    b = baselines.compute(cfg, cfg.steps)
    u, y, _, _ = _streams(cfg, cfg.steps)
    n_train, T = cfg.steps * cfg.batch_size, cfg.time_steps
    assert sorted(b.linear_by_taps) == [2, T]  # no history longer than a window
    for p, mse in b.linear_by_taps.items():
        X, t = _design(u, y, p, range(n_train), 0, T)
        w = np.linalg.lstsq(X, t, rcond=None)[0]
        Xe, te = _design(u, y, p, range(n_train, len(u)), 0, T)
        assert mse == pytest.approx(np.mean((Xe @ w - te) ** 2), rel=1e-8), p


def test_zero_and_the_input_are_scored_on_the_eval_batches():
    b = baselines.compute(SMALL_CFG, 60)
    _, _, inp, tgt = _streams(SMALL_CFG, 60)
    assert b.zero == pytest.approx(np.mean(tgt[60:] ** 2), rel=1e-12)
    assert b.persistence == pytest.approx(np.mean((inp[60:] - tgt[60:]) ** 2), rel=1e-12)


def test_on_clean_data_two_taps_are_exact_and_are_chosen():
    """cos x_t = (sin x_t cos h - sin x_(t-1)) / sin h: the default task's filter needs two
    coefficients, and the choice takes the fewest taps that are as good."""
    cfg = TrainConfig(steps=100)
    b = baselines.compute(cfg, 100)
    assert b.linear_taps == 2 and b.linear < 1e-11
    assert b.zero == pytest.approx(0.5, abs=0.01) and b.persistence == pytest.approx(1, abs=0.01)
    noisy = baselines.compute(replace(cfg, noise=0.05), 100)
    assert noisy.linear_taps > 2 and 1e-6 < noisy.linear < 1e-2  # noise: a longer filter
    assert noisy.linear < min(v for p, v in noisy.linear_by_taps.items() if p < 20)


def test_members_with_the_same_clean_data_share_one_computation(monkeypatch):
    calls = []
    real = baselines.compute
    monkeypatch.setattr(baselines, "compute", lambda c, s: calls.append(c.seed) or real(c, s))
    baselines._CACHE.clear()
    cfg = replace(SMALL_CFG, noise=0.0)

    def scored(c, eval_mse):
        s = Summary(eval_mse=eval_mse, steps=60)
        baselines.add_to(s, c)
        return s

    a = scored(replace(cfg, seed=1, lr=0.1), 2e-3)
    b = scored(replace(cfg, seed=2), 1e-3)
    assert calls == [1] and a.baselines == b.baselines
    assert a.vs_linear == pytest.approx(2 * b.vs_linear)
    scored(replace(cfg, seed=1, noise=0.1), 1e-3)
    scored(replace(cfg, seed=2, noise=0.1), 1e-3)
    assert calls == [1, 1, 2]  # noise: each seed its own stream
    unscored = scored(cfg, None)  # nothing scored, nothing to stand by
    assert unscored.baselines is None and "vs_linear" not in unscored.to_json()


def test_every_run_keeps_its_yardsticks_and_compare_shows_them(cli, runs_dir):
    assert cli("train", *TINY).exit_code == 0
    s = read(runs_dir / "run-01" / "summary.json")
    b = s["baselines"]
    assert set(b) == {"zero", "persistence", "linear", "linear_taps", "linear_by_taps"}
    assert b["linear"] == b["linear_by_taps"][str(b["linear_taps"])]
    assert s["vs_linear"] == pytest.approx(s["eval_mse"] / b["linear"])
    table = cli("compare").stdout.splitlines()
    assert table[0].split()[:5] == ["id", "status", "eval_mse", "linear", "vs_linear"]
    rows = json.loads(cli("compare", "--json").stdout)
    assert rows[0]["summary"]["baselines"] == b
    csv = cli("compare", "--csv").stdout.splitlines()
    assert "linear" in csv[0].split(",") and "vs_linear" in csv[0].split(",")
    assert cli("compare", "--where", "vs_linear>1", "--json").stdout.count('"id"') == 1
    shown = cli("show", "run-01").stdout
    assert "best linear filter" in shown and "vs_linear" in shown


def test_a_damaged_yardstick_reads_as_missing(cli, trained_copy):
    path = trained_copy / "summary.json"
    s = read(path)
    s["baselines"]["linear"] = "oops"
    path.write_text(json.dumps(s))
    res = cli("compare", "--json")
    assert res.exit_code == 0
    row = json.loads(res.stdout)[0]
    assert row["summary"]["baselines"]["linear"] is None
    assert "linear" in row["bad_values"]
    s["baselines"] = [1, 2]
    path.write_text(json.dumps(s))
    assert cli("compare").exit_code == 0 and cli("show", trained_copy.name).exit_code == 0


def test_old_runs_get_their_yardsticks_and_nothing_else_changes(cli, trained_copy):
    path = trained_copy / "summary.json"
    now = read(path)
    old = {k: v for k, v in now.items() if k not in ("baselines", "vs_linear")}
    path.write_text(json.dumps(old))  # as a run made before the yardsticks
    res = cli("baselines", trained_copy.name)
    assert res.exit_code == 0, res.stderr
    assert res.stdout == f"{trained_copy.name}\tadded\n"
    assert read(path) == now  # what training itself wrote, key for key
    assert cli("baselines", trained_copy.name).stdout == f"{trained_copy.name}\tkept\n"
    path.write_text(json.dumps({**old, "eval_mse": None}))
    assert "skipped: it has no eval_mse" in cli("baselines", trained_copy.name).stdout
    assert cli("baselines", "run-99").exit_code == 1
