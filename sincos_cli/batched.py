"""Many members' networks as one: stacked weights and a backward pass written out by hand.

K members share every shape (cell, hidden, layers, batch B, window T) and nothing else. Each
member's parameters are one row of a flat (K, P) tensor, laid out as Regressor.parameters()
lists them (PyTorch's own names, shapes and gate order), so a member's row is its
`nn.LSTM`/`nn.GRU`/`nn.RNN` + `nn.Linear` state_dict, and Adam runs over the whole (K, P)
at once with a learning rate per member.

Sequences are time-major and per member: a layer's gate pre-activations for step t are
gi[t], (K, G·H, B), and each time step costs one `torch.bmm` forward and one backward. The
input projection of a whole window, the weight gradients and the factors of the backward
pass are each one batched operation over all T steps, outside the loops. Every reduction
(loss, bias and weight gradients, gradient norms) runs over one member's slice alone, so no
member's numbers mix with another's.

Autograd is not used: over K stacked members it was slower than training them one by one.
`tests/test_batched.py` checks the gradients against autograd through `nn.LSTM`/`nn.GRU`/
`nn.RNN` and against finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


@dataclass(frozen=True)
class Layout:
    """Where each of one member's parameters lives in its flat row, in the order (and with
    the names and shapes) of Regressor.parameters() and its state_dict."""

    cell: str
    hidden: int
    layers: int

    @property
    def entries(self) -> list[tuple[str, tuple[int, ...], int]]:
        G, H = GATES[self.cell], self.hidden
        out, off = [], 0
        for k in range(self.layers):
            inp = 1 if k == 0 else H
            for name, shape in ((f"rnn.weight_ih_l{k}", (G * H, inp)),
                                (f"rnn.weight_hh_l{k}", (G * H, H)),
                                (f"rnn.bias_ih_l{k}", (G * H,)),
                                (f"rnn.bias_hh_l{k}", (G * H,))):
                out.append((name, shape, off))
                off += _numel(shape)
        for name, shape in (("head.weight", (1, H)), ("head.bias", (1,))):
            out.append((name, shape, off))
            off += _numel(shape)
        return out

    @property
    def size(self) -> int:
        name, shape, off = self.entries[-1]
        return off + _numel(shape)

    def views(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each parameter of every member as a (K, *shape) view into flat (K, P)."""
        K = flat.shape[0]
        return {name: flat[:, off:off + _numel(shape)].view(K, *shape)
                for name, shape, off in self.entries}

    def frozen(self, name: str, init: str) -> bool:
        """Keras's LSTM and SimpleRNN have one bias: under init=keras bias_hh stays zero and
        frozen (model.keras_init); every other parameter trains."""
        return init == "keras" and self.cell != "gru" and name.startswith("rnn.bias_hh")


def _by_member(d: torch.Tensor) -> torch.Tensor:
    """(T, K, C, B) time-major to (K, C, T·B), each member's gradients in one matrix."""
    T, K, C, B = d.shape
    return d.permute(1, 2, 0, 3).reshape(K, C, T * B)


def _bmm(w: torch.Tensor, z: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """w @ z (+ bias), batched over members. Torch multiplies a single matrix by a single
    column on another path (a matrix-vector product) than a batch of them, which rounds
    differently: a group of one with one column is computed as a batch of two, so a
    member's numbers never depend on the size of its group."""
    if w.shape[0] == 1 and z.shape[-1] == 1:
        two = [t.expand(2, *t.shape[1:]) for t in (w, z)]
        return _bmm(*two, None if bias is None else bias.expand(2, *bias.shape[1:]))[:1]
    return torch.bmm(w, z) if bias is None else torch.baddbmm(bias, w, z)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


class Net:
    """The forward and backward pass of K members at once (one Layout, one window shape).

    Every cell is one matrix product a time step: z_t = [h_{t-1}; x_t] (K, H+I, B) times a
    block matrix W (K, R, H+I) built from the member's own weights: [W_hh | W_ih] for an
    LSTM (R = 4H) or plain RNN (R = H); for a GRU, whose candidate needs W_hn·h apart from
    W_in·x, R = 4H rows: r and z from both, then W_in·x, then W_hn·h. Buffers are
    member-major, (K, T, C, B), so one step's slice of every member is contiguous per
    member and no time-major copy is ever made.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self.cell, self.H, self.L = layout.cell, layout.hidden, layout.layers
        self.R = self.H if self.cell == "rnn" else 4 * self.H

    def _blocks(self, p: dict, k: int):
        """Layer k's block matrix (K, R, H+I) and bias (K, R, 1)."""
        H = self.H
        w_ih, w_hh = p[f"rnn.weight_ih_l{k}"], p[f"rnn.weight_hh_l{k}"]
        b_ih, b_hh = p[f"rnn.bias_ih_l{k}"], p[f"rnn.bias_hh_l{k}"]
        if self.cell != "gru":
            return torch.cat([w_hh, w_ih], dim=2), (b_ih + b_hh).unsqueeze(-1)
        K, _, inp = w_ih.shape
        w = w_ih.new_zeros(K, 4 * H, H + inp)
        w[:, :2 * H, :H] = w_hh[:, :2 * H]
        w[:, :2 * H, H:] = w_ih[:, :2 * H]
        w[:, 2 * H:3 * H, H:] = w_ih[:, 2 * H:]
        w[:, 3 * H:, :H] = w_hh[:, 2 * H:]
        b = torch.cat([b_ih[:, :2 * H] + b_hh[:, :2 * H], b_ih[:, 2 * H:], b_hh[:, 2 * H:]],
                      dim=1)
        return w, b.unsqueeze(-1)

    # -- forward ------------------------------------------------------------------------

    def forward(self, flat: torch.Tensor, x: torch.Tensor, state: tuple, keep: bool = True):
        """x: (K, T, 1, B) inputs; state: (h,) or (h, c), each (L, K, H, B).
        Returns (y (K, T, 1, B), the new state, what backward needs or None)."""
        K, T, _, B = x.shape
        H = self.H
        p = self.layout.views(flat)
        saved, new_h, new_c = [], [], []
        below = x
        for k in range(self.L):
            w, b = self._blocks(p, k)
            inp = below.shape[2]
            z = x.new_empty(K, T + 1, H + inp, B)  # z[:, t] = [h_{t-1}; x_t]
            z[:, 0, :H] = state[0][k]
            z[:, :T, H:] = below
            z[:, T, H:] = 0  # never read: only z[:, T, :H] (the last h) is
            acts = x.new_empty(K, T, self.R, B)  # the gates after their nonlinearities
            if self.cell == "lstm":
                cs = x.new_empty(K, T + 1, H, B)
                cs[:, 0] = state[1][k]
                tcs = x.new_empty(K, T, H, B)
                for t in range(T):
                    g, a = _bmm(w, z[:, t], b), acts[:, t]
                    torch.sigmoid(g[:, :2 * H], out=a[:, :2 * H])
                    torch.tanh(g[:, 2 * H:3 * H], out=a[:, 2 * H:3 * H])
                    torch.sigmoid(g[:, 3 * H:], out=a[:, 3 * H:])
                    torch.mul(a[:, H:2 * H], cs[:, t], out=cs[:, t + 1])
                    cs[:, t + 1].addcmul_(a[:, :H], a[:, 2 * H:3 * H])
                    torch.tanh(cs[:, t + 1], out=tcs[:, t])
                    torch.mul(a[:, 3 * H:], tcs[:, t], out=z[:, t + 1, :H])
                new_c.append(cs[:, T])
                rest = {"cs": cs, "tcs": tcs}
            elif self.cell == "gru":
                for t in range(T):
                    g, a = _bmm(w, z[:, t], b), acts[:, t]
                    torch.sigmoid(g[:, :2 * H], out=a[:, :2 * H])  # r, z
                    # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); acts keeps W_hn h + b_hn
                    a[:, 3 * H:] = g[:, 3 * H:]
                    n = torch.addcmul(g[:, 2 * H:3 * H], a[:, :H], g[:, 3 * H:],
                                      out=a[:, 2 * H:3 * H]).tanh_()
                    torch.addcmul(n, a[:, H:2 * H], z[:, t, :H] - n, out=z[:, t + 1, :H])
                rest = {}
            else:
                for t in range(T):
                    torch.tanh(_bmm(w, z[:, t], b), out=z[:, t + 1, :H])
                rest = {}
            new_h.append(z[:, T, :H])
            if keep:
                saved.append({"z": z, "acts": acts, "w": w, **rest})
            below = z[:, 1:, :H]
        hw, hb = p["head.weight"], p["head.bias"]  # (K, 1, H), (K, 1)
        y = torch.matmul(hw.unsqueeze(1), below) + hb.view(K, 1, 1, 1)  # (K, T, 1, B)
        if keep:
            saved.append({"top": below})
        new = tuple(torch.stack(s) for s in ((new_h, new_c) if self.cell == "lstm"
                                               else (new_h,)))
        return y, new, saved if keep else None

    # -- backward -----------------------------------------------------------------------

    def backward(self, flat: torch.Tensor, saved: list, dy: torch.Tensor) -> torch.Tensor:
        """The gradient of the loss with respect to flat (K, P), given dL/dy (K, T, 1, B).
        Truncated BPTT, as training does: no gradient flows into the carried state."""
        K, T, _, B = dy.shape
        H = self.H
        p = self.layout.views(flat)
        grad = torch.empty_like(flat)
        gv = self.layout.views(grad)
        top = saved[-1]["top"]  # (K, T, H, B)
        gv["head.weight"].copy_((dy * top).sum(dim=(1, 3)).unsqueeze(1))
        gv["head.bias"].copy_(dy.sum(dim=(1, 2, 3)).unsqueeze(1))
        dhs = torch.matmul(p["head.weight"].transpose(1, 2).unsqueeze(1), dy)  # (K, T, H, B)
        for k in reversed(range(self.L)):
            s = saved[k]
            z, w = s["z"], s["w"]
            dg = self._factors(s)  # becomes dL/d(pre-activation), step by step
            w_t = w.transpose(1, 2)
            dz = z.new_empty(K, T, z.shape[2], B)  # dz[:, t] = [dh_{t-1}; dx_t]
            dw = w.new_zeros(w.shape)
            self._loop(s, dg, dhs, w_t, dz, dw)
            db = dg.sum(dim=(1, 3))  # (K, R)
            self._scatter(gv, k, dw, db)
            dhs = dz[:, :, H:]  # the gradient into the layer below's outputs
        return grad

    def _factors(self, s: dict) -> torch.Tensor:
        """Each step's pre-activation gradients are dh (and for an LSTM dc) times factors
        known from the forward pass; computed here for all T at once, so each step of the
        backward loop is a handful of operations."""
        H, acts, z = self.H, s["acts"], s["z"]
        if self.cell == "rnn":
            h = z[:, 1:, :H]
            return 1 - h * h
        fac = torch.empty_like(acts)
        if self.cell == "lstm":
            i, f, g, o = (acts[:, :, j * H:(j + 1) * H] for j in range(4))
            tcs = s["tcs"]
            torch.mul(g, i * (1 - i), out=fac[:, :, :H])
            torch.mul(s["cs"][:, :-1], f * (1 - f), out=fac[:, :, H:2 * H])
            torch.mul(i, 1 - g * g, out=fac[:, :, 2 * H:3 * H])
            torch.mul(tcs, o * (1 - o), out=fac[:, :, 3 * H:])
            s["dc_of_dh"] = o * (1 - tcs * tcs)
            return fac
        r, zg, n, ghn = (acts[:, :, j * H:(j + 1) * H] for j in range(4))
        fn = (1 - zg) * (1 - n * n)
        torch.mul(fn * ghn, r * (1 - r), out=fac[:, :, :H])
        torch.mul(z[:, :-1, :H] - n, zg * (1 - zg), out=fac[:, :, H:2 * H])
        fac[:, :, 2 * H:3 * H] = fn
        torch.mul(fn, r, out=fac[:, :, 3 * H:])
        return fac

    def _loop(self, s, dg, dhs, w_t, dz, dw) -> None:
        """Back through time: dg[:, t] (the factors) times dh (and dc) in place."""
        H, T = self.H, dg.shape[1]
        K, B = dg.shape[0], dg.shape[3]
        z = s["z"]
        dh_next = dc_next = None
        for t in reversed(range(T)):
            dh = dhs[:, t] if dh_next is None else dhs[:, t] + dh_next
            g = dg[:, t]
            if self.cell == "lstm":
                f = s["acts"][:, t, H:2 * H]
                dc = dh * s["dc_of_dh"][:, t] if dc_next is None else \
                    torch.addcmul(dc_next, dh, s["dc_of_dh"][:, t])
                gv = g.view(K, 4, H, B)
                gv[:, :3].mul_(dc.unsqueeze(1))
                gv[:, 3].mul_(dh)
                dc_next = dc * f
            elif self.cell == "gru":
                g.view(K, 4, H, B).mul_(dh.unsqueeze(1))
            else:
                g.mul_(dh)
            dz[:, t] = _bmm(w_t, g)
            dw.baddbmm_(g, z[:, t].transpose(1, 2))
            dh_next = dz[:, t, :H]
            if self.cell == "gru":  # h' = (1 − z) n + z h: the direct path to h
                dh_next = dh_next.addcmul(dh, s["acts"][:, t, H:2 * H])

    def _scatter(self, gv: dict, k: int, dw: torch.Tensor, db: torch.Tensor) -> None:
        """The block matrix's gradient back into the member's own parameters."""
        H = self.H
        d_ih, d_hh = gv[f"rnn.weight_ih_l{k}"], gv[f"rnn.weight_hh_l{k}"]
        db_ih, db_hh = gv[f"rnn.bias_ih_l{k}"], gv[f"rnn.bias_hh_l{k}"]
        if self.cell != "gru":
            d_hh.copy_(dw[:, :, :H])
            d_ih.copy_(dw[:, :, H:])
            db_ih.copy_(db)
            db_hh.copy_(db)
            return
        d_hh[:, :2 * H] = dw[:, :2 * H, :H]
        d_hh[:, 2 * H:] = dw[:, 3 * H:, :H]
        d_ih[:, :2 * H] = dw[:, :2 * H, H:]
        d_ih[:, 2 * H:] = dw[:, 2 * H:3 * H, H:]
        db_ih[:, :2 * H] = db[:, :2 * H]
        db_ih[:, 2 * H:] = db[:, 2 * H:3 * H]
        db_hh[:, :2 * H] = db[:, :2 * H]
        db_hh[:, 2 * H:] = db[:, 3 * H:]
