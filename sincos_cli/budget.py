"""Fail fast on sizes: memory a training run or an animation will need, estimated before
anything is made, against what the machine has available (standard library only)."""

from __future__ import annotations

import os

GATES = {"lstm": 4, "gru": 3, "rnn": 1}
BASE = 400 * 2**20  # Python, torch and matplotlib themselves, and room to spare


def available() -> int:
    """MemAvailable from /proc/meminfo (what can be had without swapping), else physical
    memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 2**63


def train_bytes(cfg) -> int:
    """Parameters with their gradients and Adam moments; per batch the activations autograd
    keeps for the backward pass (gates and states of every layer and step) and their
    gradients; the batch itself in numpy."""
    G, H, L = GATES.get(cfg.cell, 4), cfg.hidden, cfg.layers
    params = L * G * H * (H + 2) + G * H * (1 + (L - 1) * H) + H + 1
    cells = cfg.batch_size * cfg.time_steps
    activations = cells * (L * (G + 2) * H * 4 * 3 + H * 4 * 2)
    data = cells * 40
    return BASE + 16 * params + activations + data


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n < 2**40 * 1000 else f"{n:.1e} bytes"


def check_train(cfg, workers: int = 1) -> None:
    """ValueError naming the sizes and the estimate when it cannot fit (`workers` runs of
    it at once, for a sweep's local workers)."""
    need, have = workers * train_bytes(cfg), available()
    if need > have:
        times = f" × {workers} workers" if workers > 1 else ""
        raise ValueError(
            f"--batch-size {cfg.batch_size} × --time-steps {cfg.time_steps} × --hidden "
            f"{cfg.hidden} × --layers {cfg.layers} ({cfg.cell}){times} needs about "
            f"{_gb(need)} of memory; {_gb(have)} is available")


def check_animate(width: int, height: int, jobs: int) -> None:
    """Each render worker holds a few full frames (canvas, background, trail, copies)."""
    need = jobs * (150 * 2**20 + width * height * 40)
    have = available()
    if need > have:
        raise ValueError(f"{width}x{height} frames × {jobs} jobs need about {_gb(need)} of "
                         f"memory; {_gb(have)} is available (use a smaller --size or "
                         "--jobs)")
