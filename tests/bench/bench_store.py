"""The run store at scale: 10,000 runs (9 sweeps of 1,000 members and 1,000 loose runs).

    python tests/bench/bench_store.py [--runs 10000] [--repeats 3]

Times whole processes, alternating, medians of --repeats:
- `compare` with sweeps folded, and `compare --where hidden=20 --json`, against
  `compare --json` (target: within 1.5×);
- `show run-…` against `sincos --version` (start-up; target: start-up plus milliseconds);
- `compare --group-by` with 95% intervals (medians, IQMs, means, ok shares), and with
  `--paired` (ratios and probabilities of improvement) as well, against the same without
  intervals (target: 2×);
- `rm` of a 1,000-member sweep against `rm -rf` of the same folders (target: bounded by the
  filesystem, not by per-run Python work).
Synthetic run folders, as `sincos train` writes them (metrics.jsonl of 501 lines each).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_compare import make_runs  # noqa: E402


def make_sweeps(root: Path, n_runs: int, per_sweep: int = 1000) -> int:
    """Turn the first runs into members of sweeps of `per_sweep`; returns how many sweeps."""
    sweeps = (n_runs - 1000) // per_sweep
    for s in range(sweeps):
        sid = f"sweep-{s + 1:02d}"
        members = []
        for i in range(s * per_sweep + 1, (s + 1) * per_sweep + 1):
            d = root / f"run-{i:02d}"
            run = json.loads((d / "run.json").read_text())
            run["sweep"] = sid
            (d / "run.json").write_text(json.dumps(run, indent=2))
            cfg = json.loads((d / "config.json").read_text())
            members.append({"point": {"hidden": cfg["hidden"]}, "seed": cfg["seed"],
                            "run": d.name, "config": cfg})
        (root / sid).mkdir()
        (root / sid / "sweep.json").write_text(json.dumps({
            "id": sid, "schema": 1, "status": "completed", "argv": ["sincos", "sweep"],
            "pid": 1, "host": "bench", "created": "2026-11-26T10:00:00.000Z",
            "ended": "2026-11-26T11:00:00.000Z", "base": {}, "grid": {"hidden": [10, 20, 40]},
            "seeds": list(range(per_sweep)), "checkpoint_every": 100, "members": members}))
    return sweeps


def share_seeds(root: Path, n_runs: int, seeds: int = 2000) -> None:
    """Seeds 0…1999 over and over, so that the groups share seeds as a study's do (--paired
    compares them seed by seed)."""
    for i in range(1, n_runs + 1):
        f = root / f"run-{i:02d}" / "config.json"
        cfg = json.loads(f.read_text())
        cfg["seed"] = i % seeds
        f.write_text(json.dumps(cfg, indent=2))


def timed(cmd, env) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    exe = shutil.which("sincos", path=os.path.dirname(sys.executable)) or "sincos"
    tmp = Path(tempfile.mkdtemp(prefix="sincos-bench-store-"))
    root = tmp / "runs"
    env = {**os.environ, "SINCOS_RUNS_DIR": str(root)}
    try:
        make_runs(root, args.runs)
        share_seeds(root, args.runs)
        n_sweeps = make_sweeps(root, args.runs)
        cases = {"compare --json": [exe, "compare", "--json"],
                 "compare (sweeps folded)": [exe, "compare"],
                 "compare --where hidden=20 --json": [exe, "compare", "--where", "hidden=20",
                                                      "--json"],
                 "compare --group-by hidden,lr --no-intervals": [
                     exe, "compare", "--group-by", "hidden,lr", "--no-intervals"],
                 "compare --group-by hidden,lr (95% intervals)": [
                     exe, "compare", "--group-by", "hidden,lr"],
                 "compare --group-by hidden,lr --paired (95% intervals)": [
                     exe, "compare", "--group-by", "hidden,lr", "--paired"],
                 "sincos --version (start-up)": [exe, "--version"],
                 f"show run-{args.runs // 2:02d}": [exe, "show", f"run-{args.runs // 2:02d}"]}
        times = {k: [] for k in cases}
        for _ in range(args.repeats):
            for k, cmd in cases.items():
                times[k].append(timed(cmd, env))
        med = {k: statistics.median(v) for k, v in times.items()}
        base, start = med["compare --json"], med["sincos --version (start-up)"]
        print(f"{args.runs:,} runs ({n_sweeps} sweeps of 1,000 + the rest loose), "
              f"medians of {args.repeats}, alternating")
        print("| command | seconds | ratio |\n| --- | --- | --- |")
        for k, m in med.items():
            ref, what = (start, "× start-up") if k.startswith("show") else (
                (med["compare --group-by hidden,lr --no-intervals"], "× without intervals")
                if "(95% intervals)" in k else (base, "× compare --json"))
            print(f"| `{k}` | {m:.3f} | {m / ref:.2f} {what} |")
        print(f"show − start-up: {(med[list(cases)[-1]] - start) * 1000:.0f} ms")
        # rm of a 1,000-member sweep against rm -rf of the same folders, on fresh copies
        rm_t, rmrf_t = [], []
        members = [f"run-{i:02d}" for i in range(1, 1001)]
        for r in range(args.repeats):
            for how in ("sincos", "rm -rf"):
                d = tmp / f"copy-{r}-{how.replace(' ', '')}" / "runs"
                d.mkdir(parents=True)
                for name in (*members, "sweep-01"):
                    shutil.copytree(root / name, d / name)
                subprocess.run(["sync"])
                e = {**env, "SINCOS_RUNS_DIR": str(d)}
                if how == "sincos":
                    rm_t.append(timed([exe, "rm", "sweep-01", "--yes"], e))
                else:
                    rmrf_t.append(timed(["rm", "-rf", *(str(d / n) for n in
                                                        (*members, "sweep-01"))], e))
                assert not os.listdir(d), os.listdir(d)[:3]
        a, b = statistics.median(rm_t), statistics.median(rmrf_t)
        print(f"| `rm sweep-01 --yes` (1,000 members) | {a:.3f} | {a / b:.2f} × rm -rf "
              f"({b:.3f} s) |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
