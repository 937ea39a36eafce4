"""The network's gates and states over one window, for internals.bin (store/internals.py).

Either engine hands over one member's weights (named as Regressor's state_dict names them),
window row 0's input and the state it started from; `unroll` runs PyTorch's cell equations
on them in float64 numpy and returns every layer's panels. Its hidden state through the
Linear head is the trace's prediction (tests check it to float32 precision).
"""

from __future__ import annotations

import numpy as np

from sincos_cli.store.internals import PANELS


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # no overflow for large |a|


def unroll(cell: str, layers: int, weights: dict, x: np.ndarray, state) -> np.ndarray:
    """(layers, panels, T, hidden) float32 for the window `x` (T,) from `state`: (h0,) or
    (h0, c0), each (layers, hidden)."""
    T = len(x)
    H = np.asarray(state[0]).shape[-1]
    out = np.empty((layers, len(PANELS[cell]), T, H))
    inp = np.asarray(x, np.float64).reshape(T, 1)
    for k in range(layers):
        w_ih, w_hh, b_ih, b_hh = (np.asarray(weights[f"rnn.{n}_l{k}"], np.float64)
                                  for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h = np.asarray(state[0][k], np.float64)
        if cell == "lstm":
            _lstm(inp @ w_ih.T + (b_ih + b_hh), w_hh, h, np.asarray(state[1][k], np.float64),
                  out[k])
        elif cell == "gru":
            _gru(inp @ w_ih.T + b_ih, w_hh, b_hh, h, out[k])
        else:
            pre = inp @ w_ih.T + (b_ih + b_hh)
            for t in range(T):
                h = out[k, 0, t] = np.tanh(pre[t] + w_hh @ h)
        inp = out[k, -1]  # this layer's hidden states feed the next
    return out.astype(np.float32)


def _lstm(pre, w_hh, h, c, panels) -> None:
    """pre: every step's input part and both biases (T, 4H); panels (6, T, H) filled."""
    T, H = pre.shape[0], len(h)
    acts = np.empty_like(pre)  # the four gates, activated, in PyTorch's order i, f, g, o
    cs, hs = panels[4], panels[5]
    for t in range(T):
        a = pre[t] + w_hh @ h
        act = acts[t]
        np.multiply(np.tanh(0.5 * a, out=act), 0.5, out=act)
        act += 0.5  # sigmoid(a) = (1 + tanh(a / 2)) / 2: no overflow for large |a|
        np.tanh(a[2 * H:3 * H], out=act[2 * H:3 * H])
        c = cs[t] = act[H:2 * H] * c + act[:H] * act[2 * H:3 * H]
        h = hs[t] = act[3 * H:] * np.tanh(c)
    panels[:4] = acts.reshape(T, 4, H).transpose(1, 0, 2)


def _gru(pre, w_hh, b_hh, h, panels) -> None:
    """pre: every step's input part with its bias (T, 3H); panels (4, T, H) filled."""
    H = len(h)
    for t in range(pre.shape[0]):
        rec = w_hh @ h + b_hh
        rz = _sigmoid(pre[t, :2 * H] + rec[:2 * H])
        r, z = panels[0, t], panels[1, t]
        r[:], z[:] = rz[:H], rz[H:]
        n = panels[2, t] = np.tanh(pre[t, 2 * H:] + r * rec[2 * H:])
        h = panels[3, t] = (1 - z) * n + z * h


def head(weights: dict, values: np.ndarray) -> np.ndarray:
    """The Linear head on the last layer's hidden state: the prediction (T,)."""
    w, b = (np.asarray(weights[n], np.float64) for n in ("head.weight", "head.bias"))
    return (values[-1, -1].astype(np.float64) @ w.T + b)[:, 0]
