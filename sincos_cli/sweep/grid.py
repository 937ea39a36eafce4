"""A sweep's members: seeds × the Cartesian product of `--set` lists (standard library only).

Everything is checked here, before anything runs: keys, values (with train's own
validation, member by member), seeds.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import fields, replace

from sincos_cli.config import TrainConfig, resolve

# What a sweep may vary: train's settings. The seed comes from --seeds; eval_batches and
# x_spacing are not train flags.
KEYS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("seed", "eval_batches",
                                                                    "x_spacing"))
_TYPES = {f.name: type(getattr(TrainConfig(), f.name)) for f in fields(TrainConfig)}
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class GridError(ValueError):
    """Bad sweep input: the CLI prints it as a usage error (exit 2)."""


# Past this many members a sweep is refused outright: sweep.json lists every member, and
# beyond ten million it would run to gigabytes.
MAX_COUNT = 10_000_000


def _seed_ranges(spec: str) -> list[range] | int:
    """The ranges a seed spec names, or the count of seeds to draw."""
    spec = spec.strip()
    if re.fullmatch(r"\d+", spec):
        n = int(spec)
        if n < 1:
            raise GridError("--seeds: a count must be at least 1")
        return n
    ranges: list[range] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise GridError(f"--seeds: {part.strip()!r} is not a seed or a range A-B")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise GridError(f"--seeds: the range {lo}-{hi} is empty (write {hi}-{lo})")
        if hi >= 2**32:
            raise GridError(f"--seeds: {hi} is above 2**32-1")
        ranges.append(range(lo, hi + 1))
    return ranges


def count_seeds(spec: str) -> int:
    """How many seeds a spec names, without making them (answers at once for any size)."""
    r = _seed_ranges(spec)
    return r if isinstance(r, int) else sum(len(x) for x in r)


def parse_seeds(spec: str, draw=random.SystemRandom) -> list[int]:
    """`1-20`, `1,5,9` (ranges may mix in: `1-3,7`), or a count `20` (drawn once)."""
    r = _seed_ranges(spec)
    if isinstance(r, int):
        if r > 2**31:
            raise GridError(f"--seeds: cannot draw {r:,} distinct seeds (at most 2**31)")
        return draw().sample(range(2**31), r)
    seeds = [s for x in r for s in x]
    if len(set(seeds)) != len(seeds):
        raise GridError("--seeds: a seed is given twice")
    return seeds


def count(grid: dict[str, list], seeds: int) -> int:
    """Members a grid and a number of seeds make."""
    n = seeds
    for values in grid.values():
        n *= len(values)
    return n


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
            return float(text) + 0.0  # -0.0 is 0.0
        return text
    except ValueError:
        raise GridError(f"--set {key}: {text!r} is not a valid {kind.__name__}") from None


def parse_reference(text: str, keys, as_text=()) -> dict:
    """`KEY=VALUE[,KEY=VALUE]`: one group or grid point, KEY among `keys`, each value parsed
    as --set parses it (those of `as_text` kept as written); a key named twice is refused.
    GridError naming what is wrong."""
    out: dict = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().replace("-", "_")
        if not eq or k not in keys:
            raise GridError(f"expected KEY=VALUE with KEY one of "
                            f"{', '.join(keys) or '(no keys: no groups)'}, got {part!r}")
        if k in out:
            raise GridError(f"{text!r} names {k} twice")
        out[k] = v.strip() if k in as_text else _value(k, v)
    return out


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


def points(base: dict, grid: dict[str, list]) -> list[tuple[dict, TrainConfig]]:
    """Every grid point with its resolved config (seed aside), each validated like `sincos
    train` with those flags: a bad one is refused before any member is made."""
    both = sorted(set(base) & set(grid))
    if both:
        raise GridError(f"{', '.join(both)} given both as a flag and in --set")
    out = []
    keys = list(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo, strict=True))
        given = {k: v for k, v in {**base, **point}.items() if k != "recipe"}
        cfg = resolve(given, point.get("recipe", base.get("recipe", "seed")))
        try:
            cfg.validate()  # the seed is checked by parse_seeds
        except ValueError as e:
            where = ", ".join(f"{k}={v}" for k, v in point.items()) or "the base settings"
            raise GridError(f"{e} (at {where})") from None
        out.append((point, cfg))
    return out


def members(base: dict, grid: dict[str, list], seeds: list[int]):
    """Every (grid point, seed), made as they are asked for: {"point": {...}, "seed": s,
    "config": full config dict}. `base` holds the train flags given (explicitly) and the
    recipe; each member resolves like `sincos train` with those flags plus its point and
    seed."""
    for point, cfg in points(base, grid):
        for seed in seeds:
            yield {"point": point, "seed": seed, "config": replace(cfg, seed=seed).to_dict()}
