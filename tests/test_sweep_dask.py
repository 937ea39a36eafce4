"""Sweeps on a real Dask cluster under faults: Ctrl-C, a dead scheduler, a killed worker, a
killed driver, and addresses that are not a scheduler. Each test starts its own `dask
scheduler` and `dask worker` processes on 127.0.0.1, since most of them kill one."""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import losses, read, sincos, start, steps_of, wait_for
from test_sweep_faults import SMALL30, env_for, expected_losses

pytestmark = pytest.mark.dask

pytest.importorskip("distributed")
DASK = os.path.join(os.path.dirname(sys.executable), "dask")
LONG = ["--steps", "2500", "--batch-size", "8", "--time-steps", "10", "--checkpoint-every",
        "50"]


class Cluster:
    """A scheduler and `workers` single-threaded worker processes (each under a nanny)."""

    def __init__(self, d: Path, workers: int = 2):
        self.file = d / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        quiet = {"cwd": d, "env": env, "stdout": subprocess.DEVNULL,
                 "stderr": subprocess.DEVNULL, "start_new_session": True}
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address",
             ":0", "--scheduler-file", str(self.file)], **quiet)
        wait_for(self.file.exists, "the scheduler", timeout=60)
        self.workers = subprocess.Popen(
            [DASK, "worker", "--scheduler-file", str(self.file), "--nworkers", str(workers),
             "--nthreads", "1", "--no-dashboard", "--death-timeout", "20"], **quiet)
        from distributed import Client

        self.client = Client(scheduler_file=str(self.file), timeout="30s")
        self.client.wait_for_workers(workers, timeout=60)

    def busy(self) -> dict[str, list]:
        """Worker address -> the task keys it is running."""
        return {w: ks for w, ks in self.client.processing().items() if ks}

    def pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def close(self) -> None:
        try:
            self.client.close(timeout=5)
        except Exception:  # noqa: BLE001 (the scheduler may be dead by design)
            pass
        for p in (self.workers, self.scheduler):  # each with its children (the workers)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=20)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path)
    yield c
    c.close()


def cpu_seconds(pids) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
    return total


def test_ctrl_c_keeps_the_members_in_flight_and_resume_continues_them(cluster, runs_dir,
                                                                     tmp_path):
    p = start("sweep", *LONG, "--seeds", "1-3", "--cluster", cluster.file, "-q",
              root=runs_dir)
    wait_for(lambda: cluster.busy(), "a member on the cluster", proc=p)
    time.sleep(3)  # well into training
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "interrupted"
    made = [m["run"] for m in doc["members"] if (runs_dir / m["run"] / "run.json").exists()]
    # a member in flight came back interrupted; one that finished first (a small group
    # is quick) completed
    stopped = [r for r in made if read(runs_dir / r / "run.json")["status"] == "interrupted"]
    assert stopped, "the members in flight came back"
    for rid in made:  # a member the stop reached before it started is still queued
        state = read(runs_dir / rid / "run.json")["status"]
        assert state in ("interrupted", "completed", "queued"), state
        if state == "queued":
            assert not (runs_dir / rid / "metrics.jsonl").exists()
    for rid in stopped:
        assert (runs_dir / rid / "checkpoint.pt").exists()
        assert 0 < len(steps_of(runs_dir / rid)) < 2500
    out = sincos("sweep", "--resume", "sweep-01", "--cluster", cluster.file, "-q", timeout=300)
    assert out.returncode == 0, out.stderr
    for m in read(runs_dir / "sweep-01" / "sweep.json")["members"]:
        assert steps_of(runs_dir / m["run"]) == list(range(2500))
    first = stopped[0]
    seed = next(m["seed"] for m in doc["members"] if m["run"] == first)
    assert read(runs_dir / first / "run.json")["resumes"]
    assert losses(runs_dir / first) == expected_losses(tmp_path, seed, *LONG[:6])


def test_a_dead_scheduler_ends_the_sweep_interrupted_in_one_line(cluster, runs_dir):
    p = start("sweep", *LONG, "--seeds", "1-3", "--cluster", cluster.file, "-q",
              root=runs_dir)
    wait_for(lambda: cluster.busy(), "a member on the cluster", proc=p)
    cluster.scheduler.kill()
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    assert err.count("\n") == 1 and err.startswith("Error: lost the Dask cluster at tcp://")
    assert "resume with: sincos sweep --resume sweep-01" in err
    assert "Traceback" not in err
    assert read(runs_dir / "sweep-01" / "sweep.json")["status"] == "interrupted"
    # resumed on this machine instead: every member finishes, none twice
    out = sincos("sweep", "--resume", "sweep-01", "--workers", "2", "-q", timeout=300)
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(runs_dir)) == ["run-01", "run-02", "run-03", "sweep-01"]
    for n in ("run-01", "run-02", "run-03"):
        assert steps_of(runs_dir / n) == list(range(2500))


def test_a_worker_killed_mid_member_leaves_no_duplicate_and_no_gap(cluster, runs_dir):
    p = start("sweep", *LONG[:1], "1500", *LONG[2:], "--seeds", "1-3", "--cluster",
              cluster.file, "-q", root=runs_dir)
    wait_for(lambda: cluster.busy(), "a member on the cluster", proc=p)
    time.sleep(1)
    victim = next(iter(cluster.busy()))
    os.kill(cluster.pids()[victim], signal.SIGKILL)  # its nanny starts a new one
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "completed"
    assert sorted(os.listdir(runs_dir)) == ["run-01", "run-02", "run-03", "sweep-01"]
    for m in doc["members"]:
        run = read(runs_dir / m["run"] / "run.json")
        assert run["status"] == "completed" and run["sweep"] == "sweep-01"
        assert steps_of(runs_dir / m["run"]) == list(range(1500))  # contiguous, once each


def test_a_killed_driver_leaves_the_cluster_idle(cluster, runs_dir):
    env = {**env_for(runs_dir), "SINCOS_HEARTBEAT_TIMEOUT": "3"}
    p = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "sincos"), "sweep",
                          *LONG[:1], "100000", *LONG[2:], "--seeds", "1-2", "--cluster",
                          str(cluster.file), "-q"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    wait_for(lambda: len(cluster.busy()) == 2, "both members on the cluster", proc=p)
    pids = list(cluster.pids().values())
    time.sleep(1)
    t0 = cpu_seconds(pids)
    time.sleep(2)
    assert cpu_seconds(pids) - t0 > 1.0  # training, on both workers
    p.kill()
    p.communicate(timeout=30)
    # within the heartbeat's timeout (3 s), then a step and a checkpoint, both stop

    def idle() -> bool:
        t = cpu_seconds(pids)
        time.sleep(2)
        return cpu_seconds(pids) - t < 0.5
    wait_for(idle, "the cluster to stop training the dead driver's members", timeout=30)


@pytest.fixture
def not_a_scheduler():
    """An HTTP server and a listener that accepts and stays silent, on 127.0.0.1."""
    web = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    held = []

    def accept_and_stay_silent():
        try:
            for _ in range(8):
                held.append(silent.accept())
        except OSError:  # closed at the end of the test
            pass
    threading.Thread(target=accept_and_stay_silent, daemon=True).start()
    yield web.server_address[1], silent.getsockname()[1]
    web.shutdown()
    silent.close()


def test_a_cluster_that_is_not_a_scheduler_is_one_line_quickly(not_a_scheduler, runs_dir,
                                                               tmp_path):
    web, silent = not_a_scheduler
    (tmp_path / "empty.json").write_text("{}")
    (tmp_path / "garbage.json").write_text("garbage\x00")
    (tmp_path / "tls.json").write_text(json.dumps({"address": "tls://127.0.0.1:1"}))
    cases = [
        (f"tcp://127.0.0.1:{web}", "cannot reach the Dask cluster"),
        (f"127.0.0.1:{silent}", "cannot reach the Dask cluster"),
        (tmp_path / "empty.json", "not a Dask scheduler file (no 'address')"),
        (tmp_path / "garbage.json", "not a Dask scheduler file (not JSON)"),
        (tmp_path / "tls.json", "only tcp:// clusters are supported"),
        ("ucx://127.0.0.1:1", "only tcp:// clusters are supported"),
        ("tls://127.0.0.1:1", "only tcp:// clusters are supported"),
        ("/no/such.json", "no such scheduler file"),
    ]
    for address, needle in cases:
        t0 = time.time()
        out = sincos("sweep", *SMALL30, "--seeds", "1", "--cluster", address, timeout=60,
                     env={"SINCOS_CLUSTER_TIMEOUT": "3"})
        assert out.returncode == 1, (address, out.stderr)
        assert out.stderr.count("\n") == 1 and needle in out.stderr, (address, out.stderr)
        assert time.time() - t0 < 20, address  # was over 10 minutes for the first two
    assert not runs_dir.exists() or not os.listdir(runs_dir)


def test_a_driver_paused_past_the_heartbeat_ends_interrupted_and_resume_finishes(
        cluster, runs_dir, monkeypatch):
    """SIGSTOP (a laptop's sleep) longer than the heartbeat's timeout: the members stop
    themselves with a checkpoint; the continued driver says so and ends `interrupted` with
    "resume with", never `completed` with nothing done."""
    monkeypatch.setenv("SINCOS_HEARTBEAT_TIMEOUT", "2")
    steps = ["--steps", "6000", *LONG[2:]]
    p = start("sweep", *steps, "--seeds", "1-2", "--cluster", cluster.file, "-q",
              root=runs_dir)
    wait_for(lambda: cluster.busy(), "a member on the cluster", proc=p)
    time.sleep(0.5)
    p.send_signal(signal.SIGSTOP)
    time.sleep(6)  # past the 2 s heartbeat timeout, well before 6,000 steps
    p.send_signal(signal.SIGCONT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    assert "were interrupted" in err and "resume with: sincos sweep --resume sweep-01" in err
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["status"] == "interrupted"
    for m in doc["members"]:
        assert read(runs_dir / m["run"] / "run.json")["status"] == "interrupted"
    out = sincos("sweep", "--resume", "sweep-01", "--cluster", cluster.file, "-q", timeout=300)
    assert out.returncode == 0, out.stderr
    for m in read(runs_dir / "sweep-01" / "sweep.json")["members"]:
        assert steps_of(runs_dir / m["run"]) == list(range(6000))
