"""The training loop. It knows nothing of files or printing: it reports through `on_step`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from sincos_cli.config import TrainConfig
from sincos_cli.errors import Diverged, SincosError, first_line

from . import checkpoint
from .data import make_batch
from .model import Adam, Regressor, State, lr_at


@dataclass
class StepInfo:
    step: int  # 0-based index of the update just made
    loss: float  # training MSE of the batch, before the update
    lr: float
    x: np.ndarray  # (T,) positions of window row 0
    target: np.ndarray  # (T,)
    prediction: np.ndarray  # (T,) row 0 predicted after the update, carried state untouched
    elapsed_s: float  # training seconds so far (across resumes)
    # (layers, panels, T, hidden): row 0's gates and states in the prediction's pass, when
    # the run records its internals (training/internals.py)
    internals: np.ndarray | None = None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise SincosError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


class Trainer:
    """Owns the model, the optimiser, the carried state and the data cursor."""

    def __init__(self, cfg: TrainConfig, device: torch.device | str = "cpu"):
        self.cfg, self.device = cfg, torch.device(device)
        torch.manual_seed(cfg.seed)
        self.model = Regressor.from_config(cfg).to(self.device)
        self.opt = Adam(self.model.parameters())
        self.state: State = self.model.zero_state(cfg.batch_size, self.device)
        self.step = 0  # updates done; also the index of the next batch (the data cursor)
        self.elapsed = 0.0  # training seconds before this process (set on resume)

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a).unsqueeze(-1).to(self.device)  # (B, T, 1)

    def train_step(self) -> StepInfo:
        cfg, k = self.cfg, self.step
        x, inp, tgt = make_batch(k, cfg)
        xin, y = self._tensor(inp), self._tensor(tgt)
        state0 = self.state if cfg.stateful else self.model.zero_state(cfg.batch_size,
                                                                        self.device)
        pred, new_state = self.model(xin, state0)  # (B, T, 1)
        loss = torch.mean((pred - y) ** 2)
        value = loss.item()
        if not math.isfinite(value):
            # Before the update: the model, the optimiser and the state stay as the last
            # finite step left them.
            raise Diverged(k, value)
        self.opt.zero_grad()
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip)
        lr = lr_at(k, cfg)
        self.opt.step(lr)
        # Truncated BPTT: keep the values, cut the graph.
        self.state = tuple(s.detach() for s in new_state)
        with torch.no_grad():
            if cfg.predict_advances_state:
                # The original's model.predict(x) on a stateful model: the whole batch again
                # with the new weights, from the carried state, which it advances once more.
                start = self.state if cfg.stateful else state0  # state0 is zero then
                first = start
                p, again = self.model(xin, start)
                p0 = p[:1]
                if cfg.stateful:
                    self.state = again
            else:
                # Row 0 again with the new weights, from the state it started this batch
                # with; the output state is thrown away: the carried state moves once.
                first = state0
                p0, _ = self.model(xin[:1], tuple(s[:, :1] for s in state0))
        self.step += 1
        # Copies: a view of row 0 would keep the whole (B, T) batch alive with the StepInfo.
        info = StepInfo(k, value, lr, x[0].copy(), tgt[0].copy(),
                        p0[0, :, 0].cpu().numpy(), self.elapsed)
        if cfg.record_internals:
            from .internals import unroll

            weights = {n: t.detach().cpu().numpy() for n, t in self.model.state_dict().items()}
            info.internals = unroll(cfg.cell, cfg.layers, weights, inp[0],
                                    tuple(s[:, 0].cpu().numpy() for s in first))
        return info

    def fit(self, on_step: Callable[[StepInfo], None] | None = None,
            should_stop: Callable[[], bool] = lambda: False) -> None:
        """Train until cfg.steps updates are done or should_stop() says so."""
        t0, base = time.perf_counter(), self.elapsed
        while self.step < self.cfg.steps and not should_stop():
            info = self.train_step()
            self.elapsed = info.elapsed_s = base + time.perf_counter() - t0
            if on_step is not None:
                on_step(info)

    @torch.no_grad()
    def evaluate(self, batches: int | None = None) -> float:
        """MSE on the batches after the last trained one, continuing from the carried state."""
        cfg = self.cfg
        state = self.state
        total = 0.0
        n = batches or cfg.eval_batches
        for k in range(self.step, self.step + n):
            _, inp, tgt = make_batch(k, cfg)
            if not cfg.stateful:
                state = self.model.zero_state(cfg.batch_size, self.device)
            pred, state = self.model(self._tensor(inp), state)
            total += torch.mean((pred - self._tensor(tgt)) ** 2).item()
        return total / n

    def finite(self) -> bool:
        """Weights and carried state all finite (an update with a huge lr can break them
        before any loss shows it)."""
        return all(bool(torch.isfinite(t).all()) for t in (*self.model.parameters(),
                                                            *self.state))

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self) -> dict:
        """Everything needed to continue exactly: only tensors and plain data (weights_only)."""
        return checkpoint.document(
            step=self.step, elapsed=self.elapsed, config=self.cfg.to_dict(),
            model=self.model.state_dict(), optimizer=self.opt.state_dict(),
            carried_state=[s.cpu() for s in self.state], rng=torch.get_rng_state())

    def load_checkpoint(self, ckpt: dict) -> None:
        try:
            self.model.load_state_dict(ckpt["model"])
            self.opt.load_state_dict(ckpt["optimizer"])
            state = tuple(s.to(self.device) for s in ckpt["carried_state"])
            if [s.shape for s in state] != [s.shape for s in self.state]:
                raise ValueError("carried state shape")
            self.state = state
            self.step = int(ckpt["cursor"])
            self.elapsed = float(ckpt.get("elapsed_s", 0.0))
            torch.set_rng_state(ckpt["rng"]["torch"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise SincosError(f"checkpoint does not match this run's model "
                              f"({first_line(e)})") from None
