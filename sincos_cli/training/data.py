"""The sliding-window data stream of the seed experiment (numpy only, pure functions)."""

from __future__ import annotations

import numpy as np

from sincos_cli.config import TrainConfig


def batch_indices(k: int, batch_size: int, time_steps: int) -> np.ndarray:
    """Indices of batch k: k*T … k*T + B*T - 1, row-major (B, T).

    Row i of batch k+1 continues row i of batch k, which is why the model's state is carried.
    """
    start = k * time_steps
    return np.arange(start, start + batch_size * time_steps, dtype=np.int64).reshape(
        batch_size, time_steps
    )  # (B, T)


def target_of(x: np.ndarray, task: str, horizon: int, spacing: float) -> np.ndarray:
    """The clean target curve of a task at positions x."""
    if task == "sin-cos":
        return np.cos(x)
    if task == "cos-sin":
        return np.sin(x)
    if task == "sin-forecast":
        return np.sin(x + horizon * spacing)
    raise ValueError(f"unknown task {task!r}")


def input_of(x: np.ndarray, task: str) -> np.ndarray:
    """The clean input curve of a task at positions x."""
    return np.cos(x) if task == "cos-sin" else np.sin(x)


def make_batch(k: int, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Batch k of the stream: x (B, T) float64, input and target (B, T) float32."""
    x = batch_indices(k, cfg.batch_size, cfg.time_steps) * cfg.x_spacing  # (B, T)
    inp = input_of(x, cfg.task)
    if cfg.noise > 0:
        # Seeded by (seed, batch) rather than a running generator, so a resumed run sees
        # exactly the noise it would have seen without the interruption.
        inp = inp + np.random.default_rng([cfg.seed, k]).normal(0.0, cfg.noise, inp.shape)
    target = target_of(x, cfg.task, cfg.horizon, cfg.x_spacing)
    return x, inp.astype(np.float32), target.astype(np.float32)


def range_series(start: float, points: int, cfg: TrainConfig):
    """`points` samples from x=start at the run's spacing: x, clean input, target."""
    x = start + np.arange(points, dtype=np.float64) * cfg.x_spacing
    return x, input_of(x, cfg.task), target_of(x, cfg.task, cfg.horizon, cfg.x_spacing)
