"""The append-only trace (schema 2), flat memory, cheap resumes, and schema-1 runs."""

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, read

from sincos_cli.config import TrainConfig
from sincos_cli.store import trace
from sincos_cli.training.recorder import Recorder
from sincos_cli.training.train import Trainer

FIXTURE = Path(__file__).parent / "fixtures" / "gpu-tiny"  # a schema-1 run (trace.npz)


def test_trace_bin_is_header_plus_one_record_a_step(trained):
    T = read(trained / "config.json")["time_steps"]
    size = (trained / "trace.bin").stat().st_size
    assert size == trace.HEADER.size + 40 * trace.record_dtype(T).itemsize
    assert not (trained / "trace.npz").exists()
    assert read(trained / "run.json")["schema"] == 2
    t = trace.read(trained)
    rows = [json.loads(ln) for ln in (trained / "metrics.jsonl").read_text().splitlines()]
    np.testing.assert_array_equal(t["loss"], [r["loss"] for r in rows])


def test_a_trace_cut_under_a_reader_never_crashes_it(trained_copy):
    """A resume shortens trace.bin while animate may be reading it: what was read stays
    readable (no memory map to die of SIGBUS), and a read after the cut gets what is left."""
    t = trace.read(trained_copy)
    whole = t["prediction"].copy()
    T = read(trained_copy / "config.json")["time_steps"]
    os.truncate(trained_copy / "trace.bin", trace.HEADER.size + 5 * trace.record_dtype(T).itemsize)
    np.testing.assert_array_equal(t["prediction"], whole)  # touched after the cut
    assert list(trace.read(trained_copy)["step"]) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("T,needle", [(2**31, "not a sincos trace"),
                                      (1, "has windows of 1 points, the run 10")])
def test_a_header_that_lies_about_T_is_refused(cli, trained_copy, T, needle):
    data = bytearray((trained_copy / "trace.bin").read_bytes())
    data[12:16] = struct.pack("<I", T)
    (trained_copy / "trace.bin").write_bytes(bytes(data))
    res = cli("animate", trained_copy.name, "--out", trained_copy.parent / "a.gif")
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.stderr
    assert needle in res.stderr and "internal error" not in res.stderr
    assert not (trained_copy.parent / "a.gif").exists()


def test_a_torn_last_record_is_ignored(trained_copy):
    data = (trained_copy / "trace.bin").read_bytes()
    (trained_copy / "trace.bin").write_bytes(data[:-7])
    t = trace.read(trained_copy)
    assert list(t["step"]) == list(range(39))


def test_resume_cuts_a_torn_trace_and_metrics_back_to_the_checkpoint(cli, trained_copy):
    """As kill -9 leaves a run: lines and records past the checkpoint, the last one torn."""
    (trained_copy / "metrics.jsonl").open("a").write('{"step": 40, "loss": 0.1, "lr"')
    with (trained_copy / "trace.bin").open("ab") as f:
        f.write(b"\0" * 100)
    res = cli("train", "--resume", trained_copy.name, "--steps", "50")
    assert res.exit_code == 0, res.stderr
    assert "warning" not in res.stderr
    rows = (trained_copy / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows] == list(range(50))
    assert list(trace.read(trained_copy)["step"]) == list(range(50))


def test_checkpoint_cost_does_not_grow_with_steps(tmp_path, monkeypatch):
    """Bytes written per checkpoint are the same at step 50 and at step 500."""
    from sincos_cli.training import checkpoint

    written = []
    real = checkpoint.atomic_write_bytes

    def spy(path, data):
        written.append((path.name, len(data)))
        real(path, data)
    monkeypatch.setattr(checkpoint, "atomic_write_bytes", spy)
    cfg = TrainConfig(steps=500, batch_size=4, time_steps=5, hidden=6, seed=0)
    tr = Trainer(cfg)
    (tmp_path / "r").mkdir()
    rec = Recorder(tmp_path / "r", tr, checkpoint_every=50)
    rec.start(["test"], "cpu")
    tr.fit(rec.on_step)
    rec.finish("completed", tr.evaluate())
    ckpts = [n for name, n in written if name == "checkpoint.pt"]
    assert len(ckpts) == 10  # 50, 100, … 500, and not a second one at the end
    assert max(ckpts) - min(ckpts) < 256  # pickled numbers may differ in width
    assert {name for name, _ in written} == {"checkpoint.pt"}  # no whole-trace rewrite


def test_step_info_holds_no_view_of_the_batch():
    tr = Trainer(TrainConfig(steps=2, batch_size=64, time_steps=5, hidden=4, seed=0))
    info = tr.train_step()
    assert info.x.base is None and info.target.base is None  # copies, not views


def test_schema_1_run_resumes_into_trace_bin(cli, runs_dir, tmp_path):
    runs_dir.mkdir(parents=True)
    path = runs_dir / "old"
    shutil.copytree(FIXTURE, path)
    with np.load(path / "trace.npz") as z:
        old = {k: z[k] for k in z.files}
    assert read(path / "run.json")["schema"] == 1
    # read as it is: animate and compare --plot draw it
    assert cli("animate", "old", "--out", tmp_path / "o.gif", "-q").exit_code == 0
    res = cli("train", "--resume", "old", "--steps", "45", "--device", "cpu", "-q")
    assert res.exit_code == 0, res.stderr
    assert not (path / "trace.npz").exists()
    assert read(path / "run.json")["schema"] == 2
    t = trace.read(path)
    assert list(t["step"]) == list(range(45))
    for k in old:
        np.testing.assert_array_equal(t[k][:40], old[k])
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
    assert ckpt["recorder"]["metrics_bytes"] == (path / "metrics.jsonl").stat().st_size


def test_divergence_fails_the_run_and_keeps_the_last_finite_checkpoint(cli, runs_dir):
    res = cli("train", *TINY, "--lr", "1e308", "--checkpoint-every", "1", "--name", "boom")
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "diverged at step" in res.stderr
    run = read(runs_dir / "boom" / "run.json")
    assert run["status"] == "failed" and run["error"].startswith("diverged at step")
    for line in (runs_dir / "boom" / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in metrics.jsonl"))


def test_divergence_after_checkpoints_keeps_the_last_finite_one(tmp_path):
    from sincos_cli.errors import SincosError
    from sincos_cli.training.launch import Stop, _train
    from sincos_cli.views.progress import Progress

    cfg = TrainConfig(steps=100, batch_size=4, time_steps=5, hidden=6, seed=0)
    tr = Trainer(cfg)
    real_step = tr.train_step

    def poisoned():
        info = real_step()
        if info.step == 12:  # an update that breaks the weights
            with torch.no_grad():
                tr.model.head.weight.fill_(float("nan"))
        return info
    tr.train_step = poisoned
    path = tmp_path / "r"
    path.mkdir()
    rec = Recorder(path, tr, checkpoint_every=5)
    rec.start(["test"], "cpu")
    with pytest.raises(SincosError, match=r"diverged at step 13 .*checkpoint \(step 10\)"):
        _train(tr, rec, path, Progress(cfg.steps, quiet=True), Stop(on_second=lambda: None))
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 10
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())
    assert read(path / "run.json")["status"] == "failed"


def test_predict_refuses_a_non_finite_start(cli, trained_copy):
    for bad in ("nan", "inf"):
        res = cli("predict", trained_copy.name, "--start", bad)
        assert res.exit_code == 2 and "--start" in res.stderr
