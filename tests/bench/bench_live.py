"""train --live costs: 501 seed steps with the live view against without.

    python tests/bench/bench_live.py [--repeats 3]

Reads train_seconds (the training loop's own time, from summary.json) of
`sincos train --steps 501 --seed 1`: plain (--quiet), `--live` in a pseudo-terminal (the
terminal view), and `--live` under Xvfb (the window), for both views, alternating, medians.
Target: ≤ 1.3× the plain loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from test_live import run_in_pty  # noqa: E402

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")
ARGS = ["train", "--steps", "501", "--seed", "1"]


def start_xvfb():
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24",
                             "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    number = os.read(r, 16).decode().strip()
    os.close(r)
    return proc, f":{number}"


def seconds(root: Path) -> float:
    latest = max(root.iterdir(), key=lambda p: p.stat().st_mtime)
    return json.loads((latest / "summary.json").read_text())["train_seconds"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    xvfb, display = start_xvfb()
    root = Path(tempfile.mkdtemp(prefix="bench-live-"))
    base = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    base["SINCOS_RUNS_DIR"] = str(root)
    variants = {
        "plain": lambda: subprocess.run([EXE, *ARGS, "-q"], env=base, check=True,
                                        stdout=subprocess.DEVNULL),
        **{f"terminal, {v}": (lambda v=v: run_in_pty([*ARGS, "--live", "--view", v],
                                                     {**base, "COLUMNS": "100"}))
           for v in ("window", "history")},
        **{f"window (Xvfb), {v}": (lambda v=v: subprocess.run(
            [EXE, *ARGS, "--live", "--view", v], env={**base, "DISPLAY": display},
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
           for v in ("window", "history")},
    }
    times: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for _ in range(args.repeats):
            for name, fn in variants.items():
                fn()
                times[name].append(seconds(root))
    finally:
        xvfb.terminate()
    plain = statistics.median(times["plain"])
    print(f"| live view | train_seconds (median of {args.repeats}) | × plain |")
    print("| --- | --- | --- |")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.3f} | {med / plain:.2f}× |")


if __name__ == "__main__":
    main()
