"""A sweep's members: seeds × the Cartesian product of `--set` lists (standard library only).

Everything is checked here, before anything runs: keys, values (with train's own
validation, member by member), seeds.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import fields

from .config import TrainConfig, resolve

# What a sweep may vary: train's settings. The seed comes from --seeds; eval_batches and
# x_spacing are not train flags.
KEYS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("seed", "eval_batches",
                                                                    "x_spacing"))
_TYPES = {f.name: type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class GridError(ValueError):
    """Bad sweep input: the CLI prints it as a usage error (exit 2)."""


def parse_seeds(spec: str, draw=random.SystemRandom) -> list[int]:
    """`1-20`, `1,5,9` (ranges may mix in: `1-3,7`), or a count `20` (drawn once)."""
    spec = spec.strip()
    if re.fullmatch(r"\d+", spec):
        n = int(spec)
        if n < 1:
            raise GridError("--seeds: a count must be at least 1")
        return draw().sample(range(2**31), n)
    seeds: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise GridError(f"--seeds: {part.strip()!r} is not a seed or a range A-B")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise GridError(f"--seeds: the range {lo}-{hi} is empty (write {hi}-{lo})")
        if hi >= 2**32:
            raise GridError(f"--seeds: {hi} is above 2**32-1")
        seeds += range(lo, hi + 1)
    if len(set(seeds)) != len(seeds):
        raise GridError("--seeds: a seed is given twice")
    return seeds


def _value(key: str, text: str):
    kind = _TYPES[key]
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        return text
    except ValueError:
        raise GridError(f"--set {key}: {text!r} is not a valid {kind.__name__}") from None


def parse_sets(items: list[str]) -> dict[str, list]:
    """`KEY=V1,V2` items as {key: [values]}, in the order given."""
    grid: dict[str, list] = {}
    for item in items:
        key, eq, values = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq:
            raise GridError(f"--set {item!r}: expected KEY=V1,V2,…")
        if key == "seed":
            raise GridError("--set seed: give seeds with --seeds")
        if key not in KEYS:
            raise GridError(f"--set: unknown key {key!r}; choose from {', '.join(KEYS)}")
        if key in grid:
            raise GridError(f"--set {key} is given twice")
        parts = [v for v in values.split(",")]
        if not values.strip() or any(not v.strip() for v in parts):
            raise GridError(f"--set {key}: empty value in {values!r}")
        vals = [_value(key, v) for v in parts]
        if len(set(map(repr, vals))) != len(vals):
            raise GridError(f"--set {key}: a value is given twice")
        grid[key] = vals
    return grid


def members(base: dict, grid: dict[str, list], seeds: list[int]) -> list[dict]:
    """Every (grid point, seed): {"point": {...}, "seed": s, "config": full config dict}.

    `base` holds the train flags given (explicitly) and the recipe; each member resolves
    like `sincos train` with those flags plus its point and seed, and is validated alike.
    """
    both = sorted(set(base) & set(grid))
    if both:
        raise GridError(f"{', '.join(both)} given both as a flag and in --set")
    out = []
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        given = {k: v for k, v in {**base, **point}.items() if k != "recipe"}
        recipe = point.get("recipe", base.get("recipe", "seed"))
        for seed in seeds:
            cfg = resolve({**given, "seed": seed}, recipe)
            try:
                cfg.validate()
            except ValueError as e:
                where = ", ".join(f"{k}={v}" for k, v in point.items()) or "the base settings"
                raise GridError(f"{e} (at {where})") from None
            out.append({"point": point, "seed": seed, "config": cfg.to_dict()})
    return out
