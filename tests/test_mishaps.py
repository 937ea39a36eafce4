"""A typo never deletes the store, one bad file never breaks it (the payloads of the hostile
user's report, each one exactly): every --where value is parsed as its key's kind before
anything is selected; a run file a reader cannot decode (nested 1,000 levels, a sparse
gigabyte) is that run's damage, read in bounded memory; a summary value that is not a
finite non-negative number is not a result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_process, read, small

from sincos_cli import api
from sincos_cli.errors import FilterError

SMALL20 = small(20, hidden=6)


@pytest.fixture(scope="module")
def store_once(tmp_path_factory):
    """A sweep of four members over hidden 6, 20 (run-01 … run-04) and a hand-made run with
    a tag (run-05)."""
    root = tmp_path_factory.mktemp("mishaps") / "runs"
    out = in_process("sweep", *SMALL20[:-2], "--set", "hidden=6,20", "--seeds", "1-2",
                     "--workers", "1", "-q", root=root)
    assert out.returncode == 0, out.stderr
    out = in_process("train", *SMALL20, "--lr", "0.006", "-q", root=root)
    assert out.returncode == 0, out.stderr
    assert in_process("tag", "run-05", "+keep", root=root).returncode == 0
    return root


@pytest.fixture
def store(store_once, runs_dir):
    shutil.copytree(store_once, runs_dir)
    return runs_dir


def listing(path: Path) -> list[str]:
    return sorted(os.listdir(path))


# -- 1. a typo in a filter ---------------------------------------------------------------

TYPOS = [["hidden!=2O"], ["lr!=0.0o6", "sweep=none"], ["created<yesterday"],
         ["status!=complted"], ["stateful!=maybe"], ["cell!=lstn"], ["set=holdot"],
         ["sweep=sweep-1x"], ["status<completed"]]


@pytest.mark.parametrize("where", TYPOS, ids=lambda w: " ".join(w))
def test_a_typo_in_a_filter_removes_nothing_and_selects_nothing(store, where):
    before = listing(store)
    args = [a for w in where for a in ("--where", w)]
    out = in_process("rm", *args, "--yes")
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("Error") == 1 and "Traceback" not in out.stderr
    assert listing(store) == before
    for cmd in (["compare", "--json"], ["report", "--out", str(store.parent / "r.html")]):
        out = in_process(*cmd, *args)
        assert out.returncode == 2 and "No runs match" not in out.stderr, out.stderr
        assert out.stdout == ""
    with pytest.raises(FilterError):
        api.runs(where, root=store)
    assert not (store.parent / "r.html").exists()


def test_the_words_a_key_takes_are_named(store):
    out = in_process("compare", "--where", "status!=complted")
    assert "status is one of queued, running, completed" in out.stderr
    out = in_process("compare", "--where", "hidden!=2O")
    assert "hidden is a number" in out.stderr


def test_well_typed_filters_still_select(store):
    def ids(*where):
        args = [a for w in where for a in ("--where", w)]
        out = in_process("compare", "--json", *args)
        assert out.returncode == 0, out.stderr
        return [r["id"] for r in json.loads(out.stdout)]
    everything = ["run-01", "run-02", "run-03", "run-04", "run-05"]
    assert ids("created<2100-01-01") == everything
    assert ids("created>2100-01-01T00:00Z") == []
    assert ids("created>2000-01-01", "stateful=true", "status=completed") == everything
    assert ids("hidden!=20") == ["run-01", "run-02", "run-05"]
    assert ids("lr!=0.006", "sweep=none") == []
    assert ids("sweep=sweep-01", "cell=lstm", "set=selection") == everything[:4]
    assert ids("eval_mse!=none") == everything
    # rm with a good filter removes just what it says
    out = in_process("rm", "--where", "hidden!=6", "--where", "sweep=sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert listing(store) == ["run-01", "run-02", "run-05", "sweep-01"]


# -- 2. JSON a reader cannot decode --------------------------------------------------------

DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("name", ["meta.json", "run.json", "config.json", "summary.json"])
def test_json_nested_a_thousand_levels_is_that_runs_damage(store, name):
    (store / "run-05" / name).write_text(DEEP if name != "meta.json" else
                                         '{"tags": ' + DEEP + '}')
    out = in_process("compare", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert len(rows) == 5 and "internal error" not in out.stderr
    if name == "meta.json":
        assert "meta_problem" in rows["run-05"] and rows["run-05"]["status"] == "completed"
    else:
        assert rows["run-05"]["status"] == "corrupt"
        assert f"run-05/{name} is not valid JSON" in out.stderr
    assert {rows[f"run-0{i}"]["status"] for i in range(1, 5)} == {"completed"}
    for args in (["show", "run-05"], ["show", "run-05", "--json"], ["compare"],
                 ["report", "--out", str(store.parent / "r.html")],
                 ["tag", "run-05", "+x"], ["note", "run-05", "hello"],
                 ["tag", "run-01", "+x"]):
        out = in_process(*args)
        assert "internal error" not in out.stderr and "Traceback" not in out.stderr, \
            (args, out.stderr)
        assert out.returncode in (0, 1), (args, out.stderr)
    assert "x" in read(store / "run-01" / "meta.json")["tags"]
    assert len(api.runs(root=store)) == 5


def test_a_sweep_json_nested_a_thousand_levels_is_that_sweeps_damage(store):
    doc = read(store / "sweep-01" / "sweep.json")
    (store / "sweep-01" / "sweep.json").write_text(
        json.dumps(doc)[:-1] + ', "x": ' + DEEP + "}")
    out = in_process("compare")
    assert out.returncode == 0 and "internal error" not in out.stderr, out.stderr
    assert "sweep-01" in out.stdout and "corrupt" in out.stdout
    out = in_process("show", "sweep-01")
    assert out.returncode == 1 and "sweep-01/sweep.json is not valid JSON" in out.stderr


# -- 3. a huge file costs constant memory ----------------------------------------------------

def _peak_mb(code: str) -> tuple[str, float]:
    """Run `code` in a fresh Python; returns (its stderr, its peak resident MB: VmHWM, which
    starts afresh at exec, where ru_maxrss keeps the forking parent's)."""
    prog = ("import sys\n" + code + "\nhwm = [ln for ln in open('/proc/self/status') "
            "if ln.startswith('VmHWM')][0]\nprint(int(hwm.split()[1]) / 1024, file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True)
    lines = res.stderr.strip().splitlines()
    return "\n".join(lines[:-1]), float(lines[-1])


@pytest.mark.parametrize("size", [1 << 30, 8 << 30])
def test_a_sparse_trace_is_called_damaged_in_constant_memory(store, size):
    run = store / "run-05"
    with open(run / "trace.bin", "r+b") as f:
        f.truncate(size)  # sparse: costs no disk
    err, peak = _peak_mb(
        "from pathlib import Path\nfrom sincos_cli.store import trace\n"
        "from sincos_cli.errors import SincosError\n"
        f"try:\n    trace.read(Path({str(run)!r}))\nexcept SincosError as e:\n"
        "    print('damaged:', e, file=sys.stderr)")
    assert "damaged:" in err and "more than the run's 20 steps" in err, err
    assert peak < 150, peak  # numpy and the interpreter: well under the file's size
    out = in_process("animate", "run-05", "--out", str(store.parent / "a.gif"))
    assert out.returncode == 1 and "trace.bin is damaged" in out.stderr, out.stderr


@pytest.mark.parametrize("name", ["summary.json", "meta.json", "metrics.jsonl"])
def test_a_huge_json_file_is_damage_found_in_constant_memory(store, name):
    path = store / "run-05" / name
    with open(path, "wb") as f:
        f.write(b'{"x": "')
        f.truncate(1 << 30)  # sparse zeros: one unterminated string of a gigabyte
    err, peak = _peak_mb(
        "import json\nfrom pathlib import Path\nfrom sincos_cli.store.record import load_row\n"
        "from sincos_cli.store.files import read_metrics\n"
        f"r = load_row(Path({str(path.parent)!r}))\n"
        f"m = read_metrics(Path({str(path.parent)!r}) / 'metrics.jsonl')\n"
        "print(r.status, r.problem, r.meta_problem, len(m), file=sys.stderr)")
    assert peak < 100, peak
    if name == "metrics.jsonl":
        assert err.endswith(" 0"), err
    else:
        assert "damaged: over 16 MB" in err, err


# -- 4. summary values that are not results ------------------------------------------------

BAD = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity", "1e999": "1e999",
       "-1": "-1", "true": "true", '"abc"': '"abc"'}


@pytest.mark.parametrize("text", list(BAD), ids=list(BAD))
def test_a_summary_value_that_is_not_a_finite_nonnegative_number_is_skipped(store, text):
    path = store / "run-01" / "summary.json"
    good = read(path)["eval_mse"]
    path.write_text(path.read_text().replace(json.dumps(good), text, 1))
    out = in_process("compare", "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["id"]: r for r in json.loads(out.stdout)}
    assert rows["run-01"]["summary"]["eval_mse"] is None
    assert "run-01: summary.json's eval_mse is" in out.stderr and "skipped" in out.stderr
    assert "RuntimeWarning" not in out.stderr
    out = in_process("show", "run-01", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["bad_values"]["eval_mse"]
    out = in_process("show", "run-01")
    assert "eval_mse          damaged:" in out.stdout
    out = in_process("compare", "sweep-01", "--group-by", "hidden", "--json")
    assert out.returncode == 0, out.stderr
    groups = {g["hidden"]: g for g in json.loads(out.stdout)}
    others = [rows[f"run-0{i}"]["summary"]["eval_mse"] for i in (1, 2)
              if rows[f"run-0{i}"]["config"]["hidden"] == 6
              and rows[f"run-0{i}"]["summary"]["eval_mse"] is not None]
    assert groups[6]["eval_mse"]["min"] == min(others)
    assert "RuntimeWarning" not in out.stderr
    out = in_process("compare")  # the sweep folded: its best is a number, never NaN
    assert out.returncode == 0 and "nan" not in out.stdout.lower(), out.stdout


@pytest.mark.parametrize("text", ["0", "1e308"])
def test_zero_and_huge_finite_values_are_results(store, text):
    path = store / "run-01" / "summary.json"
    good = read(path)["eval_mse"]
    path.write_text(path.read_text().replace(json.dumps(good), text, 1))
    rows = {r["id"]: r for r in json.loads(in_process("compare", "--json").stdout)}
    assert rows["run-01"]["summary"]["eval_mse"] == float(text)


# -- 5. resume fills every hole and ends with the status its members give ------------------

def _status(root: Path, sid: str = "sweep-01") -> str:
    return read(root / sid / "sweep.json")["status"]


def test_a_study_stopped_as_its_last_member_ended_is_completed_by_resume(store):
    doc = read(store / "sweep-01" / "sweep.json")
    doc["status"] = "interrupted"  # what a SIGTERM as the last member completes leaves
    (store / "sweep-01" / "sweep.json").write_text(json.dumps(doc))
    out = in_process("sweep", "--resume", "sweep-01")
    assert out.returncode == 0 and "nothing to do: all 4 members completed" in out.stderr
    assert _status(store) == "completed"


UNTIL = [*SMALL20[:-2], "--set", "lr=0.003,0.01", "--seeds", "1-6", "--until-decided",
         "--max-seeds", "12", "--workers", "1", "-q"]


def _losses(path: Path) -> list[float]:
    return [json.loads(ln)["loss"] for ln in (path / "metrics.jsonl").read_text().splitlines()]


def test_an_ended_until_decided_study_retrains_its_failed_and_removed_members(runs_dir):
    out = in_process("sweep", *UNTIL)
    assert out.returncode == 0, out.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    assert doc["until_decided"]["outcome"] is not None
    first, second = doc["members"][0]["run"], doc["members"][-1]["run"]
    before = {r: _losses(runs_dir / r) for r in (first, second)}
    # one member failed (no checkpoint left to resume from), one removed after the end
    run = read(runs_dir / first / "run.json")
    run.update(status="failed", error="MemoryError: out of memory")
    (runs_dir / first / "run.json").write_text(json.dumps(run))
    (runs_dir / first / "checkpoint.pt").unlink()
    assert in_process("rm", second, "--yes").returncode == 0
    doc["status"] = "failed"
    (runs_dir / "sweep-01" / "sweep.json").write_text(json.dumps(doc))
    out = in_process("sweep", "--resume", "sweep-01")
    assert out.returncode == 0, out.stderr
    assert _status(runs_dir) == "completed"
    for r in (first, second):
        assert read(runs_dir / r / "run.json")["status"] == "completed"
        assert _losses(runs_dir / r) == before[r]  # trained as it was, no step twice
    assert read(runs_dir / "sweep-01" / "sweep.json")["until_decided"] == doc["until_decided"]


def test_halving_retrains_a_removed_pruned_member_to_its_rung(runs_dir):
    out = in_process("sweep", *SMALL20[:-2], "--steps", "30", "--seeds", "1-2", "--set",
                     "lr=0.0003,0.01", "--halving", "--workers", "1", "-q")
    assert out.returncode == 0, out.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    pruned = [m["run"] for m in doc["members"]
              if read(runs_dir / m["run"] / "run.json")["status"] == "pruned"]
    assert len(pruned) == 2
    gone = pruned[0]
    before, why = _losses(runs_dir / gone), read(runs_dir / gone / "run.json")["error"]
    assert in_process("rm", gone, "--yes").returncode == 0
    out = in_process("sweep", "--resume", "sweep-01")
    assert out.returncode == 0, out.stderr
    assert "nothing to do" not in out.stderr
    run = read(runs_dir / gone / "run.json")
    assert (run["status"], run["error"]) == ("pruned", why)
    assert _losses(runs_dir / gone) == before
    out = in_process("sweep", "--resume", "sweep-01")
    assert "nothing to do: every rung is done (2 completed, 2 pruned)" in out.stderr
    assert _status(runs_dir) == "completed"


# -- 6, 7. a member folder says what it is from the moment it exists -------------------------

def test_folders_a_killed_planner_allocated_are_seen_removed_and_reclaimed(store):
    from sincos_cli.store.runs import allocate_many

    # what kill -9 between a round's allocation and its sweep.json write leaves
    made = [p.name for p in allocate_many(store, 3, sweep="sweep-01")]
    assert made == ["run-06", "run-07", "run-08"]
    assert read(store / "run-07" / "run.json")["status"] == "queued"
    rows = {r["id"]: r for r in json.loads(in_process("compare", "--json").stdout)}
    assert rows["run-07"]["status"] == "queued" and rows["run-07"]["sweep"] == "sweep-01"
    out = in_process("rm", "run-08", "--yes")
    assert out.returncode == 0 and not (store / "run-08").exists(), out.stderr
    out = in_process("sweep", "--resume", "sweep-01")
    assert out.returncode == 0, out.stderr
    assert "note: removed run-06" in out.stderr and "note: removed run-07" in out.stderr
    assert listing(store) == ["run-01", "run-02", "run-03", "run-04", "run-05", "sweep-01"]
    out = in_process("train", *SMALL20, "--steps", "2", "-q")
    assert out.stdout.strip() == "run-06"  # the id was not skipped for ever


def _never_started(path: Path, sweep: str | None) -> None:
    """A member as the sweep allocated it: queued (today), or an empty folder (before)."""
    shutil.rmtree(path)
    path.mkdir()
    if sweep:
        (path / "run.json").write_text(json.dumps({"id": path.name, "status": "queued",
                                                   "sweep": sweep}))


@pytest.mark.parametrize("stamped", [True, False], ids=["queued", "empty"])
def test_rm_of_a_sweep_stopped_early_removes_the_members_that_never_started(store, stamped):
    for name in ("run-03", "run-04"):
        _never_started(store / name, "sweep-01" if stamped else None)
    out = in_process("rm", "sweep-01", "--yes")
    assert out.returncode == 0, out.stderr
    assert "kept" not in out.stderr and "removed 4 runs and 1 sweep" in out.stderr
    assert listing(store) == ["run-05"]


def test_rm_of_a_sweep_whose_members_still_run_is_refused_whole(store):
    # a driver killed -9 while its workers still checkpoint: a member's lock is held
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({str(store / 'run-02' / '.lock')!r}, os.O_CREAT | os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = listing(store)
        out = in_process("rm", "sweep-01", "--yes")
        assert out.returncode == 2, out.stderr
        assert "sweep-01 cannot be removed: its members are still running (run-02)" \
            in out.stderr
        assert listing(store) == before
    finally:
        holder.kill()
        holder.wait()
    out = in_process("rm", "sweep-01", "--yes")  # retried once they end
    assert out.returncode == 0 and listing(store) == ["run-05"], out.stderr


# -- 8. a hand-edited until_decided block is named, never an internal error ------------------

@pytest.fixture(scope="module")
def study_once(tmp_path_factory):
    root = tmp_path_factory.mktemp("study") / "runs"
    out = in_process("sweep", *UNTIL, root=root)
    assert out.returncode == 0, out.stderr
    return root


EDITS = {
    "max_seeds 0": (lambda u, d: u.update(max_seeds=0), "max_seeds is 0"),
    "outcome 17": (lambda u, d: u.update(outcome=17), "outcome is 17"),
    "alpha text": (lambda u, d: u.update(alpha="5%"), "alpha is '5%'"),
    "no rounds": (lambda u, d: u.update(rounds=[]), "rounds is not a list"),
    "round n": (lambda u, d: u["rounds"][0].update(n=7), "round 1's n is 7"),
    "round seeds": (lambda u, d: u["rounds"][0].update(seeds=["a"]), "round 1's seeds"),
    "round points": (lambda u, d: u["rounds"][0].update(points=None), "round 1's points"),
    "results": (lambda u, d: u["rounds"][0].update(results=[{"point": 1}]),
                "round 1's result 1"),
    "reference": (lambda u, d: u.update(reference=[1]), "reference is not a grid point"),
    "looks": (lambda u, d: u.update(looks=[12, 6]), "looks is [12, 6]"),
    "member seed": (lambda u, d: d["members"][0].update(seed=-1), "has seed -1"),
    "member point": (lambda u, d: d["members"][0].update(point="lr=1"), "has no grid point"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_bad_until_decided_field_is_named_in_one_line(study_once, runs_dir, edit):
    shutil.copytree(study_once, runs_dir)
    assert in_process("show", "sweep-01").returncode == 0  # as the study wrote it: fine
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    change, needle = EDITS[edit]
    change(doc["until_decided"], doc)
    (runs_dir / "sweep-01" / "sweep.json").write_text(json.dumps(doc))
    for args in (["sweep", "--resume", "sweep-01"], ["show", "sweep-01"],
                 ["report", "sweep-01", "--out", str(runs_dir.parent / "r.html")]):
        out = in_process(*args)
        assert out.returncode == 1, (args, out.stderr)
        assert out.stderr.count("\n") == 1 and "internal error" not in out.stderr, out.stderr
        assert "sweep.json is corrupt" in out.stderr and needle in out.stderr, out.stderr


# -- 9, 10, 12. refused up front: exit 2, nothing made ---------------------------------------

@pytest.mark.parametrize("args, hint, needle", [
    (["--seeds", "4294967290-4294967295", "--until-decided", "--max-seeds", "12"],
     "--max-seeds", "past the largest seed 4294967295"),
    (["--seeds", "1-6", "--until-decided", "--alpha", "1e-16"], "--alpha",
     "α is an error rate between 1e-06 and 0.5"),
    (["--seeds", "1-6", "--alpha", "0.01"], "--alpha", "is for --until-decided"),
    (["--seeds", "1-6", "--until-decided", "--reference", "lr=0.01,lr=0.003"],
     "--reference", "names lr twice"),
])
def test_a_study_that_cannot_run_is_refused_before_anything_is_made(runs_dir, args, hint,
                                                                     needle):
    out = in_process("sweep", *SMALL20[:-2], "--set", "lr=0.003,0.01", *args)
    assert out.returncode == 2, out.stderr
    assert hint in out.stderr and needle in out.stderr, out.stderr
    assert not runs_dir.exists() or listing(runs_dir) == []


def test_a_tiny_level_still_computes_its_interval():
    import math
    from statistics import NormalDist

    from sincos_cli.stats import sequential as sq

    # the lower-tail form gives the old upper-tail form's depth wherever that one computes
    for n in range(sq.EXACT_UP_TO + 1, 401, 7):
        for level in (0.1, 0.05, 0.01, 1e-3, 1e-4, 1e-6, 1e-8):
            mean, sd = n * (n + 1) / 4, math.sqrt(n * (n + 1) * (2 * n + 1) / 24)
            old = max(0, int(math.floor(mean - NormalDist().inv_cdf(1 - level / 2) * sd)))
            assert sq._depth(n, level) == old, (n, level)
    assert sq.look([0.5] * 150, 1e-17).decision == "worse"  # no StatisticsError


@pytest.mark.parametrize("args, hint, needle", [
    (["--group-by", "lr,lr"], "--group-by", "names lr twice"),
    (["--group-by", "hidden", "--paired", "--reference", "hidden=6,hidden=20"],
     "--reference", "names hidden twice"),
    (["--group-by", "hidden", "--paired", "--effect", "0.5x"], "--effect",
     "is for --power"),
    (["--group-by", "hidden", "--paired", "--reference", "hidden=7"], "--reference",
     "no group has hidden=7"),
])
def test_compare_refuses_what_it_would_silently_bend(store, args, hint, needle):
    out = in_process("compare", "sweep-01", *args)
    assert out.returncode == 2, out.stderr
    assert hint in out.stderr and needle in out.stderr and "--paired" not in out.stderr \
        .replace(needle, "").split(":")[0], out.stderr


def test_the_findings_recipe_has_a_name(runs_dir):
    from sincos_cli.config import resolve

    cfg = resolve({}, "goal")
    assert (cfg.lr, cfg.batch_size, cfg.time_steps, cfg.clip, cfg.schedule,
            cfg.warmup_steps) == (0.006, 200, 40, 1.0, "cosine", 25)
    out = in_process("train", "--recipe", "goal", "--steps", "3", "-q")
    assert out.returncode == 0, out.stderr
    assert read(runs_dir / "run-01" / "config.json")["batch_size"] == 200


# -- 11. readers at scale ------------------------------------------------------------------

def test_a_big_sweeps_report_shows_its_best_and_worst_members_only(store, monkeypatch):
    from sincos_cli.report import sweep_page

    monkeypatch.setattr(sweep_page, "MEMBER_ROWS", 1)  # 4 members: past 2 × 1
    rows = {r["id"]: r["summary"]["eval_mse"]
            for r in json.loads(in_process("compare", "--where", "sweep=sweep-01",
                                             "--json").stdout)}
    best, worst = min(rows, key=rows.get), max(rows, key=rows.get)
    out = in_process("report", "sweep-01", "--out", str(store.parent / "r.html"),
                     "--animation", "none")
    assert out.returncode == 0, out.stderr
    html = (store.parent / "r.html").read_text()
    table = html[html.index('id="members-table'):]  # the caption, then the table
    table = table[:table.index("</table>")]
    assert "The best and the worst 1 of 4 members by eval_mse" in table
    assert "the other 2: sincos compare sweep-01 --json" in table
    shown = {r for r in rows if f">{r}<" in table}
    assert shown == {best, worst}
