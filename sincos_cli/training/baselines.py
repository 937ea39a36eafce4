"""Yardsticks for eval_mse (numpy only): what predicting zero, the input itself, and the
best causal linear filter of the input's history score on exactly the batches eval_mse
scores, with the run's task and noise.

The linear filter predicts y[n] = c + Σ_{j<p} w_j u[n-j] from the input u, fitted by least
squares on the run's own training stream only (never on the eval batches), its history
carried across batches as the stateful model's state is: a stream is one window row followed
through every batch (row i of batch k+1 continues row i of batch k), with zeros before it
starts. A model that is not stateful starts every batch afresh, and so does the filter: each
window is a stream of its own. Taps p come from {2, T, 4T, 16T} (no more than a stream is
long) and are chosen on training data alone: fitted on the first 80% of each stream, scored on
the rest, the fewest taps within 1% of the best; then fitted again on the whole training
stream and scored on the eval batches.

The normal equations come from correlations (one FFT a stream) with exact corrections for
the stream's ends, so a 320-tap filter of 500,000 samples costs milliseconds, not the
N·p² of the design matrix; tests/test_baselines.py checks them against numpy's lstsq of the
design matrix itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sincos_cli.config import TrainConfig
from sincos_cli.store.summary_doc import Summary

from .data import batch_indices, input_of, target_of

FIT_SHARE = 0.8  # the part of each training stream the taps are fitted on when choosing
TIE = 0.01  # fewer taps win when within 1% of the best, or within EXACT of it
EXACT = 1e-12  # MSEs this small are float32 data fitted exactly: equally good


@dataclass(frozen=True)
class Baselines:
    """summary.json's "baselines": each yardstick's MSE on the eval batches."""

    zero: float
    persistence: float
    linear: float
    linear_taps: int
    linear_by_taps: dict[int, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"zero": self.zero, "persistence": self.persistence, "linear": self.linear,
                "linear_taps": self.linear_taps,
                "linear_by_taps": {str(p): v for p, v in self.linear_by_taps.items()}}


def vs_linear(eval_mse: float | None, linear: float | None) -> float | None:
    """eval_mse over the linear filter's (None when either is missing or the filter is
    exact)."""
    if eval_mse is None or linear is None or not linear > 0:
        return None
    return eval_mse / linear


def compute(cfg: TrainConfig, steps: int) -> Baselines:
    """The yardsticks of a run of `cfg` after `steps` updates: on batches steps …
    steps + eval_batches - 1, as Trainer.evaluate scores."""
    T, E = cfg.time_steps, cfg.eval_batches
    inp, tgt = _batches(cfg, steps + E)  # (K, B, T)
    ev_in, ev_tgt = inp[steps:], tgt[steps:]
    zero = float(np.mean(ev_tgt ** 2))
    persistence = float(np.mean((ev_in - ev_tgt) ** 2))
    if steps == 0:
        return Baselines(zero, persistence, zero, 0, {})
    if cfg.stateful:  # a stream a row: (B, K·T), training first, then the eval batches
        u = inp.transpose(1, 0, 2).reshape(inp.shape[1], -1)
        y = tgt.transpose(1, 0, 2).reshape(tgt.shape[1], -1)
        train, end = steps * T, u.shape[1]
        cut = max(1, int(train * FIT_SHARE))
        taps = _candidates(T, cut // 2)
        validation, scores = _scores(
            (u[:, :cut], y[:, :cut]), (u[:, :train], y[:, :train]), taps, max(taps) - 1,
            lambda w: _mse(u, y, w, cut, train), lambda w: _mse(u, y, w, train, end))
    else:  # a stream a window: (K·B, T); the eval windows are streams of their own
        u, y = inp.reshape(-1, T), tgt.reshape(-1, T)
        train = steps * inp.shape[1]
        cut = max(1, int(train * FIT_SHARE))
        held = slice(cut, train) if train > cut else slice(0, cut)
        taps = _candidates(T, T)
        validation, scores = _scores(
            (u[:cut], y[:cut]), (u[:train], y[:train]), taps, 0,
            lambda w: _mse(u[held], y[held], w, 0, T),
            lambda w: _mse(u[train:], y[train:], w, 0, T))
    chosen = _choose(validation, taps)
    return Baselines(zero, persistence, scores[chosen], chosen, dict(scores))


def _batches(cfg: TrainConfig, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Batches 0 … count-1 of the stream as data.make_batch makes them (its positions,
    curves, per-batch noise and float32 rounding), in one pass: (K, B, T) float64."""
    B, T = cfg.batch_size, cfg.time_steps
    x = (np.arange(count)[:, None, None] * T + batch_indices(0, B, T)[None]) * cfg.x_spacing
    inp = input_of(x, cfg.task)
    if cfg.noise > 0:
        inp = inp + np.stack([np.random.default_rng([cfg.seed, k]).normal(
            0.0, cfg.noise, (B, T)) for k in range(count)])
    tgt = target_of(x, cfg.task, cfg.horizon, cfg.x_spacing)
    return (inp.astype(np.float32).astype(np.float64),
            tgt.astype(np.float32).astype(np.float64))


def _candidates(T: int, longest: int) -> list[int]:
    return sorted({p for p in (2, T, 4 * T, 16 * T) if 1 <= p <= max(longest, 1)}) or [1]


def _choose(validation: dict[int, float], taps: list[int]) -> int:
    best = min(validation.values())
    return min(p for p in taps if validation[p] <= max(best * (1 + TIE), best + EXACT))


def _scores(fit, whole, taps: list[int], skip: int, validate, evaluate):
    """Each candidate's MSE fitted on `fit` and scored by validate (to choose the taps), and
    fitted on `whole` (the training stream) and scored by evaluate (on the eval batches).
    One set of normal equations serves every candidate: a filter's is the leading block of
    the longest one's."""
    p_max = max(taps)
    chooser, final = _normal(*fit, p_max, skip), _normal(*whole, p_max, skip)
    return ({p: validate(_solve(chooser, p)) for p in taps},
            {p: evaluate(_solve(final, p)) for p in taps})


@dataclass(frozen=True)
class _Normal:
    """The normal equations of streams u → y for filters of up to p taps plus a bias: the
    Gram matrix of [history u[n], …, u[n-p+1], 1] and its product with y."""

    gram: np.ndarray  # (p + 1, p + 1): the taps, then the bias
    rhs: np.ndarray  # (p + 1,)


def _normal(u: np.ndarray, y: np.ndarray, p: int, skip: int = 0) -> _Normal:
    """Σ over streams and samples n ≥ skip of h h' and h y, h = (u[n-a])_{a<p} and 1,
    where u is zero before a stream starts (skip ≥ p - 1: only samples with their whole
    history). With d = b - a ≥ 0 and P_d[m] = u[m] u[m+d],
        Σ_n u[n-a] u[n-b] = R_d - (the first skip - b of P_d) - (the last a of P_d),
    R_d = Σ P_d the stream's autocorrelation at lag d; Σ_n u[n-a] = Σ u less its first
    skip - a and last a samples; Σ_n u[n-a] y[n] the cross-correlation at lag a less its
    first skip - a products."""
    S, L = u.shape
    n = _fast_len(L + p)
    U = np.fft.rfft(u, n)
    R = np.fft.irfft(np.sum(U.real ** 2 + U.imag ** 2, axis=0), n)[:p]
    C = np.fft.irfft(np.sum(np.conj(U) * np.fft.rfft(y, n), axis=0), n)[:p]
    width = 2 * p  # the stream's end, zeros in front when it is shorter
    end = np.zeros((S, width))
    end[:, max(0, width - L):] = u[:, max(0, L - width):]
    ends = end.T @ end  # its lag-d products, summed over streams, on its d-th diagonal
    front = u[:, :skip + p]
    fronts = front.T @ front
    a = np.arange(p)
    gram = np.empty((p + 1, p + 1))
    for d in range(p):
        last = np.diagonal(ends, d)  # P_d at m = L - width … L - 1 - d
        tail = np.concatenate([[0.0], np.cumsum(last[::-1])])  # tail[k]: the last k
        rows = a[:p - d]
        head = 0.0
        if skip:
            firsts = np.concatenate([[0.0], np.cumsum(np.diagonal(fronts, d)[:skip])])
            head = firsts[skip - rows - d]  # the first skip - b of P_d
        gram[rows, rows + d] = gram[rows + d, rows] = R[d] - head - tail[rows]
    last = np.concatenate([[0.0], np.cumsum(np.sum(end, axis=0)[::-1])])
    first = np.concatenate([[0.0], np.cumsum(np.sum(front, axis=0))])
    gram[:p, p] = gram[p, :p] = np.sum(u) - last[a] - (first[skip - a] if skip else 0.0)
    gram[p, p] = S * (L - skip)
    if skip:
        crosses = front.T @ y[:, :skip + p]  # u[m] y[m+k] on the k-th diagonal
        C = C - np.array([np.sum(np.diagonal(crosses, k)[:skip - k]) for k in range(p)])
    rhs = np.concatenate([C, [np.sum(y[:, skip:])]])
    return _Normal(gram, rhs)


def _solve(ne: _Normal, p: int) -> np.ndarray:
    """The filter of p taps and a bias (the leading block of the normal equations), by
    least squares on the Gram matrix scaled to unit diagonal (an exact filter leaves it
    singular: the smallest-norm solution is taken)."""
    idx = np.r_[np.arange(p), ne.gram.shape[0] - 1]
    g = ne.gram[np.ix_(idx, idx)]
    scale = np.sqrt(np.maximum(np.diag(g), 1e-300))
    sol = np.linalg.lstsq(g / np.outer(scale, scale), ne.rhs[idx] / scale, rcond=1e-13)[0]
    return sol / scale  # taps w_0 … w_{p-1}, then the bias


def _fast_len(n: int) -> int:
    """The least 5-smooth length ≥ n (2^a 3^b 5^c), where numpy's FFT is fastest: no
    zero-padding to the next power of two."""
    best = 1 << max(0, (n - 1).bit_length())
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            m = f35 * (1 << max(0, (-(-n // f35) - 1).bit_length()))  # × least 2^a ≥ n/f35
            best = min(best, m)
            f35 *= 3
        f5 *= 5
    return best


def _mse(u: np.ndarray, y: np.ndarray, w: np.ndarray, start: int, stop: int) -> float:
    """The filter's MSE on samples start … stop-1 of every stream, with its full history."""
    taps, bias = w[:-1], w[-1]
    p = len(taps)
    lo = max(0, start - p + 1)
    seg = u[:, lo:stop]
    n = _fast_len(seg.shape[1] + p)
    pred = np.fft.irfft(np.fft.rfft(seg, n) * np.fft.rfft(taps, n), n)[:, start - lo:stop - lo]
    return float(np.mean((pred + bias - y[:, start:stop]) ** 2))


_CACHE: dict[tuple, Baselines] = {}


def add_to(summary: Summary, cfg: TrainConfig) -> None:
    """Set summary.json's "baselines" and "vs_linear" for a run that stopped after
    summary.steps updates; nothing when it scored nothing. Members of a sweep that see the
    same data (the same task, shapes and steps, and no noise, whatever their seed) share one
    computation."""
    if summary.eval_mse is None or not summary.steps:
        return
    steps = summary.steps
    key = (cfg.task, cfg.horizon, cfg.x_spacing, cfg.batch_size, cfg.time_steps,
           cfg.eval_batches, cfg.stateful, cfg.noise, cfg.seed if cfg.noise > 0 else None,
           steps)
    b = _CACHE.get(key)
    if b is None:
        b = _CACHE[key] = compute(cfg, steps)
        if len(_CACHE) > 64:
            _CACHE.pop(next(iter(_CACHE)))
    summary.baselines, summary.vs_linear = b.to_json(), vs_linear(summary.eval_mse, b.linear)


def fill_in(path: Path) -> str:
    """Add the yardsticks to a run made before they existed, under the run's lock, changing
    nothing else of summary.json; says what it did: `added`, `kept` (it had them) or
    `skipped: why` (nothing scored). A folder that cannot be read is a SincosError."""
    from sincos_cli.errors import SincosError
    from sincos_cli.store.files import hold_lock, read_json, release_lock

    fd = hold_lock(path, f"run {path.name} is in use by another sincos process")
    try:
        summary = Summary.load(path)
        if "baselines" in summary.to_json():
            return "kept"
        ev, steps = summary.eval_mse, summary.steps
        if not isinstance(ev, (int, float)) or isinstance(ev, bool):
            return "skipped: it has no eval_mse"
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            return "skipped: summary.json names no steps done"
        try:
            cfg = TrainConfig.from_dict(read_json(path / "config.json"))
        except (TypeError, ValueError) as e:
            raise SincosError(f"{path / 'config.json'} is not a config ({e})") from None
        summary.eval_mse = float(ev)
        add_to(summary, cfg)
        summary.save(path)
        return "added"
    finally:
        release_lock(fd)
