"""The run store: results first, sweeps folded, filters, show, rm, tags and notes, the
Python API. Through the CLI, on small real runs."""

import csv
import fcntl
import io
import json
import os
import pty
import re
import shutil
import subprocess

import numpy as np
import pytest
from conftest import EXE, drain, in_process, read, sincos, small

from sincos_cli.views.table import fit

SMALL20 = small(20)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A sweep (hidden 4,8 × seeds 1-3, tagged grid), two loose runs (one tagged baseline
    with a note), and a failed run. Reused read-only."""
    root = tmp_path_factory.mktemp("store") / "runs"
    env = {"SINCOS_RUNS_DIR": str(root)}
    steps = [
        ("train", *SMALL20, "--seed", "1", "--hidden", "20", "--tag", "baseline", "--note",
         "the seed recipe", "-q"),
        ("sweep", *SMALL20, "--seeds", "1-3", "--set", "hidden=4,8", "--tag", "grid", "-q"),
        ("train", *SMALL20, "--seed", "2", "--hidden", "20", "--stateful", "-q"),
        ("train", *SMALL20, "--seed", "3", "--lr", "1e308", "-q"),
    ]
    for args in steps:  # training in process (no signal here); the sweep's pool forks
        out = sincos(*args, env=env) if args[0] == "sweep" else in_process(*args, root=root)
        assert out.returncode in (0, 1), out.stderr
    return root


def cli_in(root, *args):
    """A command on `root`, in process: reading and tidying the store needs no signal."""
    return in_process(*args, root=root)


def test_results_stay_when_the_table_must_lose_columns():
    cols = ["id", "status", "eval_mse", "final_loss", "best_loss", "steps", "warmup_steps",
            "clip", "schedule", "hidden", "train_seconds", "created"]
    body = [["run-01", "completed", "1.234e-04", "2.345e-04", "1.000e-04", "501", "25",
             "0.5", "cosine", "20", "3.21", "2026-12-01 10:00"]]
    heads, keep, dropped = fit(cols, body, 60)
    kept = [cols[i] for i in keep]
    assert kept[:4] == ["id", "status", "eval_mse", "final_loss"]
    assert dropped[:2] == ["created", "train_seconds"]
    assert dropped.index("hidden") < dropped.index("warmup_steps")  # settings, from the right
    assert "best_loss" not in dropped or dropped[-1] in ("best_loss", "steps")


@pytest.mark.slow
def test_on_a_terminal_the_note_names_what_went(store):
    master, slave = pty.openpty()
    p = subprocess.Popen([EXE, "compare", "--flat", "--all"], stdout=slave,
                         stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "100",
                                                      "SINCOS_RUNS_DIR": str(store)})
    os.close(slave)
    _, err = p.communicate(timeout=60)
    out = drain(master)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode())
    head = next(ln for ln in text.splitlines() if ln.strip().startswith("id"))
    assert ("eval" in head) and ("final" in head) and ("status" in head)
    assert b"left out to fit the terminal" in err and b"created" in err


def test_sweeps_fold_to_one_row_and_flat_lists_every_run(store):
    out = cli_in(store, "compare")
    assert out.returncode == 0, out.stderr
    sweep_table, loose = out.stdout.split("\n\n")
    head, row = sweep_table.splitlines()
    assert head.split() == ["id", "status", "members", "eval_median", "eval_best", "grid"]
    assert row.startswith("sweep-01") and "6: 6 completed" in row and row.endswith("hidden")
    ids = [ln.split()[0] for ln in loose.splitlines()[1:]]
    assert ids == ["run-01", "run-08", "run-09"]
    assert "1 sweep folded" in out.stderr
    assert re.search(r"run-09\s+failed: diverged at step 1", loose)
    flat = cli_in(store, "compare", "--flat").stdout.splitlines()
    assert len(flat) == 1 + 9


@pytest.mark.parametrize("where,ids", [
    (["hidden=20"], ["run-01", "run-08", "run-09"]),
    (["hidden>4", "sweep=sweep-01"], ["run-05", "run-06", "run-07"]),
    (["sweep=none", "status!=failed"], ["run-01", "run-08"]),
    (["tag=baseline"], ["run-01"]),
    (["tag!=grid", "lr<1"], ["run-01", "run-08"]),
    (["status=failed"], ["run-09"]),
])
def test_where_filters_json_and_csv_alike(store, where, ids):
    args = [a for w in where for a in ("--where", w)]
    got = [r["id"] for r in json.loads(cli_in(store, "compare", *args, "--json").stdout)]
    assert got == ids
    rows = list(csv.DictReader(io.StringIO(cli_in(store, "compare", *args, "--csv").stdout)))
    assert [r["id"] for r in rows] == ids


def test_where_with_a_result_last_best_and_plot(store, tmp_path):
    evals = {r["id"]: r["summary"].get("eval_mse")
             for r in json.loads(cli_in(store, "compare", "--json").stdout)}
    cut = sorted(v for v in evals.values() if v)[3]
    got = json.loads(cli_in(store, "compare", "--where", f"eval_mse<{cut}", "--json").stdout)
    assert sorted(r["id"] for r in got) == sorted(k for k, v in evals.items() if v and v < cut)
    best = json.loads(cli_in(store, "compare", "--best", "2", "--json").stdout)
    assert [r["summary"]["eval_mse"] for r in best] == sorted(v for v in evals.values() if v)[:2]
    last = json.loads(cli_in(store, "compare", "--last", "2", "--json").stdout)
    assert [r["id"] for r in last] == ["run-08", "run-09"]
    png = tmp_path / "w.png"
    out = cli_in(store, "compare", "--where", "hidden=8", "--plot", png)
    assert out.returncode == 0 and png.stat().st_size > 1000
    groups = json.loads(cli_in(store, "compare", "--where", "sweep=sweep-01", "--group-by",
                               "hidden", "--sort", "-eval_median", "--json").stdout)
    assert [g["n"] for g in groups] == [3, 3] and all(g["ok"].endswith("/3") for g in groups)
    meds = [g["eval_mse"]["median"] for g in groups]
    assert meds == sorted(meds, reverse=True)


@pytest.mark.parametrize("args,needle", [
    (["--where", "widht=3"], "unknown key 'widht'; choose from"),
    (["--where", "hidden~3"], "is not KEY OP VALUE"),
    (["--where", "tag<x"], "tags take only = and !="),
    (["--where", "tag=two words"], "invalid tag"),
    (["--sort", "nope"], "unknown column 'nope'; choose from"),
    (["sweep-01", "--group-by", "hidden", "--sort", "nope"], "choose from hidden, n, ok"),
])
def test_bad_filters_are_usage_errors(store, args, needle):
    out = cli_in(store, "compare", *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and needle in out.stderr, \
        out.stderr


def test_json_carries_what_run_json_knows_and_csv_writes_booleans_one_way(store):
    rows = {r["id"]: r for r in json.loads(cli_in(store, "compare", "--json").stdout)}
    one = rows["run-01"]
    assert one["tags"] == ["baseline"] and one["note"] == "the seed recipe"
    assert one["argv"][:2] == ["sincos", "train"] and one["host"] and one["sweep"] is None
    assert rows["run-02"]["sweep"] == "sweep-01" and rows["run-02"]["tags"] == ["grid"]
    assert rows["run-09"]["error"].startswith("diverged at step")
    text = cli_in(store, "compare", "--flat", "--all", "--csv").stdout
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["stateful"] for r in table} == {"true"} and "True" not in text


@pytest.mark.slow
def test_show_a_run_and_its_reproducing_command(store, tmp_path):
    out = cli_in(store, "show", "run-01")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for needle in ("run-01  completed", "tags      baseline", "note      the seed recipe",
                   "* steps", "* batch_size", "metrics.jsonl", "checkpoint.pt", ".lock"):
        assert needle in text, needle
    doc = json.loads(cli_in(store, "show", "run-01", "--json").stdout)
    assert doc["off_defaults"] == ["steps", "batch_size", "time_steps"]
    line = doc["reproduce"]
    assert line.startswith("sincos train --seed 1 ")
    again = tmp_path / "again"
    out = subprocess.run([EXE, *line.split()[1:], "-q", "--runs-dir", again],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first = (store / "run-01" / "metrics.jsonl").read_text().splitlines()
    second = (again / "run-01" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(a)["loss"] for a in first] == [json.loads(b)["loss"] for b in second]


def test_show_a_sweep(store):
    doc = json.loads(cli_in(store, "show", "sweep-01", "--json").stdout)
    assert doc["grid"] == {"hidden": [4, 8]} and doc["seeds"] == "1-3"
    assert doc["by_status"] == {"completed": 6} and doc["missing"] == []
    assert doc["best"][0]["eval_mse"] <= doc["worst"][0]["eval_mse"]
    text = cli_in(store, "show", "sweep-01").stdout
    assert "members   6 completed" in text and "best by eval_mse" in text


def test_no_runs_names_the_runs_dir_and_how_to_point_elsewhere(runs_dir):
    out = in_process("compare")
    assert out.returncode == 0
    assert f"No runs in {runs_dir.resolve()}" in out.stderr
    assert "--runs-dir" in out.stderr and "SINCOS_RUNS_DIR" in out.stderr


# -- rm --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mine_once(tmp_path_factory):
    root = tmp_path_factory.mktemp("mine") / "runs"
    for args in (("sweep", *SMALL20, "--seeds", "1-2", "-q"),
                 ("train", *SMALL20, "--seed", "5", "-q"),
                 ("train", *SMALL20, "--seed", "6", "--lr", "1e308", "-q")):
        out = sincos(*args, env={"SINCOS_RUNS_DIR": str(root)}) if args[0] == "sweep" \
            else in_process(*args, root=root)  # training in process; the sweep's pool forks
        assert out.returncode in (0, 1), out.stderr
    return root


@pytest.fixture
def mine(mine_once, runs_dir):
    """A sweep (run-01, run-02), a completed run-03 and a failed run-04, this test's own."""
    shutil.copytree(mine_once, runs_dir)
    return runs_dir


def test_rm_dry_run_lists_and_sizes_and_removes_nothing(mine):
    before = sorted(os.listdir(mine))
    out = in_process("rm", "sweep-01", "--dry-run")
    assert out.returncode == 0 and out.stdout.split() == ["run-01", "run-02", "sweep-01"]
    assert "would remove 2 runs and 1 sweep, freeing" in out.stderr
    assert "KB" in out.stderr
    assert sorted(os.listdir(mine)) == before


def test_rm_without_a_terminal_needs_yes(mine):
    out = in_process("rm", "run-03")
    assert out.returncode == 2 and "pass --yes" in out.stderr and out.stdout == ""
    assert (mine / "run-03").exists()


def test_rm_a_sweep_takes_its_members_and_filters_select_runs(mine):
    out = in_process("rm", "sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(mine)) == ["run-03", "run-04"]
    out = in_process("rm", "--status", "failed", "--yes")
    assert out.returncode == 0 and out.stdout.split() == ["run-04"]
    assert sorted(os.listdir(mine)) == ["run-03"]
    assert in_process("rm", "--older-than", "1d", "--yes").stdout == ""  # nothing that old


@pytest.mark.slow
def test_a_member_removed_alone_leaves_a_hole_resume_fills(mine):
    assert in_process("rm", "run-02", "--yes").returncode == 0
    doc = json.loads(in_process("show", "sweep-01", "--json").stdout)
    assert doc["missing"] == ["run-02"]
    shown = in_process("show", "sweep-01").stdout
    assert "sincos sweep --resume sweep-01 trains them again" in shown
    assert sincos("sweep", "--resume", "sweep-01", "-q").returncode == 0
    assert read(mine / "run-02" / "run.json")["status"] == "completed"


def test_rm_refuses_running_runs_and_members_of_running_sweeps(mine):
    fd = os.open(mine / "run-03" / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        out = in_process("rm", "run-03", "--yes")
        assert out.returncode == 2 and "run-03 cannot be removed: it is running" in out.stderr
        out = in_process("rm", "--where", "seed=5", "--yes")
        assert out.returncode == 0 and "kept run-03: it is running" in out.stderr
    finally:
        os.close(fd)
    fd = os.open(mine / "sweep-01" / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        for target in ("run-01", "sweep-01"):
            out = in_process("rm", target, "--yes")
            assert out.returncode == 2 and "running" in out.stderr, out.stderr
    finally:
        os.close(fd)
    assert sorted(os.listdir(mine)) == ["run-01", "run-02", "run-03", "run-04", "sweep-01"]


@pytest.mark.parametrize("args,needle", [(["run-77", "--yes"], "no run 'run-77'"),
                                         ([], "name runs or sweeps"),
                                         (["--older-than", "soon", "--yes"], "a number and a unit"),
                                         (["--where", "nope=1", "--yes"], "unknown key"),
                                         (["--status", "faild", "--yes"], "unknown status")])
def test_rm_bad_input_is_one_line_and_removes_nothing(mine, args, needle):
    before = sorted(os.listdir(mine))
    out = in_process("rm", *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and needle in out.stderr, \
        out.stderr
    assert sorted(os.listdir(mine)) == before


def test_a_removal_that_crashed_halfway_is_invisible_and_finished_later(mine):
    (mine / "run-03").rename(mine / ".rm-999999-run-03")  # renamed aside, not yet deleted
    rows = json.loads(in_process("compare", "--json").stdout)
    assert "run-03" not in [r["id"] for r in rows]
    assert in_process("rm", "run-04", "--yes").returncode == 0
    assert sorted(os.listdir(mine)) == ["run-01", "run-02", "sweep-01"]


# -- tags and notes ----------------------------------------------------------------------------

def test_tag_and_note_change_meta_json_only(mine):
    config = (mine / "run-03" / "config.json").read_bytes()
    out = in_process("tag", "run-03", "sweep-01", "+keep", "+best", "-old")
    assert out.returncode == 0, out.stderr
    assert read(mine / "run-01" / "meta.json")["tags"] == ["keep", "best"]
    assert in_process("tag", "run-03", "-keep").returncode == 0
    assert in_process("note", "run-03", "looks odd at step 12").returncode == 0
    assert read(mine / "run-03" / "meta.json") == {"tags": ["best"],
                                                    "note": "looks odd at step 12"}
    assert (mine / "run-03" / "config.json").read_bytes() == config
    got = [r["id"] for r in json.loads(in_process("compare", "--where", "tag=best",
                                                  "--json").stdout)]
    assert got == ["run-01", "run-02", "run-03"]


@pytest.mark.parametrize("args", [["tag", "run-03", "+two words"], ["tag", "run-03", "+-x"],
                                  ["tag", "run-03", "++x"], ["tag", "run-03"],
                                  ["train", "--tag", "a b"]])
def test_bad_tags_are_refused(mine, args):
    out = in_process(*args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert not (mine / "run-03" / "meta.json").exists()
    assert not (mine / "run-05").exists()


# -- the Python API ------------------------------------------------------------------------------

def test_the_python_api_reads_what_the_cli_shows(store):
    from sincos_cli import api

    runs = api.runs(["hidden=8"], root=store)
    assert [r.id for r in runs] == ["run-05", "run-06", "run-07"]
    cli_rows = json.loads(cli_in(store, "compare", "--where", "hidden=8", "--json").stdout)
    assert [r.to_dict() for r in runs] == cli_rows
    one = api.run("run-01", root=store)
    assert one.tags == ["baseline"] and one.config["hidden"] == 20
    m = one.metrics()
    assert list(m["step"]) == list(range(20)) and m["loss"].dtype == np.float64
    t = one.trace()
    assert t["prediction"].shape == (20, 10)
    x = np.arange(200) / (10 * np.pi)
    y = one.predict(np.sin(x))
    pred = cli_in(store, "predict", "run-01", "--points", "200", "--json").stdout
    expect = [p["prediction"] for p in json.loads(pred)["points"]]
    np.testing.assert_allclose(y, expect, rtol=1e-6, atol=1e-7)
    sweeps = api.sweeps(root=store)
    assert [s["id"] for s in sweeps] == ["sweep-01"] and sweeps[0]["members"] == 6
