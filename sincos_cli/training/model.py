"""The regressor: a recurrent layer with a Linear on every time step, and a lean Adam."""

from __future__ import annotations

import math

import torch
from torch import nn

from sincos_cli.config import TrainConfig

State = tuple[torch.Tensor, ...]  # (h, c) for an LSTM, (h,) for a GRU or plain RNN

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class Regressor(nn.Module):
    """Maps a sequence (B, T, 1) to a sequence (B, T, 1), one output per step.

    init="keras" builds the layers as Keras does (keras_init); init="torch" keeps PyTorch's
    defaults. Both draw from torch's global RNG, so a seed fixes the weights.
    """

    def __init__(self, hidden: int = 20, cell: str = "lstm", layers: int = 1,
                 init: str = "torch"):
        super().__init__()
        self.cell, self.hidden, self.layers, self.init = cell, hidden, layers, init
        self.rnn = _CELLS[cell](1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)  # the Keras TimeDistributed(Dense(1))
        if init == "keras":
            keras_init(self)

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> Regressor:
        return cls(hidden=cfg.hidden, cell=cfg.cell, layers=cfg.layers, init=cfg.init)

    def zero_state(self, batch: int, device=None) -> State:
        h = torch.zeros(self.layers, batch, self.hidden, device=device)  # (L, B, H)
        return (h, h.clone()) if self.cell == "lstm" else (h,)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        out, new = self.rnn(x, state if self.cell == "lstm" else state[0])  # (B, T, H)
        new = tuple(new) if self.cell == "lstm" else (new,)
        return self.head(out), new  # (B, T, 1)


def keras_init(m: Regressor) -> None:
    """Keras's initialisation: glorot_uniform input kernels, orthogonal recurrent kernels,
    zero biases (an LSTM's forget gate at 1: unit_forget_bias), glorot_uniform Dense.

    PyTorch stores each kernel transposed, (G*H, in) against Keras's (in, G*H); glorot's
    bound sqrt(6 / (fan_in + fan_out)) and orthogonality are the same either way, over the
    whole kernel as Keras does it, not per gate. Keras's LSTM and SimpleRNN have one bias
    vector where PyTorch has two (bias_ih + bias_hh): bias_hh stays zero and frozen, so the
    sum gets Keras's gradient, not twice it. Keras's GRU (reset_after=True, its default
    since TF 2) has an input and a recurrent bias, like PyTorch's: both train, from zero.
    """
    H = m.hidden
    with torch.no_grad():
        for k in range(m.layers):
            w_ih, w_hh = getattr(m.rnn, f"weight_ih_l{k}"), getattr(m.rnn, f"weight_hh_l{k}")
            b_ih, b_hh = getattr(m.rnn, f"bias_ih_l{k}"), getattr(m.rnn, f"bias_hh_l{k}")
            nn.init.xavier_uniform_(w_ih)
            nn.init.orthogonal_(w_hh)
            b_ih.zero_()
            b_hh.zero_()
            if m.cell == "lstm":
                b_ih[H:2 * H] = 1.0  # gate order i, f, g, o (Keras: i, f, c, o)
            if m.cell != "gru":
                b_hh.requires_grad_(False)
        nn.init.xavier_uniform_(m.head.weight)
        m.head.bias.zero_()


BETAS, EPS = (0.9, 0.999), 1e-8  # Adam's (torch.optim.Adam's defaults); group.py's too


class Adam:
    """Adam with torch.optim.Adam's single-tensor arithmetic, bit for bit, minus its cost.

    torch.optim imports torch._dynamo on first use (~0.8 s of start-up, more than the whole
    seed training); this class does the same updates without it. The learning rate is
    passed to each step, so schedules are plain functions of the step.
    """

    def __init__(self, params, betas=BETAS, eps=EPS):
        self.params = [p for p in params if p.requires_grad]
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, lr: float) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = lr / (1 - b1 ** float(self.t))
        bc2_sqrt = (1 - b2 ** float(self.t)) ** 0.5
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g = p.grad
            if g is None:
                continue
            m.lerp_(g, 1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            p.addcdiv_(m, (v.sqrt() / bc2_sqrt).add_(self.eps), value=-step_size)

    def state_dict(self) -> dict:
        return {"t": self.t, "betas": [self.beta1, self.beta2], "eps": self.eps,
                "exp_avg": list(self.exp_avg), "exp_avg_sq": list(self.exp_avg_sq)}

    def load_state_dict(self, d: dict) -> None:
        if len(d["exp_avg"]) != len(self.params):
            raise ValueError("optimiser state does not match the model")
        self.t = int(d["t"])
        self.beta1, self.beta2 = (float(b) for b in d["betas"])
        self.eps = float(d["eps"])
        mine, theirs = self.exp_avg + self.exp_avg_sq, d["exp_avg"] + d["exp_avg_sq"]
        for dst, src in zip(mine, theirs, strict=True):
            if dst.shape != src.shape:
                raise ValueError("optimiser state does not match the model")
            dst.copy_(src)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for 0-based `step`: linear warm-up, then the schedule over the rest."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return cfg.lr
    span = max(cfg.steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))
    # onecycle: linear rise from lr/25 to lr over the first 30%, cosine down to lr/1e4
    if progress < 0.3:
        return cfg.lr * (1 / 25 + (1 - 1 / 25) * progress / 0.3)
    tail = (progress - 0.3) / 0.7
    return cfg.lr * (1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * tail)))
