"""This tree's `sincos sweep` against another git revision's, on the same machine in the
same run: whole processes, alternating, medians.

    python tests/bench/bench_baseline.py [--rev HEAD~1] [--this REV] [--seeds 100]
                                         [--repeats 5] [--big 1000]

The revision's package is unpacked under a temporary name (sincos_base, its absolute
imports rewritten), so both run from one virtual environment; --this REV unpacks this side
too (as sincos_this), so editing the tree while it runs changes nothing; each sweep is `--workers 2
--steps 501 -q` on the seed's model, its run folders written to a temporary runs dir.
The --big sweep runs once each, base first. Prints each time and the ratio this/base.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def unpack(rev: str, into: Path, name: str) -> None:
    """git archive REV sincos_cli, as package `name`."""
    tar = subprocess.run(["git", "-C", ROOT, "archive", rev, "sincos_cli"], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    (into / "sincos_cli").rename(into / name)
    for f in (into / name).rglob("*.py"):
        f.write_text(f.read_text().replace("sincos_cli", name))


def sweep(package: str, seeds: int, pythonpath: str) -> float:
    d = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    try:
        code = f"import sys; from {package}.cli import main; sys.argv[0] = 'sincos'; main()"
        env = {**os.environ, "SINCOS_RUNS_DIR": str(d), "PYTHONPATH": pythonpath}
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, "sweep", "--seeds", f"1-{seeds}",
                        "--steps", "501", "--workers", "2", "-q"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return time.perf_counter() - t
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--this", default=None, help="a revision instead of the working tree")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--big", type=int, default=0)
    a = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-base-"))
    try:
        unpack(a.rev, base, "sincos_base")
        paths = {"base": str(base), "this": str(ROOT)}
        pkgs = {"base": "sincos_base", "this": "sincos_cli"}
        if a.this:
            unpack(a.this, base, "sincos_this")
            paths["this"], pkgs["this"] = str(base), "sincos_this"
        times: dict[str, list[float]] = {"base": [], "this": []}
        for i in range(a.repeats):
            for k in (("base", "this") if i % 2 == 0 else ("this", "base")):
                times[k].append(sweep(pkgs[k], a.seeds, paths[k]))
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{a.seeds} seeds, medians of {a.repeats}: base ({a.rev}) {med['base']:.1f} s, "
              f"this {med['this']:.1f} s, this/base {med['this'] / med['base']:.3f}")
        print("  base:", " ".join(f"{t:.1f}" for t in times["base"]))
        print("  this:", " ".join(f"{t:.1f}" for t in times["this"]))
        if a.big:
            big = {k: sweep(pkgs[k], a.big, paths[k]) for k in ("base", "this")}
            print(f"{a.big} seeds, once each: base {big['base']:.1f} s, this "
                  f"{big['this']:.1f} s, this/base {big['this'] / big['base']:.3f}")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
