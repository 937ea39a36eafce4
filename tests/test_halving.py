"""sincos sweep --halving: rungs, pruned members as ordinary runs, what sweep.json records,
resume in the middle of a rung, and what is refused."""

import json
import os
import signal
import time

import pytest
from conftest import SMALL, in_process, read, sincos
from test_sweep_faults import start, steps_of, wait_for

from sincos_cli.sweep.halving import rungs

GRID = ["--set", "lr=0.0003,0.003,0.01", "--set", "hidden=4,8,16"]


def test_rungs():
    assert rungs(501, 32, 3) == [19, 57, 171, 501]  # 27 ≤ 32 points: ⌈501 / 27⌉
    assert rungs(90, 9, 3) == [10, 30, 90]
    assert rungs(100, 2, 2) == [50, 100]
    assert rungs(100, 4, 3, first=5) == [5, 15, 100]  # 4 points → 2 → 1: no third
    assert rungs(501, 32, 3, warmup=25) == [43, 129, 387, 501]  # judged after the warm-up
    with pytest.raises(ValueError, match="must come before --steps"):
        rungs(100, 4, 3, first=100)


@pytest.fixture(scope="module")
def halved(tmp_path_factory):
    root = tmp_path_factory.mktemp("halving") / "runs"
    out = sincos("sweep", "--steps", "90", *SMALL, "--seeds", "1-2", *GRID, "--halving",
                 "--workers", "2", "-q", env={"SINCOS_RUNS_DIR": str(root)})
    assert out.returncode == 0, out.stderr
    return root


@pytest.mark.slow
def test_points_stop_at_rungs_and_the_best_go_on(halved):
    doc = read(halved / "sweep-01" / "sweep.json")
    h = doc["halving"]
    assert (h["eta"], h["rule"], h["rungs"]) == (3, "trend", [10, 30, 90])
    assert [(r["step"], len(r["points"]), len(r["kept"])) for r in h["history"]] == [
        (10, 9, 3), (30, 3, 1)]
    for rung in h["history"]:  # the ones that went on had the lowest scores
        scores = [p["score"] for p in rung["points"]]
        assert scores == sorted(scores)
        assert [p["kept"] for p in rung["points"]] == [True] * len(rung["kept"]) + [False] * (
            len(rung["points"]) - len(rung["kept"]))
    winner = h["history"][-1]["points"][0]["point"]
    spent = 0
    for m in doc["members"]:
        run = read(halved / m["run"] / "run.json")
        n = len(steps_of(halved / m["run"]))
        spent += n
        if m["point"] == winner:
            assert run["status"] == "completed" and n == 90
        else:
            assert run["status"] == "pruned" and n in (10, 30)
            assert run["error"].startswith(f"pruned at step {n}: rank ")
    assert spent <= 0.40 * 18 * 90  # member-steps against the full grid
    text = in_process("show", "sweep-01", env={"SINCOS_RUNS_DIR": str(halved)}).stdout
    assert "halving   η=3, rule trend, rungs 10 → 30 → 90" in text
    assert "step 10: 9 points, 3 went on" in text
    out = sincos("sweep", "--resume", "sweep-01", env={"SINCOS_RUNS_DIR": str(halved)})
    assert out.returncode == 0
    assert "nothing to do: every rung is done (2 completed, 16 pruned)" in out.stderr


@pytest.mark.slow
def test_a_pruned_member_is_an_ordinary_run_train_resume_continues(halved, runs_dir):
    import shutil

    doc = read(halved / "sweep-01" / "sweep.json")
    pruned = next(m["run"] for m in doc["members"]
                  if read(halved / m["run"] / "run.json")["status"] == "pruned")
    shutil.copytree(halved / pruned, runs_dir / pruned)
    out = in_process("train", "--resume", pruned, "-q")
    assert out.returncode == 0, out.stderr
    assert steps_of(runs_dir / pruned) == list(range(90))
    assert read(runs_dir / pruned / "run.json")["resumes"][-1]["from_status"] == "pruned"


@pytest.mark.slow
def test_an_interrupt_mid_rung_resumes_that_rung_and_never_retrains_one(runs_dir):
    args = ["--steps", "2700", *SMALL, "--checkpoint-every", "20", "--seeds", "1", *GRID,
            "--halving", "--workers", "2"]
    p = start("sweep", *args, root=runs_dir)
    doc_path = runs_dir / "sweep-01" / "sweep.json"
    wait_for(lambda: doc_path.exists() and read(doc_path)["halving"]["history"],
             "the first rung", proc=p, timeout=120)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    first = read(doc_path)["halving"]["history"]
    assert len(first) == 1  # the second rung (step 900) was in progress
    out = sincos("sweep", "--resume", "sweep-01", "-q", timeout=300)
    assert out.returncode == 0, out.stderr
    doc = read(doc_path)
    h = doc["halving"]
    assert h["history"][0] == first[0]  # the rung that was done is not ranked again
    assert [r["step"] for r in h["history"]] == [300, 900]
    for m in doc["members"]:
        steps = steps_of(runs_dir / m["run"])
        assert steps == list(range(len(steps)))  # no step twice, no gap
        assert len(steps) in (300, 900, 2700)


@pytest.mark.parametrize("args,needle", [
    (["--steps", "60", "--set", "lr=0.006"], "at least two"),
    (["--steps", "60", "--set", "lr=0.003,0.006", "--eta", "1"], "η must be 2 or more"),
    (["--steps", "60", "--set", "lr=0.003,0.006", "--first-rung", "60"],
     "must come before --steps"),
    (["--set", "steps=30,60", "--set", "lr=0.003,0.006"], "not --set steps"),
    (["--steps", "60", "--set", "lr=0.003,0.006", "--rank", "mean"],
     "choose from trend, median, ok"),
])
def test_bad_halving_is_refused_before_anything_is_made(runs_dir, args, needle):
    out = sincos("sweep", *SMALL, "--seeds", "1-2", "--halving", *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and needle in out.stderr, \
        out.stderr
    assert not runs_dir.exists() or not os.listdir(runs_dir)


def test_halving_is_not_changed_on_resume(runs_dir):
    out = sincos("sweep", "--resume", "sweep-01", "--halving")
    assert out.returncode == 2 and "keeps its halving settings" in out.stderr


def test_halving_records_are_json(halved):
    doc = json.loads((halved / "sweep-01" / "sweep.json").read_text())
    assert all(isinstance(k, str) for r in doc["halving"]["history"] for k in r["kept"])


# -- held-out seeds ------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_chosen_point_is_trained_on_seeds_the_choice_never_saw(runs_dir):
    out = sincos("sweep", "--steps", "30", *SMALL, "--seeds", "1-3", "--set", "lr=0.0003,0.01",
                 "--holdout-seeds", "101-103", "--workers", "2", "-q", "--json")
    assert out.returncode == 0, out.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    chosen = doc["holdout"]["chosen"]
    selection = [m for m in doc["members"] if not m.get("holdout")]
    held = [m for m in doc["members"] if m.get("holdout")]
    medians = {}
    for lr in (0.0003, 0.01):
        evals = sorted(read(runs_dir / m["run"] / "summary.json")["eval_mse"]
                       for m in selection if m["point"]["lr"] == lr)
        medians[lr] = evals[1]
    best = min(medians, key=medians.get)
    assert [c["point"] for c in chosen] == [{"lr": best}]
    assert sorted(m["seed"] for m in held) == [101, 102, 103]
    for m in held:
        run = read(runs_dir / m["run"] / "run.json")
        assert run["holdout"] is True and run["status"] == "completed"
        assert read(runs_dir / m["run"] / "config.json")["seed"] == m["seed"]
    groups = json.loads(out.stdout)  # sweep --json: the held-out seeds a group of their own
    assert [(g["lr"], g["set"], g["n"]) for g in groups] == [
        (0.0003, "selection", 3), (0.01, "selection", 3), (best, "holdout", 3)]
    assert groups[-1]["ok_ci"] is not None  # 3 seeds: an interval of the ok share
    assert groups[-1]["eval_mse"]["median_ci"] is None  # (a median's and an IQM's need 6)
    assert groups[-1]["eval_mse"]["iqm_ci"] is None
    again = sincos("sweep", "--resume", "sweep-01")
    assert again.returncode == 0 and "nothing to do" in again.stderr
    rows = json.loads(in_process("compare", "--where", "set=holdout", "--json").stdout)
    assert sorted(r["config"]["seed"] for r in rows) == [101, 102, 103]


@pytest.mark.parametrize("args,needle", [
    (["--holdout-seeds", "3-5"], "also in --seeds (3)"),
    (["--holdout-seeds", "30"], "not a count"),
    (["--holdout-seeds", "10-12", "--holdout-top", "3"], "more than the 2 grid points"),
])
def test_bad_holdout_is_refused_before_anything_is_made(runs_dir, args, needle):
    out = sincos("sweep", "--steps", "30", *SMALL, "--seeds", "1-3", "--set", "lr=0.001,0.01",
                 *args)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and needle in out.stderr, \
        out.stderr
    assert not runs_dir.exists() or not os.listdir(runs_dir)


def test_the_trend_rule_extrapolates_each_seeds_loss_curve(tmp_path):
    """At a rung, a point whose loss is higher but falling fast ranks before one that is
    lower but flat, when its power law reaches lower by the final step; the median rule
    ranks them the other way."""
    import json

    from sincos_cli.store.sweep_doc import Member
    from sincos_cli.sweep.halving import score

    def member(name, curve):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.jsonl").write_text("".join(
            json.dumps({"step": k, "loss": curve(k), "lr": 0.01, "elapsed_s": 0.0}) + "\n"
            for k in range(40)))
        return Member(point={}, seed=0, run=name, config={})

    steep = [member(f"s{i}", lambda k, i=i: (10 + i) * (k + 1) ** -2.0)
             for i in range(3)]
    flat = [member(f"f{i}", lambda k, i=i: (1 + i / 10) * 2e-3 * (k + 1) ** -0.1)
            for i in range(3)]
    trend = {n: score(tmp_path, ms, 40, "trend", 1e-4, final=500)
             for n, ms in (("steep", steep), ("flat", flat))}
    median = {n: score(tmp_path, ms, 40, "median", 1e-4)
              for n, ms in (("steep", steep), ("flat", flat))}
    assert trend["steep"] < trend["flat"] and median["steep"] > median["flat"]
    assert trend["steep"] == pytest.approx(11 * 500 ** -2.0, rel=1e-6)


# -- the audit ---------------------------------------------------------------------------------

def test_spearman_is_scipys():
    import random

    from scipy.stats import spearmanr

    from sincos_cli.stats.rank import spearman

    rnd = random.Random(7)
    for _ in range(50):
        n = rnd.randrange(3, 30)
        xs = [rnd.choice([rnd.random(), 0.5]) for _ in range(n)]  # with ties
        ys = [x + rnd.gauss(0, 0.3) for x in xs]
        assert spearman(xs, ys) == pytest.approx(spearmanr(xs, ys).statistic)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_the_audit_takes_the_runner_up_first_then_evenly_down():
    from sincos_cli.sweep.audit import choose
    from sincos_cli.sweep.plan import point_key as halving_key

    def rung(step, order, kept):
        return {"step": step, "kept": [halving_key({"p": k}) for k in kept],
                "points": [{"point": {"p": k}, "rank": i + 1, "score": float(i)}
                           for i, k in enumerate(order)]}
    doc = [rung(10, "abcdefghi", "abc"), rung(30, "bca", "b")]
    names = [eval(k)[0][1] for k in choose(doc, 1)]
    assert names == ["c"]  # pruned at the last rung, ranked first there
    assert [eval(k)[0][1] for k in choose(doc, 3)] == ["c", "f", "i"]
    assert sorted(eval(k)[0][1] for k in choose(doc, 20)) == list("acdefghi")


@pytest.mark.slow
def test_an_audit_trains_pruned_points_to_the_end_and_scores_the_pruner(runs_dir):
    out = in_process("sweep", "--steps", "90", *SMALL, "--seeds", "1-2", *GRID, "--halving",
                     "--audit", "8", "--holdout-seeds", "101-101", "--workers", "2", "-q")
    assert out.returncode == 0, out.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    h = doc["halving"]
    a = h["audit"]
    assert a["k"] == 8 and len(a["points"]) == 8  # every pruned point: the whole grid
    for m in doc["members"]:
        if not m.get("holdout"):
            assert read(runs_dir / m["run"] / "run.json")["status"] == "completed"
            assert steps_of(runs_dir / m["run"]) == list(range(90))
    r = a["result"]
    assert r["points"] == 9 and [x["step"] for x in r["rungs"]] == [10, 30]
    assert [x["points"] for x in r["rungs"]] == [9, 3]
    # recomputed here: the first rung's scores against each point's final median
    from statistics import median

    from scipy.stats import spearmanr
    final = {}
    for m in doc["members"]:
        if not m.get("holdout"):
            final.setdefault(repr(sorted(m["point"].items())), []).append(
                read(runs_dir / m["run"] / "summary.json")["eval_mse"])
    first = h["history"][0]["points"]
    rho = spearmanr([p["score"] for p in first],
                    [median(final[repr(sorted(p["point"].items()))]) for p in first])
    assert r["rungs"][0]["spearman"] == pytest.approx(rho.statistic)
    best = min(final, key=lambda k: median(final[k]))
    assert repr(sorted(r["best"].items())) == best
    assert r["regret"] == pytest.approx(r["pick_median"] / median(final[best])) and \
        r["regret"] >= 1
    winner = h["history"][-1]["kept"][0]
    assert repr(sorted(r["pick"].items())) == winner
    # the held-out choice is the search's, never an audited point
    assert repr(sorted(doc["holdout"]["chosen"][0]["point"].items())) == winner
    text = in_process("show", "sweep-01").stdout
    assert "audit: 8 pruned points trained to the end; Spearman ρ of rung score" in text
    out = in_process("report", "sweep-01", "-o", str(runs_dir / "r.html"))
    assert 'id="audit-table"' in (runs_dir / "r.html").read_text()
    again = in_process("sweep", "--resume", "sweep-01")
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_audit_needs_halving(runs_dir):
    out = in_process("sweep", "--steps", "30", "--seeds", "1-2", "--set", "lr=0.001,0.01",
                     "--audit", "2")
    assert out.returncode == 2 and "add --halving" in out.stderr


@pytest.mark.slow
def test_an_interrupted_audit_resumes_and_trains_nothing_twice(runs_dir):
    args = ["--steps", "900", *SMALL, "--checkpoint-every", "20", "--seeds", "1", *GRID,
            "--halving", "--audit", "4", "--workers", "2"]
    p = start("sweep", *args, root=runs_dir)
    path = runs_dir / "sweep-01" / "sweep.json"
    wait_for(lambda: path.exists() and (read(path)["halving"].get("audit") or {}).get(
        "points"), "the audit", proc=p, timeout=120)
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    a = read(path)["halving"]["audit"]
    assert len(a["points"]) == 4 and a["result"] is None
    out = sincos("sweep", "--resume", "sweep-01", "-q", timeout=300)
    assert out.returncode == 0, out.stderr
    doc = read(path)
    assert doc["halving"]["audit"]["points"] == a["points"]  # chosen once
    assert doc["halving"]["audit"]["result"]["points"] == 5  # the winner and the four
    audited = [m for m in doc["members"] if m.get("audit")]
    assert len(audited) == 4
    for m in audited:
        assert steps_of(runs_dir / m["run"]) == list(range(900))  # no step twice, no gap


@pytest.mark.parametrize("by", ["ok", "worst"])
def test_holdout_by_chooses_on_the_goal_not_the_median(runs_dir, by):
    out = in_process("sweep", "--steps", "30", *SMALL, "--seeds", "1-4", "--set",
                     "lr=0.0003,0.003,0.01", "--holdout-seeds", "101-101", "--holdout-by", by,
                     "--threshold", "0.3", "--workers", "1", "-q")
    assert out.returncode == 0, out.stderr
    doc = read(runs_dir / "sweep-01" / "sweep.json")
    evals = {}
    for m in doc["members"]:
        if not m.get("holdout"):
            evals.setdefault(m["point"]["lr"], []).append(
                read(runs_dir / m["run"] / "summary.json")["eval_mse"])

    def median(v):
        v = sorted(v)
        return (v[1] + v[2]) / 2
    if by == "worst":
        want = min(evals, key=lambda lr: (max(evals[lr]), median(evals[lr])))
        score = max(evals[want])
    else:
        want = min(evals, key=lambda lr: (-sum(x <= 0.3 for x in evals[lr]),
                                          median(evals[lr])))
        score = -sum(x <= 0.3 for x in evals[want]) / 4
    chosen = doc["holdout"]["chosen"][0]
    assert chosen["point"] == {"lr": want} and chosen["by"] == by
    assert chosen["score"] == pytest.approx(score)
    assert (doc["holdout"]["by"], doc["holdout"]["threshold"]) == (by, 0.3)


def test_a_bad_holdout_by_is_refused(runs_dir):
    out = in_process("sweep", "--steps", "30", "--seeds", "1-2", "--set", "lr=0.001,0.01",
                     "--holdout-seeds", "5-6", "--holdout-by", "mean")
    assert out.returncode == 2 and "choose from median, ok, worst" in out.stderr


def test_holdout_by_needs_held_out_seeds_and_is_kept_on_resume(runs_dir):
    out = in_process("sweep", "--steps", "30", "--seeds", "1-2", "--set", "lr=0.001,0.01",
                     "--holdout-by", "worst")
    assert out.returncode == 2 and "is for --holdout-seeds" in out.stderr
    out = in_process("sweep", "--resume", "sweep-01", "--holdout-by", "ok")
    assert out.returncode == 2 and "keeps its settings" in out.stderr
