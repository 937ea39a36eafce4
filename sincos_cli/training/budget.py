"""Fail fast on sizes: memory a training run or an animation will need, estimated before
anything is made, against what the machine has available (standard library only)."""

from __future__ import annotations

import os

from .layout import GATES

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
    params = _params(cfg)
    cells = cfg.batch_size * cfg.time_steps
    activations = cells * (L * (G + 2) * H * 4 * 3 + H * 4 * 2)
    data = cells * 40
    return BASE + 16 * params + activations + data


def _params(cfg) -> int:
    G, H, L = GATES.get(cfg.cell, 4), cfg.hidden, cfg.layers
    return L * G * H * (H + 2) + G * H * (1 + (L - 1) * H) + H + 1


def group_bytes(cfg, k: int) -> int:
    """A group of k such members trained as one (batched.Workspace): each layer's buffers
    kept from the forward pass for the backward (z and dz, the gates, an LSTM's cell
    memory or the others' factors), parameters with gradients and Adam moments, and the
    batch in numpy, with room for the allocator's slack."""
    H, B, T, L = cfg.hidden, cfg.batch_size + 1, cfg.time_steps, cfg.layers
    z = 2 * (T + 1) * (2 * H + 2)  # z and dz, at the widest (a layer above the first)
    gates = {"lstm": 3 * H * T + 4 * H * (T + 1) + H * T, "gru": 8 * H * T,
             "rnn": 2 * H * T}.get(cfg.cell, 8 * H * T)
    per_member = 4 * B * L * (z + gates) + 20 * _params(cfg) + cfg.batch_size * T * 40
    return BASE + 2 * k * per_member


def fit_group(cfg, cap: int, workers: int) -> tuple[int, str | None]:
    """The largest group size up to `cap` whose groups fit in memory, `workers` at once,
    and a note when that is less than `cap`. ValueError when not even one member fits."""
    have, k = available(), cap
    while k > 1 and workers * group_bytes(cfg, k) > have:
        k = max(1, k // 2)
    if workers * group_bytes(cfg, k) > have:
        raise ValueError(f"a group of one member ({cfg.cell}, --hidden {cfg.hidden}, "
                         f"--batch-size {cfg.batch_size}, --time-steps {cfg.time_steps}) × "
                         f"{workers} workers needs about {_gb(workers * group_bytes(cfg, 1))}"
                         f" of memory; {_gb(have)} is available")
    if k == cap:
        return k, None
    return k, (f"groups of {cap} members would need about "
               f"{_gb(workers * group_bytes(cfg, cap))} of memory ({_gb(have)} is "
               f"available): training them in groups of {k}")


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


def check_model(cfg, columns: int) -> None:
    """ValueError when a run's model (its weights twice: the checkpoint's and the model's)
    and one call over `columns` points cannot fit: a hand-edited config.json says how big."""
    G, H, L = GATES.get(cfg.cell, 4), cfg.hidden, cfg.layers
    need, have = BASE + 8 * _params(cfg) + columns * L * (G + 2) * H * 4, available()
    if need > have:
        raise ValueError(f"its config.json asks for hidden {H} × layers {L} ({cfg.cell}): "
                         f"the model needs about {_gb(need)} of memory; {_gb(have)} is "
                         "available")


def check_animate(width: int, height: int, jobs: int) -> None:
    """Each render worker holds a few full frames (canvas, background, trail, copies)."""
    need = jobs * (150 * 2**20 + width * height * 40)
    have = available()
    if need > have:
        raise ValueError(f"{width}x{height} frames × {jobs} jobs need about {_gb(need)} of "
                         f"memory; {_gb(have)} is available (use a smaller --size or "
                         "--jobs)")
