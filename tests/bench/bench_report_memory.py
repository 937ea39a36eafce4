"""`sincos report SWEEP`'s peak memory and page size against the sweep's member count.

    python tests/bench/bench_report_memory.py [--members 300,3000,10000] [--repeats 3]

Trains one real 2-point × 2-seed sweep of 20 steps, then clones its members into synthetic
sweeps of each size (run.json, config.json, summary.json with a log-normal eval_mse,
metrics.jsonl, and hard links to the trace and checkpoint), so every member is a real run
folder that compare and report read. Each report runs as its own process; its peak RSS
comes from `getrusage(RUSAGE_CHILDREN)` of a fresh interpreter that runs only it.

Target (#40): memory flat in the member count but for what cannot be: the peak past the
300-member sweep's grows by at most ~4 KB a member (each member's sweep.json entry, which is
read whole, and a compact row: its status, seed, grid settings and summary numbers).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

EXE = os.path.join(os.path.dirname(sys.executable), "sincos")

# a fresh interpreter whose only child is the report: its children's maxrss is the report's
PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def template(root: Path) -> Path:
    subprocess.run([EXE, "sweep", "--seeds", "1-2", "--steps", "20", "--set", "lr=0.003,0.006"],
                   check=True, capture_output=True,
                   env={**os.environ, "SINCOS_RUNS_DIR": str(root)})
    return root / "run-01"


def make_sweep(root: Path, src: Path, n: int) -> None:
    """A sweep-01 of n members (4 grid points × n/4 seeds) cloned from the member `src`."""
    rnd = random.Random(n)
    root.mkdir(parents=True)
    points = [{"lr": lr, "hidden": h} for lr in (0.003, 0.006) for h in (10, 20)]
    run_doc = json.loads((src / "run.json").read_text())
    cfg = json.loads((src / "config.json").read_text())
    summary = json.loads((src / "summary.json").read_text())
    metrics = (src / "metrics.jsonl").read_text()
    members = []
    for i in range(n):
        point, seed = points[i % 4], i // 4 + 1
        name = f"run-{i + 1:02d}"
        d = root / name
        d.mkdir()
        c = {**cfg, **point, "seed": seed}
        (d / "config.json").write_text(json.dumps(c, indent=2))
        (d / "run.json").write_text(json.dumps({**run_doc, "id": name, "seed": seed,
                                                "sweep": "sweep-01"}, indent=2))
        mse = rnd.lognormvariate(-4, 1.0)
        (d / "summary.json").write_text(json.dumps({**summary, "eval_mse": mse}, indent=2))
        (d / "metrics.jsonl").write_text(metrics)
        for f in ("trace.bin", "checkpoint.pt"):
            os.link(src / f, d / f)
        members.append({"point": point, "seed": seed, "run": name, "config": c})
    doc = json.loads((src.parent / "sweep-01" / "sweep.json").read_text())
    doc.update(grid={"lr": [0.003, 0.006], "hidden": [10, 20]},
               seeds=list(range(1, n // 4 + 1)), members=members)
    (root / "sweep-01").mkdir()
    (root / "sweep-01" / "sweep.json").write_text(json.dumps(doc, indent=2))


def peak_kb(root: Path, out: Path) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK, EXE, "report", "sweep-01", "-o", str(out)],
                          check=True, capture_output=True, text=True, cwd=root.parent,
                          env={**os.environ, "SINCOS_RUNS_DIR": str(root)})
    return int(done.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", default="300,3000,10000")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.members.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="sincos-bench-repmem-"))
    try:
        src = template(tmp / "template")
        rows = []
        for n in sizes:
            root = tmp / f"n{n}"
            make_sweep(root, src, n)
            out = tmp / f"n{n}.html"
            peaks = [peak_kb(root, out) for _ in range(args.repeats)]
            rows.append((n, statistics.median(peaks) / 1024, out.stat().st_size / 1024))
            shutil.rmtree(root)
        print(f"sincos report sweep-01, medians of {args.repeats} processes")
        print("| members | peak RSS (MB) | page (KB) | KB a member past the first |")
        print("| --- | --- | --- | --- |")
        n0, m0, _ = rows[0]
        for n, mb, kb in rows:
            per = "" if n == n0 else f"{(mb - m0) * 1024 / (n - n0):.1f}"
            print(f"| {n:,} | {mb:.0f} | {kb:.0f} | {per} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
