"""checkpoint.pt, told once: what both engines put in it, writing it atomically, reading it
without running code from it (weights_only), and checking it against the config a run or a
sweep's member entry says it has."""

from __future__ import annotations

import io
from pathlib import Path

import torch

from sincos_cli.config import disagreement
from sincos_cli.errors import SincosError, first_line
from sincos_cli.store.files import atomic_write_bytes

FORMAT = "sincos-checkpoint"
SCHEMA = 1
NAME = "checkpoint.pt"


def document(*, step: int, elapsed: float, config: dict, model: dict, optimizer: dict,
             carried_state: list, rng: torch.Tensor) -> dict:
    """Everything needed to continue a run exactly: only tensors and plain data."""
    return {"format": FORMAT, "schema": SCHEMA, "step": step, "cursor": step,
            "elapsed_s": elapsed, "config": config, "model": model, "optimizer": optimizer,
            "carried_state": carried_state, "rng": {"torch": rng}}


def write(folder: Path, ckpt: dict) -> None:
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    atomic_write_bytes(folder / NAME, buf.getvalue())


def read(path: Path) -> dict:
    """torch.load with weights_only=True: opening a run never runs code from it. Always
    onto the CPU: the RNG state must be a CPU tensor, and the model and optimiser copy their
    tensors to the training device as they load."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SincosError(f"{path} is missing") from None
    except Exception as e:  # torch raises many kinds for bad bytes; all mean the same here
        raise SincosError(f"{path} is not a readable checkpoint ({first_line(e, 120)})") \
            from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SincosError(f"{path} is not a sincos checkpoint")
    return ckpt


def check_config(folder: Path, ckpt: dict, config: dict) -> None:
    """The checkpoint's config decides what a run was trained with: a config.json (or a
    sweep's member entry) that says otherwise was edited, and resuming is refused."""
    saved = ckpt.get("config")
    if not isinstance(saved, dict):
        return  # checkpoints have always held it; Trainer.load_checkpoint checks the rest
    keys = disagreement(saved, config)
    if keys:
        raise SincosError(f"run {folder.name}: config.json disagrees with its checkpoint on "
                          f"{', '.join(keys)} (edited by hand?); the checkpoint's settings "
                          "are what it was trained with: restore them to resume")


def read_for(folder: Path, config: dict) -> dict:
    """A run folder's checkpoint, to resume from, checked against `config`."""
    ckpt = read(folder / NAME)
    check_config(folder, ckpt, config)
    return ckpt
