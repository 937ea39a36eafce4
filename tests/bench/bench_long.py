"""Long runs at linear cost and flat memory: 1k / 10k / 50k steps (200k with --long).

    python tests/bench/bench_long.py [--long]

Each size trains in a fresh process (the seed settings, seed 1, checkpoint every 100, one
thread) through the library exactly as `sincos train` runs it, and reports: steps/s over the
first and the last 10% of steps (from metrics.jsonl's elapsed_s), the time of the last
periodic checkpoint, bytes written (/proc/self/io: wchar, what the process wrote, and
write_bytes, what reached storage) against the run folder's final size, and peak RSS.
Targets: last/first ≥ 0.95 at 50k, written ≤ 2× the folder, the peak RSS of the longest run
within 50 MB of the 1k run's.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def io_written(field: str = "write_bytes") -> int:
    """/proc/self/io: wchar = bytes this process passed to write(); write_bytes = bytes it
    caused the filesystem to send to storage (page-granular, with the filesystem's own
    overhead: on this machine's ext4 a fresh 14 KB file costs about 36 KB)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one(steps: int) -> dict:
    import torch

    from sincos_cli.config import TrainConfig
    from sincos_cli.training.recorder import Recorder
    from sincos_cli.training.train import Trainer

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-long-"))
    path = root / "run-01"
    path.mkdir()
    w0, c0 = io_written(), io_written("wchar")
    tr = Trainer(TrainConfig(seed=1, steps=steps))
    rec = Recorder(path, tr, checkpoint_every=100)
    ckpt_times = []
    real = rec.save_checkpoint

    def timed(*a, **k):
        t0 = time.perf_counter()
        real(*a, **k)
        ckpt_times.append(time.perf_counter() - t0)
    rec.save_checkpoint = timed
    rec.start(["bench"], "cpu")
    tr.fit(rec.on_step)
    rec.finish("completed", tr.evaluate())
    import os

    os.sync()
    written, wchar = io_written() - w0, io_written("wchar") - c0
    folder = sum(f.stat().st_size for f in path.iterdir())
    el = [json.loads(ln)["elapsed_s"] for ln in (path / "metrics.jsonl").open()]
    k = max(steps // 10, 1)
    first = k / (el[k - 1] - 0.0)
    last = k / (el[-1] - el[-k - 1])
    return {"steps": steps, "first": first, "last": last, "ckpt_s": ckpt_times[-2],
            "written": written, "wchar": wchar, "folder": folder,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--long", action="store_true", help="also 200,000 steps")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    sizes = [1000, 10_000, 50_000] + ([200_000] if args.long else [])
    print("| steps | steps/s first 10% | last 10% | last/first | last checkpoint | run folder "
          "| written (write()) | × folder | storage writes | × folder | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(n)], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"| {n:,} | {r['first']:.0f} | {r['last']:.0f} | {r['last'] / r['first']:.2f} "
              f"| {r['ckpt_s'] * 1000:.1f} ms | {r['folder'] / 1e6:.1f} MB "
              f"| {r['wchar'] / 1e6:.1f} MB | {r['wchar'] / r['folder']:.2f} "
              f"| {r['written'] / 1e6:.1f} MB | {r['written'] / r['folder']:.2f} "
              f"| {r['rss_mb']:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
