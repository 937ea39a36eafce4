"""`sincos report` against the commands whose work it repeats, whole processes, alternating,
medians of the repeats.

    python tests/bench/bench_report.py [--repeats 5] [--seeds 40]

- A sweep of 8 grid points × --seeds seeds (320 members at 40), 501 steps, made once:
  `sincos report SWEEP` (still frames) against `sincos compare SWEEP --group-by lr,hidden
  --plot bands.png`; the report's size; then the report with the three GIFs
  (`--animation gif`), once, to say what animations cost.
- One run of the seed's model: `sincos report RUN` (with its GIF) against `sincos animate
  RUN` to a file, both at animate's defaults (640×480, every step).

Targets: the sweep's report ≤ 2× the compare and ≤ 5 MB with still frames; the run's ≤ 1.5×
animate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")


def timed(*args: str, root: Path, cwd: Path) -> float:
    t = time.perf_counter()
    subprocess.run([EXE, *args], check=True, stdout=subprocess.DEVNULL, cwd=cwd,
                   env={**os.environ, "SINCOS_RUNS_DIR": str(root)})
    return time.perf_counter() - t


def alternate(a: list[str], b: list[str], repeats: int, root: Path, cwd: Path):
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(timed(*a, root=root, cwd=cwd))
        tb.append(timed(*b, root=root, cwd=cwd))
    return ta, tb


def line(name: str, times: list[float]) -> str:
    return f"{name:<44} median {statistics.median(times):6.2f} s  " + \
        " ".join(f"{t:.2f}" for t in times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=40)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-report-"))
    root = work / "runs"
    try:
        t = time.perf_counter()
        subprocess.run([EXE, "sweep", "--seeds", f"1-{a.seeds}", "--set",
                        "lr=0.002,0.004,0.006,0.01", "--set", "hidden=10,20", "--workers",
                        "2", "-q"], check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "SINCOS_RUNS_DIR": str(root)})
        members = 8 * a.seeds
        print(f"sweep of {members} members × 501 steps made in {time.perf_counter() - t:.0f} s")
        compare = ["compare", "sweep-01", "--group-by", "lr,hidden", "--plot", "bands.png"]
        rep = ["report", "sweep-01", "--out", "sweep.html"]
        tc, tr = alternate(compare, rep, a.repeats, root, work)
        size = (work / "sweep.html").stat().st_size
        print(line("compare SWEEP --group-by --plot", tc))
        print(line("report SWEEP (still frames)", tr))
        ratio = statistics.median(tr) / statistics.median(tc)
        print(f"  ratio {ratio:.2f} (target ≤ 2), page {size / 1e6:.2f} MB (target ≤ 5 MB)")
        tg = timed("report", "sweep-01", "--animation", "gif", "--out", "gif.html",
                   root=root, cwd=work)
        gsize = (work / "gif.html").stat().st_size
        print(f"report SWEEP --animation gif (3 GIFs of 501 frames): {tg:.2f} s, "
              f"{gsize / 1e6:.2f} MB")

        subprocess.run([EXE, "train", "--seed", "1", "--name", "one", "-q"], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "SINCOS_RUNS_DIR": str(root)})
        ta, tr = alternate(["animate", "one", "--out", "one.gif", "-q"],
                           ["report", "one", "--out", "one.html"], a.repeats, root, work)
        print(line("animate RUN (501 frames, 640×480)", ta))
        print(line("report RUN (the same GIF inline)", tr))
        ratio = statistics.median(tr) / statistics.median(ta)
        print(f"  ratio {ratio:.2f} (target ≤ 1.5), page "
              f"{(work / 'one.html').stat().st_size / 1e6:.2f} MB, GIF alone "
              f"{(work / 'one.gif').stat().st_size / 1e6:.2f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
