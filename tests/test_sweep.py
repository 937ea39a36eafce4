"""sincos sweep: the grid, members as ordinary runs, faults, resume, statistics, engines."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import EXE, descendants, in_process, losses, read, sincos, small

from sincos_cli.stats.groups import describe
from sincos_cli.sweep.grid import GridError, members, parse_seeds, parse_sets

SMALL30 = small(30)


def test_seed_specs():
    assert parse_seeds("1-4") == [1, 2, 3, 4]
    assert parse_seeds("1,5,9") == [1, 5, 9]
    assert parse_seeds("1-3,7") == [1, 2, 3, 7]
    drawn = parse_seeds("5")
    assert len(drawn) == 5 and len(set(drawn)) == 5
    for bad in ("5-1", "x", "1,,2", "1,1", ""):
        with pytest.raises(GridError):
            parse_seeds(bad)


def test_grid_is_the_cartesian_product_times_seeds():
    grid = parse_sets(["hidden=4,8", "cell=lstm,gru,rnn", "stateful=false"])
    assert grid == {"hidden": [4, 8], "cell": ["lstm", "gru", "rnn"], "stateful": [False]}
    ms = list(members({"steps": 30}, grid, [1, 2]))
    assert len(ms) == 2 * 3 * 2
    assert {(m["point"]["hidden"], m["point"]["cell"], m["seed"]) for m in ms} == {
        (h, c, s) for h in (4, 8) for c in ("lstm", "gru", "rnn") for s in (1, 2)}
    assert all(m["config"]["steps"] == 30 and m["config"]["stateful"] is False for m in ms)
    robust = list(members({}, parse_sets(["recipe=seed,robust"]), [1]))
    assert [m["config"]["schedule"] for m in robust] == ["constant", "cosine"]  # the recipe's


def test_describe():
    d = describe([1.0, 2.0, 3.0, 10.0, None, float("nan")])
    assert d == {"mean": 4.0, "std": pytest.approx(4.0825, rel=1e-4), "median": 2.5,
                 "iqm": 2.5, "min": 1.0, "max": 10.0}  # iqm: 1 cut from each end of 4
    assert describe([]) == dict.fromkeys(("mean", "std", "median", "iqm", "min", "max"))


@pytest.mark.parametrize("args,needle", [
    (["--seeds", "1-2", "--set", "width=3"], "unknown key 'width'"),
    (["--seeds", "1-2", "--set", "hidden=0"], "hidden must be a positive"),
    (["--seeds", "1-2", "--set", "hidden=abc"], "not a valid int"),
    (["--seeds", "1-2", "--set", "cell=lstm,transformer"], "cell must be one of"),
    (["--seeds", "1-2", "--hidden", "8", "--set", "hidden=4,8"], "given both as a flag"),
    (["--seeds", "1-2", "--set", "hidden="], "empty value"),
    (["--seeds", "1-2", "--set", "seed=1,2"], "--seeds"),
    (["--seeds", "5-1"], "empty"),
    (["--seeds", "1-2", "--workers", "0"], "--workers"),
    ([], "needs seeds"),
    (["--seeds", "1-10001"], "--yes"),
])
def test_bad_sweeps_are_refused_before_anything_is_made(cli, runs_dir, args, needle):
    res = cli("sweep", *SMALL30, *args)
    assert res.exit_code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and needle in res.stderr
    assert not runs_dir.exists() or not any(runs_dir.iterdir())


@pytest.mark.slow
def test_members_are_ordinary_runs_bit_for_bit(runs_dir):
    """--no-batch: each member exactly what `sincos train` writes (batched members are
    within float32 noise of it: tests/test_batched.py)."""
    env = {"SINCOS_RUNS_DIR": str(runs_dir)}
    out = sincos("sweep", *SMALL30, "--seeds", "1-2", "--set", "hidden=4,8", "--workers", "2",
                 "--no-batch", "-q", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "sweep-01\n"
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "completed" and doc["grid"] == {"hidden": [4, 8]}
    assert doc["seeds"] == [1, 2] and doc["base"]["steps"] == 30
    assert [(m["point"]["hidden"], m["seed"]) for m in doc["members"]] == [
        (4, 1), (4, 2), (8, 1), (8, 2)]
    ids = [m["run"] for m in doc["members"]]
    assert ids == ["run-01", "run-02", "run-03", "run-04"]
    for rid in ids:
        run = read(runs_dir / rid / "run.json")
        assert run["status"] == "completed" and run["sweep"] == "sweep-01"
    # what `sincos train` with the same settings writes, loss for loss
    solo = sincos("train", *SMALL30, "--hidden", "8", "--seed", "2", "--name", "solo", "-q",
                  env=env)
    assert solo.returncode == 0, solo.stderr
    assert losses(runs_dir / "run-04") == losses(runs_dir / "solo")
    assert read(runs_dir / "run-04" / "config.json") == read(runs_dir / "solo" / "config.json")
    # the sweep id works wherever runs are taken
    table = json.loads(in_process("compare", "sweep-01", "--json", env=env).stdout)
    assert [g["hidden"] for g in table] == [4, 8] and all(g["n"] == 2 for g in table)
    assert set(table[0]["eval_mse"]) == {"mean", "std", "median", "iqm", "min", "max",
                                         "median_ci", "iqm_ci"}
    rows = json.loads(in_process("compare", "sweep-01", "--group-by", "hidden,seed", "--json",
                                 env=env).stdout)
    assert len(rows) == 4 and all(r["n"] == 1 for r in rows)
    csv = in_process("compare", "sweep-01", "--csv", env=env).stdout.splitlines()
    assert csv[0].startswith("hidden,n,ok,ok_count,ok_lo,ok_hi,completed,failed,counted,"
                             "diverged,eval_mse_mean")
    png = runs_dir.parent / "bands.png"
    assert in_process("compare", "sweep-01", "--plot", png, env=env).returncode == 0
    assert png.stat().st_size > 1000


def test_a_failing_member_is_recorded_and_the_sweep_goes_on(runs_dir):
    env = {"SINCOS_RUNS_DIR": str(runs_dir)}
    out = sincos("sweep", *SMALL30, "--seeds", "1", "--set", "lr=0.006,1e308",
                 "--workers", "2", env=env)
    assert out.returncode == 1
    assert "Error: 1 of 2 members failed" in out.stderr
    assert out.stdout == "sweep-01\n"
    assert read(runs_dir / "sweep-01" / "sweep.json")["status"] == "failed"
    assert read(runs_dir / "run-01" / "run.json")["status"] == "completed"
    assert read(runs_dir / "run-02" / "run.json")["error"].startswith("diverged")
    assert "run-02 failed diverged" in out.stderr  # the plain progress line


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_stops_members_with_checkpoints_then_resume_finishes(runs_dir, sig, code):
    env = {**os.environ, "SINCOS_RUNS_DIR": str(runs_dir)}
    args = ["--steps", "2000", "--batch-size", "8", "--time-steps", "10", "--checkpoint-every",
            "20", "--seeds", "1-4", "--workers", "2"]
    p = subprocess.Popen([EXE, "sweep", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while not (runs_dir / "run-01" / "checkpoint.pt").exists():
        assert time.time() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.05)
    workers = descendants(p.pid)
    assert workers  # the pool
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert out == "sweep-01\n"
    time.sleep(0.5)
    assert not [w for w in workers if os.path.exists(f"/proc/{w}")], "workers left behind"
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "interrupted"
    states = {m["run"]: read(runs_dir / m["run"] / "run.json")["status"]
              for m in doc["members"] if (runs_dir / m["run"] / "run.json").exists()}
    assert "interrupted" in states.values()
    for rid, st in states.items():
        if st == "interrupted":
            assert (runs_dir / rid / "checkpoint.pt").exists()
    # a second resume while one runs is refused; then the resume trains only what is left
    first = subprocess.Popen([EXE, "sweep", "--resume", "sweep-01", "-q"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 60
    while read(runs_dir / "sweep-01" / "sweep.json").get("pid") != first.pid:
        assert time.time() < deadline and first.poll() is None, first.communicate()
        time.sleep(0.05)  # until the first resume holds the sweep
    second = sincos("sweep", "--resume", "sweep-01", env={"SINCOS_RUNS_DIR": str(runs_dir)})
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert second.returncode == 1 and ("running" in second.stderr), second.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "completed"
    names = sorted(p.name for p in runs_dir.iterdir())
    assert names == ["run-01", "run-02", "run-03", "run-04", "sweep-01"]  # none made twice
    for m in doc["members"]:
        run = read(runs_dir / m["run"] / "run.json")
        assert run["status"] == "completed"
        assert len(losses(runs_dir / m["run"])) == 2000
        if states.get(m["run"]) == "interrupted":
            assert run["resumes"]  # resumed from its checkpoint, not retrained


# -- Dask ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """A real scheduler and two single-threaded worker processes on localhost."""
    pytest.importorskip("distributed")
    from test_sweep_dask import Cluster

    c = Cluster(tmp_path_factory.mktemp("dask"))
    yield c.file
    c.close()


@pytest.mark.dask
def test_dask_cluster_runs_members_that_equal_local_ones(runs_dir, dask_cluster, tmp_path):
    env = {"SINCOS_RUNS_DIR": str(runs_dir)}
    out = sincos("sweep", *SMALL30, "--seeds", "1-2", "--set", "hidden=4,8", "--cluster",
                 dask_cluster, env=env, timeout=180)
    assert out.returncode == 0, out.stderr
    local_root = tmp_path / "local"
    ref = sincos("sweep", *SMALL30, "--seeds", "1-2", "--set", "hidden=4,8", "--workers", "2",
                 "-q", env={"SINCOS_RUNS_DIR": str(local_root)})
    assert ref.returncode == 0, ref.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    for m in doc["members"]:
        path = runs_dir / m["run"]
        assert read(path / "run.json")["status"] == "completed"
        assert {"config.json", "metrics.jsonl", "summary.json", "checkpoint.pt",
                "trace.bin"} <= {f.name for f in path.iterdir()}
        assert losses(path) == losses(local_root / m["run"])  # the same, bit for bit
    assert sincos("predict", "run-01", "--points", "10", env=env).returncode == 0


@pytest.mark.slow
def test_unreachable_cluster_is_one_line_and_nothing_is_made(runs_dir):
    t0 = time.time()
    out = sincos("sweep", *SMALL30, "--seeds", "1", "--cluster", "tcp://127.0.0.1:9",
                 env={"SINCOS_RUNS_DIR": str(runs_dir), "SINCOS_CLUSTER_TIMEOUT": "3"},
                 timeout=60)
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "cannot reach the Dask cluster" in out.stderr
    assert time.time() - t0 < 20
    assert not runs_dir.exists() or not any(runs_dir.iterdir())
