"""A group of sweep members trained as one batched model (batched.Net), each still a run.

The members of a group share every setting that changes a shape (config.SHAPE) and may differ in
all the others: seed and init, lr, schedule, warm-up and steps, clip, noise, task and
horizon, stateful or not. Each has its own weights, Adam moments and step count, its own
carried state and data cursor; a member that finishes, fails or pauses leaves the group.

MemberView gives one member the face of a train.Trainer (cfg, step, elapsed, finite,
checkpoint, evaluate), so the same Recorder writes its run folder, and its checkpoint is
exactly the one `sincos train` writes: the nn.LSTM/GRU/RNN layout and gate order, its Adam
state, step, carried state, cursor and RNG. `train --resume` continues it alone, and a group
resumes by stacking its members' checkpoints.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from sincos_cli.config import TrainConfig
from sincos_cli.errors import SincosError, first_line

from . import checkpoint
from .batched import Net
from .data import make_batch
from .layout import Layout, numel
from .model import BETAS, EPS, Regressor, lr_at
from .train import StepInfo, Trainer


class GroupTrainer:
    """K members' weights, Adam moments, carried states and cursors, stacked."""

    def __init__(self, cfgs: list[TrainConfig], checkpoints: list[dict | None]):
        c0 = cfgs[0]
        self.layout = Layout(c0.cell, c0.hidden, c0.layers)
        self.net = Net(self.layout)
        self.B, self.T, self.H, self.L = c0.batch_size, c0.time_steps, c0.hidden, c0.layers
        self.advance = c0.predict_advances_state
        K, P = len(cfgs), self.layout.size
        self.cfgs = list(cfgs)
        self.flat = torch.zeros(K, P)
        self.m, self.v = torch.zeros(K, P), torch.zeros(K, P)
        self.t = [0] * K
        self.steps = [0] * K
        self.elapsed = [0.0] * K
        self.rng: list[torch.Tensor] = []
        n_state = 2 if c0.cell == "lstm" else 1
        self.state = tuple(torch.zeros(self.L, K, self.H, self.B) for _ in range(n_state))
        for j, (cfg, ckpt) in enumerate(zip(cfgs, checkpoints, strict=True)):
            if ckpt is None:
                torch.manual_seed(cfg.seed)  # the weights `sincos train` would draw
                model = Regressor.from_config(cfg)
                self.rng.append(torch.get_rng_state())
                self._put(j, model.state_dict())
            else:
                self._load(j, ckpt)
        self._masks()
        self._clock = time.perf_counter()
        self.owed: list | None = None  # StepInfos still without their prediction
        self.x0 = self.s0 = self._pending = self._solo = None

    # -- members in and out --------------------------------------------------------------

    def _put(self, j: int, sd: dict) -> None:
        for name, shape, off in self.layout.entries:
            t = sd[name]
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} has shape {tuple(t.shape)}, not {shape}")
            self.flat[j, off:off + t.numel()] = t.reshape(-1)

    def _trainable(self, cfg: TrainConfig):
        return [(n, s, o) for n, s, o in self.layout.entries
                if not self.layout.frozen(n, cfg.init)]

    def _load(self, j: int, ckpt: dict) -> None:
        cfg = self.cfgs[j]
        try:
            self._put(j, ckpt["model"])
            opt = ckpt["optimizer"]
            trainable = self._trainable(cfg)
            if len(opt["exp_avg"]) != len(trainable) or [float(b) for b in opt["betas"]] \
                    != list(BETAS) or float(opt["eps"]) != EPS:
                raise ValueError("optimiser state does not match the model")
            for (_, shape, off), m, v in zip(trainable, opt["exp_avg"], opt["exp_avg_sq"],
                                                strict=True):
                n = numel(shape)
                if m.numel() != n or v.numel() != n:
                    raise ValueError("optimiser state does not match the model")
                self.m[j, off:off + n] = m.reshape(-1)
                self.v[j, off:off + n] = v.reshape(-1)
            self.t[j] = int(opt["t"])
            carried = ckpt["carried_state"]
            if len(carried) != len(self.state):
                raise ValueError("carried state")
            for dst, src in zip(self.state, carried, strict=True):
                if tuple(src.shape) != (self.L, self.B, self.H):
                    raise ValueError("carried state shape")
                dst[:, j] = src.transpose(1, 2)
            self.steps[j] = int(ckpt["cursor"])
            self.elapsed[j] = float(ckpt.get("elapsed_s", 0.0))
            self.rng.append(ckpt["rng"]["torch"])
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
            err = SincosError(f"checkpoint does not match this run's model "
                              f"({first_line(e)})")
            err.member = j  # the member whose checkpoint it is: it fails alone
            raise err from None

    def _masks(self) -> None:
        K = len(self.cfgs)
        self.trainable = None
        if any(self.layout.frozen(n, c.init) for c in self.cfgs for n, _, _ in
               self.layout.entries):
            self.trainable = torch.ones(K, self.layout.size)
            for j, c in enumerate(self.cfgs):
                for name, shape, off in self.layout.entries:
                    if self.layout.frozen(name, c.init):
                        self.trainable[j, off:off + numel(shape)] = 0
        clips = [c.clip for c in self.cfgs]
        self.clip = torch.tensor(clips).unsqueeze(1) if any(clips) else None
        self.keep_state = torch.tensor([float(c.stateful) for c in self.cfgs]).view(1, K, 1, 1)
        self.all_stateful = all(c.stateful for c in self.cfgs)

    def keep(self, idx: list[int]) -> None:
        """Only the members at these positions go on (the others left the group)."""
        ix = torch.tensor(idx, dtype=torch.long)
        self.flat, self.m, self.v = (a.index_select(0, ix) for a in (self.flat, self.m, self.v))
        self.state = tuple(s.index_select(1, ix) for s in self.state)
        for name in ("cfgs", "t", "steps", "elapsed", "rng"):
            setattr(self, name, [getattr(self, name)[i] for i in idx])
        if self.owed is not None:
            self.owed = [self.owed[i] for i in idx]
            self.x0 = self.x0.index_select(0, ix)
            self.s0 = tuple(s.index_select(1, ix) for s in self.s0)
        self._masks()

    def __len__(self) -> int:
        return len(self.cfgs)

    # -- training ------------------------------------------------------------------------

    def start_clock(self) -> None:
        self._clock = time.perf_counter()

    def _batch(self):
        """Every member's batch at its own cursor: inputs and targets (K, T, 1, B), and
        per member the (x, input, target) of make_batch. Batches are shared where
        nothing that makes them differs (noise is drawn per seed)."""
        cache: dict = {}
        rows = []
        for cfg, k in zip(self.cfgs, self.steps, strict=True):
            key = (k, cfg.task, cfg.horizon, cfg.x_spacing, cfg.noise,
                   cfg.seed if cfg.noise > 0 else None)
            if key not in cache:
                cache[key] = make_batch(k, cfg)
            rows.append(cache[key])
        inp = np.stack([r[1].T for r in rows])[:, :, None, :]  # (K, T, 1, B)
        tgt = np.stack([r[2].T for r in rows])[:, :, None, :]
        return torch.from_numpy(inp), torch.from_numpy(tgt), rows

    def forward(self) -> tuple[list[StepInfo | None], list[float]]:
        """The forward pass of every member's next step. The row-0 prediction the previous
        step still owes (row 0 again with that step's updated weights, from the state it
        started with) rides along as one more column: every column of a matrix product and
        of an element-wise operation is computed on its own. Returns the previous step's
        StepInfos, now complete (None for a member that owes none), and this step's losses.
        Record those before update(): the group is still as the previous step left it."""
        x, y, rows = self._batch()
        B = self.B
        state0 = self.state if self.all_stateful else tuple(
            s * self.keep_state for s in self.state)
        owed, xin, sin = self.owed, x, state0
        if not self.advance:
            # Always one more column, a zero one when no prediction is owed (the first
            # step, after a flush): every step runs at the same width, so a member resumed
            # from its checkpoint continues exactly as if it had never stopped.
            x0, s0 = (self.x0, self.s0) if owed is not None else (
                torch.zeros_like(x[..., :1]), tuple(torch.zeros_like(s[..., :1])
                                                    for s in state0))
            xin = torch.cat([x, x0], dim=3)
            sin = tuple(torch.cat([s, p], dim=3) for s, p in zip(state0, s0, strict=True))
        pred, new, saved = self.net.forward(self.flat, xin, sin)
        done: list = [None] * len(self)
        if owed is not None:
            p0 = pred[:, :, 0, B].numpy()
            done = [None if o is None else self._with(j, o, p0[j], self.x0, self.s0)
                    for j, o in enumerate(owed)]
            self.owed = None
        pred, new = pred[..., :B], tuple(s[..., :B] for s in new)
        diff = pred - y
        # each member's mean over its own elements, summed in a fixed order (ordered_sum)
        losses = (ordered_sum(diff.square().reshape(len(self), -1), 1) / diff[0].numel()).tolist()
        self._pending = (x, rows, state0, new, saved, diff, losses, xin.shape[3])
        return done, losses

    def update(self) -> list[StepInfo]:
        """Backward pass and Adam update of the step forward() began. Returns its
        StepInfos when they are complete now (predict_advances_state), else [] (the
        prediction comes with the next forward(), or flush())."""
        x, rows, state0, new, saved, diff, losses, width = self._pending
        self._pending = None
        K, T, B = len(self), self.T, self.B
        dy = diff.mul_(2.0 / (T * B))
        if width > B:  # the prediction's column: dL/dy is zero, it adds exact zeros
            dy = torch.cat([dy, dy.new_zeros(K, T, 1, width - B)], dim=3)
        grad = self.net.backward(self.flat, saved, dy)
        del saved
        if self.trainable is not None:
            grad.mul_(self.trainable)
        if self.clip is not None:  # torch.nn.utils.clip_grad_norm_, per member
            norm = ordered_sum(grad * grad, 1).sqrt_().unsqueeze(1)
            coef = torch.where(self.clip > 0, (self.clip / (norm + 1e-6)).clamp(max=1.0), 1.0)
            grad.mul_(coef)
        lrs = [lr_at(k, c) for k, c in zip(self.steps, self.cfgs, strict=True)]
        self._adam(grad, lrs)
        self.state = new
        now = time.perf_counter() - self._clock
        infos = []
        for j in range(K):
            xb, _, tb = rows[j]
            infos.append(StepInfo(self.steps[j], losses[j], lrs[j], xb[0], tb[0], None,
                                  self.elapsed[j] + now))  # views of a batch no one changes
            self.steps[j] += 1
        if self.advance:
            # The original's predict(): the batch again with the new weights, from the
            # carried state (zero when not stateful), which stateful members advance.
            start = new if self.all_stateful else tuple(s * self.keep_state for s in new)
            p, again, _ = self.net.forward(self.flat, x, start, keep=False)
            self.state = tuple(torch.where(self.keep_state > 0, a, s)
                               for a, s in zip(again, new, strict=True))
            p0 = p[:, :, 0, 0].numpy()
            return [self._with(j, info, p0[j], x, start) for j, info in enumerate(infos)]
        self.owed, self.x0 = infos, x[..., :1].clone()
        self.s0 = tuple(s[..., :1].clone() for s in state0)
        return []

    def flush(self, idx: list[int] | None = None) -> list[StepInfo | None]:
        """The owed predictions of the members at idx (all by default), by a pass of their
        own: their StepInfos, complete (None where none is owed)."""
        idx = list(range(len(self))) if idx is None else idx
        if self.owed is None or not any(self.owed[j] is not None for j in idx):
            return [None] * len(idx)
        p, _, _ = self.net.forward(self.flat, self.x0, self.s0, keep=False)
        p0 = p[:, :, 0, 0].numpy()
        out = [None if self.owed[j] is None else
               self._with(j, self.owed[j], p0[j], self.x0, self.s0) for j in idx]
        for j in idx:
            self.owed[j] = None
        if all(o is None for o in self.owed):
            self.owed = None
        return out

    def _with(self, j: int, info: StepInfo, prediction, x, state) -> StepInfo:
        """Member j's StepInfo with its row-0 prediction, and its internals when it records
        them: from the prediction's input x (K, T, 1, W) and state (each (L, K, H, W)),
        column 0, with the weights the group holds now (those that made the prediction)."""
        info.prediction = prediction.copy()
        cfg = self.cfgs[j]
        if cfg.record_internals:
            from .internals import unroll

            weights = {name: self.flat[j, off:off + numel(shape)].reshape(shape).numpy()
                       for name, shape, off in self.layout.entries}
            info.internals = unroll(cfg.cell, cfg.layers, weights, x[j, :, 0, 0].numpy(),
                                    tuple(s[:, j, :, 0].numpy() for s in state))
        return info

    def train_step(self) -> list[StepInfo]:
        """One whole step of every member, its StepInfos complete (tests, benchmarks):
        forward(), update(), flush()."""
        self.forward()
        return self.update() or self.flush()

    def _adam(self, grad: torch.Tensor, lrs: list[float]) -> None:
        """model.Adam's update, each member with its own lr and step count."""
        b1, b2 = BETAS
        self.t = [t + 1 for t in self.t]
        step_size = torch.tensor([lr / (1 - b1 ** float(t)) for lr, t in
                                  zip(lrs, self.t, strict=True)]).unsqueeze(1)
        bc2 = torch.tensor([(1 - b2 ** float(t)) ** 0.5 for t in self.t]).unsqueeze(1)
        self.m.lerp_(grad, 1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (self.v.sqrt() / bc2).add_(EPS)
        self.flat.sub_(self.m / denom * step_size)

    # -- one member as `sincos train` sees it --------------------------------------------

    def checkpoint(self, j: int, elapsed: float) -> dict:
        cfg = self.cfgs[j]
        model = {name: self.flat[j, off:off + numel(shape)].reshape(shape).clone()
                 for name, shape, off in self.layout.entries}
        trainable = self._trainable(cfg)
        opt = {"t": self.t[j], "betas": list(BETAS), "eps": EPS,
               "exp_avg": [self.m[j, o:o + numel(s)].reshape(s).clone()
                           for _, s, o in trainable],
               "exp_avg_sq": [self.v[j, o:o + numel(s)].reshape(s).clone()
                              for _, s, o in trainable]}
        return checkpoint.document(
            step=self.steps[j], elapsed=elapsed, config=cfg.to_dict(), model=model,
            optimizer=opt, rng=self.rng[j],
            carried_state=[s[:, j].transpose(1, 2).contiguous() for s in self.state])

    def finite(self, j: int) -> bool:
        return bool(torch.isfinite(self.flat[j]).all()) and all(
            bool(torch.isfinite(s[:, j]).all()) for s in self.state)

    def solo(self, j: int) -> Trainer:
        """Member j as a train.Trainer (for eval_mse, computed exactly as train does): one
        Trainer per group, given each member's settings, weights, carried state and step."""
        if self._solo is None:
            rng = torch.get_rng_state()
            self._solo = Trainer(self.cfgs[j])
            torch.set_rng_state(rng)
        tr, ck = self._solo, self.checkpoint(j, self.elapsed[j])
        tr.cfg = self.cfgs[j]
        tr.model.load_state_dict(ck["model"])
        tr.state = tuple(ck["carried_state"])
        tr.step, tr.elapsed = self.steps[j], self.elapsed[j]
        return tr


class MemberView:
    """One member of a GroupTrainer with the face of a train.Trainer, for a Recorder
    (recorder.Trainee)."""

    def __init__(self, group: GroupTrainer, j: int, elapsed: float | None = None):
        self.group, self.j = group, j
        self.cfg = group.cfgs[j]
        self._elapsed = elapsed

    @property
    def step(self) -> int:
        return self.group.steps[self.j]

    @property
    def elapsed(self) -> float:
        if self._elapsed is not None:
            return self._elapsed
        return self.group.elapsed[self.j] + time.perf_counter() - self.group._clock

    def freeze(self) -> None:
        """The member leaves its group: its training seconds stop here."""
        self._elapsed = self.elapsed

    def finite(self) -> bool:
        return self.group.finite(self.j)

    def checkpoint(self) -> dict:
        return self.group.checkpoint(self.j, self.elapsed)

    def evaluate(self) -> float:
        return self.group.solo(self.j).evaluate()


def ordered_sum(a: torch.Tensor, dim: int) -> torch.Tensor:
    """a.sum(dim) as a fixed tree of element-wise additions (halves added, the odd one out
    added to the first): IEEE additions round the same on every code path, vector width
    and alignment, so each element's sum is the same bits whatever else is in the tensor.
    torch's own sum picks its order by the tensor's shape and memory."""
    a = a.movedim(dim, 0)
    n = a.shape[0]
    while n > 1:
        h = n // 2
        s = a[:h] + a[h:2 * h]
        if n % 2:
            s[0] += a[2 * h]
        a, n = s, h
    return a[0]
