"""Prints, as JSON, a digest of member 0's numbers (losses, predictions, weights, Adam
moments) after a few batched steps, for several shapes and group sizes. test_batched runs it
in a fresh process under each CPU code path (ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA must be
set before torch loads), and every group size must give the same digest. MKL runs in its
strict reproducible mode, as under the CLI (numerics.py)."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace

from sincos_cli.training import numerics

numerics.strict_env()  # as the CLI does, before torch loads

import torch  # noqa: E402

from sincos_cli.config import TrainConfig  # noqa: E402
from sincos_cli.training.group import GroupTrainer  # noqa: E402

GROUP_SIZES = (1, 3, 5, 7, 32)
# element counts that are not multiples of a vector's width, every cell, two layers, a clip
SHAPES = {
    "lstm h10 b50": dict(hidden=10, batch_size=50),
    "lstm h20 b50": dict(hidden=20, batch_size=50),
    "lstm h30 b7": dict(hidden=30, batch_size=7),
    "lstm h20 b8 t10": dict(hidden=20, batch_size=8, time_steps=10),
    "lstm h20 b6": dict(hidden=20, batch_size=6),
    "gru h20 b7 2 layers": dict(cell="gru", hidden=20, batch_size=7, layers=2),
    "rnn h30 b50 clip": dict(cell="rnn", hidden=30, batch_size=50, clip=0.5),
}


def digest(cfg: TrainConfig, K: int, steps: int) -> str:
    group = GroupTrainer([replace(cfg, seed=s, lr=cfg.lr * (1 + 0.1 * s))
                          for s in range(1, K + 1)], [None] * K)
    h = hashlib.sha256()
    for _ in range(steps):
        info = group.train_step()[0]
        h.update(repr(info.loss).encode() + info.prediction.tobytes())
    for t in (group.flat, group.m, group.v):
        h.update(t[0].numpy().tobytes())
    return h.hexdigest()[:16]


def main(steps: int) -> None:
    torch.set_num_threads(1)  # as a sweep's workers train
    assert numerics.strict_mkl() is None
    out = {"capability": torch.backends.cpu.get_cpu_capability()}
    for name, kw in SHAPES.items():
        cfg = TrainConfig(steps=steps, **kw)
        out[name] = {K: digest(cfg, K, steps) for K in GROUP_SIZES}
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 8)
