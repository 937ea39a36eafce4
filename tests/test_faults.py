"""Faults caused for real: signals to a training process, kill -9, concurrent starts, bad files."""

import json
import os
import signal
import subprocess

import numpy as np
import pytest
import torch
from conftest import EXE, TINY, losses, read, sincos, start, steps_written, wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sincos_cli.errors import SincosError
from sincos_cli.store.trace import read as load_trace

LONG = [a if a != "40" else "1000000" for a in TINY]  # TINY, but practically endless


def train(runs_dir, *args):
    return start("train", *args, root=runs_dir)


def wait_for_steps(path, n, proc, timeout=60):
    wait_for(lambda: steps_written(path) >= n, f"{n} steps of {path.name}", timeout, proc)


def weights(path):
    return torch.load(path / "checkpoint.pt", weights_only=True)["model"]


def assert_consistent(path):
    """checkpoint, summary, trace and metrics all end at the same step."""
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)
    rows = [json.loads(ln) for ln in (path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(ckpt["step"]))
    assert read(path / "summary.json")["steps"] == ckpt["step"]
    assert list(load_trace(path)["step"]) == list(range(ckpt["step"]))
    return ckpt["step"]


def assert_same_trace(a, b):
    ta, tb = load_trace(a), load_trace(b)
    for k in ta:
        np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_finishes_the_step_saves_and_exits(runs_dir, sig, code):
    p = train(runs_dir, *LONG, "--name", "cut")
    wait_for_steps(runs_dir / "cut", 30, p)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert out == "cut\n"
    run = read(runs_dir / "cut" / "run.json")
    assert run["status"] == "interrupted" and run["ended"]
    assert signal.Signals(sig).name in run["error"]
    assert assert_consistent(runs_dir / "cut") >= 30
    assert read(runs_dir / "cut" / "summary.json")["eval_mse"] is not None


@pytest.mark.slow
def test_two_ctrl_c_at_once_are_one_stop_leaving_a_readable_run(runs_dir):
    """A second signal within launch.SAME_STOP_S of the first is the same stop (`timeout`
    signals its child, then the child's group): the run saves and ends `interrupted`."""
    p = train(runs_dir, *LONG, "--name", "twice")
    wait_for_steps(runs_dir / "twice", 30, p)
    p.send_signal(signal.SIGINT)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    assert p.returncode == 130
    assert read(runs_dir / "twice" / "run.json")["status"] == "interrupted"
    torch.load(runs_dir / "twice" / "checkpoint.pt", weights_only=True)


@pytest.mark.slow
def test_interrupt_then_resume_equals_training_straight(runs_dir):
    p = train(runs_dir, *LONG, "--name", "cut")
    wait_for_steps(runs_dir / "cut", 25, p)
    p.send_signal(signal.SIGINT)
    p.communicate(timeout=60)
    k = assert_consistent(runs_dir / "cut")
    total = k + 30
    res = sincos("train", "--resume", "cut", "--steps", total, "--quiet",
                 env={"SINCOS_RUNS_DIR": str(runs_dir)})
    assert res.returncode == 0, res.stderr
    assert res.stdout == "cut\n"
    straight = sincos("train", *TINY, "--steps", total, "--name", "straight",
                      env={"SINCOS_RUNS_DIR": str(runs_dir)})
    assert straight.returncode == 0, straight.stderr
    assert assert_consistent(runs_dir / "cut") == total
    assert losses(runs_dir / "cut") == losses(runs_dir / "straight")  # no step twice, no gap
    assert_same_trace(runs_dir / "cut", runs_dir / "straight")
    a, b = weights(runs_dir / "cut"), weights(runs_dir / "straight")
    assert all(torch.equal(a[k_], b[k_]) for k_ in a)
    run = read(runs_dir / "cut" / "run.json")
    assert run["status"] == "completed"
    assert [r["at_step"] for r in run["resumes"]] == [k]
    assert run["resumes"][0]["from_status"] == "interrupted"


@pytest.mark.slow
def test_kill_9_reads_as_crashed_and_resumes_from_the_last_checkpoint(runs_dir, cli, tmp_path):
    p = train(runs_dir, *LONG, "--name", "dead", "--checkpoint-every", "25")
    wait_for_steps(runs_dir / "dead", 80, p)
    p.kill()
    p.wait()
    path = runs_dir / "dead"
    assert read(path / "run.json")["status"] == "running"
    lines = len(losses(path))
    ckpt = torch.load(path / "checkpoint.pt", weights_only=True)  # complete, never torn
    assert ckpt["step"] % 25 == 0 and lines - 25 <= ckpt["step"] <= lines

    table = cli("compare", "--json")
    assert json.loads(table.stdout)[0]["status"] == "crashed"
    assert cli("predict", "dead", "--points", "20").exit_code == 0
    anim = cli("animate", "dead", "--out", tmp_path / "a.gif", "-q")
    assert anim.exit_code == 0, anim.stderr

    total = ckpt["step"] + 20
    res = cli("train", "--resume", "dead", "--steps", total, "--quiet")
    assert res.exit_code == 0, res.stderr
    assert assert_consistent(path) == total
    assert cli("train", *TINY, "--steps", total, "--name", "ref").exit_code == 0
    assert losses(path) == losses(runs_dir / "ref")
    assert read(path / "run.json")["resumes"][0]["from_status"] == "crashed"


def test_resume_refusals(cli, runs_dir, trained_copy):
    name = trained_copy.name
    res = cli("train", "--resume", name)
    assert res.exit_code == 1 and "already has 40 steps" in res.stderr
    res = cli("train", "--resume", name, "--steps", "60", "--hidden", "16")
    assert res.exit_code == 1 and "cannot change hidden on resume" in res.stderr
    res = cli("train", "--resume", name, "--steps", "60", "--name", "x")
    assert res.exit_code == 2
    res = cli("train", "--resume", "nope", "--steps", "60")
    assert res.exit_code == 1 and "no run 'nope'" in res.stderr
    run = read(trained_copy / "run.json")
    from sincos_cli.store.runs import process_start
    run.update(status="running", pid=os.getpid(), pid_start=process_start(os.getpid()))
    (trained_copy / "run.json").write_text(json.dumps(run))
    res = cli("train", "--resume", name, "--steps", "60")
    assert res.exit_code == 1 and "still running" in res.stderr


def test_resume_extends_a_completed_run(cli, trained_copy):
    before = losses(trained_copy)
    res = cli("train", "--resume", trained_copy.name, "--steps", "50", "--quiet")
    assert res.exit_code == 0, res.stderr
    assert losses(trained_copy)[:40] == before and len(losses(trained_copy)) == 50
    assert read(trained_copy / "config.json")["steps"] == 50


def test_resume_cuts_a_torn_metrics_line(cli, trained_copy):
    with open(trained_copy / "metrics.jsonl", "a") as f:
        f.write('{"step": 40, "loss": 0.1')  # a crash mid-write
    res = cli("train", "--resume", trained_copy.name, "--steps", "45", "-q")
    assert res.exit_code == 0, res.stderr
    assert [json.loads(x)["step"] for x in (trained_copy / "metrics.jsonl").open()] == \
        list(range(45))


def test_resume_with_a_garbage_checkpoint_keeps_the_run(cli, trained_copy):
    (trained_copy / "checkpoint.pt").write_bytes(b"\x00garbage" * 10)
    before = (trained_copy / "metrics.jsonl").read_bytes()
    res = cli("train", "--resume", trained_copy.name, "--steps", "60")
    assert res.exit_code == 1 and "not a readable checkpoint" in res.stderr
    assert (trained_copy / "metrics.jsonl").read_bytes() == before
    assert read(trained_copy / "run.json")["status"] == "completed"


@pytest.mark.parametrize("edit,keys", [({"hidden": 99}, "hidden"),
                                       ({"lr": 0.01, "seed": 9}, "lr, seed"),
                                       ({"schedule": "cosine"}, "schedule")])
def test_resume_after_config_json_was_edited_is_refused(cli, trained_copy, edit, keys):
    cfg = read(trained_copy / "config.json")
    (trained_copy / "config.json").write_text(json.dumps({**cfg, **edit}))
    before = (trained_copy / "metrics.jsonl").read_bytes()
    res = cli("train", "--resume", trained_copy.name, "--steps", "60")
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert f"config.json disagrees with its checkpoint on {keys}" in res.stderr
    assert (trained_copy / "metrics.jsonl").read_bytes() == before
    assert read(trained_copy / "run.json")["status"] == "completed"


@pytest.mark.slow
def test_four_trains_at_once_get_four_folders(runs_dir):
    procs = [train(runs_dir, *TINY, "--steps", "30") for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    ids = sorted(o.strip() for o, _ in outs)
    assert ids == ["run-01", "run-02", "run-03", "run-04"]
    for i in ids:
        assert read(runs_dir / i / "run.json")["status"] == "completed"
        assert len(losses(runs_dir / i)) == 30


def test_pickled_code_in_a_checkpoint_never_runs(cli, trained_copy, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    ckpt = torch.load(trained_copy / "checkpoint.pt", weights_only=True)
    ckpt["extra"] = Payload()
    torch.save(ckpt, trained_copy / "checkpoint.pt")
    for args in (["predict", trained_copy.name, "--points", "3"],
                 ["train", "--resume", trained_copy.name, "--steps", "50"]):
        res = cli(*args)
        assert res.exit_code == 1 and "not a readable checkpoint" in res.stderr
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["config", "run", "summary"])
def test_invalid_json_is_one_line_everywhere(cli, trained_copy, damage, tmp_path):
    (trained_copy / f"{damage}.json").write_text('{"oops": ')
    # predict needs config.json, resume needs both; neither needs summary.json
    needing = {"config": ["predict", "train"], "run": ["train"], "summary": []}[damage]
    for args in (["predict", trained_copy.name, "--points", "3"],
                 ["train", "--resume", trained_copy.name, "--steps", "50"]):
        if args[0] not in needing:
            continue
        res = cli(*args)
        assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.stderr
        assert "not valid JSON" in res.stderr
    res = cli("compare")
    assert res.exit_code == 0 and "corrupt" in res.stdout and "warning:" in res.stderr
    res = cli("animate", trained_copy.name, "--out", tmp_path / "a.gif", "-q")
    assert res.exit_code == 0  # animate needs only the trace (and warns without config)


def test_names_cannot_escape_the_runs_dir(cli, runs_dir, tmp_path):
    for name in ("../x", "/abs", "a/../../b", "..", "."):
        res = cli("train", *TINY, "--name", name)
        assert res.exit_code == 2, name
    assert not (tmp_path / "x").exists() and not (runs_dir.parent / "b").exists()
    res = cli("compare", "run-01/../../etc")
    assert res.exit_code == 1


# -- every reader, fed garbage: a clean error or a result, never a traceback -----------------

def _readers(path):
    from sincos_cli.store.files import read_json, read_metrics
    from sincos_cli.store.record import load_row
    from sincos_cli.training.checkpoint import read as load_checkpoint_file
    from sincos_cli.views.plot import read_losses

    return [lambda: read_json(path / "run.json"), lambda: read_metrics(
        path / "metrics.jsonl"), lambda: read_losses(path / "metrics.jsonl"),
        lambda: load_trace(path), lambda: load_checkpoint_file(
        path / "checkpoint.pt"), lambda: load_row(path)]


@pytest.fixture(scope="module")
def originals(trained):
    return {n: (trained / n).read_bytes() for n in ("run.json", "config.json", "summary.json",
                                                    "metrics.jsonl", "trace.bin",
                                                    "checkpoint.pt")}


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["run.json", "config.json", "summary.json", "metrics.jsonl",
                             "trace.bin", "checkpoint.pt"]),
       cut=st.floats(0, 1), junk=st.binary(max_size=64), mode=st.sampled_from(
           ["truncate", "replace", "append", "flip"]))
def test_readers_survive_damaged_files(tmp_path, originals, name, cut, junk, mode):
    path = tmp_path / "run"
    path.mkdir(exist_ok=True)
    for n, data in originals.items():
        (path / n).write_bytes(data)
    data = originals[name]
    if mode == "truncate":
        data = data[: int(len(data) * cut)]
    elif mode == "replace":
        data = junk
    elif mode == "append":
        data = data + junk
    else:
        i = int((len(data) - 1) * cut)
        data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
    (path / name).write_bytes(data)
    for read_it in _readers(path):
        try:
            read_it()
        except SincosError as e:
            assert "\n" not in str(e)


@pytest.mark.slow
def test_random_interrupts_and_kills_then_resumes_equal_a_straight_run(runs_dir):
    """Stopped at random steps by SIGINT or kill -9 (which leaves metrics and trace past
    the checkpoint), resumed each time: metrics, trace and weights as if trained straight."""
    import random

    rng = random.Random(11)
    env = {"SINCOS_RUNS_DIR": str(runs_dir)}
    total = 300
    args = [a if a != "40" else str(total) for a in TINY] + ["--checkpoint-every", "7"]
    path = runs_dir / "hop"
    for i in range(3):
        p = train(runs_dir, *args, "--name", "hop") if i == 0 else subprocess.Popen(
            [EXE, "train", "--resume", "hop", "--steps", str(total), "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env})
        done = len(losses(path)) if path.exists() else 0
        wait_for_steps(path, done + rng.randint(10, 60), p)
        p.send_signal(rng.choice([signal.SIGINT, signal.SIGKILL]))
        p.communicate(timeout=60)
    res = sincos("train", "--resume", "hop", "--steps", total, "-q", env=env)
    assert res.returncode == 0, res.stderr
    assert sincos("train", *args, "--name", "straight", env=env).returncode == 0
    assert assert_consistent(path) == total
    assert losses(path) == losses(runs_dir / "straight")
    assert_same_trace(path, runs_dir / "straight")
    a, b = weights(path), weights(runs_dir / "straight")
    assert all(torch.equal(a[k_], b[k_]) for k_ in a)
    assert len(read(path / "run.json")["resumes"]) == 3
