"""Many members' networks as one: stacked weights and a backward pass written out by hand.

K members share every shape (cell, hidden, layers, batch B, window T) and nothing else. Each
member's parameters are one row of a flat (K, P) tensor, laid out as Regressor.parameters()
lists them (PyTorch's own names, shapes and gate order), so a member's row is its
`nn.LSTM`/`nn.GRU`/`nn.RNN` + `nn.Linear` state_dict, and Adam runs over the whole (K, P)
at once with a learning rate per member.

Every cell is one matrix product a time step, forward and backward: z_t = [h_{t-1}; x_t]
(K, H+I, B) times a block matrix built from each member's own weights. Buffers are
time-major, (T, K, C, B), so one step's slice of every member is one contiguous block; they
are allocated once per group shape and reused (Workspace), and the element-wise work of a
step, including the factors its backward pass will need, is done while that step's data is
in the cache. Every reduction (loss, bias and weight gradients, gradient norms) runs over
one member's slice alone, the same way at every group size, so no member's numbers mix with
another's.

Autograd is not used: over K stacked members it was slower than training them one by one.
`tests/test_batched.py` checks the gradients against autograd through `nn.LSTM`/`nn.GRU`/
`nn.RNN` and against finite differences.
"""

from __future__ import annotations

import torch

from .layout import Layout


class Workspace:
    """A layer's buffers for K members, a window of T steps and B columns, allocated once
    and reused while the group keeps its shape, with each step's views made once. The
    backward pass works in place, so the buffers are few (a group's stay in the cache
    longer):

    z (T+1, K, H+I+1, B): z[t] = [h_{t-1}; x_t; 1]; z[t+1, :, :H] is h_t (the 1 carries
        the bias, a column of the block matrix).
    act (T, K, R, B): a GRU's gates after their nonlinearities, r, z, n, and h_{t-1} − n.
        An LSTM's sigmoid gates o, i, f are one step's scratch, and only f is kept (fs,
        (T, K, H, B)); a plain RNN's h_t is in z.
    fac (T, K, R, B): the factors that turn dh (and an LSTM's dc) into the step's
        pre-activation gradients, which the backward pass writes over them. An LSTM's are
        in mem, which first holds [tanh c_t, g, c_{t-1}, i] for step t (mem[t+1] its c_t).
    dcdh (T, K, H, B), LSTM: dc_t/dh_t = o (1 − tanh² c_t).
    dz (T+1, K, H+I+1, B): backward, dz[t] = [dL/dh_{t-1}; dL/dx_t; -].
    """

    def __init__(self, cell: str, K: int, T: int, B: int, H: int, inp: int, R: int,
                 keep: bool, dtype: torch.dtype):
        self.key = (K, T, B, inp, keep, dtype)
        Z = H + inp + 1

        def e(*shape):
            return torch.empty(*shape, dtype=dtype)
        self.z = e(T + 1, K, Z, B)
        self.z[:, :, H:].zero_()  # x_T is never set: zero, as the head multiplies it by 0
        self.z[:, :, -1] = 1
        lstm = cell == "lstm"
        if cell == "gru":
            self.act = e(T, K, R, B)
        else:  # one step's scratch, every step the same (an LSTM's o, i, f)
            rows = 3 * H if lstm else R
            self.act = e(1, K, rows, B).expand(T, K, rows, B)
        self.fs = e(T, K, H, B) if lstm and keep else None
        self.pre = e(K, R, B)  # one step's pre-activations (scratch)
        self.mem = e(T + 1, K, 4 * H, B) if lstm else None
        self.fac = (self.mem[:T] if lstm else e(T, K, R, B)) if keep else None
        self.dcdh = e(T, K, H, B) if lstm and keep else None
        self.dz = e(T + 1, K, Z, B) if keep else None
        self.dc = (e(K, H, B), e(K, H, B)) if lstm and keep else None
        zs = [self.z[t] for t in range(T + 1)]
        self.h_in = [z[:, :H] for z in zs]  # h_{t-1} at step t; h_in[t+1] is h_t
        self.steps = [self._views(cell, t, H, keep) for t in range(T)]

    def _views(self, cell: str, t: int, H: int, keep: bool) -> dict:
        a, v = self.act[t], {"z": self.z[t], "zT": self.z[t].transpose(1, 2)}
        if keep:
            f = self.fac[t]
            v.update(fac=f, dz=self.dz[t], dz_h=self.dz[t + 1][:, :H],
                     facv=f.view(f.shape[0], -1, H, f.shape[2]))
        if cell == "lstm":  # act: o, i, f (sigmoid) · mem: tanh c, g, c_prev, i
            m, m1 = self.mem[t], self.mem[t + 1]
            v.update(sig=a, o=a[:, :H], i=a[:, H:2 * H], f=a[:, 2 * H:3 * H],
                     tc=m[:, :H], g=m[:, H:2 * H], c_prev=m[:, 2 * H:3 * H],
                     i_copy=m[:, 3 * H:], c=m1[:, 2 * H:3 * H], mem=m)
            if keep:
                v.update(dcdh=self.dcdh[t], fac_o=f[:, :H], fac_ifg=v["facv"][:, 1:],
                         f_kept=self.fs[t])
        elif cell == "gru":  # act: r, z, n, h_prev − n
            v.update(rz=a[:, :2 * H], r=a[:, :H], zg=a[:, H:2 * H], n=a[:, 2 * H:3 * H],
                     diff=a[:, 3 * H:])
            if keep:
                v.update(f_r=f[:, :H], f_z=f[:, H:2 * H], f_ni=f[:, 2 * H:3 * H],
                         f_nh=f[:, 3 * H:])
        return v


class Net:
    """The forward and backward pass of K members at once (one Layout, one window shape).

    The block matrix W (K, R, H+I+1) multiplies z_t = [h_{t-1}; x_t; 1]: for an LSTM
    (R = 4H) [W_hh | W_ih | b_ih + b_hh] with its gate rows reordered o, i, f, g (one
    sigmoid over three gates, and the backward's i, f, g rows all times dc); for a plain RNN
    (R = H) the same unordered; for a GRU, whose candidate needs W_hn·h + b_hn apart from
    W_in·x + b_in, R = 4H rows: r and z from both, then W_in·x + b_in, then W_hn·h + b_hn.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self.cell, self.H, self.L = layout.cell, layout.hidden, layout.layers
        self.R = self.H if self.cell == "rnn" else 4 * self.H
        H = self.H
        # the LSTM's rows: PyTorch's i, f, g, o as o, i, f, g, and back
        self.order = torch.cat([torch.arange(3 * H, 4 * H), torch.arange(0, 3 * H)])
        self.unorder = torch.argsort(self.order)
        self.one = torch.ones(())
        self._ws: dict = {}

    def _workspace(self, k: int, x: torch.Tensor, inp: int, keep: bool) -> Workspace:
        K, T, _, B = x.shape
        ws = self._ws.get((k, keep))
        if ws is None or ws.key != (K, T, B, inp, keep, x.dtype):
            ws = self._ws[(k, keep)] = Workspace(self.cell, K, T, B, self.H, inp, self.R,
                                                  keep, x.dtype)
            self.one = torch.ones((), dtype=x.dtype)
        return ws

    def _blocks(self, p: dict, k: int) -> torch.Tensor:
        """Layer k's block matrix (K, R, H+I+1)."""
        H = self.H
        w_ih, w_hh = p[f"rnn.weight_ih_l{k}"], p[f"rnn.weight_hh_l{k}"]
        b_ih, b_hh = p[f"rnn.bias_ih_l{k}"], p[f"rnn.bias_hh_l{k}"]
        if self.cell != "gru":
            w = torch.cat([w_hh, w_ih, (b_ih + b_hh).unsqueeze(-1)], dim=2)
            return w.index_select(1, self.order) if self.cell == "lstm" else w
        K, _, inp = w_ih.shape
        w = w_ih.new_zeros(K, 4 * H, H + inp + 1)
        w[:, :2 * H, :H] = w_hh[:, :2 * H]
        w[:, :2 * H, H:-1] = w_ih[:, :2 * H]
        w[:, :2 * H, -1] = b_ih[:, :2 * H] + b_hh[:, :2 * H]
        w[:, 2 * H:3 * H, H:-1] = w_ih[:, 2 * H:]
        w[:, 2 * H:3 * H, -1] = b_ih[:, 2 * H:]
        w[:, 3 * H:, :H] = w_hh[:, 2 * H:]
        w[:, 3 * H:, -1] = b_hh[:, 2 * H:]
        return w

    # -- forward ------------------------------------------------------------------------

    def forward(self, flat: torch.Tensor, x: torch.Tensor, state: tuple, keep: bool = True):
        """x: (K, T, 1, B) inputs; state: (h,) or (h, c), each (L, K, H, B).
        Returns (y (K, T, 1, B), the new state, what backward needs or None)."""
        K, T, _, B = x.shape
        H = self.H
        p = self.layout.views(flat)
        saved, new_h, new_c = [], [], []
        below = x.transpose(0, 1)  # (T, K, I, B)
        for k in range(self.L):
            w = self._blocks(p, k)
            inp = below.shape[2]
            ws = self._workspace(k, x, inp, keep)
            ws.z[:T, :, H:H + inp] = below
            ws.h_in[0].copy_(state[0][k])
            if self.cell == "lstm":
                ws.mem[0][:, 2 * H:3 * H] = state[1][k]
                self._lstm(ws, w, T, keep)
                new_c.append(ws.mem[T][:, 2 * H:3 * H].clone())
            elif self.cell == "gru":
                self._gru(ws, w, T, keep)
            else:
                self._rnn(ws, w, T, keep)
            new_h.append(ws.h_in[T].clone())
            if keep:
                saved.append({"ws": ws, "w": w})
            below = ws.z[1:, :, :H]  # (T, K, H, B): this layer's outputs
        # the head, [w | 0 | b] times z[t+1] = [h_t; x_{t+1}; 1]
        head = torch.zeros(K, 1, ws.z.shape[2], dtype=x.dtype)
        head[:, :, :H] = p["head.weight"]
        head[:, :, -1] = p["head.bias"]
        Z = ws.z.shape[2]
        y = _bmm(head.expand(T, K, 1, Z).reshape(T * K, 1, Z),
                 ws.z[1:].view(T * K, Z, B)).view(T, K, 1, B)
        if keep:
            saved.append({"top": ws.z[1:]})
        new = tuple(torch.stack(s) for s in ((new_h, new_c) if self.cell == "lstm"
                                               else (new_h,)))
        return y.transpose(0, 1).contiguous(), new, saved if keep else None

    def _lstm(self, ws: Workspace, w, T: int, keep: bool) -> None:
        one, pre = self.one, ws.pre
        for t in range(T):
            v = ws.steps[t]
            _mm(pre, None, w, v["z"])
            H3 = v["sig"].shape[1]
            torch.sigmoid(pre[:, :H3], out=v["sig"])  # o, i, f
            torch.tanh(pre[:, H3:], out=v["g"])
            torch.mul(v["f"], v["c_prev"], out=v["c"])
            v["c"].addcmul_(v["i"], v["g"])
            torch.tanh(v["c"], out=v["tc"])
            torch.mul(v["o"], v["tc"], out=ws.h_in[t + 1])
            if keep:  # o(1−tanh² c); then mem becomes o(1−o)·tanh c, i(1−i)·g,
                # f(1−f)·c_prev, (1−g²)·i (the scratch pre holds the first factors)
                torch.addcmul(one, v["tc"], v["tc"], value=-1, out=v["dcdh"]).mul_(v["o"])
                v["f_kept"].copy_(v["f"])
                v["i_copy"].copy_(v["i"])
                torch.addcmul(v["sig"], v["sig"], v["sig"], value=-1, out=pre[:, :H3])
                torch.addcmul(one, v["g"], v["g"], value=-1, out=pre[:, H3:])
                v["mem"].mul_(pre)

    def _gru(self, ws: Workspace, w, T: int, keep: bool) -> None:
        """n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = n + z ⊙ (h − n)."""
        one, pre, H = self.one, ws.pre, self.H
        for t in range(T):
            v = ws.steps[t]
            _mm(pre, None, w, v["z"])
            torch.sigmoid(pre[:, :2 * H], out=v["rz"])
            n_h = pre[:, 3 * H:]
            torch.addcmul(pre[:, 2 * H:3 * H], v["r"], n_h, out=v["n"]).tanh_()
            torch.sub(ws.h_in[t], v["n"], out=v["diff"])
            torch.addcmul(v["n"], v["zg"], v["diff"], out=ws.h_in[t + 1])
            if keep:
                f_ni = v["f_ni"]  # (1 − z)(1 − n²)
                torch.addcmul(one, v["n"], v["n"], value=-1, out=f_ni)
                f_ni.addcmul_(v["zg"], f_ni, value=-1)
                torch.mul(f_ni, v["r"], out=v["f_nh"])
                torch.addcmul(v["zg"], v["zg"], v["zg"], value=-1, out=v["f_z"])
                v["f_z"].mul_(v["diff"])
                torch.addcmul(v["r"], v["r"], v["r"], value=-1, out=v["f_r"])
                v["f_r"].mul_(n_h).mul_(f_ni)

    def _rnn(self, ws: Workspace, w, T: int, keep: bool) -> None:
        one, pre = self.one, ws.pre
        for t in range(T):
            v = ws.steps[t]
            _mm(pre, None, w, v["z"])
            h = torch.tanh(pre, out=ws.h_in[t + 1])
            if keep:
                torch.addcmul(one, h, h, value=-1, out=v["fac"])

    # -- backward -----------------------------------------------------------------------

    def backward(self, flat: torch.Tensor, saved: list, dy: torch.Tensor) -> torch.Tensor:
        """The gradient of the loss with respect to flat (K, P), given dL/dy (K, T, 1, B).
        Truncated BPTT, as training does: no gradient flows into the carried state. A
        column whose dL/dy is zero (a prediction riding along) adds exact zeros."""
        K, T, _, B = dy.shape
        H = self.H
        p = self.layout.views(flat)
        grad = torch.empty_like(flat)
        gv = self.layout.views(grad)
        top = saved[-1]["top"]  # (T, K, Z, B): z[t+1] = [h_t; x_{t+1}; 1]
        Z = top.shape[2]
        dyt = dy.transpose(0, 1).contiguous()  # (T, K, 1, B)
        dh = torch.bmm(dyt.view(T * K, 1, B), top.reshape(T * K, Z, B).transpose(1, 2))
        dh = _sum_steps(dh.view(T, K, 1, Z))  # (K, 1, Z)
        gv["head.weight"].copy_(dh[:, :, :H])
        gv["head.bias"].copy_(dh[:, :, -1])
        from_above = p["head.weight"].view(1, K, H, 1) * dyt  # (T, K, H, B)
        for k in reversed(range(self.L)):
            ws, w = saved[k]["ws"], saved[k]["w"]
            ws.dz[0, :, :H].zero_()
            ws.dz[1:, :, :H] = from_above  # dz[t] starts as dL/dh_{t-1} from above
            ws.dz[:, :, H:].zero_()
            inp = ws.dz.shape[2] - H - 1
            w_t = w.transpose(1, 2)
            dw = w.new_zeros(w.shape)  # the block matrix's gradient, summed step by step
            if self.cell == "lstm":
                self._lstm_back(ws, w_t, T, dw)
            else:
                for t in reversed(range(T)):
                    v = ws.steps[t]
                    dh = v["dz_h"]
                    if self.cell == "gru":
                        v["facv"].mul_(dh.unsqueeze(1))
                    else:
                        v["fac"].mul_(dh)
                    _mm(v["dz"], v["dz"], w_t, v["fac"])  # fac is now dL/d(pre)
                    _mm(dw, dw, v["fac"], v["zT"])
                    if self.cell == "gru":  # h' = n + z ⊙ (h − n): the direct path to h
                        v["dz"][:, :H].addcmul_(dh, v["zg"])
            self._scatter(gv, k, dw)
            from_above = ws.dz[:T, :, H:H + inp]  # into the layer below's outputs
        return grad

    def _lstm_back(self, ws: Workspace, w_t, T: int, dw) -> None:
        dc_next = None
        for t in reversed(range(T)):
            v = ws.steps[t]
            dh, dc = v["dz_h"], ws.dc[t % 2]
            if dc_next is None:
                torch.mul(dh, v["dcdh"], out=dc)
            else:
                torch.addcmul(dc_next, dh, v["dcdh"], out=dc)
            v["fac_o"].mul_(dh)  # the factors become dL/d(pre), in place
            v["fac_ifg"].mul_(dc.unsqueeze(1))
            dc_next = dc.mul_(v["f_kept"])
            _mm(v["dz"], v["dz"], w_t, v["fac"])
            _mm(dw, dw, v["fac"], v["zT"])

    def _scatter(self, gv: dict, k: int, dw: torch.Tensor) -> None:
        """The block matrix's gradient back into the member's own parameters (its last
        column is the bias's)."""
        H = self.H
        d_ih, d_hh = gv[f"rnn.weight_ih_l{k}"], gv[f"rnn.weight_hh_l{k}"]
        db_ih, db_hh = gv[f"rnn.bias_ih_l{k}"], gv[f"rnn.bias_hh_l{k}"]
        if self.cell != "gru":
            if self.cell == "lstm":
                dw = dw.index_select(1, self.unorder)
            d_hh.copy_(dw[:, :, :H])
            d_ih.copy_(dw[:, :, H:-1])
            db_ih.copy_(dw[:, :, -1])
            db_hh.copy_(dw[:, :, -1])
            return
        d_hh[:, :2 * H] = dw[:, :2 * H, :H]
        d_hh[:, 2 * H:] = dw[:, 3 * H:, :H]
        d_ih[:, :2 * H] = dw[:, :2 * H, H:-1]
        d_ih[:, 2 * H:] = dw[:, 2 * H:3 * H, H:-1]
        db_ih[:, :2 * H] = dw[:, :2 * H, -1]
        db_ih[:, 2 * H:] = dw[:, 2 * H:3 * H, -1]
        db_hh[:, :2 * H] = dw[:, :2 * H, -1]
        db_hh[:, 2 * H:] = dw[:, 3 * H:, -1]


def _sum_steps(a: torch.Tensor) -> torch.Tensor:
    """a.sum(0) over the time steps, added in step order: torch's own sum picks its
    summation order by the tensor's shape, so a member's sum would depend on its group."""
    out = a[0].clone()
    for t in range(1, a.shape[0]):
        out.add_(a[t])
    return out


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b, batched, never on torch's single matrix-vector path (see _mm)."""
    out = a.new_empty(a.shape[0], a.shape[1], b.shape[2])
    _mm(out, None, a, b)
    return out


def _mm(out: torch.Tensor, add: torch.Tensor | None, w: torch.Tensor,
        z: torch.Tensor) -> None:
    """out = add + w @ z (or w @ z), batched over members; out may be add. Torch multiplies
    a single matrix by a single column on another path (a matrix-vector product) than a
    batch of them, which rounds differently: a group of one with one column is computed as
    a batch of two, so a member's numbers never depend on the size of its group."""
    if w.shape[0] == 1 and z.shape[-1] == 1:
        w2, z2 = (t.expand(2, *t.shape[1:]) for t in (w, z))
        prod = torch.bmm(w2, z2) if add is None else torch.baddbmm(
            add.expand(2, *add.shape[1:]), w2, z2)
        out.copy_(prod[:1])
    elif add is None:
        torch.bmm(w, z, out=out)
    elif out is add:
        out.baddbmm_(w, z)
    else:
        torch.baddbmm(add, w, z, out=out)
